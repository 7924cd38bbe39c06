"""The zsmalloc policy's kernels: objects placed exactly as Linux 6.18's mm/zsmalloc.c places them.

Memory layout
-------------
Objects live in size classes (``classes.py``): a request of n bytes takes a slot of the class for
n + 8 (zs_malloc adds its in-object handle before the lookup; zbudjit keeps handles out of the
arena, so the 8 bytes stay unused, as they do in the kernel's huge class). A class's *zspage* is a
chain of ``pages_per_zspage`` single pages of the pool, taken one by one, so they need not be
neighbours in the arena. Slot k of a zspage is bytes [k * size, (k + 1) * size) of its pages laid
end to end: a slot may cross from one page of the chain into the next.

One 12-byte PAGE_DTYPE record per pfn, plus ``next_pages[pfn]`` (uint32): 16 bytes a page, the
fullness lists included (they are linked through the records, as the kernel links its zspages).

    stamp           On a zspage's first page: the previous zspage of its fullness list, NONE32
                    at the list's head. On its other pages: the pfn of the first page, so that a
                    free finds the zspage from the page its object starts in. On a released page:
                    the next pfn of the released-page stack (the engine's released-page helpers
                    know this word by the name ``stamp``). One field with three uses, as the
                    kernel's struct page unions do: each page needs only one of them.
    next            first page: the next zspage of its fullness list, NONE32 at the tail
    inuse           first page: slots allocated (at least 1: an emptied zspage is released)
    freeobj         first page: the head of the zspage's free-slot list. A number below UNTOUCHED
                    is a freed slot, which holds the next entry of the list in its first two bytes,
                    as the kernel keeps its free list in the free objects themselves (a free slot
                    holds no user bytes). UNTOUCHED | k says that slot k and every slot after it
                    have never been handed out: the kernel links all slots of a new zspage in
                    address order, and this is that untouched tail, so a new zspage costs no write
                    to the arena. FREE_END: no free slot. On the other pages of a zspage: NOT_HEAD,
                    which is how a first page is told from the others.
    next_pages      the next page of the zspage, NONE32 on its last page, 0 on a free page

A free page's record is zero but for ``stamp``. Free slots are reused last in, first out, then the
untouched ones in address order: exactly the order of the kernel's free list. Keeping that list
in the arena rather than in a table costs no metadata for small objects (a table would take 2
bytes a slot: 256 bytes a page for the 32-byte class); it costs a free one write into the freed
slot's first cache line.

The handle table's ``address`` holds the byte address of the slot (page where it starts, offset in
that page) and, above ``tables.ADDRESS_BITS``, the slot's index k in its zspage: the kernel's
``obj`` is the same pair (pfn, k).

Fullness groups 0..11 (classes.fullness_group) are doubly linked lists through the first pages'
records, headed by ``list_heads[class * GROUPS + group]`` (NONE32 when empty): a zspage moves to
the head of a group only when its group changes, and an emptied zspage is released at once (its
pages in chain order), so group 0 is always empty here. (zbud's stamped stacks would cost a
zspage 9 bytes more and never touch a neighbour; linked lists touch the two neighbours of a
zspage that changes group, and keep 16 bytes a page for every class.) A zspage's class is not
stored: an object's size gives it, and the lists name the class of every zspage in them.

Every kernel applies its batch element by element in order; ``spec.py`` is the same policy in
plain Python and the tests hold one to the other, and both to the live kernel.
"""

import numpy as np
from numba import njit

from ... import errors
from ...engine import tables as t
from ...engine.memory import copy_bytes, prefetch_record, prefetch_write

