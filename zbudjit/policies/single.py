"""One object at a time, from inside another Numba kernel: :func:`alloc_one` and :func:`free_one`
over any policy's tables.

Frontends whose rules interleave allocations and frees, and look at the pool between them (zram
allocates a page's new object, compares the pool's page count with its limit, then frees the old
object), cannot use the policies' batch kernels from Python one object at a time: a Python call
costs more than the allocation. Their kernels call these two functions instead, in their own loop.

A policy's *kernel state* is the tuple of its tables, in the order of its batch kernels'
arguments (:meth:`zbudjit.policies.Policy.kernel_state`). The functions below pick the policy's
kernels at compile time by the type of that tuple (its page table's record type), so one frontend
kernel serves every policy, compiled once for each and cached like any other kernel. Each call runs
the policy's batch kernel on a batch of one, through arrays of one element the caller owns, so
that a call allocates nothing.

The caller must have made the room the calls may need (``Pool._reserve`` with the policy's
:meth:`~zbudjit.policies.Policy.room`, for all the calls its kernel may make) and must not let
the pool's tables be replaced while its kernel runs; a NEED_ROOM answer means it did not.
"""

from numba import types
from numba.extending import overload
from numba.np.numpy_support import from_dtype

from .zbud import kernels as zbud
from .zsmalloc import kernels as zsmalloc


def alloc_one(state, size, data, offsets, out):
    """Allocate ``size[0]`` bytes, handle into ``out[0]``; copy ``data[offsets[0]:offsets[1]]``
    into the object unless ``offsets`` is empty. Returns the batch kernel's ``(status, index)``.
    (Callable only from Numba kernels.)"""
    raise NotImplementedError("alloc_one is called from Numba kernels only")


def free_one(state, handle):
    """Free the object of ``handle[0]``. Returns the batch kernel's ``(status, index)``.
    (Callable only from Numba kernels.)"""
    raise NotImplementedError("free_one is called from Numba kernels only")


def counters_of(state):
    """The pool's counters (``engine.tables``: ``C_PAGES_USED`` is zs_get_total_pages).
    (Callable only from Numba kernels.)"""
    raise NotImplementedError("counters_of is called from Numba kernels only")


_ZBUD_PAGE = from_dtype(zbud.PAGE_DTYPE)
_ZSMALLOC_PAGE = from_dtype(zsmalloc.PAGE_DTYPE)


def _policy_of(state):
    """Which policy's tables ``state`` (a Numba type) holds: told by its page table's records."""
    if isinstance(state, types.BaseTuple) and len(state) > 1 \
            and isinstance(state[1], types.Array):
        if state[1].dtype == _ZBUD_PAGE:
            return "zbud"
        if state[1].dtype == _ZSMALLOC_PAGE:
            return "zsmalloc"
    return None


@overload(alloc_one)
def _alloc_one(state, size, data, offsets, out):
    policy = _policy_of(state)
    if policy == "zbud":
        def alloc(state, size, data, offsets, out):
            (geometry, pages, handles, free_slots, blocks, stack_heads, lru_log, counters,
             arena) = state
            return zbud.alloc_kernel(geometry, pages, handles, free_slots, blocks, stack_heads,
                                     lru_log, counters, arena, size, data, offsets, out)
        return alloc
    if policy == "zsmalloc":
        def alloc(state, size, data, offsets, out):
            (geometry, pages, next_pages, classes, handles, free_slots, list_heads, counters,
             arena) = state
            return zsmalloc.alloc_kernel(geometry, pages, next_pages, classes, handles,
                                         free_slots, list_heads, counters, arena, size, data,
                                         offsets, out)
        return alloc
    return None


@overload(free_one)
def _free_one(state, handle):
    policy = _policy_of(state)
    if policy == "zbud":
        def free(state, handle):
            (geometry, pages, handles, free_slots, blocks, stack_heads, _, counters, _) = state
            return zbud.free_kernel(geometry, pages, handles, free_slots, blocks, stack_heads,
                                    counters, handle)
        return free
    if policy == "zsmalloc":
        def free(state, handle):
            (geometry, pages, next_pages, classes, handles, free_slots, list_heads, counters,
             arena) = state
            return zsmalloc.free_kernel(geometry, pages, next_pages, classes, handles,
                                        free_slots, list_heads, counters, arena, handle)
        return free
    return None


@overload(counters_of)
def _counters_of(state):
    if _policy_of(state) is not None:
        return lambda state: state[7]           # both policies keep their counters 8th
    return None

