"""The zram frontend's Numba kernels: the device's slot table and counters, and the 6.18 rules that
change them (kernel-6.18.md section 7).

Layout
------
One entry per device index, as four arrays (``Slots``)::

    handle  uint64  the pool handle; the repeated word of a same-filled page; the backing-file
                    block of a written-back page; the page's number in the own-page store
    size    uint32  bytes compr_data_size counts for it: comp_len, page_size for a huge page,
                    0 for a same-filled or written-back page (and for an empty slot)
    flags   uint16  SAME, WB, HUGE, IDLE, INCOMPRESSIBLE, OWN_PAGE and the compression priority
    atime   int64   the last access, in the device clock's nanoseconds (0: never)

A slot is allocated when its size is not 0, or SAME or WB is set (7.1). The counters are int64
``stats[Z_*]``. A policy that cannot hold a whole page as one object (zbud) keeps huge pages in the
own-page store: ``own_pages`` (pages, page_size) uint8 rows, ``own_free`` a stack of free row
numbers, each row one page of memory, counted in mem_used_total with the pool's pages.

The pool is reached through :mod:`zbudjit.policies.single`, so every kernel here is compiled once
per policy. Every kernel applies its batch in order, one page at a time, exactly as the kernel's
zram_bio_write / zram_bio_discard would for one 4 KiB bio each.
"""

import numpy as np
from numba import njit

from .. import errors
from ..engine import tables as t
from ..policies.single import alloc_one, counters_of, free_one

# slot flags (ours; the kernel's are bits above the size, 7.1)
SAME = 1 << 0
WB = 1 << 1
HUGE = 1 << 2
IDLE = 1 << 3
INCOMPRESSIBLE = 1 << 4
OWN_PAGE = 1 << 5           # a huge page in the own-page store, not in the pool
PRIORITY_SHIFT = 6
PRIORITY_MASK = 3 << PRIORITY_SHIFT

# stats[...]
Z_PAGES_STORED = 0
Z_COMPR_DATA = 1
Z_SAME = 2
Z_HUGE = 3
Z_HUGE_SINCE = 4
Z_MAX_USED = 5              # max_used_pages
Z_FAILED_WRITES = 6
Z_FAILED_READS = 7
Z_NOTIFY_FREE = 8
Z_BD_COUNT = 9
Z_BD_READS = 10
Z_BD_WRITES = 11
Z_WB_LIMIT = 12             # bd_wb_limit, in 4 KiB units
Z_OWN_USED = 13             # own-page store rows in use
Z_OWN_WATERMARK = 14        # rows below it have been used
Z_OWN_FREE = 15             # depth of the own_free stack
Z_RECOMPRESSED = 16         # slots recompressed (the kernel keeps no such counter)
N_STATS = 17

# operation codes, of apply_kernel (writes and discards; a compaction is Python's) and of the
# live-kernel recorder's records (zbudjit.kernel.zram takes them from here)
OP_WRITE = 0
OP_DISCARD = 1
OP_COMPACT = 2

# apply_kernel's per-operation outcome
DONE = 0
FAILED = 1                  # over mem_limit: failed_writes counted, the slot as it was

N_MM_STAT = 9


@njit(cache=True, nogil=True)
def mem_used_pages(state, stats):
    return counters_of(state)[t.C_PAGES_USED] + stats[Z_OWN_USED]


@njit(cache=True, nogil=True)
def _free_slot(state, handle, size, flags, atime, stats, own_free, bd_blocks, index, scratch):
    """zram_free_page (7.4). Returns a status: not OK only if the pool refuses the handle."""
    f = flags[index]
    atime[index] = 0
    if f & HUGE:
        stats[Z_HUGE] -= 1
    flags[index] = 0
    if f & WB:
        bd_blocks[handle[index]] = 0
        stats[Z_BD_COUNT] -= 1
    elif f & SAME:
        stats[Z_SAME] -= 1
    else:
        if size[index] == 0:
            return errors.OK            # never written, or already free: no counter changes
        if f & OWN_PAGE:
            own_free[stats[Z_OWN_FREE]] = handle[index]
            stats[Z_OWN_FREE] += 1
            stats[Z_OWN_USED] -= 1
        else:
            scratch[0] = handle[index]
            status, _ = free_one(state, scratch)
            if status != errors.OK:
                return status
        stats[Z_COMPR_DATA] -= size[index]
    stats[Z_PAGES_STORED] -= 1
    handle[index] = 0
    size[index] = 0
    return errors.OK


@njit(cache=True, nogil=True)
def _take_own_page(stats, own_free):
    stats[Z_OWN_USED] += 1
    if stats[Z_OWN_FREE] > 0:
        stats[Z_OWN_FREE] -= 1
        return own_free[stats[Z_OWN_FREE]]
    stats[Z_OWN_WATERMARK] += 1
    return stats[Z_OWN_WATERMARK] - 1


