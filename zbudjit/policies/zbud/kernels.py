"""The zbud policy: at most two buddies per page, placed exactly as Linux's mm/zbud.c places them.

Memory layout
-------------
A page of ``page_size`` bytes is cut into 64 chunks of ``page_size / 64`` bytes. With
``reserve_header_chunk`` the first chunk holds nothing (the kernel keeps its header there), so
63 chunks are usable and the FIRST buddy starts at byte ``chunk``; otherwise all 64 are usable and
FIRST starts at byte 0. The LAST buddy ends at the end of the page. An object takes
``ceil(size / chunk)`` chunks and may be as large as ``usable - 1`` chunks.

No byte of metadata lives in the arena. Each page has one 24-byte PAGE_DTYPE record, the fields of
the kernel's ``struct zbud_header`` plus the list links that replace its ``list_head``s:

    first_slot, last_slot    handle slot + 1 of the FIRST / LAST buddy, 0 when that side is empty
    first_chunks, last_chunks
    free_list                i < usable: in unbuddied[i] (one buddy, i free chunks);
                             BUDDIED: both buddies; NO_LIST (0): a free page
    stamp                    a filed page: stamp of its live entry in its unbuddied stack (see
                             engine/tables.py); a released page: the next pfn of the released-page stack
    lru_pos                  index of the page's live entry in the LRU log, 0 when not on the LRU

Buddied pages are never taken from their list by the algorithm, so ``buddied`` is only a state, not
a stack. A new page is the most recently released page, else the lowest never-used pfn.

Every kernel here is the algorithm of kernel-notes.md applied element by element in batch order;
:mod:`zbudjit.policies.zbud.spec` is the same policy in plain Python and the tests hold one to the other.
"""

import numpy as np
from numba import njit
from numba.cpython.unsafe.numbers import trailing_zeros

from ...engine import tables as t
from ... import errors
from ...engine.memory import copy_object, prefetch_record, prefetch_write, store_fence, streaming

PAGE_DTYPE = np.dtype([
    ("first_slot", np.uint32),
    ("last_slot", np.uint32),
    ("first_chunks", np.uint8),
    ("last_chunks", np.uint8),
    ("free_list", np.uint8),
    ("stamp", np.uint32),
    ("lru_pos", np.int64),
], align=True)
assert PAGE_DTYPE.itemsize == 24

CHUNKS_PER_PAGE = 64
BUDDIED = 64
LOOK_AHEAD = 16            # pops of a list between prefetching a page record and taking the page
LOOK_AHEAD_BATCH = 64      # smaller alloc batches do not look ahead: starting costs a walk a list


def new_geometry(n_pages, page_size, reserve_header_chunk):
    """The geometry array (``engine.tables.G_*``) of a zbud pool; see the layout notes above."""
    chunk = page_size // CHUNKS_PER_PAGE
    usable = CHUNKS_PER_PAGE - (1 if reserve_header_chunk else 0)
    geometry = np.zeros(t.N_GEOMETRY, np.int64)
    geometry[t.G_PAGES] = n_pages
    geometry[t.G_PAGE_SHIFT] = page_size.bit_length() - 1
    geometry[t.G_CHUNK_SHIFT] = chunk.bit_length() - 1
    geometry[t.G_USABLE_CHUNKS] = usable
    geometry[t.G_FIRST_OFFSET] = (CHUNKS_PER_PAGE - usable) * chunk
    geometry[t.G_MAX_SIZE] = (usable - 1) * chunk
    return geometry


def new_page_table(n_pages):
    """All pages free: zero records, materialised only when touched."""
    return t.zeroed(n_pages, PAGE_DTYPE, reserve=False)


@njit(cache=True, nogil=True)
def _file_page(pages, blocks, stack_heads, counters, usable, pfn):
    """File a page after its buddies changed: unbuddied[free chunks] or buddied."""
    record = pages[pfn]
    if record.first_slot == 0 or record.last_slot == 0:
        free_chunks = usable - np.int64(record.first_chunks) - np.int64(record.last_chunks)
        t.push_page(pages, blocks, stack_heads, counters, free_chunks, pfn)
    else:
        record.free_list = BUDDIED


