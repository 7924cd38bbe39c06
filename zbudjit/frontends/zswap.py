"""A zswap-style frontend: compress pages, keep them in a pool, write the coldest back to a swap file.

Layout
------
Page ids are swap slots, as in the kernel (the offset of a page in the swap device): integers
``0 <= id < MAX_PAGE_ID``. Where each page is lives in two tables indexed by id. They are
two-level, as a CPU's page tables are, so their memory follows the ids in use, not the largest::

    directory  uint32[MAX_PAGE_ID / 1024]  the row of each block of 1024 ids below (0: none yet)
    location   uint8[rows, 1024]            EMPTY, POOL, SAME_FILLED or SWAP (where the page is now)
    value      uint64[rows, 1024]           POOL: the object's handle; SAME_FILLED: the repeated
                                            word; SWAP: the page's slot in the swap file

Row 0 is never written, so an id whose block has no row yet reads as EMPTY. The directory is
16 MiB of address space, of which only the parts touched take memory; each row takes 9 KiB.

The swap file holds the page in slot ``s`` at byte ``s * page_size``. A page takes a slot when it
is written to the file and gives it back when it leaves, so the file grows with the pages in it,
not with the ids. Before a store changes anything, the file is given disk space (posix_fallocate)
for every page the store could send to it (the pages in the pool and the batch's pages that are
not same-filled): a full disk then fails the store up front with OSError, and no later write can
fail for lack of space (through the file's mapping, such a write would kill the process with
SIGBUS). The file is locked (flock) while the frontend lives, so a second frontend on the same
path fails with FileInUseError instead of emptying this one's file. Each page written to the file
has a 64-bit checksum (:func:`page_checksums`) kept beside its slot; a load that reads back a
page changed behind the frontend's back raises CorruptionError.

A pooled object is an 8-byte little-endian header holding the page id, followed by the compressed
page: the layout of zbud-era zswap (2013-2016), whose evict callback read the header to find the
swap slot to write back to. The header counts in the pool's density, as it did in the kernel.

Rules (Linux's mm/zswap.c, in its zbud-era form where it differs from today's)
----------------------------------------------------------------------------
- A page that is one machine word (8 bytes, in this machine's byte order) repeated is
  "same-filled" and kept as that word only.
- A page whose object (header + compressed bytes) is larger than the pool's largest object is
  rejected (``reject_compress_poor``) and goes straight to the swap file, as a page zswap refuses
  goes to the swap device.
- The pool may use at most ``max_pool_percent`` of ``ram_pages``. A store that finds the pool at
  that limit counts ``pool_limit_hit`` and first writes back the least recently used pool pages
  (zbud's LRU, oldest first, through :meth:`Pool.reclaim`) until the pool is down to
  ``accept_threshold_percent`` of the limit, as today's shrinker does; then the store goes on.
  An object takes at most one new page, so the pool never exceeds the limit.
- A pool that runs out of pages before the limit (a pool smaller than the limit) fails the
  allocation: the page is rejected (``reject_alloc_fail``) and goes to the swap file.
- Storing an id already stored replaces it (``duplicate_entry``); within one batch the last copy of
  an id wins and earlier copies are dropped unstored. Otherwise a batch leaves everything as its
  pages stored one at a time would.
- Loads do not remove entries (frontswap kept them until invalidated).

Errors
------
Bad arguments, unknown ids, a compressor that fails and a disk without room for the swap file
raise before anything changes. After that a store can fail only if the pool is corrupt (an object
written back does not carry its page id or does not decompress: CorruptionError) or the system
fails (an I/O error, no memory); the frontend then still agrees with its pool and counters, with
the pages placed before the failure stored, and the rest of the batch (and the pages it
replaces) not.
"""

from __future__ import annotations

import errno
import os
import tempfile
import weakref
from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

from ..engine.datapath import gather_ragged
from ..engine.files import LockedFile
from ..compressors import get_compressor
from ..errors import CorruptionError, PoolFullError
from ..pool import Pool, _integer_array, _whole_number

EMPTY, POOL, SAME_FILLED, SWAP = 0, 1, 2, 3
HEADER_BYTES = 8
MAX_PAGE_ID = 1 << 32
_BLOCK_SHIFT = 10               # 1024 ids a row of the id tables
_MIN_SWAP_BYTES = 4 << 20       # the swap file grows by at least this much