PAGE_DTYPE = np.dtype([
    ("stamp", np.uint32),      # first page: previous zspage of its list; others: the first pfn
    ("next", np.uint32),       # first page: next zspage of its list
    ("inuse", np.uint16),
    ("freeobj", np.uint16),
])
assert PAGE_DTYPE.itemsize == 12
GROUPS = 12                    # fullness groups a class has
GROUP_FULL = GROUPS - 1
UNTOUCHED = 0x8000             # freeobj / free-slot link flag: this slot and all after are untouched
SLOT_MASK = UNTOUCHED - 1
FREE_END = 0xFFFF              # freeobj / free-slot link: no free slot left
NOT_HEAD = 0xFFFE              # freeobj on a zspage's pages after the first
MAX_OBJS = NOT_HEAD & SLOT_MASK    # objs_per_zspage must stay below it (the most is 2048)
TAG_SHIFT = t.ADDRESS_BITS     # handle address bits above which the slot index is kept
# columns of the class table (``classes``: int64, one row per class index); the first four are
# the kernel's table, the last two the counts of a real class (one table, one kernel argument)
K_SIZE = 0
K_PAGES = 1                    # pages_per_zspage
K_OBJS = 2                     # objs_per_zspage
K_CLASS = 3                    # the real class this index uses
N_ALLOCATED = 4                # slots of the class's zspages (the kernel's obj_allocated)
N_USED = 5                     # slots holding objects (obj_used)
CLASS_COLUMNS = 6

# geometry[...] entries of their own (the engine's G_PAGES, G_PAGE_SHIFT and G_MAX_SIZE too)
G_CLASS_DELTA = t.G_CHUNK_SHIFT     # log2 of the class spacing
G_INDICES = t.G_USABLE_CHUNKS       # class indices
G_CHAIN_SIZE = t.G_FIRST_OFFSET


def new_geometry(n_pages, page_size, chain_size, n_indices):
    geometry = np.zeros(t.N_GEOMETRY, np.int64)
    geometry[t.G_PAGES] = n_pages
    geometry[t.G_PAGE_SHIFT] = page_size.bit_length() - 1
    geometry[G_CLASS_DELTA] = (page_size >> 8).bit_length() - 1
    geometry[G_INDICES] = n_indices
    geometry[G_CHAIN_SIZE] = chain_size
    geometry[t.G_MAX_SIZE] = page_size
    return geometry


@njit(cache=True, nogil=True)
def class_of(size, class_delta_shift, n_indices, classes):
    """The class index a request of ``size`` bytes uses: the class of size + 8, merged."""
    slot = size + 8
    index = 0 if slot <= 32 else (slot - 32 + (np.int64(1) << class_delta_shift) - 1) >> class_delta_shift
    return classes[min(index, n_indices - 1), K_CLASS]


@njit(cache=True, nogil=True)
def fullness(inuse, objs):
    """The fullness group of a zspage with ``inuse`` of its ``objs`` slots allocated."""
    if inuse == 0:
        return 0
    if inuse == objs:
        return GROUP_FULL
    return 100 * inuse // objs // 10 + 1


@njit(cache=True, nogil=True)
def list_of(cls, group):
    """The list_heads index of fullness group ``group`` of class ``cls``."""
    return cls * GROUPS + group


@njit(cache=True, nogil=True)
def _read_link(arena, address):
    return np.int64(arena[address]) | (np.int64(arena[address + 1]) << 8)


@njit(cache=True, nogil=True)
def _write_link(arena, address, link):
    arena[address] = link & 0xFF
    arena[address + 1] = link >> 8


@njit(cache=True, nogil=True)
def _slot_address(next_pages, first, byte, page_shift):
    """Byte address of the slot starting ``byte`` bytes into the zspage at ``first``."""
    pfn = first
    for _ in range(byte >> page_shift):
        pfn = np.int64(next_pages[pfn])
    return (pfn << page_shift) | (byte & ((np.int64(1) << page_shift) - 1))


@njit(cache=True, nogil=True)
def _zspage_of(pages, pfn):
    """The first page of the zspage holding page ``pfn``."""
    return pfn if pages[pfn].freeobj != NOT_HEAD else np.int64(pages[pfn].stamp)