@njit(cache=True, nogil=True)
def _side_address(pfn, chunks, last, page_shift, chunk_shift, first_offset):
    """Byte address of a buddy: FIRST at ``first_offset``, LAST against the end of the page."""
    if last:
        return ((pfn + 1) << page_shift) - (np.int64(chunks) << chunk_shift)
    return (pfn << page_shift) + first_offset


@njit(cache=True, nogil=True)
def _put_on_page(record, pfn, slot, chunks, page_shift, chunk_shift, first_offset):
    """Put the object in handle ``slot`` on the page's free side (FIRST if empty, as zbud does,
    else LAST); returns its address."""
    last = record.first_slot != 0
    if last:
        record.last_slot = slot + 1
        record.last_chunks = chunks
    else:
        record.first_slot = slot + 1
        record.first_chunks = chunks
    return _side_address(pfn, chunks, last, page_shift, chunk_shift, first_offset)


@njit(cache=True, nogil=True)
def _empty_side(record, slot):
    """Take the object in handle ``slot`` off its side of the page."""
    if record.first_slot == slot + 1:
        record.first_slot = 0
        record.first_chunks = 0
    else:
        record.last_slot = 0
        record.last_chunks = 0


@njit(cache=True, nogil=True)
def _clear_page(record):
    """The free state: an all-zero record (release_page then links it into the released stack)."""
    record.first_slot = 0
    record.last_slot = 0
    record.first_chunks = 0
    record.last_chunks = 0
    record.free_list = t.NO_LIST
    record.stamp = 0
    record.lru_pos = t.LRU_NONE


