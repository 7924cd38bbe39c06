"""Tests of zbudjit.lzo and the "lzo" and "lzo-rle" compressors: round trips, a standard LZO1X
decoder (lzallright, a binding of lzokay) reading our lzo output and our decoder reading its
output, fuzzing of the safe decoder, and every page's compressed size against the running
kernel's zram (skipped where zbudjit.kernel.zram.availability() says no)."""

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import damaged, unragged, ragged  # tests/ is not a package
from zbudjit import lzo
from zbudjit.compressors import get_compressor
from zbudjit.kernel import zram
from zbudjit.pagesource import default_pages

sys.path.insert(0, str(Path(__file__).parent))
from zram_oracle import real_pages  # tests/ is not a package

VARIANTS = lzo.VARIANTS


def zero_run_pages(page_size, seed):
    """Pages that exercise lzo-rle's zero runs: text or noise cut by zero runs of every length
    class (4..7, near 2051, longer than one instruction holds, at the page's edges)."""
    rng = np.random.default_rng(seed)
    pages = []
    for runs in ([4, 5, 7, 8, 100], [2050, 2051, 2052], [3000], [page_size - 30], [1, 2, 3]):
        page = rng.integers(0, 256, page_size, dtype=np.uint8)
        for run in runs:
            at = int(rng.integers(0, max(1, page_size - run)))
            page[at:at + run] = 0
        pages.append(page)
    head = np.zeros(page_size, np.uint8)                    # zeros then noise, and the reverse
    head[page_size // 2:] = rng.integers(0, 256, page_size - page_size // 2)
    pages += [head, head[::-1].copy()]
    sparse = np.zeros(page_size, np.uint8)                  # a non-zero byte now and then
    sparse[rng.integers(0, page_size, page_size // 64)] = rng.integers(1, 256, page_size // 64)
    pages.append(sparse)
    return np.array(pages)


def pattern_pages(page_size, seed):
    """Pages of long and overlapping matches at all three distances' encodings, and the
    literal-run lengths at each encoding's edges."""
    rng = np.random.default_rng(seed)
    pages = []
    for period in (1, 3, 8, 9, 33, 300, 2048, 2049, 5000):
        unit = rng.integers(0, 256, period, dtype=np.uint8)
        pages.append(np.resize(unit, page_size))
    for literals in (1, 3, 4, 18, 19, 273, 274, 238, 239):
        page = np.resize(np.frombuffer(b"abcdefgh", np.uint8), page_size).copy()
        for at in range(64, page_size - literals - 64, 700):
            page[at:at + literals] = rng.integers(0, 256, literals)
        pages.append(page)
    return np.array(pages)


def worst_pages(page_size, seed):
    """Near-incompressible pages: noise, and noise with 4-byte zero runs after every 4 bytes,
    where lzo-rle spends 9 bytes on 8 (the worst case's densest form)."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(1, 256, page_size, dtype=np.uint8)
    gapped = noise.copy().reshape(-1, 8)
    gapped[:, 4:] = 0
    return np.array([noise, gapped.reshape(-1)])


@pytest.fixture(scope="module")
def installation():
    """A few hundred 4 KiB and some 16 KiB pages of the running Python installation."""
    return {4096: default_pages(4096, max_pages=300).pages,
            16384: default_pages(16384, max_pages=40).pages}


def check_round_trip(name, pages, header_bytes=0):
    compressor = get_compressor(name)
    data, offsets = compressor.compress(pages, header_bytes=header_bytes)
    assert data.dtype == np.uint8 and offsets.dtype == np.int64
    assert offsets[0] == 0 and offsets[-1] == data.size and len(offsets) == len(pages) + 1
    sizes = np.diff(offsets) - header_bytes
    assert (sizes <= lzo.worst_case_size(pages.shape[1])).all()
    if header_bytes:
        assert not data[offsets[:-1, None] + np.arange(header_bytes)].any()
    if name == "lzo-rle":
        starts = offsets[:-1] + header_bytes
        assert (data[starts] == 17).all() and (data[starts + 1] == 1).all()
    back = compressor.decompress(data, offsets, pages.shape[1], header_bytes=header_bytes)
    assert back.shape == pages.shape and back.flags.c_contiguous
    np.testing.assert_array_equal(back, pages)
    return data, offsets


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("page_size", [4096, 16384])
@pytest.mark.parametrize("name", VARIANTS)
def test_round_trip_real_pages(installation, name, page_size):
    data, _ = check_round_trip(name, installation[page_size], header_bytes=8)
    assert data.size < installation[page_size].size         # real data does compress


@pytest.mark.parametrize("page_size", [4096, 16384])
@pytest.mark.parametrize("name", VARIANTS)
def test_round_trip_special_pages(name, page_size):
    rng = np.random.default_rng(page_size)
    pages = np.vstack([np.zeros((2, page_size), np.uint8),
                       rng.integers(0, 256, (3, page_size), dtype=np.uint8),
                       zero_run_pages(page_size, 1), pattern_pages(page_size, 2),
                       worst_pages(page_size, 3)])
    _, offsets = check_round_trip(name, pages)
    sizes = np.diff(offsets)
    if name == "lzo-rle" and page_size == 4096:
        # header 2; the 5 bytes before the scan starts, as a run (6); zero runs of 2051 and
        # 2020 (4 + 4); the last 20 bytes as literals (22); end marker 3
        assert sizes[0] == 2 + 6 + 4 + 4 + 22 + 3
        assert sizes[0] < np.diff(get_compressor("lzo").compress(pages[:1])[1])[0]


@pytest.mark.parametrize("name", VARIANTS)
def test_round_trip_beyond_one_chunk(installation, name):
    # Pages over 48 KiB are compressed in chunks, each with a fresh dictionary, the literals
    # not yet written carried from one to the next.
    real = installation[16384].reshape(-1)
    rng = np.random.default_rng(4)
    pages = np.array([real[:196608], np.resize(real[:1000], 196608),
                      rng.integers(0, 256, 196608, dtype=np.uint8)])
    pages[1, 49000:49200] = 0
    check_round_trip(name, pages, header_bytes=3)


@pytest.mark.parametrize("name", VARIANTS)
def test_tiny_pages(name):
    rng = np.random.default_rng(5)
    for page_size in (1, 2, 3, 4, 5, 20, 21, 22, 25, 238, 239, 300):
        pages = np.vstack([np.zeros((1, page_size), np.uint8),
                           rng.integers(0, 256, (2, page_size), dtype=np.uint8)])
        check_round_trip(name, pages)


def test_empty_batch():
    for name in VARIANTS:
        data, offsets = get_compressor(name).compress(np.zeros((0, 4096), np.uint8))
        assert data.size == 0 and offsets.tolist() == [0]
        assert get_compressor(name).decompress(data, offsets, 4096).shape == (0, 4096)


# ---------------------------------------------------------------- a standard decoder


def test_lzallright_reads_our_lzo(installation):
    lzallright = pytest.importorskip("lzallright")
    decoder = lzallright.LZOCompressor()
    for page_size in (4096, 16384):
        pages = np.vstack([installation[page_size][:100], pattern_pages(page_size, 6),
                           zero_run_pages(page_size, 7), worst_pages(page_size, 8)])
        data, offsets = lzo.compress_pages(pages, "lzo")
        for page, obj in zip(pages, unragged(data, offsets)):
            assert decoder.decompress(obj, output_size_hint=page_size) == page.tobytes()


def test_we_read_lzallright(installation):
    lzallright = pytest.importorskip("lzallright")
    encoder = lzallright.LZOCompressor()
    for page_size in (4096, 16384):
        pages = np.vstack([installation[page_size][:100], pattern_pages(page_size, 9),
                           zero_run_pages(page_size, 10), np.zeros((1, page_size), np.uint8)])
        data, offsets = ragged([encoder.compress(page.tobytes()) for page in pages])
        for name in VARIANTS:       # one decoder: it reads both, as the kernel's does
            np.testing.assert_array_equal(get_compressor(name).decompress(data, offsets,
                                                                          page_size), pages)


# ---------------------------------------------------------------- the safe decoder


@pytest.fixture(scope="module")
def sample_objects(installation):
    """Each variant's objects of a few real and special pages."""
    pages = np.vstack([installation[4096][:6], zero_run_pages(4096, 11)[:3],
                       pattern_pages(4096, 12)[:3]])
    return pages, {name: unragged(*lzo.compress_pages(pages, name)) for name in VARIANTS}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(VARIANTS), st.integers(0, 11), st.data())
def test_damaged_objects_raise_or_decode(sample_objects, name, which, draw):
    pages, objects = sample_objects
    obj = damaged(bytearray(objects[name][which]), draw)
    batch = [objects[name][0], bytes(obj), objects[name][1]]
    try:
        back = get_compressor(name).decompress(*ragged(batch), 4096)
    except ValueError as exc:
        assert "object at index 1" in str(exc)
    else:
        assert back.shape == (3, 4096)
        np.testing.assert_array_equal(back[[0, 2]], pages[[0, 1]])


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=600), st.sampled_from([1, 17, 4096]))
def test_arbitrary_bytes_raise_or_decode(blob, page_size):
    for start in (b"", b"\x11\x01"):                         # lzo-rle's header turns RLE on
        obj = start + blob
        try:
            back = lzo.decompress_objects(*((np.frombuffer(obj, np.uint8),)
                                            + (np.array([0]), np.array([len(obj)]))), page_size)
        except ValueError as exc:
            assert "object at index 0" in str(exc)
        else:
            assert back.shape == (1, page_size)


