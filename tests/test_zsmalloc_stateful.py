"""zsmalloc: random sequences of batches on the Numba engine and on the plain-Python spec side by side.

After every step the pool's own audit runs, and the two must agree on every object's (pfn, offset),
the page count, the class statistics, the order of every fullness list and pages_compacted; every
written object must read back byte for byte (objects that straddle two pages of a zspage
included); a batch that fails must fail in both and leave the pool exactly as it was.
"""

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import zbudjit as zj
from zbudjit.policies.zsmalloc.spec import ZsmallocSpec
from helpers import ragged, snapshot, unragged

# (page_size, chain_size) pairs the machine runs on
ZSMALLOC_GEOMETRIES = [(4096, 8), (4096, 4), (16384, 16), (65536, 5)]


def outcome(call):
    try:
        return call(), None
    except (zj.PoolError, ValueError, TypeError) as error:
        return None, type(error)


def fullness_lists(pool):
    """The engine's fullness lists keyed as the spec keys them: (class index, group) -> pfns."""
    return pool._policy.fullness_lists(pool)


class ZsmallocMachine(RuleBasedStateMachine):
    page_size = 4096
    chain_size = 8
    pool_pages = 64

    def __init__(self):
        super().__init__()
        self.pool = zj.Pool(self.pool_pages, policy="zsmalloc", page_size=self.page_size,
                            chain_size=self.chain_size)
        self.spec = ZsmallocSpec(self.pool_pages, page_size=self.page_size, chain_size=self.chain_size)
        # a tiny handle table, so growing and putting back happen often
        self.pool._handles = self.pool._handles[:2].copy()
        self.pairs = {}        # engine handle -> spec handle
        self.contents = {}     # engine handle -> bytes written
        self.dead = []

    def few_objects_sizes(self):
        """Request sizes of the classes whose zspages hold 2 to 5 objects in at most 2 pages:
        a class soon has several zspages in different groups, which the fullest-first rule and
        compaction need."""
        table = zj.size_class_table(self.page_size, self.chain_size)
        small = table[(table["objs_per_zspage"] >= 2) & (table["objs_per_zspage"] <= 5)
                      & (table["pages_per_zspage"] <= 2)]
        return sorted(set((small["size"] - 8).tolist()))[:4]

    def sizes(self):
        page = self.page_size
        few = st.sampled_from(self.few_objects_sizes())
        return st.one_of(few, few, st.integers(1, page),
                         st.sampled_from([1, 24, 25, page // 2, page - 471, page - 472, page]))

    def expect_same_failure(self, engine_call, spec_call):
        before = snapshot_zs(self.pool)
        result, engine_error = outcome(engine_call)
        spec_result, spec_error = outcome(spec_call)
        assert engine_error == spec_error
        if engine_error is not None:
            assert snapshot_zs(self.pool) == before
        return result, spec_result, engine_error is not None

    @rule(data=st.data())
    def alloc(self, data):
        sizes = data.draw(st.lists(self.sizes(), max_size=12))
        if sizes and data.draw(st.integers(0, 9)) == 0:
            sizes[data.draw(st.integers(0, len(sizes) - 1))] = data.draw(
                st.sampled_from([0, -1, self.page_size + 1]))
        handles, spec_handles, failed = self.expect_same_failure(
            lambda: self.pool.alloc(sizes), lambda: self.spec.alloc(sizes))
        if not failed:
            self.pairs.update(zip(handles.tolist(), spec_handles))

    @rule(data=st.data())
    def alloc_one_class(self, data):
        """Many objects of one class with few objects a zspage, so that later frees leave a
        class with whole zspages of free slots: what zs_compact needs to move anything."""
        size = data.draw(st.sampled_from(self.few_objects_sizes()))
        sizes = [size] * data.draw(st.integers(4, 16))
        handles, spec_handles, failed = self.expect_same_failure(
            lambda: self.pool.alloc(sizes), lambda: self.spec.alloc(sizes))
        if not failed:
            self.pairs.update(zip(handles.tolist(), spec_handles))

    @rule(data=st.data())
    def store(self, data):
        blobs = [bytes(data.draw(st.binary(min_size=1, max_size=8)) * (size // 8 + 1))[:size]
                 for size in data.draw(st.lists(self.sizes(), max_size=6))]
        handles, spec_handles, failed = self.expect_same_failure(
            lambda: self.pool.store(*ragged(blobs)), lambda: self.spec.store(blobs))
        if not failed:
            self.pairs.update(zip(handles.tolist(), spec_handles))
            self.contents.update(zip(handles.tolist(), blobs))

    @rule(data=st.data())
    def free(self, data):
        live = sorted(self.pairs)
        chosen = data.draw(st.lists(st.sampled_from(live), unique=True, max_size=16)) if live else []
        if data.draw(st.integers(0, 5)) == 0:          # a stale, forged or repeated handle
            bad = data.draw(st.sampled_from(
                (self.dead or [0]) + [0, 2**64 - 1] + (chosen[:1] if chosen else [])))
            chosen = chosen + [bad]
        spec_chosen = [self.pairs.get(h, -1) for h in chosen]
        _, _, failed = self.expect_same_failure(
            lambda: self.pool.free(chosen), lambda: self.spec.free(spec_chosen))
        if not failed:
            for handle in chosen:
                del self.pairs[handle]
                self.contents.pop(handle, None)
                self.dead.append(handle)

    @rule(data=st.data())
    def free_every_other(self, data):
        """Free every other live object (in handle order, so across many zspages): half-empty
        zspages, which compaction merges."""
        chosen = sorted(self.pairs)[data.draw(st.integers(0, 1))::2]
        self.pool.free(chosen)
        self.spec.free([self.pairs[h] for h in chosen])
        for handle in chosen:
            del self.pairs[handle]
            self.contents.pop(handle, None)
            self.dead.append(handle)

    @rule(data=st.data())
    def write(self, data):
        live = sorted(self.pairs)
        if not live:
            return
        chosen = data.draw(st.lists(st.sampled_from(live), min_size=1, max_size=5))
        sizes = self.pool.sizes(chosen).tolist()
        blobs = [bytes(data.draw(st.integers(0, 255)) for _ in range(min(size, 3))) * (size // 3 + 1)
                 for size in sizes]
        blobs = [blob[:size] for blob, size in zip(blobs, sizes)]
        self.pool.write(chosen, *ragged(blobs))
        self.spec.write([self.pairs[h] for h in chosen], blobs)
        for handle, blob in zip(chosen, blobs):
            self.contents[handle] = blob

    @rule()
    def compact(self):
        result = self.pool.compact()
        assert result.pages_freed == self.spec.compact()
        assert len(set(result.moved.tolist())) == result.objects_moved

    @invariant()
    def agree(self):
        pool, spec = self.pool, self.spec
        pool.check()
        assert pool.pages_used == spec.pages_used
        assert pool.objects == spec.objects == len(self.pairs)
        assert pool.bytes_stored == spec.bytes_stored
        assert pool.stats().pages_compacted == spec.pages_compacted
        assert fullness_lists(pool) == spec.fullness_lists()
        assert pool.class_stats().tolist() == spec.class_stats().tolist()
        if self.pairs:
            engine = np.array(list(self.pairs), np.uint64)
            pfns, offsets = pool.locate(engine)
            assert list(zip(pfns.tolist(), offsets.tolist())) == spec.locate(list(self.pairs.values()))
        if self.contents:
            handles = list(self.contents)
            assert unragged(*pool.read(handles)) == [self.contents[h] for h in handles]


def snapshot_zs(pool):
    """snapshot() without the LRU (zsmalloc has none), plus the fullness lists and class stats."""
    view = snapshot(pool, lru=False)
    view["lists"] = fullness_lists(pool)
    view["classes"] = pool.class_stats().tolist()
    return view


@pytest.mark.parametrize("page_size, chain_size", ZSMALLOC_GEOMETRIES)
def test_engine_matches_spec(page_size, chain_size):
    machine = type(f"Zsmalloc{page_size}x{chain_size}", (ZsmallocMachine,),
                   {"page_size": page_size, "chain_size": chain_size})
    machine.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
    machine.TestCase().runTest()
