"""Allocation and free: batched ``Pool.alloc``, ``Pool.free`` in random order, and ``alloc`` again
into the holes those frees left; the Python cost of a one-object call; the plain-Python reference.

time_ suites (pool size x size distribution, one object per page of the pool):

- ``Alloc.time_alloc``: fill an empty pool in one batch.
- ``FreeRandomOrder.time_free``: free every object of a filled pool, in random order.
- ``ReallocAfterFree.time_realloc``: free a random half, then allocate as many new objects.
- ``CallOverhead.time_alloc_free_one``: a one-object ``alloc`` + ``free`` pair on a filled pool.

Goals (``Ratios``, ``SpecVsEngine``; each ratio measured in one process, best of N against best
of N of its yardstick, so it is stable on a noisy machine), on a 1M-page pool (2**20 pages)
filled with 1.5M objects sized like compressed pages:

==================================================  =========
alloc (1.5M objects) / memory floor                 <= 2
free in random order (1.5M) / memory floor          <= 2
re-alloc (free a random 750k, alloc 750k) / floor   <= 2
one-object alloc+free / 2 bare Numba dispatches     <= 10
reference ZbudSpec / engine, alloc + random free    >= 300
(200k objects on a 2**18-page pool)
==================================================  =========

The memory floor (``floor.py``) is, per op, one random 8-byte read of a table with one uint64 per
handle slot plus one random read-modify-write of a 24-byte record in a table with one record per
page, for the same number of ops. The bare dispatch is a call of a trivial ``@njit`` function
taking one 1-D array (until the zsmalloc work it took ten, and the ratio was
``track_alloc_free_one_vs_dispatch``). Both, and the helpers that time an operation against
them, live in ``zbudjit.bench`` (``floor.py`` re-exports them), shared with the ``zbudjit bench``
command.
"""

import functools

import numpy as np

import zbudjit as zj

from . import floor
from .common import (PAGES, PARAM_NAMES, RATIO_OBJECTS, RATIO_PAGES, SIZE_KINDS, filled_pool,
                     object_sizes, permutation, warm_up)


class Alloc:
    """Fill an empty pool: one batch of ``pages`` objects."""

    params = [PAGES, SIZE_KINDS]
    param_names = PARAM_NAMES
    number = 1                 # alloc mutates the pool: every timed call gets a new empty pool
    repeat = (3, 10, 20.0)
    timeout = 300

    def setup(self, pages, kind):
        warm_up()
        self.sizes = object_sizes(kind, pages)
        self.pool = zj.Pool(pages=pages)

    def teardown(self, pages, kind):
        self.pool = None       # also reached after a skipped setup

    def time_alloc(self, pages, kind):
        self.pool.alloc(self.sizes)


class FreeRandomOrder:
    """Free all ``pages`` objects of a filled pool in one batch, in random order."""

    params = [PAGES, SIZE_KINDS]
    param_names = PARAM_NAMES
    number = 1
    repeat = (3, 10, 20.0)
    timeout = 300

    def setup(self, pages, kind):
        warm_up()
        self.pool, handles = filled_pool(pages, object_sizes(kind, pages))
        self.victims = handles[permutation(handles.size)]

    def teardown(self, pages, kind):
        self.pool = None       # also reached after a skipped setup

    def time_free(self, pages, kind):
        self.pool.free(self.victims)


