"""``zbudjit kernel-check``: the model held against the running kernel, operation by operation.

:func:`kernel_check` sends the same real pages, in a seeded random sequence of writes, overwrites,
discards and compactions, through a private zram device of the running kernel
(:class:`zbudjit.kernel.zram.ZramDevice`: hot-added, and removed afterwards whatever happens) and
through :class:`zbudjit.Zram` in size-only mode, fed with the compressed size the kernel reported
for each write. After every operation all nine mm_stat fields of the two must be equal. A second
pass feeds the model the sizes a user-space compressor of the same name gives the same pages and
reports how far its mm_stat is from the kernel's: what a study that compresses in user space gets
wrong.

The sequence comes in phases (:data:`PHASES`), each printed as the two mm_stat tables side by side.
The recording can be kept as a zram trace (:func:`save_trace`, :func:`load_trace`): every
operation with its index, the kernel's size and the kernel's mm_stat after it, which
``zbudjit replay`` replays and checks.

Also here: :func:`real_pages` and :func:`random_operations`, the pages and the operation mixes
(the test suite's live-kernel tests use them too).
"""

from __future__ import annotations

import csv
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

from ..pagesource import python_installation_files
from .zram import (HUGE_CLASS_SIZE, MM_STAT_FIELDS, OP_COMPACT, OP_NAMES, OP_WRITE,
                   PAGE_SIZE, RECORD_DTYPE, MmStat, ZramDevice, record)

#: The phases of a check: (name, what its operations are).
PHASES = (("fill", "a write to every index, in order"),
          ("overwrite", "writes over stored indices"),
          ("discard", "discards of a third of the indices, then a compaction"),
          ("mixed", "writes, overwrites, discards and compactions at random"),
          ("compact", "a last compaction"))


# ---------------------------------------------------------------------------------------------
# Pages and operation mixes

