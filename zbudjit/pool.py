"""The public :class:`Pool`: checked arrays in, one kernel call per batch, exceptions out.

Where a batch goes: :class:`Pool` checks its arguments and hands the batch to its policy
(:mod:`zbudjit.policies`, one folder per policy), whose kernel places the objects; reading,
writing and locating objects go straight to the shared data path (:mod:`zbudjit.engine.datapath`).
The pool owns the tables every policy shares (:mod:`zbudjit.engine.tables`: handle table, free
slots, stack blocks, LRU log, counters) and the arena of object bytes; the policy adds its page
table and whatever else it needs. Tables that may need to grow (handles, stack blocks, LRU log)
are checked by the kernel before it changes anything: when they are too small it answers
NEED_ROOM, and only then does the pool grow them (:meth:`Pool._reserve`) and call again, so
kernels never run out of room half way; a batch that fails puts back what was resized.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import errors
from .engine import datapath
from .engine import tables as t
from .engine.files import LockedFile
from .errors import CorruptionError, InvalidHandleError, PoolError, PoolFullError
from .policies import REGISTRY as POLICIES

#: uint64 handles, as every batch call returns and takes them
Handles = NDArray[np.uint64]
#: reclaim's callback: (handles, data, offsets) -> a bool array (True: written back) or None (all)
Writeback = Callable[[Handles, NDArray[np.uint8], NDArray[np.int64]], "ArrayLike | None"]

INT64 = np.dtype(np.int64)
INT64_MAX = 2**63 - 1
UINT64 = np.dtype(np.uint64)
NO_DATA = np.empty(0, np.uint8)          # alloc's "no bytes to copy" (never written: length 0)
NO_OFFSETS = np.empty(0, np.int64)
MIN_PAGE_SIZE = 4096
MAX_PAGE_SIZE = 65536


@dataclass(frozen=True)
class ReclaimResult:
    """What :meth:`Pool.reclaim` did: pages released, and the handles written back (now invalid)."""

    pages_freed: int
    evicted: np.ndarray


@dataclass(frozen=True)
class CompactResult:
    """What :meth:`Pool.compact` did. ``moved`` holds the moved objects' handles, in move order."""

    pages_freed: int
    objects_moved: int
    bytes_moved: int
    moved: np.ndarray


@dataclass(frozen=True)
class Stats:
    """A snapshot of a pool's occupancy and overheads (see :meth:`Pool.stats`)."""

    pages_total: int
    pages_used: int
    pages_free: int
    objects: int
    bytes_stored: int
    bytes_allocated: int
    density: float
    metadata_bytes: int
    metadata_bytes_per_page: float
    metadata_bytes_per_handle: int
    free_chunks_histogram: tuple
    pages_compacted: int


def _integer_array(values, name, dtype, out_of_range):
    """``values`` as a 1-D array of ``dtype`` (a NumPy dtype object); TypeError for non-integers,
    ValueError for shape.

    Python sequences of ints are converted exactly (NumPy alone would turn ``[2**63, 1]`` into
    floats); an int that does not fit ``dtype`` raises ``out_of_range``.
    """
    if type(values) is np.ndarray and values.dtype is dtype and values.ndim == 1:
        return values                  # the common case, kept short for one-object calls
    if not isinstance(values, np.ndarray):
        if isinstance(values, (list, tuple)) and any(isinstance(v, (bool, np.bool_)) for v in values):
            raise TypeError(f"{name} must be integers, not bools")      # NumPy would take 1 and 0
        if isinstance(values, (list, tuple)) and all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
            try:
                return np.array(values, dtype=dtype)
            except OverflowError:
                raise out_of_range(f"{name} hold integers outside the range of {np.dtype(dtype)}") from None
        values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {values.shape}")
    if values.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integers, not {values.dtype}")
    if values.size and not np.can_cast(values.dtype, dtype):
        info = np.iinfo(dtype)         # e.g. uint64 ids: 2**63 would wrap to a negative int64
        if values.min() < info.min or values.max() > info.max:
            raise out_of_range(f"{name} hold integers outside the range of {np.dtype(dtype)}")
    return np.ascontiguousarray(values, dtype=dtype) if values.dtype != dtype else values


