"""The zsmalloc policy's kernels: objects placed exactly as Linux 6.18's mm/zsmalloc.c places them.

Memory layout
-------------
Objects live in size classes (``classes.py``): a request of n bytes takes a slot of the class for
n + 8 (zs_malloc adds its in-object handle before the lookup; zbudjit keeps handles out of the
arena, so the 8 bytes stay unused, as they do in the kernel's huge class). A class's *zspage* is a
chain of ``pages_per_zspage`` single pages of the pool, taken one by one, so they need not be
neighbours in the arena. Slot k of a zspage is bytes [k * size, (k + 1) * size) of its pages laid
end to end: a slot may cross from one page of the chain into the next.

One 12-byte PAGE_DTYPE record per pfn, plus ``next_pages[pfn]`` (uint32): 16 bytes a page.

    stamp           On a zspage's first page: the stamp of its live entry in its fullness stack
                    (see engine/tables.py). On its other pages: the pfn of the first page, so that
                    a free finds the zspage from the page its object starts in. On a released
                    page: the next pfn of the released-page stack. (One field with three uses, as
                    the kernel's struct page unions do: each page needs only one of them.)
    free_list       first page only: 1 + class * 12 + fullness group, the stack the zspage is
                    filed in (every zspage is in exactly one); 0 on every other page, which is
                    how a first page is told from the others
    inuse           first page: slots allocated
    freeobj         first page: the most recently freed slot, FREE_END when none; each free slot
                    holds the next one in its first two bytes, as the kernel keeps its free list
                    in the free objects themselves (a free slot holds no user bytes)
    fresh           first page: slots below it have been handed out at least once. The kernel
                    links every slot of a new zspage in address order; slots from ``fresh`` on
                    are that untouched tail, so a new zspage costs no write to the arena
    next_pages      the next page of the zspage, NONE32 on its last page, 0 on a free page

Free slots are reused last in, first out, then the untouched ones in address order: exactly the
order of the kernel's free list. Keeping that list in the arena rather than in a table costs no
metadata for small objects (a table would take 2 bytes a slot: 256 bytes a page for the 32-byte
class); it costs a free one write into the freed slot's first cache line.

The handle table's ``address`` holds the byte address of the slot (page where it starts, offset in
that page) and, above ``tables.ADDRESS_BITS``, the slot's index k in its zspage: the kernel's
``obj`` is the same pair (pfn, k).

Fullness groups 0..11 (classes.fullness_group) are stamped LIFO stacks: a zspage moves to the
head of a group only when its group changes, and an emptied zspage is released at once (its
pages in chain order), so group 0 is always empty here.

Every kernel applies its batch element by element in order; ``spec.py`` is the same policy in
plain Python and the tests hold one to the other, and both to the live kernel.
"""

import numpy as np
from numba import njit

from ... import errors
from ...engine import tables as t
from ...engine.memory import copy_bytes, prefetch_record, prefetch_write

PAGE_DTYPE = np.dtype([
    ("stamp", np.uint32),      # first page: stack stamp; other pages: the first pfn; see above
    ("free_list", np.uint16),
    ("inuse", np.uint16),
    ("freeobj", np.uint16),
    ("fresh", np.uint16),
])
assert PAGE_DTYPE.itemsize == 12
GROUPS = 12                    # fullness groups a class has
GROUP_FULL = GROUPS - 1
FREE_END = 0xFFFF              # freeobj / free-slot link: no further freed slot
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
    return 1 + cls * GROUPS + group


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
    return pfn if pages[pfn].free_list != t.NO_LIST else np.int64(pages[pfn].stamp)


@njit(cache=True, nogil=True)
def _peek(pages, blocks, stack_heads, counters, free_list):
    """The head zspage of a fullness list, -1 if empty: the stack's top live entry. Stale entries
    above it are dropped; the live one stays (zs_malloc allocates from the head in place)."""
    while True:
        block = stack_heads[free_list]
        if block < 0:
            return -1
        top = t.top_entry(blocks, block)
        first = np.int64(blocks[top])
        if pages[first].free_list == free_list and pages[first].stamp == blocks[top + 1]:
            return first
        if top == block * t.BLOCK_WORDS + t.B_ENTRY:
            link = blocks[block * t.BLOCK_WORDS + t.B_NEXT]
            stack_heads[free_list] = -1 if link == t.NONE32 else np.int64(link)
            t.free_block(blocks, counters, block)
        else:
            blocks[block * t.BLOCK_WORDS + t.B_COUNT] -= 1


