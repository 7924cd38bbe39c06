"""Trace replay: run a recorded sequence of allocations and frees through a :class:`~zbudjit.Pool`.

A trace is a sequence of records ``(op, id, size)``: ``ALLOC`` stores an object of ``size`` bytes
under the caller's object ``id`` (replacing the object already stored under that id, if any), and
``FREE`` drops the object stored under ``id``. Ids are the caller's names for objects (a swap
offset, say): non-negative integers, as sparse as you like. :func:`replay` applies a trace to a pool
exactly as if the records were applied one at a time in order, but in batches, and samples the
pool's statistics as it goes; :func:`synthetic_trace` makes a zswap-like one.

File formats (:func:`load_trace` and :func:`save_trace` choose by suffix)
-------------------------------------------------------------------------
``.csv``
    UTF-8 text (a leading byte-order mark is allowed), read with Python's :mod:`csv` module: a
    header row naming the columns ``op``, ``id`` and ``size`` (in any order, any case; other
    columns are ignored), then one record per row::

        # a comment line
        op,id,size
        alloc,17,1234
        "free","17",

    Fields may be quoted, and spaces around them are ignored. ``op`` is ``alloc`` / ``free``, or
    ``a`` / ``f``, or ``store`` / ``invalidate``, in any case. ``size`` is the object's size in
    bytes for an alloc (at least 1); for a free it may be empty and is ignored. Blank lines and
    comment lines (whose first character other than a space is ``#``) are skipped, before the
    header too; they still count in line numbers.
``.npz``
    A NumPy archive with three 1-D arrays of equal length: ``op`` (uint8 codes ``ALLOC = 0``,
    ``FREE = 1``, or the names above as strings), ``id`` and ``size`` (integers).

Errors
------
A damaged or malformed file, and records that break the rules above, raise :class:`TraceError`
(a ValueError) naming the file and the line (CSV) or record (NPZ) and what is wrong, whatever the
bytes: never the UnicodeDecodeError, csv.Error or zipfile error underneath. A missing or unreadable
file raises the OSError of opening it (FileNotFoundError, PermissionError), and a path with neither
suffix a plain ValueError. Whether each size fits the pool is checked by :func:`replay`, since it
depends on the pool.
"""

import csv
import gc
import io
import math
import time
import zipfile
from contextlib import contextmanager
from dataclasses import InitVar, dataclass
from pathlib import Path

import numpy as np
from numba import njit
from tqdm import tqdm

from .engine.tables import handle_slots
from .errors import PoolFullError
from .pool import Stats
from .workloads import compressed_page_sizes

ALLOC = 0
FREE = 1
TIME_LABEL = "operations replayed"
OP_NAMES = {"alloc": ALLOC, "a": ALLOC, "store": ALLOC, "free": FREE, "f": FREE, "invalidate": FREE}
COLUMNS = ("op", "id", "size")
TIMELINE_KEYS = ("time", "pool_pages", "density", "objects", "bytes_stored", "evicted",
                 "limit_pages")
_NOT_AN_OP = 255
SHOWN_FIELD = 40
"""Characters of a bad field quoted in a message; a longer field is cut, so that a damaged file
gives a message of one readable line."""


class TraceError(ValueError):
    """A trace breaks the trace rules, or a trace file is damaged or malformed.

    The message names where: the file and its line (CSV) or record (NPZ), or the record of a trace
    made in memory.
    """


class _Origin:
    """Where each record of a trace came from, for messages: ``record 6`` (a trace made in
    memory), ``t.npz: record 6`` or ``t.csv: line 8``.

    ``prefix`` starts messages about the whole trace (its arrays' shapes, their dtypes). A plain
    class rather than a closure, so that a trace read from a file can still be pickled.
    """

    def __init__(self, path=None, lines=None):
        self.path, self.lines = path, lines
        self.prefix = "" if path is None else f"{path}: "

    def __call__(self, i):
        place = f"record {i}" if self.lines is None else f"line {self.lines[i]}"
        return self.prefix + place


# ---------------------------------------------------------------------------------------------
# Traces and their validation


