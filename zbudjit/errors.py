"""Exceptions raised by zbudjit, and the kernel status codes they are made from.

Kernels never raise: they return ``(status, index)`` where ``index`` is the batch element that
failed.  :func:`raise_for_status` turns that pair into one of the exceptions below, with a message
that names the offending element.
"""


class PoolError(Exception):
    """Base class of every error zbudjit raises on purpose."""


class PoolFullError(PoolError):
    """The pool has no free page (or no free handle slot) left for the batch."""


class InvalidHandleError(PoolError, ValueError):
    """A handle is not a live handle of this pool: zero, freed, forged, or repeated in one free batch."""


class FileInUseError(PoolError):
    """A file a pool or frontend would map (an arena, a swap file) is locked by another user."""


class CorruptionError(PoolError):
    """:meth:`zbudjit.Pool.check` found tables that contradict each other."""


# Status codes shared by every kernel.
OK = 0
BAD_SIZE = 1
POOL_FULL = 2
BAD_HANDLE = 3
DUPLICATE_HANDLE = 4
BAD_OFFSETS = 5
BAD_LENGTH = 6
OUT_TOO_SMALL = 7               # index: the bytes needed
NEED_ROOM = 8                   # the growable tables are too small for the batch; nothing changed


def raise_for_status(status, index, what=None):
    """Raise the exception for a kernel's ``(status, index)``; do nothing when ``status`` is OK.

    ``what`` is the batch (handles or sizes) so the message can quote the offending value. The
    exception carries the offending element's position in the batch as its ``index`` attribute.
    """
    if status == OK:
        return
    index = int(index)
    if status == OUT_TOO_SMALL:             # index is the bytes needed, not a batch position
        raise ValueError(f"out is too small: the objects need {index:,} bytes")
    value = ""
    if what is not None and index < len(what):
        shown = int(what[index])
        value = f" ({shown:#x})" if status in (BAD_HANDLE, DUPLICATE_HANDLE) else f" ({shown})"
    if status == BAD_SIZE:
        error = ValueError(f"size at index {index}{value} is out of range for this pool")
    elif status == POOL_FULL:
        error = PoolFullError(f"pool is full: no free page for the object at index {index}; "
                              "nothing was allocated")
    elif status == BAD_HANDLE:
        error = InvalidHandleError(f"handle at index {index}{value} is not a live handle of this pool")
    elif status == DUPLICATE_HANDLE:
        error = InvalidHandleError(f"handle at index {index}{value} is repeated in the batch")
    elif status == BAD_OFFSETS:
        error = ValueError(f"offsets are not valid at index {index}: they must be non-decreasing, "
                           "start at or after 0 and end within data")
    elif status == BAD_LENGTH:
        error = ValueError(f"data for the object at index {index} does not have the object's size")
    else:
        error = PoolError(f"kernel returned unknown status {status} at index {index}")
    error.index = index
    raise error
