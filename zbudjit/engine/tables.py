"""Tables every policy shares, and the Numba helpers that work on them.

Memory layout
-------------
counters   int64[N_COUNTERS]. Scalar state that kernels update in place (object counts, free-list
           heads, high-water marks); the C_* constants below name its entries.
geometry   int64[N_GEOMETRY]. Read-only numbers of the pool's page geometry (G_* constants).
handle table
           one 16-byte HANDLE_DTYPE record per slot: ``address`` is the object's byte address in the
           arena, ``pfn << page_shift | offset`` (the "encoded PFN/offset word"), ``size`` its length in
           bytes (0 means the slot is free) and ``generation`` the pool's generation origin plus how
           many times the slot was freed, modulo 2**32.
           The byte address takes the low ADDRESS_BITS bits of ``address``; a policy may keep a
           number of its own above them (zsmalloc: the object's index in its zspage), so readers
           of the address mask with ADDRESS_MASK.
           A retired slot (its generation used up) holds RETIRED in ``address`` and is never handed
           out again.
free slots uint32[handle table size]: a stack of the free slots' numbers, ``counters[C_SLOTS_FREE]``
           deep, most recently freed on top. An array rather than a chain through the free records:
           slots are freed in any order, and with a chain each alloc could only learn its slot once
           the previous one's record arrived from memory (re-alloc after random frees: 193 -> 115 ns
           an object measured with the chain sorted, which an array gives for any order).
           Slots at or above ``counters[C_SLOT_WATERMARK]`` have never been used and are not initialised.
handle     uint64 ``generation << 32 | (slot + 1)``. The low word is never 0, so 0 is never a handle;
           freeing bumps the slot's generation, so a freed handle never matches again. A slot's
           first generation is the pool's own ``counters[C_GENERATION_ORIGIN]``, drawn at random
           when the pool is made: a handle of another pool names a generation this pool's slot
           has (or had) only by a rare chance, so it is rejected like any stale handle. A slot
           whose generations have come round to the origin again (freed 2**32 times) retires.
stamped stacks
           LIFO free lists with lazy deletion. A list is a chain of blocks from
           ``stack_heads[list]``: each block is one 64-byte row of the uint32 ``blocks`` table (its
           next block, how many entries it holds, and up to BLOCK_ENTRIES (pfn, stamp) entries, the
           top one last). Only a list's top block may be part full, so a pop or push touches one
           cache line and a walk down a list meets a new block once every BLOCK_ENTRIES entries
           (with a linked node per entry, alloc chased a random cache line at every pop: re-alloc
           after random frees cost 54 ns an object, against 37 ns with blocks).
           An entry is live only while its page record still names that list and carries the same
           stamp; removing a page from a list just changes the page record, and stale entries are
           dropped when they reach the top (or by :func:`rebuild_stacks`). Popping therefore yields
           pages in exactly the order of the kernel's doubly linked list, without touching
           neighbouring pages.
LRU log    uint32 pfns, appended at ``counters[C_LRU_LEN]``; a page's record holds the index of its
           live entry (``lru_pos``), so moving a page to the head is one append, and older entries of
           the page become stale. Reading the log backwards from the end gives head-to-tail LRU order.
           Index 0 is never used, so ``lru_pos == 0`` (LRU_NONE) means "not on the LRU".

Every page table is zero-filled anonymous memory, and an all-zero record is a free page (NO_LIST,
LRU_NONE, no buddies), so a pool of millions of pages costs memory only for the pages it touches.

Helpers that kernels call in their loops take arrays, and Numba counts references to arrays.
Its pruning pass drops a helper's increment and decrement of an array only when the decrement
is not split across branches: so a helper either has no branch that uses an array last
(:func:`push_page` uses every array once more after its branch), or takes records and scalars
instead of arrays (:func:`slot_below` and :func:`holds`). Otherwise the atomic reference counts
stay in the loop, about 12 ns an array a call, and LLVM stops inlining the helper.

A page record needs a ``stamp`` field for the released-page helpers here (a released page's
``stamp`` links the released-page stack), ``free_list`` too for the stamped stacks, and
``lru_pos`` for the LRU log (zbud); the policy modules define the rest.
"""

import mmap
import secrets

import numpy as np
from numba import njit

