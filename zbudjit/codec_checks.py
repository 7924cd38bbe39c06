"""What zbudjit's own Numba codecs (``lzo.py``, ``lz4.py``) share on the Python side: the checks
of a batch of pages to compress and of a ragged batch of objects to decode, and the ValueError
that names the first object a decoder could not decode."""

import numpy as np

from .pool import _whole_number


def checked_pages(pages, header_bytes, largest_row):
    """``(pages, header_bytes)`` checked: a C-contiguous 2-D uint8 ndarray with rows of 1 to
    ``largest_row`` bytes, and a whole number of header bytes >= 0."""
    if not isinstance(pages, np.ndarray):
        raise TypeError(f"pages must be a numpy.ndarray, not {type(pages).__name__}")
    if pages.dtype != np.uint8:
        raise TypeError(f"pages must be uint8, not {pages.dtype}")
    if pages.ndim != 2 or not 1 <= pages.shape[1] <= largest_row:
        raise ValueError(f"pages must be 2-D (n, page_size) with 1 <= page_size <= "
                         f"{largest_row}, got shape {pages.shape}")
    if not pages.flags.c_contiguous:
        raise ValueError("pages must be C-contiguous (use numpy.ascontiguousarray)")
    return pages, _whole_number(header_bytes, "header_bytes", 0)


def checked_objects(data, starts, ends, page_size):
    """``(data, starts, ends, page_size)`` checked: 1-D uint8 data, int64 bounds of one length
    with ``0 <= starts[i] <= ends[i] <= data.size``, and a page size >= 1."""
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 1:
        raise TypeError("data must be a 1-D uint8 numpy.ndarray")
    data = np.ascontiguousarray(data)
    page_size = _whole_number(page_size, "page_size", 1)
    starts = np.ascontiguousarray(starts, np.int64)
    ends = np.ascontiguousarray(ends, np.int64)
    if starts.ndim != 1 or starts.shape != ends.shape:
        raise ValueError(f"starts and ends must be 1-D of one length, got shapes {starts.shape} "
                         f"and {ends.shape}")
    bad = np.flatnonzero((starts < 0) | (ends < starts) | (ends > data.size))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"object at index {i} has bounds {int(starts[i])}:{int(ends[i])}, "
                         f"not within data ({data.size} bytes)")
    return data, starts, ends, page_size


def raise_for_status(status, produced, page_size, messages, short_output, codec):
    """ValueError naming the first object whose decoder ``status`` is not 0 (nothing if none):
    ``messages`` says what each status means, ``short_output`` is the status of an object that
    decoded to fewer than ``page_size`` bytes (``produced`` of them)."""
    bad = np.flatnonzero(status)
    if bad.size:
        i = int(bad[0])
        if status[i] == short_output:
            raise ValueError(f"object at index {i} decompressed to {int(produced[i])} bytes, "
                             f"not the page size {page_size}")
        raise ValueError(f"object at index {i} {messages[int(status[i])]} "
                         f"(page size {page_size}, {codec})")
