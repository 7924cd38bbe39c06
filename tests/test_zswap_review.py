"""Review of the zswap frontend and the command line: all-or-nothing stores, the swap file, large
page ids, writeback checks, batch-versus-page semantics, and one-line CLI errors (run in-process,
so they stay fast; tests/test_cli_and_examples.py runs the real subprocesses)."""

import errno
import gc
import json
import os
import sys
import tracemalloc

import numpy as np
import pytest

import zbudjit as zj
from zbudjit import cli, pagesource, workloads
from zbudjit.frontends import zswap
from zbudjit.errors import CorruptionError
from zbudjit.pagesource import default_pages
from helpers import snapshot

PAGE = 4096


@pytest.fixture(scope="module")
def real_pages(installation_pages):
    return installation_pages[:600]


def make(pool_pages, limit_pages, compressor="zlib", page_size=PAGE, **kwargs):
    pool = zj.Pool(pool_pages, page_size=page_size)
    front = zj.Zswap(pool, compressor=compressor, max_pool_percent=100, ram_pages=limit_pages,
                     **kwargs)
    return pool, front


def everything(front, ids):
    """All that a caller can observe of a frontend and its pool."""
    return front.stats(), front.locations(ids).tolist(), snapshot(front.pool)


# -- all or nothing -------------------------------------------------------------------------------


def test_compressor_error_changes_no_counter(real_pages, monkeypatch):
    pool, front = make(100, 100)
    front.store([0, 1], real_pages[:2])
    before = everything(front, np.arange(4))

    def broken(pages, header_bytes=0):
        raise RuntimeError("compressor broke")
    monkeypatch.setattr(front.compressor, "compress", broken)
    with pytest.raises(RuntimeError):
        front.store([0, 2, 2], real_pages[2:5])          # a replacement and a repeat
    assert everything(front, np.arange(4)) == before


def test_full_disk_fails_the_store_before_any_change(real_pages, monkeypatch, tmp_path):
    pool, front = make(100, 10, swap_path=tmp_path / "swap")
    front.store(np.arange(100), real_pages[:100])          # the pool is at its limit
    n = zswap._MIN_SWAP_BYTES // PAGE + 100                  # more than the swap file has room for
    ids, pages = np.arange(50, 50 + n), real_pages[np.arange(n) % len(real_pages)]
    before = everything(front, np.arange(50 + n))

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(OSError, match="No space"):
        front.store(ids, pages)
    assert everything(front, np.arange(50 + n)) == before
    assert np.array_equal(front.load(np.arange(100)), real_pages[:100])
    monkeypatch.undo()
    front.store(ids, pages)
    assert np.array_equal(front.load(ids), pages)
    front.close()


def test_swap_file_has_disk_space_for_every_page_that_may_go_there(real_pages, tmp_path):
    """Writes through the file mapping never hit a hole (a hole on a full disk is SIGBUS)."""
    path = tmp_path / "swap"
    pool, front = make(100, 10, swap_path=path)
    front.store(np.arange(200), real_pages[:200])
    stats = front.stats()
    assert path.stat().st_blocks * 512 >= (stats.swap_pages + pool.objects) * PAGE
    front.close()


def test_writeback_refuses_an_object_whose_header_lies(real_pages):
    pool, front = make(100, 20)
    front.store(np.arange(40), real_pages[:40])
    handles = pool.handles()
    data, offsets = pool.read(handles)
    headers = [int.from_bytes(bytes(data[o:o + 8]), "little") for o in offsets[:-1]]
    assert np.all(front.locations(headers) == zswap.POOL)   # each header is its page id, little-endian
    obj, _ = pool.read(handles[:1])
    obj[:8] = np.frombuffer(headers[1].to_bytes(8, "little"), np.uint8)
    pool.write(handles[:1], obj, [0, obj.size])
    with pytest.raises(CorruptionError, match="page id"):
        front.store(np.arange(40, 100), real_pages[40:100])   # writes the LRU pages back
    stats = front.stats()
    assert stats.stored_pages + stats.swap_pages == int(np.count_nonzero(front.locations(np.arange(100))))
    assert stats.stored_pages == pool.objects + stats.same_filled_pages
    pool.check()


# -- page ids and the swap file ------------------------------------------------------------------


