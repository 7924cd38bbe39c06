"""The zbud policy: at most two buddies a page, exactly as Linux's mm/zbud.c (``kernels.py``),
compaction to the optimum zbud's rule allows (``compaction.py``) and the plain-Python
specification (``spec.py``)."""

import numpy as np

from ...engine import datapath
from ...engine import tables as t
from ...errors import CorruptionError
from .. import NO_NEXT_PAGES, Policy
from . import compaction, kernels


class ZbudPolicy(Policy):
    """zbud: the tables of ``kernels.py`` (24-byte page records, unbuddied stacks, an LRU log)."""

    name = "zbud"
    options = {"reserve_header_chunk": False}
    page_tables = ("_pages",)

    def check_options(self, page_size, options):
        return {"reserve_header_chunk": bool(options["reserve_header_chunk"])}

    def build(self, pool, pages):
        pool._geometry = kernels.new_geometry(pages, pool.page_size, pool.reserve_header_chunk)
        pool._pages = kernels.new_page_table(pages)
        pool._stack_heads = np.full(kernels.CHUNKS_PER_PAGE, -1, np.int64)

    def alloc(self, pool, sizes, data, offsets, out):
        return kernels.alloc_kernel(
            pool._geometry, pool._pages, pool._handles, pool._free_slots, pool._blocks,
            pool._stack_heads, pool._lru_log, pool._counters, pool._arena, sizes, data, offsets,
            out)

    def free(self, pool, handles):
        return kernels.free_kernel(pool._geometry, pool._pages, pool._handles, pool._free_slots,
                                   pool._blocks, pool._stack_heads, pool._counters, handles)

    def kernel_state(self, pool):
        return (pool._geometry, pool._pages, pool._handles, pool._free_slots, pool._blocks,
                pool._stack_heads, pool._lru_log, pool._counters, pool._arena)

    def room(self, operation, n):
        # An element pushes only a new page onto a stack (a page taken from a list ends
        # buddied), and an undo re-files only pages taken from lists: n pushes in all.
        return (n, n, n) if operation == "alloc" else (0, n, 0)

    def reclaim(self, pool, n_pages, writeback):
        n_pages = min(n_pages, pool.pages_used)
        victims, handles = kernels.reclaim_victims(
            pool._pages, pool._handles, pool._lru_log, pool._counters, n_pages)
        if handles.size == 0:
            return 0, handles
        _, _, data, offsets = datapath.read_kernel(
            pool._handles, pool._counters, pool._arena, NO_NEXT_PAGES, pool._geometry[t.G_PAGE_SHIFT],
            handles, None)
        written = writeback(handles, data, offsets)
        pool._reserve(0, victims.size, victims.size)
        released = kernels.reclaim_kernel(
            pool._geometry, pool._pages, pool._handles, pool._free_slots, pool._blocks,
            pool._stack_heads, pool._lru_log, pool._counters, victims, written)
        return int(released), handles[written]

    def lru_order(self, pool):
        return t.lru_order(pool._pages, pool._lru_log, pool._counters)

    def new_pages_bound(self, pool, sizes):
        # An object of at most half the usable chunks opens a new page only when every page such
        # objects opened before has a buddy (it would fit beside a lone one), and each buddy is
        # an object that opened none; the others may open a page each. So of n objects, b of
        # them larger than half, at most (n + b + 1) // 2 open pages.
        chunk_shift = int(pool._geometry[t.G_CHUNK_SHIFT])
        chunks = (sizes + (1 << chunk_shift) - 1) >> chunk_shift
        larger = int(np.count_nonzero(chunks > int(pool._geometry[t.G_USABLE_CHUNKS]) // 2))
        return (sizes.size + larger + 1) // 2

    def compact(self, pool, max_bytes):
        status, slots, pfns, sides = compaction.compaction_plan(
            pool._geometry, pool._pages, pool._handles, pool._counters, max_bytes)
        if status != compaction.PLAN_OK:
            raise CorruptionError("compaction found the page and handle tables inconsistent")
        pool._reserve(0, 2 * slots.size, 0)
        freed, bytes_moved, moved = compaction.apply_moves(
            pool._geometry, pool._pages, pool._handles, pool._blocks, pool._stack_heads,
            pool._counters, pool._arena, slots, pfns, sides)
        if freed < 0:
            raise CorruptionError("a compaction destination is held by an object that is not moving")
        return int(freed), int(slots.size), int(bytes_moved), moved

    def check(self, pool):
        finding, index = kernels.check_kernel(
            pool._geometry, pool._pages, pool._handles, pool._free_slots, pool._blocks,
            pool._stack_heads, pool._lru_log, pool._counters)
        return kernels.CHECK_MESSAGES[finding].format(index) if finding else None

    def stats(self, pool):
        usable = int(pool._geometry[t.G_USABLE_CHUNKS])
        histogram = kernels.free_chunks_histogram(pool._pages, pool._lru_log, pool._counters, usable)
        chunk = 1 << int(pool._geometry[t.G_CHUNK_SHIFT])
        return {"bytes_allocated": int(pool._counters[t.C_CHUNKS_USED]) * chunk,
                "free_chunks_histogram": tuple(int(x) for x in histogram),
                "page_table_bytes": pool._pages.nbytes, "table_bytes": 0}

    def next_pages(self, pool):
        return NO_NEXT_PAGES
