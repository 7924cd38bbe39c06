"""zsmalloc: bad input raises the documented exception and leaves the pool exactly as it was.

The zsmalloc counterpart of test_bad_input.py (zbud), on two geometries. After every failing call
the pool must be unchanged: every object's place and bytes and the stats (helpers.snapshot), the
class statistics, the fullness lists, the released-page and free-slot stacks and the arena itself
(free slots keep their free-list links there), and pool.check() must pass.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import zbudjit as zj
from zbudjit.engine import tables as t
from helpers import last_generation, ragged, snapshot, unragged

# (page_size, chain_size, pool pages)
GEOMETRIES = [(4096, 8, 64), (16384, 16, 48)]
GEOMETRY_IDS = [f"{p}-chain{c}" for p, c, _ in GEOMETRIES]


def zs_pool(pages, page_size=4096, chain_size=8):
    return zj.Pool(pages, policy="zsmalloc", page_size=page_size, chain_size=chain_size)


def class_rows(page_size, chain_size):
    """The real classes of a geometry."""
    table = zj.size_class_table(page_size, chain_size)
    return table[table["class_index"] == np.arange(table.size)]


def class_request(page_size, chain_size, pages=None, objs=None, smallest=False):
    """A request size (slot size - 8, so exactly that class) of a real class with ``pages`` pages
    a zspage and/or ``objs`` objects a zspage: the largest such class unless ``smallest``."""
    rows = class_rows(page_size, chain_size)
    if pages is not None:
        rows = rows[rows["pages_per_zspage"] == pages]
    if objs is not None:
        rows = rows[rows["objs_per_zspage"] == objs]
    assert rows.size, (page_size, chain_size, pages, objs)
    row = rows[0] if smallest else rows[-1]
    return int(row["size"]) - 8, int(row["pages_per_zspage"]), int(row["objs_per_zspage"])


def released_stack(pool):
    pfns, pfn = [], int(pool._counters[t.C_RELEASED_HEAD])
    while pfn != -1:
        pfns.append(pfn)
        link = int(pool._pages[pfn]["stamp"])
        pfn = -1 if link == t.NONE32 else link
    return pfns


# block-table bookkeeping: _reserve may repack the stacks' blocks before any batch (the live
# entries stay, in order), which is maintenance, not a change of the pool
BLOCK_COUNTERS = (t.C_BLOCK_WATERMARK, t.C_BLOCK_FREE_HEAD, t.C_BLOCKS_FREE)


def state(pool):
    """Everything a failed call must leave as it was."""
    c = pool._counters
    counters = [int(v) for i, v in enumerate(c) if i not in BLOCK_COUNTERS]
    return (snapshot(pool, lru=False), pool.class_stats().tolist(), pool._policy.fullness_lists(pool),
            released_stack(pool), pool._free_slots[:int(c[t.C_SLOTS_FREE])].tolist(),
            counters, pool._pages.tobytes(), pool._next_pages.tolist(), pool._list_heads.tolist(),
            bytes(pool._arena), pool._handles.size)


def unchanged(pool, call, error, match=None):
    before = state(pool)
    with pytest.raises(error, match=match) as caught:
        call()
    after = state(pool)
    assert after[0] == before[0]                       # snapshot(pool, lru=False)
    assert after[1] == before[1]                       # class_stats
    assert after == before
    pool.check()
    return caught.value


@pytest.fixture(params=GEOMETRIES, ids=GEOMETRY_IDS)
def pool(request):
    """A pool with some history: objects of several classes (small, straddling, huge), freed
    slots inside zspages, and released zspages."""
    page_size, chain_size, pages = request.param
    pool = zs_pool(pages, page_size, chain_size)
    rng = np.random.default_rng(7)
    long_size, _, long_objs = class_request(page_size, chain_size, pages=chain_size)
    one_size, _, _ = class_request(page_size, chain_size, pages=1, objs=2)
    sizes = ([100, 20, 1, page_size // 3, page_size, page_size - 1] + [long_size] * 5
             + [one_size] * 4 + [page_size] * 2)
    chunks = [rng.integers(0, 256, size, np.uint8).tobytes() for size in sizes]
    handles = pool.store(*ragged(chunks))
    # free slots inside live zspages, and whole zspages (the two huge ones, one 1-page zspage)
    freed = [1, 7, 9, 11, 12, 15, 16]
    pool.free(handles[freed])
    pool.freed = handles[freed]
    pool.live = np.delete(handles, freed)
    assert released_stack(pool) and pool._counters[t.C_SLOTS_FREE] > 0
    pool.check()
    return pool


# -- options and methods a zsmalloc pool does not have ----------------------------------------------

BAD_OPTIONS = [
    (dict(chain_size=3), ValueError),
    (dict(chain_size=17), ValueError),
    (dict(chain_size=0), ValueError),
    (dict(chain_size=-8), ValueError),
    (dict(chain_size=2.5), TypeError),
    (dict(chain_size=8.0), TypeError),
    (dict(chain_size=True), TypeError),
    (dict(chain_size=np.bool_(True)), TypeError),
    (dict(chain_size="8"), TypeError),
    (dict(reserve_header_chunk=True), ValueError),
    (dict(reserve_header_chunk=False), ValueError),
    (dict(pages=0), ValueError),
    (dict(pages=-1), ValueError),
    (dict(pages=2**32), ValueError),
    (dict(pages=1.5), TypeError),
    (dict(pages=True), TypeError),
    (dict(page_size=2048), ValueError),
    (dict(page_size=6000), ValueError),
    (dict(page_size=131072), ValueError),
    (dict(page_size="4096"), TypeError),
]


@pytest.mark.parametrize("kwargs, error", BAD_OPTIONS)
def test_bad_zsmalloc_options(kwargs, error):
    arguments = dict(pages=8, policy="zsmalloc") | kwargs
    with pytest.raises(error):
        zj.Pool(**arguments)


@pytest.mark.parametrize("chain_size", [4, 16, np.int64(5)])
def test_chain_size_bounds_are_accepted(chain_size):
    pool = zs_pool(8, 4096, chain_size)
    assert pool.chain_size == int(chain_size)
    pool.check()


def test_reserve_header_chunk_message_names_the_policy():
    with pytest.raises(ValueError, match="reserve_header_chunk.*zsmalloc"):
        zj.Pool(8, policy="zsmalloc", reserve_header_chunk=True)


@pytest.mark.parametrize("chain_size", [8, 4, 3, None])
def test_chain_size_on_a_zbud_pool(chain_size):
    if chain_size is None:
        assert not hasattr(zj.Pool(8), "chain_size")
        return
    with pytest.raises(ValueError, match="chain_size.*zbud"):
        zj.Pool(8, chain_size=chain_size)
    with pytest.raises(ValueError, match="chain_size"):
        zj.Pool(8, policy="zbud", chain_size=chain_size)


def test_no_lru_on_zsmalloc(pool):
    unchanged(pool, lambda: pool.lru_order(), zj.PoolError, "LRU")
    unchanged(pool, lambda: pool.reclaim(1, lambda h, d, o: None), zj.PoolError, "LRU")
    unchanged(pool, lambda: pool.reclaim(0, lambda h, d, o: None), zj.PoolError, "LRU")
    # argument errors still come first, as on zbud
    unchanged(pool, lambda: pool.reclaim(-1, lambda h, d, o: None), ValueError)
    unchanged(pool, lambda: pool.reclaim(1, "not callable"), TypeError)


@pytest.mark.parametrize("max_bytes", [0, 1, 100, 2**40])
def test_compact_budget_is_zbud_only(pool, max_bytes):
    unchanged(pool, lambda: pool.compact(max_bytes=max_bytes), ValueError, "max_bytes")


def test_compact_bad_budget_types(pool):
    unchanged(pool, lambda: pool.compact(max_bytes=-1), ValueError)
    unchanged(pool, lambda: pool.compact(max_bytes=1.5), TypeError)
    unchanged(pool, lambda: pool.compact(max_bytes=True), TypeError)


def test_chunks_on_zsmalloc_raise(pool):
    """A zsmalloc pool's geometry holds its class spacing where zbud's holds the chunk size."""
    for attribute in ("chunk_size", "usable_chunks"):
        unchanged(pool, lambda: getattr(pool, attribute), zj.PoolError)


def test_class_stats_on_zbud_raises():
    pool = zj.Pool(8)
    pool.alloc([100, 2000])
    with pytest.raises(zj.PoolError, match="zsmalloc"):
        pool.class_stats()
    pool.check()


# -- sizes --------------------------------------------------------------------------------------------

def bad_sizes(page_size):
    return [
        ([0], ValueError), ([-1], ValueError), ([page_size + 1], ValueError),
        ([100, page_size + 1], ValueError), ([100, 0], ValueError), ([100, -1], ValueError),
        ([2**63], ValueError), (np.array([2**63], np.uint64), ValueError),
        ([2**64], ValueError), ([-2**63], ValueError), (np.array([-2**63], np.int64), ValueError),
        (np.array([page_size + 1], np.uint16), ValueError),
        ([1.5], TypeError), ([100.0], TypeError), (np.array([100.0]), TypeError),
        ([True], TypeError), ([True, False], TypeError), (np.array([True]), TypeError),
        (["100"], TypeError), ([None], TypeError), ([100j], TypeError),
        (np.array([[100]]), ValueError), (100, ValueError), (np.array(100), ValueError),
    ]


@pytest.mark.parametrize("case", range(len(bad_sizes(4096))))
def test_bad_sizes(pool, case):
    sizes, error = bad_sizes(pool.page_size)[case]
    unchanged(pool, lambda: pool.alloc(sizes), error)


MIXED_BOOL_CALLS = {
    # alloc([100, True]) allocates a 1-byte object
    "alloc-True": (lambda pool: pool.alloc([100, True]), TypeError),
    # alloc([100, False]): ValueError (size 0) instead of TypeError
    "alloc-False": (lambda pool: pool.alloc([100, False]), TypeError),
    # store(data, [0, True]) stores a 1-byte object
    "store-offsets": (lambda pool: pool.store(np.zeros(10, np.uint8), [0, True]), TypeError),
    # free([h, True]) would free h and handle 1 (slot 0 of generation 0: live in a pool of
    # generation origin 0, as a pool opened from a format-3 save is)
    "free": (lambda pool: pool.free([pool.live[1], True]), TypeError),
    # read/locate/sizes([h, True]) answer for handle 1
    "read": (lambda pool: pool.read([pool.live[1], True]), TypeError),
    "locate": (lambda pool: pool.locate([pool.live[1], True]), TypeError),
    "sizes": (lambda pool: pool.sizes([pool.live[1], True]), TypeError),
    # write(h, data, [0, True, 2]): ValueError (wrong length) instead of TypeError
    "write-offsets": (lambda pool: pool.write(pool.live[:2], np.zeros(2, np.uint8), [0, True, 2]),
                      TypeError),
}


@pytest.mark.parametrize("name", list(MIXED_BOOL_CALLS))
def test_lists_mixing_ints_and_bools_are_refused(pool, name):
    call, error = MIXED_BOOL_CALLS[name]
    unchanged(pool, lambda: call(pool), error)


def test_bad_size_names_the_element(pool):
    good = [1, 100, pool.page_size]
    error = unchanged(pool, lambda: pool.alloc(good + [pool.page_size + 1]), ValueError, "index 3")
    assert error.index == 3
    error = unchanged(pool, lambda: pool.alloc(good + [0] + good), ValueError, "index 3")
    assert error.index == 3


def test_largest_sizes_are_accepted(pool):
    before = pool.stats().objects
    handles = pool.alloc([pool.page_size, pool.page_size - 1, 1])
    assert pool.sizes(handles).tolist() == [pool.page_size, pool.page_size - 1, 1]
    assert pool.stats().objects == before + 3
    pool.check()


# -- a full pool --------------------------------------------------------------------------------------

def test_pool_full(pool):
    free = pool.pages_total - pool.pages_used
    error = unchanged(pool, lambda: pool.alloc([pool.page_size] * (free + 1)), zj.PoolFullError,
                      f"index {free}")
    assert error.index == free
    # spare slots of existing zspages count: small objects first, then a huge one too many
    small, _, _ = class_request(pool.page_size, pool.chain_size, pages=1, objs=2)
    unchanged(pool, lambda: pool.alloc([small, 100, 1] * 3 + [pool.page_size] * (free + 1)),
              zj.PoolFullError)
    pool.alloc([pool.page_size] * free)               # exactly full is fine
    pool.check()
    unchanged(pool, lambda: pool.alloc([pool.page_size]), zj.PoolFullError, "index 0")
    unchanged(pool, lambda: pool.store(np.zeros(pool.page_size, np.uint8), [0, pool.page_size]),
              zj.PoolFullError)


@pytest.mark.parametrize("page_size, chain_size", [(4096, 8), (16384, 16), (4096, 5)])
def test_pool_full_when_a_new_zspage_needs_more_pages_than_are_left(page_size, chain_size):
    """A pool of chain_size + 2 pages holding one zspage of chain_size - 1 pages has 3 pages
    left (fewer than chain_size - 1): a request whose class chains chain_size pages must fail, while requests that fit the
    existing zspage's spare slots or 1-page classes succeed, up to the page."""
    pages = chain_size + 2
    pool = zs_pool(pages, page_size, chain_size)
    shorter, shorter_pages, shorter_objs = class_request(page_size, chain_size, pages=chain_size - 1)
    longest, longest_pages, _ = class_request(page_size, chain_size, pages=chain_size)
    pair, _, _ = class_request(page_size, chain_size, pages=1, objs=2)       # 2 objects a page
    assert shorter_pages == chain_size - 1 and longest_pages == chain_size
    kept = pool.store(*ragged([b"k" * shorter]))
    assert pool.pages_total - pool.pages_used == 3

    error = unchanged(pool, lambda: pool.alloc([longest]), zj.PoolFullError, "index 0")
    assert error.index == 0
    # fits the spare slots of the zspage, then one more of that class needs a new zspage
    spare = shorter_objs - 1
    error = unchanged(pool, lambda: pool.alloc([shorter] * (spare + 1)), zj.PoolFullError,
                      f"index {spare}")
    assert error.index == spare
    unchanged(pool, lambda: pool.alloc([shorter] * spare + [longest]), zj.PoolFullError,
              f"index {spare}")
    # 1-page zspages take the 3 pages one by one; the seventh pair object needs a fourth page
    unchanged(pool, lambda: pool.alloc([pair] * 7), zj.PoolFullError, "index 6")
    unchanged(pool, lambda: pool.alloc([pair, pair, longest]), zj.PoolFullError, "index 2")
    unchanged(pool, lambda: pool.alloc([pair] * 2 + [shorter] * spare + [pair] * 5),
              zj.PoolFullError, f"index {spare + 6}")
    unchanged(pool, lambda: pool.store(np.zeros(longest, np.uint8), [0, longest]), zj.PoolFullError)
    unchanged(pool, lambda: pool.store(np.full(longest + pair, 7, np.uint8), [0, pair, pair + longest]),
              zj.PoolFullError, "index 1")

    # what does fit, fits: the spare slots and exactly the three pages
    more = pool.alloc([shorter] * spare + [pair] * 6)
    assert pool.pages_used == pages
    pool.check()
    unchanged(pool, lambda: pool.alloc([1]), zj.PoolFullError)
    pool.free(np.concatenate([kept, more[:spare]]))    # the long zspage is released
    assert pool.pages_total - pool.pages_used == chain_size - 1
    unchanged(pool, lambda: pool.alloc([longest]), zj.PoolFullError)
    pool.alloc([shorter])
    pool.check()