@dataclass(frozen=True)
class Trace:
    """A sequence of ``(op, id, size)`` records.

    Parameters
    ----------
    ops : array_like
        ``ALLOC`` (0) or ``FREE`` (1) per record; the names accepted in CSV files work too.
    ids : array_like of int
        The caller's object id per record, ``>= 0``.
    sizes : array_like of int
        Bytes for an ALLOC (``>= 1``; the upper bound depends on the pool, so :func:`replay`
        checks it). Ignored for a FREE and stored as 0.

    The arrays are converted to ``uint8`` / ``int64`` / ``int64``. Records that break the rules
    above, or arrays of different lengths, raise :class:`TraceError` (a ValueError) naming the
    record (``where(i)``, if given, says where record ``i`` came from instead: a file reader passes
    one naming lines; :meth:`origin` answers with it later).
    """

    ops: np.ndarray
    ids: np.ndarray
    sizes: np.ndarray
    where: InitVar[object] = None

    def __post_init__(self, where):
        where = _Origin() if where is None else where
        checked = _checked_records(self.ops, self.ids, self.sizes, where)
        for name, values in zip(("ops", "ids", "sizes"), checked):
            object.__setattr__(self, name, values)      # how a frozen dataclass sets its fields
        object.__setattr__(self, "_origin", where)      # not a field: traces compare by records

    def __len__(self):
        return int(self.ops.size)

    def origin(self, i):
        """Where record ``i`` came from, as messages name it: ``"record 6"`` for a trace made in
        memory, ``"t.csv: line 8"`` or ``"t.npz: record 6"`` for one read by :func:`load_trace`."""
        return self._origin(i)

    def peak_live(self):
        """The most ids live at once while the trace is replayed (an upper bound on zbud's pages
        for it, since an object never takes more than one page)."""
        _, live_before, _ = _id_history(self)
        # each ALLOC of an id not yet live adds one, each FREE takes one away
        step = np.where(self.ops == ALLOC, (~live_before).astype(np.int64), -1)
        return int(max(np.cumsum(step).max(initial=0), 0))


def _checked_records(ops, ids, sizes, where):
    """The three columns as uint8 / int64 / int64 arrays, or ValueError at the first bad record.

    ``where(i)`` says where record ``i`` came from ("line 7" of a file, "record 6" of a trace);
    its ``prefix``, if it has one, starts the messages about whole arrays.
    """
    prefix = getattr(where, "prefix", "")
    columns = dict(zip(COLUMNS, map(np.asarray, (ops, ids, sizes))))
    for name, values in columns.items():
        if values.ndim != 1:
            raise TraceError(f"{prefix}{name} must be a 1-D array, got shape {values.shape}")
    if len({values.size for values in columns.values()}) > 1:
        raise TraceError(prefix + "ragged lengths: " + ", ".join(
            f"{name} has {values.size} records" for name, values in columns.items()))
    ops = _op_codes(columns["op"], where, prefix)
    ids = _int64_column(columns["id"], "id", where, prefix)
    sizes = _int64_column(columns["size"], "size", where, prefix, ignore=ops == FREE)
    bad = np.flatnonzero((ids < 0) | ((ops == ALLOC) & (sizes < 1)))
    if bad.size:
        i = bad[0]
        if ids[i] < 0:
            raise TraceError(f"{where(i)}: negative id {ids[i]}")
        raise TraceError(f"{where(i)}: alloc size {sizes[i]} is not a positive number of bytes")
    return ops, ids, sizes


