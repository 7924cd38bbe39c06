"""zsmalloc's size classes, fullness groups and debugfs ``classes`` text, in plain Python and NumPy.

This is the table Linux 6.18's mm/zsmalloc.c builds in zs_create_pool, written from the rules of
kernel-6.18.md section 1 (and 2.4-2.5 for the lookup and the fullness groups); Appendix A of that
file is the table it must give for 4 KiB pages and CONFIG_ZSMALLOC_CHAIN_SIZE=8. No Numba here: the
plain-Python spec (:mod:`.spec`) and the Numba engine both read these tables.

A "class index" is one of the ceil((page_size - 32) / delta) + 1 nominal indices, delta being
page_size >> 8. Indices whose zspage would have the same shape (pages and objects per zspage) as
the next larger class are merged into it, so several indices can share one "real" class; a real
class is named by the highest index of its merged range, as the kernel's ``class->index`` is.
"""

import numbers
from functools import cache

import numpy as np

ZS_ALIGN = 8
ZS_HANDLE_SIZE = 8
# max(32, chain * page_size >> OBJ_INDEX_BITS); OBJ_INDEX_BITS = 64 - (52 - PAGE_SHIFT) leaves
# the second term 0 for every page and chain size allowed here, so this is simply 32.
ZS_MIN_ALLOC_SIZE = 32
CLASS_BITS = 8
MIN_PAGE_SIZE = 4096
MAX_PAGE_SIZE = 65536
MIN_CHAIN_SIZE = 4                 # Kconfig's range of CONFIG_ZSMALLOC_CHAIN_SIZE
MAX_CHAIN_SIZE = 16
DEFAULT_CHAIN_SIZE = 8

# Fullness groups (ZS_INUSE_RATIO_x): 0 empty, 1..10 = 10%..99%, 11 full.
FULLNESS_GROUPS = 12
GROUP_EMPTY = 0
GROUP_FULL = FULLNESS_GROUPS - 1
# The groups debugfs prints, in its column order: 1..11 (the empty group is never shown).
RATIO_LABELS = ("10%", "20%", "30%", "40%", "50%", "60%", "70%", "80%", "90%", "99%", "100%")
RATIO_FIELDS = tuple("ratio_" + label[:-1] for label in RATIO_LABELS)

CLASS_DTYPE = np.dtype([
    ("size", np.int64),               # slot size of the class this index uses (after merging)
    ("pages_per_zspage", np.int64),
    ("objs_per_zspage", np.int64),
    ("class_index", np.int64),        # the real class: the highest index of the merged range
])

CLASS_STATS_DTYPE = np.dtype(
    [("class", np.int64), ("size", np.int64)]
    + [(name, np.int64) for name in RATIO_FIELDS]      # zspages in groups 1..11
    + [("obj_allocated", np.int64), ("obj_used", np.int64), ("pages_used", np.int64),
       ("pages_per_zspage", np.int64), ("freeable", np.int64)])


def _check_int(value, name):
    # bool is an int subclass, and np.bool_ is no Integral: neither may pass as a size.
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    return int(value)


def check_geometry(page_size=4096, chain_size=DEFAULT_CHAIN_SIZE):
    """Validate a page size and a chain size and return them as Python ints.

    Parameters
    ----------
    page_size : int
        A power of two from 4096 to 65536.
    chain_size : int
        CONFIG_ZSMALLOC_CHAIN_SIZE, the most pages a zspage may chain: 4 to 16.

    Returns
    -------
    tuple of int
        ``(page_size, chain_size)``.

    Raises
    ------
    TypeError
        If either is not an integer (bools are refused).
    ValueError
        If either is out of range.
    """
    page_size = _check_int(page_size, "page_size")
    chain_size = _check_int(chain_size, "chain_size")
    if not MIN_PAGE_SIZE <= page_size <= MAX_PAGE_SIZE or page_size & (page_size - 1):
        raise ValueError(f"page_size must be a power of two from {MIN_PAGE_SIZE} to "
                         f"{MAX_PAGE_SIZE}, not {page_size}")
    if not MIN_CHAIN_SIZE <= chain_size <= MAX_CHAIN_SIZE:
        raise ValueError(f"chain_size must be from {MIN_CHAIN_SIZE} to {MAX_CHAIN_SIZE} "
                         f"(CONFIG_ZSMALLOC_CHAIN_SIZE), not {chain_size}")
    return page_size, chain_size


def class_delta(page_size=4096):
    """ZS_SIZE_CLASS_DELTA: the step between nominal class sizes, ``page_size >> CLASS_BITS``."""
    return page_size >> CLASS_BITS


