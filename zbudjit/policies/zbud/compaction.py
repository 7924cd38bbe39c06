"""Compaction for the zbud policy: the fewest pages zbud's rule allows, moving few bytes.

zbud never had compaction (its handles were addresses); zbudjit's handles go through the handle
table, so an object can move by rewriting one word.

The optimum. A page holds at most two objects whose chunks together fit the usable chunks, so n
objects need ``n - M`` pages, M being the largest number of disjoint pairs that fit. Sorting by
chunks and pairing the largest object with the smallest when they fit (else leaving the largest
alone) reaches M: the two-pointer rule. On a histogram of chunk counts it takes O(64) steps.

The plan (:func:`compaction_plan`):

1. Pages holding two objects keep them (*kept pairs*) unless breaking some is needed to reach M.
   Pairs are broken in order of most free chunks first; a binary search finds the fewest.
2. The objects of one-object pages and of broken pairs (the *movable* objects) are matched with
   two pointers into *groups*: pairs, and singles.
3. Each group picks a *host* page among its members' pages; a page hosts one group. A single's
   host is its own page, and a page whose other object's group is hosted there forces that group
   to its other member's page; these forced choices are made first, then free choices keep the
   larger object in place. A maximum matching always leaves a consistent choice.
4. Groups linked through shared pages form independent *components*; each frees (pages - groups)
   pages for the bytes it moves. ``max_bytes`` takes components by pages freed per byte, best first.

The moves (:func:`apply_moves`): an object goes to its host's free side. When an object still sits
there, that object (which is leaving too) moves first; a cycle of such waits is broken by parking
one object in a page-sized scratch buffer. Then the pages that changed are re-filed in ascending pfn
order (list heads, as list_add does) and the empty ones released in descending pfn order (so the
lowest pfn is reused first). Pages that remain keep their LRU positions.
"""

import numpy as np
from numba import njit

from ...engine import tables as t
from ...engine.memory import copy_bytes
from .kernels import _clear_page, _empty_side, _file_page, _put_on_page

FIRST = 0
LAST = 1
PLAN_OK = 0
PLAN_INCONSISTENT = 1


@njit(cache=True, nogil=True)
def _max_pairs(histogram, usable):
    """Largest number of disjoint fitting pairs among objects counted by chunks (two pointers)."""
    counts = histogram.copy()
    low = 1
    high = usable - 1
    pairs = 0
    while True:
        while low <= high and counts[low] == 0:
            low += 1
        while high >= low and counts[high] == 0:
            high -= 1
        if low > high:
            return pairs
        if low == high:
            if 2 * low <= usable:
                pairs += counts[low] // 2
            return pairs
        if low + high <= usable:
            matched = min(counts[low], counts[high])
            pairs += matched
            counts[low] -= matched
            counts[high] -= matched
        else:
            counts[high] = 0


@njit(cache=True, nogil=True)
def _gather_objects(geometry, pages, handles, counters):
    """Every live object as parallel arrays: slot, pfn, side, chunks, size."""
    n = counters[t.C_OBJECTS]
    slots = np.empty(n, np.int64)
    pfns = np.empty(n, np.int64)
    sides = np.empty(n, np.int64)
    chunks = np.empty(n, np.int64)
    sizes = np.empty(n, np.int64)
    found = 0
    for pfn in range(counters[t.C_PAGE_WATERMARK]):
        record = pages[pfn]
        for side in range(2):
            slot_plus_one = record.first_slot if side == FIRST else record.last_slot
            if slot_plus_one != 0 and found < n:
                slots[found] = np.int64(slot_plus_one) - 1
                pfns[found] = pfn
                sides[found] = side
                chunks[found] = record.first_chunks if side == FIRST else record.last_chunks
                sizes[found] = handles[slots[found]].size
                found += 1
    return slots[:found], pfns[:found], sides[:found], chunks[:found], sizes[:found]