class ReallocAfterFree:
    """Free a random half of a filled pool's objects, then allocate as many new objects (timed)."""

    params = [PAGES, SIZE_KINDS]
    param_names = PARAM_NAMES
    number = 1
    repeat = (3, 10, 20.0)
    timeout = 300

    def setup(self, pages, kind):
        warm_up()
        self.pool, handles = filled_pool(pages, object_sizes(kind, pages))
        self.pool.free(handles[permutation(handles.size)[:handles.size // 2]])
        self.refill = object_sizes(kind, handles.size // 2, seed=1)

    def teardown(self, pages, kind):
        self.pool = None       # also reached after a skipped setup

    def time_realloc(self, pages, kind):
        self.pool.alloc(self.refill)


_filled_pools = {}


class CallOverhead:
    """One-object ``alloc`` then ``free`` of the same handle: the fixed Python + dispatch cost of a
    call. The pair leaves the pool as it found it, so one filled pool serves every call."""

    params = [PAGES]
    param_names = ["pages"]
    number = 200
    repeat = (3, 10, 10.0)

    def setup(self, pages):
        warm_up()
        if pages not in _filled_pools:
            _filled_pools[pages] = filled_pool(pages, object_sizes("compressed", pages),
                                               settle=True)[0]
        self.pool = _filled_pools[pages]
        self.one = np.array([700], np.int64)

    def time_alloc_free_one(self, pages):
        self.pool.free(self.pool.alloc(self.one))


class Ratios:
    """The engine against the memory floor and against bare Numba dispatch (module docstring)."""

    repeats = 5
    timeout = 600

    def setup(self):
        floor.require()
        warm_up()
        self.sizes = object_sizes("compressed", RATIO_OBJECTS)
        self.order = permutation(RATIO_OBJECTS)
        self.refill = object_sizes("compressed", RATIO_OBJECTS // 2, seed=1)

    @functools.cached_property
    def yardstick(self):
        """The floor's tables (about 60 MB), built only for the ratios that use them."""
        return floor.MemoryFloor(RATIO_OBJECTS, RATIO_PAGES, RATIO_OBJECTS)

    def _versus_floor(self, prepare, operation, ops):
        """Best-of-N of ``operation(prepare())`` over best-of-N of the floor for ``ops`` ops,
        the two interleaved so that a slow spell of the machine hits both."""
        best, best_floor = floor.versus_floor(self.yardstick, prepare, operation, ops, self.repeats)
        return best / best_floor

    def track_alloc_vs_floor(self):
        return self._versus_floor(
            lambda: zj.Pool(pages=RATIO_PAGES),
            lambda pool: pool.alloc(self.sizes),
            RATIO_OBJECTS)

    track_alloc_vs_floor.unit = "ratio"

    def _filled(self):
        pool, handles = filled_pool(RATIO_PAGES, self.sizes)
        return pool, handles[self.order]

    def track_free_random_vs_floor(self):
        return self._versus_floor(
            self._filled,
            lambda state: state[0].free(state[1]),
            RATIO_OBJECTS)

    track_free_random_vs_floor.unit = "ratio"

    def _half_freed(self):
        pool, handles = self._filled()
        pool.free(handles[:RATIO_OBJECTS // 2])      # handles are already in random order
        return pool

    def track_realloc_vs_floor(self):
        return self._versus_floor(
            self._half_freed,
            lambda pool: pool.alloc(self.refill),
            RATIO_OBJECTS // 2)

    track_realloc_vs_floor.unit = "ratio"

    def track_alloc_free_one_vs_bare_dispatch(self):
        """A one-object alloc+free pair over two calls of a trivial one-array @njit function."""
        if len(floor.dispatch_arguments()) != 1:
            # commits whose yardstick took ten arrays measured another ratio (under another name)
            raise NotImplementedError("this commit's dispatch yardstick is not the one-array one")
        pool, _ = filled_pool(RATIO_PAGES, self.sizes)      # one_object_vs_dispatch settles it
        pair, dispatches = floor.one_object_vs_dispatch(pool, calls=2000, rounds=2 * self.repeats,
                                                        size=700)
        return pair / dispatches

    track_alloc_free_one_vs_bare_dispatch.unit = "ratio"


class SpecVsEngine:
    """The plain-Python reference ``ZbudSpec`` over the engine, for one batched alloc of 200k
    compressed-page-like objects on a 2**18-page pool and a free of all of them in random order.
    Goal: >= 300."""

    pages = 2**18
    objects = 200_000
    timeout = 600

    def setup(self):
        floor.require()
        warm_up()
        self.sizes = object_sizes("compressed", self.objects)
        self.order = permutation(self.objects)

    def track_spec_vs_engine(self):
        engine = floor.engine_alloc_free_seconds(self.pages, self.sizes, self.order, 5)
        spec = floor.spec_alloc_free_seconds(self.pages, self.sizes, self.order, 2)
        return spec / engine

    track_spec_vs_engine.unit = "ratio"
