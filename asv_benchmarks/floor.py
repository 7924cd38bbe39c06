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
accesses. ``RECORD_DTYPE`` is a copy of the engine's page record as it was when the floor was
defined (24 bytes, aligned), so the yardstick stays the same when the engine's record changes.

Dispatch floor
--------------
:func:`dispatch_floor` is a trivial ``@njit`` function taking one 1-D array: two calls of it are
the cost of two bare Numba dispatches, the least a one-object ``alloc`` + ``free`` pair can cost.

Where they live
---------------
The kernels, ``MemoryFloor`` and the helpers that time an operation against them (best of N of
each, interleaved) now live in the package, in :mod:`zbudjit.bench`, so that this suite and the
``zbudjit bench`` command measure against one yardstick; this module re-exports them. They are
the yardstick: do not change them casually, since every ratio recorded before a change would stop
being comparable with those after it. On a commit from before they moved, the names are missing
and :func:`require` skips the benchmarks that need them.
"""

try:
    from zbudjit.bench import (RECORD_DTYPE, MemoryFloor, dispatch_arguments, dispatch_floor,
                               engine_alloc_free_seconds, memory_floor, one_object_vs_dispatch,
                               spec_alloc_free_seconds, versus_floor)
    AVAILABLE = True
except ModuleNotFoundError as missing:
    if missing.name != "zbudjit.bench":      # a dependency is missing: say so, do not skip
        raise
    AVAILABLE = False                        # a commit from before the yardsticks moved there

__all__ = ["RECORD_DTYPE", "MemoryFloor", "dispatch_arguments", "dispatch_floor",
           "engine_alloc_free_seconds", "memory_floor", "one_object_vs_dispatch", "require",
           "spec_alloc_free_seconds", "versus_floor"]


def require():
    """Skip the benchmark (NotImplementedError in setup) on a commit without ``zbudjit.bench``."""
    if not AVAILABLE:
        raise NotImplementedError("zbudjit.bench (the yardsticks) does not exist at this commit")
