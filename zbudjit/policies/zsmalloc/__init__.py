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
    """:func:`classes.size_class_table` as the plain int64 rows the kernels index (K_* columns)."""
    table = classes.size_class_table(page_size, chain_size)
    rows = np.empty((table.size, 4), np.int64)
    for column, field in ((kernels.K_SIZE, "size"), (kernels.K_PAGES, "pages_per_zspage"),
                          (kernels.K_OBJS, "objs_per_zspage"), (kernels.K_CLASS, "class_index")):
        rows[:, column] = table[field]
    return rows


class ZsmallocPolicy(Policy):
    """zsmalloc: size classes of zspages, fullness groups, zs_compact (see ``kernels.py``)."""

    name = "zsmalloc"
    options = {"chain_size": classes.DEFAULT_CHAIN_SIZE}
    page_tables = ("_pages", "_next_pages")

    def check_options(self, page_size, options):
        _, chain_size = classes.check_geometry(page_size, options["chain_size"])
        return {"chain_size": chain_size}

    def build(self, pool, pages):
        pool._class_table = class_table(pool.page_size, pool.chain_size)
        indices = pool._class_table.shape[0]
        pool._class_counts = np.zeros((indices, 2), np.int64)
        pool._geometry = kernels.new_geometry(pages, pool.page_size, pool.chain_size, indices)
        pool._pages = t.zeroed(pages, kernels.PAGE_DTYPE, reserve=False)
        pool._next_pages = t.zeroed(pages, np.uint32, reserve=False)
        pool._stack_heads = np.full(1 + indices * kernels.GROUPS, -1, np.int64)

    def _tables(self, pool):
        return (pool._geometry, pool._pages, pool._next_pages, pool._class_table, pool._class_counts,
                pool._handles, pool._free_slots, pool._blocks, pool._stack_heads, pool._counters,
                pool._arena)

    def alloc(self, pool, sizes, data, offsets, out):
        put_back = pool._reserve(sizes.size, sizes.size, 0)    # at most one push an object
        (geometry, pages, next_pages, table, counts, handles, free_slots, blocks, stack_heads,
         counters, arena) = self._tables(pool)
        status, index = kernels.alloc_kernel(geometry, pages, next_pages, table, counts, handles,
                                             free_slots, blocks, stack_heads, counters, arena,
                                             sizes, data, offsets, out)
        return put_back, status, index

    def free(self, pool, handles):
        put_back = pool._reserve(0, handles.size, 0)
        status, index = kernels.free_kernel(*self._tables(pool), handles,
                                            np.empty((handles.size, 2), np.int64))
        return put_back, status, index

    def compact(self, pool, max_bytes):
        if max_bytes != -1:
            raise ValueError("max_bytes is for zbud pools: zsmalloc's zs_compact has no budget")
        pool._reserve(0, 2 * pool.objects, 0)
        (geometry, pages, next_pages, table, counts, handles, _, blocks, stack_heads, counters,
         arena) = self._tables(pool)
        freed, moved, bytes_moved, handles_moved = compaction.compact_kernel(
            geometry, pages, next_pages, table, counts, handles, blocks, stack_heads, counters, arena)
        return int(freed), int(moved), int(bytes_moved), handles_moved

    def reclaim(self, pool, n_pages, writeback):
        raise PoolError(NO_LRU)

    def lru_order(self, pool):
        raise PoolError(NO_LRU)

    def check(self, pool):
        if pool._class_table.shape[1:] != (4,) or not np.array_equal(
                pool._class_table, class_table(pool.page_size, pool.chain_size)):
            return "the class table is not the kernel's for this page size and chain size"
        if pool._class_counts.shape != (pool._class_table.shape[0], 2):
            return "the class counts do not fit the class table"
        finding, index = kernels.check_kernel(*self._tables(pool))
        return kernels.CHECK_MESSAGES[finding].format(index) if finding else None

    def stats(self, pool):
        counts = pool._class_counts
        sizes = pool._class_table[:, kernels.K_SIZE]
        return {"bytes_allocated": int((counts[:, kernels.N_USED] * sizes).sum()),
                "free_chunks_histogram": (),
                "table_bytes": (pool._pages.nbytes + pool._next_pages.nbytes
                                + pool._class_table.nbytes + pool._class_counts.nbytes)}

    def next_pages(self, pool):
        return pool._next_pages

    def class_stats(self, pool):
        """One row of :data:`classes.CLASS_STATS_DTYPE` per real class, as debugfs ``classes``."""
        table = pool._class_table
        real = np.flatnonzero(table[:, kernels.K_CLASS] == np.arange(table.shape[0]))
        filed = pool._pages["free_list"][:int(pool._counters[t.C_PAGE_WATERMARK])]
        filed = filed[filed != t.NO_LIST].astype(np.int64) - 1
        zspages = np.zeros((table.shape[0], kernels.GROUPS), np.int64)
        np.add.at(zspages, (filed // kernels.GROUPS, filed % kernels.GROUPS), 1)
        rows = np.zeros(real.size, classes.CLASS_STATS_DTYPE)
        rows["class"] = real
        rows["size"] = table[real, kernels.K_SIZE]
        for group, field in enumerate(classes.RATIO_FIELDS, start=1):
            rows[field] = zspages[real, group]
        rows["obj_allocated"] = pool._class_counts[real, kernels.N_ALLOCATED]
        rows["obj_used"] = pool._class_counts[real, kernels.N_USED]
        rows["pages_per_zspage"] = table[real, kernels.K_PAGES]
        rows["pages_used"] = rows["obj_allocated"] // table[real, kernels.K_OBJS] * rows["pages_per_zspage"]
        spare = rows["obj_allocated"] - rows["obj_used"]
        rows["freeable"] = spare // table[real, kernels.K_OBJS] * rows["pages_per_zspage"]
        return rows