def test_pool_of_one_page():
    pool = zs_pool(1)
    long_size, _, _ = class_request(4096, 8, pages=8)
    unchanged(pool, lambda: pool.alloc([long_size]), zj.PoolFullError, "index 0")
    h = pool.alloc([4096])
    unchanged(pool, lambda: pool.alloc([1]), zj.PoolFullError)
    pool.free(h)
    pool.alloc([24] * 128)                              # the 32-byte class: 128 slots a page
    unchanged(pool, lambda: pool.alloc([24]), zj.PoolFullError)


@pytest.mark.parametrize("page_size, chain_size, pages", GEOMETRIES, ids=GEOMETRY_IDS)
def test_pool_full_after_growing_tables(page_size, chain_size, pages):
    """A failing batch that first grew the handle table and the stack blocks puts them back."""
    pool = zs_pool(2, page_size, chain_size)
    pool.alloc([1] * 10)
    per_page = page_size // 32                          # the 32-byte class
    handles_size, blocks_size = pool._handles.size, pool._blocks.size
    n = max(2 * per_page + 1, handles_size + 500)       # more handles than the table holds
    unchanged(pool, lambda: pool.alloc([1] * n), zj.PoolFullError, f"index {2 * per_page - 10}")
    assert (pool._handles.size, pool._blocks.size) == (handles_size, blocks_size)
    assert pool.stats().objects == 10
    pool.alloc([1] * (2 * per_page - 10))
    pool.check()


