"""Compaction: ``Pool.compact`` of a pool fragmented by freeing a random half of its objects
(planning the moves, copying the bytes, re-filing pages, releasing the emptied ones).

time_ suites (pool size x size distribution; one object per page, then a random half freed):

- ``Compact.time_compact``: compact fully.
- ``Compact.time_compact_1mib``: one incremental step, ``max_bytes=1 MiB``.

Live objects' bytes are written before the timed call, so moves copy resident memory. 2**22
pages is skipped: each sample would have to rebuild a multi-GiB pool.

Goal (``Ratios``): compacting a 1M-page pool (2**20 pages) that held 1.5M compressed-page-like
objects and was fragmented to 50% live objects takes <= 0.5 s (best of N, one process).
"""

import numpy as np

from .common import (PAGES, PARAM_NAMES, RATIO_OBJECTS, RATIO_PAGES, SIZE_KINDS, filled_pool,
                     object_sizes, offsets_of, payload, permutation, requires, seconds, warm_up)

LARGEST_PAGES = 2**19


def fragmented_pool(pages, sizes):
    """A pool filled with ``sizes``, a random half freed, the surviving objects' bytes written."""
    pool, handles = filled_pool(pages, sizes)
    order = permutation(handles.size)
    pool.free(handles[order[:handles.size // 2]])
    live = np.sort(order[handles.size // 2:])
    offsets = offsets_of(sizes[live])
    pool.write(handles[live], payload(offsets[-1]), offsets)
    return pool


class Compact:
    """Full and incremental compaction of a half-freed pool."""

    params = [PAGES, SIZE_KINDS]
    param_names = PARAM_NAMES
    number = 1                 # compaction is one-way: every timed call gets a new fragmented pool
    repeat = (2, 6, 30.0)
    timeout = 600

    def setup(self, pages, kind):
        if pages > LARGEST_PAGES:
            raise NotImplementedError("rebuilding a 2**22-page pool per sample is too slow")
        requires("compact")
        warm_up()
        self.pool = fragmented_pool(pages, object_sizes(kind, pages))

    def teardown(self, pages, kind):
        self.pool = None       # also reached after a skipped setup

    def time_compact(self, pages, kind):
        self.pool.compact()

    def time_compact_1mib(self, pages, kind):
        self.pool.compact(max_bytes=1 << 20)


class Ratios:
    """Seconds to compact the 1M-page pool of the goal (best of N)."""

    repeats = 3
    timeout = 900

    def setup(self):
        requires("compact")
        warm_up()
        self.sizes = object_sizes("compressed", RATIO_OBJECTS)

    def track_compact_1m_seconds(self):
        best = np.inf
        for _ in range(self.repeats):
            pool = fragmented_pool(RATIO_PAGES, self.sizes)
            best = min(best, seconds(pool.compact))
            del pool
        return best

    track_compact_1m_seconds.unit = "seconds"
