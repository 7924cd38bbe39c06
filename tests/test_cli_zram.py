"""The zram parts of the command line: ``zbudjit zram``, ``zbudjit replay`` of zram traces and
their saving and loading, and bad arguments (``kernel-check`` itself runs in test_zram.py)."""

import json

import numpy as np
import pytest

from zbudjit import TraceError
from zbudjit.cli import main
from zbudjit.kernel.check import load_trace, save_trace
from zbudjit.kernel.zram import OP_COMPACT, OP_DISCARD, OP_WRITE, RECORD_DTYPE

STDLIB_JSON = "/usr/lib/python3.11/json"


@pytest.fixture
def data_dir(tmp_path):
    """A few real files and an incompressible one."""
    import json as module
    from pathlib import Path
    source = Path(module.__file__).parent
    for path in source.glob("*.py"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "random.bin").write_bytes(np.random.default_rng(0).bytes(5 * 4096))
    (tmp_path / "zeros.bin").write_bytes(bytes(3 * 4096))
    return tmp_path


def run_json(capsys, *args):
    status = main([*args, "--json"])
    out = capsys.readouterr().out
    return status, json.loads(out)


def test_zram_reports_the_kernels_figures(capsys, data_dir, tmp_path):
    status, report = run_json(capsys, "zram", str(data_dir), "--compressor", "lz4",
                              "--no-plot", "--compact-every", "4")
    assert status == 0
    mm = report["mm_stat"]
    assert mm["orig_data_size"] == report["data"]["pages"] * 4096
    assert mm["same_pages"] == 3 and mm["huge_pages"] == 5
    assert report["mm_stat_text"].split() == [str(v) for v in mm.values()]
    assert report["zramctl"]["DATA"] == mm["orig_data_size"]
    assert report["zramctl"]["TOTAL"] == mm["mem_used_total"]
    assert report["pages_wrong"] == 0 and report["pages_verified"] == report["data"]["pages"]
    assert report["timeline"]["mem_used_total"][-1] == mm["mem_used_total"]
    assert report["class_fill"] and report["bd_stat"] is None


def test_zram_limit_writeback_and_plots(capsys, data_dir, tmp_path):
    plot = tmp_path / "mem.png"
    status, report = run_json(capsys, "zram", str(data_dir), "--mem-limit", "64K",
                              "--writeback", "huge", "--plot", str(plot))
    assert status == 0
    assert report["mm_stat"]["mem_limit"] == 65536
    assert report["failed_writes"] == report["io_stat"]["failed_writes"] > 0
    assert report["mm_stat"]["mem_used_total"] <= 65536
    assert report["bd_stat"]["bd_writes"] == report["bd_stat"]["bd_count"]
    assert plot.exists() and (tmp_path / "mem-classes.png").exists()


def test_zram_text_output(capsys, data_dir):
    assert main(["zram", str(data_dir), "--no-plot", "--policy", "zbud"]) == 0
    out = capsys.readouterr().out
    assert "NAME" in out and "COMPR" in out and "TOTAL" in out
    assert "as /sys/block/zramN/mm_stat reads:" in out
    assert "read back byte for byte" in out


@pytest.mark.parametrize("args, message", [
    (["--disksize", "12Q"], "not an integer"),
    (["--mem-limit", "-1"], "at least 0"),
    (["--chain-size", "2"], "CONFIG_ZSMALLOC_CHAIN_SIZE"),
    (["--policy", "zbud", "--chain-size", "8"], "--policy zsmalloc"),
    (["--writeback", "cold"], "invalid choice"),
])
def test_zram_bad_arguments(capsys, args, message):
    with pytest.raises(SystemExit) as done:
        main(["zram", STDLIB_JSON, *args])
    assert done.value.code == 2
    assert message in capsys.readouterr().err


def trace_records():
    """A hand-made trace: sizes with hand-worked mm_stat fields (kernel-6.18.md appendix A)."""
    records = np.zeros(5, RECORD_DTYPE)
    rows = [  # op, index, comp_len, same, the nine mm_stat fields
        (OP_WRITE, 0, 100, False, 4096, 100, 7 * 4096, 0, 7 * 4096, 0, 0, 0, 0),
        (OP_WRITE, 1, 0, True, 8192, 100, 7 * 4096, 0, 7 * 4096, 1, 0, 0, 0),
        (OP_WRITE, 2, 4096, False, 12288, 4196, 8 * 4096, 0, 8 * 4096, 1, 0, 1, 1),
        (OP_DISCARD, 0, -1, False, 8192, 4096, 4096, 0, 8 * 4096, 1, 0, 1, 1),
        (OP_COMPACT, -1, -1, False, 8192, 4096, 4096, 0, 8 * 4096, 1, 0, 1, 1),
    ]
    for i, row in enumerate(rows):
        records[i] = row
    return records


@pytest.mark.parametrize("suffix", [".csv", ".npz"])
def test_zram_traces_round_trip_and_replay(capsys, tmp_path, suffix):
    path = tmp_path / f"trace{suffix}"
    save_trace(trace_records(), path)
    loaded, has_mm_stat = load_trace(path)
    assert has_mm_stat and np.array_equal(loaded, trace_records())
    status, report = run_json(capsys, "replay", str(path))
    assert status == 0 and report["kind"] == "zram" and report["checked"]
    assert report["mismatch"] is None and report["ops"] == 5


def test_a_trace_the_model_disagrees_with_fails(capsys, tmp_path):
    records = trace_records()
    records["mem_used_total"][2] += 4096
    path = tmp_path / "wrong.csv"
    save_trace(records, path)
    status, report = run_json(capsys, "replay", str(path))
    assert status == 1
    assert report["mismatch"]["operation"] == 2
    assert report["mismatch"]["field"] == "mem_used_total"


@pytest.mark.parametrize("text, where", [
    ("op,index,comp_len\nwrite,0,100\nfly,1,2\n", "line 3"),
    ("op,index,comp_len\nwrite,x,100\n", "line 2"),
    ("op,index,comp_len\nwrite,0,99999\n", "line 2"),
    ("op,index\nwrite,0\n", "comp_len missing"),
])
def test_damaged_zram_traces(tmp_path, capsys, text, where):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(TraceError, match=where):
        load_trace(path)
    assert main(["replay", str(path)]) == 3 or "comp_len missing" in where


def test_a_hand_written_trace_without_mm_stat_replays(capsys, tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("# sizes from somewhere\nop,index,comp_len\nwrite,0,700\nwrite,1,0\n"
                    "discard,0,\ncompact,-1,\n")
    status, report = run_json(capsys, "replay", str(path))
    assert status == 0 and not report["checked"]
    assert report["mm_stat"]["same_pages"] == 1