@njit(cache=True, nogil=True)
def _link(pages, list_heads, free_list, first):
    """File the zspage at ``first`` at the head of list ``free_list``."""
    head = list_heads[free_list]
    record = pages[first]
    record.stamp = t.NONE32
    record.next = head
    if head != t.NONE32:
        pages[head].stamp = first
    list_heads[free_list] = first


@njit(cache=True, nogil=True)
def _unlink(pages, list_heads, free_list, first):
    """Take the zspage at ``first`` out of list ``free_list``, which holds it."""
    record = pages[first]
    before = record.stamp
    after = record.next
    if after != t.NONE32:
        pages[after].stamp = before
    if before == t.NONE32:
        list_heads[free_list] = after
    else:
        pages[before].next = after


@njit(cache=True, nogil=True)
def _head_of(list_heads, cls):
    """The zspage zs_malloc takes a slot of class ``cls`` from, the head of the fullest non-full
    group, and that group; (-1, -1) when every zspage of the class is full."""
    for group in range(GROUP_FULL - 1, 0, -1):
        if list_heads[list_of(cls, group)] != t.NONE32:
            return np.int64(list_heads[list_of(cls, group)]), group
    return -1, -1


@njit(cache=True, nogil=True)
def _take_slot_in(pages, next_pages, arena, first, size, objs, page_shift):
    """Allocate a slot in the zspage at ``first`` (obj_malloc): the head of its free-slot list.
    Returns (slot index, its byte address)."""
    record = pages[first]
    k = np.int64(record.freeobj)
    if k & UNTOUCHED:
        k &= SLOT_MASK
        record.freeobj = UNTOUCHED | (k + 1) if k + 1 < objs else FREE_END
        address = _slot_address(next_pages, first, k * size, page_shift)
    else:
        address = _slot_address(next_pages, first, k * size, page_shift)
        record.freeobj = _read_link(arena, address)
    record.inuse += 1
    return k, address


@njit(cache=True, nogil=True)
def _give_back_slot(pages, arena, first, k, address):
    """Free slot ``k`` (at ``address``) of the zspage at ``first`` (obj_free)."""
    record = pages[first]
    _write_link(arena, address, np.int64(record.freeobj))
    record.freeobj = k
    record.inuse -= 1


@njit(cache=True, nogil=True)
def _release_zspage(pages, next_pages, counters, first):
    """Release every page of a zspage that is in no list, in chain order (its records become free
    records)."""
    pfn = first
    while True:
        following = next_pages[pfn]
        record = pages[pfn]
        record.next = 0
        record.inuse = 0
        record.freeobj = 0
        next_pages[pfn] = 0
        t.release_page(pages, counters, pfn)
        if following == t.NONE32:
            return
        pfn = np.int64(following)


@njit(cache=True, nogil=True)
def _new_zspage(pages, next_pages, counters, n_pages, chain):
    """Take ``chain`` pages one by one and chain them; the caller has made sure they exist. The
    zspage is in no list yet."""
    first = t.take_page(pages, counters, n_pages)
    previous = first
    for _ in range(chain - 1):
        pfn = t.take_page(pages, counters, n_pages)
        next_pages[previous] = pfn
        pages[pfn].stamp = first          # on a page after the first: the first page
        pages[pfn].freeobj = NOT_HEAD
        previous = pfn
    next_pages[previous] = t.NONE32
    record = pages[first]
    record.inuse = 0
    record.freeobj = UNTOUCHED
    return first