def _op_codes(values, where, prefix=""):
    """The op column, an array of codes or names or a list of names (a CSV column), as uint8."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        ops = np.where((values == ALLOC) | (values == FREE), values, _NOT_AN_OP).astype(np.uint8)
    elif isinstance(values, list) or values.dtype.kind in "US":
        names = values if isinstance(values, list) else values.tolist()
        # a million names have a few distinct spellings: look each up once, not sort them all
        codes = {name: OP_NAMES.get(_text(name).strip().lower(), _NOT_AN_OP) for name in set(names)}
        ops = np.fromiter(map(codes.__getitem__, names), np.uint8, len(names))
    else:
        raise TraceError(f"{prefix}op must hold integer codes ({ALLOC} = alloc, {FREE} = free) or "
                         f"names, not {values.dtype}")
    bad = np.flatnonzero(ops == _NOT_AN_OP)
    if bad.size:
        raise TraceError(f"{where(bad[0])}: unknown op {_shown(_text(values[bad[0]]))} (expected "
                         f"alloc/free, a/f, store/invalidate, or the codes {ALLOC}/{FREE})")
    return ops


def _int64_column(values, name, where, prefix="", ignore=None):
    """An integer column as int64; TraceError for non-integers or values beyond int64. Records
    where ``ignore`` is True (a FREE's size) read as 0, whatever they hold."""
    if values.size == 0:
        return np.empty(0, np.int64)        # np.asarray([]) is float64: an empty list is fine
    if values.dtype.kind not in "iu":
        raise TraceError(f"{prefix}{name} must hold integers, not {values.dtype}")
    if ignore is not None:
        values = np.where(ignore, 0, values)
    too_big = np.flatnonzero(values > np.iinfo(np.int64).max)
    if too_big.size:
        raise TraceError(f"{where(too_big[0])}: {name} {values[too_big[0]]} is too large "
                         "(over 2**63 - 1)")
    return values.astype(np.int64)


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _shown(text):
    """``text`` quoted for a message, cut to :data:`SHOWN_FIELD` characters."""
    text = str(text).strip()
    if len(text) <= SHOWN_FIELD:
        return repr(text)
    return f"{text[:SHOWN_FIELD]!r}... ({len(text):,} characters)"


# ---------------------------------------------------------------------------------------------
# Files


def _format(path):
    suffix = Path(path).suffix.lower()
    if suffix not in (".csv", ".npz"):
        raise ValueError(f"{path}: unknown trace format {suffix or '(no suffix)'!r}; use .csv or .npz")
    return suffix


def load_trace(path):
    """Read a trace from a ``.csv`` or ``.npz`` file (see the module docstring for the formats).

    Returns
    -------
    Trace
        Its :meth:`Trace.origin` names the file and line (CSV) or record (NPZ) of each record.

    Raises
    ------
    TraceError
        A damaged or malformed file (a ValueError): the message names the file, the line (CSV) or
        record (NPZ) and what is wrong.
    OSError
        ``path`` cannot be opened (FileNotFoundError, PermissionError, IsADirectoryError).
    ValueError
        ``path`` ends in neither ``.csv`` nor ``.npz``.
    """
    return _load_csv(path) if _format(path) == ".csv" else _load_npz(path)


def _load_csv(path):
    with open(path, "rb") as csv_file:
        raw = csv_file.read()
    try:
        text = raw.decode("utf-8-sig")                 # a byte-order mark is no part of the header
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise TraceError(f"{path}: line {line}: not a text file (byte {raw[error.start]:#04x} "
                         f"at offset {error.start:,} is not UTF-8)") from None
    del raw
    # A list per row, a million rows: the garbage collector would walk them over and over, and
    # take four times as long as the parsing itself
    with _collector_paused():
        header, header_line, rows, numbers = _csv_rows(path, text)
        where = _Origin(path, np.array(numbers, np.int64))
        widths = np.fromiter(map(len, rows), np.int64, len(rows))
        wrong = np.flatnonzero(widths != len(header))
        if wrong.size:
            i = wrong[0]
            raise TraceError(f"{where(i)}: expected {len(header)} fields ({','.join(header)}), "
                             f"got {widths[i]}")
        fields = dict(zip(header, zip(*rows))) if rows else dict.fromkeys(header, ())
        del rows
        ops = _op_codes(list(fields["op"]), where)
        sizes = [text if op == ALLOC else "0" for text, op in zip(fields["size"], ops.tolist())]
        ids, sizes = _parse_ints(fields["id"], "id", where), _parse_ints(sizes, "size", where)
    return Trace(ops, ids, sizes, where)


def _csv_rows(path, text):
    """``(header, its line number, rows, their line numbers)`` of a CSV trace's text: the header
    lower-cased and stripped, and every row that is not blank or a comment, as the csv module
    splits it."""
    lines = io.StringIO(text, newline="")
    if "#" in text:
        # comment lines become blank lines rather than vanish, so that the reader's line numbers
        # stay the file's
        lines = ("\n" if line.lstrip().startswith("#") else line for line in lines)
    reader = csv.reader(lines, skipinitialspace=True)
    header, header_line, rows, numbers = None, 0, [], []
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):       # a blank line
                continue
            if header is None:
                header, header_line = [name.strip().lower() for name in row], reader.line_num
            else:
                rows.append(row)
                numbers.append(reader.line_num)
    except csv.Error as error:                          # a field over the csv module's size limit
        raise TraceError(f"{path}: line {reader.line_num}: not readable as CSV "
                         f"({error})") from None
    if header is None:
        raise TraceError(f"{path}: empty file (no header row); expected a header line "
                         "'op,id,size'")
    for name in COLUMNS:
        if header.count(name) != 1:
            problem = "missing" if name not in header else "repeated"
            raise TraceError(f"{path}: line {header_line}: {problem} column {name!r}; the header "
                             f"must name the columns op,id,size (got {_shown(','.join(header))})")
    return header, header_line, rows, numbers


