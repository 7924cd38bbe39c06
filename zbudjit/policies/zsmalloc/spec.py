"""Executable specification of the zsmalloc policy, in plain Python.

Slow and obviously right: this is Linux 6.18's mm/zsmalloc.c (zs_malloc, zs_free, zs_compact),
written from the rules of kernel-6.18.md sections 1-5 with ordinary Python containers. The tests
hold the Numba engine of this policy to it, operation by operation.

What is modelled, and the conventions the engine must share:

* A zspage is a list of pfns in chain order plus its free list and inuse count; it is named by
  its first pfn, which no other live zspage can have.
* A class's 12 fullness lists are ordered dicts of first pfns whose *last* key is the list head,
  so ``list_add`` is an insertion, ``list_del`` a deletion and the head is ``next(reversed(d))``.
* A zspage's free list is a Python list whose *last* item is the head: a fresh zspage holds
  ``objs - 1, ..., 1, 0`` so it hands out 0, 1, 2, ... in address order, and a freed slot is
  appended, so it is the next one reused. The kernel's phantom slot at the end of the chain is
  left out: it sits behind every real free slot and is never handed out.
* Pages: a new page is the most recently released pfn, else the lowest never-used pfn; a zspage
  takes its pages one by one in chain order and gives them back in chain order.
* Handles are increasing integers from 1, never reused (the kernel's handle is a slab address);
  object bytes live in a dict, not in pages, and object k of a class of slot size s starts at
  byte k * s of the concatenated pages. This model keeps the handle out of the slot, so user
  bytes start at the slot's first byte; the 8 bytes zs_malloc adds still choose the class.
* Single-threaded: no deferred frees, no migration, no shrinker. Group 0 is therefore always
  empty, because a zspage whose last object goes is released at once.
"""

import copy
import numbers
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from ...errors import InvalidHandleError, PoolFullError
from .classes import (CLASS_STATS_DTYPE, DEFAULT_CHAIN_SIZE, FULLNESS_GROUPS, GROUP_EMPTY,
                      GROUP_FULL, RATIO_FIELDS, _check_int, check_geometry,
                      class_lookup_table, fullness_group, real_class_indices, size_class_table)

# find_get_zspage and isolate_dst_zspage look from the fullest non-full group down; group 0 is
# left out because it is always empty here.
FULLEST_FIRST = tuple(range(GROUP_FULL - 1, GROUP_EMPTY, -1))     # 10, 9, ..., 1
EMPTIEST_FIRST = tuple(reversed(FULLEST_FIRST))                    # 1, 2, ..., 10


@dataclass
class SpecZspage:
    """What the kernel's struct zspage (and its pages' descriptors) hold for one zspage."""

    class_index: int
    pages: list                                   # pfns in chain order
    free: list                                    # free object indices; the last is the head
    slots: dict = field(default_factory=dict)     # object index -> handle of an allocated slot
    group: int = GROUP_EMPTY                      # fullness group of the list it is on

    @property
    def inuse(self):
        return len(self.slots)


@dataclass
class SpecObject:
    zspage: int            # first pfn of its zspage
    index: int             # object index across the whole zspage
    size: int              # bytes requested
    data: bytes


