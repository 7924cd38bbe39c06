"""Executable specification of the zbud policy, in plain Python.

Slow and obviously right: this is the algorithm of Linux's mm/zbud.c, written from the rules in
kernel-notes.md with ordinary Python containers. The tests hold the Numba engine
(:mod:`zbudjit.zbud`) to it, and the benchmarks use it as the baseline.

The kernel's doubly linked lists become ordered dicts of pfns whose *last* key is the list head, so
``list_add`` is an insertion, ``list_del`` a deletion and the head is ``next(reversed(d))``.
Handles are plain increasing integers that are never reused; object bytes live in a dict.
Where the kernel takes "any page" from the page allocator, both this spec and the engine take the
most recently released page, else the lowest never-used pfn.
"""

import copy
from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional

from ...errors import InvalidHandleError, PoolFullError

CHUNKS_PER_PAGE = 64
FIRST = "first"
LAST = "last"


@dataclass
class SpecPage:
    """What the kernel's zbud_header holds for one page (plus the handles on it)."""

    first: Optional[int] = None      # handle of the FIRST buddy
    first_chunks: int = 0
    last: Optional[int] = None       # handle of the LAST buddy
    last_chunks: int = 0
    free_list: Optional[int] = None  # index of its unbuddied list; None when buddied


@dataclass
class SpecObject:
    pfn: int
    side: str
    size: int
    data: bytes