@njit(cache=True, nogil=True)
def _take_slot_in(pages, next_pages, arena, first, size, page_shift):
    """Allocate a slot in the zspage at ``first`` (obj_malloc): the most recently freed one, else
    the lowest untouched one. Returns (slot index, its byte address)."""
    record = pages[first]
    k = np.int64(record.freeobj)
    if k != FREE_END:
        address = _slot_address(next_pages, first, k * size, page_shift)
        record.freeobj = _read_link(arena, address)
    else:
        k = np.int64(record.fresh)
        record.fresh = k + 1
        address = _slot_address(next_pages, first, k * size, page_shift)
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
    """Release every page of a zspage, in chain order (its records become free records)."""
    pfn = first
    while True:
        following = next_pages[pfn]
        record = pages[pfn]
        record.stamp = 0
        record.free_list = t.NO_LIST
        record.inuse = 0
        record.freeobj = 0
        record.fresh = 0
        next_pages[pfn] = 0
        t.release_page(pages, counters, pfn)
        if following == t.NONE32:
            return
        pfn = np.int64(following)


@njit(cache=True, nogil=True)
def _new_zspage(pages, next_pages, counters, n_pages, chain):
    """Take ``chain`` pages one by one and chain them; the caller has made sure they exist."""
    first = t.take_page(pages, counters, n_pages)
    previous = first
    for _ in range(chain - 1):
        pfn = t.take_page(pages, counters, n_pages)
        next_pages[previous] = pfn
        pages[pfn].stamp = first          # on a page after the first: the first page
        previous = pfn
    next_pages[previous] = t.NONE32
    record = pages[first]
    record.inuse = 0
    record.freeobj = FREE_END
    record.fresh = 0
    return first


