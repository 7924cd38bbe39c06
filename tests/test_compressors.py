"""Tests of zbudjit.compressors: round trips on real, zero and random pages, the ragged layout,
object bytes against each library's own single-page call, and every error path."""

import itertools
import lzma
import os
import sys
import sysconfig
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zbudjit import compressors
from zbudjit.compressors import NAMES, available, get_compressor
from helpers import ragged, unragged

AVAILABLE = available()
PAGE_SIZES = (4096, 16384)
# Real data: about 1 MiB per page size, enough to take zstd's batch path (at least
# compressors._ZSTD_BATCH_MIN_BYTES of pages).
REAL_PAGES = {4096: 256, 16384: 64}


def reference(name):
    """Compress one page with the library's own call, set up here independently of the module."""
    if name == "zstd":
        import zstandard

        cctx = zstandard.ZstdCompressor(level=3, write_checksum=False, write_content_size=False)
        return cctx.compress
    if name == "lz4":
        # python-lz4 (liblz4 1.9.4) as an independent compressor. Its bytes are not zbudjit's,
        # which follow the kernel's lib/lz4 (another match finder; test_lz4.py holds our sizes to
        # the live kernel's), so check_round_trip compares what it decodes, not bytes; objects it
        # makes serve as other compressors' valid blocks for the error tests.
        import lz4.block

        return lambda page: lz4.block.compress(page, store_size=False)
    if name == "zlib":
        def deflate(page):
            # crypto/deflate.c: deflateInit2(level 6, Z_DEFLATED, -11, memLevel 8, default strategy)
            stream = zlib.compressobj(6, zlib.DEFLATED, -11, 8, zlib.Z_DEFAULT_STRATEGY)
            return stream.compress(page) + stream.flush()
        return deflate
    if name == "lzma":
        filters = [{"id": lzma.FILTER_LZMA2, "preset": 6}]
        return lambda page: lzma.compress(page, format=lzma.FORMAT_RAW, filters=filters)
    if name in ("lzo", "lzo-rle"):
        # No other LZO1X-1 compressor gives the kernel's bytes, so this is the batch kernel on a
        # batch of one: it checks batching only. test_lzo.py holds the sizes to the live kernel's
        # and has lzallright (lzokay) decode the output.
        from zbudjit import lzo

        def one_page(page):
            data, _ = lzo.compress_pages(np.frombuffer(page, np.uint8).reshape(1, -1), name)
            return data.tobytes()
        return one_page
    assert name == "none"
    return bytes


def stdlib_pages(count, page_size):
    """``count`` pages of files under the standard library, text (the top directory) and binary
    (lib-dynload) in turn, at most 8 pages a file, each file's last page zero-padded."""
    root = sysconfig.get_paths()["stdlib"]
    listings = []
    for directory in (root, os.path.join(root, "lib-dynload")):
        if os.path.isdir(directory):
            listings.append([os.path.join(directory, f) for f in sorted(os.listdir(directory))])
    paths = [p for pair in itertools.zip_longest(*listings) for p in pair if p is not None]
    chunks, total = [], 0
    for path in paths:
        if not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            content = f.read(8 * page_size)
        if not content:
            continue
        chunks.append(content + bytes(-len(content) % page_size))
        total += len(chunks[-1]) // page_size
        if total >= count:
            break
    pages = np.frombuffer(b"".join(chunks), np.uint8).reshape(-1, page_size)[:count]
    assert len(pages) == count
    return pages.copy()


@pytest.fixture(scope="module")
def real():
    return {page_size: stdlib_pages(count, page_size) for page_size, count in REAL_PAGES.items()}


def check_ragged(data, offsets, n, header_bytes):
    assert data.dtype == np.uint8 and data.ndim == 1
    assert offsets.dtype == np.int64 and offsets.shape == (n + 1,)
    assert offsets[0] == 0 and offsets[-1] == data.size
    assert (np.diff(offsets) >= header_bytes).all()
    headers = data[offsets[:-1, None] + np.arange(header_bytes)]
    assert not headers.any(), "reserved headers must be left zero"


