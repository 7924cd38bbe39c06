"""Results to take further: a pool's statistics, its size classes, replay timelines and the command
line's tables as pandas DataFrames, written to Parquet; a batch of objects as an Arrow array.

Every function turns one kind of result into one table:

==============================  ==========================================  =====================
function                        takes                                       rows
==============================  ==========================================  =====================
:func:`stats_frame`             ``pool.stats()`` (or any stats dataclass,   one per snapshot
                                e.g. ``Zswap.stats()``), or a list of them
:func:`class_stats_frame`       ``pool.class_stats()`` (zsmalloc)           one per size class
:func:`timeline_frame`          ``ReplayResult.timeline``, ``SwapRun``'s    one per sample
:func:`records_frame`           the command line's tables: dicts or         one per record
                                dataclasses (``run_bench``'s rows)
==============================  ==========================================  =====================

:func:`write_parquet` writes any of them. :func:`objects_array` hands a batch's ``(data,
offsets)``, as :meth:`zbudjit.Pool.read` returns it, to Arrow without copying a byte: a uint8
array and int64 offsets of length n + 1 are exactly the two buffers of an Arrow ``large_binary``
array (offsets, then data; no validity bitmap, since no object is null).

pandas and pyarrow are an optional dependency: install them with ``pip install "zbudjit[data]"``.
They are imported only when a function here is called; without them every function raises
:class:`ImportError` with that install hint (call :func:`require_data` to check up front).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:                    # the optional extra "data"; imported lazily at run time
    import pandas
    import pyarrow

__all__ = ["class_stats_frame", "objects_array", "records_frame", "require_data", "stats_frame",
           "timeline_frame", "write_parquet"]

INSTALL_HINT = 'pip install "zbudjit[data]"'


# -- pandas and pyarrow, imported lazily ----------------------------------------------------------

def require_data() -> None:
    """Check that pandas and pyarrow are importable.

    Raises
    ------
    ImportError
        If either is missing; the message says ``pip install "zbudjit[data]"``.
    """
    _pandas()
    _pyarrow()


def _pandas():
    try:
        import pandas
    except ImportError as error:
        raise ImportError(f"zbudjit's DataFrames need pandas and pyarrow: {INSTALL_HINT}") \
            from error
    return pandas


def _pyarrow():
    try:
        import pyarrow
    except ImportError as error:
        raise ImportError(f"zbudjit's Parquet and Arrow output need pyarrow: {INSTALL_HINT}") \
            from error
    return pyarrow


# -- tables ----------------------------------------------------------------------------------------

def _row(record):
    """A record as a dict: a dataclass's fields or a mapping's items, tuples as lists (which
    Arrow stores as list columns)."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        record = {field.name: getattr(record, field.name) for field in dataclasses.fields(record)}
    elif not hasattr(record, "keys"):
        raise TypeError(f"a record must be a dataclass or a dict, not {type(record).__name__}")
    return {key: list(value) if isinstance(value, tuple) else value
            for key, value in record.items()}


def stats_frame(stats: Any) -> "pandas.DataFrame":
    """Statistics snapshots as a DataFrame, one row each.

    Parameters
    ----------
    stats : zbudjit.Stats, zbudjit.ZswapStats or a sequence of them
        ``pool.stats()``, ``zswap.stats()`` (any dataclass of statistics, or a dict); several
        snapshots give several rows, in order.

    Returns
    -------
    pandas.DataFrame
        A column per field, named as the field. A tuple field (``free_chunks_histogram``) is a
        column of lists.

    Raises
    ------
    TypeError
        A snapshot is neither a dataclass nor a dict.
    ImportError
        pandas is missing.
    """
    pandas = _pandas()
    single = ((dataclasses.is_dataclass(stats) and not isinstance(stats, type))
              or hasattr(stats, "keys"))
    return pandas.DataFrame([_row(snapshot) for snapshot in ([stats] if single else stats)])


def class_stats_frame(class_stats: np.ndarray) -> "pandas.DataFrame":
    """A zsmalloc pool's size classes as a DataFrame, one row per real class.

    Parameters
    ----------
    class_stats : numpy.ndarray
        ``pool.class_stats()``: rows of the debugfs ``classes`` columns
        (``zbudjit.policies.zsmalloc.classes.CLASS_STATS_DTYPE``).

    Returns
    -------
    pandas.DataFrame
        The structured array's fields as columns, in its order (``class``, ``size``, the
        fullness groups, ``obj_allocated``, ``obj_used``, ``pages_used``, ``pages_per_zspage``,
        ``freeable``).

    Raises
    ------
    TypeError
        ``class_stats`` is not a 1-D structured array.
    ImportError
        pandas is missing.
    """
    pandas = _pandas()
    rows = np.asarray(class_stats)
    if rows.dtype.names is None or rows.ndim != 1:
        raise TypeError("class_stats must be a 1-D structured array, as pool.class_stats() "
                        f"returns, not {rows.dtype} of shape {rows.shape}")
    return pandas.DataFrame({name: rows[name] for name in rows.dtype.names})


