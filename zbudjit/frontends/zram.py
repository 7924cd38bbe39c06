"""A zram device as Linux 6.18 runs it: pages in, compressed into a pool, every figure the kernel's.

:class:`Zram` is the block device of ``drivers/block/zram``: ``disksize / page_size`` page indices,
each empty or holding one page, kept as zram keeps it (kernel-6.18.md section 7):

- a page that is one 8-byte word repeated is *same-filled*: the slot keeps the word, no memory;
- otherwise it is compressed, and stored in an object of its compressed size, unless that is at
  least ``huge_class_size`` (3625 bytes at 4 KiB pages, chain 8): then the raw page is stored in
  an object of a whole page (a *huge* page);
- overwriting an index allocates the new object before it frees the old one, so the pool's peak
  (mem_used_max) holds both;
- with a ``mem_limit``, the pool's page count is compared with it *after* the new object is
  allocated (mem_used_max is raised first); a write over the limit frees the new object, counts in
  failed_writes, and leaves its index as it was.

Batches (``write``, ``read``, ``discard``) behave as their pages sent one at a time, in order, as
single-page requests: a page that fails does not stop the pages after it.
:meth:`Zram.mm_stat` gives the nine fields of ``/sys/block/zramN/mm_stat`` and the file's text;
:meth:`Zram.io_stat` and :meth:`Zram.bd_stat` the others.

Where the bytes are: the pool (:class:`zbudjit.Pool`, any policy) holds the objects. zram never ran
on zbud, whose largest object is smaller than a page; as a what-if, a zbud-backed device keeps its
huge pages in a store of whole pages of its own, one page of memory each, counted in
mem_used_total with the pool's pages (as zsmalloc's huge class would count them).

With ``keep_data=False`` no page bytes are kept: objects of the right sizes are allocated (and the
allocator's own free-slot links written, as zsmalloc keeps them in free slots), which is how the
kernel's own sizes are replayed (:meth:`Zram.write_sizes`, :meth:`Zram.replay`).

The slot table and the rules are in ``zram_kernels.py``; the pool's tables are touched only
through the policy's own kernels (``zbudjit.policies.single``).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import astuple, dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import compressors
from ..engine.files import LockedFile
from ..engine.tables import MAX_PAGES
from ..errors import CorruptionError, PoolError
from ..policies.zsmalloc import class_table
from ..policies.zsmalloc.classes import DEFAULT_CHAIN_SIZE, _nominal_index, huge_class_size
from ..policies.zsmalloc.kernels import K_CLASS
from ..pool import INT64_MAX, POLICIES, Pool, _integer_array, _page_size, _whole_number
from . import zram_kernels as k
from .zswap import same_filled_words

__all__ = ["BdStat", "IoStat", "MmStat", "Zram"]

INT64 = np.dtype(np.int64)
PP_BUCKET_BYTES = 64            # the width of the post-processing size buckets
#: writeback modes and the slot flags each needs
WRITEBACK_MODES = {"idle": k.IDLE, "huge": k.HUGE, "huge_idle": k.HUGE | k.IDLE,
                   "incompressible": k.INCOMPRESSIBLE}
#: recompress types and the slot flags each needs
RECOMPRESS_TYPES = {"idle": k.IDLE, "huge": k.HUGE, "huge_idle": k.HUGE | k.IDLE}
NO_PAGES = np.empty((0, 0), np.uint8)
NO_BYTES = np.empty(0, np.uint8)


@dataclass(frozen=True)
class MmStat:
    """``/sys/block/zramN/mm_stat``: the nine fields in the kernel's order (section 7.3).

    ``str()`` of it is the file's text, exactly as the kernel prints it.
    """

    orig_data_size: int     # bytes: page_size x slots holding something
    compr_data_size: int    # bytes: sum of the stored objects' sizes
    mem_used_total: int     # bytes: pool pages x page_size
    mem_limit: int          # bytes; 0 means no limit
    mem_used_max: int       # bytes: the peak of pool pages, raised after each allocation
    same_pages: int         # same-filled slots stored now
    pages_compacted: int    # pages freed by compaction since the device was initialised
    huge_pages: int         # slots stored uncompressed now
    huge_pages_since: int   # uncompressed writes since the device was initialised

    def __str__(self):
        return "{:8d} {:8d} {:8d} {:8d} {:8d} {:8d} {:8d} {:8d} {:8d}\n".format(*astuple(self))

    @classmethod
    def parse(cls, text: str) -> "MmStat":
        """The fields of a mm_stat file's text."""
        return cls(*(int(word) for word in text.split()))