@pytest.mark.parametrize("name", VARIANTS)
def test_every_truncation_raises(sample_objects, name):
    _, objects = sample_objects
    compressor = get_compressor(name)
    for obj in objects[name][:4]:
        cuts = [obj[:k] for k in range(len(obj))]
        data, offsets = ragged(cuts)
        _, status, _ = lzo.decompress_status(data, offsets[:-1], offsets[1:], 4096)
        assert status.all(), "a strict prefix of a stream is never a whole page"
        with pytest.raises(ValueError, match=r"object at index 0\b"):
            compressor.decompress(data, offsets, 4096)


@pytest.mark.parametrize("name", VARIANTS)
def test_errors_name_the_object(sample_objects, name):
    _, objects = sample_objects
    compressor = get_compressor(name)
    good = list(objects[name][:6])

    def fails(index, obj, match):
        batch = good.copy()
        batch[index] = obj
        with pytest.raises(ValueError, match=match):
            compressor.decompress(*ragged(batch), 4096)

    fails(4, good[4] + b"\x00", r"object at index 4 has bytes after its end marker")
    fails(2, good[2][:-1], r"object at index 2 is truncated")
    fails(3, b"", r"object at index 3 is truncated")
    short = unragged(*lzo.compress_pages(np.zeros((1, 1000), np.uint8), name))[0]
    fails(1, short, r"object at index 1 decompressed to 1000 bytes, not the page size 4096")
    fails(5, bytes([17 + 5]) + b"abcde" + b"\x11\x00\x01", r"object at index 5 is corrupt")
    fails(0, bytes([17 + 2]) + b"ab" + b"\x40\x08" + b"\x11\x00\x00",
          r"object at index 0 is corrupt \(a match reaches back")
    # the whole batch at the wrong page size: too long for 2048
    with pytest.raises(ValueError, match=r"object at index 0 decompresses to more"):
        compressor.decompress(*ragged(good), 2048)


