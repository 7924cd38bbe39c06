"""What the command line promises, checked in this process (cli.main, as the command runs it):
help with every default, one exit status per kind of failure, messages in the command line's
words, plots in the format their suffix names, --no-plot wherever a plot is written, --json with
a schema version and everything the tables and plots show, --parquet, and no compile time in any
figure reported. tests/test_cli_and_examples.py runs the command itself, in subprocesses."""

import argparse
import json
import sys

import numpy as np
import pytest

from zbudjit import cli, workloads
from zbudjit.errors import CorruptionError
from zbudjit.replay import save_trace, synthetic_trace


def run(capsys, *args):
    try:
        status = cli.main([str(arg) for arg in args])
    except SystemExit as done:
        status = done.code
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def trace(tmp_path):
    path = tmp_path / "trace.csv"
    save_trace(synthetic_trace(2000, seed=1, live=200, id_space=500), path)
    return path


@pytest.fixture
def small_file(tmp_path):
    path = tmp_path / "small.txt"
    path.write_bytes(b"a few pages of text that compress well. " * 600)      # 6 pages
    return path


def subcommands():
    parser = cli._parser()
    (group,) = [action for action in parser._actions
                if isinstance(action, argparse._SubParsersAction)]
    return group.choices


# -- help ----------------------------------------------------------------------------------------


def test_every_option_that_takes_a_value_shows_its_default():
    for name, sub in subcommands().items():
        for action in sub._actions:
            if not action.option_strings or action.nargs == 0 or action.help is None:
                continue                            # flags (--json, --no-plot) and -h
            assert "default" in action.help, (name, action.option_strings, action.help)


@pytest.mark.parametrize("command", [[], ["demo"], ["zswap"], ["replay"], ["classes"], ["bench"]])
def test_help_gives_the_exit_statuses_and_the_first_run_compile(capsys, monkeypatch, command):
    monkeypatch.setenv("COLUMNS", "100")
    status, out, _ = run(capsys, *command, "--help")
    assert status == 0
    assert "exit statuses:" in out
    for code, meaning in [(cli.EXIT_VERIFY_FAILED, "a verification failed"),
                          (cli.EXIT_USAGE, "bad arguments"),
                          (cli.EXIT_BAD_INPUT, "a damaged input file"),
                          (cli.EXIT_INTERNAL, "an internal error")]:
        assert f"  {code}  {meaning}" in out
    assert "first run compiles" in " ".join(out.split())


def test_every_plotting_command_accepts_no_plot():
    parser = cli._parser()
    for args in (["demo"], ["zswap", "x"], ["replay", "x.csv"]):
        assert parser.parse_args(args + ["--plot", "p.svg", "--no-plot"]).plot is None
    assert parser.parse_args(["demo"]).plot == cli.DEMO_PLOT


# -- exit statuses and messages ------------------------------------------------------------------


def test_the_exit_statuses_are_distinct_and_named():
    statuses = [cli.EXIT_OK, cli.EXIT_VERIFY_FAILED, cli.EXIT_USAGE, cli.EXIT_BAD_INPUT,
                cli.EXIT_INTERNAL]
    assert statuses == [0, 1, 2, 3, 4]


# what the Python API says and a user of the command line never typed
API_WORDS = ["Traceback", "Error", "keyword", "exception", ".result", "pool.", "()", "page_size",
             "chain_size", "max_pages", "path=", "dtype", "int64"]


def assert_one_line_in_cli_words(err):
    assert len(err.splitlines()) == 1 and err.startswith("zbudjit"), err
    for word in API_WORDS:
        assert word not in err, (word, err)