def real_pages(count, seed=0):
    """``count`` real pages: 4 KiB pieces of the running Python installation's files.

    Parameters
    ----------
    count : int
    seed : int
        Chooses the files (.py sources and .so machine code, about half each) and the
        page-aligned piece of each; the same seed gives the same pages on the same installation.

    Returns
    -------
    numpy.ndarray
        ``(count, 4096)`` ``uint8``; a file's last piece is zero-padded, as in the page cache.
    """
    files = python_installation_files()
    sources = [f for f in files if f.suffix == ".py"]
    binaries = [f for f in files if f.suffix == ".so" or ".so." in f.name]
    if not sources or not binaries:
        raise RuntimeError(f"found {len(sources)} .py and {len(binaries)} .so files in the "
                           "Python installation; real pages need both")
    rng = np.random.default_rng(seed)
    out = np.zeros((count, PAGE_SIZE), np.uint8)
    for k in range(count):
        group = binaries if rng.random() < 0.5 else sources
        path = group[int(rng.integers(len(group)))]
        size = os.path.getsize(path)
        offset = int(rng.integers(max(1, -(-size // PAGE_SIZE)))) * PAGE_SIZE
        with open(path, "rb") as f:
            f.seek(offset)
            piece = f.read(PAGE_SIZE)
        out[k, :len(piece)] = np.frombuffer(piece, np.uint8)
    return out


#: What :func:`random_operations` draws, with its default weights.
DEFAULT_MIX = {
    "real": 0.50,           # a page of the installation (text, machine code)
    "mixed": 0.12,          # a real page with a random tail: sizes up to and past huge
    "random": 0.06,         # incompressible: stored uncompressed (huge)
    "zeros": 0.03,          # same-filled with word 0
    "word": 0.03,           # same-filled with a non-zero word
    "discard": 0.22,
    "compact": 0.04,
}


def random_operations(count, seed=0, *, indices=256, first_index=0, pages=None, mix=None):
    """A seeded sequence of zram operations over real pages, for zbudjit.kernel.zram.record.

    Parameters
    ----------
    count : int
        Operations.
    seed : int
    indices : int, default 256
        Page indices used: ``first_index`` to ``first_index + indices - 1``. Small, so most
        writes are overwrites and discards usually hit a stored page.
    first_index : int, default 0
    pages : numpy.ndarray, optional
        ``(n, 4096)`` ``uint8`` real pages to draw from; by default 512 of :func:`real_pages`.
    mix : dict, optional
        Weights by kind (see :data:`DEFAULT_MIX`; missing kinds weigh 0).

    Returns
    -------
    list of tuple
        ``("write", index, bytes)``, ``("discard", index)`` and ``("compact",)``.
    """
    rng = np.random.default_rng(seed)
    if pages is None:
        pages = real_pages(512, seed)
    mix = dict(DEFAULT_MIX if mix is None else mix)
    kinds = list(mix)
    weights = np.array([mix[k] for k in kinds], float)
    if weights.min() < 0 or weights.sum() <= 0:
        raise ValueError(f"mix weights must be >= 0 with a positive sum, got {mix}")
    draws = rng.choice(len(kinds), size=count, p=weights / weights.sum())
    ops = []
    for draw in draws:
        kind = kinds[draw]
        index = first_index + int(rng.integers(indices))
        if kind == "discard":
            ops.append(("discard", index))
        elif kind == "compact":
            ops.append(("compact",))
        else:
            if kind == "real":
                page = pages[int(rng.integers(len(pages)))].tobytes()
            elif kind == "mixed":
                keep = int(rng.integers(PAGE_SIZE))
                page = pages[int(rng.integers(len(pages)))].tobytes()[:keep] \
                    + rng.bytes(PAGE_SIZE - keep)
            elif kind == "random":
                page = rng.bytes(PAGE_SIZE)
            elif kind == "zeros":
                page = bytes(PAGE_SIZE)
            elif kind == "word":
                word = int(rng.integers(1, 1 << 63)).to_bytes(8, "little")
                page = word * (PAGE_SIZE // 8)
            else:
                raise ValueError(f"unknown kind {kind!r} in mix")
            ops.append(("write", index, page))
    return ops


# ---------------------------------------------------------------------------------------------
# The check

WRITE_MIX = {kind: weight for kind, weight in DEFAULT_MIX.items()
             if kind not in ("discard", "compact")}
MISMATCHES_KEPT = 20            # mismatches a result lists (the count is always exact)


@dataclass
class Phase:
    """One phase of a check: its operations ``[start, stop)`` of the recording, and mm_stat after
    its last one in the kernel, in the model fed the kernel's sizes, and in the model fed a
    user-space compressor's sizes (None without that pass)."""

    name: str
    start: int
    stop: int
    kernel: MmStat
    model: MmStat
    user_space: MmStat | None = None


@dataclass
class CheckResult:
    """What :func:`kernel_check` found.

    ``matched`` is True when every one of the nine mm_stat fields of the model equalled the
    kernel's after every operation; ``mismatches`` then is empty, and otherwise holds the first
    :data:`MISMATCHES_KEPT` as ``(operation, op name, field, kernel, model)``, with
    ``mismatch_count`` all of them (operation x field). ``size_error`` compares the user-space
    compressor's size of each page written with the kernel's, over pages the kernel stored
    compressed (``pages``, ``differing``, ``mean_abs``, ``max_abs``, ``mean_signed`` in bytes).
    """

    compressor: str
    seed: int
    records: np.ndarray = field(repr=False)
    phases: list
    matched: bool
    mismatch_count: int
    mismatches: list
    user_space_compressor: str | None = None
    size_error: dict | None = None
    user_space_rows: np.ndarray | None = field(default=None, repr=False)


def _phases(operations, seed, indices, pages):
    """The operations of each phase of :data:`PHASES`, as ``record()`` takes them."""
    rng = np.random.default_rng(seed)
    fill = [("write", i, op[2]) for i, op in enumerate(
        random_operations(indices, seed, indices=indices, pages=pages, mix=WRITE_MIX))]
    overwrite = random_operations(max(operations // 4, 1), seed + 1, indices=indices,
                                  pages=pages, mix=WRITE_MIX)
    discard = [("discard", int(i)) for i in rng.choice(indices, max(indices // 3, 1),
                                                        replace=False)] + [("compact",)]
    rest = max(operations - len(fill) - len(overwrite) - len(discard) - 1, 1)
    mixed = random_operations(rest, seed + 2, indices=indices, pages=pages)
    return [fill, overwrite, discard, mixed, [("compact",)]]


def _model(compressor, disksize):
    from ..frontends.zram import Zram
    return Zram(disksize, compressor=compressor, keep_data=False)


def _replay_rows(records, comp_lens, compressor, disksize):
    _, rows = _model(compressor, disksize).replay(records["op"], records["index"], comp_lens,
                                                  record=True)
    return rows


def _kernel_rows(records):
    return np.stack([records[name] for name in MM_STAT_FIELDS], axis=1)


def user_space_sizes(records, pages, compressor):
    """What a user-space compressor gives each write's page, as the records count sizes: 0 for a
    same-filled page, the compressed length otherwise (-1 for the other operations).
    ``pages[i]`` is the page of record ``i`` (any row for the others)."""
    from ..compressors import get_compressor
    lengths = np.full(records.size, -1, np.int64)
    writes = np.flatnonzero(records["op"] == OP_WRITE)
    if writes.size:
        _, offsets = get_compressor(compressor).compress(np.ascontiguousarray(pages[writes]))
        lengths[writes] = np.where(records["same"][writes], 0, np.diff(offsets))
    return lengths


def kernel_check(operations=2000, seed=0, compressor="lzo-rle", indices=256, user_space=True):
    """Hold :class:`zbudjit.Zram` against a private device of the running kernel.

    Parameters
    ----------
    operations : int
        About how many operations in all (at least the ``indices`` writes of the fill phase).
    seed : int
        Chooses the pages and the sequence.
    compressor : str
        The kernel's algorithm (``comp_algorithm``), which must also be a zbudjit compressor for
        the user-space pass.
    indices : int
        Page indices used; few, so most writes are overwrites.
    user_space : bool
        Also run the second pass: the model fed the user-space compressor's sizes.

    Returns
    -------
    CheckResult

    Raises
    ------
    zbudjit.kernel.zram.ZramUnavailable
        Without root or zram (the message says which).
    """
    phase_ops = _phases(operations, seed, indices, real_pages(512, seed))
    flat = [op for ops in phase_ops for op in ops]
    disksize = max(indices, 256) * PAGE_SIZE
    with ZramDevice(disksize, compressor) as device:
        records = record(device, flat)
    kernel = _kernel_rows(records)
    model = _replay_rows(records, records["comp_len"], compressor, disksize)
    differ = kernel != model
    mismatches = [(int(i), OP_NAMES[records["op"][i]], MM_STAT_FIELDS[j], int(kernel[i, j]),
                   int(model[i, j])) for i, j in np.argwhere(differ)[:MISMATCHES_KEPT]]
    result = CheckResult(compressor, seed, records, [], not differ.any(),
                         int(np.count_nonzero(differ)), mismatches)
    user_rows = None
    if user_space:
        page_of = np.zeros((len(flat), PAGE_SIZE), np.uint8)
        for i, op in enumerate(flat):
            if op[0] == "write":
                page_of[i] = np.frombuffer(op[2], np.uint8)
        lengths = user_space_sizes(records, page_of, compressor)
        user_rows = _replay_rows(records, np.maximum(lengths, 0), compressor, disksize)
        stored = (records["op"] == OP_WRITE) & ~records["same"] \
            & (records["comp_len"] < HUGE_CLASS_SIZE)
        error = lengths[stored] - records["comp_len"][stored]
        result.user_space_compressor = compressor
        result.user_space_rows = user_rows
        result.size_error = {"pages": int(stored.sum()),
                             "differing": int(np.count_nonzero(error)),
                             "mean_abs": float(np.abs(error).mean()) if error.size else 0.0,
                             "max_abs": int(np.abs(error).max()) if error.size else 0,
                             "mean_signed": float(error.mean()) if error.size else 0.0}
    start = 0
    for (name, _), ops in zip(PHASES, phase_ops):
        stop = start + len(ops)
        last = stop - 1
        result.phases.append(Phase(name, start, stop, MmStat(*kernel[last].tolist()),
                                   MmStat(*model[last].tolist()),
                                   None if user_rows is None
                                   else MmStat(*user_rows[last].tolist())))
        start = stop
    return result


# ---------------------------------------------------------------------------------------------
# Trace files

def save_trace(records, path):
    """Write a recording (:data:`~zbudjit.kernel.zram.RECORD_DTYPE`) as a zram trace: ``.csv``
    (a header of the field names; ``op`` as write/discard/compact, ``same`` as 0/1) or ``.npz``
    (one array a field)."""
    records = np.asarray(records)
    if records.dtype != RECORD_DTYPE:
        raise TypeError(f"records must have RECORD_DTYPE, got {records.dtype}")
    path = os.fspath(path)
    kind = os.path.splitext(path)[1].lower()
    if kind == ".npz":
        np.savez_compressed(path, **{name: records[name] for name in RECORD_DTYPE.names})
    elif kind == ".csv":
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(RECORD_DTYPE.names)
            for row in records.tolist():
                writer.writerow((OP_NAMES[row[0]], *row[1:3], int(row[3]), *row[4:]))
    else:
        raise ValueError(f"{path}: a zram trace is .csv or .npz")


def is_zram_trace(path):
    """Whether ``path`` (.csv or .npz) holds a zram trace (it has a ``comp_len`` column) rather
    than a pool trace of op, id, size. Unreadable files say False (the loader then says why)."""
    path = os.fspath(path)
    try:
        if path.lower().endswith(".npz"):
            with zipfile.ZipFile(path) as archive:
                return "comp_len.npy" in archive.namelist()
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            for line in f:
                if line.strip() and not line.lstrip().startswith("#"):
                    return "comp_len" in [cell.strip().strip('"').lower()
                                          for cell in line.split(",")]
    except (OSError, zipfile.BadZipFile):
        return False
    return False


def load_trace(path):
    """A zram trace written by :func:`save_trace` (or by hand: the columns ``op``, ``index``
    and ``comp_len`` are needed; ``same`` defaults to comp_len == 0, and the mm_stat columns, when
    all present, are kept for checking). Returns ``(records, has_mm_stat)``.

    Raises
    ------
    zbudjit.TraceError
        A damaged file or records that break the rules, naming the file and line or record.
    """
    from ..replay import TraceError
    path = os.fspath(path)
    columns = {}
    try:
        if path.lower().endswith(".npz"):
            with np.load(path, allow_pickle=False) as archive:
                columns = {name: archive[name] for name in archive.files}
            where = lambda i: f"{path}: record {i}"            # noqa: E731
        else:
            with open(path, newline="", encoding="utf-8-sig") as f:
                reader = csv.reader(f)
                rows, lines = [], []
                for row in reader:
                    if any(cell.strip() for cell in row) and not row[0].lstrip().startswith("#"):
                        rows.append(row)
                        lines.append(reader.line_num)
            if not rows:
                raise TraceError(f"{path}: no header row")
            header = [cell.strip().lower() for cell in rows[0]]
            body = rows[1:]
            for k, name in enumerate(header):
                # an empty field: -1, as an operation without an index or a size has
                columns[name] = [(row[k].strip() if k < len(row) else "") or "-1" for row in body]
            ops = [OP_NAMES.index(v.lower()) if v.lower() in OP_NAMES else -1
                   for v in columns.get("op", [])]
            for i, op in enumerate(ops):
                if op < 0:
                    raise TraceError(f"{path}: line {lines[i + 1]}: op {columns['op'][i]!r} is "
                                     f"not one of {', '.join(OP_NAMES)}")
            columns["op"] = ops
            where = lambda i: f"{path}: line {lines[i + 1]}"   # noqa: E731
    except TraceError:
        raise
    except (OSError, UnicodeDecodeError, csv.Error, zipfile.BadZipFile, ValueError) as error:
        if isinstance(error, FileNotFoundError | PermissionError):
            raise
        raise TraceError(f"{path}: not a readable zram trace ({error})") from None
    missing = [name for name in ("op", "index", "comp_len") if name not in columns]
    if missing:
        raise TraceError(f"{path}: a zram trace needs the columns op, index and comp_len; "
                         f"{', '.join(missing)} missing")
    n = len(columns["op"])
    records = np.zeros(n, RECORD_DTYPE)
    has_mm_stat = all(name in columns for name in MM_STAT_FIELDS)
    for name in ("op", "index", "comp_len") + (MM_STAT_FIELDS if has_mm_stat else ()):
        values = columns[name]
        if len(values) != n:
            raise TraceError(f"{path}: column {name} has {len(values)} values, not {n}")
        try:
            records[name] = np.asarray(values).astype(np.int64)
        except (ValueError, OverflowError):
            bad = next(i for i, v in enumerate(values) if not _is_int(v))
            raise TraceError(f"{where(bad)}: {name} {values[bad]!r} is not an integer") from None
    records["same"] = (np.asarray(columns["same"]).astype(np.int64) > 0) if "same" in columns \
        else (records["comp_len"] == 0) & (records["op"] == OP_WRITE)
    _check_records(records, where)
    return records, has_mm_stat


def _is_int(value):
    try:
        int(value)
    except (TypeError, ValueError):
        return False
    return True


def _check_records(records, where):
    from ..replay import TraceError
    writes = records["op"] == OP_WRITE
    rules = [(records["op"] > OP_COMPACT, "op is not write, discard or compact"),
             ((records["op"] != OP_COMPACT) & (records["index"] < 0), "index is negative"),
             (writes & ((records["comp_len"] < 0) | (records["comp_len"] > 2 * PAGE_SIZE)),
              f"a write's comp_len must be 0 to {2 * PAGE_SIZE}"),
             (writes & records["same"] & (records["comp_len"] != 0),
              "a same-filled write has comp_len 0")]
    for broken, rule in rules:
        if broken.any():
            raise TraceError(f"{where(int(np.argmax(broken)))}: {rule}")