def timeline_frame(timeline: Mapping[str, Any]) -> "pandas.DataFrame":
    """A timeline (equal-length arrays sampled over time) as a DataFrame, one row per sample.

    Parameters
    ----------
    timeline : dict
        ``ReplayResult.timeline`` or ``SwapRun.timeline``: 1-D arrays of one length, and a string
        ``"time_label"`` saying what ``"time"`` counts.

    Returns
    -------
    pandas.DataFrame
        A column per array, in the dict's order; ``frame.attrs["time_label"]`` keeps the label
        (and ``attrs`` any other string of the dict).

    Raises
    ------
    ValueError
        An array is not 1-D, or the arrays differ in length.
    ImportError
        pandas is missing.
    """
    pandas = _pandas()
    columns, attrs = {}, {}
    for key, value in timeline.items():
        if isinstance(value, str):
            attrs[key] = value
            continue
        values = np.asarray(value)
        if values.ndim != 1:
            raise ValueError(f"timeline[{key!r}] must be 1-D, not {values.ndim}-D")
        columns[key] = values
    lengths = {key: values.size for key, values in columns.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{key}: {size}" for key, size in lengths.items())
        raise ValueError(f"timeline arrays must all have one length, not ({listed})")
    frame = pandas.DataFrame(columns)
    frame.attrs.update(attrs)
    return frame


def records_frame(records: Iterable[Any]) -> "pandas.DataFrame":
    """Records (the rows of a table) as a DataFrame, one row each: the command line's tables.

    Parameters
    ----------
    records : sequence of dict or dataclass
        For example ``zbudjit.bench.run_bench()``'s rows, or the ``"rows"`` of ``zbudjit classes
        --json``.

    Returns
    -------
    pandas.DataFrame
        A column per key (or field), in the first record's order.

    Raises
    ------
    TypeError
        A record is neither a dict nor a dataclass.
    ImportError
        pandas is missing.
    """
    pandas = _pandas()
    return pandas.DataFrame([_row(record) for record in records])


def write_parquet(frame: "pandas.DataFrame", path: str | os.PathLike) -> Path:
    """Write ``frame`` (a DataFrame from this module, or any) to ``path`` as Parquet.

    The index is not written (these frames number their rows 0..n-1); ``frame.attrs`` is kept in
    the file's metadata, as pandas keeps it, so ``pandas.read_parquet`` gives it back.

    Parameters
    ----------
    frame : pandas.DataFrame
    path : str or os.PathLike
        The file to write, replaced if it exists; its directory must exist.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ImportError
        pandas or pyarrow is missing.
    """
    require_data()
    path = pathlib.Path(path)
    frame.to_parquet(path, engine="pyarrow", index=False)
    return path


# -- objects as Arrow ------------------------------------------------------------------------------

def objects_array(data: np.ndarray, offsets: np.ndarray) -> "pyarrow.LargeBinaryArray":
    """A batch of objects as a ``pyarrow.LargeBinaryArray`` over the same memory (no copy).

    Parameters
    ----------
    data : numpy.ndarray
        1-D uint8, C-contiguous: the objects' bytes, object ``i`` being
        ``data[offsets[i]:offsets[i+1]]`` (as :meth:`zbudjit.Pool.read` returns them).
    offsets : numpy.ndarray
        1-D int64 of length ``n + 1``, non-decreasing, within ``data``.

    Returns
    -------
    pyarrow.LargeBinaryArray
        ``n`` objects. Its buffers are ``data``'s and ``offsets``' memory: the array keeps them
        referenced, and sees any later change to them.

    Raises
    ------
    TypeError
        ``data`` is not a uint8 array or ``offsets`` not an int64 one.
    ValueError
        Either is not 1-D and C-contiguous, or the offsets do not describe objects within
        ``data``.
    ImportError
        pyarrow is missing.
    """
    pyarrow = _pyarrow()
    for name, array, dtype in (("data", data, np.uint8), ("offsets", offsets, np.int64)):
        if not isinstance(array, np.ndarray) or array.dtype != dtype:
            raise TypeError(f"{name} must be a {np.dtype(dtype)} numpy array")
        if array.ndim != 1 or not array.flags.c_contiguous:
            raise ValueError(f"{name} must be 1-D and C-contiguous")
    if (offsets.size == 0 or offsets[0] < 0 or offsets[-1] > data.size
            or np.any(np.diff(offsets) < 0)):
        raise ValueError("offsets must be n + 1 non-decreasing positions within data")
    return pyarrow.LargeBinaryArray.from_buffers(
        pyarrow.large_binary(), offsets.size - 1,
        [None, pyarrow.py_buffer(offsets), pyarrow.py_buffer(data)])
