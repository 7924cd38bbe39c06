"""Reclaim: ``Pool.reclaim`` of the least recently used pages of a filled pool (victim selection
from the LRU log, one batched read of the victims' objects, the writeback callback, eviction).

time_ suites (pool size x size distribution, one object per page), each reclaiming a fixed
``VICTIM_PAGES`` pages, so that the time should not grow with the pool:

- ``Reclaim.time_reclaim_all``: ``writeback`` takes every object (returns None); every victim
  page is released.
- ``Reclaim.time_reclaim_keep_half``: ``writeback`` refuses every other object (returns a bool
  array); pages that keep an object go back to the LRU head.

The pool is settled after the fill (see ``common.filled_pool``), so the timed call does not pay
the one-time growth of the tables a large batch leaves full. Only the victims' bytes are
written before the timed call (the rest of the arena stays
untouched), so reclaim reads resident memory without the setup paying for the whole payload.

Goal: no fixed ratio yet; the time per reclaimed page should not depend on the pool's size.
"""

import numpy as np

from .common import (PAGES, PARAM_NAMES, SIZE_KINDS, filled_pool, object_sizes, offsets_of,
                     payload, requires, warm_up)

VICTIM_PAGES = 4096


def _keep_every_other(handles, data, offsets):
    written = np.ones(handles.size, np.bool_)
    written[1::2] = False
    return written


def _take_all(handles, data, offsets):
    return None


class Reclaim:
    """Reclaim ``VICTIM_PAGES`` LRU-tail pages of a pool filled with one object per page."""

    params = [PAGES, SIZE_KINDS]
    param_names = PARAM_NAMES
    number = 1                 # reclaim evicts: every timed call gets a newly filled pool
    repeat = (3, 10, 20.0)
    timeout = 300

    def setup(self, pages, kind):
        requires("reclaim", "lru_order", "locate", "sizes")
        warm_up()
        self.pool, handles = filled_pool(pages, object_sizes(kind, pages), settle=True)
        victims = self.pool.lru_order()[-VICTIM_PAGES:]
        on_victim = np.zeros(pages, np.bool_)
        on_victim[victims] = True
        pfns, _ = self.pool.locate(handles)
        victim_handles = handles[on_victim[pfns]]
        offsets = offsets_of(self.pool.sizes(victim_handles))
        self.pool.write(victim_handles, payload(offsets[-1]), offsets)

    def teardown(self, pages, kind):
        self.pool = None       # also reached after a skipped setup

    def time_reclaim_all(self, pages, kind):
        self.pool.reclaim(VICTIM_PAGES, _take_all)

    def time_reclaim_keep_half(self, pages, kind):
        self.pool.reclaim(VICTIM_PAGES, _keep_every_other)