def check_round_trip(compressor, pages, header_bytes=0):
    """Compress, check layout and bytes against the reference, decompress; returns the objects."""
    n, page_size = pages.shape
    data, offsets = compressor.compress(pages, header_bytes=header_bytes)
    check_ragged(data, offsets, n, header_bytes)
    got = unragged(data, offsets)
    if compressor.name == "lz4":
        # A standard decoder (python-lz4's) must read every object back to its page; the bytes
        # themselves are the kernel's, not liblz4 1.9.4's (see reference()).
        import lz4.block

        assert all(obj[:header_bytes] == bytes(header_bytes) and lz4.block.decompress(
            obj[header_bytes:], uncompressed_size=page_size) == page.tobytes()
            for obj, page in zip(got, pages))
    else:
        make = reference(compressor.name)
        expected = [bytes(header_bytes) + make(page.tobytes()) for page in pages]
        assert [len(o) for o in got] == [len(o) for o in expected]
        assert got == expected
    back = compressor.decompress(data, offsets, page_size, header_bytes=header_bytes)
    assert back.dtype == np.uint8 and back.shape == (n, page_size)
    assert back.flags.c_contiguous and back.flags.writeable
    np.testing.assert_array_equal(back, pages)
    return got


# ---------------------------------------------------------------- registry


def test_available_is_names_in_order():
    assert AVAILABLE == [name for name in NAMES if name in AVAILABLE]
    assert {"zlib", "none"} <= set(AVAILABLE)
    for name in AVAILABLE:
        compressor = get_compressor(name)
        assert isinstance(compressor, compressors.Compressor) and compressor.name == name


def test_unknown_name():
    with pytest.raises(ValueError,
                       match="unknown compressor 'brotli'.*zstd, lz4, zlib, lzo, lzo-rle, lzma, none"):
        get_compressor("brotli")
    with pytest.raises(TypeError):
        get_compressor(3)


@pytest.mark.parametrize("name, module, message", [
    ("zstd", "zstandard", r'pip install "zbudjit\[compress\]"'),
    ("lzma", "lzma", "built without"),      # standard library: pip cannot supply it
])
def test_missing_library(monkeypatch, name, module, message):
    monkeypatch.setitem(sys.modules, module, None)     # makes `import module` raise ImportError
    assert name not in available()
    assert "none" in available()
    with pytest.raises(ImportError, match=message):
        get_compressor(name)


def test_lz4_needs_no_library(monkeypatch):
    # zbudjit's own Numba LZ4 compresses and decompresses: python-lz4 is not needed
    monkeypatch.setitem(sys.modules, "lz4.block", None)
    monkeypatch.setitem(sys.modules, "lz4", None)
    assert "lz4" in available()
    page = np.resize(np.frombuffer(b"lz4 without a library ", np.uint8), (1, 4096))
    compressor = get_compressor("lz4")
    np.testing.assert_array_equal(compressor.decompress(*compressor.compress(page), 4096), page)


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("page_size", PAGE_SIZES)
@pytest.mark.parametrize("name", AVAILABLE)
def test_real_pages(real, report, name, page_size):
    pages = real[page_size]
    objects = check_round_trip(get_compressor(name), pages)
    stored = sum(map(len, objects))
    report(f"{name:4} {page_size:5}-byte pages: {len(pages)} stdlib pages, {pages.nbytes} -> {stored} "
           f"bytes, ratio {pages.nbytes / stored:.2f}")


@pytest.mark.parametrize("name", AVAILABLE)
def test_header_bytes(real, name):
    pages = real[4096][:24]
    objects = check_round_trip(get_compressor(name), pages, header_bytes=8)
    # Headers belong to the caller: whatever is written there, decompression skips it.
    data, offsets = ragged([b"\xa5" * 8 + o[8:] for o in objects])
    np.testing.assert_array_equal(get_compressor(name).decompress(data, offsets, 4096, 8), pages)


@pytest.mark.parametrize("page_size", PAGE_SIZES)
@pytest.mark.parametrize("name", AVAILABLE)
def test_zero_and_random_pages(name, page_size):
    rng = np.random.default_rng(page_size)
    pages = np.zeros((6, page_size), np.uint8)
    pages[3:] = rng.integers(0, 256, (3, page_size), dtype=np.uint8)    # incompressible
    compressor = get_compressor(name)
    for header_bytes in (0, 8):
        objects = check_round_trip(compressor, pages, header_bytes)
        sizes = [len(o) - header_bytes for o in objects]
        if name != "none":
            assert max(sizes[:3]) < page_size // 16        # zero pages shrink to almost nothing
        assert min(sizes[3:]) >= page_size - 16            # random pages do not shrink