@njit(cache=True, nogil=True)
def _pairs_to_break(pfns, chunks, usable):
    """Mark the objects of the fewest pairs (most free chunks first) whose breaking reaches M."""
    n = pfns.size
    movable = np.ones(n, np.bool_)
    all_objects = np.zeros(usable + 1, np.int64)
    for o in range(n):
        all_objects[chunks[o]] += 1
    best = _max_pairs(all_objects, usable)
    # pairs are consecutive objects on the same pfn (objects were gathered page by page)
    pair_first = np.empty(n // 2, np.int64)
    pair_free = np.empty(n // 2, np.int64)
    n_pairs = 0
    singles = all_objects.copy()
    for o in range(n - 1):
        if pfns[o] == pfns[o + 1]:
            pair_first[n_pairs] = o
            pair_free[n_pairs] = usable - chunks[o] - chunks[o + 1]
            singles[chunks[o]] -= 1
            singles[chunks[o + 1]] -= 1
            movable[o] = False
            movable[o + 1] = False
            n_pairs += 1
    order = np.argsort(-pair_free[:n_pairs], kind="mergesort")
    low = 0
    high = n_pairs
    while low < high:
        middle = (low + high) // 2
        histogram = singles.copy()
        for p in order[:middle]:
            histogram[chunks[pair_first[p]]] += 1
            histogram[chunks[pair_first[p] + 1]] += 1
        if n_pairs - middle + _max_pairs(histogram, usable) == best:
            high = middle
        else:
            low = middle + 1
    for p in order[:low]:
        movable[pair_first[p]] = True
        movable[pair_first[p] + 1] = True
    return movable


@njit(cache=True, nogil=True)
def _match(chunks, movable, usable):
    """Two-pointer groups of the movable objects: group_members[g] = (object, object or -1)."""
    candidates = np.flatnonzero(movable)
    by_chunks = candidates[np.argsort(chunks[candidates], kind="mergesort")]
    group_members = np.full((by_chunks.size, 2), -1, np.int64)
    groups = 0
    low = 0
    high = by_chunks.size - 1
    while low <= high:
        group_members[groups, 0] = by_chunks[high]
        if low < high and chunks[by_chunks[low]] + chunks[by_chunks[high]] <= usable:
            group_members[groups, 1] = by_chunks[low]
            low += 1
        high -= 1
        groups += 1
    return group_members[:groups]


@njit(cache=True, nogil=True)
def _choose_hosts(pfns, sizes, group_members, n_pages):
    """A host page per group (see the module notes); returns (status, host of each group)."""
    n_groups = group_members.shape[0]
    group_of = np.full(pfns.size, -1, np.int64)
    others_on_page = np.full((n_pages, 2), -1, np.int64)   # movable objects on each page
    for g in range(n_groups):
        for member in group_members[g]:
            if member >= 0:
                group_of[member] = g
                slot = 0 if others_on_page[pfns[member], 0] < 0 else 1
                others_on_page[pfns[member], slot] = member
    host = np.full(n_groups, -1, np.int64)
    hosted = np.full(n_pages, -1, np.int64)
    # each group is queued once as forced or chosen, and at most twice by its pages' hosts
    queue_group = np.empty(3 * n_groups + 1, np.int64)
    queue_page = np.empty(3 * n_groups + 1, np.int64)
    for start in range(-1, n_groups):
        queued = 0
        if start < 0:     # first pass: the forced choices
            for g in range(n_groups):
                a, b = group_members[g, 0], group_members[g, 1]
                if b < 0 or pfns[a] == pfns[b]:
                    queue_group[queued] = g
                    queue_page[queued] = pfns[a]
                    queued += 1
        elif host[start] < 0:
            a, b = group_members[start, 0], group_members[start, 1]
            keep = a if sizes[a] >= sizes[b] else b
            other = b if keep == a else a
            queue_group[0] = start
            queue_page[0] = pfns[keep] if hosted[pfns[keep]] < 0 else pfns[other]
            queued = 1
        head = 0
        while head < queued:
            g = queue_group[head]
            page = queue_page[head]
            head += 1
            if host[g] == page:
                continue
            if host[g] >= 0 or hosted[page] >= 0:
                return PLAN_INCONSISTENT, host
            host[g] = page
            hosted[page] = g
            for z in others_on_page[page]:
                if z >= 0 and group_of[z] != g and host[group_of[z]] < 0:
                    gz = group_of[z]
                    partner = group_members[gz, 0] if group_members[gz, 1] == z else group_members[gz, 1]
                    if partner < 0 or queued >= queue_group.size:
                        return PLAN_INCONSISTENT, host
                    queue_group[queued] = gz
                    queue_page[queued] = pfns[partner]
                    queued += 1
    return PLAN_OK, host


@njit(cache=True, nogil=True)
def _component_roots(pfns, group_members, n_pages):
    """Union-find over pages: the pages of a group's members belong together."""
    parent = np.arange(n_pages)
    for g in range(group_members.shape[0]):
        a, b = group_members[g, 0], group_members[g, 1]
        if b >= 0:
            ra = pfns[a]
            while parent[ra] != ra:
                parent[ra] = parent[parent[ra]]
                ra = parent[ra]
            rb = pfns[b]
            while parent[rb] != rb:
                parent[rb] = parent[parent[rb]]
                rb = parent[rb]
            parent[max(ra, rb)] = min(ra, rb)
    for page in range(n_pages):
        root = page
        while parent[root] != root:
            root = parent[root]
        parent[page] = root
    return parent


@njit(cache=True, nogil=True)
def compaction_plan(geometry, pages, handles, counters, max_bytes):
    """The moves that compact the pool (all of them, or the best within ``max_bytes`` >= 0).

    Returns ``(status, slots, pfns, sides)``: move the object in handle slot ``slots[i]`` to side
    ``sides[i]`` (0 FIRST, 1 LAST) of page ``pfns[i]``. Changes nothing.
    """
    usable = geometry[t.G_USABLE_CHUNKS]
    n_pages = counters[t.C_PAGE_WATERMARK]
    slots, pfns, sides, chunks, sizes = _gather_objects(geometry, pages, handles, counters)
    empty = np.empty(0, np.int64)
    if slots.size == 0:
        return PLAN_OK, empty, empty, empty
    movable = _pairs_to_break(pfns, chunks, usable)
    group_members = _match(chunks, movable, usable)
    status, host = _choose_hosts(pfns, sizes, group_members, n_pages)
    if status != PLAN_OK:
        return status, empty, empty, empty
    root = _component_roots(pfns, group_members, n_pages)

    # per component: pages freed and bytes moved; the moves themselves
    component_pages = np.zeros(n_pages, np.int64)
    component_groups = np.zeros(n_pages, np.int64)
    component_bytes = np.zeros(n_pages, np.int64)
    counted = np.zeros(n_pages, np.bool_)
    n_groups = group_members.shape[0]
    mover = np.full(n_groups, -1, np.int64)
    for g in range(n_groups):
        component_groups[root[host[g]]] += 1
        for member in group_members[g]:
            if member >= 0:
                if not counted[pfns[member]]:
                    counted[pfns[member]] = True
                    component_pages[root[pfns[member]]] += 1
                if pfns[member] != host[g]:
                    mover[g] = member
                    component_bytes[root[host[g]]] += sizes[member]
    chosen = np.zeros(n_pages, np.bool_)
    frees = component_pages - component_groups
    if max_bytes < 0:
        chosen[:] = frees > 0
    else:
        candidates = np.flatnonzero(frees > 0)
        ratio = frees[candidates] / np.maximum(component_bytes[candidates], 1)
        budget = max_bytes
        for c in candidates[np.argsort(-ratio, kind="mergesort")]:
            if component_bytes[c] <= budget:
                chosen[c] = True
                budget -= component_bytes[c]

    n_moves = 0
    for g in range(n_groups):
        if mover[g] >= 0 and chosen[root[host[g]]]:
            n_moves += 1
    move_slots = np.empty(n_moves, np.int64)
    move_pfns = np.empty(n_moves, np.int64)
    move_sides = np.empty(n_moves, np.int64)
    k = 0
    for g in range(n_groups):
        m = mover[g]
        if m >= 0 and chosen[root[host[g]]]:
            staying = group_members[g, 0] if group_members[g, 1] == m else group_members[g, 1]
            move_slots[k] = slots[m]
            move_pfns[k] = host[g]
            move_sides[k] = 1 - sides[staying]
            k += 1
    return PLAN_OK, move_slots, move_pfns, move_sides


@njit(cache=True, nogil=True)
def _side_slot(record, side):
    return np.int64(record.first_slot if side == FIRST else record.last_slot) - 1


@njit(cache=True, nogil=True)
def _vacate(pages, handles, page_shift, slot):
    """Empty the side of its page that the object in ``slot`` occupies."""
    _empty_side(pages[handles[slot].address >> page_shift], slot)


@njit(cache=True, nogil=True)
def _place(geometry, pages, handles, slot, pfn):
    """Put the object in ``slot`` on page ``pfn``; returns its new address. The page then holds
    only the group's staying object, so the free side is the one the plan chose."""
    chunk_shift = geometry[t.G_CHUNK_SHIFT]
    chunks = (np.int64(handles[slot].size) + (np.int64(1) << chunk_shift) - 1) >> chunk_shift
    return _put_on_page(pages[pfn], pfn, slot, chunks, geometry[t.G_PAGE_SHIFT], chunk_shift,
                        geometry[t.G_FIRST_OFFSET])


@njit(cache=True, nogil=True)
def apply_moves(geometry, pages, handles, blocks, stack_heads, counters, arena, slots, pfns, sides):
    """Move objects as :func:`compaction_plan` says, then re-file and release the pages that changed.

    Returns ``(pages_freed, bytes_moved, moved)``: ``moved`` holds the moved objects' handles in
    the order they moved. ``pages_freed`` is -1, and nothing has changed, if a destination is held by an object
    that is not moving (the plan does not fit the tables). The caller has reserved room for two
    stack pushes per move.
    """
    page_shift = geometry[t.G_PAGE_SHIFT]
    n = slots.size
    move_of_slot = np.full(counters[t.C_SLOT_WATERMARK], -1, np.int64)
    touched = np.zeros(counters[t.C_PAGE_WATERMARK], np.bool_)
    for m in range(n):
        move_of_slot[slots[m]] = m
        touched[handles[slots[m]].address >> page_shift] = True
        touched[pfns[m]] = True
    moved = np.empty(n, np.uint64)
    for m in range(n):
        occupant = _side_slot(pages[pfns[m]], sides[m])
        if occupant >= 0 and move_of_slot[occupant] < 0:
            return -1, 0, moved
    done = np.zeros(n, np.bool_)
    in_chain = np.zeros(n, np.bool_)
    chain = np.empty(n, np.int64)
    ran = 0
    scratch = np.empty(np.int64(1) << page_shift, np.uint8)
    bytes_moved = 0
    for first in range(n):
        if done[first]:
            continue
        length = 0
        parked = -1
        m = first
        while True:                  # follow the objects sitting where the previous one goes
            chain[length] = m
            length += 1
            in_chain[m] = True
            occupant = _side_slot(pages[pfns[m]], sides[m])
            if occupant < 0:
                break
            m = move_of_slot[occupant]
            if in_chain[m]:
                parked = m
                break
        if parked >= 0:
            address = handles[slots[parked]].address
            size = handles[slots[parked]].size
            copy_bytes(scratch, 0, arena, address, size)
            _vacate(pages, handles, page_shift, slots[parked])
        for i in range(length - 1, -1, -1):
            m = chain[i]
            slot = slots[m]
            entry = handles[slot]
            size = np.int64(entry.size)
            if m != parked:
                _vacate(pages, handles, page_shift, slot)
            address = _place(geometry, pages, handles, slot, pfns[m])
            if m == parked:
                copy_bytes(arena, address, scratch, 0, size)
            else:
                copy_bytes(arena, address, arena, entry.address, size)
            entry.address = address
            bytes_moved += size
            done[m] = True
            in_chain[m] = False
            moved[ran] = t.make_handle(slot, entry.generation)
            ran += 1

    usable = geometry[t.G_USABLE_CHUNKS]
    for pfn in range(touched.size):
        record = pages[pfn]
        if touched[pfn] and (record.first_slot != 0 or record.last_slot != 0):
            _file_page(pages, blocks, stack_heads, counters, usable, pfn)
    freed = 0
    for pfn in range(touched.size - 1, -1, -1):
        record = pages[pfn]
        if touched[pfn] and record.first_slot == 0 and record.last_slot == 0:
            _clear_page(record)
            t.release_page(pages, counters, pfn)
            freed += 1
    counters[t.C_PAGES_COMPACTED] += freed
    return freed, bytes_moved, moved