@dataclass(frozen=True)
class IoStat:
    """``/sys/block/zramN/io_stat``; ``invalid_io`` is always 0 on 6.18 (section 7.3)."""

    failed_reads: int
    failed_writes: int
    invalid_io: int
    notify_free: int

    def __str__(self):
        return "{:8d} {:8d} {} {:8d}\n".format(*astuple(self))   # a bare 0, as printed


@dataclass(frozen=True)
class BdStat:
    """``/sys/block/zramN/bd_stat``: backing-file blocks in 4 KiB units (section 7.7)."""

    bd_count: int           # blocks in use now
    bd_reads: int           # blocks read back
    bd_writes: int          # blocks written

    def __str__(self):
        return "{:8d} {:8d} {:8d}\n".format(*astuple(self))


def _class_index(table, sizes, page_size):
    """zs_lookup_class_index: the real size class of objects of ``sizes`` bytes (no handle
    bytes added, as zram asks)."""
    return table[_nominal_index(np.asarray(sizes, np.int64), page_size), K_CLASS]


def _pages_array(pages, page_size, n):
    pages = np.asarray(pages)
    if pages.dtype != np.uint8:
        raise TypeError(f"pages must be uint8, not {pages.dtype}")
    if pages.shape != (n, page_size):
        raise ValueError(f"pages must have shape ({n}, {page_size}) for {n} indices, "
                         f"got {pages.shape}")
    # a read-only array (np.frombuffer, a read-only mapping) is another type to Numba: copied,
    # it does not compile every kernel a second time
    return np.ascontiguousarray(pages) if pages.flags.writeable else pages.copy()


