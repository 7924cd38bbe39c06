"""Tests of zbudjit.lz4 and the "lz4" compressor: round trips, a standard LZ4 decoder (python-lz4)
reading our blocks and our decoder reading its blocks, fuzzing of the safe decoder, parallel and
serial batches giving the same bytes, and every page's compressed size against the running
kernel's zram (skipped where zbudjit.kernel.zram.availability() says no)."""

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import damaged, unragged, ragged  # tests/ is not a package
from zbudjit import compressors, lz4
from zbudjit.compressors import get_compressor
from zbudjit.kernel import zram
from zbudjit.pagesource import default_pages

sys.path.insert(0, str(Path(__file__).parent))
from zram_oracle import real_pages  # tests/ is not a package


def special_pages(page_size, seed):
    """Zero pages, noise, long runs of one byte, short and long periods (overlapping matches,
    offsets near 65535 on large pages), literal runs at the length encodings' edges (15, 270)."""
    rng = np.random.default_rng(seed)
    pages = [np.zeros(page_size, np.uint8), np.full(page_size, 0xA5, np.uint8),
             rng.integers(0, 256, page_size, dtype=np.uint8)]
    for period in (1, 2, 3, 7, 8, 9, 19, 300, 4000):
        pages.append(np.resize(rng.integers(0, 256, period, dtype=np.uint8), page_size))
    for literals in (14, 15, 16, 269, 270, 271):
        page = np.resize(np.frombuffer(b"abcdefgh", np.uint8), page_size).copy()
        for at in range(64, page_size - literals - 64, 900):
            page[at:at + literals] = rng.integers(0, 256, literals)
        pages.append(page)
    tail = rng.integers(0, 256, page_size, dtype=np.uint8)
    tail[: page_size - 20] = 0                              # a run, then noise to the end
    pages.append(tail)
    return np.array(pages)


@pytest.fixture(scope="module")
def installation():
    """A few hundred 4 KiB and some 16 KiB pages of the running Python installation."""
    return {4096: default_pages(4096, max_pages=300).pages,
            16384: default_pages(16384, max_pages=40).pages}


def check_round_trip(pages, header_bytes=0):
    compressor = get_compressor("lz4")
    data, offsets = compressor.compress(pages, header_bytes=header_bytes)
    assert data.dtype == np.uint8 and offsets.dtype == np.int64
    assert offsets[0] == 0 and offsets[-1] == data.size and len(offsets) == len(pages) + 1
    sizes = np.diff(offsets) - header_bytes
    assert (sizes >= 1).all() and (sizes <= lz4.worst_case_size(pages.shape[1])).all()
    if header_bytes:
        assert not data[offsets[:-1, None] + np.arange(header_bytes)].any()
    back = compressor.decompress(data, offsets, pages.shape[1], header_bytes=header_bytes)
    assert back.shape == pages.shape and back.flags.c_contiguous
    np.testing.assert_array_equal(back, pages)
    return data, offsets


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("page_size", [4096, 16384])
def test_round_trip_real_pages(installation, page_size):
    data, _ = check_round_trip(installation[page_size], header_bytes=8)
    assert data.size < installation[page_size].size         # real data does compress