@pytest.mark.parametrize("make, args, status, said", [
    # damaged input files: their own status, naming the file and line
    (lambda p: p.write_bytes(b"op,id,size\n\xff\xfe\x00"), ["replay", "{}"], 3, "line 2"),
    (lambda p: p.write_text("op,id,size\nalloc,1,100\nfree,2,\n"), ["replay", "{}"], 3,
     "line 3: free of id 2"),
    (lambda p: p.write_text("op,id,size\nalloc,x,100\n"), ["classes", "--trace", "{}"], 3,
     "line 2: id 'x' is not an integer"),
    (lambda p: p.write_text("op,id\nalloc,1\n"), ["replay", "{}"], 3, "missing column 'size'"),
    # what the user typed does not suit the input: bad arguments
    (lambda p: p.write_text("op,id,size\nalloc,1,100\nalloc,2,5000\n"), ["replay", "{}"], 2,
     "line 3: an object of 5,000 bytes does not fit a zbud pool of 4,096-byte pages (at most "
     "4,032 bytes); give a larger --page-size"),
    (lambda p: save_trace(synthetic_trace(2000, live=200), p), ["replay", "{}", "--pages", "10"],
     2, "the pool is full at {}: line "),
    (lambda p: save_trace(synthetic_trace(2000, live=200), p),
     ["replay", "{}", "--pages", "10"], 2, "10 pages are too few; give more --pages, or "
     "--on-full reclaim"),
    (None, ["replay", "t.txt"], 2, "t.txt: a trace file must end in .csv or .npz"),
    (None, ["classes", "--chain-size", "3"], 2, "argument --chain-size: must be from 4 to 16"),
    (None, ["demo", "--page-size", "5000"], 2,
     "argument --page-size: must be a power of two from 4096 to 65536, not 5000"),
    (None, ["bench", "--pages", "99999999999"], 2, "argument --pages: must be at most "
     "4,294,967,294 (the most pages a pool can have)"),
    (None, ["replay", "t.csv", "--plot", "t.jpg"], 2,
     "argument --plot: t.jpg: cannot write a plot with .jpg; name the file .png, .svg or .pdf"),
    (None, ["zswap", "/no/such/file"], 2, "/no/such/file"),
])
def test_each_failure_has_its_status_and_says_what_is_wrong(capsys, tmp_path, make, args, status,
                                                            said):
    path = tmp_path / "input.csv"
    if make is not None:
        make(path)
    code, out, err = run(capsys, *(arg.format(path) for arg in args))
    assert code == status and out == ""
    assert said.format(path) in err, err
    assert_one_line_in_cli_words(err)


def test_damaged_npz_is_a_damaged_input(capsys, tmp_path):
    path = tmp_path / "t.npz"
    path.write_bytes(b"PK\x03\x04 not really a zip archive")
    code, out, err = run(capsys, "replay", path)
    assert code == cli.EXIT_BAD_INPUT and f"{path}: not a readable .npz archive" in err
    assert_one_line_in_cli_words(err)


def test_a_pool_too_large_for_memory(capsys, monkeypatch, trace):
    def no_memory(**kwargs):
        raise MemoryError("cannot map 6,553,600,000,000 bytes of memory; for an arena larger "
                          "than RAM pass path= (a file-backed arena)")
    monkeypatch.setattr(cli, "Pool", no_memory)
    code, out, err = run(capsys, "replay", trace, "--pages", "100000000", "--page-size", "65536")
    assert code == cli.EXIT_USAGE
    assert err == ("zbudjit: out of memory: a pool of 100,000,000 pages of 65,536 B (6,103.5 GiB) "
                   "does not fit in memory; give fewer --pages\n")


def test_a_failed_audit_is_a_failed_verification(capsys, monkeypatch, small_file):
    def corrupt(self):
        raise CorruptionError("page 3 holds 2 objects but its record says 1")
    monkeypatch.setattr("zbudjit.Pool.check", corrupt)
    code, out, err = run(capsys, "zswap", small_file, "--no-plot")
    assert code == cli.EXIT_VERIFY_FAILED
    assert err == "zbudjit: verification failed: page 3 holds 2 objects but its record says 1\n"


def test_a_bug_is_an_internal_error_in_one_line(capsys, monkeypatch, trace):
    def broken(*args, **kwargs):
        raise KeyError("timeline")
    monkeypatch.setattr("zbudjit.replay.replay", broken)
    code, out, err = run(capsys, "replay", trace)
    assert code == cli.EXIT_INTERNAL and out == ""
    assert err.startswith("zbudjit: internal error, please report it") and "'timeline'" in err
    assert len(err.splitlines()) == 1
    monkeypatch.setenv("ZBUDJIT_TRACEBACK", "1")
    with pytest.raises(KeyError):
        cli.main(["replay", str(trace)])


# -- plots ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix, signature", [("png", b"\x89PNG"), ("svg", b"<?xml"),
                                               ("pdf", b"%PDF-"), ("SVG", b"<?xml")])