class Zram:
    """A zram device of ``disksize`` bytes over a pool (see the module docstring).

    Parameters
    ----------
    disksize : int
        Bytes, rounded up to whole pages: the device has ``disksize / page_size`` indices.
    compressor : str
        The primary compressor (:data:`zbudjit.compressors.NAMES`); zram's default is lzo-rle.
    policy : str
        The pool's policy (:data:`zbudjit.POLICIES`); zram runs on zsmalloc.
    page_size : int
        The kernel's PAGE_SIZE, a power of two from 4096 to 65536.
    chain_size : int
        CONFIG_ZSMALLOC_CHAIN_SIZE, 4 to 16 (zsmalloc only; huge_class_size follows it).
    mem_limit : int
        Bytes, rounded up to whole pages; 0 for no limit.
    backing_file : str or os.PathLike, optional
        The writeback device: a file of ``disksize`` bytes and one page more (the kernel never
        uses block 0), created (or emptied) and locked while the device lives.
    keep_data : bool
        False keeps no page bytes (a size-only study); :meth:`read` then raises.
    recompressors : sequence of str
        Secondary compressors for :meth:`recompress`, priorities 1, 2, 3 in order.
    clock : callable, optional
        Returns the time in nanoseconds (default ``time.monotonic_ns``); each batch reads it
        once, for the slots' access times (:meth:`mark_idle` with ``older_than``).
    """

    def __init__(self, disksize: int, compressor: str = "lzo-rle", policy: str = "zsmalloc",
                 page_size: int = 4096, chain_size: int = DEFAULT_CHAIN_SIZE, mem_limit: int = 0,
                 backing_file=None, keep_data: bool = True, recompressors=(), clock=None):
        self.page_size = _page_size(page_size)
        disksize = _whole_number(disksize, "disksize", 1)
        self.disksize = -(-disksize // self.page_size) * self.page_size
        self.n_indices = self.disksize // self.page_size
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}; choose from {sorted(POLICIES)}")
        self.policy = policy
        self.chain_size = _whole_number(chain_size, "chain_size", 1)
        has_chain = "chain_size" in POLICIES[policy].options
        if not has_chain and self.chain_size != DEFAULT_CHAIN_SIZE:
            raise ValueError(f"chain_size is an option of zsmalloc, not of the {policy} policy")
        self.huge_class_size = huge_class_size(self.page_size, self.chain_size)
        self.keep_data = bool(keep_data)
        self._compressor_names = [compressor, *recompressors]
        if len(self._compressor_names) > 4:
            raise ValueError("zram has at most 4 compressors: the primary and 3 recompressors")
        self._compressors = [compressors.get_compressor(name)
                             for name in self._compressor_names]
        self._clock = time.monotonic_ns if clock is None else clock
        if not callable(self._clock):
            raise TypeError("clock must be callable")
        # An object takes at most one zspage of chain_size pages, and at most n_indices + 1
        # objects live at once (the new one of an overwrite before the old one is freed).
        self._pool_pages = (self.n_indices + 1) * (self.chain_size if has_chain else 1)
        if self._pool_pages > MAX_PAGES - 1:
            largest = ((MAX_PAGES - 1) // (self.chain_size if has_chain else 1) - 1) \
                * self.page_size
            raise ValueError(f"disksize {disksize:,} is too large: at most {largest:,} bytes "
                             f"with {self.page_size}-byte pages and this chain size")
        self._pool_options = {"chain_size": self.chain_size} if has_chain else {}
        self._lock = threading.Lock()
        self.mem_limit = mem_limit
        self.writeback_limit = None
        self._backing_file = self._backing = None
        if backing_file is not None:
            # one block more than the indices: the kernel never uses block 0
            self._backing_file = LockedFile(os.path.abspath(os.fspath(backing_file)),
                                            (self.n_indices + 1) * self.page_size, "replace",
                                            "backing file")
            self._backing = self._backing_file.map((self.n_indices + 1, self.page_size))
        try:
            self._new_device()
        except BaseException:
            if self._backing_file is not None:
                self._backing_file.close()
            raise

    def _new_device(self):
        """A fresh pool, slot table and counters (the device after disksize is written)."""
        # the worst case is far above what a device uses: only the pages touched cost memory
        self._pool = Pool(self._pool_pages, self.policy, self.page_size, overcommit=True,
                          **self._pool_options)
        self._own_pages = self._pool.max_size < self.page_size
        n = self.n_indices
        self._handle = np.zeros(n, np.uint64)
        self._size = np.zeros(n, np.uint32)
        self._flags = np.zeros(n, np.uint16)
        self._atime = np.zeros(n, np.int64)
        self._stats = np.zeros(k.N_STATS, np.int64)
        self._own_free = np.empty(0, np.int64)
        self._own_store = np.empty((0, self.page_size if self.keep_data else 0), np.uint8)
        self._bd_blocks = np.zeros(self.n_indices + 1 if self._backing is not None else 0,
                                   np.uint8)

    # -- settings ---------------------------------------------------------------------------------

    @property
    def mem_limit(self) -> int:
        """The limit in bytes (whole pages; 0: none). Setting it rounds up to whole pages, as
        writing ``mem_limit`` does; pages already stored stay."""
        return self._limit_pages * self.page_size

    @mem_limit.setter
    def mem_limit(self, value: int) -> None:
        value = _whole_number(value, "mem_limit", 0)
        self._limit_pages = -(-value // self.page_size)

    @property
    def writeback_limit(self) -> int | None:
        """What writeback may still write, in 4 KiB units (``writeback_limit``), or None when
        the limit is off (``writeback_limit_enable`` 0, the default). Each page written back
        takes ``page_size / 4096``; at 0, writeback stops."""
        return self._wb_limit

    @writeback_limit.setter
    def writeback_limit(self, value: int | None) -> None:
        self._wb_limit = None if value is None else _whole_number(value, "writeback_limit", 0)

    @property
    def compressor(self) -> str:
        return self._compressor_names[0]

    @property
    def pool(self) -> Pool:
        """The pool holding the objects (for inspection: changing it breaks the device)."""
        return self._pool

    # -- batches ----------------------------------------------------------------------------------

    def _indices(self, indices):
        indices = _integer_array(indices, "indices", INT64, IndexError)
        if indices.size and (indices.min() < 0 or indices.max() >= self.n_indices):
            bad = indices[(indices < 0) | (indices >= self.n_indices)][0]
            raise IndexError(f"index {bad} is outside the device's 0..{self.n_indices - 1}")
        return indices

    def write(self, indices: ArrayLike, pages: ArrayLike) -> NDArray[np.bool_]:
        """Write ``pages[i]`` ((n, page_size) uint8) at ``indices[i]``, in order.

        Returns a bool array: True where the page was stored, False where it failed (over
        mem_limit; the index keeps what it held). Bad arguments raise before anything changes.
        """
        indices = self._indices(indices)
        pages = _pages_array(pages, self.page_size, indices.size)
        same, words = same_filled_words(pages.view(np.uint64))   # zswap's rule is zram's
        # Compress every page but for a batch mostly same-filled: a copy of the other pages costs
        # more than compressing the few same-filled ones, whose lengths are then set to 0.
        chosen = ~same if 2 * np.count_nonzero(same) > same.size else None
        data, offsets = self._compressors[0].compress(pages if chosen is None else pages[chosen])
        lengths = np.zeros(indices.size, np.int64)
        if chosen is None:
            lengths[:] = np.diff(offsets)
            lengths[same] = 0
        else:
            lengths[chosen] = np.diff(offsets)
            starts = np.zeros(indices.size + 1, np.int64)
            starts[np.flatnonzero(chosen)] = offsets[:-1]
            offsets = starts
        ops = np.full(indices.size, k.OP_WRITE, np.uint8)
        outcome = self._apply(ops, indices, lengths, words, data, offsets, pages)
        return outcome == k.DONE

    def write_sizes(self, indices: ArrayLike, comp_lens: ArrayLike) -> NDArray[np.bool_]:
        """Write pages known only by their compressed length (``keep_data=False`` only).

        ``comp_lens[i]``: 0 for a same-filled page, at least ``huge_class_size`` for a page
        stored uncompressed (the kernel reports those as ``page_size``), else the compressed
        length. Returns what :meth:`write` returns.
        """
        self._require_size_only("write_sizes")
        indices = self._indices(indices)
        lengths = self._comp_lens(comp_lens, indices.size)
        ops = np.full(indices.size, k.OP_WRITE, np.uint8)
        return self._apply(ops, indices, lengths) == k.DONE

    def _comp_lens(self, comp_lens, n):
        lengths = _integer_array(comp_lens, "comp_lens", INT64, ValueError)
        if lengths.size != n:
            raise ValueError(f"{n} indices but {lengths.size} comp_lens")
        # zram compresses into a buffer of two pages
        if lengths.size and (lengths.min() < 0 or lengths.max() > 2 * self.page_size):
            raise ValueError(f"comp_lens must be 0 to {2 * self.page_size}")
        return lengths

    def _require_size_only(self, what):
        if self.keep_data:
            raise PoolError(f"{what} is for a device made with keep_data=False: this one keeps "
                            "each page's bytes, so give it the pages (write)")

    def discard(self, indices: ArrayLike) -> None:
        """Discard (BLKDISCARD) each page: the slot is freed; notify_free counts each, empty or
        not (section 7.5)."""
        indices = self._indices(indices)
        ops = np.full(indices.size, k.OP_DISCARD, np.uint8)
        self._apply(ops, indices, np.zeros(indices.size, np.int64))

    def replay(self, ops: ArrayLike, indices: ArrayLike, comp_lens: ArrayLike,
               record: bool = False):
        """Apply a recorded sequence (``keep_data=False`` only): ``ops`` are
        :data:`zbudjit.kernel.zram.OP_WRITE` (with ``comp_lens`` as for :meth:`write_sizes`),
        ``OP_DISCARD`` and ``OP_COMPACT``, in order; writes and discards between two
        compactions run as one kernel call.

        Returns the bool array :meth:`write` would (True for every discard and compaction) and,
        with ``record``, an (n, 9) int64 array of the mm_stat fields after each operation.
        """
        self._require_size_only("replay")
        ops = _integer_array(ops, "ops", np.dtype(np.uint8), ValueError)
        n = ops.size
        if np.any(ops > k.OP_COMPACT):
            raise ValueError("ops must be OP_WRITE, OP_DISCARD or OP_COMPACT")
        compact = ops == k.OP_COMPACT
        indices = _integer_array(indices, "indices", INT64, IndexError)
        if indices.size != n:
            raise ValueError(f"{n} ops but {indices.size} indices")
        checked = indices.copy()
        checked[compact] = 0                    # a compaction has no index
        self._indices(checked)
        lengths = self._comp_lens(np.where(ops == k.OP_WRITE, comp_lens, 0) if n else comp_lens,
                                  n)
        done = np.ones(n, np.bool_)
        rows = np.empty((n if record else 0, k.N_MM_STAT), np.int64)
        start = 0
        for stop in [*np.flatnonzero(compact).tolist(), n]:
            if stop > start:
                done[start:stop] = self._apply(ops[start:stop], checked[start:stop],
                                               lengths[start:stop],
                                               mm_rows=rows[start:stop]) == k.DONE
            if stop < n:
                self.compact()
                if record:
                    rows[stop] = astuple(self.mm_stat())
            start = stop + 1
        return (done, rows) if record else done

    def _apply(self, ops, indices, lengths, words=None, data=NO_BYTES, offsets=None,
               pages=NO_PAGES, mm_rows=None):
        n = ops.size
        outcome = np.empty(n, np.uint8)
        if n == 0:
            return outcome
        if words is None:
            words = np.zeros(n, np.uint64)
        if offsets is None:
            offsets = np.zeros(n + 1, np.int64)
        if mm_rows is None:
            mm_rows = np.empty((0, k.N_MM_STAT), np.int64)
        pool = self._pool
        room = [a + b for a, b in zip(pool._policy.room("alloc", n), pool._policy.room("free", n))]
        with self._lock, pool._lock:
            pool._guard()
            pool._reserve(*room)
            if self._own_pages:
                self._own_room(int(np.count_nonzero(lengths >= self.huge_class_size)))
            status, at = k.apply_kernel(
                pool._policy.kernel_state(pool), self._handle, self._size, self._flags,
                self._atime, self._stats, self._own_free, self._own_store, self._bd_blocks, ops,
                indices, lengths, words, data, offsets, pages, self.keep_data, self.page_size,
                self._limit_pages,
                self.huge_class_size, self._own_pages, self._clock(), outcome, mm_rows)
        self._raise_if_refused(status, at)
        return outcome

    @staticmethod
    def _raise_if_refused(status, at):
        if status:
            raise CorruptionError(f"the pool refused operation {at} of the batch (status "
                                  f"{status}): its tables and the slot table disagree")

    def _own_room(self, huge):
        """Room in the own-page store for ``huge`` more pages."""
        s = self._stats
        needed = int(s[k.Z_OWN_USED]) + huge
        if needed > self._own_free.size:
            size = max(needed, self._own_free.size * 3 // 2, 64)
            grown = np.empty(size, np.int64)
            grown[:self._own_free.size] = self._own_free
            self._own_free = grown
            if self.keep_data:
                store = np.empty((size, self.page_size), np.uint8)
                store[:self._own_store.shape[0]] = self._own_store
                self._own_store = store

    def read(self, indices: ArrayLike) -> NDArray[np.uint8]:
        """The pages at ``indices``, as an (n, page_size) uint8 array: an index never written (or
        discarded) reads as zeros. Marks each slot accessed (clears IDLE).

        Raises CorruptionError if a stored object does not decompress to its page (counted in
        failed_reads); PoolError on a device made with ``keep_data=False``.
        """
        if not self.keep_data:
            raise PoolError("this device was made with keep_data=False: it keeps no page bytes")
        indices = self._indices(indices)
        with self._lock:
            return self._read_unlocked(indices)

    def _read_unlocked(self, indices, mark=True):
        """The pages at ``indices``; ``mark`` False for the kernel's own reads (writeback,
        recompression), which do not mark slots accessed."""
        out = np.empty((indices.size, self.page_size), np.uint8)
        rows, handles, priorities, huge = k.read_plan(
            self._handle, self._size, self._flags, self._atime, self._own_store, indices,
            self._clock() if mark else -1, out)
        # one pool read per kind of object: raw (huge), or compressed at each priority
        kinds = np.where(huge, -2, priorities)
        for kind in np.unique(kinds).tolist():
            chosen = kinds == kind
            if kind == -1:
                self._read_backing(out, rows[chosen], handles[chosen])
                continue
            data, offsets = self._pool.read(handles[chosen])
            if kind == -2:
                out[rows[chosen]] = data.reshape(-1, self.page_size)
                continue
            try:
                out[rows[chosen]] = self._compressors[kind].decompress(
                    data, offsets, self.page_size)
            except ValueError as error:
                self._stats[k.Z_FAILED_READS] += 1
                raise CorruptionError(f"a stored page does not decompress: {error}") from None
        return out

    def _read_backing(self, out, rows, blocks):
        out[rows] = self._backing[blocks.astype(np.int64)]
        self._stats[k.Z_BD_READS] += rows.size

    # -- idle, writeback, recompression ------------------------------------------------------------

    def mark_idle(self, older_than: float | None = None) -> int:
        """``echo all > idle`` (None) or ``echo SECONDS > idle``: every allocated slot that is
        neither same-filled nor written back is marked IDLE; with ``older_than``, only those not
        accessed for that many seconds, and the others' IDLE is cleared (the kernel built with
        TRACK_ENTRY_ACTIME). Returns the slots now idle."""
        with self._lock:
            # allocated, and neither same-filled nor written back: those are the slots with a size
            eligible = self._size != 0
            if older_than is None:
                idle = eligible
            else:
                if isinstance(older_than, bool) or not isinstance(older_than, (int, float)) \
                        or not older_than >= 0:
                    raise ValueError(f"older_than must be a number of seconds >= 0, "
                                     f"got {older_than!r}")
                cutoff = self._clock() - int(older_than * 1e9)
                idle = eligible & (self._atime < cutoff)
                self._flags[eligible & ~idle] &= ~np.uint16(k.IDLE)
            self._flags[idle] |= np.uint16(k.IDLE)
            return int(np.count_nonzero(self._flags & k.IDLE))

    def _candidates(self, indices, need, skip=0):
        """Slots of ``indices`` (ascending scan order) that hold a pool object (allocated,
        neither same-filled nor written back: a size) with every flag of ``need`` and none of
        ``skip``, in the order the kernel's post-processing takes them: 64-byte size buckets,
        the largest first, the last placed first within a bucket."""
        flags = self._flags[indices]
        chosen = indices[(self._size[indices] != 0) & (flags & need == need) & (flags & skip == 0)]
        buckets = self._size[chosen] // PP_BUCKET_BYTES
        return chosen[np.lexsort((-np.arange(chosen.size), -buckets.astype(np.int64)))]

    def writeback(self, mode: str | None = None, indices: ArrayLike | None = None) -> int:
        """Write slots back to the backing file (``echo MODE > writeback``, section 7.7).

        ``mode``: "idle", "huge", "huge_idle" or "incompressible" (slots with those flags);
        ``indices``: only these (``page_index=`` / ``page_indexes=``), in the order given, with
        no flag needed when ``mode`` is None. Same-filled and written-back slots are skipped.
        Each page goes to the first free block (block 0 is never used); its slot is freed and
        refers to the block from then on. Stops when ``writeback_limit`` reaches 0 or the file
        is full. Returns the pages written.
        """
        if self._backing is None:
            raise PoolError("writeback needs a backing file (Zram(..., backing_file=PATH))")
        if mode is None and indices is None:
            raise ValueError("writeback needs a mode, indices, or both")
        if mode is not None and mode not in WRITEBACK_MODES:
            raise ValueError(f"writeback mode must be one of {', '.join(WRITEBACK_MODES)}, "
                             f"got {mode!r}")
        indices = np.arange(self.n_indices) if indices is None else self._indices(indices)
        with self._lock:
            chosen = self._candidates(indices, WRITEBACK_MODES.get(mode, 0))
            _, first = np.unique(chosen, return_index=True)     # a slot placed twice: once
            chosen = chosen[np.sort(first)]
            units = self.page_size // 4096
            if self._wb_limit is not None:
                chosen = chosen[:self._wb_limit // units + (self._wb_limit % units != 0)]
            free = np.flatnonzero(self._bd_blocks[1:] == 0) + 1
            chosen = chosen[:free.size]
            if chosen.size == 0:
                return 0
            blocks = free[:chosen.size]
            if self.keep_data:
                self._backing_file.reserve((int(blocks[-1]) + 1) * self.page_size)
                self._backing[blocks] = self._read_unlocked(chosen, mark=False)
            pool = self._pool
            with pool._lock:
                status, at = k.writeback_kernel(
                    pool._policy.kernel_state(pool), self._handle, self._size, self._flags,
                    self._atime, self._stats, self._own_free, self._bd_blocks, chosen,
                    blocks.astype(np.uint64))
            self._raise_if_refused(status, at)
            if self._wb_limit is not None:
                self._wb_limit = max(self._wb_limit - chosen.size * units, 0)
            return int(chosen.size)

    def recompress(self, type: str | None = None, max_pages: int | None = None,
                   threshold: int = 0, algo: str | None = None,
                   priority: int | None = None) -> int:
        """``echo ... > recompress`` (section 7.6): try the secondary compressors on stored pages.

        ``type``: "idle", "huge" or "huge_idle" (None: every stored page); ``max_pages``: at most
        this many slots tried; ``threshold``: only objects of at least this size, and a result
        is taken only if smaller (below huge_class_size); ``algo`` or ``priority``: that
        recompressor alone. A slot's new object is taken when its size class is smaller than the
        old one's, allocated before the old one is freed, with no mem_limit check; a slot no
        compressor shrinks, the last one tried, becomes INCOMPRESSIBLE. Returns the slots
        recompressed.
        """
        n_comps = len(self._compressors)
        if n_comps < 2:
            raise PoolError("recompress needs recompressors (Zram(..., recompressors=[...]))")
        if not self.keep_data:
            raise PoolError("recompress needs the pages' bytes: this device has keep_data=False")
        if type is not None and type not in RECOMPRESS_TYPES:
            raise ValueError(f"type must be one of {', '.join(RECOMPRESS_TYPES)}, got {type!r}")
        threshold = _whole_number(threshold, "threshold", 0, self.huge_class_size - 1)
        remaining = INT64_MAX if max_pages is None else _whole_number(max_pages, "max_pages", 0)
        first, limit = 1, n_comps
        if algo is not None:
            if algo not in self._compressor_names[1:]:
                raise ValueError(f"{algo!r} is not a recompressor of this device "
                                 f"({', '.join(self._compressor_names[1:])})")
            first = self._compressor_names.index(algo, 1)
            limit = first + 1
        elif priority is not None:
            first = max(_whole_number(priority, "priority", 0, n_comps - 1), 1)
            limit = first + 1
        table = class_table(self.page_size, self.chain_size)
        with self._lock:
            before = int(self._stats[k.Z_RECOMPRESSED])
            order = self._candidates(np.arange(self.n_indices), RECOMPRESS_TYPES.get(type, 0),
                                     k.INCOMPRESSIBLE)
            slot_priority = (self._flags[order] & k.PRIORITY_MASK) >> k.PRIORITY_SHIFT
            order = order[slot_priority + 1 < limit]
            start = 0
            while start < order.size and remaining > 0:
                chunk = order[start:start + max(min(remaining, order.size), 64)]
                pages = self._read_unlocked(chunk, mark=False)
                lens = np.zeros((chunk.size, n_comps), np.int64)
                starts = np.zeros((chunk.size, n_comps), np.int64)
                pieces, base = [], 0
                for p in range(first, limit):
                    data, offsets = self._compressors[p].compress(pages)
                    lens[:, p] = np.diff(offsets)
                    starts[:, p] = offsets[:-1] + base
                    pieces.append(data)
                    base += data.size
                pool = self._pool
                with pool._lock:
                    pool._reserve(*pool._policy.room("alloc", chunk.size))
                    status, used, remaining = k.recompress_kernel(
                        pool._policy.kernel_state(pool), self._handle, self._size, self._flags,
                        self._atime, self._stats, self._own_free, self._bd_blocks, chunk,
                        _class_index(table, self._size[chunk], self.page_size), lens,
                        _class_index(table, lens, self.page_size), np.concatenate(pieces),
                        starts, first, limit, n_comps, threshold, True, remaining)
                self._raise_if_refused(status, used)
                start += used
            return int(self._stats[k.Z_RECOMPRESSED]) - before

    def compact(self) -> int:
        """zs_compact of the whole pool (``echo 1 > compact``); returns the pages it freed, which
        pages_compacted adds."""
        with self._lock:
            return self._pool.compact().pages_freed

    def reset(self) -> None:
        """The kernel's reset: every slot freed and every counter zeroed (max_used,
        huge_pages_since and pages_compacted included), a new pool. The device keeps its
        disksize, compressors and mem_limit, as if they were set again after the reset."""
        with self._lock:
            self._pool.close()
            self._new_device()

    def reset_mem_used_max(self) -> None:
        """Write "0" to mem_used_max: it becomes the pool's current page count."""
        with self._lock:
            self._stats[k.Z_MAX_USED] = k.mem_used_pages(self._state(), self._stats)

    def _state(self):
        """The pool's tables for the kernels (PoolError once it is closed)."""
        self._pool._guard()
        return self._pool._policy.kernel_state(self._pool)

    # -- figures ----------------------------------------------------------------------------------

    def mm_stat(self) -> MmStat:
        """The device's mm_stat now (``str()`` of it is the sysfs file's text)."""
        return MmStat(*k.mm_stat_kernel(self._state(), self._stats, self._limit_pages,
                                        self.page_size).tolist())

    def bd_stat(self) -> BdStat:
        """The backing file's blocks (4 KiB units); PoolError without a backing file, as the
        kernel has no bd_stat without CONFIG_ZRAM_WRITEBACK."""
        if self._backing is None:
            raise PoolError("bd_stat needs a backing file")
        s, units = self._stats, self.page_size // 4096
        return BdStat(int(s[k.Z_BD_COUNT]) * units, int(s[k.Z_BD_READS]) * units,
                      int(s[k.Z_BD_WRITES]) * units)

    def close(self) -> None:
        """Release the pool and the backing file (its lock)."""
        with self._lock:
            self._pool.close()
            if self._backing_file is not None:
                self._backing = None
                self._backing_file.close()

    def __enter__(self) -> "Zram":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def io_stat(self) -> IoStat:
        s = self._stats
        return IoStat(int(s[k.Z_FAILED_READS]), int(s[k.Z_FAILED_WRITES]), 0,
                      int(s[k.Z_NOTIFY_FREE]))

    def zramctl(self) -> dict:
        """zramctl's columns, sizes in bytes: NAME, ALGORITHM, DISKSIZE, DATA (orig_data_size),
        COMPR (compr_data_size) and TOTAL (mem_used_total)."""
        mm = self.mm_stat()
        return {"NAME": "zbudjit", "ALGORITHM": self.compressor, "DISKSIZE": self.disksize,
                "DATA": mm.orig_data_size, "COMPR": mm.compr_data_size,
                "TOTAL": mm.mem_used_total}

    def __repr__(self):
        mm = self.mm_stat()
        return (f"<Zram {self.disksize:,} B, {self.compressor} on {self.policy}: "
                f"{mm.orig_data_size // self.page_size:,} pages in "
                f"{mm.mem_used_total // self.page_size:,} pool pages>")