class ZsmallocSpec:
    """zsmalloc in plain Python: batches of zs_malloc and zs_free, and zs_compact.

    Parameters
    ----------
    pages : int
        Pool size in pages; pfns are 0 to pages - 1.
    page_size : int
        A power of two from 4096 to 65536.
    chain_size : int
        CONFIG_ZSMALLOC_CHAIN_SIZE, 4 to 16.
    """

    def __init__(self, pages, page_size=4096, chain_size=DEFAULT_CHAIN_SIZE):
        self.page_size, self.chain_size = check_geometry(page_size, chain_size)
        pages = _check_int(pages, "pages")
        if pages < 0:
            raise ValueError("pages must not be negative")
        self.pages_total = pages
        self.max_size = self.page_size
        self.table = size_class_table(self.page_size, self.chain_size)
        self.class_of_request = class_lookup_table(self.page_size, self.chain_size)
        self.real_classes = [int(i) for i in real_class_indices(self.table)]
        # Fullness lists of every real class: (class index, group) -> OrderedDict of first pfns.
        self.lists = {(c, g): OrderedDict() for c in self.real_classes
                      for g in range(FULLNESS_GROUPS)}
        self.zspages = {}              # first pfn -> SpecZspage, live zspages only
        self.released = []             # released pfns, most recent last
        self.watermark = 0             # pfns below it have been used
        self._objects = {}             # handle -> SpecObject
        # The kernel's per-class OBJ_ALLOCATED and OBJ_INUSE statistics, as zspage and object
        # counts (zs_can_compact reads them before every compaction step).
        self.class_zspages = dict.fromkeys(self.real_classes, 0)
        self.class_inuse = dict.fromkeys(self.real_classes, 0)
        self.next_handle = 1
        self.pages_compacted = 0

    # -- geometry -------------------------------------------------------------------------------

    def _size(self, class_index):
        return int(self.table["size"][class_index])

    def _pages_per_zspage(self, class_index):
        return int(self.table["pages_per_zspage"][class_index])

    def _objs_per_zspage(self, class_index):
        return int(self.table["objs_per_zspage"][class_index])

    def _group(self, zspage):
        return fullness_group(zspage.inuse, self._objs_per_zspage(zspage.class_index))

    # -- pages ----------------------------------------------------------------------------------

    def _free_pages(self):
        return len(self.released) + self.pages_total - self.watermark

    def _new_page(self):
        if self.released:
            return self.released.pop()
        self.watermark += 1
        return self.watermark - 1

    # -- fullness lists -------------------------------------------------------------------------

    def _insert(self, first, group):
        """insert_zspage: list_add at the head of the group's list."""
        zspage = self.zspages[first]
        zspage.group = group
        self.lists[zspage.class_index, group][first] = None

    def _remove(self, first):
        """remove_zspage: list_del from the list it is on."""
        zspage = self.zspages[first]
        del self.lists[zspage.class_index, zspage.group][first]

    def _head(self, class_index, groups):
        """The head of the first non-empty list among ``groups``, or None."""
        for group in groups:
            members = self.lists[class_index, group]
            if members:
                return next(reversed(members))
        return None

    def _fix_group(self, first):
        """fix_fullness_group: move the zspage to its new group's head only if its group changed."""
        zspage = self.zspages[first]
        group = self._group(zspage)
        if group != zspage.group:
            self._remove(first)
            self._insert(first, group)
        return group

    def _release(self, first):
        """free_zspage of an empty zspage: off its list, pages back in chain order."""
        self._remove(first)
        zspage = self.zspages.pop(first)
        self.class_zspages[zspage.class_index] -= 1
        self.released.extend(zspage.pages)

    # -- objects --------------------------------------------------------------------------------

    def _obj_malloc(self, first, handle):
        """Take the free-list head of the zspage for ``handle``; returns the object index."""
        zspage = self.zspages[first]
        index = zspage.free.pop()
        zspage.slots[index] = handle
        return index

    def _obj_free(self, first, index):
        """Push the slot on the head of the zspage's free list."""
        zspage = self.zspages[first]
        del zspage.slots[index]
        zspage.free.append(index)

    def _new_zspage(self, class_index):
        """alloc_zspage + init_zspage: chain fresh pages, free list 0, 1, 2, ... from its head."""
        pages = [self._new_page() for _ in range(self._pages_per_zspage(class_index))]
        free = list(range(self._objs_per_zspage(class_index) - 1, -1, -1))
        self.zspages[pages[0]] = SpecZspage(class_index, pages, free)
        self.class_zspages[class_index] += 1
        return pages[0]

    def _alloc_one(self, size):
        class_index = int(self.class_of_request[size])
        first = self._head(class_index, FULLEST_FIRST)
        handle = self.next_handle
        if first is None:
            if self._free_pages() < self._pages_per_zspage(class_index):
                raise PoolFullError("pool is full: no pages for a new zspage")
            first = self._new_zspage(class_index)
            index = self._obj_malloc(first, handle)
            self._insert(first, self._group(self.zspages[first]))
        else:
            index = self._obj_malloc(first, handle)
            self._fix_group(first)
        self.next_handle += 1
        self.class_inuse[class_index] += 1
        self._objects[handle] = SpecObject(first, index, size, bytes(size))
        return handle

    def _free_one(self, handle):
        obj = self._objects.pop(handle)
        self.class_inuse[self.zspages[obj.zspage].class_index] -= 1
        self._obj_free(obj.zspage, obj.index)
        if self._fix_group(obj.zspage) == GROUP_EMPTY:
            self._release(obj.zspage)

    # -- batches --------------------------------------------------------------------------------

    def _live(self, handles, distinct=False):
        """The handles as ints; raise InvalidHandleError for the first one that is not live (or,
        with ``distinct``, that repeats an earlier one of the batch)."""
        seen = set()
        checked = []
        for index, handle in enumerate(handles):
            if isinstance(handle, (bool, np.bool_)) or not isinstance(handle, numbers.Integral) \
                    or int(handle) not in self._objects:
                raise InvalidHandleError(f"handle at index {index} is not a live handle")
            handle = int(handle)
            if distinct and handle in seen:
                raise InvalidHandleError(f"handle at index {index} is repeated in the batch")
            seen.add(handle)
            checked.append(handle)
        return checked

    def alloc(self, sizes):
        """zs_malloc each size in order; all or nothing.

        Parameters
        ----------
        sizes : iterable of int
            Request sizes, each 1 to page_size.

        Returns
        -------
        list of int
            The new handles, in the order of ``sizes``.

        Raises
        ------
        ValueError
            If a size is not an integer from 1 to page_size; nothing is allocated.
        PoolFullError
            If a new zspage needs more pages than the pool has left; the spec is left exactly as
            it was before the batch.
        """
        sizes = list(sizes)
        for index, size in enumerate(sizes):
            if isinstance(size, (bool, np.bool_)) or not isinstance(size, numbers.Integral) \
                    or not 1 <= int(size) <= self.page_size:
                raise ValueError(f"size at index {index} ({size!r}) is not an integer from 1 to "
                                 f"{self.page_size}")
        sizes = [int(size) for size in sizes]
        # Undo by snapshot, taken only when the batch could run out of pages: at worst every
        # object opens a new zspage.
        worst = sum(self._pages_per_zspage(int(self.class_of_request[size])) for size in sizes)
        before = copy.deepcopy(self.__dict__) if worst > self._free_pages() else None
        try:
            return [self._alloc_one(size) for size in sizes]
        except PoolFullError:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def free(self, handles):
        """zs_free each handle in order; all or nothing.

        Parameters
        ----------
        handles : iterable of int
            Live handles, none repeated.

        Raises
        ------
        InvalidHandleError
            If a handle is not live or is repeated in the batch; nothing is freed.
        """
        for handle in self._live(list(handles), distinct=True):
            self._free_one(handle)

    def write(self, handles, blobs):
        """Store each blob as its object's bytes; all or nothing.

        Parameters
        ----------
        handles : iterable of int
            Live handles.
        blobs : iterable of bytes-like
            One per handle, each exactly as long as its object.

        Raises
        ------
        InvalidHandleError
            If a handle is not live.
        ValueError
            If the counts differ or a blob's length is not its object's size.
        """
        handles = self._live(list(handles))
        blobs = [bytes(blob) for blob in blobs]
        if len(blobs) != len(handles):
            raise ValueError(f"{len(handles)} handles but {len(blobs)} blobs")
        for index, (handle, blob) in enumerate(zip(handles, blobs)):
            if len(blob) != self._objects[handle].size:
                raise ValueError(f"blob at index {index} has {len(blob)} bytes; its object has "
                                 f"{self._objects[handle].size}")
        for handle, blob in zip(handles, blobs):
            self._objects[handle].data = blob

    def store(self, blobs):
        """alloc for the blobs' lengths, then write them; returns the handles."""
        blobs = [bytes(blob) for blob in blobs]
        handles = self.alloc([len(blob) for blob in blobs])
        self.write(handles, blobs)
        return handles

    def read(self, handles):
        """The bytes of each object (zeros until written), as a list of bytes."""
        return [self._objects[handle].data for handle in self._live(list(handles))]

    def sizes(self, handles):
        """The requested size of each object, as a list of int."""
        return [self._objects[handle].size for handle in self._live(list(handles))]

    def locate(self, handles):
        """Where each object starts: a list of (pfn of the chain page its slot starts in, byte
        offset in that page)."""
        places = []
        for handle in self._live(list(handles)):
            obj = self._objects[handle]
            zspage = self.zspages[obj.zspage]
            start = obj.index * self._size(zspage.class_index)
            places.append((zspage.pages[start // self.page_size], start % self.page_size))
        return places

    def handles(self):
        """The live handles, ascending."""
        return sorted(self._objects)

    # -- compaction -----------------------------------------------------------------------------

    def _can_compact(self, class_index):
        """zs_can_compact: pages freeable in the class, whole zspages of free slots only."""
        objs = self._objs_per_zspage(class_index)
        free_slots = self.class_zspages[class_index] * objs - self.class_inuse[class_index]
        if free_slots <= 0:
            return 0
        return free_slots // objs * self._pages_per_zspage(class_index)

    def _isolate(self, class_index, groups):
        first = self._head(class_index, groups)
        if first is not None:
            self._remove(first)
        return first

    def _putback(self, first):
        """putback_zspage: at the head of its group's list; an empty one is released at once."""
        group = self._group(self.zspages[first])
        self._insert(first, group)
        if group == GROUP_EMPTY:
            self._release(first)
        return group

    def _migrate(self, src, dst):
        """migrate_zspage: move src's objects, in address order, into dst's free-list head, until
        dst is full or src is empty."""
        source, target = self.zspages[src], self.zspages[dst]
        objs = self._objs_per_zspage(source.class_index)
        # Chain-page order, then increasing offset within a page, is increasing object index.
        for index in sorted(source.slots):
            handle = source.slots[index]
            obj = self._objects[handle]
            obj.zspage, obj.index = dst, self._obj_malloc(dst, handle)
            self._obj_free(src, index)
            if target.inuse == objs or source.inuse == 0:
                break

    def _compact_class(self, class_index):
        """__zs_compact of one class; returns the pages it freed."""
        freed = 0
        dst = None
        while self._can_compact(class_index) > 0:
            if dst is None:
                dst = self._isolate(class_index, FULLEST_FIRST)
                if dst is None:
                    break
            src = self._isolate(class_index, EMPTIEST_FIRST)
            if src is None:
                break
            self._migrate(src, dst)
            if self._putback(src) == GROUP_EMPTY:
                freed += self._pages_per_zspage(class_index)
            if self._group(self.zspages[dst]) == GROUP_FULL:
                self._putback(dst)
                dst = None
        # The source is always put back inside the loop, so only a dst can be left over.
        if dst is not None:
            self._putback(dst)
        return freed

    def compact(self):
        """zs_compact: every real class from the largest index down.

        Returns
        -------
        int
            Pages freed by this pass; they are also added to :attr:`pages_compacted`.
        """
        freed = 0
        for class_index in reversed(self.real_classes):
            freed += self._compact_class(class_index)
        self.pages_compacted += freed
        return freed

    # -- what the tests compare -----------------------------------------------------------------

    @property
    def pages_used(self):
        """Pages currently in zspages (zs_get_total_pages)."""
        return sum(len(z.pages) for z in self.zspages.values())

    @property
    def objects(self):
        """Live objects."""
        return len(self._objects)

    @property
    def bytes_stored(self):
        """The sum of the live objects' requested sizes."""
        return sum(obj.size for obj in self._objects.values())

    def fullness_lists(self):
        """Every non-empty fullness list: {(class_index, group): [first pfns, head first]}."""
        return {key: list(reversed(members)) for key, members in self.lists.items() if members}

    def zspage_pages(self, first_pfn):
        """The pfns of the live zspage whose first page is ``first_pfn``, in chain order."""
        return list(self.zspages[first_pfn].pages)

    def class_stats(self):
        """One row of :data:`CLASS_STATS_DTYPE` per real class, in increasing class index: what
        zs_stats_size_show prints (feed it to :func:`.classes.format_class_stats`)."""
        rows = np.zeros(len(self.real_classes), dtype=CLASS_STATS_DTYPE)
        for row, class_index in zip(rows, self.real_classes):
            zspages = self.class_zspages[class_index]
            row["class"] = class_index
            row["size"] = self._size(class_index)
            for group, name in enumerate(RATIO_FIELDS, start=1):
                row[name] = len(self.lists[class_index, group])
            row["obj_allocated"] = zspages * self._objs_per_zspage(class_index)
            row["obj_used"] = self.class_inuse[class_index]
            row["pages_used"] = zspages * self._pages_per_zspage(class_index)
            row["pages_per_zspage"] = self._pages_per_zspage(class_index)
            row["freeable"] = self._can_compact(class_index)
        return rows

    def page_contents(self, pfn):
        """The bytes of page ``pfn`` as the objects' slots lay them out (zeros elsewhere): each
        object's bytes from its slot's first byte, a straddling one continued on the next page of
        its chain."""
        page = bytearray(self.page_size)
        for obj in self._objects.values():
            zspage = self.zspages[obj.zspage]
            if pfn not in zspage.pages:
                continue
            start = obj.index * self._size(zspage.class_index)
            base = zspage.pages.index(pfn) * self.page_size
            low, high = max(start, base), min(start + obj.size, base + self.page_size)
            if low < high:
                page[low - base:high - base] = obj.data[low - start:high - start]
        return bytes(page)