@pytest.mark.parametrize("page_size", [4096, 16384])
def test_round_trip_special_pages(page_size):
    _, offsets = check_round_trip(special_pages(page_size, page_size), header_bytes=3)
    sizes = np.diff(offsets) - 3
    # a zero page: 1 literal, a match at offset 1 up to the 5 last bytes, 5 literals: token,
    # literal, offset (2), the match length past 4 + 15 in bytes of 255 and one less, token, 5
    assert sizes[0] == 1 + 1 + 2 + ((page_size - 10 - 15) // 255 + 1) + 1 + 5
    assert sizes[2] > page_size             # noise: (almost) all literals


def test_round_trip_large_pages(installation):
    # From 64 KiB + 11 bytes the kernel uses 32-bit positions and the five-byte hash; a match
    # may then be too far back (over 65535).
    real = installation[16384].reshape(-1)
    rng = np.random.default_rng(4)
    for page_size in (65546, 65547, 196608):
        noise = rng.integers(0, 256, 70000, dtype=np.uint8)
        pages = np.array([real[:page_size], np.resize(real[:1000], page_size),
                          np.resize(noise, page_size), rng.integers(0, 256, page_size,
                                                                     dtype=np.uint8)])
        check_round_trip(pages, header_bytes=1)


def test_tiny_pages():
    rng = np.random.default_rng(5)
    for page_size in (1, 2, 5, 12, 13, 14, 17, 20, 30, 300):
        pages = np.vstack([np.zeros((1, page_size), np.uint8),
                           rng.integers(0, 256, (2, page_size), dtype=np.uint8)])
        _, offsets = check_round_trip(pages)
        if page_size <= 12:                 # all literals: a token and the page
            assert (np.diff(offsets) == 1 + page_size).all()


def test_empty_batch():
    data, offsets = get_compressor("lz4").compress(np.zeros((0, 4096), np.uint8))
    assert data.size == 0 and offsets.tolist() == [0]
    assert get_compressor("lz4").decompress(data, offsets, 4096).shape == (0, 4096)


def test_parallel_batches_equal_serial(installation, monkeypatch):
    pages = np.vstack([installation[4096], special_pages(4096, 6), installation[4096][::-1]])
    assert len(pages) >= compressors.PARALLEL_MIN_PAGES
    for name in ("lz4", "lzo", "lzo-rle"):
        compressor = get_compressor(name)
        parallel = compressor.compress(pages, header_bytes=2)
        with monkeypatch.context() as patch:
            patch.setattr(compressors, "PARALLEL_MIN_PAGES", 10 ** 9)
            serial = compressor.compress(pages, header_bytes=2)
            serial_back = compressor.decompress(*serial, 4096, header_bytes=2)
        np.testing.assert_array_equal(parallel[0], serial[0])
        np.testing.assert_array_equal(parallel[1], serial[1])
        np.testing.assert_array_equal(compressor.decompress(*parallel, 4096, header_bytes=2),
                                      serial_back)
        np.testing.assert_array_equal(serial_back, pages)


# ---------------------------------------------------------------- a standard decoder


def test_python_lz4_reads_ours(installation):
    block = pytest.importorskip("lz4.block")
    for page_size in (4096, 16384):
        pages = np.vstack([installation[page_size][:100], special_pages(page_size, 7)])
        data, offsets = lz4.compress_pages(pages)
        for page, obj in zip(pages, unragged(data, offsets)):
            assert block.decompress(obj, uncompressed_size=page_size) == page.tobytes()


def test_we_read_python_lz4(installation):
    block = pytest.importorskip("lz4.block")
    for page_size in (4096, 16384):
        pages = np.vstack([installation[page_size][:100], special_pages(page_size, 8)])
        for mode in ("default", "high_compression"):
            data, offsets = ragged([block.compress(page.tobytes(), mode=mode, store_size=False)
                                    for page in pages])
            np.testing.assert_array_equal(get_compressor("lz4").decompress(data, offsets,
                                                                           page_size), pages)


# ---------------------------------------------------------------- the safe decoder


@pytest.fixture(scope="module")
def sample_objects(installation):
    """The objects of a few real and special pages."""
    pages = np.vstack([installation[4096][:8], special_pages(4096, 9)[[0, 3, 5, 12]]])
    return pages, unragged(*lz4.compress_pages(pages))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 11), st.data())
def test_damaged_objects_raise_or_decode(sample_objects, which, draw):
    pages, objects = sample_objects
    obj = damaged(bytearray(objects[which]), draw)
    batch = [objects[0], bytes(obj), objects[1]]
    try:
        back = get_compressor("lz4").decompress(*ragged(batch), 4096)
    except ValueError as exc:
        assert "object at index 1" in str(exc)
    else:
        assert back.shape == (3, 4096)
        np.testing.assert_array_equal(back[[0, 2]], pages[[0, 1]])


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600), st.sampled_from([1, 13, 100, 4096]))
def test_arbitrary_bytes_raise_or_decode(blob, page_size):
    data = np.frombuffer(blob, np.uint8)
    try:
        back = lz4.decompress_objects(data, np.array([0]), np.array([len(blob)]), page_size)
    except ValueError as exc:
        assert "object at index 0" in str(exc)
    else:
        assert back.shape == (1, page_size)


def test_every_truncation_raises(sample_objects):
    _, objects = sample_objects
    for obj in objects[:4]:
        data, offsets = ragged([obj[:k] for k in range(len(obj))])
        _, status, _ = lz4.decompress_status(data, offsets[:-1], offsets[1:], 4096)
        assert status.all(), "a strict prefix of a block is never a whole page"
        with pytest.raises(ValueError, match=r"object at index 0\b"):
            get_compressor("lz4").decompress(data, offsets, 4096)