def test_plot_is_written_in_the_format_its_suffix_names(capsys, tmp_path, trace, suffix,
                                                        signature):
    pytest.importorskip("matplotlib")
    plot = tmp_path / f"replay.{suffix}"
    code, out, err = run(capsys, "replay", trace, "--pages", "400", "--plot", plot)
    assert code == 0, err
    assert plot.read_bytes().startswith(signature)
    assert f"plot written to {plot}" in out


def test_refused_plot_suffix_does_no_work(capsys, tmp_path, monkeypatch, trace):
    monkeypatch.setattr("zbudjit.replay.load_trace", lambda path: pytest.fail("work was done"))
    code, out, err = run(capsys, "replay", trace, "--plot", tmp_path / "replay.gif")
    assert code == cli.EXIT_USAGE and ".png, .svg or .pdf" in err
    assert not (tmp_path / "replay.gif").exists()


# -- JSON ----------------------------------------------------------------------------------------


def test_zswap_json_has_the_schema_the_table_and_the_plot(capsys, small_file):
    code, out, err = run(capsys, "zswap", small_file, "--json", "--no-plot", "--batches", "3")
    assert code == 0, err
    report = json.loads(out)
    assert (report["schema"], report["command"]) == (cli.JSON_SCHEMA, "zswap")
    timeline = report["timeline"]
    assert timeline["time_label"] == "pages swapped out"
    for key in ("time", "pool_pages", "density", "limit_pages", "written_back_pages",
                "stored_pages"):
        assert len(timeline[key]) == 3, key
    assert timeline["time"][-1] == report["data"]["pages"] == 6
    histogram = report["page_fill_histogram"]
    assert len(histogram["bin_edges_percent"]) == len(histogram["used_pages"]) + 1 == 33
    assert sum(histogram["used_pages"]) == report["stats"]["pool_pages"]
    # the table's figures: throughputs, the pool limit, the warm-up kept out of them
    assert report["pool_limit_pages"] == report["stats"]["pool_limit_pages"]
    assert report["store_mib_per_second"] == pytest.approx(
        report["data"]["mib"] / report["store_seconds"])
    assert report["warmup_seconds"] > 0 and report["mismatched_count"] == 0
    assert report["plot"] is None and report["parquet"] is None


def test_replay_json_has_the_schema_and_the_timeline(capsys, trace):
    code, out, err = run(capsys, "replay", trace, "--pages", "60", "--on-full", "reclaim",
                         "--samples", "10", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["schema"], report["command"], report["ops"]) == (cli.JSON_SCHEMA, "replay",
                                                                    2000)
    assert report["pool"] == {"pages": 60, "policy": "zbud", "page_size": 4096,
                              "chain_size": None, "max_size": 4032, "on_full": "reclaim"}
    timeline = report["timeline"]
    assert timeline["limit_pages"] == [60] * 10
    assert timeline["evicted"][-1] == report["evicted"] > 0
    assert report["final"]["pages_total"] == 60


def test_classes_json_has_the_schema(capsys, trace):
    for args in (["classes", "--json"], ["classes", "--trace", trace, "--json"]):
        report = json.loads(run(capsys, *args)[1])
        assert (report["schema"], report["command"]) == (cli.JSON_SCHEMA, "classes")


def test_json_has_no_nan(capsys, tmp_path):
    """A number that does not exist is null in the JSON, never NaN or Infinity (no JSON reader
    need accept them)."""
    assert cli._jsonable({"ratio": float("nan"), "rate": np.float64("inf"),
                          "rows": (np.array([1.5, np.nan]),)}) == {
        "ratio": None, "rate": None, "rows": [[1.5, None]]}
    path = tmp_path / "noise.bin"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4 * 4096, np.uint8).tobytes())
    code, out, err = run(capsys, "zswap", path, "--compressor", "none", "--json", "--no-plot")
    assert code == 0, err
    json.loads(out, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))


# -- tables and Parquet --------------------------------------------------------------------------


def test_replay_tables_are_aligned(capsys, trace):
    code, out, err = run(capsys, "replay", trace, "--pages", "400")
    assert code == 0, err
    lines = out.splitlines()
    header = lines.index(next(line for line in lines if line.split()[:2] == ["ops", "objects"]))
    samples = lines[header:lines.index("final pool")]
    assert len({len(line) for line in samples}) == 1             # right-aligned columns
    final = lines[lines.index("final pool") + 1:]
    values = [line.index(line.split("  ")[-1].strip()) for line in final if line.startswith("  ")]
    assert len(set(values)) == 1                                 # one column of values