def test_handle_table_never_passes_its_limit(monkeypatch):
    monkeypatch.setattr(zj.pool.t, "MAX_SLOTS", 1500)
    pool = zs_pool(64)
    pool.alloc([10] * 1400)
    unchanged(pool, lambda: pool.alloc([10] * 101), zj.PoolFullError, "handle table")
    assert pool._handles.size <= 1500
    pool.alloc([10] * 100)
    unchanged(pool, lambda: pool.alloc([10]), zj.PoolFullError, "handle table")


def test_failed_store_leaves_no_byte_in_the_arena(pool):
    free = pool.pages_total - pool.pages_used
    n = free + 1
    payload = np.full(pool.page_size * n, ord("S"), np.uint8)
    arena_before = pool._arena.copy()
    unchanged(pool, lambda: pool.store(payload, np.arange(n + 1) * pool.page_size), zj.PoolFullError)
    assert np.array_equal(pool._arena, arena_before)


# -- handles ------------------------------------------------------------------------------------------

def wrong_generation(handle, delta=1):
    return np.uint64((int(handle) + (delta << 32)) % 2**64)


def test_free_errors(pool):
    live, freed = pool.live, pool.freed
    unchanged(pool, lambda: pool.free([freed[0]]), zj.InvalidHandleError)
    unchanged(pool, lambda: pool.free([live[0], freed[0]]), zj.InvalidHandleError, "index 1")
    error = unchanged(pool, lambda: pool.free([live[0], live[1], live[0]]), zj.InvalidHandleError,
                      "repeated")
    assert error.index == 2
    unchanged(pool, lambda: pool.free([live[3], live[3]]), zj.InvalidHandleError, "repeated")
    unchanged(pool, lambda: pool.free(list(live) + [live[-1]]), zj.InvalidHandleError, "repeated")
    unchanged(pool, lambda: pool.free([live[0], 0]), zj.InvalidHandleError, "index 1")
    unchanged(pool, lambda: pool.free([2**64 - 1]), zj.InvalidHandleError)
    unchanged(pool, lambda: pool.free([live[0], 2**32]), zj.InvalidHandleError, "index 1")
    unchanged(pool, lambda: pool.free([wrong_generation(live[0])]), zj.InvalidHandleError, "index 0")
    unchanged(pool, lambda: pool.free([live[1], wrong_generation(live[0], -1)]),
              zj.InvalidHandleError, "index 1")
    unchanged(pool, lambda: pool.free([live[1], int(live[0]) & 0xFFFFFFFF | (0xFFFF << 32)]),
              zj.InvalidHandleError, "index 1")
    beyond = int(pool._counters[t.C_SLOT_WATERMARK]) + 1        # slot just above the watermark
    unchanged(pool, lambda: pool.free([live[0], beyond]), zj.InvalidHandleError, "index 1")
    unchanged(pool, lambda: pool.free([-1]), zj.InvalidHandleError)
    unchanged(pool, lambda: pool.free([2**64]), zj.InvalidHandleError)
    unchanged(pool, lambda: pool.free(np.array([-1], np.int64)), zj.InvalidHandleError)
    unchanged(pool, lambda: pool.free(live.astype(np.float64)), TypeError)
    unchanged(pool, lambda: pool.free([float(live[0])]), TypeError)
    unchanged(pool, lambda: pool.free([True]), TypeError)
    unchanged(pool, lambda: pool.free(np.array([True, False])), TypeError)
    unchanged(pool, lambda: pool.free(live[:4].reshape(2, 2)), ValueError)
    unchanged(pool, lambda: pool.free(live[0]), ValueError)
    # every object of the pool then a bad one: pass 2 would release every zspage
    unchanged(pool, lambda: pool.free(np.append(live, freed[-1])), zj.InvalidHandleError,
              f"index {live.size}")
    pool.free([])                                         # an empty batch is fine
    pool.check()