@contextmanager
def _collector_paused():
    """Within the block, no garbage collection (after it, as it was before)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _parse_ints(texts, name, where):
    """Decimal integers as int64. The whole column is converted at once; only if that fails does
    a slow pass find the first bad line, so that the message can name it."""
    try:
        return np.fromiter(map(int, texts), np.int64, len(texts))
    except (ValueError, OverflowError):
        pass
    for i, text in enumerate(texts):
        if not text.strip():
            raise TraceError(f"{where(i)}: {name} is missing")
        try:
            value = int(text)
        except ValueError:
            raise TraceError(f"{where(i)}: {name} {_shown(text)} is not an integer") from None
        if not -2 ** 63 <= value < 2 ** 63:
            raise TraceError(f"{where(i)}: {name} {text.strip()} is out of range")
    raise AssertionError("a column that did not convert had no bad line")


NPY_MAGIC = b"\x93NUMPY"


def _load_npz(path):
    with open(path, "rb") as npz_file:                  # OSErrors of opening the file are its own
        try:
            archive = zipfile.ZipFile(npz_file)
        except Exception as error:      # zipfile fails in many ways on bytes that are not a zip
            npz_file.seek(0)
            if npz_file.read(len(NPY_MAGIC)) == NPY_MAGIC:
                raise TraceError(f"{path}: a single .npy array, not an .npz archive of op, id "
                                 "and size") from None
            raise TraceError(f"{path}: not a readable .npz archive ({_reason(error)})") from None
        with archive:
            members = {}
            try:
                for info in archive.infolist():
                    members.setdefault(info.filename.removesuffix(".npy"), info)
            except Exception as error:
                raise TraceError(f"{path}: not a readable .npz archive ({_reason(error)})") \
                    from None
            missing = [name for name in COLUMNS if name not in members]
            if missing:
                raise TraceError(f"{path}: missing array {missing[0]!r}; an .npz trace holds "
                                 f"arrays op, id and size (found {sorted(members)[:10]})")
            columns = [_npz_array(path, archive, members[name], name) for name in COLUMNS]
    return Trace(*columns, where=_Origin(path))


def _npz_array(path, archive, info, name):
    """One array of an .npz archive. The header's shape is checked against the bytes that follow
    it before any array is made, so that a damaged header cannot ask for terabytes."""
    try:
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read_header is None:
                raise ValueError(f"unsupported .npy format version {version}")
            shape, fortran_order, dtype = read_header(member)
            if dtype.hasobject:
                raise ValueError(f"array {name!r} holds Python objects (a pickle)")
            data = member.read()
        expected = math.prod(shape) * dtype.itemsize
        if len(data) != expected:
            raise ValueError(f"array {name!r} of shape {shape} needs {expected:,} bytes, the "
                             f"archive holds {len(data):,}")
        if dtype.itemsize == 0:
            return np.zeros(shape, dtype)
        return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran_order else "C")
    except MemoryError:
        raise
    except Exception as error:          # zipfile, zlib and numpy's header parser alike
        raise TraceError(f"{path}: cannot read the arrays ({_reason(error)})") from None


def _reason(error):
    """An exception of a library underneath, in words for a message: its own, cut short."""
    text = str(error) or type(error).__name__
    return text if len(text) <= 200 else text[:200] + "..."


def save_trace(trace, path):
    """Write ``trace`` to a ``.csv`` or ``.npz`` file (chosen by suffix), replacing ``path``.

    CSV writes ops as ``alloc`` / ``free`` and leaves a free's size empty; NPZ stores uint8 op
    codes and int64 ids and sizes, compressed.
    """
    if not isinstance(trace, Trace):
        raise TypeError(f"trace must be a Trace, not {type(trace).__name__}")
    if _format(path) == ".npz":
        with open(path, "wb") as npz_file:          # a file object: numpy adds no suffix of its own
            np.savez_compressed(npz_file, op=trace.ops, id=trace.ids, size=trace.sizes)
        return
    with open(path, "w", encoding="utf-8", newline="") as csv_file:
        csv_file.write("op,id,size\n")
        records = zip(trace.ops.tolist(), trace.ids.tolist(), trace.sizes.tolist())
        csv_file.writelines(f"alloc,{i},{s}\n" if op == ALLOC else f"free,{i},\n"
                            for op, i, s in records)


# ---------------------------------------------------------------------------------------------
# Replay


@dataclass(frozen=True)
class ReplayResult:
    """What :func:`replay` did.

    Attributes
    ----------
    timeline : dict
        Equal-length arrays sampled during the replay: ``"time"`` (records replayed, strictly
        increasing, the last one the final state), ``"pool_pages"`` (pages used), ``"density"``,
        ``"objects"`` and ``"bytes_stored"`` (the whole pool's), ``"evicted"`` (objects reclaimed
        so far, cumulative; zeros unless ``on_full="reclaim"``), ``"limit_pages"`` (the pool's
        size in pages, the most it can use); and ``"time_label"``, the string
        ``"operations replayed"``.
    final : Stats
        The pool's statistics at the end.
    ops : int
        Records replayed.
    seconds : float
        Wall time of the replay (validation, batches, samples and verification).
    evicted : int
        Objects written back by reclaim in all.
    verified : bool or None
        With ``write=True``: every live object, and every object offered to reclaim's writeback,
        held its id's pattern. None without ``write``.
    live_ids, handles : numpy.ndarray
        The trace ids live at the end (sorted, int64) and their handles (uint64).
    """

    timeline: dict
    final: Stats
    ops: int
    seconds: float
    evicted: int
    verified: object
    live_ids: np.ndarray
    handles: np.ndarray


def _id_history(trace):
    """Dense id per record, whether its id is live just before it, and the distinct ids (sorted).

    An id is live before record ``i`` exactly when its previous record is an ALLOC (ids start not
    live), so one stable sort by id answers it for the whole trace without simulating it.
    """
    order = np.argsort(trace.ids, kind="stable")
    by_id = trace.ids[order]
    first_of_id = np.ones(by_id.size, bool)            # the record is its id's first
    first_of_id[1:] = by_id[1:] != by_id[:-1]
    dense = np.empty(by_id.size, np.int64)
    dense[order] = np.cumsum(first_of_id) - 1
    live_before = np.zeros(by_id.size, bool)
    live_before[order[1:]] = ~first_of_id[1:] & (trace.ops[order[:-1]] == ALLOC)
    return dense, live_before, by_id[first_of_id]


class _Replayer:
    """One replay: the trace as pool ops cut into batches, each id's handle, the samples so far.

    Each record is one pool op, but a replacing ALLOC is two: its free must happen between the
    previous record and its alloc to keep one-at-a-time placement. Runs of ops of one kind go to
    the pool as one batch, also cut where a sample is due.
    """

    def __init__(self, trace, pool, samples, on_full, write, reclaim_to, started):
        self.trace, self.pool, self.started = trace, pool, started
        self.on_full, self.write, self.reclaim_to = on_full, write, reclaim_to
        ops, sizes, n = trace.ops, trace.sizes, len(trace)
        dense, live_before, self.unique_ids = _id_history(trace)
        bad = np.flatnonzero(((ops == FREE) & ~live_before) | ((ops == ALLOC) & (sizes > pool.max_size)))
        if bad.size:
            i = bad[0]
            if ops[i] == FREE:
                raise TraceError(f"{trace.origin(i)}: free of id {trace.ids[i]}, which is not "
                                 "live (never allocated, or already freed); the pool was not "
                                 "touched")
            raise ValueError(f"{trace.origin(i)}: size {sizes[i]} is out of range "
                             f"1..{pool.max_size} for this pool; the pool was not touched")

        self.replacing = (ops == ALLOC) & live_before
        first_op = np.zeros(n + 1, np.int64)                  # each record's first pool op
        np.cumsum(1 + self.replacing, out=first_op[1:])
        self.record = np.repeat(np.arange(n, dtype=np.int64), 1 + self.replacing)   # op -> record
        self.kind = ops[self.record]
        self.kind[first_op[:-1][self.replacing]] = FREE
        self.dense, self.size = dense[self.record], sizes[self.record]

        # sample after ceil(k n / samples) records, k = 1 .. samples: evenly spaced, the last at n
        samples = min(samples, n)
        times = -(-np.arange(1, samples + 1, dtype=np.int64) * n // samples) if n else [0]
        sampled = first_op[times]
        self.sample_at = set(sampled.tolist())
        changes = np.flatnonzero(self.kind[1:] != self.kind[:-1]) + 1
        self.cuts = np.unique(np.concatenate([[0, self.record.size], changes, sampled]))

        self.handle_of = np.zeros(self.unique_ids.size, np.uint64)       # per dense id; 0: not live
        self.slot_owner = np.zeros(0, np.int64)      # dense id per handle slot, for reclaim
        self.evicted = 0
        self.mismatches = 0
        self.rows = []

    def run(self, bar):
        if not len(self.trace):
            self.sample(0)
        cuts = self.cuts.tolist()
        # done[j]: records complete once the ops before cut j are (the record of the op at j)
        done = np.append(self.record[cuts[:-1]], len(self.trace)).tolist()
        for j, kind in enumerate(self.kind[cuts[:-1]].tolist()):
            (self.alloc if kind == ALLOC else self.free)(cuts[j], cuts[j + 1])
            if cuts[j + 1] in self.sample_at:
                self.sample(done[j + 1])
            bar.update(done[j + 1] - done[j])

    def free(self, start, end):
        dense = self.dense[start:end]
        handles = self.handle_of[dense]
        if self.on_full == "reclaim":
            handles = handles[handles != 0]     # 0: reclaim evicted it; freeing it is a no-op
        self.pool.free(handles)
        self.handle_of[dense] = 0

    def alloc(self, start, end):
        """Allocate pool ops ``start:end``. A batch behaves as its elements one at a time, so when
        element ``index`` finds the pool full, the ones before it are applied as one batch, then
        room is made for it (or the replay fails) and the rest are retried."""
        while True:
            try:
                return self._alloc_batch(start, end)
            except PoolFullError as full:     # no index: a full handle table fails them all
                failed = start + getattr(full, "index", 0)
            if failed > start:
                self._alloc_batch(start, failed)
            self._make_room(failed)
            start = failed

    def _alloc_batch(self, start, end):
        dense = self.dense[start:end]
        if self.write:
            handles = self.pool.store(*_pattern(self.unique_ids[dense], self.size[start:end]))
        else:
            handles = self.pool.alloc(self.size[start:end])
        self.handle_of[dense] = handles
        if self.on_full == "reclaim":
            owner_of_slot, slots = self._slot_table(handles)
            owner_of_slot[slots] = dense

    def _slot_table(self, handles):
        """The slot -> dense id table, grown to hold the handles' slots, and those slots. It finds
        the ids of evicted handles in O(evicted); searching ``handle_of`` would cost O(ids) each
        reclaim."""
        slots = handle_slots(handles)
        top = int(slots.max(initial=-1)) + 1
        if top > self.slot_owner.size:
            self.slot_owner = np.concatenate([self.slot_owner,
                                              np.zeros(2 * top - self.slot_owner.size, np.int64)])
        return self.slot_owner, slots

    def _make_room(self, position):
        """Pool op ``position`` does not fit: reclaim, or raise in "error" mode."""
        record = int(self.record[position])
        if self.on_full == "error":
            self._fail(record)
        n_pages = max(1, self.pool.pages_used - math.floor(self.reclaim_to * self.pool.pages_total))
        offered = []        # writeback keeps what it is offered; answering None, it takes it all
        reclaimed = self.pool.reclaim(n_pages, lambda *objects: offered.append(objects))
        if reclaimed.pages_freed == 0:
            self._fail(record, "; reclaim could not free a page")
        self.evicted += reclaimed.evicted.size
        # only an id holding the very handle was evicted: other objects are the caller's own
        owner_of_slot, slots = self._slot_table(reclaimed.evicted)
        owners = owner_of_slot[slots]
        ours = self.handle_of[owners] == reclaimed.evicted
        if self.write:
            _, data, offsets = offered[0]
            ids = np.where(ours, self.unique_ids[owners], -1)
            self.mismatches += _pattern_mismatches(ids, data, offsets)
        self.handle_of[owners[ours]] = 0

    def _fail(self, record, why=""):
        """Raise PoolFullError for ``record``, carrying the partial replay's result."""
        if not self.rows or self.rows[-1][0] != record:
            self.sample(record)
        replaced = "; it replaces a live object, which was freed first" if self.replacing[record] else ""
        error = PoolFullError(
            f"pool is full at trace record {record} (alloc of id {self.trace.ids[record]}, "
            f"{self.trace.sizes[record]} bytes){why}: records 0..{record - 1} were applied"
            f"{replaced}; the partial result is in this exception's .result")
        error.record, error.result = record, self.result(record)
        raise error

    def sample(self, records_done):
        pool = self.pool
        self.rows.append((records_done, pool.pages_used, pool.density, pool.objects,
                          pool.bytes_stored, self.evicted, pool.pages_total))

    def verify(self):
        live = np.flatnonzero(self.handle_of)
        for first in range(0, live.size, 1 << 14):     # in slices: the live data may be large
            chunk = live[first:first + (1 << 14)]
            data, offsets = self.pool.read(self.handle_of[chunk])
            self.mismatches += _pattern_mismatches(self.unique_ids[chunk], data, offsets)
        return self.mismatches == 0

    def result(self, ops, verified=None):
        live = np.flatnonzero(self.handle_of)
        timeline = {key: np.array(column, np.float64 if key == "density" else np.int64)
                    for key, column in zip(TIMELINE_KEYS, zip(*self.rows))}
        timeline["time_label"] = TIME_LABEL
        return ReplayResult(timeline, self.pool.stats(), ops, time.perf_counter() - self.started,
                            self.evicted, verified, self.unique_ids[live], self.handle_of[live])


