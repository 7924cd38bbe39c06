"""zs_compact for the zsmalloc policy, exactly as Linux 6.18 runs it.

Classes from the largest index down (merged indices skipped). In each, while the class has at
least one zspage's worth of free slots (zs_can_compact): the destination is the head of the
fullest non-full group (kept across iterations until it fills), the source the head of the
emptiest; the source's objects move into the destination in slot order until the destination is
full or the source empty; the source goes back to the head of its group, or is released when
empty, and its pages count as compacted.

The kernel finds a source's objects by reading the handles kept in the slots. zbudjit keeps no
handle in the arena, so the pass first sorts every live handle by (zspage, slot): a source's
objects are then a run of that order, and as they leave in slot order a cursor per zspage says
where its remaining ones start. (A zspage that has received objects as a destination is never a
source again in the same pass: it stays the destination until it is full.)
"""

import numpy as np
from numba import njit

from ...engine import tables as t
from ...engine.memory import copy_bytes
from .kernels import (G_INDICES, GROUP_FULL, K_CLASS, K_OBJS, K_PAGES, K_SIZE, N_ALLOCATED, N_USED,
                      TAG_SHIFT, _give_back_slot, _link, _release_zspage, _take_slot_in, _unlink,
                      _zspage_of, fullness, list_of)


@njit(cache=True, nogil=True)
def _freeable(classes, cls):
    """zs_can_compact: pages the class could free, counted in whole zspages."""
    spare = classes[cls, N_ALLOCATED] - classes[cls, N_USED]
    if spare <= 0:
        return 0
    return spare // classes[cls, K_OBJS] * classes[cls, K_PAGES]


@njit(cache=True, nogil=True)
def _take_head(pages, list_heads, cls, groups):
    """Unlink and return the head zspage of the first non-empty group of ``groups``, or -1."""
    for group in groups:
        free_list = list_of(cls, group)
        first = np.int64(list_heads[free_list])
        if first != t.NONE32:
            _unlink(pages, list_heads, free_list, first)
            return first
    return -1


@njit(cache=True, nogil=True)
def _put_back(pages, next_pages, list_heads, counters, cls, objs, first):
    """putback_zspage: file the zspage at the head of its group; release it when empty.
    Returns True when released."""
    inuse = np.int64(pages[first].inuse)
    if inuse == 0:
        _release_zspage(pages, next_pages, counters, first)
        return True
    _link(pages, list_heads, list_of(cls, fullness(inuse, objs)), first)
    return False


@njit(cache=True, nogil=True)
def _copy_slot(arena, next_pages, page_shift, destination, source, size, buffer):
    """Copy an object of ``size`` bytes between two slot addresses; either may cross a page."""
    page_size = np.int64(1) << page_shift
    in_page = min(size, page_size - (source & (page_size - 1)))
    copy_bytes(buffer, 0, arena, source, in_page)
    if in_page < size:
        copy_bytes(buffer, in_page, arena, np.int64(next_pages[source >> page_shift]) << page_shift,
                   size - in_page)
    in_page = min(size, page_size - (destination & (page_size - 1)))
    copy_bytes(arena, destination, buffer, 0, in_page)
    if in_page < size:
        copy_bytes(arena, np.int64(next_pages[destination >> page_shift]) << page_shift, buffer,
                   in_page, size - in_page)


@njit(cache=True, nogil=True)
def compact_kernel(geometry, pages, next_pages, classes, handles, list_heads, counters, arena):
    """zs_compact of every class; returns (pages freed, objects moved, bytes moved, moved handles)."""
    page_shift = geometry[t.G_PAGE_SHIFT]
    n_indices = geometry[G_INDICES]
    # every live handle slot, sorted by (zspage, slot index)
    slots = np.empty(counters[t.C_OBJECTS], np.int64)
    keys = np.empty(counters[t.C_OBJECTS], np.int64)
    found = 0
    for slot in range(counters[t.C_SLOT_WATERMARK]):
        if handles[slot].size != 0 and found < slots.size:
            word = handles[slot].address
            first = _zspage_of(pages, (word & t.ADDRESS_MASK) >> page_shift)
            slots[found] = slot
            keys[found] = (first << 16) | (word >> TAG_SHIFT)
            found += 1
    order = np.argsort(keys[:found], kind="mergesort")
    slots = slots[order]
    cursor = np.full(counters[t.C_PAGE_WATERMARK], -1, np.int64)   # a zspage's next object
    for position in range(found - 1, -1, -1):
        cursor[keys[order[position]] >> 16] = position
    buffer = np.empty(np.int64(1) << page_shift, np.uint8)
    moved = np.empty(found, np.uint64)
    n_moved = 0
    bytes_moved = 0
    pages_freed = 0
    fullest_first = np.arange(GROUP_FULL - 1, 0, -1)
    emptiest_first = np.arange(1, GROUP_FULL)
    for cls in range(n_indices - 1, -1, -1):
        if classes[cls, K_CLASS] != cls:
            continue
        size = classes[cls, K_SIZE]
        objs = classes[cls, K_OBJS]
        destination = -1
        while _freeable(classes, cls) > 0:
            if destination < 0:
                destination = _take_head(pages, list_heads, cls, fullest_first)
                if destination < 0:
                    break
            source = _take_head(pages, list_heads, cls, emptiest_first)
            if source < 0:
                break
            # migrate_zspage: the source's objects in slot order, until one side runs out
            while pages[source].inuse > 0 and pages[destination].inuse < objs:
                slot = slots[cursor[source]]
                cursor[source] += 1
                entry = handles[slot]
                from_address = entry.address & t.ADDRESS_MASK
                k, to_address = _take_slot_in(pages, next_pages, arena, destination, size, objs, page_shift)
                _copy_slot(arena, next_pages, page_shift, to_address, from_address,
                           np.int64(entry.size), buffer)
                _give_back_slot(pages, arena, source, entry.address >> TAG_SHIFT, from_address)
                entry.address = (k << TAG_SHIFT) | to_address
                moved[n_moved] = t.make_handle(slot, entry.generation)
                n_moved += 1
                bytes_moved += entry.size
            if _put_back(pages, next_pages, list_heads, counters, cls, objs, source):
                classes[cls, N_ALLOCATED] -= objs
                pages_freed += classes[cls, K_PAGES]
            if pages[destination].inuse == objs:
                _put_back(pages, next_pages, list_heads, counters, cls, objs, destination)
                destination = -1
        if destination >= 0:
            _put_back(pages, next_pages, list_heads, counters, cls, objs, destination)
    counters[t.C_PAGES_COMPACTED] += pages_freed
    return pages_freed, n_moved, bytes_moved, moved[:n_moved]