def test_free_error_carries_the_index(pool):
    live = pool.live
    with pytest.raises(zj.InvalidHandleError) as repeated:
        pool.free([live[0], live[2], live[0]])
    assert repeated.value.index == 2
    with pytest.raises(zj.InvalidHandleError) as forged:
        pool.free([live[0], live[2], 12345])
    assert forged.value.index == 2
    pool.check()


def test_stale_handle_rejected_after_slot_reuse(pool):
    old = pool.live[0]
    size = int(pool.sizes([old])[0])
    pool.free([old])
    new, = pool.alloc([size])
    assert new & 0xFFFFFFFF == old & 0xFFFFFFFF          # the slot is reused...
    assert new != old                                   # ...under a new generation
    for call in (pool.free, pool.read, pool.locate, pool.sizes):
        unchanged(pool, lambda: call([old]), zj.InvalidHandleError)
        unchanged(pool, lambda: call([new, old]), zj.InvalidHandleError, "index 1")
    unchanged(pool, lambda: pool.write([old], np.zeros(size, np.uint8), [0, size]),
              zj.InvalidHandleError)
    unchanged(pool, lambda: pool.free([new, new]), zj.InvalidHandleError, "repeated")


def test_generation_exhausted_slot_is_retired():
    pool = zs_pool(4)
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
        unchanged(pool, lambda: pool.read([stale]), zj.InvalidHandleError)
        unchanged(pool, lambda: pool.free([stale]), zj.InvalidHandleError)


