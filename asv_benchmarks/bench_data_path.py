"""The data path: ragged ``Pool.write`` and ``Pool.read`` of whole batches, against NumPy copying
the same number of bytes contiguously.

time_ suites (pool size x size distribution, one object per page, handles in allocation order):

- ``WriteRead.time_write``: overwrite every object (the pool was filled with ``store``).
- ``WriteRead.time_read``: read every object back into a new array.
- ``WriteRead.time_read_into``: the same into a buffer already in memory (``read(out=)``).
- ``NumpyCopy.time_numpy_copy``: ``np.copyto`` of the same bytes into a buffer already in memory,
  the yardstick.

2**22 pages is skipped here: its payload would be 5-8 GiB per process.

Goals (``Ratios``; 1M-page pool, 1.5M compressed-page-like objects, 1.7 GB; best of N of each,
interleaved in one process):

===============================================  =========
ragged write throughput / numpy copy throughput  >= 0.5
ragged read throughput / numpy copy throughput   >= 0.5
(the same, read(out=) into a reused buffer)      >= 0.5
===============================================  =========

A read into a new array pays for touching fresh memory (page faults and the kernel's zeroing),
which costs more than the copy on this VM; the yardstick copies into memory already mapped, so
``read(out=)`` is the like-for-like comparison and the new-array read is tracked beside it.
"""

import functools
import inspect

import numpy as np

import zbudjit as zj

from .common import (PAGES, PARAM_NAMES, RATIO_OBJECTS, RATIO_PAGES, SIZE_KINDS, object_sizes,
                     offsets_of, payload, requires, seconds, touched, warm_up)

LARGEST_PAGES = 2**19


@functools.lru_cache(maxsize=1)
def _batch(kind, objects):
    """The ragged batch ``(data, offsets)`` of ``objects`` objects of distribution ``kind``."""
    offsets = offsets_of(object_sizes(kind, objects))
    return payload(offsets[-1]), offsets


@functools.lru_cache(maxsize=1)
def _stored(pages, kind, objects):
    """A pool of ``pages`` pages holding the batch, and its handles. ``write`` rewrites the same
    bytes and ``read`` changes nothing, so one pool serves every timed call of a process."""
    data, offsets = _batch(kind, objects)
    pool = zj.Pool(pages=pages)
    return pool, pool.store(data, offsets)


class WriteRead:
    """Ragged write and read of every object of a pool."""

    params = [PAGES, SIZE_KINDS]
    param_names = PARAM_NAMES
    repeat = (3, 10, 20.0)
    timeout = 300

    def setup(self, pages, kind):
        if pages > LARGEST_PAGES:
            raise NotImplementedError("the payload of a 2**22-page pool is too large to copy here")
        requires("store")
        warm_up()
        self.data, self.offsets = _batch(kind, pages)
        self.pool, self.handles = _stored(pages, kind, pages)

    def time_write(self, pages, kind):
        self.pool.write(self.handles, self.data, self.offsets)

    def time_read(self, pages, kind):
        self.pool.read(self.handles)


class NumpyCopy:
    """The yardstick: ``np.copyto`` of ``WriteRead``'s bytes into memory already mapped."""

    params = [PAGES, SIZE_KINDS]
    param_names = PARAM_NAMES
    repeat = (3, 10, 20.0)
    timeout = 300

    def setup(self, pages, kind):
        if pages > LARGEST_PAGES:
            raise NotImplementedError("the payload of a 2**22-page pool is too large to copy here")
        self.data, _ = _batch(kind, pages)
        if getattr(self, "destination", None) is None or self.destination.size != self.data.size:
            self.destination = touched(self.data.size)

    def time_numpy_copy(self, pages, kind):
        np.copyto(self.destination, self.data)


class Ratios:
    """Throughput of the ragged write and read over NumPy's contiguous copy of the same bytes."""

    repeats = 3
    timeout = 600

    def setup(self):
        requires("store")
        warm_up()
        self.data, self.offsets = _batch("compressed", RATIO_OBJECTS)
        self.pool, self.handles = _stored(RATIO_PAGES, "compressed", RATIO_OBJECTS)
        self.destination = touched(self.data.size)

    def _versus_copy(self, operation):
        # zbudjit.bench.versus_copy, written here because these ratios also run on commits from
        # before zbudjit.bench existed
        best, best_copy = np.inf, np.inf
        for _ in range(self.repeats):
            best_copy = min(best_copy, seconds(np.copyto, self.destination, self.data))
            best = min(best, seconds(operation))
        return best_copy / best      # same bytes, so the throughput ratio is the inverse time ratio

    def track_write_vs_numpy_copy(self):
        return self._versus_copy(lambda: self.pool.write(self.handles, self.data, self.offsets))

    track_write_vs_numpy_copy.unit = "ratio"

    def track_read_vs_numpy_copy(self):
        return self._versus_copy(lambda: self.pool.read(self.handles))

    track_read_vs_numpy_copy.unit = "ratio"


def _requires_read_into():
    """Skip on commits whose ``Pool.read`` has no ``out=`` parameter."""
    if "out" not in inspect.signature(zj.Pool.read).parameters:
        raise NotImplementedError("Pool.read(out=) is not in this commit")


class ReadInto(WriteRead):
    """``read(out=)`` into a buffer already in memory."""

    def setup(self, pages, kind):
        _requires_read_into()
        super().setup(pages, kind)
        self.received = touched(self.data.size)

    def time_read_into(self, pages, kind):
        self.pool.read(self.handles, out=self.received)

    time_write = time_read = None      # timed by WriteRead


class RatiosReadInto(Ratios):
    """Throughput of ``read(out=)`` over NumPy's copy of the same bytes into the same kind of buffer."""

    def setup(self):
        _requires_read_into()
        super().setup()
        self.received = touched(self.data.size)

    def track_read_into_vs_numpy_copy(self):
        return self._versus_copy(lambda: self.pool.read(self.handles, out=self.received))

    track_read_into_vs_numpy_copy.unit = "ratio"
    track_write_vs_numpy_copy = track_read_vs_numpy_copy = None     # tracked by Ratios