@njit(cache=True, nogil=True)
def alloc_kernel(geometry, pages, handles, free_slots, blocks, stack_heads, lru_log, counters,
                 arena, sizes, data, offsets, out):
    """Allocate ``sizes`` in order; with non-empty ``offsets``, also copy each object's bytes.

    On POOL_FULL the elements before the failing one are undone (:func:`_undo_alloc`).
    Answers NEED_ROOM unless there is a handle slot, room for a stack entry and an LRU entry per
    element.
    """
    n = sizes.size
    for i in range(n):
        if sizes[i] < 1 or sizes[i] > geometry[t.G_MAX_SIZE]:
            return errors.BAD_SIZE, i
    # a push and an LRU entry an element at most (an undo re-files only pages taken from lists)
    if not t.has_room(handles, blocks, stack_heads, counters, n, n) \
            or lru_log.size - counters[t.C_LRU_LEN] < n:
        return errors.NEED_ROOM, 0
    n_pages = geometry[t.G_PAGES]
    page_shift = geometry[t.G_PAGE_SHIFT]
    chunk_shift = geometry[t.G_CHUNK_SHIFT]
    usable = geometry[t.G_USABLE_CHUNKS]
    first_offset = geometry[t.G_FIRST_OFFSET]
    chunk_round = (np.int64(1) << chunk_shift) - 1
    before = counters.copy()
    # Bit k set: unbuddied[k] may hold a page. Only this batch changes the lists while it runs,
    # so the mask stays exact and the search for a list jumps over the empty ones.
    nonempty = np.uint64(0)
    for free_list in range(usable):
        if stack_heads[free_list] >= 0:
            nonempty |= np.uint64(1) << np.uint64(free_list)
    # ahead[k]: the deepest entry of unbuddied[k] whose page record has been prefetched, as the
    # index of its pfn word in ``blocks`` (-1: none; -2: not started). Each entry popped moves it
    # one further down, so the page a pop returns was asked for about LOOK_AHEAD pops earlier; a
    # walk into the next block down asks for the block after that, BLOCK_ENTRIES pops before use.
    ahead = np.full(usable, -2 if n >= LOOK_AHEAD_BATCH else -1, np.int64)
    previous = -1                          # the page of the previous object, now the LRU head
    bytes_placed = 0                       # added to the counters at the end: fewer stores
    chunks_placed = 0
    for i in range(n):
        size = sizes[i]
        chunks = (size + chunk_round) >> chunk_shift
        pfn = -1
        candidates = nonempty >> np.uint64(chunks)
        while candidates:
            free_list = chunks + np.int64(trailing_zeros(candidates))
            # the pop and the look-ahead, written out: as calls taking the tables they would keep
            # reference counting in this loop (see the notes at the top of engine/tables.py)
            block = stack_heads[free_list]
            steps = 1
            if ahead[free_list] == -2:
                ahead[free_list] = t.top_entry(blocks, block)
                steps = LOOK_AHEAD
            while block >= 0:
                top = t.top_entry(blocks, block)
                popped = np.int64(blocks[top])
                stamp = blocks[top + 1]
                for _ in range(steps):               # before the block can be freed below
                    below = ahead[free_list]
                    if below < 0:
                        break
                    if below & (t.BLOCK_WORDS - 1) > t.B_ENTRY:
                        below -= 2
                    else:
                        link = blocks[below - t.B_ENTRY + t.B_NEXT]
                        if link == t.NONE32:
                            ahead[free_list] = -1
                            break
                        # the top entry of the next block down (full, like every block below a top)
                        below = np.int64(link) * t.BLOCK_WORDS + t.B_ENTRY + 2 * t.BLOCK_ENTRIES - 2
                        link = blocks[np.int64(link) * t.BLOCK_WORDS + t.B_NEXT]
                        if link != t.NONE32:
                            prefetch_write(blocks, np.int64(link) * t.BLOCK_WORDS)
                    ahead[free_list] = below
                    prefetch_record(pages, blocks[below])
                steps = 1
                if top == block * t.BLOCK_WORDS + t.B_ENTRY:
                    link = blocks[block * t.BLOCK_WORDS + t.B_NEXT]
                    stack_heads[free_list] = -1 if link == t.NONE32 else np.int64(link)
                    t.free_block(blocks, counters, block)
                else:
                    blocks[block * t.BLOCK_WORDS + t.B_COUNT] -= 1
                if pages[popped].free_list == free_list and pages[popped].stamp == stamp:
                    pfn = popped
                    break
                block = stack_heads[free_list]
            if stack_heads[free_list] < 0:
                nonempty &= ~(np.uint64(1) << np.uint64(free_list))
            if pfn >= 0:
                break
            candidates = nonempty >> np.uint64(chunks)
        if pfn < 0:
            pfn = t.take_page(pages, counters, n_pages)
            if pfn < 0:
                counters[t.C_OBJECTS] += i
                counters[t.C_BYTES_STORED] += bytes_placed
                counters[t.C_CHUNKS_USED] += chunks_placed
                _undo_alloc(geometry, pages, handles, free_slots, blocks, stack_heads, lru_log,
                            counters, out, i, before)
                return errors.POOL_FULL, i
            if counters[t.C_RELEASED_HEAD] >= 0:       # the next take's record
                prefetch_record(pages, counters[t.C_RELEASED_HEAD])
        record = pages[pfn]
        if counters[t.C_SLOTS_FREE] > t.PREFETCH_AHEAD:  # the slot taken PREFETCH_AHEAD allocs on
            prefetch_write(handles, free_slots[counters[t.C_SLOTS_FREE] - t.PREFETCH_AHEAD])
        slot = t.take_slot(handles, free_slots, counters)
        address = _put_on_page(record, pfn, slot, chunks, page_shift, chunk_shift, first_offset)
        _file_page(pages, blocks, stack_heads, counters, usable, pfn)
        if record.free_list != BUDDIED:
            nonempty |= np.uint64(1) << np.uint64(record.free_list)
        t.lru_to_head(pages, lru_log, counters, pfn, pfn != previous)
        previous = pfn
        entry = handles[slot]
        entry.address = address
        entry.size = size
        out[i] = t.make_handle(slot, entry.generation)
        bytes_placed += size
        chunks_placed += chunks
    counters[t.C_OBJECTS] += n
    counters[t.C_BYTES_STORED] += bytes_placed
    counters[t.C_CHUNKS_USED] += chunks_placed
    if offsets.size > 0:      # only now that nothing can fail: a failed batch leaves no byte behind
        stream = streaming(offsets[n] - offsets[0])
        for i in range(n):
            if not stream and i + t.PREFETCH_AHEAD < n:   # a streaming store needs no line
                prefetch_write(arena, handles[t.handle_slot(out[i + t.PREFETCH_AHEAD])].address)
            copy_object(arena, handles[t.handle_slot(out[i])].address, data, offsets[i], sizes[i],
                        stream)
        if stream:
            store_fence()
    return errors.OK, 0


