"""The public API: shapes, dtypes, statistics, and large batches that grow every table."""

import numpy as np
import pytest

import zbudjit as zj
from helpers import GEOMETRIES, assert_same_as_spec, make_pair, ragged, unragged


def test_round_trip_and_types():
    pool = zj.Pool(pages=64)
    chunks = [b"x" * 5, bytes(range(200)), b"\xff" * 4032]
    handles = pool.store(*ragged(chunks))
    assert handles.dtype == np.uint64 and handles.shape == (3,)
    data, offsets = pool.read(handles)
    assert data.dtype == np.uint8 and offsets.dtype == np.int64
    assert unragged(data, offsets) == chunks
    data[:] = 0                                    # read hands out a copy
    assert unragged(*pool.read(handles)) == chunks
    assert pool.sizes(handles).tolist() == [5, 200, 4032]
    pfns, page_offsets = pool.locate(handles)
    assert pfns.dtype == np.int64 and page_offsets.dtype == np.int64


def test_inputs_as_lists_and_bytes():
    pool = zj.Pool(pages=8)
    handles = pool.alloc([10, 20])
    pool.write(handles.tolist(), b"a" * 10 + b"b" * 20, [0, 10, 30])
    assert unragged(*pool.read(list(handles))) == [b"a" * 10, b"b" * 20]
    other = pool.store(bytearray(b"hello"), (0, 5))
    assert unragged(*pool.read(other)) == [b"hello"]


def test_empty_batches():
    pool = zj.Pool(pages=8)
    assert pool.alloc([]).shape == (0,)
    assert pool.store(np.empty(0, np.uint8), [0]).shape == (0,)
    pool.free([])
    pool.write([], np.empty(0, np.uint8), [0])
    data, offsets = pool.read([])
    assert data.size == 0 and offsets.tolist() == [0]
    assert pool.stats().objects == 0
    pool.check()


def test_write_repeated_handle_last_wins():
    pool = zj.Pool(pages=8)
    h, = pool.alloc([3])
    pool.write([h, h], b"abcxyz", [0, 3, 6])
    assert unragged(*pool.read([h])) == [b"xyz"]


def test_stats():
    pool = zj.Pool(pages=100)
    assert pool.stats().pages_used == 0 and pool.stats().density == 0.0
    handles = pool.alloc([100, 2000, 3000])    # pages 0 (100 + 2000) and 1 (3000)
    stats = pool.stats()
    assert (stats.pages_total, stats.pages_used, stats.pages_free) == (100, 2, 98)
    assert stats.objects == 3
    assert stats.bytes_stored == 5100
    assert stats.bytes_allocated == (2 + 32 + 47) * 64
    assert stats.density == pytest.approx(5100 / (2 * 4096))
    assert stats.free_chunks_histogram[64 - 2 - 32] == 1 and stats.free_chunks_histogram[64 - 47] == 1
    assert sum(stats.free_chunks_histogram) == 2
    assert stats.metadata_bytes_per_handle == 20
    assert stats.metadata_bytes >= 100 * 32 + 16
    pool.free(handles)
    assert pool.stats().pages_used == 0 and pool.stats().bytes_stored == 0


def test_metadata_per_page_at_scale():
    """Per-page tables stay small under churn: a 24-byte record plus the lists' upkeep."""
    pool = zj.Pool(pages=100_000)
    rng = np.random.default_rng(1)
    for _ in range(40):
        pool.alloc(np.where(rng.random(10_000) < 0.7, rng.integers(40, 900, 10_000),
                            rng.integers(1500, 4032, 10_000)))
        live = pool.handles()
        pool.free(rng.permutation(live)[: live.size // 8])
    pool.check()
    stats = pool.stats()
    assert zj.policies.zbud.kernels.PAGE_DTYPE.itemsize == 24
    assert stats.metadata_bytes_per_page < 48
    assert stats.metadata_bytes_per_handle == 20


@pytest.mark.parametrize("page_size, reserve_header_chunk", GEOMETRIES)
def test_large_batches_match_spec(page_size, reserve_header_chunk):
    """Thousands of objects per batch: the handle table, stacks and LRU log all grow and compact."""
    pages = 3000
    pool, spec = make_pair(pages, page_size, reserve_header_chunk)
    rng = np.random.default_rng(page_size + reserve_header_chunk)
    pairs = {}
    contents = {}
    for round_ in range(6):
        sizes = np.where(rng.random(2500) < 0.7, rng.integers(40, 900, 2500),
                         rng.integers(1500, pool.max_size + 1, 2500))
        payload = rng.integers(0, 256, int(sizes.sum()), dtype=np.uint8)
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        chunks = unragged(payload, offsets)
        try:
            handles = pool.store(payload, offsets)
        except zj.PoolFullError:
            with pytest.raises(zj.PoolFullError):
                spec.store(chunks)
        else:
            pairs.update(zip(handles.tolist(), spec.store(chunks)))
            contents.update(zip(handles.tolist(), chunks))
        victims = rng.permutation(list(pairs))[: len(pairs) * 3 // 5].tolist()
        pool.free(victims)
        spec.free([pairs.pop(h) for h in victims])
        for h in victims:
            contents.pop(h, None)
        assert_same_as_spec(pool, spec, pairs)
    handles = list(contents)
    assert unragged(*pool.read(handles)) == [contents[h] for h in handles]
    assert pool._handles.size > 1024 and pool._lru_log.size >= 1024


def test_stamps_renumbered_near_their_limit_keep_every_list():
    """When the 32-bit stamp counter nears its end, the stacks are rebuilt with new stamps."""
    pool, spec = make_pair(400)
    pool._counters[zj.pool.t.C_STAMP] = zj.pool.t.MAX_STAMP - 300
    rng = np.random.default_rng(9)
    pairs = {}
    for _ in range(12):
        sizes = rng.integers(1, pool.max_size + 1, 80).tolist()
        pairs.update(zip(pool.alloc(sizes).tolist(), spec.alloc(sizes)))
        victims = rng.permutation(list(pairs))[:40].tolist()
        pool.free(victims)
        spec.free([pairs.pop(h) for h in victims])
        assert_same_as_spec(pool, spec, pairs)
    assert pool._counters[zj.pool.t.C_STAMP] < 10_000


def test_read_into_a_reused_buffer():
    pool = zj.Pool(pages=64)
    rng = np.random.default_rng(5)
    sizes = rng.integers(1, 3000, 40)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    payload = rng.integers(0, 256, offsets[-1], dtype=np.uint8)
    handles = pool.store(payload, offsets)
    buffer = np.zeros(offsets[-1] + 100, np.uint8)
    data, read_offsets = pool.read(handles[::-1], out=buffer)
    expected, expected_offsets = pool.read(handles[::-1])
    assert np.shares_memory(data, buffer) and np.array_equal(data, expected)
    assert np.array_equal(read_offsets, expected_offsets)
    assert not buffer[offsets[-1]:].any()
    with pytest.raises(ValueError, match=f"{offsets[-1]:,} bytes"):
        pool.read(handles, out=np.zeros(offsets[-1] - 1, np.uint8))
    with pytest.raises(TypeError):
        pool.read(handles, out=np.zeros(offsets[-1], np.int16))
    with pytest.raises(ValueError, match="writable"):
        pool.read(handles, out=np.zeros(2 * offsets[-1], np.uint8)[::2])
