"""The command line with the zsmalloc policy: ``zbudjit classes`` and ``--policy zsmalloc``, run
in a subprocess as a user would run them, and checked against pools built here from the same
input."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zbudjit as zj
from zbudjit import cli, compressors
from zbudjit.pagesource import read_pages
from zbudjit.policies.zsmalloc.classes import (
    CLASS_STATS_DTYPE, RATIO_FIELDS, format_class_stats, size_class_table)
from zbudjit.replay import ALLOC, FREE, Trace, load_trace, replay, save_trace, synthetic_trace

ROOT = Path(__file__).resolve().parent.parent


def zbudjit(*args):
    return subprocess.run([sys.executable, "-m", "zbudjit.cli", *args], check=False,
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


def ok(*args):
    result = zbudjit(*args)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


# -- the class table of a geometry -------------------------------------------------------------


def test_class_table_for_4096_and_chain_8():
    lines = ok("classes").splitlines()
    assert lines[1].split() == ["index", "size", "pages_per_zspage", "objs_per_zspage",
                                "merged_into"]
    rows = [line.split() for line in lines[2:-2]]
    table = size_class_table(4096, 8)
    assert len(rows) == len(table) == 255
    for index, (row, expected) in enumerate(zip(rows, table)):
        assert int(row[0]) == index and int(row[1]) == min(32 + 16 * index, 4096)
        assert (int(row[2]), int(row[3])) == (expected["pages_per_zspage"],
                                             expected["objs_per_zspage"])
        merged = int(expected["class_index"])
        assert row[4] == ("-" if merged == index else str(merged))
    assert sum(row[4] == "-" for row in rows) == 119
    assert lines[-2].startswith("255 class indices, 119 real classes")
    assert lines[-1].startswith("huge_class_size 3625:")
    # a few rows of the kernel's table (kernel-6.18.md, Appendix A)
    assert rows[1] == ["1", "48", "3", "256", "-"]
    assert rows[253] == ["253", "4080", "1", "1", "254"]
    assert rows[254] == ["254", "4096", "1", "1", "-"]


def test_class_table_json_follows_the_geometry():
    report = json.loads(ok("classes", "--page-size", "16384", "--chain-size", "4", "--json"))
    table = size_class_table(16384, 4)
    assert (report["page_size"], report["chain_size"]) == (16384, 4)
    assert report["huge_class_size"] == zj.huge_class_size(16384, 4)
    assert report["class_indices"] == len(table) == len(report["rows"])
    assert report["real_classes"] == sum(r["merged_into"] is None for r in report["rows"])
    for index, (row, expected) in enumerate(zip(report["rows"], table)):
        assert row["index"] == index and row["slot_size"] == expected["size"]
        assert row["pages_per_zspage"] == expected["pages_per_zspage"]
        assert row["objs_per_zspage"] == expected["objs_per_zspage"]
        merged = int(expected["class_index"])
        assert row["merged_into"] == (None if merged == index else merged)


# -- real pages, stored as zram stores them ----------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A few real files of the repository, a same-filled file and an incompressible one."""
    data = tmp_path_factory.mktemp("data")
    for name in ("README.md", "zbudjit/cli.py", "zbudjit/pool.py", "pyproject.toml"):
        (data / name.replace("/", "_")).write_bytes((ROOT / name).read_bytes())
    (data / "ones.bin").write_bytes(b"\x01\x00\x00\x00\x00\x00\x00\x00" * 512 * 3)
    rng = np.random.default_rng(1)
    (data / "noise.bin").write_bytes(rng.integers(0, 256, 6 * 4096, dtype=np.uint8).tobytes())
    return [str(path) for path in sorted(data.iterdir())]


def zram_pool(paths, compressor="zlib", page_size=4096, chain_size=8):
    """The pool zram would make of these pages, built here one page at a time."""
    pages = read_pages(paths, page_size).pages
    huge = zj.huge_class_size(page_size, chain_size)
    compress = compressors.get_compressor(compressor)
    pool = zj.Pool(pages=len(pages) + 2000, policy="zsmalloc", page_size=page_size,
                   chain_size=chain_size)
    counts = {"same": 0, "huge": 0, "compressed": 0}
    for page in pages:
        if (page.view(np.uint64) == page.view(np.uint64)[0]).all():
            counts["same"] += 1
            continue
        data, offsets = compress.compress(page[None])
        if offsets[1] >= huge:
            data, offsets = page, [0, page_size]
            counts["huge"] += 1
        else:
            counts["compressed"] += 1
        pool.store(data, offsets)
    pool.check()
    return pool, counts


