"""Reclaim: LRU-tail victims, one writeback call, kernel-faithful eviction, nothing lost on failure."""

import numpy as np
import pytest

import zbudjit as zj
from helpers import ragged, snapshot, unragged


@pytest.fixture
def pool():
    """LRU (head first): page 2 [4000], page 1 [3000, 10], page 0 [100, 2000]."""
    pool = zj.Pool(pages=8)
    pool.handles_by_size = dict(zip([100, 2000, 3000, 10, 4000],
                                    pool.store(*ragged([bytes([i]) * s for i, s in
                                                        enumerate([100, 2000, 3000, 10, 4000])]))))
    assert pool.lru_order().tolist() == [2, 1, 0]
    return pool


def test_victims_come_from_the_tail_first_before_last(pool):
    offered = []

    def writeback(handles, data, offsets):
        offered.append((handles.tolist(), unragged(data, offsets)))
        return None

    result = pool.reclaim(2, writeback)
    by_size = pool.handles_by_size
    assert offered[0][0] == [by_size[100], by_size[2000], by_size[3000], by_size[10]]
    assert offered[0][1] == [bytes([0]) * 100, bytes([1]) * 2000, bytes([2]) * 3000, bytes([3]) * 10]
    assert result.pages_freed == 2
    assert result.evicted.tolist() == offered[0][0]
    assert pool.lru_order().tolist() == [2]
    with pytest.raises(zj.InvalidHandleError):
        pool.read(result.evicted[:1])
    pool.check()


def test_pages_that_keep_objects_go_to_the_lru_head_in_victim_order(pool):
    by_size = pool.handles_by_size
    result = pool.reclaim(2, lambda handles, data, offsets: np.array([False, True, True, False]))
    # page 0 keeps its FIRST (100 B), page 1 keeps its LAST (10 B): both back at the head,
    # page 0 first, so page 1 (the later victim) ends up at the very head
    assert result.pages_freed == 0
    assert result.evicted.tolist() == [by_size[2000], by_size[3000]]
    assert pool.lru_order().tolist() == [1, 0, 2]
    assert pool.stats().objects == 3
    pool.check()
    # the survivors are re-filed: page 0 in unbuddied[62], page 1 in unbuddied[63]; a 3000 B
    # object (47 chunks) takes the head of the first fitting list, unbuddied[62]
    placed, = pool.alloc([3000])
    assert pool.locate([placed])[0][0] == 0


def test_more_pages_than_used_takes_all(pool):
    result = pool.reclaim(100, lambda handles, data, offsets: None)
    assert result.pages_freed == 3 and pool.stats().objects == 0 and pool.lru_order().size == 0
    pool.check()


def test_zero_pages_and_empty_pool_do_nothing(pool):
    calls = []
    before = snapshot(pool)
    assert pool.reclaim(0, lambda *a: calls.append(a)).pages_freed == 0
    assert snapshot(pool) == before and not calls
    empty = zj.Pool(pages=2)
    result = empty.reclaim(5, lambda *a: calls.append(a))
    assert result.pages_freed == 0 and result.evicted.size == 0 and not calls


class SwapFull(Exception):
    pass


@pytest.mark.parametrize("answer, error", [
    (SwapFull("no space"), SwapFull),
    (np.ones(3, np.bool_), ValueError),
    (np.ones(4, np.int64), ValueError),
    (np.ones((4, 1), np.bool_), ValueError),
    ([1, 1, 1, 1], ValueError),
])
def test_failed_writeback_changes_nothing(pool, answer, error):
    def writeback(handles, data, offsets):
        if isinstance(answer, Exception):
            raise answer
        return answer

    before = snapshot(pool)
    with pytest.raises(error):
        pool.reclaim(2, writeback)
    assert snapshot(pool) == before
    pool.check()


@pytest.mark.parametrize("n_pages, error", [(-1, ValueError), (1.0, TypeError), (True, TypeError)])
def test_bad_page_counts(pool, n_pages, error):
    before = snapshot(pool)
    with pytest.raises(error):
        pool.reclaim(n_pages, lambda *a: None)
    assert snapshot(pool) == before


def test_writeback_may_read_but_not_change_the_pool(pool):
    def writeback(handles, data, offsets):
        assert unragged(*pool.read(handles)) == unragged(data, offsets)
        pool.free(handles)

    before = snapshot(pool)
    with pytest.raises(zj.PoolError, match="writeback"):
        pool.reclaim(1, writeback)
    assert snapshot(pool) == before
    assert pool.reclaim(1, lambda *a: None).pages_freed == 1      # usable again afterwards


@pytest.mark.parametrize("n_pages", [2**63, np.uint64(2**63), 2**64])
def test_huge_page_counts_mean_all_pages(pool, n_pages):
    assert pool.reclaim(n_pages, lambda *a: None).pages_freed == 3
