"""Compaction reaches zbud's optimum, keeps handles and bytes, and moves few bytes."""

import numpy as np
import pytest

import zbudjit as zj
from helpers import GEOMETRIES, fewest_pages, ragged, relative_handle, snapshot


def fragmented_pool(pages, objects, live_share, seed, **geometry):
    rng = np.random.default_rng(seed)
    pool = zj.Pool(pages=pages, **geometry)
    sizes = np.where(rng.random(objects) < 0.7, rng.integers(40, 900, objects),
                     rng.integers(1500, pool.max_size + 1, objects))
    payload = rng.integers(0, 256, int(sizes.sum()), dtype=np.uint8)
    handles = pool.store(payload, np.concatenate([[0], np.cumsum(sizes)]))
    pool.free(rng.permutation(handles)[: int(objects * (1 - live_share))])
    return pool


@pytest.mark.parametrize("page_size, reserve_header_chunk", GEOMETRIES)
def test_full_compaction_reaches_the_optimum(page_size, reserve_header_chunk):
    pool = fragmented_pool(20_000, 30_000, 0.5, page_size, page_size=page_size,
                           reserve_header_chunk=reserve_header_chunk)
    before = snapshot(pool)
    lru_before = pool.lru_order().tolist()
    result = pool.compact()
    pool.check()
    after = snapshot(pool)
    live = pool.handles()
    assert after["stats"].pages_used == fewest_pages(pool.sizes(live), pool.chunk_size, pool.usable_chunks)
    assert result.pages_freed == before["stats"].pages_used - after["stats"].pages_used > 0
    assert after["stats"].pages_compacted == result.pages_freed
    # every handle still valid, every object's bytes unchanged; only moved objects changed place
    assert before["objects"].keys() == after["objects"].keys()
    moved = {relative_handle(pool, handle) for handle in result.moved.tolist()}
    for handle, (pfn, offset, data) in before["objects"].items():
        assert after["objects"][handle][2] == data
        assert (after["objects"][handle][:2] != (pfn, offset)) == (handle in moved)
    # released pages left the LRU; the others kept their order
    remaining = set(pool.lru_order().tolist())
    assert pool.lru_order().tolist() == [pfn for pfn in lru_before if pfn in remaining]
    assert pool.compact().objects_moved == 0


def test_larger_object_stays_when_singles_pair_up():
    pool = zj.Pool(pages=5000)
    rng = np.random.default_rng(3)
    handles = pool.alloc(rng.integers(1, pool.max_size + 1, 4000))
    pool.free(handles[pool.locate(handles)[1] != 0])      # keep FIRST objects: one per page
    singles = pool.handles()
    sizes = dict(zip(singles.tolist(), pool.sizes(singles).tolist()))
    result = pool.compact()
    assert result.objects_moved == result.pages_freed > 0   # each move empties a page
    page_of = dict(zip(singles.tolist(), pool.locate(singles)[0].tolist()))
    on_page = {}
    for handle, pfn in page_of.items():
        on_page.setdefault(pfn, []).append(handle)
    for handle in result.moved.tolist():
        buddy, = [h for h in on_page[page_of[handle]] if h != handle]
        assert sizes[buddy] >= sizes[handle]


def test_pairs_already_together_stay_put():
    pool = zj.Pool(pages=16)
    big_a, big_b = pool.alloc([3000, 3000])     # pages 0 and 1, 17 free chunks each
    small, = pool.alloc([600])                  # head of unbuddied[17]: page 1, LAST
    pair = pool.alloc([2000, 2000])             # page 2, buddied
    pool.free([big_b])                          # page 0: 3000 alone; page 1: 600 alone
    where_pair = pool.locate(pair)
    result = pool.compact()
    assert result.pages_freed == 1 and result.moved.tolist() == [small]
    assert [a.tolist() for a in pool.locate(pair)] == [a.tolist() for a in where_pair]
    assert pool.locate([small])[0][0] == pool.locate([big_a])[0][0] == 0


def test_breaks_a_pair_when_the_optimum_needs_it():
    pool = zj.Pool(pages=16)
    tiny = pool.alloc([128, 192])               # page 0: 2 + 3 chunks, together
    big = pool.alloc([61 * 64, 62 * 64])        # pages 1 and 2, alone (61 + 62 > 64)
    assert pool.stats().pages_used == 3
    result = pool.compact()
    pool.check()
    assert pool.stats().pages_used == 2 == fewest_pages([128, 192, 61 * 64, 62 * 64], 64, 64)
    assert set(pool.locate(big)[0].tolist()) == set(pool.locate(tiny)[0].tolist())
    assert result.pages_freed == 1


def test_budgeted_compaction_takes_the_best_moves_first():
    pool = fragmented_pool(20_000, 30_000, 0.5, 1)
    optimum = fewest_pages(pool.sizes(pool.handles()), 64, 64)
    used = pool.stats().pages_used
    results = []
    for budget in (0, 10_000, 100_000):
        results.append(pool.compact(max_bytes=budget))
        assert results[-1].bytes_moved <= budget
        pool.check()
    assert results[0].pages_freed == 0 and results[1].pages_freed > 0
    # the moves that free the most pages per byte come first
    rest = pool.compact()
    assert pool.stats().pages_used == optimum
    assert results[1].pages_freed / results[1].bytes_moved >= rest.pages_freed / rest.bytes_moved
    assert sum(r.pages_freed for r in results) + rest.pages_freed == used - optimum


def test_compaction_argument_errors():
    pool = fragmented_pool(100, 100, 0.5, 2)
    before = snapshot(pool)
    for bad, error in ((-1, ValueError), (1.5, TypeError), (True, TypeError), ("10", TypeError)):
        with pytest.raises(error):
            pool.compact(max_bytes=bad)
    assert snapshot(pool) == before


def test_empty_pool_compacts_to_nothing():
    pool = zj.Pool(pages=4)
    result = pool.compact()
    assert (result.pages_freed, result.objects_moved, result.bytes_moved) == (0, 0, 0)
    pool.check()


def test_compacted_pool_keeps_working():
    pool = fragmented_pool(3000, 4000, 0.4, 5)
    pool.compact()
    more = pool.store(*ragged([b"z" * 300] * 500))
    pool.free(pool.handles()[::3])
    pool.check()
    assert pool.compact().pages_freed >= 0
    pool.check()
    alive = [h for h in more.tolist() if h in set(pool.handles().tolist())]
    data, offsets = pool.read(alive)
    assert bytes(data) == b"z" * 300 * len(alive)
