"""Random sequences of batches, run on the Numba engine and on the plain-Python spec side by side.

After every step the pool's own audit runs and the two must agree on partition, sides, page count,
LRU order and totals; every written object must read back byte for byte; a batch that fails must
fail in both and leave the pool exactly as it was.
"""

import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import zbudjit as zj
from zbudjit.engine import tables as t
from helpers import (GEOMETRIES, assert_same_as_spec, fewest_pages, make_pair, ragged, snapshot,
                     unragged)
from zbudjit.policies.zbud.spec import FIRST, LAST

POOL_PAGES = 12


class WritebackFailed(Exception):
    """What the tests' writeback callbacks raise when told to fail."""


def outcome(call):
    """(result, exception type) of a call, so engine and spec failures can be compared."""
    try:
        return call(), None
    except (zj.PoolError, ValueError, TypeError, WritebackFailed) as error:
        return None, type(error)


class ZbudMachine(RuleBasedStateMachine):
    page_size = 4096
    reserve_header_chunk = False

    def __init__(self):
        super().__init__()
        self.pool, self.spec = make_pair(POOL_PAGES, self.page_size, self.reserve_header_chunk)
        # start with tiny growable tables, so growing them, rebuilding the stacks and squeezing
        # the LRU log happen all the time (put back too, when a batch fails)
        self.pool._handles = self.pool._handles[:2].copy()
        self.pool._blocks = self.pool._blocks[:2 * t.BLOCK_WORDS].copy()
        self.pool._lru_log = self.pool._lru_log[:3].copy()
        self.max_size = self.pool.max_size
        self.pairs = {}        # engine handle -> spec handle
        self.contents = {}     # engine handle -> bytes written (objects never written are absent)
        self.dead = []         # freed engine handles
        self.compacted = 0     # pages released by compaction so far

    def sizes(self):
        chunk = self.pool.chunk_size
        return st.one_of(
            st.integers(1, self.max_size),
            st.integers(1, 2 * chunk),
            st.integers(self.max_size - 2 * chunk, self.max_size),
            st.sampled_from([chunk, self.max_size // 2, self.max_size]),
        )

    def expect_same_failure(self, engine_call, spec_call):
        """Run both; they must fail alike, and a failing engine call must change nothing.

        Returns (engine result, spec result, failed).
        """
        before = snapshot(self.pool)
        result, engine_error = outcome(engine_call)
        spec_result, spec_error = outcome(spec_call)
        assert engine_error == spec_error
        if engine_error is not None:
            assert snapshot(self.pool) == before
        return result, spec_result, engine_error is not None

    @rule(data=st.data())
    def alloc(self, data):
        sizes = data.draw(st.lists(self.sizes(), max_size=10))
        if sizes and data.draw(st.integers(0, 9)) == 0:
            sizes[data.draw(st.integers(0, len(sizes) - 1))] = data.draw(
                st.sampled_from([0, -1, self.max_size + 1, 2**40]))
        handles, spec_handles, failed = self.expect_same_failure(
            lambda: self.pool.alloc(sizes), lambda: self.spec.alloc(sizes))
        if not failed:
            assert handles.dtype == np.uint64 and (handles != 0).all()
            self.pairs.update(zip(handles.tolist(), spec_handles))

    @rule(data=st.data())
    def store(self, data):
        sizes = data.draw(st.lists(self.sizes(), max_size=6))
        seed = data.draw(st.integers(0, 2**32))
        chunks = [np.random.default_rng(seed + i).integers(0, 256, s, dtype=np.uint8).tobytes()
                  for i, s in enumerate(sizes)]
        payload, offsets = ragged(chunks)
        handles, spec_handles, failed = self.expect_same_failure(
            lambda: self.pool.store(payload, offsets), lambda: self.spec.store(chunks))
        if not failed:
            self.pairs.update(zip(handles.tolist(), spec_handles))
            self.contents.update(zip(handles.tolist(), chunks))

    @precondition(lambda self: self.pairs)
    @rule(data=st.data())
    def free(self, data):
        live = list(self.pairs)
        batch = data.draw(st.lists(st.sampled_from(live), unique=True, max_size=len(live)))
        spec_batch = [self.pairs[h] for h in batch]
        trouble = data.draw(st.integers(0, 5))
        bad = None
        if trouble == 0 and batch:                     # repeated in one batch
            bad = batch[0]
        elif trouble == 1 and self.dead:               # freed before (its slot may be reused)
            bad = data.draw(st.sampled_from(self.dead))
        elif trouble == 2:                             # forged
            bad = data.draw(st.integers(0, 2**64 - 1).filter(lambda h: h not in self.pairs))
        if bad is not None:
            batch.insert(data.draw(st.integers(0, len(batch))), bad)
            spec_batch.append(spec_batch[0] if trouble == 0 else -1)
        _, _, failed = self.expect_same_failure(lambda: self.pool.free(batch),
                                                lambda: self.spec.free(spec_batch))
        assert failed == (bad is not None)
        if not failed:
            for handle in batch:
                del self.pairs[handle]
                self.contents.pop(handle, None)
                self.dead.append(handle)

    @precondition(lambda self: self.pairs)
    @rule(data=st.data())
    def write(self, data):
        batch = data.draw(st.lists(st.sampled_from(list(self.pairs)), min_size=1, max_size=6))
        seed = data.draw(st.integers(0, 2**32))
        chunks = [np.random.default_rng(seed + i).integers(0, 256, int(s), dtype=np.uint8).tobytes()
                  for i, s in enumerate(self.pool.sizes(batch))]
        if data.draw(st.integers(0, 7)) == 0:
            chunks[-1] += b"x"                             # wrong length: nothing is written
        payload, offsets = ragged(chunks)
        _, _, failed = self.expect_same_failure(
            lambda: self.pool.write(batch, payload, offsets),
            lambda: self.spec.write([self.pairs[h] for h in batch], chunks))
        if not failed:
            self.contents.update(zip(batch, chunks))

    @rule(data=st.data())
    def reclaim(self, data):
        n_pages = data.draw(st.integers(-1, POOL_PAGES + 2))
        mode = data.draw(st.sampled_from(["decide", "decide", "all", "raise", "wrong shape"]))
        decisions = data.draw(st.lists(st.booleans(), min_size=2 * POOL_PAGES, max_size=2 * POOL_PAGES))
        offered = {}

        def answer(count):
            if mode == "raise":
                raise WritebackFailed("swap device full")
            if mode == "all":
                return None
            return decisions[:count + (mode == "wrong shape")]

        def engine_writeback(handles, payload, offsets):
            offered["engine"] = (handles.tolist(), unragged(payload, offsets))
            result = answer(len(handles))
            return None if result is None else np.array(result, np.bool_)

        def spec_writeback(handles, datas):
            offered["spec"] = handles
            return answer(len(handles))

        result, spec_result, failed = self.expect_same_failure(
            lambda: self.pool.reclaim(n_pages, engine_writeback),
            lambda: self.spec.reclaim(n_pages, spec_writeback))
        if "engine" in offered:
            handles, datas = offered["engine"]
            assert [self.pairs[h] for h in handles] == offered["spec"]
            assert all(datas[i] == self.contents[h] for i, h in enumerate(handles) if h in self.contents)
        if not failed:
            released, spec_evicted = spec_result
            assert result.pages_freed == released
            assert result.evicted.dtype == np.uint64
            assert [self.pairs[h] for h in result.evicted.tolist()] == spec_evicted
            for handle in result.evicted.tolist():
                del self.pairs[handle]
                self.contents.pop(handle, None)
                self.dead.append(handle)

    @rule(data=st.data())
    def compact(self, data):
        budget = data.draw(st.one_of(st.none(), st.integers(0, 3 * self.max_size)))
        pages_before = self.pool.stats().pages_used
        result = self.pool.compact(budget)
        moved = result.moved.tolist()
        assert result.objects_moved == len(moved) == len(set(moved))
        assert result.bytes_moved == int(self.pool.sizes(moved).sum())
        pfns, offsets = self.pool.locate(moved)
        moves = [(self.pairs[h], int(pfn), FIRST if offset == self.spec.first_offset else LAST)
                 for h, pfn, offset in zip(moved, pfns, offsets)]
        assert self.spec.apply_moves(moves) == result.pages_freed
        self.compacted += result.pages_freed
        stats = self.pool.stats()
        assert stats.pages_used == pages_before - result.pages_freed
        assert stats.pages_compacted == self.compacted
        if budget is None:
            assert stats.pages_used == fewest_pages(self.pool.sizes(self.pool.handles()),
                                                    self.pool.chunk_size, self.pool.usable_chunks)
            assert self.pool.compact().objects_moved == 0
        else:
            assert result.bytes_moved <= budget

    @invariant()
    def agrees_with_spec(self):
        assert_same_as_spec(self.pool, self.spec, self.pairs)

    @invariant()
    def bytes_round_trip(self):
        if self.contents:
            handles = list(self.contents)
            data, offsets = self.pool.read(handles)
            assert offsets[-1] == data.size
            for i, handle in enumerate(handles):
                assert bytes(data[offsets[i]:offsets[i + 1]]) == self.contents[handle]


@pytest.mark.parametrize("page_size, reserve_header_chunk", GEOMETRIES)
def test_engine_matches_spec(page_size, reserve_header_chunk):
    machine = type(f"Zbud{page_size}{reserve_header_chunk}", (ZbudMachine,),
                   {"page_size": page_size, "reserve_header_chunk": reserve_header_chunk})
    from hypothesis.stateful import run_state_machine_as_test
    run_state_machine_as_test(machine)