HANDLE_DTYPE = np.dtype([("address", np.int64), ("size", np.uint32), ("generation", np.uint32)])
BLOCK_ENTRIES = 7            # (pfn, stamp) entries of a stack block
BLOCK_WORDS = 16             # uint32 words of a stack block: one 64-byte cache line
B_NEXT = 0                   # block word: the next block down the list, NONE32 at the bottom
B_COUNT = 1                  # block word: entries held, 1..BLOCK_ENTRIES (0 only while free)
B_ENTRY = 2                  # block words: entry k's pfn at B_ENTRY + 2k, its stamp after it

NONE32 = 0xFFFFFFFF          # "no pfn / no block" in uint32 link fields
NO_LIST = 0                  # page record's free_list when the page is in no free list
LRU_NONE = 0                 # page record's lru_pos when the page is not on the LRU
RETIRED = -2                 # handle table address of a slot whose generation is used up
MAX_GENERATION = 0xFFFFFFFF
MAX_SLOTS = 0xFFFFFFFE       # slot + 1 must fit the handle's low 32 bits
MAX_STAMP = 0xFFFFFFFF
MAX_BLOCKS = 0xFFFFFFFF      # block links are uint32; NONE32 is reserved
MAX_LRU = 2**62              # LRU log positions are int64
PREFETCH_AHEAD = 16          # objects between a prefetch and its use (16, 32, 64 measure alike)
MAX_PAGES = 0xFFFFFFFF       # pfns are uint32 in page links; NONE32 is reserved
ADDRESS_BITS = 48            # 32-bit pfns and pages of up to 64 KiB
ADDRESS_MASK = (1 << ADDRESS_BITS) - 1

# counters[...]
C_PAGES_USED = 0
C_OBJECTS = 1
C_BYTES_STORED = 2
C_CHUNKS_USED = 3
C_PAGE_WATERMARK = 4         # pfns below it have been used at least once
C_RELEASED_HEAD = 5          # top of the released-page stack, -1 if empty
C_RELEASED = 6               # pages on the released-page stack
C_SLOT_WATERMARK = 7
C_SLOTS_FREE = 8             # depth of the free-slot stack
C_SLOTS_RETIRED = 9
C_BLOCK_WATERMARK = 10       # stack blocks below it have been used at least once
C_BLOCK_FREE_HEAD = 11       # top of the free-block list (linked through B_NEXT), -1 if empty
C_BLOCKS_FREE = 12
C_STAMP = 13                 # last stamp handed out
C_LRU_LEN = 14
C_LRU_TAIL = 15              # entries below it are all stale
C_PAGES_COMPACTED = 16
C_GENERATION_ORIGIN = 17     # every slot's first generation (saves of format 3: 0)
N_COUNTERS = 18

# geometry[...]
G_PAGES = 0
G_PAGE_SHIFT = 1
G_CHUNK_SHIFT = 2
G_USABLE_CHUNKS = 3
G_FIRST_OFFSET = 4
G_MAX_SIZE = 5
N_GEOMETRY = 6


def new_counters():
    counters = np.zeros(N_COUNTERS, np.int64)
    counters[C_GENERATION_ORIGIN] = secrets.randbits(32)
    for head in (C_RELEASED_HEAD, C_BLOCK_FREE_HEAD):
        counters[head] = -1
    counters[C_LRU_LEN] = counters[C_LRU_TAIL] = LRU_NONE + 1
    return counters


MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000)     # Linux's value; Python 3.11 lacks it


def zeroed(count, dtype, reserve=True):
    """``count`` zero records of ``dtype`` in anonymous memory: only the pages touched cost RAM.

    Mapped directly rather than through ``np.zeros`` so that ``reserve=False`` can
    skip the kernel's up-front commit check: a table larger than RAM can exist while only a part
    of it is ever touched (the page table of a huge file-backed pool).
    """
    dtype = np.dtype(dtype)
    flags = mmap.MAP_PRIVATE | (0 if reserve else MAP_NORESERVE)
    try:
        memory = mmap.mmap(-1, max(count * dtype.itemsize, 1), flags=flags)
    except OSError as error:
        raise MemoryError(f"cannot map {count * dtype.itemsize:,} bytes of memory: {error}") from None
    if hasattr(mmap, "MADV_HUGEPAGE"):
        memory.madvise(mmap.MADV_HUGEPAGE)       # fewer TLB misses for random access, as NumPy does
    return np.frombuffer(memory, dtype, count)