@njit(cache=True, nogil=True)
def _mm_stat_row(state, stats, limit_pages, page_size, out):
    out[0] = stats[Z_PAGES_STORED] * page_size
    out[1] = stats[Z_COMPR_DATA]
    out[2] = mem_used_pages(state, stats) * page_size
    out[3] = limit_pages * page_size
    out[4] = stats[Z_MAX_USED] * page_size
    out[5] = stats[Z_SAME]
    out[6] = counters_of(state)[t.C_PAGES_COMPACTED]     # a reset makes a new pool
    out[7] = stats[Z_HUGE]
    out[8] = stats[Z_HUGE_SINCE]


@njit(cache=True, nogil=True)
def apply_kernel(state, handle, size, flags, atime, stats, own_free, own_pages, bd_blocks,
                 ops, indices, lengths, words, data, offsets, raw, keep_data, page_size,
                 limit_pages, huge_size, use_own_pages, now, outcome, mm_rows):
    """Writes and discards in order, each as the kernel does it for one page (7.2, 7.4, 7.5).

    A write of op ``i`` stores: ``words[i]`` when ``lengths[i]`` is 0 (same-filled); else,
    when ``lengths[i] >= huge_size``, the raw page ``raw[i]`` in an object of a page; else the
    ``lengths[i]`` compressed bytes at ``data[offsets[i]:]``. With ``keep_data`` False no bytes
    are copied. ``outcome[i]`` says DONE or FAILED (over the limit); with ``mm_rows`` not empty
    its row ``i`` gets the nine mm_stat fields after op ``i``. Returns ``(status, i)``: not OK only
    if the pool refused an operation (its tables are corrupt), at op ``i``.
    """
    one_size = np.empty(1, np.int64)
    one_offsets = np.empty(2, np.int64)
    no_offsets = one_offsets[:0]
    one_handle = np.empty(1, np.uint64)
    scratch = np.empty(1, np.uint64)
    raw_flat = raw.reshape(-1)
    record = mm_rows.shape[0] > 0
    for i in range(ops.size):
        index = indices[i]
        outcome[i] = DONE
        if ops[i] == OP_DISCARD:
            status = _free_slot(state, handle, size, flags, atime, stats, own_free, bd_blocks,
                                index, scratch)
            if status != errors.OK:
                return status, i
            stats[Z_NOTIFY_FREE] += 1
        elif lengths[i] == 0:
            status = _free_slot(state, handle, size, flags, atime, stats, own_free, bd_blocks,
                                index, scratch)
            if status != errors.OK:
                return status, i
            flags[index] = SAME
            handle[index] = words[i]
            stats[Z_SAME] += 1
            stats[Z_PAGES_STORED] += 1
            atime[index] = now
        else:
            huge = lengths[i] >= huge_size
            object_size = page_size if huge else lengths[i]
            if huge and use_own_pages:
                new = np.uint64(_take_own_page(stats, own_free))
                if keep_data:
                    own_pages[new, :] = raw[i]
            else:
                one_size[0] = object_size
                if huge:
                    one_offsets[0] = i * page_size
                    one_offsets[1] = one_offsets[0] + object_size
                    source = raw_flat
                else:
                    one_offsets[0] = offsets[i]
                    one_offsets[1] = offsets[i] + object_size
                    source = data
                status, _ = alloc_one(state, one_size, source,
                                      one_offsets if keep_data else no_offsets, one_handle)
                if status != errors.OK:
                    return status, i
                new = one_handle[0]
            # zram_can_store_page: the peak first, then the limit, after the allocation
            used = mem_used_pages(state, stats)
            if used > stats[Z_MAX_USED]:
                stats[Z_MAX_USED] = used
            if limit_pages != 0 and used > limit_pages:
                if huge and use_own_pages:
                    own_free[stats[Z_OWN_FREE]] = new
                    stats[Z_OWN_FREE] += 1
                    stats[Z_OWN_USED] -= 1
                else:
                    scratch[0] = new
                    status, _ = free_one(state, scratch)
                    if status != errors.OK:
                        return status, i
                stats[Z_FAILED_WRITES] += 1
                outcome[i] = FAILED
            else:
                status = _free_slot(state, handle, size, flags, atime, stats, own_free,
                                    bd_blocks, index, scratch)
                if status != errors.OK:
                    return status, i
                handle[index] = new
                size[index] = object_size
                flags[index] = (HUGE | (OWN_PAGE if use_own_pages else 0)) if huge else 0
                if huge:
                    stats[Z_HUGE] += 1
                    stats[Z_HUGE_SINCE] += 1
                stats[Z_COMPR_DATA] += object_size
                stats[Z_PAGES_STORED] += 1
                atime[index] = now
        if record:
            _mm_stat_row(state, stats, limit_pages, page_size, mm_rows[i])
    return errors.OK, 0


@njit(cache=True, nogil=True)
def mm_stat_kernel(state, stats, limit_pages, page_size):
    out = np.empty(N_MM_STAT, np.int64)
    _mm_stat_row(state, stats, limit_pages, page_size, out)
    return out


