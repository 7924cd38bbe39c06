"""The command line and the examples run as a user would run them: in a subprocess."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zbudjit.replay import save_trace, synthetic_trace

ROOT = Path(__file__).resolve().parent.parent


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600, cwd=cwd)


def zbudjit(*args, cwd=ROOT):
    return run("-m", "zbudjit.cli", *args, cwd=cwd)


def test_demo_round_trips_writes_back_and_plots(tmp_path):
    result = zbudjit("demo", "--max-pages", "3000", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "every one of the 3,000 pages loaded back byte for byte" in result.stdout
    for row in ("stored_pages", "written_back_pages", "pool_limit_hit", "reject_compress_poor",
                "same_filled_pages", "effective ratio"):
        assert row in result.stdout
    plot = tmp_path / "zbudjit-demo.png"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result.stderr == ""          # no progress bars into a pipe


def test_demo_json_counters_add_up(tmp_path):
    result = zbudjit("demo", "--max-pages", "3000", "--json", "--plot", str(tmp_path / "p.png"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    stats = report["stats"]
    assert report["verified"] and report["data"]["pages"] == 3000
    assert stats["written_back_pages"] > 0 and stats["pool_limit_hit"] > 0
    assert stats["stored_pages"] + stats["swap_pages"] == 3000
    assert stats["pool_pages"] <= stats["pool_limit_pages"] == 3000 * 20 // 100
    assert sum(stats[k] for k in ("loads_from_pool", "loads_from_same_filled", "loads_from_swap")) == 3000


@pytest.mark.parametrize("compressor", ["zlib", "lz4", "none"])
def test_zswap_over_named_files(tmp_path, compressor):
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    (data / "text.txt").write_bytes(b"zbud keeps two buddies a page. " * 9000)
    (data / "noise.bin").write_bytes(rng.integers(0, 256, 40000, dtype=np.uint8).tobytes())
    (data / "zeros.bin").write_bytes(bytes(5 * 4096))
    result = zbudjit("zswap", str(data), "--compressor", compressor, "--pool-percent", "30",
                     "--json", "--plot", str(tmp_path / "z.png"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["verified"] and report["data"]["files"] == 3
    text_pages = -(-len(b"zbud keeps two buddies a page. " * 9000) // 4096)
    assert report["data"]["pages"] == text_pages + 10 + 5
    assert report["stats"]["same_filled_pages"] == 5
    # the noise file's last page is mostly zero padding, so it compresses
    expected_rejects = 9 if compressor != "none" else text_pages + 10
    assert report["stats"]["reject_compress_poor"] == expected_rejects
    assert (tmp_path / "z.png").exists()


def test_replay_a_trace(tmp_path):
    trace = tmp_path / "trace.csv"
    save_trace(synthetic_trace(20000, live=2000, id_space=5000), trace)
    result = zbudjit("replay", str(trace), "--pages", "5000", "--plot", str(tmp_path / "r.png"))
    assert result.returncode == 0, result.stderr
    assert "replayed 20,000 operations" in result.stdout and "final pool" in result.stdout
    assert (tmp_path / "r.png").exists()
    report = json.loads(zbudjit("replay", str(trace), "--pages", "5000", "--json").stdout)
    assert report["ops"] == 20000 and report["timeline"]["time"][-1] == 20000


def test_bench_prints_ratios():
    result = zbudjit("bench", "--pages", "2048", "--repeat", "1", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["schema"], report["command"], report["pages"]) == (1, "bench", 2048)
    rows = {row["name"]: row for row in report["rows"]}
    assert rows["alloc"]["yardstick"] == "memory floor" and rows["alloc"]["ratio"] > 0
    assert rows["read"]["yardstick"] == "numpy copy"
    assert rows["alloc"]["met"] in (True, False) and rows["memory floor"]["met"] is None


@pytest.mark.parametrize("args, message", [
    (["demo", "--page-size", "5000"], "power of two"),
    (["demo", "--pool-percent", "0"], "between 1 and 100"),
    (["demo", "--compressor", "brotli"], "invalid choice"),
    (["zswap", "/no/such/file"], "/no/such/file"),
    (["zswap", "/dev/null"], "no pages"),
    (["replay", "/no/such/trace.csv"], "/no/such/trace.csv"),
    (["replay", "pyproject.toml"], "pyproject.toml"),
    (["bench", "--pages", "0"], "at least 1"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_arguments_give_one_line(args, message):
    result = zbudjit(*args)
    assert result.returncode == 2 and result.stdout == ""
    assert message in result.stderr
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("zbudjit")


def test_replay_of_a_bad_trace_names_the_line(tmp_path):
    trace = tmp_path / "bad.csv"
    trace.write_text("op,id,size\nalloc,1,100\nfree,2,\n")
    result = zbudjit("replay", str(trace), "--pages", "100")
    assert result.returncode == 3 and "Traceback" not in result.stderr     # a damaged input file
    assert len(result.stderr.strip().splitlines()) == 1
    assert f"{trace}: line 3: free of id 2" in result.stderr


# Each example on a small sample: its arguments (a plot goes to plot.png) and the line it prints
# only when its own check passed. highmem_pool.py runs in test_highmem.py.
EXAMPLES = {
    "compaction_before_after.py": (["--max-pages", "4096", "--plot", "plot.png"],
                                   "every remaining page loaded back byte for byte"),
    "compressor_kernel_sizes.py": (["--pages", "2000", "--repeats", "1"],
                                   "lz4, lzo and lzo-rle: every page's size is the kernel's"),
    "compressor_density.py": (["--mib", "1", "--plot", "plot.png"],
                              "every page loaded back byte for byte"),
    "stable_handles.py": ([], "pool audit passed"),
    "trace_replay.py": (["--ops", "20000"], "every live object read back its pattern"),
    "zswap_real_files.py": (["--max-pages", "2048"], "every page loaded back byte for byte"),
}


def test_every_example_is_run():
    names = {p.name for p in (ROOT / "examples").glob("*.py")}
    # highmem_pool.py needs gigabytes of disk; the zram examples run in test_zram_examples.py
    assert names == set(EXAMPLES) | {"highmem_pool.py", "zram_sweep.py", "zram_writeback.py"}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_runs(name, tmp_path):
    args, last_line = EXAMPLES[name]
    result = run(str(ROOT / "examples" / name), *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == last_line
    if "--plot" in args:
        assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_reader_that_goes_away_is_not_an_error():
    process = subprocess.Popen([sys.executable, "-m", "zbudjit.cli", "demo", "--max-pages", "300",
                                "--no-plot"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    process.stdout.close()                      # as `| head -0` does, before anything is printed
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    assert b"Broken pipe" not in stderr and b"Traceback" not in stderr
