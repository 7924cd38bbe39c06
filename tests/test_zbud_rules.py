"""The zbud rules of kernel-notes.md, worked by hand, checked on both the spec and the engine.

Each scenario states what the kernel algorithm does, step by step; the expected places come from
those rules, not from running either implementation.
"""

import pytest

import zbudjit as zj
from zbudjit.policies.zbud.spec import ZbudSpec


class EngineAdapter:
    """The spec's per-handle interface over a Pool, so one scenario runs on both."""

    def __init__(self, pages, page_size=4096, reserve_header_chunk=False):
        self.pool = zj.Pool(pages=pages, page_size=page_size, reserve_header_chunk=reserve_header_chunk)

    def alloc(self, sizes):
        return self.pool.alloc(sizes).tolist()

    def free(self, handles):
        self.pool.free(handles)

    def locate(self, handle):
        pfn, offset = self.pool.locate([handle])
        return int(pfn[0]), int(offset[0])

    def lru_order(self):
        return self.pool.lru_order().tolist()

    def pages_used(self):
        return self.pool.stats().pages_used


@pytest.fixture(params=["spec", "engine"])
def make(request):
    def factory(pages=8, page_size=4096, reserve_header_chunk=False):
        if request.param == "spec":
            return ZbudSpec(pages, page_size=page_size, reserve_header_chunk=reserve_header_chunk)
        return EngineAdapter(pages, page_size=page_size, reserve_header_chunk=reserve_header_chunk)
    return factory


def test_first_then_last_buddy(make):
    pool = make()
    small, large, other = pool.alloc([100, 2000, 3000])
    # 100 B = 2 chunks: new page 0, FIRST at 0, filed in unbuddied[62]
    assert pool.locate(small) == (0, 0)
    # 2000 B = 32 chunks: lists 32..63 scanned, page 0 found in unbuddied[62], LAST: 4096 - 32*64
    assert pool.locate(large) == (0, 2048)
    # 3000 B = 47 chunks: page 0 is buddied, so a new page
    assert pool.locate(other) == (1, 0)
    assert pool.lru_order() == [1, 0]


def test_smallest_fitting_list_wins(make):
    pool = make()
    a, b = pool.alloc([3000, 2000])      # page 0: 47 chunks, 17 free; page 1: 32 chunks, 32 free
    assert pool.locate(b) == (1, 0)
    c, = pool.alloc([600])               # 10 chunks: unbuddied[17] (page 0) comes before [32]
    assert pool.locate(c) == (0, 4096 - 10 * 64)


def test_lists_are_lifo(make):
    pool = make()
    first, second = pool.alloc([3000, 3000])   # pages 0 and 1, both in unbuddied[17]
    third, = pool.alloc([1000])                # 16 chunks: the head of unbuddied[17] is page 1
    assert pool.locate(third) == (1, 4096 - 16 * 64)
    assert pool.lru_order() == [1, 0]


def test_free_refiles_but_keeps_lru(make):
    pool = make()
    a, b, c = pool.alloc([100, 100, 3000])     # page 0: a FIRST, b LAST; page 1: c
    assert pool.lru_order() == [1, 0]
    pool.free([b])                             # page 0 back to unbuddied[62]; LRU untouched
    assert pool.lru_order() == [1, 0]
    d, = pool.alloc([64 * 10])                 # 10 chunks: unbuddied[17] (page 1) first
    assert pool.locate(d) == (1, 4096 - 10 * 64)
    assert pool.lru_order() == [1, 0]
    e, = pool.alloc([64 * 40])                 # 40 chunks: page 1 is buddied, page 0 has 62 free
    assert pool.locate(e) == (0, 4096 - 40 * 64)
    assert pool.lru_order() == [0, 1]


def test_empty_page_released_and_reused_first(make):
    pool = make()
    a, b, c = pool.alloc([3000, 3000, 3000])   # pages 0, 1, 2
    pool.free([b])                             # page 1 released, leaves the LRU
    assert pool.lru_order() == [2, 0]
    assert pool.pages_used() == 2
    pool.free([a])
    d, e = pool.alloc([4000, 4000])            # most recently released first: page 0, then 1
    assert [pool.locate(d)[0], pool.locate(e)[0]] == [0, 1]


def test_refilled_first_side(make):
    pool = make()
    a, b = pool.alloc([100, 100])              # page 0: a FIRST, b LAST
    pool.free([a])
    c, = pool.alloc([200])                     # page 0 has FIRST empty: the new object goes FIRST
    assert pool.locate(c) == (0, 0)


def test_kernel_header_geometry(make):
    pool = make(reserve_header_chunk=True)
    a, b = pool.alloc([3968, 64])              # 62 chunks of 63; FIRST starts after the header
    assert pool.locate(a) == (0, 64)
    assert pool.locate(b) == (0, 4096 - 64)
    with pytest.raises(ValueError):
        pool.alloc([3969])


def test_large_pages(make):
    pool = make(page_size=65536)               # 1 KiB chunks
    a, b = pool.alloc([1, 64512])
    assert pool.locate(a) == (0, 0)
    assert pool.locate(b) == (0, 1024)         # 63 chunks of 1 KiB, LAST against the page end
    with pytest.raises(ValueError):
        pool.alloc([64513])


def test_pool_full_is_all_or_nothing(make):
    pool = make(pages=2)
    pool.alloc([3000])
    with pytest.raises(zj.PoolFullError):
        pool.alloc([4000, 4000])
    assert pool.pages_used() == 1
    assert pool.lru_order() == [0]
