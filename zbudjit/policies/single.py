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
the policy's batch kernel on a batch of one, through arrays of one element the caller owns. Called
from Python, the same functions pick the policy by its page table's dtype (for tests and
inspection; a Python caller gains nothing over Pool's batches).

The caller must have made the room the calls may need (``Pool._reserve`` with the policy's
:meth:`~zbudjit.policies.Policy.room`, for all the calls its kernel may make) and must not let
the pool's tables be replaced while its kernel runs; a NEED_ROOM answer means it did not.
"""

import numpy as np
from numba import types
from numba.extending import overload, register_jitable
from numba.np.numpy_support import from_dtype

from .zbud import kernels as zbud
from .zsmalloc import kernels as zsmalloc


# Each policy's calls, written once: Numba compiles them into the caller's kernel (the overloads
# below pick them by the state's type), and Python runs them as they are (the entry points below
# pick them by the page table's dtype; the batch kernels they call are compiled either way).

def _zbud_alloc(state, size, data, offsets, out):
    (geometry, pages, handles, free_slots, blocks, stack_heads, lru_log, counters, arena) = state
    return zbud.alloc_kernel(geometry, pages, handles, free_slots, blocks, stack_heads, lru_log,
                             counters, arena, size, data, offsets, out)


def _zsmalloc_alloc(state, size, data, offsets, out):
    (geometry, pages, next_pages, classes, handles, free_slots, list_heads, counters,
     arena) = state
    return zsmalloc.alloc_kernel(geometry, pages, next_pages, classes, handles, free_slots,
                                 list_heads, counters, arena, size, data, offsets, out)


def _zbud_free(state, handle):
    (geometry, pages, handles, free_slots, blocks, stack_heads, _, counters, _) = state
    return zbud.free_kernel(geometry, pages, handles, free_slots, blocks, stack_heads, counters,
                            handle)


def _zsmalloc_free(state, handle):
    (geometry, pages, next_pages, classes, handles, free_slots, list_heads, counters,
     arena) = state
    return zsmalloc.free_kernel(geometry, pages, next_pages, classes, handles, free_slots,
                                list_heads, counters, arena, handle)


_ALLOC = {"zbud": _zbud_alloc, "zsmalloc": _zsmalloc_alloc}
_FREE = {"zbud": _zbud_free, "zsmalloc": _zsmalloc_free}
_PAGE_DTYPES = {"zbud": zbud.PAGE_DTYPE, "zsmalloc": zsmalloc.PAGE_DTYPE}
_PAGE_TYPES = {name: from_dtype(dtype) for name, dtype in _PAGE_DTYPES.items()}


def _policy_of(state):
    """Which policy's tables ``state`` (a Numba type) holds: told by its page table's records."""
    if isinstance(state, types.BaseTuple) and len(state) > 1 \
            and isinstance(state[1], types.Array):
        for name, page_type in _PAGE_TYPES.items():
            if state[1].dtype == page_type:
                return name
    return None


def _python_policy_of(state):
    """:func:`_policy_of` for a tuple of arrays."""
    if isinstance(state, tuple) and len(state) > 1 and isinstance(state[1], np.ndarray):
        for name, dtype in _PAGE_DTYPES.items():
            if state[1].dtype == dtype:
                return name
    raise TypeError("state must be a policy's kernel_state() tuple")


def alloc_one(state, size, data, offsets, out):
    """Allocate ``size[0]`` bytes, handle into ``out[0]``; copy ``data[offsets[0]:offsets[1]]``
    into the object unless ``offsets`` is empty. Returns the batch kernel's ``(status, index)``."""
    return _ALLOC[_python_policy_of(state)](state, size, data, offsets, out)


def free_one(state, handle):
    """Free the object of ``handle[0]``. Returns the batch kernel's ``(status, index)``."""
    return _FREE[_python_policy_of(state)](state, handle)


@register_jitable
def counters_of(state):
    """The pool's counters (``engine.tables``: ``C_PAGES_USED`` is zs_get_total_pages); both
    policies keep them eighth in their state."""
    return state[7]


@overload(alloc_one)
def _alloc_one(state, size, data, offsets, out):
    return _ALLOC.get(_policy_of(state))


@overload(free_one)
def _free_one(state, handle):
    return _FREE.get(_policy_of(state))