def test_argument_checks():
    pages = np.zeros((2, 4096), np.uint8)
    with pytest.raises(ValueError, match="unknown LZO variant"):
        lzo.compress_pages(pages, "lzo-zero")
    with pytest.raises(TypeError, match="uint8"):
        lzo.compress_pages(pages.astype(np.int16))
    with pytest.raises(TypeError, match="ndarray"):
        lzo.compress_pages(pages.tolist())
    for shape in ((4096,), (2, 0), (1, 2, 4096)):
        with pytest.raises(ValueError, match="2-D"):
            lzo.compress_pages(np.zeros(shape, np.uint8))
    with pytest.raises(ValueError, match="C-contiguous"):
        lzo.compress_pages(np.zeros((4, 4096), np.uint8)[::2])
    with pytest.raises(ValueError, match="header_bytes"):
        lzo.compress_pages(pages, header_bytes=-1)
    with pytest.raises(TypeError, match="header_bytes"):
        lzo.compress_pages(pages, header_bytes=1.5)
    data, offsets = lzo.compress_pages(pages)
    with pytest.raises(TypeError, match="uint8"):
        lzo.decompress_status(data.astype(np.int8), offsets[:-1], offsets[1:], 4096)
    with pytest.raises(ValueError, match="object at index 1 has bounds"):
        lzo.decompress_status(data, offsets[:-1], offsets[1:] + [0, data.size], 4096)
    with pytest.raises(ValueError, match="object at index 0 has bounds"):
        lzo.decompress_status(data, offsets[:-1] - 1, offsets[1:], 4096)
    with pytest.raises(ValueError, match="1-D of one length"):
        lzo.decompress_status(data, offsets, offsets[1:], 4096)
    with pytest.raises(ValueError, match="page_size"):
        lzo.decompress_status(data, offsets[:-1], offsets[1:], 0)
    # the compressors copy a non-contiguous batch instead of refusing it
    strided = np.vstack([pages, pages])[::2]
    np.testing.assert_array_equal(get_compressor("lzo").decompress(
        *get_compressor("lzo").compress(strided), 4096), strided)