@pytest.mark.parametrize("page_size, chain_size, pages", GEOMETRIES, ids=GEOMETRY_IDS)
@pytest.mark.parametrize("alone", [False, True])
def test_failed_free_puts_back_a_slot_it_retired(page_size, chain_size, pages, alone):
    """Pass 1 of a free retires a slot whose generation is used up: a later bad handle in the
    batch must bring it back, whether or not its zspage would have been released."""
    pool = zs_pool(pages, page_size, chain_size)
    long_size, _, _ = class_request(page_size, chain_size, pages=chain_size)
    sizes = [long_size] if alone else [long_size, long_size, 100]
    handles = pool.store(*ragged([bytes([i + 1]) * s for i, s in enumerate(sizes)]))
    victim = handles[0]
    pool.free([victim])
    pool._handles[(int(victim) & 0xFFFFFFFF) - 1]["generation"] = last_generation(pool)
    victim, = pool.store(*ragged([b"v" * long_size]))
    assert victim >> 32 == last_generation(pool)
    pool.check()
    unchanged(pool, lambda: pool.free([victim, 12345]), zj.InvalidHandleError, "index 1")
    unchanged(pool, lambda: pool.free([victim, victim]), zj.InvalidHandleError, "repeated")
    assert unragged(*pool.read([victim])) == [b"v" * long_size]
    pool.free([victim])
    pool.check()