@dataclass(frozen=True)
class ZswapStats:
    """zswap's counters (kernel names), and what the pool makes of the stored pages.

    ``stored_pages``, ``same_filled_pages``, ``pool_pages`` and ``swap_pages`` describe the present;
    the others count events since the frontend was made. ``pool_total_size`` is in bytes, as in
    the kernel. ``compression_ratio`` is the original bytes of the pooled pages over their
    compressed bytes (headers excluded); ``effective_ratio`` is the original bytes over the pool's
    memory (``pool_total_size``), the figure zbud's documentation quotes as about 1.7;
    ``pool_density`` is the pool's bytes stored (headers included) over its memory.
    """

    stored_pages: int
    pool_pages: int
    pool_limit_pages: int
    pool_total_size: int
    same_filled_pages: int
    swap_pages: int
    written_back_pages: int
    reject_compress_poor: int
    reject_alloc_fail: int
    pool_limit_hit: int
    duplicate_entry: int
    loads_from_pool: int
    loads_from_same_filled: int
    loads_from_swap: int
    compressed_bytes: int
    compression_ratio: float
    effective_ratio: float
    pool_density: float


_EVENT_COUNTERS = ("written_back_pages", "reject_compress_poor", "reject_alloc_fail",
                   "pool_limit_hit", "duplicate_entry", "loads_from_pool",
                   "loads_from_same_filled", "loads_from_swap")


@njit(cache=True, nogil=True)
def same_filled_words(words):
    """For each row of ``words`` (uint64, one row a page): is it one word repeated, and that word.

    Most pages differ by their second word, so the scan stops early; numpy's whole-row comparison
    would read every byte of every page.
    """
    n = words.shape[0]
    same = np.zeros(n, np.bool_)
    first = np.zeros(n, np.uint64)
    for i in range(n):
        word = words[i, 0]
        j = 1
        while j < words.shape[1] and words[i, j] == word:
            j += 1
        if j == words.shape[1]:
            same[i] = True
            first[i] = word
    return same, first


@njit(cache=True, nogil=True)
def _mix(lane, word):
    value = (lane ^ word) * np.uint64(0xBF58476D1CE4E5B9)
    return value ^ (value >> np.uint64(29))


@njit(cache=True, nogil=True)
def page_checksums(words):
    """A 64-bit checksum of each row of ``words`` (uint64, one row a page): four multiply-xor
    lanes (independent, so they run side by side), folded. Not a cryptographic hash: it catches
    pages changed by accident (another program or a bad disk writing into the swap file)."""
    n, m = words.shape
    sums = np.empty(n, np.uint64)
    for i in range(n):
        a = np.uint64(0x9E3779B97F4A7C15)
        b = np.uint64(0x632BE59BD9B4E019)
        c = np.uint64(0x85EBCA77C2B2AE63)
        d = np.uint64(m)
        for j in range(0, m - 3, 4):
            a = _mix(a, words[i, j])
            b = _mix(b, words[i, j + 1])
            c = _mix(c, words[i, j + 2])
            d = _mix(d, words[i, j + 3])
        for j in range(m - m % 4, m):
            a = _mix(a, words[i, j])
        sums[i] = _mix(_mix(_mix(a, b), c), d)
    return sums


