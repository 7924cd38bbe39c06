"""Yardsticks the speed ratios are measured against, in the same process and the same call.

Memory floor
------------
Per operation, an allocator with an indirection table must at least (a) read the handle's word
in the handle table and (b) read-modify-write the record of the page that holds the object. On a
pool of a million pages both are cache misses at random places, so this pair of accesses is the
floor that a batched kernel can approach but not beat. :func:`memory_floor` does exactly that and
nothing else:

    handle_words   uint64[handle slots]   one random 8-byte read per op
    page_records   RECORD_DTYPE[pages]    one random read-modify-write of a 24-byte record per op

The random indices are drawn in advance (:class:`MemoryFloor`), so the timed loop is only the two
accesses. The two accesses of an op are independent of each other, so the CPU may overlap them and
the next op's; that is the best case the floor is meant to be.

``RECORD_DTYPE`` is a copy of today's ``zbudjit.zbud.PAGE_DTYPE`` (24 bytes, aligned), kept here so
the yardstick stays the same when the engine's page record changes.

Dispatch floor
--------------
:func:`dispatch_floor` is a trivial ``@njit`` function taking ten 1-D arrays, about the arity of the
engine's kernels (``alloc_kernel`` takes 13 arrays, ``free_kernel`` 7): two calls of it are the cost
of two bare Numba dispatches, the least a one-object ``alloc`` + ``free`` pair can cost.
"""

import time

import numpy as np
from numba import njit

RECORD_DTYPE = np.dtype([
    ("first_slot", np.uint32),
    ("last_slot", np.uint32),
    ("first_chunks", np.uint8),
    ("last_chunks", np.uint8),
    ("free_list", np.uint8),
    ("stamp", np.uint32),
    ("lru_pos", np.int64),
], align=True)
assert RECORD_DTYPE.itemsize == 24


@njit(cache=True, nogil=True)
def memory_floor(handle_words, page_records, handle_index, page_index):
    """One random handle-word read and one random page-record update per op; returns a checksum
    of the words read (so the reads cannot be optimised away)."""
    total = np.uint64(0)
    for i in range(handle_index.size):
        total += handle_words[handle_index[i]]
        record = page_records[page_index[i]]
        record.stamp = record.stamp + np.uint32(1)
        record.lru_pos = record.lru_pos + np.int64(record.first_slot)
    return total


@njit(cache=True, nogil=True)
def dispatch_floor(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9):
    return 0


class MemoryFloor:
    """Tables the size of a pool's handle and page tables, and ``ops`` random indices into each.

    Parameters
    ----------
    handle_slots : int
        Entries of the handle-word table (the pool's handle slots).
    pages : int
        Records of the page-record table (the pool's pages).
    ops : int
        Largest number of operations :meth:`seconds` will be asked for.
    """

    def __init__(self, handle_slots, pages, ops, seed=2014):
        rng = np.random.default_rng([seed, 11])
        self.handle_words = rng.integers(0, 1 << 62, handle_slots, dtype=np.uint64)
        self.page_records = np.zeros(pages, RECORD_DTYPE)
        self.page_records["first_slot"] = 1          # touch every page of the table now
        self.handle_index = rng.integers(0, handle_slots, ops)
        self.page_index = rng.integers(0, pages, ops)
        self.seconds(ops)                            # compile or load, and warm the tables

    def seconds(self, ops):
        """Wall time of the floor kernel over the first ``ops`` indices."""
        handle_index = self.handle_index[:ops]
        page_index = self.page_index[:ops]
        start = time.perf_counter()
        memory_floor(self.handle_words, self.page_records, handle_index, page_index)
        return time.perf_counter() - start


def dispatch_arguments():
    """Ten small int64 arrays for :func:`dispatch_floor`."""
    return tuple(np.zeros(4, np.int64) for _ in range(10))