# ---------------------------------------------------------------- the running kernel

AVAILABLE, REASON = zram.availability()
needs_kernel = pytest.mark.skipif(not AVAILABLE, reason=REASON)


def kernel_sizes(pages, algorithm):
    """The kernel's comp_len for each page, each written to an empty index of a private zram
    device: 0 for same-filled, 4096 for stored uncompressed (real size >= 3625)."""
    try:
        device = zram.ZramDevice(disksize=(len(pages) + 1) * zram.PAGE_SIZE,
                                 comp_algorithm=algorithm)
    except ValueError as exc:               # the kernel offers no such algorithm
        pytest.skip(str(exc))
    with device:
        records = zram.record(device, [("write", i, page) for i, page in enumerate(pages)])
    return records["comp_len"], records["same"]


@pytest.fixture(scope="module")
def oracle_pages(installation):
    """Real pages of two kinds, the same with random tails (sizes up to and past the huge
    class), and the special pages above."""
    rng = np.random.default_rng(13)
    sampled = real_pages(150, seed=13)
    mixed = sampled.copy()
    for page in mixed:
        keep = int(rng.integers(zram.PAGE_SIZE))
        page[keep:] = rng.integers(0, 256, zram.PAGE_SIZE - keep)
    return np.vstack([installation[4096], sampled, mixed, zero_run_pages(4096, 14),
                      pattern_pages(4096, 15), worst_pages(4096, 16),
                      np.zeros((1, 4096), np.uint8)])


@needs_kernel
@pytest.mark.parametrize("name", VARIANTS)
def test_sizes_equal_the_kernels(oracle_pages, name):
    kernel, same = kernel_sizes(oracle_pages, name)
    _, offsets = get_compressor(name).compress(oracle_pages, header_bytes=4)
    ours = np.diff(offsets) - 4
    compared = ~same & (kernel < zram.HUGE_CLASS_SIZE)
    assert compared.sum() >= 400 and (~same & ~compared).sum() >= 20
    wrong = np.flatnonzero(compared & (ours != kernel))
    assert wrong.size == 0, (f"{wrong.size} of {compared.sum()} pages differ, first page "
                             f"{wrong[0]}: ours {ours[wrong[0]]}, the kernel's {kernel[wrong[0]]}")
    huge = ~same & ~compared
    assert (ours[huge] >= zram.HUGE_CLASS_SIZE).all()