def parse_table(text):
    """The rows and the Total of a debugfs ``classes`` text, as CLASS_STATS_DTYPE and a dict."""
    lines = text.splitlines()
    header = lines[0].split()
    assert header == (["class", "size"] + [f[len("ratio_"):] + "%" for f in RATIO_FIELDS]
                      + ["obj_allocated", "obj_used", "pages_used", "pages_per_zspage",
                         "freeable"])
    assert lines[-2] == "" and lines[-1].split()[0] == "Total"
    rows = np.array([tuple(int(v) for v in line.split()) for line in lines[1:-2]],
                    CLASS_STATS_DTYPE)
    total_names = [name for name in CLASS_STATS_DTYPE.names
                   if name not in ("class", "size", "pages_per_zspage")]
    total = dict(zip(total_names, (int(v) for v in lines[-1].split()[1:])))
    return rows, total


def test_classes_of_real_files_is_the_pool_zram_makes(files):
    out = ok("classes", *files, "--compressor", "zlib")
    pool, counts = zram_pool(files)
    assert counts["same"] == 3 and counts["huge"] >= 6 and counts["compressed"] > 10
    table, summary = out[:out.rindex("\n", 0, -1) + 1], out.splitlines()[-1]
    assert table == format_class_stats(pool.class_stats())
    rows, total = parse_table(table)
    assert np.array_equal(rows, pool.class_stats())
    assert len(rows) == 119
    assert total["obj_used"] == pool.objects == counts["huge"] + counts["compressed"]
    assert total["pages_used"] == pool.pages_used
    assert total["obj_allocated"] >= total["obj_used"]
    assert rows[rows["class"] == 254]["obj_used"][0] == counts["huge"]
    assert summary == (f"pages used {pool.pages_used:,}, bytes stored {pool.bytes_stored:,}, "
                       f"density {pool.density:.3f} ({sum(counts.values()):,} pages in: "
                       f"{counts['same']} same-filled, {counts['huge']} huge, "
                       f"{counts['compressed']} compressed with zlib)")


def test_classes_json_and_geometry(files):
    report = json.loads(ok("classes", *files, "--compressor", "lz4", "--chain-size", "4",
                           "--json"))
    pool, counts = zram_pool(files, "lz4", chain_size=4)
    expected = pool.class_stats()
    assert report["chain_size"] == 4 and report["huge_class_size"] == zj.huge_class_size(4096, 4)
    assert report["rows"] == [{name: int(row[name]) for name in CLASS_STATS_DTYPE.names}
                              for row in expected]
    assert report["total"]["pages_used"] == report["pages_used"] == pool.pages_used
    assert report["total"]["obj_used"] == report["objects"] == pool.objects
    assert report["bytes_stored"] == pool.bytes_stored
    assert report["input"]["compressor"] == "lz4" and report["input"]["files"] == len(files)
    assert (report["input"]["same_filled_pages"], report["input"]["huge_pages"],
            report["input"]["compressed_pages"]) == (counts["same"], counts["huge"],
                                                     counts["compressed"])


# -- traces under zsmalloc ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def trace_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("trace") / "trace.csv"
    save_trace(synthetic_trace(6000, seed=3, live=800, id_space=2000, max_size=4096), path)
    return path


def test_replay_under_zsmalloc(trace_file):
    trace = load_trace(trace_file)
    pool = zj.Pool(pages=3000, policy="zsmalloc", chain_size=4)
    final = replay(trace, pool).final
    out = ok("replay", str(trace_file), "--policy", "zsmalloc", "--chain-size", "4",
             "--pages", "3000")
    assert "replayed 6,000 operations" in out
    assert f"pages used / total  {final.pages_used:,} / 3,000" in out
    assert f"bytes stored        {final.bytes_stored:,}" in out
    report = json.loads(ok("replay", str(trace_file), "--policy", "zsmalloc", "--chain-size", "4",
                           "--pages", "3000", "--json"))
    assert report["final"]["pages_used"] == final.pages_used
    assert report["final"]["objects"] == final.objects


def test_replay_under_zsmalloc_stops_when_full(trace_file):
    result = zbudjit("replay", str(trace_file), "--policy", "zsmalloc", "--pages", "50")
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and "pool is full" in result.stderr