@njit(cache=True, nogil=True)
def alloc_kernel(geometry, pages, next_pages, classes, handles, free_slots,
                 blocks, stack_heads, counters, arena, sizes, data, offsets, out):
    """zs_malloc of every size in order; with non-empty ``offsets``, also copy each object's bytes.

    A first pass finds whether the batch fits before anything changes: within a batch objects
    only arrive, so a class needs a new zspage exactly when all its slots are taken, and the pass
    counts the pages those zspages take. Answers NEED_ROOM unless there is a handle slot and
    room for a stack entry per element (an object changes its zspage's group at most once).
    """
    n = sizes.size
    page_shift = geometry[t.G_PAGE_SHIFT]
    delta_shift = geometry[G_CLASS_DELTA]
    n_indices = geometry[G_INDICES]
    n_pages = geometry[t.G_PAGES]
    for i in range(n):
        if sizes[i] < 1 or sizes[i] > geometry[t.G_MAX_SIZE]:
            return errors.BAD_SIZE, i
    if not t.has_room(handles, blocks, stack_heads, counters, n, n):
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
    for i in range(n):
        size = sizes[i]
        cls = class_of(size, delta_shift, n_indices, classes)
        slot_size = classes[cls, K_SIZE]
        objs = classes[cls, K_OBJS]
        first = -1
        for group in range(GROUP_FULL - 1, 0, -1):       # the fullest non-full zspage
            free_list = list_of(cls, group)
            if stack_heads[free_list] >= 0:
                first = _peek(pages, blocks, stack_heads, counters, free_list)
                if first >= 0:
                    break
        if first < 0:
            first = _new_zspage(pages, next_pages, counters, n_pages, classes[cls, K_PAGES])
            classes[cls, N_ALLOCATED] += objs
            group = -1
        k, address = _take_slot_in(pages, next_pages, arena, first, slot_size, page_shift)
        new_group = fullness(np.int64(pages[first].inuse), objs)
        if new_group != group:
            t.push_page(pages, blocks, stack_heads, counters, list_of(cls, new_group), first)
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
                blocks, stack_heads, counters, arena, batch):
    """zs_free of every handle in order; nothing changes unless all are live and distinct.

    Pass 1 checks each handle and frees its handle slot at once (so a repeated handle fails as no
    longer live), keeping the object's address word and size in ``scratch`` (n x 2 int64); a bad
    handle undoes pass 1. Pass 2 frees the slots in their zspages. Answers NEED_ROOM unless
    there is room for a stack entry per element.
    """
    n = batch.size
    if not t.has_room(handles, blocks, stack_heads, counters, 0, n):
        return errors.NEED_ROOM, 0
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
    moved = np.empty(n, np.int64)       # zspages in the order of their group changes
    moves = 0
    half = t.PREFETCH_AHEAD // 2
    for i in range(n):
        # what a free touches, asked for ahead: the page the slot starts in and the slot's first
        # line (its free link goes there), then the zspage's first page once that page is here
        if i + t.PREFETCH_AHEAD < n:
            ahead = scratch[i + t.PREFETCH_AHEAD, 0] & t.ADDRESS_MASK
            prefetch_record(pages, ahead >> page_shift)
            prefetch_write(arena, ahead)
        if i + half < n:
            prefetch_record(pages, _zspage_of(pages, (scratch[i + half, 0] & t.ADDRESS_MASK) >> page_shift))
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
        if inuse == 0:
            classes[cls, N_ALLOCATED] -= objs
            _release_zspage(pages, next_pages, counters, first)
        elif fullness(inuse, objs) != group:
            # The zspage goes to the head of its new group; nothing reads the lists until the
            # batch ends, so it is filed then, once, at its last move (a zspage's group only
            # falls in a free batch): the same order, without a stale entry a move.
            pages[first].free_list = list_of(cls, fullness(inuse, objs))
            pages[first].stamp = moves          # where its last move is in ``moved``
            moved[moves] = first
            moves += 1
    for position in range(moves):
        first = moved[position]
        record = pages[first]
        if record.free_list != t.NO_LIST and record.stamp == position:   # its last move, still here
            t.push_page(pages, blocks, stack_heads, counters, np.int64(record.free_list), first)
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
BAD_LIST_STACK = 9
BAD_TOTALS = 10
BAD_CLASS_COUNTS = 11

CHECK_MESSAGES = {
    BAD_COUNTERS: "counters are out of range of their tables",
    BAD_FREE_PAGE: "page {} belongs to no zspage but its record is not a free record",
    BAD_ZSPAGE: "zspage at pfn {} has a class, fullness group or slot counts it cannot have",
    BAD_CHAIN: "the page chain of the zspage at pfn {} is broken",
    BAD_FREE_CHAIN: "the free-slot chain of the zspage at pfn {} is broken",
    BAD_HANDLE_ENTRY: "handle slot {} disagrees with the zspage it points at",
    BAD_SLOT_STACK: "free-slot stack is broken at slot {}",
    BAD_RELEASED_STACK: "released-page stack is broken at pfn {}",
    BAD_LIST_STACK: "fullness stack {} does not match the zspages filed in it",
    BAD_TOTALS: "object, byte or page totals disagree with the tables (check {})",
    BAD_CLASS_COUNTS: "the slot counts of class {} disagree with its zspages",
}