class ZbudSpec:
    """zbud in plain Python: the same public operations as :class:`zbudjit.Pool`, one by one."""

    def __init__(self, pages, page_size=4096, reserve_header_chunk=False):
        self.pages_total = pages
        self.page_size = page_size
        self.chunk = page_size // CHUNKS_PER_PAGE
        self.usable = CHUNKS_PER_PAGE - (1 if reserve_header_chunk else 0)
        self.first_offset = (CHUNKS_PER_PAGE - self.usable) * self.chunk
        self.max_size = (self.usable - 1) * self.chunk
        self.unbuddied = [OrderedDict() for _ in range(self.usable)]
        self.buddied = OrderedDict()
        self.lru = OrderedDict()
        self.pages = {}                 # pfn -> SpecPage, used pages only
        self.released = []              # released pfns, most recent last
        self.watermark = 0              # pfns below it have been used
        self.objects = {}               # handle -> SpecObject
        self.next_handle = 1

    # -- the algorithm --------------------------------------------------------------------------

    def chunks(self, size):
        return -(-size // self.chunk)

    def free_chunks(self, page):
        return self.usable - page.first_chunks - page.last_chunks

    def _new_page(self):
        if self.released:
            return self.released.pop()
        if self.watermark == self.pages_total:
            raise PoolFullError("pool is full")
        self.watermark += 1
        return self.watermark - 1

    def _file(self, pfn):
        """list_add the page to the list its buddies call for."""
        page = self.pages[pfn]
        if page.first is None or page.last is None:
            page.free_list = self.free_chunks(page)
            self.unbuddied[page.free_list][pfn] = None
        else:
            page.free_list = None
            self.buddied[pfn] = None

    def _unfile(self, pfn):
        """list_del the page from its list."""
        page = self.pages[pfn]
        del (self.buddied if page.free_list is None else self.unbuddied[page.free_list])[pfn]

    def _alloc_one(self, size):
        chunks = self.chunks(size)
        for free_list in range(chunks, self.usable):
            if self.unbuddied[free_list]:
                pfn = next(reversed(self.unbuddied[free_list]))
                self._unfile(pfn)
                break
        else:
            pfn = self._new_page()
            self.pages[pfn] = SpecPage()
        page = self.pages[pfn]
        handle = self.next_handle
        self.next_handle += 1
        if page.first is None:
            page.first, page.first_chunks, side = handle, chunks, FIRST
        else:
            page.last, page.last_chunks, side = handle, chunks, LAST
        self._file(pfn)
        self.lru.pop(pfn, None)
        self.lru[pfn] = None
        self.objects[handle] = SpecObject(pfn, side, size, bytes(size))
        return handle

    def _drop(self, handle):
        """Empty an object's side of its page and forget the object; returns its pfn."""
        obj = self.objects.pop(handle)
        page = self.pages[obj.pfn]
        if obj.side == FIRST:
            page.first, page.first_chunks = None, 0
        else:
            page.last, page.last_chunks = None, 0
        return obj.pfn

    def _empty(self, pfn):
        return self.pages[pfn].first is None and self.pages[pfn].last is None

    def _release(self, pfn):
        del self.pages[pfn]
        self.released.append(pfn)

    def _free_one(self, handle):
        pfn = self._drop(handle)
        self._unfile(pfn)
        if self._empty(pfn):
            del self.lru[pfn]
            self._release(pfn)
        else:
            self._file(pfn)

    def _reclaim_page(self, pfn, written):
        """zbud_reclaim_page on one victim, given which of its handles were written back."""
        page = self.pages[pfn]
        self._unfile(pfn)
        del self.lru[pfn]
        for handle in (page.first, page.last):
            if handle is not None and written[handle]:
                self._drop(handle)
        if self._empty(pfn):
            self._release(pfn)
            return True
        self._file(pfn)
        self.lru[pfn] = None
        return False

    # -- batches --------------------------------------------------------------------------------

    def _live(self, handles):
        for index, handle in enumerate(handles):
            if handle not in self.objects:
                raise InvalidHandleError(f"handle at index {index} is not live")

    def alloc(self, sizes):
        sizes = [int(size) for size in sizes]
        for index, size in enumerate(sizes):
            if not 1 <= size <= self.max_size:
                raise ValueError(f"size at index {index} is out of range")
        before = copy.deepcopy(self.__dict__) if len(sizes) > self.pages_total - len(self.pages) else None
        try:
            return [self._alloc_one(size) for size in sizes]
        except PoolFullError:
            self.__dict__.update(before)
            raise

    def free(self, handles):
        handles = list(handles)
        self._live(handles)
        if len(set(handles)) != len(handles):
            raise InvalidHandleError("a handle is repeated in the batch")
        for handle in handles:
            self._free_one(handle)

    def write(self, handles, chunks_of_bytes):
        handles = list(handles)
        self._live(handles)
        for handle, data in zip(handles, chunks_of_bytes, strict=True):
            if len(data) != self.objects[handle].size:
                raise ValueError("data length differs from the object's size")
        for handle, data in zip(handles, chunks_of_bytes):
            self.objects[handle].data = bytes(data)

    def reclaim(self, n_pages, writeback):
        """Evict from the ``n_pages`` LRU-tail pages; ``writeback(handles, datas)`` returns a list of
        bools or None. Returns (pages released, handles evicted)."""
        if n_pages < 0:
            raise ValueError("n_pages must not be negative")
        victims = list(self.lru)[:n_pages]               # the LRU tail is the oldest key
        handles = [h for pfn in victims for h in (self.pages[pfn].first, self.pages[pfn].last)
                   if h is not None]
        if not handles:
            return 0, []
        answer = writeback(list(handles), [self.objects[h].data for h in handles])
        answer = [True] * len(handles) if answer is None else [bool(a) for a in answer]
        if len(answer) != len(handles):
            raise ValueError("writeback answered for the wrong number of objects")
        written = dict(zip(handles, answer))
        released = sum(self._reclaim_page(pfn, written) for pfn in victims)
        return released, [h for h in handles if written[h]]

    def apply_moves(self, moves):
        """Compaction's bookkeeping: move objects, then re-file what changed and release what emptied.

        ``moves`` is a list of ``(handle, pfn, side)`` in the order the objects moved (the plan
        itself comes from the engine; its optimality is tested on its own). Pages that changed
        are re-filed at their list's head in ascending pfn order, and the empty ones released in
        descending pfn order; the LRU order of the rest is kept. Returns the pages released.
        """
        touched = set()
        for handle, pfn, side in moves:
            obj = self.objects[handle]
            touched.update((obj.pfn, pfn))
            chunks = self.chunks(obj.size)
            self._drop(handle)
            page = self.pages[pfn]
            if (page.first if side == FIRST else page.last) is not None:
                raise ValueError(f"page {pfn}'s {side} side is taken")
            if side == FIRST:
                page.first, page.first_chunks = handle, chunks
            else:
                page.last, page.last_chunks = handle, chunks
            self.objects[handle] = SpecObject(pfn, side, obj.size, obj.data)
        for pfn in sorted(touched):
            if not self._empty(pfn):
                self._unfile(pfn)
                self._file(pfn)
        for pfn in sorted(touched, reverse=True):
            if self._empty(pfn):
                self._unfile(pfn)
                del self.lru[pfn]
                self._release(pfn)
        return sum(1 for pfn in touched if pfn not in self.pages)

    def store(self, chunks_of_bytes):
        handles = self.alloc([len(data) for data in chunks_of_bytes])
        self.write(handles, chunks_of_bytes)
        return handles

    def read(self, handles):
        handles = list(handles)
        self._live(handles)
        return [self.objects[handle].data for handle in handles]

    def locate(self, handle):
        """(pfn, byte offset in the page) of a live object."""
        obj = self.objects[handle]
        if obj.side == FIRST:
            return obj.pfn, self.first_offset
        return obj.pfn, self.page_size - self.pages[obj.pfn].last_chunks * self.chunk

    def lru_order(self):
        return list(reversed(self.lru))

    def pages_used(self):
        return len(self.pages)

    def free_chunks_histogram(self):
        histogram = [0] * (self.usable + 1)
        for page in self.pages.values():
            histogram[self.free_chunks(page)] += 1
        return tuple(histogram)

    def bytes_allocated(self):
        return sum(self.chunks(obj.size) for obj in self.objects.values()) * self.chunk