def _whole_number(value, name, low, high=INT64_MAX):
    """``value`` as an int; TypeError unless it is an integer, ValueError outside [low, high]
    (by default the int64 range: a larger number would reach a kernel as a Python object, which
    Numba refuses with a TypingError). ``high=None``: no upper bound, for a limit that a caller
    clamps (``min(value, INT64_MAX)``: "at most" a number that large means "no limit")."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return int(value)


def _page_size(value):
    """``value`` as a page size: TypeError unless an integer, ValueError unless a power of two
    from MIN_PAGE_SIZE to MAX_PAGE_SIZE."""
    value = _whole_number(value, "page_size", MIN_PAGE_SIZE, MAX_PAGE_SIZE)
    if value & (value - 1):
        raise ValueError(f"page_size must be a power of two from {MIN_PAGE_SIZE} to "
                         f"{MAX_PAGE_SIZE}, got {value}")
    return value


def _handles(values):
    return _integer_array(values, "handles", UINT64, InvalidHandleError)


def _bytes(data):
    if isinstance(data, (bytes, bytearray, memoryview)):
        return np.frombuffer(data, np.uint8)
    data = np.asarray(data)
    if data.dtype != np.uint8:
        raise TypeError(f"data must be uint8 bytes, not {data.dtype}")
    if data.ndim != 1:
        raise ValueError(f"data must be a 1-D array, got shape {data.shape}")
    return np.ascontiguousarray(data)


def _file_arena(path, nbytes, create):
    """``(file, arena)``: the arena file, locked (:class:`engine.files.LockedFile`), and the arena
    as a shared mapping of it. A new file is sparse, so only written pages use disk (and only
    touched pages use memory); a new file is removed again if it cannot be mapped."""
    arena_file = LockedFile(path, nbytes, create, "arena file")
    try:
        return arena_file, arena_file.map()
    except BaseException:
        arena_file.close()
        if create:
            os.unlink(path)
        raise


def _locked(method):
    """Run ``method`` holding the pool's lock: one batch at a time in a pool (the kernels release
    the GIL, so several pools still run in parallel); a closed pool raises PoolError."""
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._lock:
            if self._arena is None:
                self._refuse_closed()
            return method(self, *args, **kwargs)
    return locked


class Pool:
    """A pool of pages holding variable-sized objects, addressed by stable uint64 handles.

    Parameters
    ----------
    pages : int
        Number of pages the pool may use (its capacity); the arena is ``pages * page_size`` bytes.
    policy : str
        Placement policy (:data:`POLICIES`). ``"zbud"``: at most two objects per page, exactly as
        Linux's zbud. ``"zsmalloc"``: size classes and zspages, exactly as Linux 6.18's zsmalloc.
    page_size : int
        A power of two from 4096 to 65536.
    reserve_header_chunk : bool, zbud only
        True keeps the kernel's in-page header geometry (63 usable chunks of ``page_size / 64``,
        FIRST at byte ``chunk``, largest object 3968 B on 4 KiB pages); False (default) keeps all
        metadata out of the page (64 usable chunks, FIRST at byte 0, largest object 4032 B).
    chain_size : int, zsmalloc only
        The kernel's CONFIG_ZSMALLOC_CHAIN_SIZE, 4 to 16 (default 8): the most pages a zspage
        may have. Objects are 1 byte to ``page_size``.
    path : str or os.PathLike, optional
        Back the arena with this file (a "highmem" arena, which may be far larger than RAM).
        The file must not exist; it is created sparse. Default: the arena is anonymous RAM.
        Either way only the pages touched cost memory. Metadata always stays in RAM.
    overcommit : bool
        RAM arenas only. False (default) has the system account for the whole arena up front, so
        a pool that cannot fit fails here with MemoryError. True maps it without that check
        (MAP_NORESERVE): for a capacity far above what will ever be used, as zbudjit.Zram's
        worst-case bound is; memory is then taken as pages are touched, and a system that runs
        out of it ends the process as it would any overcommitted program.

    Every batch call behaves as its elements applied one by one in array order, and is
    all-or-nothing: on any error it raises and leaves the pool exactly as it was.
    Object bytes are undefined from :meth:`alloc` until they are written.

    A pool may be shared by threads: each call holds the pool's lock for its whole batch, so
    calls run one at a time and each sees the others whole (the kernels release the GIL, so
    several pools run in parallel). A file-backed arena is locked for as long as the pool lives
    (FileInUseError for a second pool on it, in this process or another), and its pages get disk
    blocks before anything is written into them (PoolFullError, pool unchanged, on a full disk).
    Handles carry the pool's own generation origin, drawn at random, so a handle of another pool
    is rejected as stale (except by a chance of about one in 2**32).
    """

    def __init__(self, pages: int, policy: str = "zbud", page_size: int = 4096,
                 reserve_header_chunk: bool | None = None, path: str | os.PathLike | None = None,
                 chain_size: int | None = None, *, overcommit: bool = False) -> None:
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}; choose from {sorted(POLICIES)}")
        pages = _whole_number(pages, "pages", 1, t.MAX_PAGES - 1)
        page_size = _page_size(page_size)
        self.policy = policy
        self.page_size = page_size
        self._policy = POLICIES[policy]
        given = {"reserve_header_chunk": reserve_header_chunk, "chain_size": chain_size}
        for name, value in given.items():
            if value is not None and name not in self._policy.options:
                raise ValueError(f"{name} is not an option of the {policy} policy "
                                 f"(its options: {', '.join(self._policy.options) or 'none'})")
        options = {name: default if given[name] is None else given[name]
                   for name, default in self._policy.options.items()}
        for name, value in self._policy.check_options(page_size, options).items():
            setattr(self, name, value)
        self._handles = np.empty(1024, t.HANDLE_DTYPE)
        self._free_slots = np.empty(self._handles.size, np.uint32)   # as deep as slots can be free
        stacks = self._policy.stacks
        self._stack_heads = np.empty(0, np.int64)       # the policy's build makes its stacks
        self._blocks = t.new_blocks(256 if stacks else 0)
        self._lru_log = np.empty(1024 if stacks else 0, np.uint32)
        self._policy.build(self, pages)
        self._counters = t.new_counters()
        self._busy = False          # True while reclaim's writeback callback runs
        self.path = None if path is None else os.path.abspath(os.fspath(path))
        self._lock = threading.Lock()
        self._arena_file = None
        nbytes = pages * self.page_size
        if path is not None:
            self._arena_file, self._arena = _file_arena(self.path, nbytes, True)
        else:
            try:
                self._arena = t.zeroed(nbytes, np.uint8, reserve=not overcommit)
            except MemoryError as error:
                raise MemoryError(f"{error}; for an arena larger than RAM pass path= "
                                  "(a file-backed arena)") from None

    # -- geometry -------------------------------------------------------------------------------

    @property
    def pages_total(self) -> int:
        return int(self._geometry[t.G_PAGES])

    @property
    def chunk_size(self) -> int:
        """zbud: bytes of a chunk, the unit objects are counted in."""
        return 1 << int(self._geometry[self._chunk_geometry(t.G_CHUNK_SHIFT)])

    @property
    def usable_chunks(self) -> int:
        """zbud: chunks of a page that objects may use."""
        return int(self._geometry[self._chunk_geometry(t.G_USABLE_CHUNKS)])

    def _chunk_geometry(self, entry):
        """``entry`` of the geometry, for a policy that counts space in chunks; a zsmalloc pool's
        geometry keeps other numbers there (its class spacing and class count)."""
        if "reserve_header_chunk" not in self._policy.options:
            raise PoolError(f"a {self.policy} pool counts space in size classes, not chunks")
        return entry

    @property
    def max_size(self) -> int:
        """Largest object, in bytes, this pool can hold."""
        return int(self._geometry[t.G_MAX_SIZE])

    # Cheap counters (stats() also builds the fill histogram)

    @property
    def pages_used(self) -> int:
        return int(self._counters[t.C_PAGES_USED])

    @property
    def objects(self) -> int:
        return int(self._counters[t.C_OBJECTS])

    @property
    def bytes_stored(self) -> int:
        return int(self._counters[t.C_BYTES_STORED])

    @property
    def pages_compacted(self) -> int:
        """Pages compaction has released since the pool was made (zsmalloc's pages_compacted)."""
        return int(self._counters[t.C_PAGES_COMPACTED])

    @property
    def density(self) -> float:
        """Bytes stored per byte of the used pages (0.0 for an empty pool)."""
        used = self.pages_used
        return self.bytes_stored / (used * self.page_size) if used else 0.0

    def __repr__(self):
        options = "".join(f", {name}={getattr(self, name)!r}" for name in self._policy.options)
        return (f"Pool(pages={self.pages_total}, policy={self.policy!r}, page_size={self.page_size}"
                f"{options}) with {self.objects} objects on {self.pages_used} pages")

    # -- room for a batch -----------------------------------------------------------------------

    def _reserve(self, slots, pushes, lru_entries):
        """Make room in the growable tables; return what to put back if the batch then fails.

        Stale stack and LRU entries are squeezed out when room runs short, and a table grows only
        if that is not enough; each keeps half its live entries again as slack, so squeezing is
        amortised over at least that many operations.
        """
        c = self._counters
        put_back = []
        needed = int(c[t.C_SLOT_WATERMARK] - c[t.C_SLOTS_FREE]) + slots
        if slots and needed > t.MAX_SLOTS:
            raise PoolFullError("the handle table is full: no free handle slot for the batch")
        if slots and self._handles.size - c[t.C_SLOT_WATERMARK] + c[t.C_SLOTS_FREE] < slots:
            put_back += [("_handles", self._handles), ("_free_slots", self._free_slots)]
            self._handles = t.grown(self._handles, needed, t.MAX_SLOTS)
            self._free_slots = t.resized(self._free_slots, self._handles.size)   # as deep as slots
        blocks_needed = t.blocks_for(pushes, self._stack_heads.size)
        old_size = self._blocks.size // t.BLOCK_WORDS
        blocks_free = old_size - c[t.C_BLOCK_WATERMARK] + c[t.C_BLOCKS_FREE]
        if pushes and (blocks_free < blocks_needed or c[t.C_STAMP] + pushes >= t.MAX_STAMP):
            # packed, the live entries fit the table they are in
            live = self._rebuild_stacks(old_size, restamp=c[t.C_STAMP] + pushes >= t.MAX_STAMP)
            if live + blocks_needed > t.MAX_BLOCKS:
                raise PoolFullError("the free-list block table is full; use smaller batches")
            size = max(old_size, live + live // 2 + blocks_needed)
            if size != old_size:
                resized = t.new_blocks(size)
                resized[:live * t.BLOCK_WORDS] = self._blocks[:live * t.BLOCK_WORDS]
                self._blocks = resized
                put_back.append(("_blocks", old_size))
        if lru_entries and self._lru_log.size - c[t.C_LRU_LEN] < lru_entries:
            t.compact_lru(self._pages, self._lru_log, c)
            needed = int(c[t.C_LRU_LEN]) * 3 // 2 + lru_entries
            if self._lru_log.size < needed:
                put_back.append(("_lru_log", self._lru_log))
                self._lru_log = t.grown(self._lru_log, needed, t.MAX_LRU)
        return put_back

    def _rebuild_stacks(self, size, restamp=False):
        """Pack the stacks' live entries into a new block table of ``size`` blocks; returns how many
        blocks they fill."""
        new_blocks = t.new_blocks(size)
        live = t.rebuild_stacks(self._pages, self._blocks, self._stack_heads, self._counters,
                                new_blocks, restamp)
        if live < 0:
            raise CorruptionError("free-list stacks hold more live entries than fit their table")
        self._blocks = new_blocks
        return live

    def _put_back(self, put_back):
        """Undo :meth:`_reserve` after a failed batch (the kernel has undone its own changes)."""
        for name, old in put_back:
            if name == "_blocks":
                self._rebuild_stacks(old)
            else:
                setattr(self, name, old)

    def _guard(self):
        if self._arena is None:
            self._refuse_closed()
        if self._busy:
            raise PoolError("the pool cannot be changed while reclaim's writeback callback runs")

    def _not_done(self, status, index, operation, batch, *arguments):
        """After the policy's ``alloc`` or ``free`` of ``batch`` answered ``status``: make room
        and run it again if that was NEED_ROOM; raise, with the grown tables put back, if it
        fails."""
        put_back = ()
        if status == errors.NEED_ROOM:
            put_back = self._reserve(*self._policy.room(operation, batch.size))
            status, index = getattr(self._policy, operation)(self, batch, *arguments)
        if status != errors.OK:
            self._put_back(put_back)
            errors.raise_for_status(status, index, batch)
        if operation == "alloc" and any(name == "_blocks" for name, _ in put_back):
            self._trim_blocks()

    def _trim_blocks(self):
        """After an alloc that grew the block table for the most pushes it could make (one an
        object, where a fill makes far fewer), give back what it did not reach if that
        is most of the table: blocks at and above the watermark were never used, so the table
        can end there, with half as many again to spare. (Not after a free: the re-alloc that
        usually follows one would only grow the table again.)"""
        size = self._blocks.size // t.BLOCK_WORDS
        used = int(self._counters[t.C_BLOCK_WATERMARK])
        keep = max(used + used // 2, 256)
        if keep < size // 4:
            trimmed = t.new_blocks(keep)
            trimmed[:used * t.BLOCK_WORDS] = self._blocks[:used * t.BLOCK_WORDS]
            self._blocks = trimmed

    # -- life ------------------------------------------------------------------------------------

    def close(self) -> None:
        """Let go of the arena: a file-backed arena is flushed and its file unlocked, so that
        :meth:`open` (here or in another process) may map it again. Every later call but
        :meth:`close` raises PoolError. Also what leaving a ``with Pool(...) as pool:`` block
        does. Objects not saved are lost with a RAM arena, and stay in the file otherwise."""
        with self._lock:
            if self._arena is None:
                return
            if self._arena_file is not None:
                self._arena.flush()
                self._arena_file.close()
            self._arena = None

    @property
    def closed(self) -> bool:
        return self._arena is None

    def _refuse_closed(self):
        raise PoolError("the pool is closed")

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- batch operations -----------------------------------------------------------------------

    def alloc(self, sizes: ArrayLike) -> Handles:
        """Allocate one object per entry of ``sizes`` (bytes, 1 to :attr:`max_size`).

        Returns the new handles as a uint64 array. Raises ValueError for a size out of range and
        PoolFullError when the pool runs out of pages; either way nothing is allocated.
        """
        sizes = _integer_array(sizes, "sizes", INT64, ValueError)
        return self._alloc(sizes, NO_DATA, NO_OFFSETS)

    def _alloc(self, sizes, data, offsets):
        n = sizes.size
        out = np.empty(n, np.uint64)
        self._lock.acquire()                # not ``with``: half the cost, for a one-object call
        try:
            if self._busy or self._arena is None:
                self._guard()
            if n == 0:
                return out
            if self._arena_file is not None:
                self._reserve_disk(self._policy.new_pages_bound(self, sizes))
            status, index = self._policy.alloc(self, sizes, data, offsets, out)
            if status != errors.OK:            # one call above, the rest only when it did not do
                self._not_done(status, index, "alloc", sizes, data, offsets, out)
        finally:
            self._lock.release()
        return out

    def _reserve_disk(self, new_pages):
        """Give the file-backed arena disk blocks for every page below the page watermark and
        ``new_pages`` more, before a batch may write into them (engine/files.py says why)."""
        watermark = int(self._counters[t.C_PAGE_WATERMARK])
        self._arena_file.reserve((watermark + new_pages) * self.page_size)

    def store(self, data: ArrayLike, offsets: ArrayLike) -> Handles:
        """Allocate and write a ragged batch in one call; returns the handles.

        ``data`` is 1-D uint8 and object ``i`` is ``data[offsets[i]:offsets[i + 1]]``.
        """
        data = _bytes(data)
        offsets = _integer_array(offsets, "offsets", INT64, ValueError)
        status, index, sizes = datapath.offsets_to_sizes(data, offsets)
        errors.raise_for_status(status, index)
        return self._alloc(sizes, data, offsets)

    def free(self, handles: ArrayLike) -> None:
        """Free every handle in the batch. A handle that is not live, or repeated, raises
        InvalidHandleError and nothing is freed."""
        handles = _handles(handles)
        self._lock.acquire()
        try:
            if self._busy or self._arena is None:
                self._guard()
            if handles.size == 0:
                return
            status, index = self._policy.free(self, handles)
            if status != errors.OK:
                self._not_done(status, index, "free", handles)
        finally:
            self._lock.release()

    @_locked
    def write(self, handles: ArrayLike, data: ArrayLike, offsets: ArrayLike) -> None:
        """Write object ``i``'s bytes ``data[offsets[i]:offsets[i + 1]]``; each length must equal the
        object's size. A handle repeated in the batch is written in order (the last write wins)."""
        self._guard()
        handles = _handles(handles)
        data = _bytes(data)
        offsets = _integer_array(offsets, "offsets", INT64, ValueError)
        status, index = datapath.write_kernel(
            self._handles, self._counters, self._arena, self._policy.next_pages(self),
            self._geometry[t.G_PAGE_SHIFT], handles, data, offsets)
        errors.raise_for_status(status, index, handles if status == errors.BAD_HANDLE else None)

    @_locked
    def read(self, handles: ArrayLike,
             out: NDArray[np.uint8] | None = None) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
        """The objects' bytes as ``(data, offsets)``: object ``i`` is ``data[offsets[i]:offsets[i+1]]``.

        ``out``, a writable 1-D uint8 array, receives the bytes instead of a new array (``data`` is
        then its first ``offsets[-1]`` bytes); reusing one buffer saves touching fresh memory,
        which costs more than the copy itself. ValueError if it is too small.
        """
        handles = _handles(handles)
        if out is not None:
            if not isinstance(out, np.ndarray) or out.dtype != np.uint8 or out.ndim != 1:
                raise TypeError("out must be a 1-D uint8 numpy array")
            if not (out.flags.c_contiguous and out.flags.writeable):
                raise ValueError("out must be C-contiguous and writable")
        status, index, data, offsets = datapath.read_kernel(
            self._handles, self._counters, self._arena, self._policy.next_pages(self),
            self._geometry[t.G_PAGE_SHIFT], handles, out)
        errors.raise_for_status(status, index, handles)
        return (data if out is None else out[:offsets[-1]]), offsets

    @_locked
    def locate(self, handles: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Where each object is now: ``(pfn, offset)`` int64 arrays, offset in bytes from the page start."""
        handles = _handles(handles)
        status, index, pfns, offsets = datapath.locate_kernel(
            self._handles, self._counters, self._geometry[t.G_PAGE_SHIFT], handles)
        errors.raise_for_status(status, index, handles)
        return pfns, offsets

    @_locked
    def sizes(self, handles: ArrayLike) -> NDArray[np.int64]:
        """Each object's size in bytes (int64)."""
        handles = _handles(handles)
        status, index, sizes = datapath.sizes_kernel(self._handles, self._counters, handles)
        errors.raise_for_status(status, index, handles)
        return sizes

    @_locked
    def reclaim(self, n_pages: int, writeback: Writeback) -> ReclaimResult:
        """Write back and evict the objects of the ``n_pages`` least recently used pages.

        All live objects on the victim pages (the LRU tail, page by page, FIRST before LAST) are
        offered in one call ``writeback(handles, data, offsets)``, which returns a bool array
        (True: written back) or None (all written back). Written-back objects are freed; a victim
        page left empty is released, one that keeps an object returns to the LRU head, in victim
        order, as zbud_reclaim_page does. If ``writeback`` raises, or answers with the wrong shape
        or dtype (ValueError), the pool is unchanged and the error propagates. ``writeback`` may
        read the pool but not change it.

        Returns
        -------
        ReclaimResult
            ``pages_freed`` and ``evicted``, the handles written back (uint64).
        """
        n_pages = min(_whole_number(n_pages, "n_pages", 0, None), INT64_MAX)
        if not callable(writeback):
            raise TypeError("writeback must be callable")
        self._guard()

        def offer(handles, data, offsets):
            """The caller's writeback, with changes to the pool refused and its answer checked.
            The lock is let go meanwhile, so that the writeback (or another thread) may read the
            pool: the tables are as they were before reclaim until the writeback returns."""
            self._busy = True
            self._lock.release()
            try:
                answer = writeback(handles.copy(), data, offsets)
            finally:
                self._lock.acquire()
                self._busy = False
            written = np.ones(handles.size, np.bool_) if answer is None else np.asarray(answer)
            if written.dtype != np.bool_ or written.shape != handles.shape:
                raise ValueError(f"writeback must return None or a bool array of shape "
                                 f"{handles.shape}, not {written.dtype} of shape {written.shape}")
            return written

        released, evicted = self._policy.reclaim(self, n_pages, offer)
        return ReclaimResult(released, evicted)

    @_locked
    def compact(self, max_bytes: int | None = None) -> CompactResult:
        """Move objects so the pool uses fewer pages; handles stay valid and bytes identical.

        zbud (which never had compaction in the kernel): the fewest pages zbud's rule allows. At
        most two objects share a page and their chunks fit it; the optimum pairs the objects
        sorted by chunks with two pointers. Pages already holding two objects stay as they are
        unless breaking them is needed to reach the optimum, and of two objects that end up
        together the larger one stays put. A released page leaves the LRU, a destination keeps
        its LRU position.

        zsmalloc: exactly the kernel's zs_compact (classes from the largest down; objects of the
        emptiest zspages moved into the fullest). ``stats().pages_compacted`` counts what the
        kernel's pages_compacted counts.

        Parameters
        ----------
        max_bytes : int, optional
            zbud only. Incremental compaction: move at most this many bytes, taking first the
            independent groups of moves that free the most pages per byte. Default: compact
            fully.

        Returns
        -------
        CompactResult
        """
        self._guard()
        budget = -1 if max_bytes is None else min(_whole_number(max_bytes, "max_bytes", 0, None),
                                                   INT64_MAX)
        return CompactResult(*self._policy.compact(self, budget))

    @_locked
    def save(self, directory: str | os.PathLike) -> None:
        """Save the pool into ``directory`` atomically; see :func:`zbudjit.persist.save`."""
        from . import persist
        persist.save(self, directory)

    @classmethod
    def open(cls, directory: str | os.PathLike) -> "Pool":
        """The pool last saved into ``directory``; see :func:`zbudjit.persist.open_pool`."""
        from . import persist
        return persist.open_pool(directory)

    @_locked
    def handles(self) -> Handles:
        """Every live handle (uint64), in slot order."""
        return datapath.live_handles(self._handles, self._counters)

    @_locked
    def page_fill(self) -> NDArray[np.int64]:
        """Bytes stored on each page (int64), indexed by pfn, for the pfns used so far.

        A released or never-used page reads 0. The array's length is the page watermark, so two
        snapshots of one pool may differ in length; pad the shorter with zeros to compare them.
        """
        watermark = int(self._counters[t.C_PAGE_WATERMARK])
        used = self._handles[:int(self._counters[t.C_SLOT_WATERMARK])]
        used = used[used["size"] != 0]
        address = used["address"] & t.ADDRESS_MASK
        shift = int(self._geometry[t.G_PAGE_SHIFT])
        # a zsmalloc object may cross into the next page of its zspage: count each part there
        in_page = np.minimum(used["size"], self.page_size - (address & (self.page_size - 1)))
        fill = np.bincount(address >> shift, weights=in_page, minlength=watermark)
        crossing = in_page < used["size"]
        if crossing.any():
            next_pages = self._policy.next_pages(self)[address[crossing] >> shift]
            fill += np.bincount(next_pages, weights=(used["size"] - in_page)[crossing],
                                minlength=watermark)
        return fill.astype(np.int64)

    @_locked
    def lru_order(self) -> NDArray[np.int64]:
        """Pfns of the used pages, LRU head (most recently allocated into) first (zbud only:
        zsmalloc keeps no LRU)."""
        return self._policy.lru_order(self)

    # -- audit and statistics -------------------------------------------------------------------

    @_locked
    def stats(self) -> Stats:
        """Occupancy and overheads as a :class:`Stats`.

        ``density`` is bytes stored per byte of used pages; ``bytes_allocated`` the bytes of the
        chunks (zbud) or slots (zsmalloc) the objects take; ``free_chunks_histogram[i]`` counts
        the used pages with ``i`` free chunks (zbud; empty for zsmalloc, whose
        :meth:`class_stats` has the fill of every class); ``metadata_bytes`` is every table but
        the arena, and ``metadata_bytes_per_page`` the bytes of the tables that grow with the
        pool's pages (the policy's page tables, stack blocks, LRU log) per page of the pool; the
        fixed ones (class table, list heads, counters) count in ``metadata_bytes`` only.
        """
        policy = self._policy.stats(self)
        page_tables = policy["page_table_bytes"] + self._blocks.nbytes + self._lru_log.nbytes
        fixed_tables = (policy["table_bytes"] + self._stack_heads.nbytes + self._counters.nbytes
                        + self._geometry.nbytes)
        pages_used = self.pages_used
        return Stats(
            pages_total=self.pages_total,
            pages_used=pages_used,
            pages_free=self.pages_total - pages_used,
            objects=self.objects,
            bytes_stored=self.bytes_stored,
            bytes_allocated=policy["bytes_allocated"],
            density=self.density,
            metadata_bytes=(page_tables + fixed_tables + self._handles.nbytes
                            + self._free_slots.nbytes),
            metadata_bytes_per_page=page_tables / self.pages_total,
            metadata_bytes_per_handle=t.HANDLE_DTYPE.itemsize + self._free_slots.itemsize,
            free_chunks_histogram=policy["free_chunks_histogram"],
            pages_compacted=self.pages_compacted,
        )

    @_locked
    def class_stats(self) -> np.ndarray:
        """zsmalloc: one row per real size class, the columns of the kernel's debugfs ``classes``
        file (class, size, the zspages of each fullness group from 10% to 100%, obj_allocated,
        obj_used, pages_used, pages_per_zspage, freeable), as a NumPy structured array;
        :func:`zbudjit.policies.zsmalloc.classes.format_class_stats` prints it as that file."""
        class_stats = getattr(self._policy, "class_stats", None)
        if class_stats is None:
            raise PoolError(f"a {self.policy} pool has no size classes; class_stats() is for "
                            "zsmalloc pools")
        return class_stats(self)

    @_locked
    def check(self) -> None:
        """Audit every table against the others; raise :class:`CorruptionError` saying what is wrong."""
        finding = self._policy.check(self)
        if finding:
            raise CorruptionError(finding)