def new_blocks(count):
    """A stack-block table of ``count`` blocks, block b at words ``b * BLOCK_WORDS`` on, each on its
    own cache line (mapped memory is page-aligned); nothing in it is read before it is written."""
    return zeroed(count * BLOCK_WORDS, np.uint32)


@njit(cache=True, nogil=True)
def blocks_for(pushes, lists):
    """Free blocks that ``pushes`` pushes onto ``lists`` lists may need while pops free others:
    a new block every BLOCK_ENTRIES pushes onto a list, and one more per list, but never more
    than one a push."""
    return min(pushes, pushes // BLOCK_ENTRIES + lists)


@njit(cache=True, nogil=True)
def has_slots(handles, counters, slots):
    """Whether ``slots`` handle slots are free without growing the handle table."""
    return handles.size - counters[C_SLOT_WATERMARK] + counters[C_SLOTS_FREE] >= slots


@njit(cache=True, nogil=True)
def has_room(handles, blocks, stack_heads, counters, slots, pushes):
    """Whether a batch taking ``slots`` handle slots and making ``pushes`` stack pushes fits the
    tables as they are: the kernels ask first and answer NEED_ROOM (changing nothing) when not,
    and only then does Python make room (``Pool._reserve``), so a small batch pays no Python for
    it. The conditions are exactly those under which ``Pool._reserve`` would change nothing.
    """
    if not has_slots(handles, counters, slots):
        return False
    if pushes == 0:
        return True
    blocks_free = blocks.size // BLOCK_WORDS - counters[C_BLOCK_WATERMARK] + counters[C_BLOCKS_FREE]
    return (blocks_free >= blocks_for(pushes, stack_heads.size)
            and counters[C_STAMP] + pushes < MAX_STAMP)


def grown(table, needed, limit):
    """A copy of ``table`` with room for a quarter more than ``needed`` records (and than now), up
    to ``limit`` records: the call after a large batch should not have to grow it again."""
    bigger = np.empty(min(max(needed, table.size) * 5 // 4, limit), table.dtype)
    bigger[:table.size] = table
    return bigger


def resized(table, size):
    """A copy of ``table`` with ``size`` records (or as many as it has, if more), the first ones
    ``table``'s: for a table that must keep up with another's length, not grow ahead of it."""
    bigger = np.empty(max(size, table.size), table.dtype)
    bigger[:table.size] = table
    return bigger


# ---------------------------------------------------------------------------------------------
# Handles


@njit(cache=True, nogil=True)
def make_handle(slot, generation):
    return (np.uint64(generation) << np.uint64(32)) | np.uint64(slot + 1)


@njit(cache=True, nogil=True)
def handle_slot(handle):
    """The slot a handle names (not checked: -1 for a handle whose low word is 0)."""
    return np.int64(handle & np.uint64(0xFFFFFFFF)) - 1


def handle_slots(handles):
    """:func:`handle_slot` of every handle of a uint64 array, in NumPy (for Python callers)."""
    return (handles & np.uint64(0xFFFFFFFF)).astype(np.int64) - 1


@njit(cache=True, nogil=True)
def slot_below(handle, watermark):
    """The slot a handle names if it is below ``watermark`` (so may be indexed), else -1.

    With :func:`holds` this is the live-handle check: ``slot < 0 or not holds(handles[slot],
    handle)`` rejects any uint64 before anything is indexed with it. It is split in two so that
    neither half takes an array (see the module notes): as one helper taking the handle table
    and the counters it cost 24 ns a handle, more than the rest of a free.
    """
    slot = handle_slot(handle)
    return slot if slot < watermark else -1


@njit(cache=True, nogil=True)
def holds(record, handle):
    """Whether a handle-table record is live and of the handle's generation."""
    return record.size != 0 and np.uint64(record.generation) == handle >> np.uint64(32)


@njit(cache=True, nogil=True)
def take_slot(handles, free_slots, counters):
    """Pop a free slot: the most recently freed one, else the lowest never-used one (so a slot at
    or above the watermark before a batch was never used). The caller has made sure one exists.
    """
    depth = counters[C_SLOTS_FREE]
    if depth > 0:
        counters[C_SLOTS_FREE] = depth - 1
        return np.int64(free_slots[depth - 1])
    slot = counters[C_SLOT_WATERMARK]
    counters[C_SLOT_WATERMARK] = slot + 1
    handles[slot].generation = counters[C_GENERATION_ORIGIN]
    return slot


@njit(cache=True, nogil=True)
def untake_slot(handles, free_slots, counters, slot, from_stack):
    """Exact inverse of :func:`take_slot` (used to undo a failed batch, in reverse order)."""
    handles[slot].size = 0
    if from_stack:
        free_slots[counters[C_SLOTS_FREE]] = slot
        counters[C_SLOTS_FREE] += 1
    else:
        counters[C_SLOT_WATERMARK] = slot


@njit(cache=True, nogil=True)
def free_slot(handles, free_slots, counters, slot):
    """Free a slot: bump its generation so old handles die, then stack it (or retire it)."""
    record = handles[slot]
    record.size = 0
    if (np.int64(record.generation) + 1) & MAX_GENERATION == counters[C_GENERATION_ORIGIN]:
        record.address = RETIRED
        counters[C_SLOTS_RETIRED] += 1
        return
    record.generation += np.uint32(1)
    free_slots[counters[C_SLOTS_FREE]] = slot
    counters[C_SLOTS_FREE] += 1


# ---------------------------------------------------------------------------------------------
# Released pages: a stack linked through the page records' stamp field.


@njit(cache=True, nogil=True)
def take_page(pages, counters, n_pages):
    """A page for new use: the most recently released one, else the lowest never-used pfn (so a
    pfn at or above the watermark before a batch was never used); -1 when the pool is full.
    """
    pfn = counters[C_RELEASED_HEAD]
    if pfn >= 0:
        link = pages[pfn].stamp
        counters[C_RELEASED_HEAD] = -1 if link == NONE32 else np.int64(link)
        counters[C_RELEASED] -= 1
        counters[C_PAGES_USED] += 1
        return pfn
    pfn = counters[C_PAGE_WATERMARK]
    if pfn >= n_pages:
        return -1
    counters[C_PAGE_WATERMARK] = pfn + 1
    counters[C_PAGES_USED] += 1
    return pfn


@njit(cache=True, nogil=True)
def release_page(pages, counters, pfn):
    """Put a page on the released stack. Its record must already be in the free state."""
    head = counters[C_RELEASED_HEAD]
    pages[pfn].stamp = NONE32 if head < 0 else head
    counters[C_RELEASED_HEAD] = pfn
    counters[C_RELEASED] += 1
    counters[C_PAGES_USED] -= 1


@njit(cache=True, nogil=True)
def untake_page(pages, counters, pfn, from_stack):
    """Exact inverse of :func:`take_page`."""
    if from_stack:
        release_page(pages, counters, pfn)
    else:
        counters[C_PAGE_WATERMARK] = pfn
        counters[C_PAGES_USED] -= 1


# ---------------------------------------------------------------------------------------------
# Stamped LIFO stacks


@njit(cache=True, nogil=True)
def push_page(pages, blocks, stack_heads, counters, free_list, pfn):
    """File page ``pfn`` at the top of ``free_list`` under a new stamp.

    Every array is used once more after the branch: Numba's reference-count pruning then finds
    each array's increment and decrement around the whole body and drops them, and the function
    stays small enough for LLVM to inline (with a decrement left on each path, a push cost about
    50 ns).
    """
    stamp = counters[C_STAMP] + 1
    block = stack_heads[free_list]
    count = BLOCK_ENTRIES if block < 0 else np.int64(blocks[block * BLOCK_WORDS + B_COUNT])
    if count == BLOCK_ENTRIES:               # a new top block
        below = block
        block = counters[C_BLOCK_FREE_HEAD]
        if block >= 0:
            link = blocks[block * BLOCK_WORDS + B_NEXT]
            counters[C_BLOCK_FREE_HEAD] = -1 if link == NONE32 else np.int64(link)
            counters[C_BLOCKS_FREE] -= 1
        else:
            block = counters[C_BLOCK_WATERMARK]
            counters[C_BLOCK_WATERMARK] = block + 1
        blocks[block * BLOCK_WORDS + B_NEXT] = NONE32 if below < 0 else below
        count = 0
    word = block * BLOCK_WORDS + B_ENTRY + 2 * count
    blocks[word] = pfn
    blocks[word + 1] = stamp
    blocks[block * BLOCK_WORDS + B_COUNT] = count + 1
    stack_heads[free_list] = block
    counters[C_STAMP] = stamp
    record = pages[pfn]
    record.free_list = free_list
    record.stamp = stamp


@njit(cache=True, nogil=True)
def top_entry(blocks, block):
    """Index in ``blocks`` of the pfn word of the top entry of a block that is not empty."""
    return block * BLOCK_WORDS + B_ENTRY + 2 * np.int64(blocks[block * BLOCK_WORDS + B_COUNT]) - 2


@njit(cache=True, nogil=True)
def free_block(blocks, counters, block):
    """Put an emptied stack block on the free-block list."""
    head = counters[C_BLOCK_FREE_HEAD]
    blocks[block * BLOCK_WORDS + B_NEXT] = NONE32 if head < 0 else head
    counters[C_BLOCK_FREE_HEAD] = block
    counters[C_BLOCKS_FREE] += 1


@njit(cache=True, nogil=True)
def rebuild_stacks(pages, blocks, stack_heads, counters, new_blocks, restamp):
    """Copy the live entries of every stack into ``new_blocks``, packed from block 0.

    Keeps each list's contents and order (its blocks follow each other down the list, all full
    but the top one); stale entries are left behind. Returns how many blocks were used, or -1
    (changing nothing) when ``new_blocks`` is too small. With ``restamp`` the pages' stamps are
    renumbered from 1, for when the stamp counter nears its limit: entries are judged by the old
    stamps first, since renumbering while walking could give a page the stamp of one of its own
    stale entries further down.
    """
    in_stacks = (counters[C_BLOCK_WATERMARK] - counters[C_BLOCKS_FREE]) * BLOCK_ENTRIES
    live = np.empty(in_stacks, np.int64)              # live pfns, list by list, top first
    live_stamps = np.empty(in_stacks, np.int64)
    ends = np.zeros(stack_heads.size + 1, np.int64)   # list L's entries: live[ends[L]:ends[L + 1]]
    count = 0
    needed = 0
    for free_list in range(stack_heads.size):
        block = stack_heads[free_list]
        while block >= 0:
            for k in range(np.int64(blocks[block * BLOCK_WORDS + B_COUNT]) - 1, -1, -1):
                pfn = blocks[block * BLOCK_WORDS + B_ENTRY + 2 * k]
                stamp = blocks[block * BLOCK_WORDS + B_ENTRY + 2 * k + 1]
                if pages[pfn].free_list == free_list and pages[pfn].stamp == stamp:
                    live[count] = pfn
                    live_stamps[count] = stamp
                    count += 1
            link = blocks[block * BLOCK_WORDS + B_NEXT]
            block = -1 if link == NONE32 else np.int64(link)
        ends[free_list + 1] = count
        needed += (count - ends[free_list] + BLOCK_ENTRIES - 1) // BLOCK_ENTRIES
    if needed > new_blocks.size // BLOCK_WORDS:
        return -1
    used = 0
    for free_list in range(stack_heads.size):
        first, end = ends[free_list], ends[free_list + 1]
        stack_heads[free_list] = -1 if end == first else used
        # the top block takes what is left over from full blocks, the rest take BLOCK_ENTRIES
        in_block = (end - first - 1) % BLOCK_ENTRIES + 1
        entry = first
        while entry < end:
            block = used
            used += 1
            new_blocks[block * BLOCK_WORDS + B_NEXT] = used if entry + in_block < end else NONE32
            new_blocks[block * BLOCK_WORDS + B_COUNT] = in_block
            for k in range(in_block - 1, -1, -1):
                new_blocks[block * BLOCK_WORDS + B_ENTRY + 2 * k] = live[entry]
                stamp = entry + 1 if restamp else live_stamps[entry]
                new_blocks[block * BLOCK_WORDS + B_ENTRY + 2 * k + 1] = stamp
                entry += 1
            in_block = BLOCK_ENTRIES
    if restamp:
        for entry in range(count):
            pages[live[entry]].stamp = entry + 1
        counters[C_STAMP] = count
    counters[C_BLOCK_WATERMARK] = used
    counters[C_BLOCK_FREE_HEAD] = -1
    counters[C_BLOCKS_FREE] = 0
    return used


# ---------------------------------------------------------------------------------------------
# LRU log


@njit(cache=True, nogil=True)
def lru_to_head(pages, lru_log, counters, pfn, append):
    """Move a page to the LRU head by appending it to the log; with ``append`` False the caller
    knows the page already is the head, and nothing changes.

    alloc passes False for a page it also placed its previous object on (a third of a fresh
    pool's fill: the page one alloc filed, the next popped), so the log grows a third slower. It
    is told rather than looking at the page's ``lru_pos``, which would chain every alloc's log
    position to the previous page record's arrival (re-alloc 36 -> 42 ns). Branch-free; the
    caller has made room for one entry.
    """
    position = counters[C_LRU_LEN]
    record = pages[pfn]
    lru_log[position] = pfn                        # beyond the end of the log unless appended
    record.lru_pos += append * (position - record.lru_pos)
    counters[C_LRU_LEN] = position + append


@njit(cache=True, nogil=True)
def compact_lru(pages, lru_log, counters):
    """Squeeze the stale entries out of the LRU log, keeping the order of the live ones.

    Branch-free, as whether an entry is live is unpredictable (7.0 -> 5.0 ms for 1.6M entries).
    """
    kept = LRU_NONE + 1
    for position in range(counters[C_LRU_TAIL], counters[C_LRU_LEN]):
        pfn = lru_log[position]
        record = pages[pfn]
        live = np.int64(record.lru_pos == position)
        lru_log[kept] = pfn                        # overwritten by the next entry unless live
        record.lru_pos += live * (kept - position)
        kept += live
    counters[C_LRU_LEN] = kept
    counters[C_LRU_TAIL] = LRU_NONE + 1


@njit(cache=True, nogil=True)
def lru_order(pages, lru_log, counters):
    """Pfns of the pages on the LRU list, head (most recently allocated into) first."""
    order = np.empty(counters[C_PAGES_USED], np.int64)
    found = 0
    for position in range(counters[C_LRU_LEN] - 1, counters[C_LRU_TAIL] - 1, -1):
        pfn = lru_log[position]
        if pages[pfn].lru_pos == position and found < order.size:
            order[found] = pfn
            found += 1
    return order[:found]



# ---------------------------------------------------------------------------------------------
# Audits of the shared tables, for the policies' check kernels: each returns AUDIT_OK, or the
# index of what is wrong (-1 when it is no single entry).

AUDIT_OK = -2


@njit(cache=True, nogil=True)
def audit_counters(handles, free_slots, blocks, lru_log, counters, n_pages, stacks):
    """The counters that the audits (and the kernels after them) index the shared tables with are
    in range of those tables, whatever the tables hold (``n_pages`` is the pool's pages,
    ``stacks`` whether the policy uses the stamped stacks and the LRU log). What the counters
    count is for the other audits to hold against the tables. Returns AUDIT_OK, the counter at
    fault, or -1 for a table's size (the counters not N_COUNTERS long, a free-slot table shorter
    than the handle table, a stack-block table of part of a block)."""
    if counters.size != N_COUNTERS or free_slots.size < handles.size \
            or blocks.size % BLOCK_WORDS != 0:
        return -1
    if not 0 <= counters[C_PAGE_WATERMARK] <= n_pages:
        return C_PAGE_WATERMARK
    if not 0 <= counters[C_SLOT_WATERMARK] <= handles.size:
        return C_SLOT_WATERMARK
    if not 0 <= counters[C_BLOCK_WATERMARK] <= blocks.size // BLOCK_WORDS:
        return C_BLOCK_WATERMARK
    if not 0 <= counters[C_STAMP] <= MAX_STAMP:
        return C_STAMP
    if not (LRU_NONE < counters[C_LRU_TAIL] <= counters[C_LRU_LEN] <= MAX_LRU
            and (counters[C_LRU_LEN] <= lru_log.size or not stacks)):
        return C_LRU_LEN
    if not 0 <= counters[C_GENERATION_ORIGIN] <= MAX_GENERATION:
        return C_GENERATION_ORIGIN
    return AUDIT_OK


@njit(cache=True, nogil=True)
def audit_free_slots(handles, free_slots, counters):
    """The free-slot stack holds every free slot once, and nothing else; the free and retired
    slots are as many as the counters say."""
    slots_free = 0
    retired = 0
    for slot in range(counters[C_SLOT_WATERMARK]):
        if handles[slot].size == 0:
            if handles[slot].address == RETIRED:
                retired += 1
            else:
                slots_free += 1
    if slots_free > free_slots.size or slots_free != counters[C_SLOTS_FREE] \
            or retired != counters[C_SLOTS_RETIRED]:
        return -1
    stacked = np.zeros(counters[C_SLOT_WATERMARK], np.bool_)
    for depth in range(slots_free):
        slot = np.int64(free_slots[depth])
        if slot >= counters[C_SLOT_WATERMARK] or stacked[slot] \
                or handles[slot].size != 0 or handles[slot].address == RETIRED:
            return slot
        stacked[slot] = True
    return AUDIT_OK


@njit(cache=True, nogil=True)
def audit_released(pages, counters, in_use):
    """The released-page stack links every page below the page watermark that is not ``in_use``
    (a bool per pfn below the watermark), each once."""
    watermark = in_use.size
    if not 0 <= counters[C_RELEASED] <= watermark:     # else a cycle could walk for ever
        return -1
    pfn = counters[C_RELEASED_HEAD]
    walked = 0
    while pfn != -1:
        if pfn < 0 or pfn >= watermark or walked >= counters[C_RELEASED] or in_use[pfn]:
            return pfn
        walked += 1
        link = pages[pfn].stamp
        pfn = -1 if link == NONE32 else np.int64(link)
    if walked != counters[C_RELEASED] or walked + np.sum(in_use) != watermark:
        return -1
    return AUDIT_OK


@njit(cache=True, nogil=True)
def audit_stacks(pages, blocks, stack_heads, counters, n_pages, filed):
    """Every record filed in a list has exactly one live entry in that list's stack.

    ``filed[list]`` is how many records the policy found filed in each list, or -1 for a list
    that does not exist (its stack must be empty). Blocks are checked too: each is in one stack or
    on the free-block list, and only a stack's top block may be part full. Returns the list at
    fault, or -1 for the free-block list.
    """
    seen = np.zeros(n_pages, np.bool_)
    visited = np.zeros(counters[C_BLOCK_WATERMARK], np.bool_)    # each block in one place only
    in_stacks = 0
    for free_list in range(stack_heads.size):
        if filed[free_list] < 0 and stack_heads[free_list] != -1:
            return free_list
        block = stack_heads[free_list]
        live = 0
        least = 1                                # the top block may be part full, no other
        while block != -1:
            if block < 0 or block >= counters[C_BLOCK_WATERMARK] or visited[block]:
                return free_list
            visited[block] = True
            in_stacks += 1
            count = np.int64(blocks[block * BLOCK_WORDS + B_COUNT])
            if count < least or count > BLOCK_ENTRIES:
                return free_list
            least = BLOCK_ENTRIES
            for k in range(count):
                pfn = np.int64(blocks[block * BLOCK_WORDS + B_ENTRY + 2 * k])
                stamp = np.int64(blocks[block * BLOCK_WORDS + B_ENTRY + 2 * k + 1])
                if pfn >= n_pages or stamp > counters[C_STAMP]:
                    return free_list
                if pages[pfn].free_list == free_list and pages[pfn].stamp == stamp:
                    if seen[pfn]:
                        return free_list
                    seen[pfn] = True
                    live += 1
            link = blocks[block * BLOCK_WORDS + B_NEXT]
            block = -1 if link == NONE32 else np.int64(link)
        if filed[free_list] >= 0 and live != filed[free_list]:
            return free_list
    block = counters[C_BLOCK_FREE_HEAD]
    walked = 0
    while block != -1:
        if block < 0 or block >= counters[C_BLOCK_WATERMARK] or visited[block]:
            return -1
        visited[block] = True
        walked += 1
        link = blocks[block * BLOCK_WORDS + B_NEXT]
        block = -1 if link == NONE32 else np.int64(link)
    if walked != counters[C_BLOCKS_FREE] or walked + in_stacks != counters[C_BLOCK_WATERMARK]:
        return -1
    return AUDIT_OK