@njit(cache=True, nogil=True)
def alloc_kernel(geometry, pages, next_pages, classes, handles, free_slots,
                 list_heads, counters, arena, sizes, data, offsets, out):
    """zs_malloc of every size in order; with non-empty ``offsets``, also copy each object's bytes.

    A first pass finds whether the batch fits before anything changes: within a batch objects
    only arrive, so a class needs a new zspage exactly when all its slots are taken, and the pass
    counts the pages those zspages take. Answers NEED_ROOM unless there is a handle slot per
    element.
    """
    n = sizes.size
    page_shift = geometry[t.G_PAGE_SHIFT]
    delta_shift = geometry[G_CLASS_DELTA]
    n_indices = geometry[G_INDICES]
    n_pages = geometry[t.G_PAGES]
    for i in range(n):
        if sizes[i] < 1 or sizes[i] > geometry[t.G_MAX_SIZE]:
            return errors.BAD_SIZE, i
    if not t.has_slots(handles, counters, n):
        return errors.NEED_ROOM, 0
    pages_free = n_pages - counters[t.C_PAGES_USED]
    if pages_free < n * geometry[G_CHAIN_SIZE]:         # else even a new zspage an object fits
        spare = classes[:, N_ALLOCATED] - classes[:, N_USED]
        for i in range(n):
            cls = class_of(sizes[i], delta_shift, n_indices, classes)
            if spare[cls] == 0:
                pages_free -= classes[cls, K_PAGES]
                if pages_free < 0:
                    return errors.POOL_FULL, i
                spare[cls] = classes[cls, K_OBJS]
            spare[cls] -= 1
    bytes_placed = 0
    half = t.PREFETCH_AHEAD // 2
    for i in range(n):
        # In a pool that has freed objects (their handle slots are on the free-slot stack), look
        # ahead, as things stand now, at the object PREFETCH_AHEAD on (its handle record) and
        # half as far on: the slot its class's head zspage gives, and that zspage's neighbour
        # in its list (the one a change of group touches). Objects of one class take their
        # slots one after the other, each from the link the last one left, so without this
        # every object would wait for its own cache misses in turn. (Filling a new pool, the
        # heads are new zspages already in cache, and looking ahead would cost a fifth more.)
        if counters[t.C_SLOTS_FREE] > t.PREFETCH_AHEAD:
            prefetch_write(handles, free_slots[counters[t.C_SLOTS_FREE] - t.PREFETCH_AHEAD])
            if i + half < n:
                ahead_cls = class_of(sizes[i + half], delta_shift, n_indices, classes)
                ahead, _ = _head_of(list_heads, ahead_cls)
                if ahead >= 0:
                    if pages[ahead].next != t.NONE32:
                        prefetch_record(pages, np.int64(pages[ahead].next))
                    k = np.int64(pages[ahead].freeobj)
                    if not k & UNTOUCHED:
                        prefetch_write(arena, _slot_address(
                            next_pages, ahead, k * classes[ahead_cls, K_SIZE], page_shift))
        size = sizes[i]
        cls = class_of(size, delta_shift, n_indices, classes)
        slot_size = classes[cls, K_SIZE]
        objs = classes[cls, K_OBJS]
        first, group = _head_of(list_heads, cls)
        if first < 0:
            first = _new_zspage(pages, next_pages, counters, n_pages, classes[cls, K_PAGES])
            classes[cls, N_ALLOCATED] += objs
        k, address = _take_slot_in(pages, next_pages, arena, first, slot_size, objs, page_shift)
        new_group = fullness(np.int64(pages[first].inuse), objs)
        if new_group != group:
            if group >= 0:
                _unlink(pages, list_heads, list_of(cls, group), first)
            _link(pages, list_heads, list_of(cls, new_group), first)
        classes[cls, N_USED] += 1
        slot = t.take_slot(handles, free_slots, counters)
        entry = handles[slot]
        entry.address = (k << TAG_SHIFT) | address
        entry.size = size
        out[i] = t.make_handle(slot, entry.generation)
        bytes_placed += size
    counters[t.C_OBJECTS] += n
    counters[t.C_BYTES_STORED] += bytes_placed
    if offsets.size > 0:
        page_size = np.int64(1) << page_shift
        for i in range(n):
            address = handles[t.handle_slot(out[i])].address & t.ADDRESS_MASK
            in_page = min(sizes[i], page_size - (address & (page_size - 1)))
            copy_bytes(arena, address, data, offsets[i], in_page)
            if in_page < sizes[i]:
                copy_bytes(arena, np.int64(next_pages[address >> page_shift]) << page_shift, data,
                           offsets[i] + in_page, sizes[i] - in_page)
    return errors.OK, 0