@njit(cache=True, nogil=True)
def _undo_alloc(geometry, pages, handles, free_slots, blocks, stack_heads, lru_log, counters, out,
                done, before):
    """Undo the first ``done`` elements of an alloc batch, last first; ``before`` is a copy of
    the counters taken when the batch started.

    What is left on an element's page says where the page came from. One buddy left: it
    was popped from the unbuddied list of its free chunks, and its LRU position was its latest
    entry before the batch (a page's live entry is always its latest). That is wrong only for a
    page this batch filed itself, which the undo of the element that filed it then empties.
    Empty: it was never used (at or above the old page watermark) or the released page on top
    of the stack. A slot at or above the old slot watermark was never used; any other came off
    the free stack.
    """
    chunk_round = (np.int64(1) << geometry[t.G_CHUNK_SHIFT]) - 1
    usable = geometry[t.G_USABLE_CHUNKS]
    first_entry = before[t.C_LRU_LEN]
    latest = np.zeros(counters[t.C_PAGE_WATERMARK], np.int64)    # LRU_NONE
    for position in range(before[t.C_LRU_TAIL], first_entry):
        latest[lru_log[position]] = position
    for j in range(done - 1, -1, -1):
        slot = t.handle_slot(out[j])
        size = np.int64(handles[slot].size)
        pfn = handles[slot].address >> geometry[t.G_PAGE_SHIFT]
        record = pages[pfn]
        _empty_side(record, slot)
        t.untake_slot(handles, free_slots, counters, slot, slot < before[t.C_SLOT_WATERMARK])
        counters[t.C_OBJECTS] -= 1
        counters[t.C_BYTES_STORED] -= size
        counters[t.C_CHUNKS_USED] -= (size + chunk_round) >> geometry[t.G_CHUNK_SHIFT]
        if record.first_slot != 0 or record.last_slot != 0:
            free_chunks = usable - np.int64(record.first_chunks) - np.int64(record.last_chunks)
            t.push_page(pages, blocks, stack_heads, counters, free_chunks, pfn)
            record.lru_pos = latest[pfn]
        else:
            _clear_page(record)
            t.untake_page(pages, counters, pfn, pfn < before[t.C_PAGE_WATERMARK])
    counters[t.C_LRU_LEN] = first_entry


