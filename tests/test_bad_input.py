"""Bad input raises the documented exception and leaves the pool exactly as it was."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import zbudjit as zj
from zbudjit.engine import tables as t
from zbudjit.policies.zbud import kernels as zbud
from helpers import assert_same_as_spec, engine_lists, last_generation, make_pair, ragged, snapshot


@pytest.fixture
def pool():
    """A small pool with some history: objects on several pages, freed slots, a released page."""
    pool = zj.Pool(pages=8)
    chunks = [bytes([i]) * size for i, size in enumerate([100, 2000, 3000, 10, 4000, 500])]
    handles = pool.store(*ragged(chunks))
    pool.free(handles[[1, 4]])
    pool.freed = handles[[1, 4]]
    pool.live = handles[[0, 2, 3, 5]]
    return pool


def unchanged(pool, call, error, match=None):
    before = snapshot(pool)
    with pytest.raises(error, match=match):
        call()
    assert snapshot(pool) == before
    pool.check()


BAD_CONSTRUCTORS = [
    (dict(pages=0), ValueError),
    (dict(pages=-1), ValueError),
    (dict(pages=2**32), ValueError),
    (dict(pages=1.5), TypeError),
    (dict(pages=True), TypeError),
    (dict(pages=8, page_size=2048), ValueError),
    (dict(pages=8, page_size=6000), ValueError),
    (dict(pages=8, page_size=131072), ValueError),
    (dict(pages=8, page_size="4096"), TypeError),
    (dict(pages=8, policy="slab"), ValueError),
]


@pytest.mark.parametrize("kwargs, error", BAD_CONSTRUCTORS)
def test_bad_constructor(kwargs, error):
    with pytest.raises(error):
        zj.Pool(**kwargs)


@pytest.mark.parametrize("sizes, error", [
    ([0], ValueError), ([-1], ValueError), ([4033], ValueError), ([100, 4033], ValueError),
    ([2**63], ValueError), (np.array([2**63], np.uint64), ValueError),
    ([1.5], TypeError), (np.array([100.0]), TypeError), ([True], TypeError), (["100"], TypeError),
    (np.array([[100]]), ValueError), (100, ValueError),
])
def test_bad_sizes(pool, sizes, error):
    unchanged(pool, lambda: pool.alloc(sizes), error)


def test_pool_full(pool):
    unchanged(pool, lambda: pool.alloc([4000] * 8), zj.PoolFullError, "index 5")


def released_stack(pool):
    pfns, pfn = [], int(pool._counters[t.C_RELEASED_HEAD])
    while pfn != -1:
        pfns.append(pfn)
        link = int(pool._pages[pfn]["stamp"])
        pfn = -1 if link == t.NONE32 else link
    return pfns


def test_pool_full_undoes_every_kind_of_step():
    """The failing batch takes released and never-used pages, slots off the free stack and new ones,
    and pops pre-existing pages and pages it filed itself (a 3900-byte object leaves room for a
    100-byte one): each is put back where it was, in order. One batch is too short to look ahead
    in the lists, the other long enough."""
    assert 30 < zbud.LOOK_AHEAD_BATCH < 200
    for length in (30, 200):
        pool, spec = make_pair(24)
        sizes = [2000, 2000, 1000, 3000, 500, 3500] * 3          # 9 pages, all buddied
        pairs = dict(zip(pool.alloc(sizes).tolist(), spec.alloc(sizes)))
        victims = [list(pairs)[i] for i in (1, 2, 3, 6, 9, 11, 13)]   # pages empty, half, whole
        pool.free(victims)
        spec.free([pairs.pop(h) for h in victims])
        assert released_stack(pool) and pool._counters[t.C_SLOTS_FREE] > 0
        before = (snapshot(pool), engine_lists(pool), released_stack(pool),
                  pool._free_slots[:pool._counters[t.C_SLOTS_FREE]].tolist())
        failing = [3900] * 4 + [100] * 4 + [1500, 50] + [4000] * (length - 10)
        with pytest.raises(zj.PoolFullError):
            pool.alloc(failing)
        with pytest.raises(zj.PoolFullError):
            spec.alloc(failing)
        after = (snapshot(pool), engine_lists(pool), released_stack(pool),
                 pool._free_slots[:pool._counters[t.C_SLOTS_FREE]].tolist())
        assert after == before
        assert_same_as_spec(pool, spec, pairs)
        sizes = [100, 3900, 1500, 2500, 60]                       # the next batch is placed alike
        pairs.update(zip(pool.alloc(sizes).tolist(), spec.alloc(sizes)))
        assert_same_as_spec(pool, spec, pairs)


def test_pool_full_after_growing_tables():
    """A failing batch that first had to grow the handle table, stacks and LRU log puts them back."""
    pool = zj.Pool(pages=700)
    pool.alloc([1] * 10)
    unchanged(pool, lambda: pool.alloc([1] * 1500), zj.PoolFullError)
    assert pool.stats().objects == 10


def test_free_errors(pool):
    live = pool.live
    unchanged(pool, lambda: pool.free([pool.freed[0]]), zj.InvalidHandleError)
    unchanged(pool, lambda: pool.free([live[0], live[1], live[0]]), zj.InvalidHandleError, "repeated")
    unchanged(pool, lambda: pool.free([live[0], 0]), zj.InvalidHandleError, "index 1")
    unchanged(pool, lambda: pool.free([2**64 - 1]), zj.InvalidHandleError)
    unchanged(pool, lambda: pool.free([-1]), zj.InvalidHandleError)
    unchanged(pool, lambda: pool.free([2**64]), zj.InvalidHandleError)
    unchanged(pool, lambda: pool.free(live.astype(np.float64)), TypeError)
    unchanged(pool, lambda: pool.free(live.reshape(2, 2)), ValueError)
    assert issubclass(zj.InvalidHandleError, ValueError)


def test_stale_handle_rejected_after_slot_reuse(pool):
    old = pool.live[0]
    pool.free([old])
    new, = pool.alloc([100])
    assert new & 0xFFFFFFFF == old & 0xFFFFFFFF          # the slot is reused...
    assert new != old                                   # ...under a new generation
    for call in (pool.free, pool.read, pool.locate, pool.sizes):
        unchanged(pool, lambda: call([old]), zj.InvalidHandleError)
    unchanged(pool, lambda: pool.write([old], np.zeros(100, np.uint8), [0, 100]), zj.InvalidHandleError)


def test_generation_exhausted_slot_is_retired():
    pool = zj.Pool(pages=4)
    h, = pool.alloc([10])
    pool.free([h])
    pool._handles[0]["generation"] = last_generation(pool)   # as if freed 2**32 - 1 times
    last, = pool.alloc([10])
    assert last >> 32 == last_generation(pool)
    pool.free([last])
    pool.check()
    fresh, = pool.alloc([10])
    assert fresh & 0xFFFFFFFF == 2                      # slot 0 is never handed out again
    for stale in (h, last):
        with pytest.raises(zj.InvalidHandleError):
            pool.read([stale])
    pool.check()


@pytest.mark.parametrize("side", ["FIRST", "LAST"])
def test_failed_free_puts_back_a_slot_it_retired(side):
    """Pass 1 of a free retires a slot whose generation is used up, and forgets its address: a
    later bad handle in the batch must bring the object back where it was."""
    pool = zj.Pool(pages=4)
    pool.alloc([4000])                                    # page 0, so that no address is 0
    first, last = pool.alloc([100, 2000])                 # page 1: FIRST, then LAST
    assert pool.locate([first, last])[1].tolist() == [0, 4096 - 2048]
    victim, size = (first, 100) if side == "FIRST" else (last, 2000)
    pool.free([victim])
    pool._handles[(victim & 0xFFFFFFFF) - 1]["generation"] = last_generation(pool)
    victim, = pool.alloc([size])                          # back on the same side, last generation
    assert victim >> 32 == last_generation(pool)
    unchanged(pool, lambda: pool.free([victim, 12345]), zj.InvalidHandleError, "index 1")


def test_write_errors(pool):
    h = pool.live[:2]
    sizes = pool.sizes(h)
    good = np.ones(sizes.sum(), np.uint8)
    offsets = np.array([0, sizes[0], sizes.sum()])
    unchanged(pool, lambda: pool.write(h, good[:-1], offsets[:-1]), ValueError, "offsets")
    unchanged(pool, lambda: pool.write(h, good, [0, sizes[0] + 1, sizes.sum()]), ValueError, "size")
    unchanged(pool, lambda: pool.write(h, good, [0, sizes.sum(), sizes[0]]), ValueError, "offsets")
    unchanged(pool, lambda: pool.write(h, good, [-1, sizes[0], sizes.sum()]), ValueError, "offsets")
    unchanged(pool, lambda: pool.write(h, good[:-1], offsets), ValueError, "offsets")
    unchanged(pool, lambda: pool.write(h, good.astype(np.int64), offsets), TypeError)
    unchanged(pool, lambda: pool.write(h, good.reshape(1, -1), offsets), ValueError)
    unchanged(pool, lambda: pool.write(h, good, offsets.astype(float)), TypeError)
    unchanged(pool, lambda: pool.write([h[0], pool.freed[0]], good, offsets), zj.InvalidHandleError)


def test_store_errors(pool):
    unchanged(pool, lambda: pool.store(np.zeros(10, np.uint8), [0, 5, 5, 10]), ValueError, "index 1")
    unchanged(pool, lambda: pool.store(np.zeros(5000, np.uint8), [0, 5000]), ValueError)
    unchanged(pool, lambda: pool.store(np.zeros(10, np.uint8), [0, 11]), ValueError, "offsets")
    unchanged(pool, lambda: pool.store(np.zeros(10, np.uint8), []), ValueError, "offsets")
    unchanged(pool, lambda: pool.store(np.zeros(4000 * 8, np.uint8), np.arange(9) * 4000),
              zj.PoolFullError)


def test_read_locate_sizes_reject_bad_handles(pool):
    for call in (pool.read, pool.locate, pool.sizes):
        unchanged(pool, lambda: call([pool.live[0], pool.freed[1]]), zj.InvalidHandleError, "index 1")
        unchanged(pool, lambda: call(np.array([1.0])), TypeError)


@given(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=5))
def test_forged_handles_never_reach_objects(forged):
    pool = zj.Pool(pages=4)
    live = pool.store(*ragged([b"a" * 10, b"b" * 3000, b"c" * 70]))
    forged = [h for h in forged if h not in live.tolist()]
    if not forged:
        return
    before = snapshot(pool)
    for call in (pool.free, pool.read, pool.locate, pool.sizes,
                 lambda h: pool.write(h, np.zeros(10 * len(h), np.uint8), np.arange(len(h) + 1) * 10)):
        with pytest.raises(zj.InvalidHandleError):
            call(forged)
    assert snapshot(pool) == before


def test_failed_store_leaves_no_byte_in_the_arena(pool):
    arena_before = pool._arena.copy()
    payload = np.full(4000 * 8, ord("S"), np.uint8)
    unchanged(pool, lambda: pool.store(payload, np.arange(9) * 4000), zj.PoolFullError)
    assert np.array_equal(pool._arena, arena_before)


def test_handle_table_never_passes_its_limit(monkeypatch):
    monkeypatch.setattr(zj.pool.t, "MAX_SLOTS", 1500)
    pool = zj.Pool(pages=2000)
    pool.alloc([10] * 1400)
    with pytest.raises(zj.PoolFullError, match="handle table"):
        pool.alloc([10] * 101)
    assert pool._handles.size <= 1500
    pool.alloc([10] * 100)
    with pytest.raises(zj.PoolFullError, match="handle table"):
        pool.alloc([10])
    pool.check()


def test_errors_name_the_offending_element_by_index():
    pool = zj.Pool(pages=2)
    with pytest.raises(ValueError) as bad_size:
        pool.alloc([10, 20, 0])
    assert bad_size.value.index == 2
    with pytest.raises(zj.PoolFullError) as full:
        pool.alloc([4000, 4000, 4000, 10])
    assert full.value.index == 2
    handles = pool.alloc([10])
    with pytest.raises(zj.InvalidHandleError) as repeated:
        pool.free([handles[0], handles[0]])
    assert repeated.value.index == 1


def test_unsigned_integers_beyond_int64_are_out_of_range():
    pool = zj.Pool(pages=4)
    with pytest.raises(ValueError, match="outside the range"):
        pool.alloc(np.array([2**63], np.uint64))