def min_ram_pages(max_pool_percent):
    """The fewest RAM pages of which ``max_pool_percent`` percent is at least one pool page."""
    return -(-100 // max_pool_percent)


def physical_ram_pages(page_size):
    """This machine's RAM in pages of ``page_size`` (zswap's ``totalram_pages``)."""
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // page_size


class Zswap:
    """Compressed page cache in front of a swap file, after Linux's zswap (see the module docs).

    Parameters
    ----------
    pool : Pool
        Holds the compressed pages; its ``page_size`` is the size of the pages stored.
    compressor : str
        One of :data:`zbudjit.compressors.NAMES`: "zstd", "lz4", "zlib", "lzma" or "none".
    max_pool_percent : int
        The pool may use at most this percentage of ``ram_pages`` (zswap's default is 20).
    ram_pages : int, optional
        The simulated RAM, in pages. Default: this machine's RAM.
    swap_path : path-like, optional
        The swap file, created if missing and truncated otherwise (it must not be the pool's
        arena). Default: a temporary file, removed by :meth:`close` or when the frontend is
        garbage collected.
    accept_threshold_percent : int
        When the limit is hit, write back until the pool is at this percentage of the limit
        (zswap's default is 90).
    """

    def __init__(self, pool: Pool, compressor: str = "zstd", max_pool_percent: int = 20,
                 ram_pages: int | None = None, swap_path: str | os.PathLike | None = None,
                 accept_threshold_percent: int = 90) -> None:
        if not isinstance(pool, Pool):
            raise TypeError(f"pool must be a zbudjit.Pool, not {type(pool).__name__}")
        if pool.objects:
            raise ValueError("the pool must be empty: zswap reads the header of every object in it")
        self.pool = pool
        self.page_size = pool.page_size
        self.compressor = get_compressor(compressor)
        self.max_pool_percent = _whole_number(max_pool_percent, "max_pool_percent", 1, 100)
        self.accept_threshold_percent = _whole_number(
            accept_threshold_percent, "accept_threshold_percent", 0, 100)
        if ram_pages is None:
            ram_pages = physical_ram_pages(self.page_size)
        self.ram_pages = _whole_number(ram_pages, "ram_pages", 1)
        self.pool_limit_pages = self.ram_pages * self.max_pool_percent // 100
        if self.pool_limit_pages < 1:
            raise ValueError(f"{self.max_pool_percent}% of {self.ram_pages} RAM pages leaves the "
                             "pool no page; raise ram_pages or max_pool_percent")
        self._accept_pages = self.pool_limit_pages * self.accept_threshold_percent // 100
        self._directory = np.zeros(MAX_PAGE_ID >> _BLOCK_SHIFT, np.uint32)
        self._location = np.zeros((1, 1 << _BLOCK_SHIFT), np.uint8)
        self._value = np.zeros((1, 1 << _BLOCK_SHIFT), np.uint64)
        self._rows = 1
        self._events = dict.fromkeys(_EVENT_COUNTERS, 0)
        self._same_filled = 0
        if swap_path is None:
            handle, swap_path = tempfile.mkstemp(prefix="zbudjit-swap-")
            os.close(handle)
            self._remove_swap = weakref.finalize(self, _remove_file, swap_path)
        else:
            swap_path = os.fspath(swap_path)
            if (pool.path is not None and os.path.exists(swap_path)
                    and os.path.samefile(swap_path, pool.path)):
                raise ValueError(f"the swap file {swap_path} is the pool's arena")
            self._remove_swap = None
        self.swap_path = os.path.abspath(swap_path)
        # locked before it is emptied: a second frontend on the path fails instead of cutting
        # the first one's file (and mapping) short
        self._swap_file = LockedFile(self.swap_path, 0, "replace", "swap file")
        self._swap = np.empty((0, self.page_size), np.uint8)    # the file's pages, mapped
        self._swap_sums = np.empty(0, np.uint64)                 # page_checksums of each slot
        self._free_slots = np.empty(0, np.int64)                 # a stack of slots given back
        self._free_count = 0
        self._slot_watermark = 0                                 # slots below it have been used

    def __repr__(self):
        return (f"Zswap({self.compressor.name}, {self.max_pool_percent}% of {self.ram_pages} pages, "
                f"{self.pool!r}, swap {self.swap_path})")

    # -- lifetime --------------------------------------------------------------------------------

    def close(self) -> None:
        """Flush the swap file, and remove it if it is a temporary one. The frontend is unusable after."""
        if self._swap is None:
            return
        if isinstance(self._swap, np.memmap):
            self._swap.flush()
        self._swap = None
        self._swap_file.close()
        if self._remove_swap is not None:
            self._remove_swap()

    def __enter__(self) -> "Zswap":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- id tables -------------------------------------------------------------------------------

    def _ids(self, page_ids):
        if self._swap is None:
            raise ValueError("this Zswap is closed")
        ids = _integer_array(page_ids, "page_ids", np.int64, ValueError)
        if ids.size and (ids.min() < 0 or ids.max() >= MAX_PAGE_ID):
            bad = ids[(ids < 0) | (ids >= MAX_PAGE_ID)][0]
            raise ValueError(f"page id {bad} is outside 0..{MAX_PAGE_ID - 1}")
        return ids

    def _at(self, ids):
        """Where ``ids`` (checked) are in the id tables: a (rows, columns) index."""
        return self._directory[ids >> _BLOCK_SHIFT], ids & ((1 << _BLOCK_SHIFT) - 1)

    def _make_rows(self, ids):
        """Give every block of ``ids`` a row in the id tables, before anything is written there."""
        blocks = np.unique(ids >> _BLOCK_SHIFT)
        blocks = blocks[self._directory[blocks] == 0]
        rows = self._rows + blocks.size
        if rows > self._location.shape[0]:
            size = max(rows, 2 * self._location.shape[0])
            for name in ("_location", "_value"):
                table = getattr(self, name)
                bigger = np.zeros((size, table.shape[1]), table.dtype)
                bigger[:self._rows] = table[:self._rows]
                setattr(self, name, bigger)
        self._directory[blocks] = np.arange(self._rows, rows)
        self._rows = rows

    def _known(self, ids):
        """``ids``' index in the id tables and locations; KeyError naming the ids not stored."""
        at = self._at(ids)
        location = self._location[at]
        unknown = np.unique(ids[location == EMPTY])
        if unknown.size:
            shown = ", ".join(str(i) for i in unknown[:10])
            more = f" and {unknown.size - 10} more" if unknown.size > 10 else ""
            raise KeyError(f"page ids not stored: {shown}{more}")
        return at, location

    def locations(self, page_ids: ArrayLike) -> NDArray[np.uint8]:
        """Where each page is: EMPTY (0), POOL (1), SAME_FILLED (2) or SWAP (3), as uint8."""
        return self._location[self._at(self._ids(page_ids))]

    # -- swap file -------------------------------------------------------------------------------

    def _reserve_swap(self, pages):
        """Make sure ``pages`` more pages can go to the swap file, their disk space allocated now."""
        capacity = self._swap.shape[0]
        spare = capacity - self._in_swap
        if pages <= spare:
            return
        needed = capacity + pages - spare
        # Room to grow into, unless the disk has only what is needed
        for slots in (max(needed, 2 * capacity, _MIN_SWAP_BYTES // self.page_size), needed):
            try:
                self._swap_file.grow(slots * self.page_size)
                break
            except OSError as error:
                if slots == needed or error.errno != errno.ENOSPC:
                    raise
        self._swap = self._swap_file.map((slots, self.page_size))
        free_slots = np.empty(slots, np.int64)
        free_slots[:self._free_count] = self._free_slots[:self._free_count]
        self._free_slots = free_slots
        sums = np.empty(slots, np.uint64)
        sums[:capacity] = self._swap_sums
        self._swap_sums = sums

    def _write_swap(self, ids, pages):
        """Write ``pages`` to free slots of the swap file and record them under ``ids``."""
        reused = min(ids.size, self._free_count)
        fresh = ids.size - reused
        slots = np.concatenate((self._free_slots[self._free_count - reused:self._free_count],
                                np.arange(self._slot_watermark, self._slot_watermark + fresh)))
        self._swap[slots] = pages
        self._swap_sums[slots] = page_checksums(pages.view(np.uint64))
        self._free_count -= reused
        self._slot_watermark += fresh
        at = self._at(ids)
        self._location[at] = SWAP
        self._value[at] = slots

    @property
    def _in_swap(self):
        """Pages in the swap file: the slots used so far, less those given back."""
        return self._slot_watermark - self._free_count

    def _drop(self, ids):
        """Forget stored ``ids`` (all known): free their objects, give back their swap slots."""
        at = self._at(ids)
        location, value = self._location[at], self._value[at]
        handles = value[location == POOL]
        if handles.size:
            self.pool.free(handles)
        slots = value[location == SWAP]
        self._free_slots[self._free_count:self._free_count + slots.size] = slots
        self._free_count += slots.size
        self._same_filled -= int(np.count_nonzero(location == SAME_FILLED))
        self._location[at] = EMPTY
        self._value[at] = 0

    # -- store -----------------------------------------------------------------------------------

    def store(self, page_ids: ArrayLike, pages: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """Store ``pages[i]`` under ``page_ids[i]``; return where each page is when the call
        returns (uint8 location codes: a page pooled early in the batch may have been written
        back by the time it ends).

        Parameters
        ----------
        page_ids : array-like of int
            Swap slots, ``0 <= id < MAX_PAGE_ID``. An id already stored is replaced.
        pages : numpy.ndarray
            ``(len(page_ids), page_size)`` uint8.

        Returns
        -------
        numpy.ndarray
            For each input page: POOL, SAME_FILLED or SWAP (rejected and written-back pages are
            in the swap file),
            or EMPTY for an earlier copy of an id repeated later in the batch.

        Raises
        ------
        TypeError, ValueError
            For bad ids or pages; OSError if the disk has no room for the swap file; an error of
            the compressor. Nothing has changed then. See the module docs for the rest.
        """
        ids = self._ids(page_ids)
        pages = np.asarray(pages)
        if pages.dtype != np.uint8:
            raise TypeError(f"pages must be uint8, not {pages.dtype}")
        if pages.shape != (ids.size, self.page_size):
            raise ValueError(f"pages must have shape ({ids.size}, {self.page_size}), got {pages.shape}")
        outcome = np.zeros(ids.size, np.uint8)
        if ids.size == 0:
            return outcome
        # The last copy of each id wins. Everything that can fail comes before the first change.
        _, last_reversed = np.unique(ids[::-1], return_index=True)
        keep = np.sort(ids.size - 1 - last_reversed)
        repeated = ids.size - keep.size
        if repeated:
            ids, pages = ids[keep], pages[keep]
        else:                   # no copy; the uint64 view below needs whole contiguous rows
            pages = np.ascontiguousarray(pages)
        same, words = same_filled_words(pages.view(np.uint64))
        compress = np.flatnonzero(~same)
        data, offsets = self.compressor.compress(
            pages if compress.size == ids.size else pages[compress], HEADER_BYTES)
        fits = np.diff(offsets) <= self.pool.max_size
        self._make_rows(ids)
        self._reserve_swap(self.pool.objects + compress.size)

        at = self._at(ids)
        replaced = ids[self._location[at] != EMPTY]
        self._events["duplicate_entry"] += repeated + replaced.size
        self._drop(replaced)

        location = np.full(ids.size, SWAP, np.uint8)
        location[same] = SAME_FILLED
        self._location[at[0][same], at[1][same]] = SAME_FILLED
        self._value[at[0][same], at[1][same]] = words[same]
        self._same_filled += int(np.count_nonzero(same))

        self._events["reject_compress_poor"] += int(np.count_nonzero(~fits))
        pooled = compress[fits]
        data, offsets = _ragged_subset(data, offsets, np.flatnonzero(fits))
        # Each object's header is its page id, so writeback can find the page.
        data[_header_bytes(offsets)] = ids[pooled].astype("<u8").view(np.uint8).reshape(-1, HEADER_BYTES)
        stored = self._store_objects(ids[pooled], data, offsets)
        location[pooled[stored]] = POOL
        self._events["reject_alloc_fail"] += int(np.count_nonzero(~stored))

        to_swap = location == SWAP
        self._write_swap(ids[to_swap], pages[to_swap])
        # where each page is now: writeback later in the batch may have moved pooled ones
        outcome[keep] = self._location[at]
        return outcome

    def _store_objects(self, ids, data, offsets):
        """Put the objects of a ragged batch in the pool in order, making room under the limit as
        zswap does; returns which were stored (False: the pool had no page left for it)."""
        pool = self.pool
        stored = np.zeros(ids.size, np.bool_)
        chunks = -(-np.diff(offsets) // pool.chunk_size)
        which = np.arange(ids.size)         # the objects of (data, offsets) in the batch
        start = 0
        while start < which.size:
            if pool.pages_used >= self.pool_limit_pages:
                self._events["pool_limit_hit"] += 1
                self._write_back(max(1, pool.pages_used - self._accept_pages))
            # Each object needs at most one new page, so a batch this long cannot pass the limit.
            # A pool with no page left can still pair objects into half-used pages: try them all,
            # and the first that does not fit splits the batch.
            room = min(self.pool_limit_pages, pool.pages_total) - pool.pages_used
            end = min(start + room, which.size) if room > 0 else which.size
            try:
                handles = pool.store(*_ragged_slice(data, offsets, start, end))
            except PoolFullError as error:
                if getattr(error, "index", None) is None:
                    raise
                if error.index == 0:
                    # No page for it: rejected, as a failed zpool_malloc. zbud puts an object of c
                    # chunks on a free page or a page with c free chunks; with no free page and
                    # no frees (a pool below the limit never writes back), neither comes back,
                    # so every later object of c chunks or more is rejected too.
                    rest = start + np.flatnonzero(chunks[which[start:]] < chunks[which[start]])
                    data, offsets = gather_ragged(data, offsets, rest)
                    which, start = which[rest], 0
                    continue
                end = start + error.index   # the objects before it fit, placed the same way
                handles = pool.store(*_ragged_slice(data, offsets, start, end))
            placed = which[start:end]
            stored[placed] = True
            at = self._at(ids[placed])
            self._location[at] = POOL
            self._value[at] = handles
            start = end
        return stored

    def _write_back(self, n_pages):
        """Reclaim ``n_pages`` LRU pages, writing their pages to the swap file."""
        def writeback(handles, data, offsets):
            ids = _headers(data, offsets)
            inside = (ids >= 0) & (ids < MAX_PAGE_ID)
            at = self._at(np.where(inside, ids, 0))
            if not (inside.all() and np.all(self._location[at] == POOL)
                    and np.array_equal(self._value[at], handles)):
                raise CorruptionError(
                    "an object written back does not carry the page id it is stored under")
            pages = self._decompress(data, offsets)
            self._write_swap(ids, pages)
            self._events["written_back_pages"] += ids.size
        self.pool.reclaim(n_pages, writeback)

    def _decompress(self, data, offsets):
        try:
            return self.compressor.decompress(data, offsets, self.page_size, HEADER_BYTES)
        except ValueError as error:
            raise CorruptionError(f"a pooled page does not decompress: {error}") from None

    # -- load and invalidate ---------------------------------------------------------------------

    def load(self, page_ids: ArrayLike) -> NDArray[np.uint8]:
        """The stored pages, as a new ``(len(page_ids), page_size)`` uint8 array.

        KeyError naming the ids that are not stored (nothing is read). CorruptionError if a
        pooled object does not carry its page id or does not decompress to a whole page.
        """
        ids = self._ids(page_ids)
        at, location = self._known(ids)
        value = self._value[at]
        out = np.empty((ids.size, self.page_size), np.uint8)
        in_pool = location == POOL
        if in_pool.any():
            data, offsets = self.pool.read(value[in_pool])
            if not np.array_equal(_headers(data, offsets), ids[in_pool]):
                raise CorruptionError("a pooled object does not carry the page id it is stored under")
            out[in_pool] = self._decompress(data, offsets)
        same = location == SAME_FILLED
        out.view(np.uint64)[same] = value[same, None]
        in_swap = location == SWAP
        slots = value[in_swap].astype(np.int64)
        out[in_swap] = self._swap[slots]
        changed = page_checksums(out[in_swap].view(np.uint64)) != self._swap_sums[slots]
        if changed.any():
            raise CorruptionError(
                f"the swap file {self.swap_path} was changed under pages "
                f"{ids[in_swap][changed][:10].tolist()}: they do not read back as written")
        for name, where in (("loads_from_pool", in_pool), ("loads_from_same_filled", same),
                            ("loads_from_swap", in_swap)):
            self._events[name] += int(np.count_nonzero(where))
        return out

    def invalidate(self, page_ids: ArrayLike) -> None:
        """Drop stored pages everywhere (pool, same-filled store, swap file).

        KeyError naming the ids that are not stored, or are named twice; nothing changes then.
        """
        ids = self._ids(page_ids)
        self._known(ids)
        unique, counts = np.unique(ids, return_counts=True)
        if unique.size != ids.size:
            raise KeyError(f"page ids named more than once: {unique[counts > 1][:10].tolist()}")
        self._drop(ids)

    # -- counters --------------------------------------------------------------------------------

    def stats(self) -> ZswapStats:
        """The counters as a :class:`ZswapStats`."""
        pool = self.pool
        pool_bytes = pool.pages_used * self.page_size
        pooled = pool.objects           # the frontend's pages are the pool's only objects
        compressed = pool.bytes_stored - HEADER_BYTES * pooled
        original = pooled * self.page_size
        return ZswapStats(
            stored_pages=pooled + self._same_filled,
            pool_pages=pool.pages_used,
            pool_limit_pages=self.pool_limit_pages,
            pool_total_size=pool_bytes,
            same_filled_pages=self._same_filled,
            swap_pages=self._in_swap,
            compressed_bytes=compressed,
            compression_ratio=original / compressed if compressed else 0.0,
            effective_ratio=original / pool_bytes if pool_bytes else 0.0,
            pool_density=pool.density,
            **self._events,
        )


def _remove_file(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _header_bytes(offsets):
    """Index of the header bytes of each object of a ragged batch, one row an object."""
    return offsets[:-1, None] + np.arange(HEADER_BYTES)


def _headers(data, offsets):
    """The page id at the head of each object of a ragged batch."""
    return np.ascontiguousarray(data[_header_bytes(offsets)]).view("<u8").ravel().astype(np.int64)


def _ragged_subset(data, offsets, which):
    """Objects ``which`` (ascending) of a ragged batch, without copying when they are all of it."""
    if which.size == offsets.size - 1:
        return data, offsets
    return gather_ragged(data, offsets, which)


def _ragged_slice(data, offsets, start, end):
    """Objects ``start:end`` of a ragged batch, without copying."""
    return data[offsets[start]:offsets[end]], offsets[start:end + 1] - offsets[start]