@njit(cache=True, nogil=True)
def free_kernel(geometry, pages, next_pages, classes, handles, free_slots,
                list_heads, counters, arena, batch):
    """zs_free of every handle in order; nothing changes unless all are live and distinct.

    Pass 1 checks each handle and frees its handle slot at once (so a repeated handle fails as no
    longer live), keeping the object's address word and size in ``scratch`` (n x 2 int64); a bad
    handle undoes pass 1. Pass 2 frees the slots in their zspages.
    """
    n = batch.size
    scratch = np.empty((n, 2), np.int64)
    watermark = counters[t.C_SLOT_WATERMARK]
    for i in range(n):
        if i + t.PREFETCH_AHEAD < n:
            ahead = t.handle_slot(batch[i + t.PREFETCH_AHEAD])
            if 0 <= ahead < handles.size:       # the handle is not checked yet
                prefetch_write(handles, ahead)
        slot = t.slot_below(batch[i], watermark)
        if slot < 0 or not t.holds(handles[slot], batch[i]):
            for j in range(i - 1, -1, -1):            # undo, last first
                entry = handles[t.handle_slot(batch[j])]
                entry.size = scratch[j, 1]
                if entry.address == t.RETIRED:
                    counters[t.C_SLOTS_RETIRED] -= 1
                else:
                    counters[t.C_SLOTS_FREE] -= 1
                    entry.generation -= np.uint32(1)
                entry.address = scratch[j, 0]
            for j in range(i):
                if batch[j] == batch[i]:
                    return errors.DUPLICATE_HANDLE, i
            return errors.BAD_HANDLE, i
        scratch[i, 0] = handles[slot].address
        scratch[i, 1] = handles[slot].size
        t.free_slot(handles, free_slots, counters, slot)
    page_shift = geometry[t.G_PAGE_SHIFT]
    delta_shift = geometry[G_CLASS_DELTA]
    n_indices = geometry[G_INDICES]
    bytes_freed = 0
    half = t.PREFETCH_AHEAD // 2
    quarter = t.PREFETCH_AHEAD // 4
    for i in range(n):
        # what a free touches, asked for ahead: the page the slot starts in and the slot's first
        # line (its free link goes there), then the zspage's first page once that page is here
        if i + t.PREFETCH_AHEAD < n:
            ahead = scratch[i + t.PREFETCH_AHEAD, 0] & t.ADDRESS_MASK
            prefetch_record(pages, ahead >> page_shift)
            prefetch_write(arena, ahead)
        if i + half < n:
            prefetch_record(pages, _zspage_of(pages, (scratch[i + half, 0] & t.ADDRESS_MASK) >> page_shift))
        if i + quarter < n:       # the zspage's neighbours in its list, if its group changes
            ahead = _zspage_of(pages, (scratch[i + quarter, 0] & t.ADDRESS_MASK) >> page_shift)
            if pages[ahead].next != t.NONE32:
                prefetch_record(pages, np.int64(pages[ahead].next))
            if pages[ahead].stamp != t.NONE32:
                prefetch_record(pages, np.int64(pages[ahead].stamp))
        size = scratch[i, 1]
        address = scratch[i, 0] & t.ADDRESS_MASK
        k = scratch[i, 0] >> TAG_SHIFT
        cls = class_of(size, delta_shift, n_indices, classes)
        objs = classes[cls, K_OBJS]
        first = _zspage_of(pages, address >> page_shift)
        group = fullness(np.int64(pages[first].inuse), objs)
        _give_back_slot(pages, arena, first, k, address)
        classes[cls, N_USED] -= 1
        bytes_freed += size
        inuse = np.int64(pages[first].inuse)
        new_group = fullness(inuse, objs)
        if new_group != group:
            _unlink(pages, list_heads, list_of(cls, group), first)
            if inuse == 0:
                classes[cls, N_ALLOCATED] -= objs
                _release_zspage(pages, next_pages, counters, first)
            else:
                _link(pages, list_heads, list_of(cls, new_group), first)
    counters[t.C_OBJECTS] -= n
    counters[t.C_BYTES_STORED] -= bytes_freed
    return errors.OK, 0