def class_count(page_size=4096):
    """ZS_SIZE_CLASSES: the number of class indices (255 at 4 KiB)."""
    delta = class_delta(page_size)
    return -(-(page_size - ZS_MIN_ALLOC_SIZE) // delta) + 1


def nominal_size(index, page_size=4096):
    """The slot size class index ``index`` would have unmerged: ``32 + index * delta``, the last
    index clamped to the page."""
    return min(ZS_MIN_ALLOC_SIZE + index * class_delta(page_size), page_size)


def chain_length(size, page_size=4096, chain_size=DEFAULT_CHAIN_SIZE):
    """calculate_zspage_chain_size: how many pages a zspage of slots of ``size`` bytes chains.

    Parameters
    ----------
    size : int
        Slot size in bytes (a nominal class size).
    page_size, chain_size : int
        The pool geometry.

    Returns
    -------
    int
        The i in 1..chain_size with the least waste ``(i * page_size) % size``; the first such i on
        a tie. A power-of-two size fits a page exactly and gets 1.
    """
    if size & (size - 1) == 0:
        return 1
    best, best_waste = 1, None
    for pages in range(1, chain_size + 1):
        waste = pages * page_size % size
        if best_waste is None or waste < best_waste:      # strict: ties keep the shorter chain
            best, best_waste = pages, waste
    return best


@cache
def _build(page_size, chain_size):
    """The table as tuples, and huge_class_size; cached, since it never changes for a geometry."""
    count = class_count(page_size)
    rows = [None] * count
    previous = None                    # (size, pages, objs, index) of the last class created
    huge = 0
    # Top-down, as zs_create_pool does: merging looks at the next larger class already made.
    for index in range(count - 1, -1, -1):
        size = nominal_size(index, page_size)
        pages = chain_length(size, page_size, chain_size)
        objs = pages * page_size // size
        # The watermark uses this index's own nominal size, merged or not (rule 1.10.1).
        if not huge and pages != 1 and objs != 1:
            huge = size - (ZS_HANDLE_SIZE - 1)
        if previous is not None and previous[1] == pages and previous[2] == objs:
            rows[index] = previous
            continue
        previous = (size, pages, objs, index)
        rows[index] = previous
    return tuple(rows), huge


def size_class_table(page_size: int = 4096, chain_size: int = DEFAULT_CHAIN_SIZE) -> np.ndarray:
    """The class table zs_create_pool builds: one row per class index.

    Parameters
    ----------
    page_size : int
        A power of two from 4096 to 65536.
    chain_size : int
        CONFIG_ZSMALLOC_CHAIN_SIZE, 4 to 16.

    Returns
    -------
    numpy.ndarray
        A fresh array of :data:`CLASS_DTYPE`, ``class_count(page_size)`` rows (255 at 4 KiB). Row
        i describes the class index i uses: its slot ``size``, ``pages_per_zspage``,
        ``objs_per_zspage`` and ``class_index``, the index of that real class (i itself unless i
        was merged into a larger class).

    Raises
    ------
    TypeError, ValueError
        As :func:`check_geometry`.
    """
    page_size, chain_size = check_geometry(page_size, chain_size)
    rows, _ = _build(page_size, chain_size)
    return np.array(list(rows), dtype=CLASS_DTYPE)


def real_class_indices(table):
    """The indices of the real (unmerged) classes of a :func:`size_class_table`, ascending."""
    return np.flatnonzero(table["class_index"] == np.arange(len(table)))


def huge_class_size(page_size: int = 4096, chain_size: int = DEFAULT_CHAIN_SIZE) -> int:
    """zs_huge_class_size: requests of at least this many bytes land in a huge class.

    Parameters
    ----------
    page_size, chain_size : int
        As :func:`size_class_table`.

    Returns
    -------
    int
        The largest nominal class size whose zspage has more than one page and more than one
        object, less ZS_HANDLE_SIZE - 1 (3625 at 4 KiB, chain 8): a request of n bytes becomes
        n + 8 in zs_malloc, which exceeds that size exactly when n is at least this value.
    """
    page_size, chain_size = check_geometry(page_size, chain_size)
    return _build(page_size, chain_size)[1]


def _nominal_index(size, page_size):
    """get_size_class_index: the nominal index for a slot of ``size`` bytes (an int or an array
    of them), 0 up to 32 bytes and clamped to the last index."""
    index = -(-(size - ZS_MIN_ALLOC_SIZE) // class_delta(page_size))
    return np.clip(index, 0, class_count(page_size) - 1)


def _check_request(size, page_size):
    size = _check_int(size, "size")
    if not 1 <= size <= page_size:
        raise ValueError(f"size must be from 1 to {page_size}, not {size}")
    return size


def _real_class(size, page_size, chain_size, added):
    """The real class of a slot of ``size + added`` bytes, ``size`` being a checked request."""
    page_size, chain_size = check_geometry(page_size, chain_size)
    size = _check_request(size, page_size)
    rows, _ = _build(page_size, chain_size)
    return rows[_nominal_index(size + added, page_size)][3]


def lookup_class_index(size, page_size=4096, chain_size=DEFAULT_CHAIN_SIZE):
    """zs_lookup_class_index: the real class of slots of ``size`` bytes (no handle size added).

    Parameters
    ----------
    size : int
        Slot size in bytes, 1 to page_size.
    page_size, chain_size : int
        As :func:`size_class_table`.

    Returns
    -------
    int
        The merged class index of the nominal index ``ceil((size - 32) / delta)`` (0 for sizes up
        to 32, clamped to the last index).
    """
    return _real_class(size, page_size, chain_size, 0)


def class_index_for(size, page_size=4096, chain_size=DEFAULT_CHAIN_SIZE):
    """The real class index a zs_malloc of ``size`` bytes allocates from.

    Parameters
    ----------
    size : int
        The request, 1 to page_size bytes.
    page_size, chain_size : int
        As :func:`size_class_table`.

    Returns
    -------
    int
        The class of ``size + ZS_HANDLE_SIZE``: zs_malloc adds the 8-byte handle unconditionally,
        even for requests that end in the huge class, where it is not stored in the slot.

    Raises
    ------
    TypeError
        If ``size`` is not an integer.
    ValueError
        If ``size`` is not from 1 to page_size (zs_malloc's -EINVAL and -ENOSPC).
    """
    return _real_class(size, page_size, chain_size, ZS_HANDLE_SIZE)


def class_lookup_table(page_size=4096, chain_size=DEFAULT_CHAIN_SIZE):
    """:func:`class_index_for` of every request size at once, for vectorised and Numba lookups.

    Parameters
    ----------
    page_size, chain_size : int
        As :func:`size_class_table`.

    Returns
    -------
    numpy.ndarray
        int64, ``page_size + 1`` entries: entry n is the real class index a zs_malloc of n bytes
        uses, for n from 1 to page_size; entry 0 (an invalid request) is -1.
    """
    page_size, chain_size = check_geometry(page_size, chain_size)
    table = size_class_table(page_size, chain_size)
    slot = np.arange(page_size + 1, dtype=np.int64) + ZS_HANDLE_SIZE
    lookup = table["class_index"][_nominal_index(slot, page_size)]
    lookup[0] = -1
    return lookup


def fullness_group(inuse, objs):
    """get_fullness_group: the fullness group of a zspage with ``inuse`` of its ``objs`` slots used.

    Parameters
    ----------
    inuse : int
        Allocated objects in the zspage, 0 to objs.
    objs : int
        objs_per_zspage of its class, at least 1.

    Returns
    -------
    int
        0 when empty, 11 when full, else ``floor(floor(100 * inuse / objs) / 10) + 1``: 1 for
        under 10 % (so one object in a large zspage is never counted as empty), ..., 10 for 90 %
        to 99 %.

    Raises
    ------
    ValueError
        If ``objs`` < 1 or ``inuse`` is outside 0..objs.
    """
    inuse, objs = int(inuse), int(objs)
    if objs < 1 or not 0 <= inuse <= objs:
        raise ValueError(f"need 0 <= inuse <= objs and objs >= 1, not inuse={inuse}, objs={objs}")
    if inuse == 0:
        return GROUP_EMPTY
    if inuse == objs:
        return GROUP_FULL
    return 100 * inuse // objs // 10 + 1


def format_class_stats(rows):
    """Text exactly as Linux 6.18 prints /sys/kernel/debug/zsmalloc/<pool>/classes.

    That is zs_stats_size_show (CONFIG_ZSMALLOC_STAT): a header line, one line per real class, an
    empty line and a Total line that sums every column but pages_per_zspage (left blank).

    Parameters
    ----------
    rows : numpy.ndarray
        Rows of :data:`CLASS_STATS_DTYPE`, in the order to print them (the kernel prints every
        real class, in increasing class index).

    Returns
    -------
    str
        The file's contents, every line ending in a newline.
    """
    rows = np.asarray(rows, dtype=CLASS_STATS_DTYPE)
    # The kernel's formats: header " %5s %5s" + eleven " %9s" + " %13s %10s %10s %16s %8s";
    # each row " %5u %5u " + eleven "%9lu " + "%13lu %10lu %10lu %16d %8lu" (so a space follows
    # every group count, the last one included); the Total row as a row, pages_per_zspage blank.
    lines = [" " + " ".join([f"{'class':>5}", f"{'size':>5}"]
                            + [f"{label:>9}" for label in RATIO_LABELS]
                            + [f"{'obj_allocated':>13}", f"{'obj_used':>10}",
                               f"{'pages_used':>10}", f"{'pages_per_zspage':>16}",
                               f"{'freeable':>8}"])]

    def line(first, second, groups, allocated, used, pages, per_zspage, freeable):
        return (f" {first:>5} {second:>5} " + "".join(f"{count:9d} " for count in groups)
                + f"{allocated:13d} {used:10d} {pages:10d} {per_zspage:>16} {freeable:8d}")

    for row in rows:
        lines.append(line(int(row["class"]), int(row["size"]),
                          [int(row[name]) for name in RATIO_FIELDS],
                          int(row["obj_allocated"]), int(row["obj_used"]),
                          int(row["pages_used"]), int(row["pages_per_zspage"]),
                          int(row["freeable"])))
    lines.append("")
    lines.append(line("Total", "", [int(rows[name].sum()) for name in RATIO_FIELDS],
                      int(rows["obj_allocated"].sum()), int(rows["obj_used"].sum()),
                      int(rows["pages_used"].sum()), "", int(rows["freeable"].sum())))
    return "\n".join(lines) + "\n"