@pytest.mark.parametrize("name", AVAILABLE)
def test_empty_batch(name):
    compressor = get_compressor(name)
    for header_bytes in (0, 8):
        data, offsets = compressor.compress(np.empty((0, 4096), np.uint8), header_bytes)
        assert data.dtype == np.uint8 and data.shape == (0,)
        assert offsets.dtype == np.int64 and offsets.tolist() == [0]
        back = compressor.decompress(data, offsets, 4096, header_bytes)
        assert back.dtype == np.uint8 and back.shape == (0, 4096)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.binary(min_size=1, max_size=48), st.integers(0, 4096)),
                min_size=1, max_size=4),
       st.sampled_from(AVAILABLE), st.integers(0, 16))
def test_random_contents(shapes, name, header_bytes):
    # Each page: a random pattern repeated over a random length, zeros after; this spans pages
    # from all-zero to incompressible.
    pages = np.zeros((len(shapes), 4096), np.uint8)
    for row, (pattern, length) in zip(pages, shapes):
        row[:length] = np.frombuffer((pattern * (4096 // len(pattern) + 1))[:length], np.uint8)
    check_round_trip(get_compressor(name), pages, header_bytes)


def test_inputs_accepted(real):
    pages = real[4096][:8]
    compressor = get_compressor("zlib")
    strided = np.repeat(pages, 2, axis=0)[::2]
    assert not strided.flags.c_contiguous
    data, offsets = compressor.compress(strided)
    np.testing.assert_array_equal(compressor.compress(pages)[0], data)
    # bytes data and a list of offsets that start past 0 and leave a gap before each object's
    # compressed bytes (the 4 junk bytes serve as each object's header)
    objects = unragged(data, offsets)
    padded = b"lead" + b"".join(b"junk" + o for o in objects)
    starts = [4 + sum(4 + len(o) for o in objects[:i]) for i in range(9)]
    back = compressor.decompress(padded, starts, 4096, header_bytes=4)
    np.testing.assert_array_equal(back, pages)


# ---------------------------------------------------------------- zstd batch API against the loop


@pytest.mark.skipif("zstd" not in AVAILABLE, reason="zstandard is not installed")
def test_zstd_batch_and_loop_agree(real, monkeypatch):
    pages = real[4096][:40]
    batch, loop = get_compressor("zstd"), get_compressor("zstd")
    if not batch._batch_api:
        pytest.skip("zstandard's C backend (batch API) is not in use")
    monkeypatch.setattr(compressors, "_ZSTD_BATCH_MIN_BYTES", 0)    # batch API even for 40 pages
    loop._batch_api = False
    for header_bytes in (0, 8):
        data, offsets = batch.compress(pages, header_bytes)
        loop_data, loop_offsets = loop.compress(pages, header_bytes)
        np.testing.assert_array_equal(data, loop_data)
        np.testing.assert_array_equal(offsets, loop_offsets)
        for compressor in (batch, loop):
            back = compressor.decompress(data, offsets, 4096, header_bytes)
            np.testing.assert_array_equal(back, pages)
            objects = unragged(data, offsets)
            objects[17] = objects[17][:-5]
            with pytest.raises(ValueError, match=r"object at index 17\b"):
                compressor.decompress(*ragged(objects), 4096, header_bytes)


# ---------------------------------------------------------------- bad objects


def objects_of(name, pages, header_bytes=0):
    return unragged(*get_compressor(name).compress(pages, header_bytes))


@pytest.mark.parametrize("name", [n for n in AVAILABLE if n != "none"])
def test_corrupt_object_is_named(real, name):
    pages = real[4096][:12]
    compressor = get_compressor(name)
    objects = objects_of(name, pages)
    truncated = objects.copy()
    truncated[7] = truncated[7][: len(truncated[7]) // 2]
    with pytest.raises(ValueError, match=r"object at index 7\b"):
        compressor.decompress(*ragged(truncated), 4096)
    garbage = objects.copy()
    garbage[5] = np.random.default_rng(5).integers(0, 256, len(garbage[5]), np.uint8).tobytes()
    with pytest.raises(ValueError, match=r"object at index 5\b"):
        compressor.decompress(*ragged(garbage), 4096)
    empty = objects.copy()
    empty[9] = b""
    with pytest.raises(ValueError, match=r"object at index 9\b"):
        compressor.decompress(*ragged(empty), 4096)


@pytest.mark.parametrize("name", AVAILABLE)
def test_wrong_size_is_named(real, name):
    pages = real[4096][:12]
    compressor = get_compressor(name)
    make = reference(name)
    for wrong in (2048, 8192):
        objects = objects_of(name, pages, header_bytes=8)
        objects[6] = bytes(8) + make(real[4096][6:8].tobytes()[:wrong])
        with pytest.raises(ValueError, match=r"object at index 6\b"):
            compressor.decompress(*ragged(objects), 4096, header_bytes=8)
    # the whole batch decompressed at the wrong page size
    data, offsets = compressor.compress(pages)
    for page_size in (2048, 8192):
        with pytest.raises(ValueError, match=r"object at index 0\b"):
            compressor.decompress(data, offsets, page_size)


@pytest.mark.parametrize("name", [n for n in AVAILABLE if n != "none"])
def test_first_bad_object_is_named(real, name):
    # A short page before a corrupt object: the error names the first bad one, whichever kind.
    pages = real[4096][:12]
    objects = objects_of(name, pages)
    objects[3] = reference(name)(bytes(1000))
    objects[8] = objects[8][:3]
    with pytest.raises(ValueError, match=r"object at index 3 decompressed to 1000 bytes"):
        get_compressor(name).decompress(*ragged(objects), 4096)


def test_object_shorter_than_header_is_named(real):
    compressor = get_compressor("zlib")
    objects = objects_of("zlib", real[4096][:4], header_bytes=8)
    objects[2] = bytes(5)
    with pytest.raises(ValueError, match=r"object at index 2\b.*header_bytes"):
        compressor.decompress(*ragged(objects), 4096, header_bytes=8)


# ---------------------------------------------------------------- argument checks


@pytest.mark.parametrize("name", AVAILABLE)
def test_bad_pages(name):
    compressor = get_compressor(name)
    with pytest.raises(TypeError, match="uint8"):
        compressor.compress(np.zeros((2, 4096), np.int16))
    with pytest.raises(TypeError, match="uint8"):
        compressor.compress(np.zeros((2, 4096), np.float64))
    for shape in ((4096,), (1, 2, 4096), ()):
        with pytest.raises(ValueError, match="2-D"):
            compressor.compress(np.zeros(shape, np.uint8))
    with pytest.raises(ValueError, match="page size"):
        compressor.compress(np.zeros((2, 0), np.uint8))


def test_bad_counts():
    compressor = get_compressor("zlib")
    pages = np.zeros((2, 4096), np.uint8)
    data, offsets = compressor.compress(pages)
    with pytest.raises(ValueError, match="header_bytes"):
        compressor.compress(pages, header_bytes=-1)
    for bad in (1.5, True, "8", None):
        with pytest.raises(TypeError, match="header_bytes"):
            compressor.compress(pages, header_bytes=bad)
        with pytest.raises(TypeError, match="page_size"):
            compressor.decompress(data, offsets, bad)
    assert compressor.compress(pages, header_bytes=np.int64(4))[1][1] == offsets[1] + 4
    with pytest.raises(ValueError, match="page_size"):
        compressor.decompress(data, offsets, 0)
    with pytest.raises(ValueError, match="header_bytes"):
        compressor.decompress(data, offsets, 4096, header_bytes=-2)


def test_bad_ragged():
    compressor = get_compressor("zlib")
    data, offsets = compressor.compress(np.zeros((3, 4096), np.uint8))
    with pytest.raises(TypeError, match="data"):
        compressor.decompress(data.astype(np.int8), offsets, 4096)
    with pytest.raises(ValueError, match="data"):
        compressor.decompress(data.reshape(1, -1), offsets, 4096)
    with pytest.raises(TypeError, match="offsets"):
        compressor.decompress(data, offsets.astype(np.float64), 4096)
    for bad in ([], [[0, 1]]):
        with pytest.raises(ValueError, match="offsets"):
            compressor.decompress(data, bad, 4096)
    decreasing = offsets.copy()
    decreasing[1], decreasing[2] = decreasing[2], decreasing[1]
    with pytest.raises(ValueError, match="index 1: they must be non-decreasing"):
        compressor.decompress(data, decreasing, 4096)
    with pytest.raises(ValueError, match="past the end"):
        compressor.decompress(data, offsets + 1, 4096)
    with pytest.raises(ValueError, match="past the end"):
        compressor.decompress(data, offsets.astype(np.uint64) + np.uint64(2**63), 4096)
    with pytest.raises(ValueError, match="offsets"):
        compressor.decompress(data, offsets - 1, 4096)
