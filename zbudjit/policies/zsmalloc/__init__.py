"""The zsmalloc policy, as Linux 6.18 runs it: the class table (``classes.py``), the kernels and
their audit (``kernels.py``), zs_compact (``compaction.py``) and the plain-Python specification
(``spec.py``)."""

import numpy as np

from ...engine import tables as t
from ...errors import PoolError
from .. import Policy
from . import classes, compaction, kernels

NO_LRU = ("zsmalloc keeps no LRU in Linux 6.18 (zswap keeps its own), so a zsmalloc pool has "
          "neither reclaim() nor lru_order()")


def class_table(page_size, chain_size):
    """:func:`classes.size_class_table` as the plain int64 rows the kernels index (K_* columns),
    with the counts (N_* columns) at zero."""
    table = classes.size_class_table(page_size, chain_size)
    rows = np.zeros((table.size, kernels.CLASS_COLUMNS), np.int64)
    for column, field in ((kernels.K_SIZE, "size"), (kernels.K_PAGES, "pages_per_zspage"),
                          (kernels.K_OBJS, "objs_per_zspage"), (kernels.K_CLASS, "class_index")):
        rows[:, column] = table[field]
    return rows


class ZsmallocPolicy(Policy):
    """zsmalloc: size classes of zspages, fullness groups, zs_compact (see ``kernels.py``)."""

    name = "zsmalloc"
    options = {"chain_size": classes.DEFAULT_CHAIN_SIZE}
    page_tables = ("_pages", "_next_pages")
    stacks = False          # the fullness lists are linked through the page records

    def check_options(self, page_size, options):
        _, chain_size = classes.check_geometry(page_size, options["chain_size"])
        return {"chain_size": chain_size}

    def build(self, pool, pages):
        pool._classes = class_table(pool.page_size, pool.chain_size)
        indices = pool._classes.shape[0]
        pool._geometry = kernels.new_geometry(pages, pool.page_size, pool.chain_size, indices)
        pool._pages = t.zeroed(pages, kernels.PAGE_DTYPE, reserve=False)
        pool._next_pages = t.zeroed(pages, np.uint32, reserve=False)
        pool._list_heads = np.full(indices * kernels.GROUPS, t.NONE32, np.uint32)

    def alloc(self, pool, sizes, data, offsets, out):
        return kernels.alloc_kernel(pool._geometry, pool._pages, pool._next_pages, pool._classes,
                                    pool._handles, pool._free_slots, pool._list_heads,
                                    pool._counters, pool._arena, sizes, data, offsets, out)

    def free(self, pool, handles):
        return kernels.free_kernel(pool._geometry, pool._pages, pool._next_pages, pool._classes,
                                   pool._handles, pool._free_slots, pool._list_heads,
                                   pool._counters, pool._arena, handles)

    def kernel_state(self, pool):
        return (pool._geometry, pool._pages, pool._next_pages, pool._classes, pool._handles,
                pool._free_slots, pool._list_heads, pool._counters, pool._arena)

    def room(self, operation, n):
        return (n, 0, 0) if operation == "alloc" else (0, 0, 0)

    def new_pages_bound(self, pool, sizes):
        # a class takes a new zspage at most once every objs_per_zspage of its objects
        table = pool._classes
        slots = np.clip(sizes, 1, pool.page_size) + classes.ZS_HANDLE_SIZE
        real = table[classes._nominal_index(slots, pool.page_size), kernels.K_CLASS]
        zspages = -(-np.bincount(real, minlength=table.shape[0]) // table[:, kernels.K_OBJS])
        return int((zspages * table[:, kernels.K_PAGES]).sum())

    def compact(self, pool, max_bytes):
        if max_bytes != -1:
            raise ValueError("max_bytes is for zbud pools: zsmalloc's zs_compact has no budget")
        freed, moved, bytes_moved, handles_moved = compaction.compact_kernel(
            pool._geometry, pool._pages, pool._next_pages, pool._classes, pool._handles,
            pool._list_heads, pool._counters, pool._arena)
        return int(freed), int(moved), int(bytes_moved), handles_moved

    def reclaim(self, pool, n_pages, writeback):
        raise PoolError(NO_LRU)

    def lru_order(self, pool):
        raise PoolError(NO_LRU)

    def check(self, pool):
        expected = class_table(pool.page_size, pool.chain_size)
        if pool._classes.shape != expected.shape or not np.array_equal(
                pool._classes[:, :kernels.N_ALLOCATED], expected[:, :kernels.N_ALLOCATED]):
            return "the class table is not the kernel's for this page size and chain size"
        finding, index = kernels.check_kernel(
            pool._geometry, pool._pages, pool._next_pages, pool._classes, pool._handles,
            pool._free_slots, pool._list_heads, pool._counters, pool._arena)
        return kernels.CHECK_MESSAGES[finding].format(index) if finding else None

    def stats(self, pool):
        table = pool._classes
        return {"bytes_allocated": int((table[:, kernels.N_USED] * table[:, kernels.K_SIZE]).sum()),
                "free_chunks_histogram": (),
                "page_table_bytes": pool._pages.nbytes + pool._next_pages.nbytes,
                "table_bytes": pool._classes.nbytes + pool._list_heads.nbytes}

    def next_pages(self, pool):
        return pool._next_pages

    def fullness_lists(self, pool):
        """{(class index, group): first pfns of its zspages, head first} of every list that is
        not empty (for tests and inspection: a plain-Python walk)."""
        lists = {}
        for free_list in np.flatnonzero(pool._list_heads != t.NONE32).tolist():
            order, first = [], int(pool._list_heads[free_list])
            while first != t.NONE32:
                order.append(first)
                first = int(pool._pages[first]["next"])
            lists[divmod(free_list, kernels.GROUPS)] = order
        return lists

    def class_stats(self, pool):
        """One row of :data:`classes.CLASS_STATS_DTYPE` per real class, as debugfs ``classes``."""
        table = pool._classes
        real = np.flatnonzero(table[:, kernels.K_CLASS] == np.arange(table.shape[0]))
        zspages = kernels.list_lengths(pool._pages, pool._list_heads,
                                       pool._counters[t.C_PAGE_WATERMARK]).reshape(-1, kernels.GROUPS)
        rows = np.zeros(real.size, classes.CLASS_STATS_DTYPE)
        rows["class"] = real
        rows["size"] = table[real, kernels.K_SIZE]
        for group, field in enumerate(classes.RATIO_FIELDS, start=1):
            rows[field] = zspages[real, group]
        rows["obj_allocated"] = table[real, kernels.N_ALLOCATED]
        rows["obj_used"] = table[real, kernels.N_USED]
        rows["pages_per_zspage"] = table[real, kernels.K_PAGES]
        rows["pages_used"] = rows["obj_allocated"] // table[real, kernels.K_OBJS] * rows["pages_per_zspage"]
        spare = rows["obj_allocated"] - rows["obj_used"]
        rows["freeable"] = spare // table[real, kernels.K_OBJS] * rows["pages_per_zspage"]
        return rows
