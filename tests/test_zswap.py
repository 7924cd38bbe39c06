"""The zswap frontend: round trips through pool, same-filled store and swap file; counters counted
independently; the pool limit after every store; rejects; replacement; bad input changes nothing."""

import numpy as np
import pytest
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import zbudjit as zj
from zbudjit import compressors
from zbudjit.frontends import zswap

PAGE = 4096


@pytest.fixture(scope="module")
def real_pages(installation_pages):
    return installation_pages


def special_pages(rng):
    """Same-filled pages, a near miss (one byte off), and incompressible pages."""
    zero = np.zeros(PAGE, np.uint8)
    pattern = np.tile(np.frombuffer(b"\xef\xbe\xad\xde\x01\x02\x03\x04", np.uint8), PAGE // 8)
    near = pattern.copy()
    near[-1] ^= 1
    noise = rng.integers(0, 256, (3, PAGE), dtype=np.uint8)
    return np.vstack([zero, pattern, near, noise])


def is_same_filled(page):
    return bytes(page) == bytes(page[:8]) * (len(page) // 8)


def object_size(compressor, page):
    """Header + compressed size of one page, compressed on its own (not in a batch)."""
    return int(object_sizes(compressor, page[None, :])[0])


def object_sizes(compressor, pages):
    """Header + compressed size of each page (a batch compresses each page as it would alone:
    test_compressors checks every object against the library's own one-page call)."""
    return np.diff(compressor.compress(pages, zswap.HEADER_BYTES)[1])


class ReclaimSpy:
    """Counts the pool's reclaims: each is one limit hit; evicted objects are pages written back."""

    def __init__(self, pool):
        self.calls, self.evicted, self.sizes = 0, 0, []
        original = pool.reclaim

        def reclaim(n_pages, writeback):
            self.calls += 1
            self.sizes.append((pool.pages_used, n_pages))
            result = original(n_pages, writeback)
            self.evicted += result.evicted.size
            return result
        pool.reclaim = reclaim


def make(pool_pages, limit_pages, compressor="zstd", **kwargs):
    pool = zj.Pool(pool_pages)
    front = zj.Zswap(pool, compressor=compressor, max_pool_percent=100, ram_pages=limit_pages, **kwargs)
    return pool, front


def test_same_filled_kernel_matches_reference(real_pages):
    pages = np.vstack([special_pages(np.random.default_rng(1)), real_pages[:200]])
    same, words = zswap.same_filled_words(pages.view(np.uint64))
    expected = [is_same_filled(p) for p in pages]
    assert same.tolist() == expected
    assert sum(expected) >= 2
    assert np.array_equal(words[same], pages.view(np.uint64)[same, 0])


@pytest.mark.parametrize("name", compressors.available())
def test_round_trip_through_pool_and_swap(name, real_pages):
    rng = np.random.default_rng(7)
    pages = np.vstack([real_pages, special_pages(rng)])
    n = len(pages)
    pool, front = make(2000, 120, compressor=name)
    spy = ReclaimSpy(pool)
    order = rng.permutation(n)
    for batch in np.array_split(order, 12):
        front.store(batch, pages[batch])
        assert pool.pages_used <= 120
        pool.check()
    stats = front.stats()
    assert stats.written_back_pages == spy.evicted
    assert spy.evicted > 0 or name == "none"      # "none" rejects every page that is not same-filled
    assert stats.pool_limit_hit == spy.calls
    same = [is_same_filled(p) for p in pages]
    poor = ~np.array(same) & (object_sizes(front.compressor, pages) > pool.max_size)
    assert stats.same_filled_pages == sum(same)
    assert stats.reject_compress_poor == sum(poor)
    assert stats.reject_alloc_fail == 0
    assert stats.stored_pages + stats.swap_pages == n
    assert stats.stored_pages == pool.objects + stats.same_filled_pages
    assert stats.compressed_bytes == pool.bytes_stored - zswap.HEADER_BYTES * pool.objects
    assert stats.pool_total_size == pool.pages_used * PAGE
    where = front.locations(np.arange(n))
    assert np.array_equal(where == zswap.SAME_FILLED, same)
    assert np.all(where[np.array(poor)] == zswap.SWAP)
    back = front.load(order)
    assert np.array_equal(back, pages[order])
    stats = front.stats()
    assert stats.loads_from_pool == np.count_nonzero(where == zswap.POOL)
    assert stats.loads_from_swap == np.count_nonzero(where == zswap.SWAP)
    assert stats.loads_from_same_filled == sum(same)
    front.close()


def test_writeback_goes_down_to_the_accept_threshold(real_pages):
    pool, front = make(1000, 200, accept_threshold_percent=80)
    spy = ReclaimSpy(pool)
    front.store(np.arange(len(real_pages)), real_pages)
    assert spy.calls > 0
    for used, n_pages in spy.sizes:
        assert used == 200 and n_pages == 200 - 160
    assert np.array_equal(front.load(np.arange(len(real_pages))), real_pages)


def test_replacing_and_repeating_ids(real_pages):
    pool, front = make(100, 100)
    front.store([5], real_pages[:1])
    outcome = front.store([5, 6, 5], real_pages[1:4])
    assert outcome.tolist() == [zswap.EMPTY, zswap.POOL, zswap.POOL]
    assert np.array_equal(front.load([5, 6]), real_pages[[3, 2]])
    stats = front.stats()
    assert stats.duplicate_entry == 2 and stats.stored_pages == 2 and pool.objects == 2
    pool.check()


def test_invalidate_and_unknown_ids(real_pages):
    rng = np.random.default_rng(3)
    pages = np.vstack([real_pages[:20], special_pages(rng)])
    pool, front = make(100, 100)
    front.store(np.arange(len(pages)), pages)
    before = (front.stats(), front.locations(np.arange(40)).copy(), pool.stats())
    with pytest.raises(KeyError, match="99"):
        front.load([0, 99])
    with pytest.raises(KeyError, match="99"):
        front.invalidate([1, 99])
    with pytest.raises(KeyError, match="more than once"):
        front.invalidate([1, 1])
    assert front.stats() == before[0] and pool.stats() == before[2]
    assert np.array_equal(front.locations(np.arange(40)), before[1])
    front.invalidate(np.arange(len(pages)))
    assert pool.objects == 0 and front.stats().stored_pages == 0 and front.stats().swap_pages == 0
    with pytest.raises(KeyError):
        front.load([0])


def test_bad_input_changes_nothing(real_pages):
    pool, front = make(100, 100)
    front.store([0, 1], real_pages[:2])
    before = front.stats()
    with pytest.raises(TypeError):
        front.store([2], real_pages[:1].astype(np.int16))
    with pytest.raises(ValueError, match="shape"):
        front.store([2, 3], real_pages[:1])
    with pytest.raises(ValueError, match="outside"):
        front.store([-1], real_pages[:1])
    with pytest.raises(ValueError, match="outside"):
        front.load([zswap.MAX_PAGE_ID])
    with pytest.raises(TypeError):
        front.store([2.5], real_pages[:1])
    assert front.stats() == before
    assert np.array_equal(front.load([0, 1]), real_pages[:2])


def test_constructor_checks():
    with pytest.raises(TypeError):
        zj.Zswap("pool")
    pool = zj.Pool(10)
    with pytest.raises(ValueError, match="compressor"):
        zj.Zswap(pool, compressor="brotli", ram_pages=10)
    with pytest.raises(ValueError, match="max_pool_percent"):
        zj.Zswap(pool, max_pool_percent=0, ram_pages=10)
    with pytest.raises(ValueError, match="no page"):
        zj.Zswap(pool, max_pool_percent=5, ram_pages=10)
    pool.alloc([10])
    with pytest.raises(ValueError, match="empty"):
        zj.Zswap(pool, ram_pages=10)


def test_pool_smaller_than_the_limit_rejects_allocations(real_pages):
    pool, front = make(40, 1000)
    outcome = front.store(np.arange(len(real_pages)), real_pages)
    stats = front.stats()
    same = np.array([is_same_filled(p) for p in real_pages])
    fits = object_sizes(front.compressor, real_pages) <= pool.max_size
    assert stats.reject_alloc_fail == np.count_nonzero((outcome == zswap.SWAP) & ~same & fits) > 0
    assert stats.written_back_pages == 0 and pool.pages_used <= 40
    assert np.array_equal(front.load(np.arange(len(real_pages))), real_pages)
    pool.check()


def test_named_swap_file_grows_and_stays(tmp_path, real_pages):
    path = tmp_path / "swap"
    pool, front = make(100, 4, swap_path=path)
    ids = np.arange(5000, 5000 + 300)
    front.store(ids, real_pages[:300])
    assert path.stat().st_size >= 300 * PAGE        # a slot for every page that may go there
    assert np.array_equal(front.load(ids), real_pages[:300])
    front.close()
    assert path.exists()
    with pytest.raises(ValueError, match="closed"):
        front.load(ids)


# Small ids and a few far apart, up to the largest (31..40 stay unknown)
STORED_IDS = st.one_of(st.integers(0, 30), st.sampled_from(
    [1 << 20, (1 << 31) + 5, zswap.MAX_PAGE_ID - 2, zswap.MAX_PAGE_ID - 1]))


class ZswapMachine(RuleBasedStateMachine):
    """Random stores, loads and invalidations against a dict of what was stored, with a pool limit
    small enough that writeback runs all the time."""

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(0)
        self.candidates = np.vstack([ZswapMachine.real[:60], special_pages(rng)])
        self.pool, self.front = make(50, 12)
        self.spy = ReclaimSpy(self.pool)
        self.model = {}
        self.expected = dict.fromkeys(("duplicate_entry", "reject_compress_poor", "loads_from_pool",
                                       "loads_from_swap", "loads_from_same_filled"), 0)

    def teardown(self):
        self.front.close()

    @rule(data=st.data(), n=st.integers(1, 12))
    def store(self, data, n):
        ids = data.draw(st.lists(STORED_IDS, min_size=n, max_size=n))
        which = data.draw(st.lists(st.integers(0, len(self.candidates) - 1), min_size=n, max_size=n))
        pages = self.candidates[which]
        last = {i: k for k, i in enumerate(ids)}
        self.expected["duplicate_entry"] += n - len(last) + sum(i in self.model for i in last)
        for i, k in last.items():
            page = pages[k]
            if not is_same_filled(page) and object_size(self.front.compressor, page) > self.pool.max_size:
                self.expected["reject_compress_poor"] += 1
            self.model[i] = page.copy()
        self.front.store(ids, pages)

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def load(self, data):
        ids = data.draw(st.lists(st.sampled_from(sorted(self.model)), min_size=1, max_size=10))
        where = self.front.locations(ids)
        for code, name in ((zswap.POOL, "loads_from_pool"), (zswap.SWAP, "loads_from_swap"),
                           (zswap.SAME_FILLED, "loads_from_same_filled")):
            self.expected[name] += int(np.count_nonzero(where == code))
        assert np.array_equal(self.front.load(ids), np.array([self.model[i] for i in ids]))

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def invalidate(self, data):
        ids = data.draw(st.lists(st.sampled_from(sorted(self.model)), min_size=1, max_size=5, unique=True))
        self.front.invalidate(ids)
        for i in ids:
            del self.model[i]

    @rule(i=st.integers(31, 40))
    def unknown(self, i):
        with pytest.raises(KeyError):
            self.front.load([i])

    @invariant()
    def consistent(self):
        self.pool.check()
        stats = self.front.stats()
        assert self.pool.pages_used <= 12
        for name, value in self.expected.items():
            assert getattr(stats, name) == value, name
        assert stats.written_back_pages == self.spy.evicted
        assert stats.pool_limit_hit == self.spy.calls
        assert stats.stored_pages + stats.swap_pages == len(self.model)
        assert stats.same_filled_pages == sum(is_same_filled(p) for p in self.model.values())
        assert stats.stored_pages == self.pool.objects + stats.same_filled_pages
        if self.model:
            ids = sorted(self.model)
            assert np.array_equal(self.front.load(ids), np.array([self.model[i] for i in ids]))
            for name in ("loads_from_pool", "loads_from_swap", "loads_from_same_filled"):
                self.expected[name] = getattr(self.front.stats(), name)


def test_zswap_against_a_dict(real_pages):
    ZswapMachine.real = real_pages
    run = ZswapMachine.TestCase
    run.settings = settings(max_examples=25, stateful_step_count=25, deadline=None)
    run().runTest()