# check_kernel findings: (code, index)
BAD_COUNTERS = 1
BAD_FREE_PAGE = 2
BAD_ZSPAGE = 3
BAD_CHAIN = 4
BAD_FREE_CHAIN = 5
BAD_HANDLE_ENTRY = 6
BAD_SLOT_STACK = 7
BAD_RELEASED_STACK = 8
BAD_LIST = 9
BAD_TOTALS = 10
BAD_CLASS_COUNTS = 11
BAD_CLASS_TABLE = 12

CHECK_MESSAGES = {
    BAD_COUNTERS: "counters are out of range of their tables (counter {}; -1: a table's size)",
    BAD_FREE_PAGE: "page {} belongs to no zspage of a fullness list but its record is not a free record",
    BAD_ZSPAGE: "zspage at pfn {} has slot counts its class and fullness group cannot have",
    BAD_CHAIN: "the page chain of the zspage at pfn {} is broken",
    BAD_FREE_CHAIN: "the free-slot chain of the zspage at pfn {} is broken",
    BAD_HANDLE_ENTRY: "handle slot {} disagrees with the zspage it points at",
    BAD_SLOT_STACK: "free-slot stack is broken at slot {}",
    BAD_RELEASED_STACK: "released-page stack is broken at pfn {}",
    BAD_LIST: "fullness list {} (class * 12 + group) is broken",
    BAD_TOTALS: "object, byte or page totals disagree with the tables (check {})",
    BAD_CLASS_COUNTS: "the slot counts of class {} disagree with its zspages",
    BAD_CLASS_TABLE: "class index {} of the class table names no real class or slots that do not fit",
}


NO_BLOCKS = np.empty(0, np.uint32)      # the stack blocks and LRU log of a pool without them


@njit(cache=True, nogil=True)
def _audit_class_table(classes, n_indices, page_shift, chain_size):
    """The first class index whose row the audit could not index safely with, or -1: each index
    names a real class (one that names itself), and each class's slots are even-sized (so a
    slot's two link bytes never straddle a page the chain does not hold) and fit its zspage of
    at most ``chain_size`` pages."""
    for cls in range(n_indices):
        real = classes[cls, K_CLASS]
        size = classes[cls, K_SIZE]
        objs = classes[cls, K_OBJS]
        chain = classes[cls, K_PAGES]
        if not (0 <= real < n_indices and classes[real, K_CLASS] == real
                and 2 <= size and size % 2 == 0 and 1 <= objs < MAX_OBJS
                and 1 <= chain <= chain_size and size <= chain << page_shift
                and objs * size <= chain << page_shift):
            return cls
    return -1


@njit(cache=True, nogil=True)
def _walk_free_slots(arena, next_pages, first, freeobj, size, objs, page_shift, seen, walked_slots):
    """Walk a zspage's free-slot list from ``freeobj``; returns (freed slots on it, the first
    untouched slot), or (-1, -1) when the list repeats a slot or names one that is not the
    zspage's or not below the untouched tail. ``seen`` (bools) is all False on entry and on a
    sound return; ``walked_slots`` has room for ``objs`` slots."""
    k = freeobj
    walked = 0
    while k != FREE_END and not k & UNTOUCHED:
        if k >= objs or seen[k]:
            return -1, -1
        seen[k] = True
        walked_slots[walked] = k
        walked += 1
        k = _read_link(arena, _slot_address(next_pages, first, k * size, page_shift))
    fresh = objs if k == FREE_END else k & SLOT_MASK
    sound = fresh <= objs
    for j in range(walked):
        seen[walked_slots[j]] = False
        sound = sound and walked_slots[j] < fresh
    return (walked, fresh) if sound else (-1, -1)