def replay(trace, pool, samples=200, progress=False, on_full="error", *, write=False,
           reclaim_to=0.9):
    """Apply ``trace`` to ``pool`` as if one record at a time, in order, sampling the pool's stats.

    An ALLOC of an id that is live replaces it: the old object is freed, then the new one
    allocated. A FREE of an id that is not live is an error. Ids start not live; objects already
    in the pool are left alone (but count in the statistics, and reclaim may evict them).

    The records are applied in batches: runs of pool frees and runs of pool allocs, a replacing
    ALLOC counting as a free followed by an alloc, cut at the sample points. Since the pool
    applies each batch as its elements one by one, the pool ends exactly as one-at-a-time replay
    leaves it: same pages, places, LRU order and handles.

    Parameters
    ----------
    trace : Trace
    pool : zbudjit.Pool
    samples : int
        About this many evenly spaced samples of the timeline (fewer if the trace is shorter);
        the last is taken after the last record.
    progress : bool
        Show a tqdm progress bar on stderr.
    on_full : {"error", "reclaim"}
        What an ALLOC that finds the pool full does. ``"error"``: raise
        :class:`~zbudjit.PoolFullError`; the pool keeps every record before the failing one
        applied (a failing replacing ALLOC has freed its old object), and the exception carries
        ``.record`` (the failing record's index) and ``.result`` (the :class:`ReplayResult` of the
        partial replay, its timeline ending at the failure). ``"reclaim"``: write back the least
        recently used pages, ``max(1, pages_used - floor(reclaim_to * pages_total))`` of them, in
        one :meth:`~zbudjit.Pool.reclaim` whose writeback accepts every object (as zswap shrinks
        its pool to its accept threshold), then retry. Evicted ids are no longer live: a later
        FREE of one is a no-op, and a later ALLOC of one is a plain alloc.
    write : bool, keyword-only
        Store every allocated object with a pattern derived from its id (``alloc`` + ``write``,
        through :meth:`~zbudjit.Pool.store`) and verify every live object at the end, and every
        object reclaim writes back; the outcome is ``result.verified``. Default: allocate only.
    reclaim_to : float, keyword-only
        Fraction of the pool's pages that ``on_full="reclaim"`` shrinks the pool to (zswap's
        ``accept_threshold_percent`` is 90). 1.0 reclaims one page at a time.

    Returns
    -------
    ReplayResult

    Raises
    ------
    TraceError
        A FREE of an id that is not live, naming the earliest such record (by
        :meth:`Trace.origin`: its file and line, for a trace read from a file). The whole trace is
        checked first, so the pool is untouched.
    ValueError
        An ALLOC size outside ``1..pool.max_size``, naming the earliest such record; the pool is
        untouched.
    PoolFullError
        ``on_full="error"`` and an ALLOC does not fit (see ``on_full``).
    """
    started = time.perf_counter()
    if not isinstance(trace, Trace):
        raise TypeError(f"trace must be a Trace, not {type(trace).__name__}")
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1:
        raise ValueError(f"samples must be a positive integer, got {samples!r}")
    if on_full not in ("error", "reclaim"):
        raise ValueError(f"on_full must be 'error' or 'reclaim', got {on_full!r}")
    if not 0.0 <= reclaim_to <= 1.0:
        raise ValueError(f"reclaim_to must be between 0 and 1, got {reclaim_to!r}")
    replayer = _Replayer(trace, pool, int(samples), on_full, bool(write), float(reclaim_to),
                         started)
    with tqdm(total=len(trace), unit="op", unit_scale=True, desc="replay",
              disable=not progress) as bar:
        replayer.run(bar)
    verified = replayer.verify() if write else None
    return replayer.result(len(trace), verified)