def test_read_locate_sizes_reject_bad_handles(pool):
    live, freed = pool.live, pool.freed
    for call in (pool.read, pool.locate, pool.sizes):
        unchanged(pool, lambda: call([live[0], freed[1]]), zj.InvalidHandleError, "index 1")
        unchanged(pool, lambda: call([live[0], 0]), zj.InvalidHandleError, "index 1")
        unchanged(pool, lambda: call([2**64 - 1]), zj.InvalidHandleError)
        unchanged(pool, lambda: call([wrong_generation(live[2])]), zj.InvalidHandleError)
        unchanged(pool, lambda: call([-1]), zj.InvalidHandleError)
        unchanged(pool, lambda: call(np.array([1.0])), TypeError)
        unchanged(pool, lambda: call([True]), TypeError)
        unchanged(pool, lambda: call(live[:4].reshape(2, 2)), ValueError)


def test_read_out_errors(pool):
    live = pool.live
    total = int(pool.sizes(live).sum())
    unchanged(pool, lambda: pool.read(live, out=np.empty(total - 1, np.uint8)), ValueError, "too small")
    unchanged(pool, lambda: pool.read(live, out=np.empty(0, np.uint8)), ValueError, "too small")
    unchanged(pool, lambda: pool.read(live, out=np.empty(total, np.int8)), TypeError)
    unchanged(pool, lambda: pool.read(live, out=np.empty(total, np.uint16)), TypeError)
    unchanged(pool, lambda: pool.read(live, out=np.empty((1, total), np.uint8)), TypeError)
    unchanged(pool, lambda: pool.read(live, out=bytearray(total)), TypeError)
    unchanged(pool, lambda: pool.read(live, out=[0] * total), TypeError)
    unchanged(pool, lambda: pool.read(live, out=np.empty(2 * total, np.uint8)[::2]), ValueError)
    read_only = np.empty(total, np.uint8)
    read_only.setflags(write=False)
    unchanged(pool, lambda: pool.read(live, out=read_only), ValueError)
    # the bad handle is reported before the size of out
    unchanged(pool, lambda: pool.read([live[0], pool.freed[0]], out=np.empty(1, np.uint8)),
              zj.InvalidHandleError, "index 1")
    out = np.full(total + 5, 0xEE, np.uint8)
    data, offsets = pool.read(live, out=out)
    assert unragged(data, offsets) == unragged(*pool.read(live))
    assert out[total:].tolist() == [0xEE] * 5