def test_classes_of_a_trace(trace_file):
    out = ok("classes", "--trace", str(trace_file))
    pool = zj.Pool(pages=8000, policy="zsmalloc")
    replay(load_trace(trace_file), pool)
    assert out.startswith(format_class_stats(pool.class_stats()))
    assert out.splitlines()[-1] == (
        f"pages used {pool.pages_used:,}, bytes stored {pool.bytes_stored:,}, density "
        f"{pool.density:.3f} ({pool.objects:,} objects live after 6,000 records of {trace_file})")


def test_classes_of_a_trace_that_fragments_the_pool(tmp_path):
    """More pages than objects at the end: 1000 zspages of 8 pages kept by one object each, then
    9000 objects of another class. The command's first pool is too small and it must grow."""
    kept = [i for i in range(9000) if i % 9 == 0]
    ops = [ALLOC] * 9000 + [FREE] * (9000 - len(kept)) + [ALLOC] * 9000
    ids = list(range(9000)) + [i for i in range(9000) if i % 9] + list(range(10**5, 10**5 + 9000))
    sizes = [3600] * 9000 + [0] * (9000 - len(kept)) + [3000] * 9000
    trace = Trace(np.array(ops, np.uint8), np.array(ids), np.array(sizes))
    save_trace(trace, tmp_path / "fragmented.npz")
    pool = zj.Pool(pages=20000, policy="zsmalloc")
    replay(trace, pool)
    assert pool.pages_used > trace.peak_live() + 1000      # beyond the command's first guess
    report = json.loads(ok("classes", "--trace", str(tmp_path / "fragmented.npz"), "--json"))
    assert report["pages_used"] == pool.pages_used and report["objects"] == 10000
    assert report["rows"] == [{name: int(row[name]) for name in CLASS_STATS_DTYPE.names}
                              for row in pool.class_stats()]


# -- what is refused ---------------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["classes", "--chain-size", "3"], "argument --chain-size: must be from 4 to 16"),
    (["classes", "--chain-size", "17", "README.md"], "argument --chain-size: must be from 4 to 16"),
    (["classes", "--page-size", "5000"], "power of two"),
    (["classes", "/no/such/file"], "/no/such/file"),
    (["classes", "/dev/null"], "no pages"),
    (["classes", "--trace", "/no/such/trace.csv"], "/no/such/trace.csv"),
    (["classes", "--trace", "x.csv", "README.md"], "not both"),
    (["classes", "--compressor", "zlib"], "only for PATHs"),
    (["classes", "--compressor", "brotli", "README.md"], "invalid choice"),
    (["replay", "x.csv", "--policy", "zsmalloc", "--on-full", "reclaim"], "no LRU"),
    (["replay", "x.csv", "--chain-size", "8"], "--policy zsmalloc"),
    (["zswap", "README.md", "--policy", "zsmalloc"], "no LRU"),
    (["demo", "--policy", "zsmalloc", "--no-plot"], "no LRU"),
])
def test_bad_arguments_give_one_line(args, message, capsys):
    # in this process, for speed: main() is what the command runs, parse errors exit through
    # SystemExit as they do there (the subprocess tests above and test_cli_and_examples.py cover
    # the command itself)
    try:
        status = cli.main(args)
    except SystemExit as done:
        status = done.code
    out, err = capsys.readouterr()
    assert status == 2 and out == ""
    assert message in err
    assert len(err.splitlines()) == 1 and err.startswith("zbudjit")


def test_a_bad_argument_in_a_subprocess():
    result = zbudjit("classes", "--chain-size", "3")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == ("zbudjit classes: error: argument --chain-size: must be from 4 to 16 "
                             "(CONFIG_ZSMALLOC_CHAIN_SIZE), not 3\n")


@pytest.mark.parametrize("command, shown", [
    ("classes", ["(default 4096)", "(default 8)", "(default auto"]),
    ("replay", ["(default 8; --policy zsmalloc only)", "(default zbud", "(default error)"]),
    ("zswap", ["(default 8; --policy zsmalloc only)", "(default zbud"]),
])
def test_help_shows_the_defaults(command, shown, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit) as done:
        cli.main([command, "--help"])
    assert done.value.code == 0
    out = " ".join(capsys.readouterr().out.split())        # argparse wraps lines at will
    for text in shown:
        assert text in out
