"""zbudjit.pagesource: files, directories and the Python installation as memory pages."""

import hashlib
import os
import pathlib
import threading
import time

import numpy as np
import pytest

from zbudjit import pagesource as ps
from zbudjit.pagesource import PageSet, default_pages, python_installation_files, read_pages

RNG = np.random.default_rng(20240611)


def write(path, nbytes):
    """Create a file of ``nbytes`` bytes that contain no zero byte, so padding is visible."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(RNG.integers(1, 256, nbytes, dtype=np.uint8).tobytes())
    return path


def check_against_files(pset, complete=True):
    """Re-read every source file independently and compare it with its pages.

    Checks that the sources partition the page table in order, that each page holds the file's
    bytes at that offset with zeros after the end of the file, and (``complete``) that every file
    but possibly the last contributed all its pages.
    """
    size = pset.page_size
    assert pset.pages.dtype == np.uint8 and pset.pages.flags.c_contiguous
    assert pset.pages.shape == (len(pset), size)
    nxt = 0
    for i, (path, first, n) in enumerate(pset.sources):
        assert first == nxt and n > 0
        nxt += n
        data = pathlib.Path(path).read_bytes()
        full = -(-len(data) // size)
        if complete or i < len(pset.sources) - 1:
            assert n == full, path
        else:
            assert 0 < n <= full
        want = np.zeros(n * size, np.uint8)
        chunk = np.frombuffer(data[:n * size], np.uint8)
        want[:chunk.size] = chunk
        assert np.array_equal(pset.pages[first:first + n].reshape(-1), want), path
    assert nxt == len(pset)


def hash_order(root, files):
    return sorted(files, key=lambda p: hashlib.blake2b(
        os.fsencode(pathlib.Path(p).relative_to(root).as_posix()), digest_size=8).digest())


# ---------------------------------------------------------------------------------------------
# Page counts, padding, order

@pytest.mark.parametrize("page_size", [4096, 16384])
def test_page_counts_and_zero_padding(tmp_path, page_size):
    sizes = [0, 1, page_size - 1, page_size, page_size + 1, 5 * page_size + 17]
    files = [write(tmp_path / f"f{i}", n) for i, n in enumerate(sizes)]
    pset = read_pages(files, page_size=page_size)
    assert isinstance(pset, PageSet)
    assert pset.page_size == page_size
    assert len(pset) == sum(-(-n // page_size) for n in sizes) == 1 + 1 + 1 + 2 + 6
    # the empty file gives no pages and no entry; the rest keep the order given
    assert [s[0] for s in pset.sources] == [str(f) for f in files[1:]]
    assert [s[2] for s in pset.sources] == [1, 1, 1, 2, 6]
    check_against_files(pset)
    # padding really is zero, file bytes really are not
    path, first, n = pset.sources[0]  # the 1-byte file
    assert pset.pages[first, 0] != 0 and not pset.pages[first, 1:].any()
    path, first, n = pset.sources[-1]
    assert not pset.pages[first + n - 1, 17:].any() and pset.pages[first + n - 1, :17].all()
    assert pset.skipped == ()


def test_single_path_is_a_raw_dump(tmp_path):
    dump = write(tmp_path / "mem.dump", 37 * 4096 + 100)
    for arg in (dump, str(dump), [dump]):
        pset = read_pages(arg)
        assert len(pset) == 38 and pset.sources == ((str(dump), 0, 38),)
        check_against_files(pset)


def test_empty_input(tmp_path):
    (tmp_path / "empty").touch()
    for arg in ([], [tmp_path / "empty"], [tmp_path]):
        pset = read_pages(arg, page_size=8192)
        assert pset.pages.shape == (0, 8192) and pset.sources == () and len(pset) == 0


def test_directory_walk_recurses_in_hash_order(tmp_path):
    root = tmp_path / "tree"
    files = [write(root / rel, n) for rel, n in [
        ("a.py", 100), ("b.txt", 5000), ("sub/c.pyc", 9000), ("sub/deeper/d.so", 1),
        ("sub/deeper/deepest/e", 4096), ("z/y/x/w", 12345)]]
    (root / "emptydir" / "nested").mkdir(parents=True)
    pset = read_pages([root])
    assert [s[0] for s in pset.sources] == [str(p) for p in hash_order(root, files)]
    check_against_files(pset)
    assert pset.skipped == ()
    # deterministic, and a max_pages read is exactly a prefix of the full read
    assert read_pages(root) == pset
    for k in (1, 2, 3, 7, len(pset) - 1):
        part = read_pages(root, max_pages=k)
        assert np.array_equal(part.pages, pset.pages[:k])
        check_against_files(part, complete=False)


def test_explicit_order_kept_and_directories_expand_in_place(tmp_path):
    a, b = write(tmp_path / "a", 10), write(tmp_path / "b", 10)
    d1, d2 = write(tmp_path / "d" / "x", 10), write(tmp_path / "d" / "y", 10)
    pset = read_pages([b, tmp_path / "d", a])
    names = [s[0] for s in pset.sources]
    assert names[0] == str(b) and names[-1] == str(a)
    assert sorted(names[1:3]) == [str(d1), str(d2)]


def test_symlink_and_repeated_file_read_once(tmp_path):
    root = tmp_path / "d"
    target = write(root / "real.bin", 3 * 4096 + 1)
    (root / "link.bin").symlink_to(target)
    os.link(target, root / "hardlink.bin")
    pset = read_pages(root)
    assert len(pset) == 4 and len(pset.sources) == 1
    check_against_files(pset)
    # listed twice, or via a link named explicitly: first occurrence wins
    for arg, first in ([target, target], target), ([root / "link.bin", target], root / "link.bin"):
        pset = read_pages(arg)
        assert pset.sources == ((str(first), 0, 4),)
    # a directory that also holds a file named before it: still one copy
    pset = read_pages([target, root])
    assert pset.sources == ((str(target), 0, 4),)
    # symlink to a file outside the walked tree is followed
    outside = write(tmp_path / "outside.bin", 5)
    (root / "to_outside").symlink_to(outside)
    pset = read_pages(root)
    names = [s[0] for s in pset.sources]
    assert len(names) == 2 and str(root / "to_outside") in names and len(pset) == 5
    check_against_files(pset)


# ---------------------------------------------------------------------------------------------
# Things that cannot be read

def test_special_entries_in_a_directory_are_skipped(tmp_path):
    root = tmp_path / "d"
    good = write(root / "good", 5000)
    os.mkfifo(root / "fifo")  # opening it would block: must not be opened at all
    (root / "dangling").symlink_to(tmp_path / "nowhere")
    (root / "dirlink").symlink_to(tmp_path)  # would loop if followed
    (root / "loop").symlink_to(root / "loop")
    pset = read_pages(root)
    assert pset.sources == ((str(good), 0, 2),)
    reasons = dict(pset.skipped)
    assert set(reasons) == {str(root / n) for n in ("fifo", "dangling", "dirlink", "loop")}
    assert "fifo" in reasons[str(root / "fifo")]
    assert "dangling" in reasons[str(root / "dangling")]
    assert "not followed" in reasons[str(root / "dirlink")]
    assert reasons[str(root / "loop")]  # ELOOP, whatever the wording


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_skipped_in_directory_raised_when_named(tmp_path):
    root = tmp_path / "d"
    good = write(root / "good", 10)
    bad = write(root / "secret", 10)
    bad.chmod(0)
    locked = root / "locked"
    write(locked / "inner", 10)
    locked.chmod(0)
    try:
        pset = read_pages(root)
        assert pset.sources == ((str(good), 0, 1),)
        reasons = dict(pset.skipped)
        assert "Permission" in reasons[str(bad)] and "Permission" in reasons[str(locked)]
        with pytest.raises(PermissionError, match="secret"):
            read_pages([good, bad])
    finally:
        locked.chmod(0o755)
        bad.chmod(0o644)


def test_missing_path_raises_naming_it(tmp_path):
    good = write(tmp_path / "good", 10)
    with pytest.raises(FileNotFoundError, match="no_such_file"):
        read_pages([good, tmp_path / "no_such_file"])
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="dangling"):
        read_pages(tmp_path / "dangling")


@pytest.mark.parametrize("bad", [0, 1024, 2048, 4095, 5000, 6144, 131072, -4096,
                                 True, 4096.0, "4096", None])
def test_bad_page_size(tmp_path, bad):
    f = write(tmp_path / "f", 10)
    with pytest.raises(ValueError, match="page_size"):
        read_pages(f, page_size=bad)
    with pytest.raises(ValueError, match="page_size"):
        default_pages(page_size=bad, max_pages=1)


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "3"])
def test_bad_max_pages(tmp_path, bad):
    f = write(tmp_path / "f", 10)
    with pytest.raises(ValueError, match="max_pages"):
        read_pages(f, max_pages=bad)
    with pytest.raises(ValueError, match="max_pages"):
        default_pages(max_pages=bad)


def test_numpy_integers_accepted(tmp_path):
    f = write(tmp_path / "f", 3 * 8192)
    pset = read_pages(f, page_size=np.int64(8192), max_pages=np.uint16(2))
    assert pset.pages.shape == (2, 8192)


# ---------------------------------------------------------------------------------------------
# max_pages: truncation, bookkeeping, reading no more than needed

def test_max_pages_truncates_and_reads_no_further(tmp_path, monkeypatch):
    files = [write(tmp_path / "a", 3 * 4096 + 1), write(tmp_path / "b", 2 * 4096),
             write(tmp_path / "c", 5 * 4096), write(tmp_path / "d", 7)]
    opened = []
    real_open = open

    def spy(path, *args, **kwargs):
        opened.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(ps, "open", spy, raising=False)
    pset = read_pages(files, max_pages=5)
    assert pset.sources == ((str(files[0]), 0, 4), (str(files[1]), 4, 1))
    assert opened == [str(files[0]), str(files[1])]  # c and d never opened
    assert pset.pages.shape == (5, 4096) and pset.pages.nbytes == 5 * 4096
    check_against_files(pset, complete=False)

    opened.clear()
    pset = read_pages(files, max_pages=4)  # ends exactly at a file boundary
    assert pset.sources == ((str(files[0]), 0, 4),) and opened == [str(files[0])]
    check_against_files(pset)

    pset = read_pages(files, max_pages=10**6)  # more than there is
    assert len(pset) == 4 + 2 + 5 + 1
    check_against_files(pset)


def test_streams_of_unknown_size(tmp_path):
    # a fifo named explicitly is read as a stream: st_size says 0, the buffer has to grow
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    payload = RNG.integers(1, 256, 20 * 4096 + 3, dtype=np.uint8).tobytes()

    def writer():
        with open(fifo, "wb") as f:
            for i in range(0, len(payload), 5000):
                f.write(payload[i:i + 5000])

    before, after = write(tmp_path / "before", 4096 + 1), write(tmp_path / "after", 3)
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    pset = read_pages([before, fifo, after])  # growing must keep what came before
    t.join(5)
    assert pset.sources == ((str(before), 0, 2), (str(fifo), 2, 21), (str(after), 23, 1))
    flat = pset.pages[2:23].reshape(-1)
    assert bytes(flat[:len(payload)]) == payload and not flat[len(payload):].any()
    assert np.array_equal(pset.pages[[0, 1, 23]], read_pages([before, after]).pages)

    if os.path.exists("/dev/zero"):  # endless: max_pages stops it
        pset = read_pages("/dev/zero", max_pages=3, page_size=65536)
        assert pset.pages.shape == (3, 65536) and not pset.pages.any()


def test_progress_bar_on_stderr(tmp_path, capsys):
    f = write(tmp_path / "f", 10000)
    read_pages(f)
    assert capsys.readouterr().err == ""
    read_pages(f, progress=True)
    assert "reading pages" in capsys.readouterr().err


def test_pageset_value_semantics(tmp_path):
    f = write(tmp_path / "f", 9000)
    a, b = read_pages(f), read_pages(f)
    assert a == b and a is not b and len(a) == 3 and a.page_size == 4096
    assert a != read_pages(f, max_pages=2)
    with pytest.raises(TypeError):
        hash(a)
    with pytest.raises(ValueError):
        PageSet(pages=np.zeros((2, 4096), np.int8), sources=(), skipped=())
    assert "3 pages" in repr(a)


# ---------------------------------------------------------------------------------------------
# The default workload

def test_python_installation_files():
    files = python_installation_files()
    assert files and all(isinstance(p, pathlib.Path) for p in files)
    assert all(p.is_file() for p in files)
    idents = {(st.st_dev, st.st_ino) for st in (p.stat() for p in files)}
    assert len(idents) == len(files)  # each real file once
    third_party = {"site-packages", "dist-packages"}
    assert not any(third_party.intersection(p.parts) for p in files)
    assert python_installation_files() == files
    names = {p.name for p in files}
    assert "os.py" in names  # the standard library is there


def test_default_pages_prefix_is_a_mix(report):
    t0 = time.perf_counter()
    pset = default_pages(max_pages=2000)
    elapsed = time.perf_counter() - t0
    assert len(pset) == 2000 and pset.pages.shape == (2000, 4096)
    kinds = {pathlib.Path(path).suffix for path, _, _ in pset.sources}
    assert len(kinds) >= 3, kinds
    check_against_files(pset, complete=False)
    again = default_pages(max_pages=2000)
    assert again == pset
    # the prefix follows python_installation_files()'s order
    order = [str(p) for p in python_installation_files()]
    assert [s[0] for s in pset.sources] == order[:len(pset.sources)]
    report(f"default_pages(max_pages=2000): {len(pset.sources)} files, kinds {sorted(kinds)}, "
           f"{elapsed:.2f} s")