def test_write_errors(pool):
    h = pool.live[:2]
    sizes = pool.sizes(h)
    good = np.ones(sizes.sum(), np.uint8)
    offsets = np.array([0, sizes[0], sizes.sum()])
    unchanged(pool, lambda: pool.write(h, good[:-1], offsets[:-1]), ValueError, "offsets")
    unchanged(pool, lambda: pool.write(h, good, np.append(offsets, sizes.sum())), ValueError, "offsets")
    unchanged(pool, lambda: pool.write(h, good, [0, sizes[0] + 1, sizes.sum()]), ValueError, "size")
    unchanged(pool, lambda: pool.write(h, good, [0, sizes[0] - 1, sizes.sum()]), ValueError, "size")
    unchanged(pool, lambda: pool.write(h, np.ones(sizes.sum() + 1, np.uint8),
                                       [0, sizes[0], sizes.sum() + 1]), ValueError, "size")
    unchanged(pool, lambda: pool.write(h, good, [0, sizes.sum(), sizes[0]]), ValueError, "offsets")
    unchanged(pool, lambda: pool.write(h, good, [-1, sizes[0], sizes.sum()]), ValueError, "offsets")
    unchanged(pool, lambda: pool.write(h, good[:-1], offsets), ValueError, "offsets")
    unchanged(pool, lambda: pool.write(h, good, offsets + 1), ValueError, "offsets")
    unchanged(pool, lambda: pool.write(h, good, []), ValueError, "offsets")
    unchanged(pool, lambda: pool.write(h, good.astype(np.int64), offsets), TypeError)
    unchanged(pool, lambda: pool.write(h, good.view(np.int8), offsets), TypeError)
    unchanged(pool, lambda: pool.write(h, good.reshape(1, -1), offsets), ValueError)
    unchanged(pool, lambda: pool.write(h, good, offsets.astype(float)), TypeError)
    unchanged(pool, lambda: pool.write(h, good, [0, float(sizes[0]), float(sizes.sum())]), TypeError)
    unchanged(pool, lambda: pool.write(h, good, offsets.reshape(1, -1)), ValueError)
    unchanged(pool, lambda: pool.write([h[0], pool.freed[0]], good, offsets), zj.InvalidHandleError,
              "index 1")
    unchanged(pool, lambda: pool.write([h[0], wrong_generation(h[1])], good, offsets),
              zj.InvalidHandleError, "index 1")
    unchanged(pool, lambda: pool.write([h[0], 0], good, offsets), zj.InvalidHandleError, "index 1")
    # a bad length after good elements: nothing is written, not even the first object
    second = pool.live[2:4]
    two = np.concatenate([good, np.ones(int(pool.sizes(second)[0]) + 1, np.uint8)])
    unchanged(pool, lambda: pool.write(np.concatenate([h, second[:1]]), two,
                                       [0, sizes[0], sizes.sum(), two.size]), ValueError, "index 2")


def test_store_errors(pool):
    ps = pool.page_size
    unchanged(pool, lambda: pool.store(np.zeros(10, np.uint8), [0, 5, 5, 10]), ValueError, "index 1")
    unchanged(pool, lambda: pool.store(np.zeros(10, np.uint8), [0, 6, 3, 10]), ValueError, "offsets")
    unchanged(pool, lambda: pool.store(np.zeros(ps + 1, np.uint8), [0, ps + 1]), ValueError, "index 0")
    unchanged(pool, lambda: pool.store(np.zeros(ps + 11, np.uint8), [0, 10, ps + 11]), ValueError,
              "index 1")
    unchanged(pool, lambda: pool.store(np.zeros(10, np.uint8), [0, 11]), ValueError, "offsets")
    unchanged(pool, lambda: pool.store(np.zeros(10, np.uint8), [-1, 5]), ValueError, "offsets")
    unchanged(pool, lambda: pool.store(np.zeros(10, np.uint8), []), ValueError, "offsets")
    unchanged(pool, lambda: pool.store(np.zeros(10, np.uint8), [0, 2**63]), ValueError)
    unchanged(pool, lambda: pool.store(np.zeros(10, np.uint8), [0.0, 10.0]), TypeError)
    unchanged(pool, lambda: pool.store(np.zeros(10, np.uint8), [True, True]), TypeError)
    unchanged(pool, lambda: pool.store(np.zeros(10, np.uint8), np.array([[0, 10]])), ValueError)
    unchanged(pool, lambda: pool.store(np.zeros(10, np.int64), [0, 10]), TypeError)
    unchanged(pool, lambda: pool.store(np.zeros(10, np.float32), [0, 10]), TypeError)
    unchanged(pool, lambda: pool.store(np.zeros((2, 5), np.uint8), [0, 10]), ValueError)
    unchanged(pool, lambda: pool.store([1, 2, 3], [0, 3]), TypeError)
    free = pool.pages_total - pool.pages_used
    unchanged(pool, lambda: pool.store(np.zeros(ps * (free + 1), np.uint8), np.arange(free + 2) * ps),
              zj.PoolFullError)
    pool.store(np.zeros(10, np.uint8), [0])          # zero objects is fine
    pool.check()


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(GEOMETRIES[:2]),
       st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=5),
       st.lists(st.integers(-3, 3), min_size=1, max_size=3))
def test_forged_handles_never_reach_objects(geometry, forged, generation_shifts):
    page_size, chain_size, pages = geometry
    pool = zs_pool(pages, page_size, chain_size)
    long_size, _, _ = class_request(page_size, chain_size, pages=chain_size, smallest=True)
    live = pool.store(*ragged([b"a" * 10, b"b" * long_size, b"c" * 70, b"d" * page_size]))
    pool.free(live[2:3])
    live = np.delete(live, 2)
    # random words, and live slots under another generation
    forged = forged + [int(wrong_generation(live[i % live.size], d))
                       for i, d in enumerate(generation_shifts) if d]
    forged = [h for h in forged if h not in live.tolist()]
    if not forged:
        return
    before = state(pool)
    for call in (pool.free, pool.read, pool.locate, pool.sizes,
                 lambda h: pool.write(h, np.zeros(10 * len(h), np.uint8), np.arange(len(h) + 1) * 10)):
        with pytest.raises(zj.InvalidHandleError):
            call(forged)
        with pytest.raises(zj.InvalidHandleError):
            call([int(live[0])] + forged)
    assert state(pool) == before
    pool.check()