def test_parquet_of_each_command(capsys, tmp_path, trace, small_file):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    table = tmp_path / "replay.parquet"
    code, out, err = run(capsys, "replay", trace, "--pages", "400", "--samples", "7",
                         "--parquet", table, "--json")
    assert code == 0, err
    report = json.loads(out)
    frame = pd.read_parquet(table)
    assert report["parquet"] == str(table) and len(frame) == 7
    assert frame["pool_pages"].tolist() == report["timeline"]["pool_pages"]
    assert frame.attrs["time_label"] == "operations replayed"
    code, out, err = run(capsys, "classes", "--trace", trace, "--parquet", table)
    assert code == 0 and f"table written to {table}" in out
    assert {"class", "size", "obj_used"} <= set(pd.read_parquet(table).columns)
    code, out, err = run(capsys, "classes", "--parquet", table)
    assert len(pd.read_parquet(table)) == 255
    code, out, err = run(capsys, "zswap", small_file, "--no-plot", "--parquet", table)
    assert code == 0 and pd.read_parquet(table)["time"].iloc[-1] == 6


def test_parquet_without_pandas_fails_before_any_work(capsys, tmp_path, monkeypatch, trace):
    from zbudjit import results

    def missing():
        raise ImportError(f"zbudjit's DataFrames need pandas and pyarrow: {results.INSTALL_HINT}")
    monkeypatch.setattr(results, "require_data", missing)
    monkeypatch.setattr("zbudjit.replay.load_trace", lambda path: pytest.fail("work was done"))
    code, out, err = run(capsys, "replay", trace, "--parquet", tmp_path / "t.parquet")
    assert code == cli.EXIT_USAGE and 'pip install "zbudjit[data]"' in err
    assert err.startswith("zbudjit replay: error: argument --parquet:")


# -- compile time ----------------------------------------------------------------------------------


def test_kernels_are_warmed_up_before_anything_is_timed(capsys, monkeypatch, small_file, trace):
    """The first swap cycle (and replay) each command runs is a tiny one that compiles the
    kernels; only the next is timed and reported."""
    cycles = []
    real_cycle = workloads.swap_cycle
    monkeypatch.setattr(workloads, "swap_cycle",
                        lambda pages, **kw: cycles.append(len(pages)) or real_cycle(pages, **kw))
    code, out, err = run(capsys, "zswap", small_file, "--no-plot")
    assert code == 0, err
    assert cycles == [cli.WARM_UP_LEAST_PAGES, 6]
    assert "warm-up (compiles on a first run)" in out and "in none of the times below" in out

    import zbudjit.replay
    replays = []
    real_replay = zbudjit.replay.replay
    monkeypatch.setattr(zbudjit.replay, "replay",
                        lambda t, pool, **kw: replays.append(len(t)) or real_replay(t, pool, **kw))
    code, out, err = run(capsys, "replay", trace, "--pages", "400")
    assert code == 0, err
    assert replays == [len(cli._warm_up_trace()), 2000]
    assert "which compiles on a first run, not included" in out


def test_a_csv_as_users_write_it_replays(capsys, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes('\ufeff# from a spreadsheet\r\n"op","id","size"\r\n"alloc","1","100"\r\n'
                     '"alloc", "2" ,"200"\r\n"free","1",""\r\n'.encode())
    code, out, err = run(capsys, "replay", path, "--pages", "10", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["ops"] == 3 and report["final"]["objects"] == 1


def test_a_missing_compressor_fails_before_any_work(capsys, monkeypatch, small_file):
    monkeypatch.setitem(sys.modules, "zstandard", None)
    monkeypatch.setattr("zbudjit.pagesource.read_pages", lambda *a, **k: pytest.fail("work done"))
    code, out, err = run(capsys, "zswap", small_file, "--compressor", "zstd")
    assert code == cli.EXIT_USAGE
    assert err == ('zbudjit zswap: error: argument --compressor: compressor \'zstd\' needs the '
                   'zstandard package: pip install "zbudjit[compress]"\n')