@njit(cache=True, nogil=True)
def free_kernel(geometry, pages, handles, free_slots, blocks, stack_heads, counters, batch):
    """Free every handle in ``batch`` in order; nothing changes unless all are live and distinct.

    Pass 1 validates each handle and frees its slot at once (a repeated handle then fails as
    no longer live), keeping the object's pfn and size in ``scratch`` (n x 2 uint32, 8 bytes an
    object to write and read back), so that pass 2 works on the pages without touching the
    handle table again. A bad handle undoes pass 1. Answers NEED_ROOM unless there is room for
    one stack entry per element.
    """
    n = batch.size
    if not t.has_room(handles, blocks, stack_heads, counters, 0, n):
        return errors.NEED_ROOM, 0
    scratch = np.empty((n, 2), np.uint32)
    watermark = counters[t.C_SLOT_WATERMARK]
    page_shift = geometry[t.G_PAGE_SHIFT]
    for i in range(n):
        if i + t.PREFETCH_AHEAD < n:
            ahead = t.handle_slot(batch[i + t.PREFETCH_AHEAD])
            if 0 <= ahead < handles.size:       # the handle is not checked yet
                prefetch_write(handles, ahead)
        slot = t.slot_below(batch[i], watermark)
        if slot < 0 or not t.holds(handles[slot], batch[i]):
            _unfree_slots(geometry, pages, handles, counters, batch, scratch, i)
            for j in range(i):
                if batch[j] == batch[i]:
                    return errors.DUPLICATE_HANDLE, i
            return errors.BAD_HANDLE, i
        scratch[i, 0] = handles[slot].address >> page_shift
        scratch[i, 1] = handles[slot].size
        t.free_slot(handles, free_slots, counters, slot)
    usable = geometry[t.G_USABLE_CHUNKS]
    chunk_shift = geometry[t.G_CHUNK_SHIFT]
    for i in range(n):
        # _free_object and _file_or_release, written out: calls taking the tables would keep
        # their reference counting in this loop (see engine/tables.py)
        if i + t.PREFETCH_AHEAD < n:
            prefetch_record(pages, scratch[i + t.PREFETCH_AHEAD, 0])
        slot = t.handle_slot(batch[i])
        size = np.int64(scratch[i, 1])
        pfn = np.int64(scratch[i, 0])
        counters[t.C_OBJECTS] -= 1
        counters[t.C_BYTES_STORED] -= size
        counters[t.C_CHUNKS_USED] -= (size + (np.int64(1) << chunk_shift) - 1) >> chunk_shift
        record = pages[pfn]
        _empty_side(record, slot)
        if record.first_slot == 0 and record.last_slot == 0:
            _clear_page(record)
            t.release_page(pages, counters, pfn)
        else:
            _file_page(pages, blocks, stack_heads, counters, usable, pfn)
    return errors.OK, 0


@njit(cache=True, nogil=True)
def _unfree_slots(geometry, pages, handles, counters, batch, scratch, done):
    """Undo pass 1 of :func:`free_kernel` for its first ``done`` elements, last first.

    Freeing a slot keeps its address unless it retires it; a retired slot's address is worked
    out again from its page, which pass 1 does not change.
    """
    for i in range(done - 1, -1, -1):
        slot = t.handle_slot(batch[i])
        entry = handles[slot]
        entry.size = scratch[i, 1]
        if entry.address == t.RETIRED:
            counters[t.C_SLOTS_RETIRED] -= 1
            pfn = np.int64(scratch[i, 0])
            last = pages[pfn].first_slot != slot + 1
            chunks = pages[pfn].last_chunks if last else pages[pfn].first_chunks
            entry.address = _side_address(pfn, chunks, last, geometry[t.G_PAGE_SHIFT],
                                          geometry[t.G_CHUNK_SHIFT], geometry[t.G_FIRST_OFFSET])
        else:
            counters[t.C_SLOTS_FREE] -= 1         # it is on top: pass 1 pushed in batch order
            entry.generation -= np.uint32(1)


@njit(cache=True, nogil=True)
def _free_object(geometry, pages, handles, free_slots, counters, slot):
    """Free a live object: empty its side of the page and its handle slot; returns its pfn."""
    entry = handles[slot]
    size = np.int64(entry.size)
    pfn = entry.address >> geometry[t.G_PAGE_SHIFT]
    chunk_shift = geometry[t.G_CHUNK_SHIFT]
    t.free_slot(handles, free_slots, counters, slot)
    counters[t.C_OBJECTS] -= 1
    counters[t.C_BYTES_STORED] -= size
    counters[t.C_CHUNKS_USED] -= (size + (np.int64(1) << chunk_shift) - 1) >> chunk_shift
    record = pages[pfn]
    _empty_side(record, slot)
    return pfn