@pytest.mark.parametrize("page_size", [PAGE, 65536])
def test_largest_page_id_costs_what_it_stores(page_size, tmp_path):
    rng = np.random.default_rng(0)
    pages = np.repeat(rng.integers(0, 4, (6, page_size // 16), dtype=np.uint8), 16, axis=1)
    ids = np.array([zswap.MAX_PAGE_ID - 1, 0, 1 << 31, zswap.MAX_PAGE_ID - 2, 12345, 7])
    path = tmp_path / "swap"
    pool, front = make(16, 2, page_size=page_size, swap_path=path)
    tracemalloc.start()
    try:
        front.store(ids, pages)
        back = front.load(ids)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.array_equal(back, pages)
    assert front.stats().written_back_pages > 0
    assert peak < 16 << 20
    assert path.stat().st_size <= zswap._MIN_SWAP_BYTES
    front.close()


def test_swap_slots_are_reused(tmp_path):
    path = tmp_path / "swap"
    pool = zj.Pool(10)
    front = zj.Zswap(pool, compressor="none", max_pool_percent=100, ram_pages=10, swap_path=path)
    noise = np.random.default_rng(1).integers(0, 256, (300, PAGE), dtype=np.uint8)
    front.store(np.arange(300), noise)                    # "none" sends every page to the swap file
    size = path.stat().st_size
    for round_ in range(1, 4):
        front.invalidate(np.arange(300) + 1000 * (round_ - 1))
        front.store(np.arange(300) + 1000 * round_, noise[::-1])
        assert path.stat().st_size == size
    assert np.array_equal(front.load(np.arange(3000, 3300)), noise[::-1])
    front.close()


def test_temporary_swap_file_is_removed_when_the_frontend_is_collected():
    front = zj.Zswap(zj.Pool(4), compressor="zlib", ram_pages=100)
    path = front.swap_path
    assert os.path.exists(path)
    del front
    gc.collect()
    assert not os.path.exists(path)


def test_swap_file_cannot_be_the_pool_arena(tmp_path):
    arena = tmp_path / "arena"
    pool = zj.Pool(4, path=arena)
    with pytest.raises(ValueError, match="arena"):
        zj.Zswap(pool, compressor="zlib", ram_pages=100, swap_path=arena)
    assert arena.stat().st_size == 4 * PAGE


def test_closed_frontend(real_pages):
    pool, front = make(10, 10)
    front.store([1], real_pages[:1])
    front.close()
    front.close()
    for call in (lambda: front.store([2], real_pages[:1]), lambda: front.load([1]),
                 lambda: front.invalidate([1]), lambda: front.locations([1])):
        with pytest.raises(ValueError, match="closed"):
            call()
    assert front.stats().stored_pages == 1


# -- semantics -----------------------------------------------------------------------------------


@pytest.mark.parametrize("pool_pages, limit", [(30, 1000), (1000, 30)])
def test_a_batch_is_its_pages_stored_one_by_one(real_pages, pool_pages, limit):
    """With no repeated ids, one store of n pages leaves everything as n stores of one page."""
    rng = np.random.default_rng(5)
    pages = np.vstack([real_pages[:300], rng.integers(0, 256, (5, PAGE), dtype=np.uint8),
                       np.zeros((3, PAGE), np.uint8)])
    order = rng.permutation(len(pages))
    pages = pages[order]
    batch_pool, batch = make(pool_pages, limit)
    single_pool, single = make(pool_pages, limit)
    calls = []
    store = batch_pool.store
    batch_pool.store = lambda *a: calls.append(1) or store(*a)
    ids = np.arange(len(pages))
    outcome = batch.store(ids, pages)
    assert np.array_equal(outcome, batch.locations(ids))     # where each page is when it returns
    for i in range(len(pages)):
        assert single.store([i], pages[i:i + 1])[0] == single.locations([i])[0]
    assert np.array_equal(outcome, single.locations(ids))
    assert batch.stats() == single.stats()
    assert snapshot(batch_pool) == snapshot(single_pool)
    assert np.array_equal(batch.load(np.arange(len(pages))), pages)
    assert len(calls) < 200                 # not one pool call per page the full pool turns away


@pytest.mark.parametrize("page_size", [16384, 65536])
def test_round_trip_on_large_pages(page_size):
    rng = np.random.default_rng(2)
    text = default_pages(page_size, max_pages=60).pages
    word = np.frombuffer((0x0102030405060708).to_bytes(8, sys.byteorder), np.uint8)
    special = np.vstack([np.tile(word, page_size // 8), rng.integers(0, 256, (2, page_size), dtype=np.uint8)])
    pages = np.vstack([text, special])
    pool, front = make(40, 8, page_size=page_size)
    front.store(np.arange(len(pages)), pages)
    stats = front.stats()
    assert stats.same_filled_pages >= 1 and stats.reject_compress_poor >= 2
    assert stats.written_back_pages > 0 and pool.pages_used <= 8
    assert np.array_equal(front.load(np.arange(len(pages))[::-1]), pages[::-1])
    pool.check()


def test_unknown_ids_are_named_once():
    pool, front = make(10, 10)
    with pytest.raises(KeyError) as error:
        front.invalidate([99, 99])
    assert str(error.value).count("99") == 1


# -- command line --------------------------------------------------------------------------------


@pytest.fixture
def no_data(monkeypatch):
    """Reading data or running the swap cycle fails the test: errors must come before them."""
    def forbidden(*args, **kwargs):
        raise AssertionError("the command did work before checking its arguments")
    for module, name in ((pagesource, "default_pages"), (pagesource, "read_pages"),
                         (workloads, "swap_cycle")):
        monkeypatch.setattr(module, name, forbidden)


def run_cli(capsys, *args):
    try:
        code = cli.main(list(args))
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("args, message", [
    (["demo", "--max-pages", "0"], "at least 1"),
    (["demo", "--max-pages", "abc"], "not an integer: 'abc'"),
    (["demo", "--page-size", "3000"], "3000"),
    (["demo", "--pool-percent", "101"], "between 1 and 100"),
    (["demo", "--seed", "-1"], "at least 0"),
    (["demo", "--ram-pages", "4"], "--ram-pages"),
    (["demo", "--plot", "/no/such/dir/plot.png"], "/no/such/dir"),
    (["zswap", "/no/such/file", "--plot", "."], "directory"),
    (["zswap"], "PATH"),
    (["replay", "t.csv", "--page-size", "5000"], "5000"),
    ([], "COMMAND"),
    (["demo", "--frobnicate"], "--frobnicate"),
])
def test_bad_arguments_are_one_line_before_any_work(capsys, no_data, args, message):
    code, out, err = run_cli(capsys, *args)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("zbudjit") and message in err, err


@pytest.fixture
def small_file(tmp_path):
    path = tmp_path / "small.txt"
    path.write_bytes(b"a few pages of text that compress well. " * 300)      # 3 pages
    return path


def test_small_input_gets_a_pool_of_one_page(capsys, small_file):
    code, out, err = run_cli(capsys, "zswap", str(small_file), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["verified"] and report["stats"]["pool_limit_pages"] == 1
    assert report["ram_pages"] == 5 and err == ""


def test_json_is_all_of_stdout_and_progress_needs_a_terminal(capsys, small_file, tmp_path, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    code, out, err = run_cli(capsys, "zswap", str(small_file), "--json", "--plot", str(tmp_path / "p.png"))
    assert code == 0 and err == ""
    assert json.loads(out)["plot"] == str(tmp_path / "p.png")
    code, out, err = run_cli(capsys, "zswap", str(small_file))
    assert code == 0 and "swap out" in err          # tqdm's bar, on the (pretend) terminal


def test_missing_matplotlib_skips_the_plot(capsys, small_file, tmp_path, monkeypatch):
    from zbudjit import plots

    def missing():
        raise ImportError(f"zbudjit's figures need matplotlib: {plots.INSTALL_HINT}")
    monkeypatch.setattr(plots, "require_matplotlib", missing)
    plot = tmp_path / "p.png"
    code, out, err = run_cli(capsys, "zswap", str(small_file), "--plot", str(plot), "--json")
    assert code == 0 and json.loads(out)["plot"] is None and not plot.exists()
    code, out, err = run_cli(capsys, "zswap", str(small_file), "--plot", str(plot))
    assert code == 0 and "plot skipped" in err and "pip install" in err


def test_a_page_that_does_not_load_back_exits_1(capsys, small_file, monkeypatch):
    load = zj.Zswap.load

    def flipping(self, ids):
        pages = load(self, ids)
        pages[0, 0] ^= 1
        return pages
    monkeypatch.setattr(zj.Zswap, "load", flipping)
    code, out, err = run_cli(capsys, "zswap", str(small_file))
    assert code == 1 and "MISMATCH" in out
    code, out, err = run_cli(capsys, "zswap", str(small_file), "--json")
    assert code == 1 and json.loads(out)["verified"] is False


def test_runtime_failures_are_one_line(capsys, tmp_path, monkeypatch):
    trace = tmp_path / "bad.csv"
    trace.write_text("op,id,size\nalloc,1,100\nfrob,2,100\n")
    code, out, err = run_cli(capsys, "replay", str(trace))
    assert code == 3 and len(err.splitlines()) == 1 and "line 3" in err
    (tmp_path / "empty").mkdir()
    code, out, err = run_cli(capsys, "zswap", str(tmp_path / "empty"))
    assert code == 2 and len(err.splitlines()) == 1 and "no pages" in err

    def too_big(**kwargs):
        raise MemoryError("cannot allocate the pool")
    monkeypatch.setattr("zbudjit.bench.run_bench", too_big)
    code, out, err = run_cli(capsys, "bench", "--pages", "100")
    assert code == 2 and err == "zbudjit: out of memory: cannot allocate the pool\n"