@njit(cache=True, nogil=True)
def check_kernel(geometry, pages, next_pages, classes, handles, free_slots,
                 list_heads, counters, arena):
    """Audit every table against every other; returns (finding, index), finding 0 when sound.

    The class table itself is compared with the kernel's by the caller (it is plain Python); its
    shape and the ranges the audit indexes with are checked here too, so that, whatever the
    tables hold, nothing is indexed before it is known to be in range.
    """
    if geometry.size != t.N_GEOMETRY:
        return BAD_COUNTERS, -1
    n_pages = geometry[t.G_PAGES]
    page_shift = geometry[t.G_PAGE_SHIFT]
    delta_shift = geometry[G_CLASS_DELTA]
    n_indices = geometry[G_INDICES]
    # (a chain is at most 16 pages; the bound on it only keeps products from overflowing)
    if not (12 <= page_shift <= 16 and 0 <= delta_shift < page_shift and n_indices >= 1
            and 1 <= geometry[G_CHAIN_SIZE] <= 1 << 16
            and classes.shape[0] == n_indices and classes.shape[1] == CLASS_COLUMNS
            and 0 <= n_pages <= pages.size and next_pages.size == pages.size
            and arena.size >= n_pages << page_shift and list_heads.size == n_indices * GROUPS):
        return BAD_COUNTERS, -1
    bad = _audit_class_table(classes, n_indices, page_shift, geometry[G_CHAIN_SIZE])
    if bad >= 0:
        return BAD_CLASS_TABLE, bad
    # the stamped stacks and the LRU log are not zsmalloc's: its pool keeps them empty
    bad = t.audit_counters(handles, free_slots, NO_BLOCKS, NO_BLOCKS, counters, n_pages, False)
    if bad != t.AUDIT_OK:
        return BAD_COUNTERS, bad
    watermark = counters[t.C_PAGE_WATERMARK]
    # the lists: each of a real class's groups 1..11 links first pages of that fullness both ways
    zspage_class = np.full(watermark, -1, np.int64)
    zspages = 0
    for free_list in range(list_heads.size):
        cls = free_list // GROUPS
        group = free_list % GROUPS
        real = classes[cls, K_CLASS] == cls and group > 0
        before = t.NONE32
        first = np.int64(list_heads[free_list])
        while first != t.NONE32:
            if (not real or first >= watermark or zspage_class[first] >= 0
                    or pages[first].stamp != before or pages[first].freeobj == NOT_HEAD):
                return BAD_LIST, free_list
            inuse = np.int64(pages[first].inuse)
            if not 0 < inuse <= classes[cls, K_OBJS] or fullness(inuse, classes[cls, K_OBJS]) != group:
                return BAD_ZSPAGE, first
            zspage_class[first] = cls
            zspages += 1
            before = first
            first = np.int64(pages[first].next)
    # zspages: walk each from its first page; every page below the watermark is in one or free
    owner = np.full(watermark, -1, np.int64)
    fresh_of = np.zeros(watermark, np.int64)
    allocated = np.zeros(n_indices, np.int64)
    used = np.zeros(n_indices, np.int64)
    most_objs = 1
    for cls in range(n_indices):
        most_objs = max(most_objs, classes[cls, K_OBJS])
    seen = np.zeros(most_objs, np.bool_)
    walked_slots = np.empty(most_objs, np.int64)
    for first in range(watermark):
        cls = zspage_class[first]
        if cls < 0:
            continue
        record = pages[first]
        objs = classes[cls, K_OBJS]
        size = classes[cls, K_SIZE]
        inuse = np.int64(record.inuse)
        allocated[cls] += objs
        used[cls] += inuse
        pfn = first
        for j in range(classes[cls, K_PAGES]):
            if pfn >= watermark or owner[pfn] != -1 or (j > 0 and (
                    pages[pfn].stamp != first or pages[pfn].next != 0
                    or pages[pfn].inuse != 0 or pages[pfn].freeobj != NOT_HEAD)):
                return BAD_CHAIN, first
            owner[pfn] = first
            link = next_pages[pfn]
            if j == classes[cls, K_PAGES] - 1:
                if link != t.NONE32:
                    return BAD_CHAIN, first
            else:
                pfn = np.int64(link)
        # the free-slot list: fresh - inuse distinct freed slots below fresh, then the untouched
        walked, fresh = _walk_free_slots(arena, next_pages, first, np.int64(record.freeobj), size,
                                         objs, page_shift, seen, walked_slots)
        if walked < 0 or walked != fresh - inuse:
            return BAD_FREE_CHAIN, first
        fresh_of[first] = fresh
    for pfn in range(watermark):
        if owner[pfn] < 0:
            record = pages[pfn]
            if record.next != 0 or record.inuse != 0 or record.freeobj != 0 or next_pages[pfn] != 0:
                return BAD_FREE_PAGE, pfn
    for pfn in range(watermark, n_pages):
        record = pages[pfn]
        if (record.stamp != 0 or record.next != 0 or record.inuse != 0 or record.freeobj != 0
                or next_pages[pfn] != 0):
            return BAD_FREE_PAGE, pfn
    in_use = owner >= 0
    if np.sum(in_use) != counters[t.C_PAGES_USED]:
        return BAD_TOTALS, 0
    for cls in range(n_indices):
        if allocated[cls] != classes[cls, N_ALLOCATED] or used[cls] != classes[cls, N_USED]:
            return BAD_CLASS_COUNTS, cls

    # handles: each live one names a distinct slot of its class's zspage, not on the free chain
    objects = 0
    stored = 0
    keys = np.empty(counters[t.C_SLOT_WATERMARK], np.int64)
    for slot in range(counters[t.C_SLOT_WATERMARK]):
        entry = handles[slot]
        size = np.int64(entry.size)
        if size == 0:
            continue
        word = entry.address
        address = word & t.ADDRESS_MASK
        k = word >> TAG_SHIFT
        pfn = address >> page_shift
        if word < 0 or size > geometry[t.G_MAX_SIZE] or pfn >= watermark or owner[pfn] < 0:
            return BAD_HANDLE_ENTRY, slot
        first = owner[pfn]
        cls = class_of(size, delta_shift, n_indices, classes)
        if zspage_class[first] != cls or k >= fresh_of[first]:
            return BAD_HANDLE_ENTRY, slot
        expected = _slot_address(next_pages, first, k * classes[cls, K_SIZE], page_shift)
        if expected != address:
            return BAD_HANDLE_ENTRY, slot
        keys[objects] = (first << 16) | k
        objects += 1
        stored += size
    keys = np.sort(keys[:objects])
    count = 0
    for j in range(objects):
        if j > 0 and keys[j] == keys[j - 1]:
            return BAD_HANDLE_ENTRY, -1
        count += 1
        if j == objects - 1 or keys[j + 1] >> 16 != keys[j] >> 16:
            first = keys[j] >> 16
            if count != pages[first].inuse:
                return BAD_HANDLE_ENTRY, -1
            count = 0
    if (objects != counters[t.C_OBJECTS] or stored != counters[t.C_BYTES_STORED]
            or objects != np.sum(used)):
        return BAD_TOTALS, 1

    bad = t.audit_free_slots(handles, free_slots, counters)
    if bad != t.AUDIT_OK:
        return BAD_SLOT_STACK, bad
    bad = t.audit_released(pages, counters, in_use)
    if bad != t.AUDIT_OK:
        return BAD_RELEASED_STACK, bad
    return 0, 0


@njit(cache=True, nogil=True)
def list_lengths(pages, list_heads, watermark):
    """How many zspages each fullness list holds (walks bounded by the page watermark)."""
    lengths = np.zeros(list_heads.size, np.int64)
    for free_list in range(list_heads.size):
        first = np.int64(list_heads[free_list])
        while first != t.NONE32 and lengths[free_list] < watermark:
            lengths[free_list] += 1
            first = np.int64(pages[first].next)
    return lengths