@njit(cache=True, nogil=True)
def check_kernel(geometry, pages, next_pages, classes, handles, free_slots,
                 blocks, stack_heads, counters, arena):
    """Audit every table against every other; returns (finding, index), finding 0 when sound.

    The class table itself is compared with the kernel's by the caller (it is plain Python).
    """
    n_pages = geometry[t.G_PAGES]
    page_shift = geometry[t.G_PAGE_SHIFT]
    delta_shift = geometry[G_CLASS_DELTA]
    n_indices = geometry[G_INDICES]
    watermark = counters[t.C_PAGE_WATERMARK]
    if not (0 <= watermark <= n_pages <= pages.size and next_pages.size == pages.size
            and 0 <= counters[t.C_SLOT_WATERMARK] <= handles.size
            and stack_heads.size == 1 + n_indices * GROUPS
            and blocks.size % t.BLOCK_WORDS == 0
            and 0 <= counters[t.C_BLOCK_WATERMARK] <= blocks.size // t.BLOCK_WORDS):
        return BAD_COUNTERS, 0
    # zspages: walk each from its first page; every page below the watermark is in one or free
    owner = np.full(watermark, -1, np.int64)
    allocated = np.zeros(n_indices, np.int64)
    used = np.zeros(n_indices, np.int64)
    filed = np.full(stack_heads.size, -1, np.int64)
    for cls in range(n_indices):
        if classes[cls, K_CLASS] == cls:
            for group in range(1, GROUPS):
                filed[list_of(cls, group)] = 0
    most_objs = 1
    for cls in range(n_indices):
        most_objs = max(most_objs, classes[cls, K_OBJS])
    in_free_chain = np.zeros(most_objs, np.bool_)
    for first in range(watermark):
        record = pages[first]
        if record.free_list == t.NO_LIST:
            continue
        cls = (np.int64(record.free_list) - 1) // GROUPS
        group = (np.int64(record.free_list) - 1) % GROUPS
        if cls >= n_indices or classes[cls, K_CLASS] != cls:
            return BAD_ZSPAGE, first
        objs = classes[cls, K_OBJS]
        size = classes[cls, K_SIZE]
        inuse = np.int64(record.inuse)
        fresh = np.int64(record.fresh)
        if not (0 < inuse <= fresh <= objs and group == fullness(inuse, objs)):
            return BAD_ZSPAGE, first
        filed[record.free_list] += 1
        allocated[cls] += objs
        used[cls] += inuse
        pfn = first
        for j in range(classes[cls, K_PAGES]):
            if pfn >= watermark or owner[pfn] != -1 or (j > 0 and (
                    pages[pfn].free_list != t.NO_LIST or pages[pfn].stamp != first
                    or pages[pfn].inuse != 0 or pages[pfn].freeobj != 0 or pages[pfn].fresh != 0)):
                return BAD_CHAIN, first
            owner[pfn] = first
            link = next_pages[pfn]
            if j == classes[cls, K_PAGES] - 1:
                if link != t.NONE32:
                    return BAD_CHAIN, first
            else:
                pfn = np.int64(link)
        # the free-slot chain: fresh - inuse distinct slots below fresh, then FREE_END
        k = np.int64(record.freeobj)
        walked = 0
        while k != FREE_END:
            if k >= fresh or in_free_chain[k] or walked >= fresh - inuse:
                return BAD_FREE_CHAIN, first
            in_free_chain[k] = True
            walked += 1
            address = _slot_address(next_pages, first, k * size, page_shift)
            k = _read_link(arena, address)
        k = np.int64(record.freeobj)
        while k != FREE_END and in_free_chain[k]:
            in_free_chain[k] = False
            address = _slot_address(next_pages, first, k * size, page_shift)
            k = _read_link(arena, address)
        if walked != fresh - inuse:
            return BAD_FREE_CHAIN, first
    for pfn in range(watermark):
        if owner[pfn] < 0:
            record = pages[pfn]
            if record.free_list != t.NO_LIST or record.inuse != 0 or record.freeobj != 0 \
                    or record.fresh != 0 or next_pages[pfn] != 0:
                return BAD_FREE_PAGE, pfn
    for pfn in range(watermark, n_pages):
        if pages[pfn].stamp != 0 or pages[pfn].free_list != t.NO_LIST or next_pages[pfn] != 0:
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
        if pages[first].free_list == t.NO_LIST or (np.int64(pages[first].free_list) - 1) // GROUPS != cls \
                or k >= pages[first].fresh:
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
    bad = t.audit_stacks(pages, blocks, stack_heads, counters, n_pages, filed)
    if bad != t.AUDIT_OK:
        return BAD_LIST_STACK, bad
    return 0, 0