@njit(cache=True, nogil=True)
def _file_or_release(pages, blocks, stack_heads, counters, usable, pfn):
    """After a page lost buddies: release it if empty (it leaves its list and the LRU), else re-file.

    Returns True when the page was released.
    """
    record = pages[pfn]
    if record.first_slot == 0 and record.last_slot == 0:
        _clear_page(record)
        t.release_page(pages, counters, pfn)
        return True
    _file_page(pages, blocks, stack_heads, counters, usable, pfn)
    return False


@njit(cache=True, nogil=True)
def reclaim_victims(pages, handles, lru_log, counters, n_pages):
    """The ``n_pages`` least recently used pages, tail first, and the handles on them.

    Returns ``(victims, handles)``: handles page by page, FIRST before LAST. Changes nothing.
    """
    victims = np.empty(min(n_pages, counters[t.C_PAGES_USED]), np.int64)
    found = 0
    position = counters[t.C_LRU_TAIL]
    while found < victims.size and position < counters[t.C_LRU_LEN]:
        pfn = np.int64(lru_log[position])
        if pages[pfn].lru_pos == position:
            victims[found] = pfn
            found += 1
        position += 1
    victims = victims[:found]
    on_victims = np.empty(2 * found, np.uint64)
    count = 0
    for pfn in victims:
        for slot_plus_one in (pages[pfn].first_slot, pages[pfn].last_slot):
            if slot_plus_one != 0:
                slot = np.int64(slot_plus_one) - 1
                on_victims[count] = t.make_handle(slot, handles[slot].generation)
                count += 1
    return victims, on_victims[:count]


@njit(cache=True, nogil=True)
def reclaim_kernel(geometry, pages, handles, free_slots, blocks, stack_heads, lru_log, counters,
                   victims, written):
    """Evict the objects marked ``written`` from ``victims`` (as :func:`reclaim_victims` found them).

    Page by page, as zbud_reclaim_page does: the page leaves its list and the LRU, its written
    objects are freed, and it is released if empty, else re-filed and put at the LRU head.
    Returns the number of pages released. The caller has reserved room for a stack entry and an
    LRU entry per victim.
    """
    usable = geometry[t.G_USABLE_CHUNKS]
    released = 0
    k = 0
    for pfn in victims:
        record = pages[pfn]
        record.free_list = t.NO_LIST
        record.lru_pos = t.LRU_NONE
        for slot_plus_one in (record.first_slot, record.last_slot):
            if slot_plus_one != 0:
                if written[k]:
                    _free_object(geometry, pages, handles, free_slots, counters,
                                 np.int64(slot_plus_one) - 1)
                k += 1
        if _file_or_release(pages, blocks, stack_heads, counters, usable, pfn):
            released += 1
        else:
            t.lru_to_head(pages, lru_log, counters, pfn, True)
    position = counters[t.C_LRU_TAIL]
    while position < counters[t.C_LRU_LEN] and pages[lru_log[position]].lru_pos != position:
        position += 1
    counters[t.C_LRU_TAIL] = position
    return released


@njit(cache=True, nogil=True)
def free_chunks_histogram(pages, lru_log, counters, usable):
    """How many used pages have 0, 1, ... ``usable`` free chunks (the LRU log lists the used pages)."""
    histogram = np.zeros(usable + 1, np.int64)
    for position in range(counters[t.C_LRU_TAIL], counters[t.C_LRU_LEN]):
        record = pages[lru_log[position]]
        if record.lru_pos == position:
            histogram[usable - np.int64(record.first_chunks) - np.int64(record.last_chunks)] += 1
    return histogram



# check_kernel findings: (code, index); zbudjit.pool turns them into messages.
BAD_COUNTERS = 1
BAD_PAGE_SLOT = 2
BAD_PAGE_CHUNKS = 3
BAD_PAGE_LIST = 4
BAD_PAGE_LRU = 5
BAD_FREE_PAGE = 6
BAD_HANDLE_ENTRY = 7
BAD_SLOT_STACK = 8
BAD_RELEASED_STACK = 9
BAD_LIST_STACK = 10
BAD_LRU_LOG = 11
BAD_TOTALS = 12
BAD_GEOMETRY = 13