# -- objects across two non-adjacent pages -------------------------------------------------------------

@pytest.mark.parametrize("page_size, chain_size, pages", GEOMETRIES, ids=GEOMETRY_IDS)
def test_straddling_objects_on_non_adjacent_pages(page_size, chain_size, pages):
    """Release every other 1-page zspage so the next long zspage chains pages out of address order
    (the released-page stack is LIFO), then fill objects of a chain_size-page class, write random
    bytes, and read them back byte for byte: through read, read(out=) and the arena itself."""
    rng = np.random.default_rng(1)
    pool = zs_pool(5 * chain_size, page_size, chain_size)
    pair, _, _ = class_request(page_size, chain_size, pages=1, objs=2)
    holders = pool.alloc([pair] * (2 * chain_size))                  # pages 0 .. chain_size - 1
    pfns, _ = pool.locate(holders)
    assert sorted(set(pfns.tolist())) == list(range(chain_size))
    pool.free(holders[np.isin(pfns, np.arange(0, chain_size, 2))])   # every other page
    assert released_stack(pool) == list(range(0, chain_size, 2))[::-1]

    long_size, long_pages, long_objs = class_request(page_size, chain_size, pages=chain_size)
    n = long_objs + 3                                                # a second zspage too
    handles = pool.alloc([long_size] * n)
    sizes = pool.sizes(handles)
    chunks = [rng.integers(0, 256, int(s), np.uint8).tobytes() for s in sizes]
    pool.write(handles, *ragged(chunks))
    pool.check()

    pfns, offsets = pool.locate(handles)
    straddling = offsets + sizes > page_size
    assert straddling.sum() >= 3
    next_pfns = pool._next_pages[pfns[straddling]].astype(np.int64)
    assert (next_pfns != pfns[straddling] + 1).any()                 # a jump in the arena
    assert not (next_pfns == t.NONE32).any()
    # the first zspage chains the released pages, LIFO, then never-used ones
    first = int(pfns[0])
    chain = [first]
    while int(pool._next_pages[chain[-1]]) != t.NONE32:
        chain.append(int(pool._next_pages[chain[-1]]))
    assert len(chain) == long_pages
    assert chain[:chain_size // 2] == list(range(0, chain_size, 2))[::-1]
    assert chain != sorted(chain)

    assert unragged(*pool.read(handles)) == chunks
    out = np.empty(int(sizes.sum()) + 3, np.uint8)
    assert unragged(*pool.read(handles, out=out)) == chunks
    for h, pfn, offset, size, chunk in zip(handles, pfns, offsets, sizes, chunks):
        start = int(pfn) * page_size + int(offset)
        in_page = min(int(size), page_size - int(offset))
        got = bytes(pool._arena[start:start + in_page])
        if in_page < size:
            nxt = int(pool._next_pages[pfn]) * page_size
            got += bytes(pool._arena[nxt:nxt + int(size) - in_page])
        assert got == chunk

    # store writes straddlers the same way; freeing some (their slots get free-list links) and
    # failing calls leave every other byte as it was
    stored_chunks = [rng.integers(0, 256, long_size, np.uint8).tobytes() for _ in range(long_objs)]
    stored = pool.store(*ragged(stored_chunks))
    assert unragged(*pool.read(stored)) == stored_chunks
    pool.free(handles[straddling][::2])
    keep = handles[~np.isin(handles, handles[straddling][::2])]
    expected = [c for h, c in zip(handles, chunks) if h in keep.tolist()]
    assert unragged(*pool.read(keep)) == expected
    pool.check()
    unchanged(pool, lambda: pool.write(keep[:1], np.zeros(long_size - 1, np.uint8), [0, long_size - 1]),
              ValueError)
    unchanged(pool, lambda: pool.free([keep[0], handles[straddling][0]]), zj.InvalidHandleError)
    unchanged(pool, lambda: pool.alloc([long_size] * (pages * 2 * long_objs)), zj.PoolFullError)
    assert unragged(*pool.read(keep)) == expected
    assert unragged(*pool.read(stored)) == stored_chunks
    # rewriting straddlers in place
    again = [rng.integers(0, 256, long_size, np.uint8).tobytes() for _ in keep]
    pool.write(keep, *ragged(again))
    assert unragged(*pool.read(keep)) == again
    assert unragged(*pool.read(stored)) == stored_chunks
    pool.check()