# ---------------------------------------------------------------------------------------------
# Object bytes for write=True


@njit(cache=True, nogil=True)
def _pattern(ids, sizes):
    """The objects' bytes as (data, offsets): object ``i`` is ``sizes[i]`` bytes of ``ids[i]``'s
    pattern, so any object can be checked knowing only its id."""
    offsets = np.zeros(sizes.size + 1, np.int64)
    offsets[1:] = np.cumsum(sizes)
    data = np.empty(offsets[-1], np.uint8)
    for i in range(sizes.size):
        # splitmix64's finaliser: ids that differ in one bit get unrelated patterns
        seed = np.uint64(ids[i]) + np.uint64(0x632BE59BD9B4E019)
        seed = (seed ^ (seed >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        seed = (seed ^ (seed >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        at = offsets[i]
        for k in range((sizes[i] + 7) // 8):
            # one multiply per 8 bytes rather than per byte
            word = (seed ^ (np.uint64(k) * np.uint64(0x9E3779B97F4A7C15))) * np.uint64(0xBF58476D1CE4E5B9)
            if at + 8 <= offsets[i + 1]:
                for b in range(8):      # a fixed count: the compiler merges these into one store
                    data[at + b] = np.uint8((word >> np.uint64(8 * b)) & np.uint64(0xFF))
            else:
                for b in range(offsets[i + 1] - at):
                    data[at + b] = np.uint8((word >> np.uint64(8 * b)) & np.uint64(0xFF))
            at += 8
    return data, offsets


def _pattern_mismatches(ids, data, offsets):
    """How many objects do not hold their id's pattern (an id of -1 is not checked)."""
    if ids.size == 0:
        return 0
    expected, _ = _pattern(ids, np.diff(offsets))
    differs = np.logical_or.reduceat(data != expected, offsets[:-1])    # sizes are >= 1
    return int(np.count_nonzero(differs & (ids >= 0)))


# ---------------------------------------------------------------------------------------------
# Synthetic traces


@njit(cache=True)
def _churn(n_ops, live_target, id_space, restore, burst, seed):
    """Ops and ids: bursts of stores and of frees, drifting towards ``live_target`` live ids.

    ``order[:n_live]`` are the live ids and ``order[n_live:]`` the others, so taking a random id
    from either side and moving it across is one swap.
    """
    np.random.seed(seed)
    ops = np.empty(n_ops, np.uint8)
    ids = np.empty(n_ops, np.int64)
    order = np.arange(id_space)
    n_live = 0
    i = 0
    while i < n_ops:
        # a store burst is likelier below the target, a free burst above it (even at it)
        store = np.random.random() < 1.0 / (1.0 + (n_live / live_target) ** 4)
        length = min(np.random.geometric(1.0 / burst), n_ops - i)
        if not store:
            length = min(length, n_live)
        for _ in range(length):
            if not store:                                           # a live id goes
                n_live -= 1
                pick, across = np.random.randint(0, n_live + 1), n_live
            elif n_live > 0 and (n_live == id_space or np.random.random() < restore):
                pick = across = np.random.randint(0, n_live)        # a live id is stored again
            else:                                                   # a new id goes live
                pick, across = np.random.randint(n_live, id_space), n_live
                n_live += 1
            order[pick], order[across] = order[across], order[pick]
            ops[i] = ALLOC if store else FREE
            ids[i] = order[across]
            i += 1
    return ops, ids


def synthetic_trace(n_ops, seed=0, *, live=None, id_space=None, restore=0.05, burst=32,
                    max_size=3968):
    """A zswap-like churn trace: swap-out bursts storing pages, swap-in bursts invalidating them.

    Bursts (geometric lengths, mean ``burst``) alternate at random between stores and frees;
    a store burst is likelier while fewer than ``live`` ids are live, so the live count climbs
    to about ``live`` and then churns around it. A store re-stores a live id with probability
    ``restore`` (a replacing ALLOC) and otherwise stores a random id that is not live; a free
    takes a random live id. Sizes are like compressed 4 KiB pages
    (:func:`zbudjit.workloads.compressed_page_sizes`: 70% 40-900 B, the rest 1500-``max_size``
    B; 3968 fits zbud on 4 KiB pages either way).

    Parameters
    ----------
    n_ops : int
        Records in the trace.
    seed : int
        The trace is a function of every argument, seed included.
    live : int, optional
        The live-id count the churn hovers around. Default ``max(1, n_ops // 4)``.
    id_space : int, optional
        Ids are drawn from ``0 .. id_space - 1`` (swap offsets). Default ``2 * live``.
    restore, burst, max_size
        As above.

    Returns
    -------
    Trace
    """
    n_ops = int(n_ops)
    if n_ops < 0:
        raise ValueError(f"n_ops must be at least 0, got {n_ops}")
    live = max(1, n_ops // 4) if live is None else int(live)
    id_space = 2 * live if id_space is None else int(id_space)
    if live < 1 or id_space < 1:
        raise ValueError("live and id_space must be at least 1")
    if not (0.0 <= restore <= 1.0 and burst >= 1):
        raise ValueError("restore must be a probability and burst at least 1")
    if not 1500 <= max_size:
        raise ValueError(f"max_size must be at least 1500, got {max_size}")
    seed = int(seed) % 2 ** 32
    ops, ids = _churn(n_ops, live, id_space, float(restore), float(burst), seed)
    # a FREE's size is ignored (Trace stores 0)
    return Trace(ops, ids, compressed_page_sizes(np.random.default_rng(seed), n_ops, max_size))