@njit(cache=True, nogil=True)
def _check_side(geometry, pages, handles, counters, pfn, slot_plus_one, chunks, last):
    """The handle a page side names points back at that side with matching chunks."""
    if slot_plus_one == 0:
        return chunks == 0
    slot = np.int64(slot_plus_one) - 1
    if slot >= counters[t.C_SLOT_WATERMARK]:
        return False
    entry = handles[slot]
    size = np.int64(entry.size)
    chunk_shift = geometry[t.G_CHUNK_SHIFT]
    if size == 0 or ((size + (np.int64(1) << chunk_shift) - 1) >> chunk_shift) != chunks:
        return False
    return entry.address == _side_address(pfn, chunks, last, geometry[t.G_PAGE_SHIFT], chunk_shift,
                                          geometry[t.G_FIRST_OFFSET])


@njit(cache=True, nogil=True)
def check_kernel(geometry, pages, handles, free_slots, blocks, stack_heads, lru_log, counters):
    """Audit every table against every other; returns (finding, index), finding 0 when sound.

    Whatever the tables hold, nothing is indexed before it is known to be in range: the
    geometry and the counters are audited against the tables' sizes first.
    """
    if geometry.size != t.N_GEOMETRY:
        return BAD_GEOMETRY, 0
    n_pages = geometry[t.G_PAGES]
    usable = geometry[t.G_USABLE_CHUNKS]
    chunk_shift = geometry[t.G_CHUNK_SHIFT]
    page_shift = geometry[t.G_PAGE_SHIFT]
    if not (12 <= page_shift <= 16 and chunk_shift == page_shift - 6
            and (usable == CHUNKS_PER_PAGE - 1 or usable == CHUNKS_PER_PAGE)
            and geometry[t.G_FIRST_OFFSET] == (CHUNKS_PER_PAGE - usable) << chunk_shift
            and geometry[t.G_MAX_SIZE] == (usable - 1) << chunk_shift
            and 0 <= n_pages <= pages.size):
        return BAD_GEOMETRY, 0
    if stack_heads.size != CHUNKS_PER_PAGE:
        return BAD_COUNTERS, -1
    bad = t.audit_counters(handles, free_slots, blocks, lru_log, counters, n_pages, True)
    if bad != t.AUDIT_OK:
        return BAD_COUNTERS, bad
    watermark = counters[t.C_PAGE_WATERMARK]
    used = 0
    in_list = np.zeros(usable, np.int64)
    for pfn in range(n_pages):
        record = pages[pfn]
        if pfn >= watermark and (record.first_slot != 0 or record.last_slot != 0 or record.stamp != 0):
            return BAD_FREE_PAGE, pfn
        first = np.int64(record.first_chunks)
        last = np.int64(record.last_chunks)
        if not (_check_side(geometry, pages, handles, counters, pfn, record.first_slot, first, False)
                and _check_side(geometry, pages, handles, counters, pfn, record.last_slot, last, True)):
            return BAD_PAGE_SLOT, pfn
        if first > usable - 1 or last > usable - 1 or first + last > usable:
            return BAD_PAGE_CHUNKS, pfn
        if record.first_slot == 0 and record.last_slot == 0:
            if record.free_list != t.NO_LIST or record.lru_pos != t.LRU_NONE:
                return BAD_FREE_PAGE, pfn
            continue
        used += 1
        if record.first_slot != 0 and record.last_slot != 0:
            if record.free_list != BUDDIED:
                return BAD_PAGE_LIST, pfn
        elif record.free_list != usable - first - last:
            return BAD_PAGE_LIST, pfn
        else:
            in_list[record.free_list] += 1
        position = record.lru_pos
        if not (counters[t.C_LRU_TAIL] <= position < counters[t.C_LRU_LEN]
                and lru_log[position] == pfn):
            return BAD_PAGE_LRU, pfn
    if used != counters[t.C_PAGES_USED] or watermark - used != counters[t.C_RELEASED]:
        return BAD_TOTALS, 0

    # handle table: live entries point back from their page; totals match
    objects = 0
    stored = 0
    chunks_used = 0
    for slot in range(counters[t.C_SLOT_WATERMARK]):
        entry = handles[slot]
        size = np.int64(entry.size)
        if size == 0:
            continue
        pfn = entry.address >> page_shift
        if entry.address < 0 or pfn >= watermark or not (
                pages[pfn].first_slot == slot + 1 or pages[pfn].last_slot == slot + 1):
            return BAD_HANDLE_ENTRY, slot
        objects += 1
        stored += size
        chunks_used += (size + (np.int64(1) << chunk_shift) - 1) >> chunk_shift
    if (objects != counters[t.C_OBJECTS] or stored != counters[t.C_BYTES_STORED]
            or chunks_used != counters[t.C_CHUNKS_USED]):
        return BAD_TOTALS, 1

    bad = t.audit_free_slots(handles, free_slots, counters)
    if bad != t.AUDIT_OK:
        return BAD_SLOT_STACK, bad
    in_use = np.zeros(watermark, np.bool_)
    for pfn in range(watermark):
        in_use[pfn] = pages[pfn].first_slot != 0 or pages[pfn].last_slot != 0
    bad = t.audit_released(pages, counters, in_use)
    if bad != t.AUDIT_OK:
        return BAD_RELEASED_STACK, bad
    # unbuddied stacks: every filed page has exactly one live entry in its list's stack
    filed = np.full(stack_heads.size, -1, np.int64)          # lists that do not exist stay empty
    filed[1:usable] = in_list[1:usable]
    bad = t.audit_stacks(pages, blocks, stack_heads, counters, n_pages, filed)
    if bad != t.AUDIT_OK:
        return BAD_LIST_STACK, bad

    # LRU log: one live entry per page on the LRU, its latest (_undo_alloc relies on that)
    live = 0
    for position in range(counters[t.C_LRU_TAIL], counters[t.C_LRU_LEN]):
        pfn = np.int64(lru_log[position])
        if pfn >= n_pages:
            return BAD_LRU_LOG, position
        if pages[pfn].lru_pos == position:
            live += 1
        elif t.LRU_NONE < pages[pfn].lru_pos < position:
            return BAD_LRU_LOG, position
    on_lru = 0
    for pfn in range(watermark):
        if pages[pfn].lru_pos != t.LRU_NONE:
            on_lru += 1
    if live != on_lru:
        return BAD_LRU_LOG, -1
    return 0, 0


CHECK_MESSAGES = {
    BAD_COUNTERS: "counters are out of range of their tables (counter {}; -1: a table's size)",
    BAD_PAGE_SLOT: "page {} names a handle that does not point back at it with the same chunks",
    BAD_PAGE_CHUNKS: "page {} has buddies whose chunks do not fit the page",
    BAD_PAGE_LIST: "page {} is filed in the wrong free list for its buddies",
    BAD_PAGE_LRU: "page {} is used but has no live LRU entry",
    BAD_FREE_PAGE: "page {} is empty but still filed in a list or on the LRU",
    BAD_HANDLE_ENTRY: "handle slot {} disagrees with the page it points at",
    BAD_SLOT_STACK: "free-slot stack is broken at slot {}",
    BAD_RELEASED_STACK: "released-page stack is broken at pfn {}",
    BAD_LIST_STACK: "unbuddied stack {} does not match the pages filed in it",
    BAD_LRU_LOG: "LRU log is broken at entry {}",
    BAD_TOTALS: "object, byte or page totals disagree with the tables (check {})",
    BAD_GEOMETRY: "the page geometry is not one a pool can have",
}
