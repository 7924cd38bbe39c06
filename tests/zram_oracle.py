"""The live kernel as a test oracle: replay zram recordings through a pool, make operation mixes.

:class:`ReferenceZram` is zram's rules of kernel-6.18.md sections 7.2-7.5 in plain Python over any
pool-like object; :func:`replay` drives one through what a recorded zram device did
(:func:`zbudjit.kernel.zram.record`) and asserts after every record that its figures are the
kernel's. The pool needs

* ``alloc(list_of_sizes)`` returning the handles (a list or an array), ``free(list_of_handles)``;
* ``compact()`` returning the pages it freed (an int, or an object with ``pages_freed``);
* ``pages_used`` (pool pages now, zs_get_total_pages) and ``pages_compacted`` (cumulative), each
  an int attribute, a property or a method; ``pages_compacted`` may also come from ``stats()``.

:func:`random_operations` (a seeded mix of writes of real pages, overwrites, discards,
same-filled and incompressible pages and compactions) and :func:`real_pages` are the package's
(``zbudjit.kernel.check``), which ``zbudjit kernel-check`` uses too.
"""

import numpy as np

from zbudjit.kernel.check import DEFAULT_MIX, random_operations, real_pages  # noqa: F401
from zbudjit.kernel.zram import (HUGE_CLASS_SIZE, MM_STAT_FIELDS, OP_COMPACT, OP_DISCARD,
                                 OP_NAMES, OP_WRITE, PAGE_SIZE, RECORD_DTYPE)

__all__ = ["ReferenceZram", "random_operations", "real_pages", "replay"]
COUNTS = ("same_pages", "pages_compacted", "huge_pages", "huge_pages_since")   # not bytes


def _number(value):
    return int(value() if callable(value) else value)


def _pages_compacted(pool):
    if hasattr(pool, "pages_compacted"):
        return _number(pool.pages_compacted)
    return _number(pool.stats().pages_compacted)


def _describe(i, rec):
    op = OP_NAMES[rec["op"]]
    if rec["op"] == OP_WRITE:
        what = "same-filled" if rec["same"] else f"comp_len {rec['comp_len']}"
        return f"record {i} (write of index {rec['index']}, {what})"
    if rec["op"] == OP_DISCARD:
        return f"record {i} (discard of index {rec['index']})"
    return f"record {i} ({op})"


def _expect(i, rec, field, model, kernel, unit=""):
    assert model == kernel, (f"{_describe(i, rec)}: {field}: replay gives {model:,}{unit}, "
                             f"the kernel {kernel:,}{unit}")


class ReferenceZram:
    """zram's rules (kernel-6.18.md 7.2-7.5) in plain Python, over any pool with the API above:
    the reference the live kernel's recordings and zbudjit.Zram are both held to.

    ``limit_pages`` is mem_limit in pages (0: none). ``own_pages`` keeps huge pages out of the
    pool, a page each, as zbudjit.Zram does for a policy that cannot hold a page (zbud).
    """

    def __init__(self, pool, limit_pages=0, own_pages=False, huge=HUGE_CLASS_SIZE):
        self.pool, self.limit, self.own_pages, self.huge = pool, limit_pages, own_pages, huge
        self.slots = {}                         # index -> (handle, "own" or None; size counted)
        self.max_used = _number(pool.pages_used)
        self.failed = self.notify = self.own = self.huge_since = self.compacted = 0

    def used(self):
        return _number(self.pool.pages_used) + self.own

    def free(self, index):
        handle, _ = self.slots.pop(index, (None, 0))
        if handle == "own":
            self.own -= 1
        elif handle is not None:
            self.pool.free([handle])

    def write(self, index, comp_len):
        """Store a page of ``comp_len`` (0: same-filled); False if refused over the limit."""
        if comp_len == 0:
            self.free(index)
            self.slots[index] = (None, 0)
            return True
        size = PAGE_SIZE if comp_len >= self.huge else comp_len
        if size == PAGE_SIZE and self.own_pages:
            self.own += 1
            handle = "own"
        else:
            handle = int(self.pool.alloc([size])[0])
        self.max_used = max(self.max_used, self.used())      # the peak first, then the limit
        if self.limit and self.used() > self.limit:
            if handle == "own":
                self.own -= 1
            else:
                self.pool.free([handle])
            self.failed += 1
            return False
        self.free(index)                        # after the allocation, as zram does
        self.slots[index] = (handle, size)
        self.huge_since += size == PAGE_SIZE
        return True

    def discard(self, index):
        self.free(index)
        self.notify += 1

    def compact(self):
        """Returns the pages compact() freed."""
        result = self.pool.compact()
        freed = int(getattr(result, "pages_freed", result))
        self.compacted += freed
        return freed

    def mm_stat(self):
        """The nine fields, in MM_STAT_FIELDS' order."""
        sizes = [size for _, size in self.slots.values()]
        return (len(sizes) * PAGE_SIZE, sum(sizes), self.used() * PAGE_SIZE,
                self.limit * PAGE_SIZE, self.max_used * PAGE_SIZE,
                sum(handle is None for handle, _ in self.slots.values()), self.compacted,
                sum(size == PAGE_SIZE for size in sizes), self.huge_since)


def replay(records, pool_factory):
    """Replay zram records through a pool and assert it uses the memory the kernel used.

    Parameters
    ----------
    records : numpy.ndarray
        :data:`~zbudjit.kernel.zram.RECORD_DTYPE` records from a fresh device, in order.
    pool_factory : callable
        Called with no arguments; returns an empty pool with the API in the module docstring
        and room for the recording (e.g. ``lambda: ZsmallocSpec(4096)``).

    Returns
    -------
    pool
        The pool after the last record.

    Raises
    ------
    AssertionError
        At the first record after which a figure differs, naming the record, its operation and
        the field: mm_stat's nine fields of :class:`ReferenceZram` over the pool (mem_used_total,
        mem_used_max and pages_compacted depend on the pool; the others check the recording and
        the rules), what compact() returned, and the pool's own pages_compacted.
    """
    records = np.asarray(records)
    if records.dtype != RECORD_DTYPE:
        raise TypeError(f"records must have RECORD_DTYPE, got {records.dtype}")
    pool = pool_factory()
    reference = ReferenceZram(pool)
    compacted = _pages_compacted(pool)
    kernel_compacted = 0
    names = RECORD_DTYPE.names
    for i, row in enumerate(records.tolist()):
        rec = dict(zip(names, row))
        op, index = rec["op"], rec["index"]
        if op == OP_WRITE:
            reference.write(index, 0 if rec["same"] else rec["comp_len"])
        elif op == OP_DISCARD:
            reference.discard(index)
        elif op == OP_COMPACT:
            _expect(i, rec, "pages freed by compact()", reference.compact(),
                    rec["pages_compacted"] - kernel_compacted, " pages")
        else:
            raise ValueError(f"record {i} has unknown op {op}")
        kernel_compacted = rec["pages_compacted"]
        for field, model in zip(MM_STAT_FIELDS, reference.mm_stat()):
            _expect(i, rec, field, model, rec[field], "" if field in COUNTS else " B")
        _expect(i, rec, "the pool's pages_compacted", _pages_compacted(pool) - compacted,
                rec["pages_compacted"])
    return pool