@njit(cache=True, nogil=True)
def read_plan(handle, size, flags, atime, own_pages, indices, now, out):
    """Fill ``out`` rows for same-filled, empty and own-page slots and, unless ``now`` is -1,
    mark every slot read as accessed at ``now`` (IDLE cleared). Returns, for the other slots,
    ``(rows, handles, priorities, huge)``: the pool objects to read (compressed, or raw when
    huge) and the written-back pages (handle: the block; priority -1), for the caller to fill."""
    n = indices.size
    words = out.reshape(-1).view(np.uint64).reshape(n, out.shape[1] // 8)
    rows = np.empty(n, np.int64)
    handles = np.empty(n, np.uint64)
    priorities = np.empty(n, np.int64)
    huge = np.empty(n, np.bool_)
    k = 0
    for i in range(n):
        index = indices[i]
        f = flags[index]
        if f & SAME:
            words[i, :] = handle[index]
        elif f & OWN_PAGE:
            out[i, :] = own_pages[handle[index]]
        elif size[index] == 0 and not f & WB:
            out[i, :] = 0
        else:
            rows[k] = i
            handles[k] = handle[index]
            priorities[k] = -1 if f & WB else (f & PRIORITY_MASK) >> PRIORITY_SHIFT
            huge[k] = f & HUGE != 0
            k += 1
        if now >= 0 and (f & (SAME | WB) or size[index] != 0):
            flags[index] = f & ~IDLE
            atime[index] = now
    return rows[:k], handles[:k], priorities[:k], huge[:k]


@njit(cache=True, nogil=True)
def writeback_kernel(state, handle, size, flags, atime, stats, own_free, bd_blocks, indices,
                     blocks):
    """Slot ``indices[i]`` is now on backing block ``blocks[i]`` (its page already written
    there): the block is taken, the slot freed as zram_free_page frees it, then set WB with the
    block as its handle; pages_stored is unchanged on balance (7.7). Returns ``(status, i)``."""
    scratch = np.empty(1, np.uint64)
    for i in range(indices.size):
        index = indices[i]
        bd_blocks[blocks[i]] = 1
        stats[Z_BD_COUNT] += 1
        stats[Z_BD_WRITES] += 1
        status = _free_slot(state, handle, size, flags, atime, stats, own_free, bd_blocks, index,
                            scratch)
        if status != errors.OK:
            return status, i
        flags[index] = WB
        handle[index] = blocks[i]
        stats[Z_PAGES_STORED] += 1
    return errors.OK, 0


@njit(cache=True, nogil=True)
def recompress_kernel(state, handle, size, flags, atime, stats, own_free, bd_blocks, indices,
                      old_class, new_lens, new_class, data, starts, first_priority,
                      priority_limit, n_compressors, threshold, keep_data, max_pages):
    """recompress_slot (7.6) for each candidate in order while ``max_pages`` lasts.

    ``new_lens[i, p]`` / ``new_class[i, p]``: candidate ``i``'s length and class index with the
    compressor of priority ``p`` (columns below ``first_priority`` unused), its bytes at
    ``data[starts[i, p]:]``. Returns ``(status, candidates consumed, max_pages left)``.
    """
    one_size = np.empty(1, np.int64)
    one_offsets = np.empty(2, np.int64)
    one_handle = np.empty(1, np.uint64)
    scratch = np.empty(1, np.uint64)
    for i in range(indices.size):
        if max_pages == 0:
            return errors.OK, i, max_pages
        index = indices[i]
        if threshold and size[index] < threshold:
            continue
        flags[index] &= ~IDLE
        priority = max(first_priority, ((flags[index] & PRIORITY_MASK) >> PRIORITY_SHIFT) + 1)
        if priority >= priority_limit:
            continue
        chosen = -1
        while priority < priority_limit:
            if new_class[i, priority] < old_class[i] and (
                    threshold == 0 or new_lens[i, priority] < threshold):
                chosen = priority
                break
            priority += 1
        max_pages -= 1
        if chosen < 0:
            if priority >= n_compressors:
                flags[index] |= INCOMPRESSIBLE
            continue
        length = new_lens[i, chosen]
        one_size[0] = length
        one_offsets[0] = starts[i, chosen]
        one_offsets[1] = starts[i, chosen] + length
        status, _ = alloc_one(state, one_size, data, one_offsets if keep_data else one_offsets[:0],
                              one_handle)
        if status != errors.OK:
            return status, i, max_pages
        status = _free_slot(state, handle, size, flags, atime, stats, own_free, bd_blocks, index,
                            scratch)
        if status != errors.OK:
            return status, i, max_pages
        handle[index] = one_handle[0]
        size[index] = length
        flags[index] = chosen << PRIORITY_SHIFT
        stats[Z_COMPR_DATA] += length
        stats[Z_PAGES_STORED] += 1
        stats[Z_RECOMPRESSED] += 1
    return errors.OK, indices.size, max_pages