def test_errors_name_the_object(sample_objects):
    _, objects = sample_objects
    compressor = get_compressor("lz4")
    good = list(objects[:6])

    def fails(index, obj, match):
        batch = good.copy()
        batch[index] = obj
        with pytest.raises(ValueError, match=match):
            compressor.decompress(*ragged(batch), 4096)

    fails(2, good[2][:-1], r"object at index 2 is truncated")
    fails(3, b"", r"object at index 3 is truncated")
    fails(4, b"\xf0\xff\xff", r"object at index 4 is truncated")   # a literal count cut short
    short = unragged(*lz4.compress_pages(np.zeros((1, 1000), np.uint8)))[0]
    fails(1, short, r"object at index 1 decompressed to 1000 bytes, not the page size 4096")
    # 1 literal, then a match at offset 0, then offset 2 (before the page's start)
    fails(5, b"\x10a\x00\x00\x50" + bytes(5), r"object at index 5 is corrupt \(a match at offset 0")
    fails(0, b"\x10a\x02\x00\x50" + bytes(5), r"object at index 0 is corrupt \(a match at offset")
    # a match that ends in the last 5 bytes of a 4096-byte page
    # (1 literal, then 4 + 15 + 15 * 255 + 248 = 4092 bytes at offset 1: to byte 4093; 3 literals)
    tail_match = b"\x1fa\x01\x00" + bytes([255] * 15 + [248]) + b"\x30xyz"
    fails(1, tail_match, r"object at index 1 is corrupt \(a match in the last bytes")
    with pytest.raises(ValueError, match=r"object at index 0\b"):     # the wrong page size
        compressor.decompress(*ragged(good), 2048)


def test_argument_checks():
    pages = np.zeros((2, 4096), np.uint8)
    with pytest.raises(TypeError, match="uint8"):
        lz4.compress_pages(pages.astype(np.int16))
    with pytest.raises(TypeError, match="ndarray"):
        lz4.compress_pages(pages.tolist())
    for shape in ((4096,), (2, 0), (1, 2, 4096)):
        with pytest.raises(ValueError, match="2-D"):
            lz4.compress_pages(np.zeros(shape, np.uint8))
    with pytest.raises(ValueError, match="C-contiguous"):
        lz4.compress_pages(np.zeros((4, 4096), np.uint8)[::2])
    with pytest.raises(ValueError, match="header_bytes"):
        lz4.compress_pages(pages, header_bytes=-1)
    data, offsets = lz4.compress_pages(pages)
    with pytest.raises(TypeError, match="uint8"):
        lz4.decompress_status(data.astype(np.int8), offsets[:-1], offsets[1:], 4096)
    with pytest.raises(ValueError, match="object at index 1 has bounds"):
        lz4.decompress_status(data, offsets[:-1], offsets[1:] + [0, data.size], 4096)
    with pytest.raises(ValueError, match="1-D of one length"):
        lz4.decompress_status(data, offsets, offsets[1:], 4096)
    with pytest.raises(ValueError, match="page_size"):
        lz4.decompress_status(data, offsets[:-1], offsets[1:], 0)


# ---------------------------------------------------------------- the running kernel

AVAILABLE, REASON = zram.availability()
needs_kernel = pytest.mark.skipif(not AVAILABLE, reason=REASON)


def kernel_sizes(pages):
    """The kernel's comp_len for each page, each written to an empty index of a private zram
    device: 0 for same-filled, 4096 for stored uncompressed (real size >= 3625)."""
    try:
        device = zram.ZramDevice(disksize=(len(pages) + 1) * zram.PAGE_SIZE, comp_algorithm="lz4")
    except ValueError as exc:               # the kernel offers no lz4
        pytest.skip(str(exc))
    with device:
        records = zram.record(device, [("write", i, page) for i, page in enumerate(pages)])
    return records["comp_len"], records["same"]


@needs_kernel
def test_sizes_equal_the_kernels(installation):
    rng = np.random.default_rng(13)
    sampled = real_pages(150, seed=13)
    mixed = sampled.copy()
    for page in mixed:                      # random tails: sizes up to and past the huge class
        keep = int(rng.integers(zram.PAGE_SIZE))
        page[keep:] = rng.integers(0, 256, zram.PAGE_SIZE - keep)
    pages = np.vstack([installation[4096], sampled, mixed, special_pages(4096, 14)])
    kernel, same = kernel_sizes(pages)
    _, offsets = get_compressor("lz4").compress(pages, header_bytes=4)
    ours = np.diff(offsets) - 4
    compared = ~same & (kernel < zram.HUGE_CLASS_SIZE)
    assert compared.sum() >= 400 and (~same & ~compared).sum() >= 20
    wrong = np.flatnonzero(compared & (ours != kernel))
    assert wrong.size == 0, (f"{wrong.size} of {compared.sum()} pages differ, first page "
                             f"{wrong[0]}: ours {ours[wrong[0]]}, the kernel's {kernel[wrong[0]]}")
    huge = ~same & ~compared
    assert (ours[huge] >= zram.HUGE_CLASS_SIZE).all()
