"""The data path every policy shares: kernels that reach objects only through the handle table.

write, read, locate and sizes validate every handle (:func:`tables.slot_below` and
:func:`tables.holds`) before anything is indexed with it, then copy between the caller's ragged
batch and the arena.

An object may cross from its page into the next page of its zspage (zsmalloc), which need not be
the next page of the arena: ``next_pages[pfn]`` names it. The part in the first page is copied
first, then the rest from the start of the next page. A policy whose objects never cross a page
boundary passes an empty ``next_pages`` (never indexed).
"""

import numpy as np
from numba import njit

from .. import errors
from .memory import copy_bytes, copy_object, prefetch_read, prefetch_write, store_fence, streaming
from .tables import (ADDRESS_MASK, C_OBJECTS, C_SLOT_WATERMARK, PREFETCH_AHEAD, handle_slot, holds,
                     make_handle, slot_below)


# ---------------------------------------------------------------------------------------------
# Policy-independent batch kernels: everything that only goes through the handle table.


@njit(cache=True, nogil=True)
def check_offsets(data, offsets, n):
    """Validate an Arrow-style ragged batch: n + 1 non-decreasing offsets within data."""
    if offsets.size != n + 1:
        return errors.BAD_OFFSETS, 0
    if offsets[0] < 0:
        return errors.BAD_OFFSETS, 0
    for i in range(n):
        if offsets[i + 1] < offsets[i]:
            return errors.BAD_OFFSETS, i
    if offsets[n] > data.size:
        return errors.BAD_OFFSETS, n
    return errors.OK, 0


@njit(cache=True, nogil=True)
def offsets_to_sizes(data, offsets):
    n = offsets.size - 1
    sizes = np.empty(max(n, 0), np.int64)
    if n < 0:
        return errors.BAD_OFFSETS, 0, sizes
    status, index = check_offsets(data, offsets, n)
    if status != errors.OK:
        return status, index, sizes
    for i in range(n):
        sizes[i] = offsets[i + 1] - offsets[i]
    return errors.OK, 0, sizes


@njit(cache=True, nogil=True)
def write_kernel(handles, counters, arena, next_pages, page_shift, batch, data, offsets):
    n = batch.size
    status, index = check_offsets(data, offsets, n)
    if status != errors.OK:
        return status, index
    watermark = counters[C_SLOT_WATERMARK]
    for i in range(n):
        slot = slot_below(batch[i], watermark)
        if slot < 0 or not holds(handles[slot], batch[i]):
            return errors.BAD_HANDLE, i
        if offsets[i + 1] - offsets[i] != handles[slot].size:
            return errors.BAD_LENGTH, i
    stream = streaming(offsets[n] - offsets[0])
    page_size = np.int64(1) << page_shift
    for i in range(n):
        if not stream and i + PREFETCH_AHEAD < n:     # a streaming store needs no line to write to
            prefetch_write(arena, handles[handle_slot(batch[i + PREFETCH_AHEAD])].address & ADDRESS_MASK)
        record = handles[handle_slot(batch[i])]
        address = record.address & ADDRESS_MASK
        size = np.int64(record.size)
        in_page = min(size, page_size - (address & (page_size - 1)))
        copy_object(arena, address, data, offsets[i], in_page, stream)
        if in_page < size:
            copy_object(arena, np.int64(next_pages[address >> page_shift]) << page_shift, data,
                        offsets[i] + in_page, size - in_page, stream)
    if stream:
        store_fence()
    return errors.OK, 0


@njit(cache=True, nogil=True)
def read_kernel(handles, counters, arena, next_pages, page_shift, batch, out):
    """The objects' bytes into ``out`` when it is large enough (else OUT_TOO_SMALL), or into a new
    array when ``out`` is None."""
    n = batch.size
    offsets = np.empty(n + 1, np.int64)
    offsets[0] = 0
    watermark = counters[C_SLOT_WATERMARK]
    for i in range(n):
        slot = slot_below(batch[i], watermark)
        if slot < 0 or not holds(handles[slot], batch[i]):
            return errors.BAD_HANDLE, i, np.empty(0, np.uint8), offsets
        offsets[i + 1] = offsets[i] + handles[slot].size
    if out is None:
        data = np.empty(offsets[n], np.uint8)
    elif out.size < offsets[n]:
        return errors.OUT_TOO_SMALL, offsets[n], np.empty(0, np.uint8), offsets
    else:
        data = out
    stream = streaming(offsets[n])
    page_size = np.int64(1) << page_shift
    for i in range(n):
        if i + PREFETCH_AHEAD < n:
            prefetch_read(arena, handles[handle_slot(batch[i + PREFETCH_AHEAD])].address & ADDRESS_MASK)
        record = handles[handle_slot(batch[i])]
        address = record.address & ADDRESS_MASK
        size = np.int64(record.size)
        in_page = min(size, page_size - (address & (page_size - 1)))
        copy_object(data, offsets[i], arena, address, in_page, stream)
        if in_page < size:
            copy_object(data, offsets[i] + in_page, arena,
                        np.int64(next_pages[address >> page_shift]) << page_shift, size - in_page, stream)
    if stream:
        store_fence()
    return errors.OK, 0, data, offsets


@njit(cache=True, nogil=True)
def locate_kernel(handles, counters, page_shift, batch):
    n = batch.size
    pfns = np.empty(n, np.int64)
    page_offsets = np.empty(n, np.int64)
    mask = (np.int64(1) << page_shift) - 1
    watermark = counters[C_SLOT_WATERMARK]
    for i in range(n):
        slot = slot_below(batch[i], watermark)
        if slot < 0 or not holds(handles[slot], batch[i]):
            return errors.BAD_HANDLE, i, pfns, page_offsets
        address = handles[slot].address & ADDRESS_MASK
        pfns[i] = address >> page_shift
        page_offsets[i] = address & mask
    return errors.OK, 0, pfns, page_offsets


@njit(cache=True, nogil=True)
def sizes_kernel(handles, counters, batch):
    n = batch.size
    sizes = np.empty(n, np.int64)
    watermark = counters[C_SLOT_WATERMARK]
    for i in range(n):
        slot = slot_below(batch[i], watermark)
        if slot < 0 or not holds(handles[slot], batch[i]):
            return errors.BAD_HANDLE, i, sizes
        sizes[i] = handles[slot].size
    return errors.OK, 0, sizes


@njit(cache=True, nogil=True)
def gather_ragged(data, offsets, which):
    """Objects ``which`` of a ragged batch, as a new ragged batch ``(data, offsets)``.

    ``which`` must index ``offsets[:-1]`` (the caller checks).
    """
    n = which.size
    new_offsets = np.empty(n + 1, np.int64)
    new_offsets[0] = 0
    for i in range(n):
        new_offsets[i + 1] = new_offsets[i] + offsets[which[i] + 1] - offsets[which[i]]
    new_data = np.empty(new_offsets[n], np.uint8)
    for i in range(n):
        copy_bytes(new_data, new_offsets[i], data, offsets[which[i]],
                   new_offsets[i + 1] - new_offsets[i])
    return new_data, new_offsets


@njit(cache=True, nogil=True)
def live_handles(handles, counters):
    """Every live handle, in slot order."""
    found = np.empty(counters[C_OBJECTS], np.uint64)
    n = 0
    for slot in range(counters[C_SLOT_WATERMARK]):
        if handles[slot].size != 0 and n < found.size:
            found[n] = make_handle(slot, handles[slot].generation)
            n += 1
    return found[:n]
