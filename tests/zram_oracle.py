"""The live kernel as a test oracle: replay zram recordings through a pool, make operation mixes.

:func:`replay` drives any pool-like object through what a recorded zram device did
(:func:`zbudjit.kernel.zram.record`), applying zram's rules of kernel-6.18.md sections 7.2 and 7.4
itself, and asserts after every record that the pool's memory is the kernel's. The pool needs

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
from zbudjit.kernel.zram import (HUGE_CLASS_SIZE, OP_COMPACT, OP_DISCARD, OP_NAMES, OP_WRITE,
                                 PAGE_SIZE, RECORD_DTYPE)

__all__ = ["random_operations", "real_pages", "replay"]


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
        the field: mem_used_total (pool pages x 4096), mem_used_max (the running peak of pool
        pages, taken after each allocation), pages_compacted (and what compact() returned), and
        the harness's own slot counts (orig_data_size, compr_data_size, same_pages, huge_pages),
        which check the recording and these rules rather than the pool.

    Notes
    -----
    zram's rules, applied here: a same-filled page stores no object; a page whose comp_len is at
    least huge_class_size (3625) is stored uncompressed in a 4096-byte object; any other page in
    an object of comp_len bytes. An overwrite allocates the new object *before* it frees the old
    one, and the peak is taken in between (zram_can_store_page), so it includes both copies. A
    discard frees the slot.
    """
    records = np.asarray(records)
    if records.dtype != RECORD_DTYPE:
        raise TypeError(f"records must have RECORD_DTYPE, got {records.dtype}")
    pool = pool_factory()
    handles = {}                # index -> handle of the object holding it
    sizes = {}                  # index -> bytes zram counts for it (0: same-filled)
    same = set()                # indices holding a same-filled page
    peak = _number(pool.pages_used)
    compacted = _pages_compacted(pool)
    kernel_compacted = 0
    names = RECORD_DTYPE.names

    def free(index):
        old = handles.pop(index, None)
        if old is not None:
            pool.free([old])

    for i, row in enumerate(records.tolist()):
        rec = dict(zip(names, row))
        op, index = rec["op"], rec["index"]
        if op == OP_WRITE:
            size = PAGE_SIZE if rec["comp_len"] >= HUGE_CLASS_SIZE else rec["comp_len"]
            if rec["same"]:
                free(index)
            else:
                new = int(pool.alloc([size])[0])
                peak = max(peak, _number(pool.pages_used))
                free(index)                 # after the allocation, as zram does
                handles[index] = new
            sizes[index] = size
            (same.add if rec["same"] else same.discard)(index)
        elif op == OP_DISCARD:
            free(index)
            sizes.pop(index, None)
            same.discard(index)
        elif op == OP_COMPACT:
            result = pool.compact()
            freed = int(getattr(result, "pages_freed", result))
            _expect(i, rec, "pages freed by compact()", freed,
                    rec["pages_compacted"] - kernel_compacted, " pages")
        else:
            raise ValueError(f"record {i} has unknown op {op}")
        kernel_compacted = rec["pages_compacted"]

        # The recording and the rules: these depend on the harness, not on the pool.
        _expect(i, rec, "orig_data_size", len(sizes) * PAGE_SIZE, rec["orig_data_size"], " B")
        _expect(i, rec, "compr_data_size", sum(sizes.values()), rec["compr_data_size"], " B")
        _expect(i, rec, "same_pages", len(same), rec["same_pages"])
        _expect(i, rec, "huge_pages", sum(size == PAGE_SIZE for size in sizes.values()),
                rec["huge_pages"])
        # The pool.
        _expect(i, rec, "mem_used_total", _number(pool.pages_used) * PAGE_SIZE,
                rec["mem_used_total"], " B")
        _expect(i, rec, "mem_used_max", peak * PAGE_SIZE, rec["mem_used_max"], " B")
        _expect(i, rec, "pages_compacted", _pages_compacted(pool) - compacted,
                rec["pages_compacted"])
    return pool
