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
    A header line naming the columns ``op``, ``id`` and ``size`` (in any order; other columns are
    ignored), then one record per line::

        op,id,size
        alloc,17,1234
        free,17,

    ``op`` is ``alloc`` / ``free``, or ``a`` / ``f``, or ``store`` / ``invalidate``, in any case.
    ``size`` is the object's size in bytes for an alloc (at least 1); for a free it may be empty
    and is ignored. Blank lines are skipped (they still count in line numbers).
``.npz``
    A NumPy archive with three 1-D arrays of equal length: ``op`` (uint8 codes ``ALLOC = 0``,
    ``FREE = 1``, or the names above as strings), ``id`` and ``size`` (integers).

A malformed file raises ValueError naming the file and the line (CSV) or record (NPZ) and what is
wrong; a missing file raises FileNotFoundError. Whether each size fits the pool is checked by
:func:`replay`, since it depends on the pool.
"""

import math
import sys
import time
from dataclasses import dataclass, field
from itertools import compress
from pathlib import Path

import numpy as np
from numba import njit

from .errors import PoolFullError
from .pool import Stats

ALLOC = 0
FREE = 1
TIME_LABEL = "operations replayed"
OP_NAMES = {"alloc": ALLOC, "a": ALLOC, "store": ALLOC, "free": FREE, "f": FREE, "invalidate": FREE}
COLUMNS = ("op", "id", "size")
TIMELINE_KEYS = ("time", "pool_pages", "density", "objects", "bytes_stored", "evicted")
_INT64_MAX = np.iinfo(np.int64).max
_NOT_AN_OP = 255


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
    above, or arrays of different lengths, raise ValueError naming the record.
    """

    ops: np.ndarray
    ids: np.ndarray
    sizes: np.ndarray

    def __post_init__(self):
        ops, ids, sizes = _checked_records(self.ops, self.ids, self.sizes, "record {}".format)
        # frozen: fields may only be set through object.__setattr__, as the dataclass docs say
        object.__setattr__(self, "ops", ops)
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "sizes", sizes)

    def __len__(self):
        return int(self.ops.size)

    def peak_live(self):
        """The most ids live at once while the trace is replayed (an upper bound on zbud's pages
        for it, since an object never takes more than one page)."""
        _, live_before, _ = _id_history(self)
        # each ALLOC of an id not yet live adds one, each FREE takes one away
        step = np.where(self.ops == ALLOC, (~live_before).astype(np.int64), -1)
        return int(max(np.cumsum(step).max(initial=0), 0))


def _checked_records(ops, ids, sizes, where):
    """The three columns as uint8 / int64 / int64 arrays, or ValueError at the first bad record.

    ``where(i)`` says where record ``i`` came from ("line 7" of a file, "record 6" of a trace).
    """
    columns = {}
    for name, values in zip(COLUMNS, (ops, ids, sizes)):
        values = np.asarray(values)
        if values.ndim != 1:
            raise ValueError(f"{name} must be a 1-D array, got shape {values.shape}")
        columns[name] = values
    lengths = {name: values.size for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError("ragged lengths: " + ", ".join(f"{name} has {n} records"
                                                         for name, n in lengths.items()))
    ops = _op_codes(columns["op"], where)
    ids = _int64_column(columns["id"], "id", where)
    sizes = _int64_column(columns["size"], "size", where, ignore=ops == FREE)
    negative = np.flatnonzero(ids < 0)
    bad_size = np.flatnonzero((ops == ALLOC) & (sizes < 1))
    first = min(negative[:1].tolist() + bad_size[:1].tolist(), default=None)
    if first is not None:
        if first in negative[:1]:
            raise ValueError(f"{where(first)}: negative id {ids[first]}")
        raise ValueError(f"{where(first)}: alloc size {sizes[first]} is not a positive number of bytes")
    if np.any(sizes[ops == FREE]):
        sizes = np.where(ops == FREE, 0, sizes)        # a FREE's size is ignored: keep one spelling
    return ops, ids, sizes


def _op_codes(values, where):
    """Op column as uint8 codes; names (str or bytes, any case) or integer codes 0 / 1.

    ``values`` is an array, or a list of str (a CSV column: mapped through a dict of its few
    distinct spellings, quicker than sorting a million strings)."""
    if isinstance(values, list):
        table = {name: OP_NAMES.get(name.strip().lower(), _NOT_AN_OP) for name in set(values)}
        ops = np.fromiter(map(table.__getitem__, values), np.uint8, len(values))
    elif values.dtype.kind in "US":
        names = np.unique(values)
        codes = np.array([OP_NAMES.get(_text(name).strip().lower(), _NOT_AN_OP) for name in names],
                         np.uint8)
        ops = codes[np.searchsorted(names, values)] if values.size else np.empty(0, np.uint8)
    elif values.dtype.kind in "iu":
        ops = np.where((values == ALLOC) | (values == FREE), values, _NOT_AN_OP).astype(np.uint8)
    else:
        raise ValueError(f"op must hold integer codes ({ALLOC} = alloc, {FREE} = free) or names, "
                         f"not {values.dtype}")
    bad = np.flatnonzero(ops == _NOT_AN_OP)
    if bad.size:
        raise ValueError(f"{where(bad[0])}: unknown op {_text(values[bad[0]])!r} (expected "
                         f"alloc/free, a/f, store/invalidate, or the codes {ALLOC}/{FREE})")
    return ops


def _int64_column(values, name, where, ignore=None):
    """An integer column as int64; ValueError for non-integers or values beyond int64.

    Records where ``ignore`` is True may hold anything that fits (a FREE's size)."""
    if values.dtype.kind not in "iu":
        if values.size == 0:
            return np.empty(0, np.int64)
        raise ValueError(f"{name} must hold integers, not {values.dtype}")
    if values.dtype.kind == "u" and values.dtype.itemsize == 8:
        too_big = values > _INT64_MAX
        if ignore is not None:
            too_big &= ~ignore
        bad = np.flatnonzero(too_big)
        if bad.size:
            raise ValueError(f"{where(bad[0])}: {name} {values[bad[0]]} is too large (over 2**63 - 1)")
        values = np.where(values > _INT64_MAX, 0, values)
    return np.ascontiguousarray(values, dtype=np.int64)


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# ---------------------------------------------------------------------------------------------
# Files


def _format(path):
    suffix = Path(path).suffix.lower()
    if suffix not in (".csv", ".npz"):
        raise ValueError(f"{path}: unknown trace format {suffix or '(no suffix)'!r}; use .csv or .npz")
    return suffix


def load_trace(path):
    """Read a trace from a ``.csv`` or ``.npz`` file (see the module docstring for the formats).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        Unknown suffix, or a malformed file: the message names the file, the line (CSV) or record
        (NPZ) and what is wrong.
    """
    if _format(path) == ".csv":
        return _load_csv(path)
    return _load_npz(path)


def _load_csv(path):
    with open(path, encoding="utf-8", newline="") as csv_file:
        try:
            lines = csv_file.read().splitlines()
        except UnicodeDecodeError as error:
            raise ValueError(f"{path}: not a text file ({error})") from None
    if not lines:
        raise ValueError(f"{path}: empty file; expected a header line 'op,id,size'")
    header = [name.strip().lower() for name in lines[0].split(",")]
    for name in COLUMNS:
        if header.count(name) != 1:
            problem = "missing" if name not in header else "repeated"
            raise ValueError(f"{path}: line 1: {problem} column {name!r}; the header must name the "
                             f"columns op,id,size (got {lines[0]!r})")
    body = lines[1:]
    keep = [bool(line) and not line.isspace() for line in body]
    line_numbers = np.flatnonzero(np.array(keep, bool)) + 2
    rows = list(compress(body, keep))

    def where(i):
        return f"{path}: line {line_numbers[i]}"

    commas = np.fromiter((line.count(",") for line in rows), np.int64, len(rows))
    ragged = np.flatnonzero(commas != len(header) - 1)
    if ragged.size:
        raise ValueError(f"{where(ragged[0])}: expected {len(header)} fields "
                         f"({','.join(header)}), got {commas[ragged[0]] + 1}")
    # Every row has the same number of fields, so one split of the joined rows gives the fields
    # row-major: no list per row (a million small lists cost more in garbage collection than
    # the parsing itself).
    fields = ",".join(rows).split(",") if rows else []
    columns = {name: fields[k::len(header)] for k, name in enumerate(header)}
    ops = _op_codes(columns["op"], where)
    ids = _parse_ints(columns["id"], "id", where)
    sizes = _parse_ints(columns["size"], "size", where, ignored=ops == FREE)
    return Trace(*_checked_records(ops, ids, sizes, where))


def _parse_ints(texts, name, where, ignored=None):
    """Decimal integers as int64; where ``ignored`` is True (a free's size) anything, even nothing,
    reads as 0. The fast path converts the whole column at once; if it fails, a slow pass finds
    the first bad line so that the message can name it."""
    try:
        if ignored is None:
            return np.fromiter(map(int, texts), np.int64, len(texts))
        values = np.fromiter(map(int, [text or "0" for text in texts]), np.int64, len(texts))
        if not np.any(values[~ignored] == 0):       # an alloc whose size was empty reads 0 here
            return values
    except (ValueError, OverflowError):
        pass
    values = np.zeros(len(texts), np.int64)
    for i, text in enumerate(texts):
        if ignored is not None and ignored[i]:
            try:
                values[i] = int(text)
            except (ValueError, OverflowError):
                pass                                # ignored, whatever it says
            continue
        if not text.strip():
            raise ValueError(f"{where(i)}: {name} is missing")
        try:
            values[i] = int(text)
        except ValueError:
            raise ValueError(f"{where(i)}: {name} {text.strip()!r} is not an integer") from None
        except OverflowError:
            raise ValueError(f"{where(i)}: {name} {text.strip()} is out of range") from None
    return values


def _load_npz(path):
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except Exception as error:        # zipfile, pickle and format errors alike: not a trace file
        raise ValueError(f"{path}: not a readable .npz archive ({error})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: a single .npy array, not an .npz archive of op, id and size")
    with archive:
        missing = [name for name in COLUMNS if name not in archive.files]
        if missing:
            raise ValueError(f"{path}: missing array {missing[0]!r}; an .npz trace holds arrays "
                             f"op, id and size (found {sorted(archive.files)})")
        try:
            columns = [archive[name] for name in COLUMNS]
        except Exception as error:
            raise ValueError(f"{path}: cannot read the arrays ({error})") from None
    try:
        return Trace(*_checked_records(*columns, f"{path}: record {{}}".format))
    except ValueError as error:
        message = str(error)
        raise ValueError(message if message.startswith(str(path)) else f"{path}: {message}") from None


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
        csv_file.writelines(f"alloc,{i},{s}\n" if op == ALLOC else f"free,{i},\n"
                            for op, i, s in zip(trace.ops.tolist(), trace.ids.tolist(),
                                                trace.sizes.tolist()))


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
        so far, cumulative; zeros unless ``on_full="reclaim"``); and ``"time_label"``, the
        string ``"operations replayed"``.
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
    evicted: int = 0
    verified: object = None
    live_ids: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    handles: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint64))


def _id_history(trace):
    """Dense id per record, whether its id is live just before it, and the distinct ids.

    An id is live before record ``i`` exactly when its previous record is an ALLOC (ids start not
    live), so one stable sort by id answers it for the whole trace without simulating it.
    """
    unique_ids, dense = np.unique(trace.ids, return_inverse=True)
    dense = dense.reshape(-1).astype(np.int64)
    order = np.argsort(dense, kind="stable")
    same = dense[order[1:]] == dense[order[:-1]]
    live_before = np.zeros(trace.ops.size, bool)
    live_before[order[1:][same]] = trace.ops[order[:-1][same]] == ALLOC
    return dense, live_before, unique_ids


@dataclass
class _Plan:
    """The trace as pool calls: each record is one pool op, a replacing ALLOC two (free, alloc).

    ``kind``/``dense``/``size``/``record`` describe the pool ops; ``cuts`` splits them into runs
    of one kind that each go to the pool as one batch, also cut at the sample points."""

    unique_ids: np.ndarray
    kind: np.ndarray
    dense: np.ndarray
    size: np.ndarray
    record: np.ndarray
    cuts: list
    sample_ends: set
    times: np.ndarray
    replacing: np.ndarray


def _plan(trace, max_size, samples):
    """Validate the trace against the simulated id state and the pool's size limit, and plan its
    batches. Raises ValueError for the earliest bad record; nothing here touches the pool."""
    ops, sizes, n = trace.ops, trace.sizes, len(trace)
    dense, live_before, unique_ids = _id_history(trace)
    bad_free = np.flatnonzero((ops == FREE) & ~live_before)[:1]
    bad_size = np.flatnonzero((ops == ALLOC) & ((sizes < 1) | (sizes > max_size)))[:1]
    first = min(bad_free.tolist() + bad_size.tolist(), default=None)
    if first is not None:
        if first in bad_free:
            raise ValueError(f"record {first}: free of id {trace.ids[first]}, which is not live "
                             "(never allocated, or already freed); the pool was not touched")
        raise ValueError(f"record {first}: size {sizes[first]} is out of range 1..{max_size} for "
                         "this pool; the pool was not touched")

    # A replacing ALLOC frees the old object first, and that free must happen between the
    # previous record and this alloc to keep one-at-a-time placement: it becomes its own pool op.
    replacing = (ops == ALLOC) & live_before
    count = 1 + replacing.astype(np.int64)
    start = np.zeros(n + 1, np.int64)
    np.cumsum(count, out=start[1:])
    record = np.repeat(np.arange(n, dtype=np.int64), count)
    kind = ops[record]
    kind[start[:-1][replacing]] = FREE

    if n:
        k = np.arange(1, samples + 1, dtype=np.int64)
        times = np.unique((k * n + samples - 1) // samples)      # ceil(k n / samples): last is n
    else:
        times = np.zeros(1, np.int64)
    sample_positions = start[times]        # a sample is taken once every record before it is done
    changes = np.flatnonzero(kind[1:] != kind[:-1]) + 1
    cuts = np.union1d(np.union1d(changes, sample_positions), [0, record.size])
    return _Plan(unique_ids, kind, dense[record], sizes[record], record, cuts.tolist(),
                 set(sample_positions.tolist()), times, replacing)


def _occupancy(pool):
    """(pages used, objects, bytes stored). Pools with the cheap counter properties answer in O(1);
    stats() also builds the fill histogram, a pass over the used pages (1 ms at 250k pages)."""
    try:
        return pool.pages_used, pool.objects, pool.bytes_stored
    except AttributeError:
        stats = pool.stats()
        return stats.pages_used, stats.objects, stats.bytes_stored


def _slots(handles):
    # README: a handle is generation << 32 | (slot + 1)
    return (handles & np.uint64(0xFFFFFFFF)).astype(np.int64) - 1


class _Replayer:
    """The replay's state: id -> handle table, slot -> id table (to forget evicted ids), timeline."""

    def __init__(self, trace, pool, plan, on_full, write, reclaim_to, progress, started):
        self.trace, self.pool, self.plan, self.started = trace, pool, plan, started
        self.on_full, self.write, self.reclaim_to = on_full, write, reclaim_to
        self.handle_of = np.zeros(plan.unique_ids.size, np.uint64)   # 0: not live
        self.slot_owner = np.full(0, -1, np.int64)                   # dense id per handle slot
        self.evicted = 0
        self.bad_writebacks = 0
        n_samples = plan.times.size
        self.timeline = {key: np.zeros(n_samples, np.float64 if key == "density" else np.int64)
                         for key in TIMELINE_KEYS}
        self.taken = 0
        self.bar = None
        if progress:
            from tqdm import tqdm
            self.bar = tqdm(total=len(trace), unit="op", unit_scale=True, file=sys.stderr,
                            desc="replay")

    # -- batches ---------------------------------------------------------------------------------

    def run(self):
        plan, cuts = self.plan, self.plan.cuts
        kinds = plan.kind[cuts[:-1]].tolist() if len(cuts) > 1 else []
        done = 0
        for segment, kind in enumerate(kinds):
            start, end = cuts[segment], cuts[segment + 1]
            if kind == ALLOC:
                self.alloc(start, end)
            else:
                self.free(start, end)
            if end in plan.sample_ends:
                self.sample(plan.times[self.taken])
            if self.bar is not None:
                # records fully replayed: the record of the next pool op is not finished yet
                now = int(plan.record[end]) if end < plan.record.size else len(self.trace)
                self.bar.update(now - done)
                done = now
        if not kinds:
            self.sample(0)

    def free(self, start, end):
        dense = self.plan.dense[start:end]
        handles = self.handle_of[dense]
        if self.on_full == "reclaim":
            handles = handles[handles != 0]     # the object was evicted: freeing it is a no-op
        self.pool.free(handles)
        self.handle_of[dense] = 0

    def alloc(self, start, end):
        """Allocate pool ops ``start:end``; on a full pool find the exact op that does not fit.

        Consecutive alloc batches equal one batch, so a failed batch is bisected: a prefix that
        fits is committed, one that does not is halved, until a single op fails on its own. Then
        the pool is as one-at-a-time replay leaves it just before that op.
        """
        try:
            self._alloc_batch(start, end)
            return
        except PoolFullError:
            pass
        low, high = start, end            # invariant: [low, high) fails, [start, low) is applied
        while True:
            while high - low > 1:
                middle = (low + high) // 2
                try:
                    self._alloc_batch(low, middle)
                    low = middle
                except PoolFullError:
                    high = middle
            self._make_room(low)          # raises in "error" mode
            try:
                self._alloc_batch(low, end)
                return
            except PoolFullError:
                high = end

    def _alloc_batch(self, start, end):
        sizes = self.plan.size[start:end]
        dense = self.plan.dense[start:end]
        if self.write:
            data, offsets = _pattern(self.plan.unique_ids[dense], sizes)
            handles = self.pool.store(data, offsets)
        else:
            handles = self.pool.alloc(sizes)
        self.handle_of[dense] = handles
        if self.on_full == "reclaim":
            slots = _slots(handles)
            top = int(slots.max(initial=-1)) + 1
            if top > self.slot_owner.size:
                grown = np.full(max(top, 2 * self.slot_owner.size), -1, np.int64)
                grown[:self.slot_owner.size] = self.slot_owner
                self.slot_owner = grown
            self.slot_owner[slots] = dense

    def _make_room(self, position):
        """Pool op ``position`` does not fit even alone: reclaim, or raise in "error" mode."""
        record = int(self.plan.record[position])
        if self.on_full == "error":
            self.fail(record)
        pages_used = _occupancy(self.pool)[0]
        n_pages = max(1, pages_used - math.floor(self.reclaim_to * self.pool.pages_total))
        result = self.pool.reclaim(n_pages, self._writeback)
        if result.pages_freed == 0:
            self.fail(record, "; reclaim could not free a page")
        self.evicted += int(result.evicted.size)
        slots = _slots(result.evicted)
        known = slots < self.slot_owner.size
        owners = self.slot_owner[slots[known]]
        ours = owners >= 0
        owners = owners[ours]
        # only an id whose handle is this one was evicted (the caller's own objects are not ours)
        owners = owners[self.handle_of[owners] == result.evicted[known][ours]]
        self.handle_of[owners] = 0

    def _writeback(self, handles, data, offsets):
        if self.write:
            slots = _slots(handles)
            known = slots < self.slot_owner.size
            owners = np.full(handles.size, -1, np.int64)
            owners[known] = self.slot_owner[slots[known]]
            valid = owners >= 0
            valid[valid] = self.handle_of[owners[valid]] == handles[valid]
            ids = np.where(valid, self.plan.unique_ids[np.maximum(owners, 0)], -1)
            self.bad_writebacks += _pattern_mismatches(ids, data, offsets)
        return None                         # every object written back

    def fail(self, record, why=""):
        """Raise PoolFullError for ``record``, carrying the partial replay's result."""
        ids, sizes = self.trace.ids, self.trace.sizes
        replaced = ("; it replaces a live object, which was freed first"
                    if self.plan.replacing[record] else "")
        if not self.taken or self.timeline["time"][self.taken - 1] != record:
            self.sample(record)
        error = PoolFullError(
            f"pool is full at trace record {record} (alloc of id {ids[record]}, {sizes[record]} "
            f"bytes){why}: records 0..{record - 1} were applied{replaced}; the partial result is "
            "in this exception's .result")
        error.record = record
        error.result = self.result(record)
        raise error

    # -- timeline and result ---------------------------------------------------------------------

    def sample(self, time_now):
        pages_used, objects, bytes_stored = _occupancy(self.pool)
        if self.taken == self.timeline["time"].size:       # a failure between sample points
            for key in TIMELINE_KEYS:
                self.timeline[key] = np.append(self.timeline[key], 0)
        row = self.taken
        self.timeline["time"][row] = time_now
        self.timeline["pool_pages"][row] = pages_used
        self.timeline["density"][row] = (bytes_stored / (pages_used * self.pool.page_size)
                                          if pages_used else 0.0)      # as Stats.density
        self.timeline["objects"][row] = objects
        self.timeline["bytes_stored"][row] = bytes_stored
        self.timeline["evicted"][row] = self.evicted
        self.taken += 1

    def verify(self):
        live = np.flatnonzero(self.handle_of)
        mismatches = self.bad_writebacks
        for first in range(0, live.size, 1 << 16):     # in slices: the live data may be large
            chunk = live[first:first + (1 << 16)]
            data, offsets = self.pool.read(self.handle_of[chunk])
            mismatches += _pattern_mismatches(self.plan.unique_ids[chunk], data, offsets)
        return mismatches == 0

    def result(self, ops, verified=None):
        live = np.flatnonzero(self.handle_of)
        timeline = {key: values[:self.taken] for key, values in self.timeline.items()}
        timeline["time_label"] = TIME_LABEL
        return ReplayResult(timeline=timeline, final=self.pool.stats(), ops=ops,
                            seconds=time.perf_counter() - self.started, evicted=self.evicted,
                            verified=verified, live_ids=self.plan.unique_ids[live],
                            handles=self.handle_of[live])


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
    ValueError
        A FREE of an id that is not live, or an ALLOC size outside ``1..pool.max_size``, naming
        the earliest such record. The whole trace is checked first, so the pool is untouched.
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
    plan = _plan(trace, pool.max_size, int(samples))
    replayer = _Replayer(trace, pool, plan, on_full, bool(write), float(reclaim_to), progress,
                         started)
    try:
        replayer.run()
        verified = replayer.verify() if write else None
    finally:
        if replayer.bar is not None:
            replayer.bar.close()
    return replayer.result(len(trace), verified)


# ---------------------------------------------------------------------------------------------
# Object bytes for write=True


@njit(cache=True, nogil=True)
def _seed(object_id):
    # splitmix64's finaliser: ids that differ in one bit get unrelated patterns
    x = np.uint64(object_id) + np.uint64(0x632BE59BD9B4E019)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    return (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)


@njit(cache=True, nogil=True)
def _pattern_word(seed, k):
    # bytes 8k .. 8k+7 of an object: one multiply per word rather than per byte
    return (seed ^ (np.uint64(k) * np.uint64(0x9E3779B97F4A7C15))) * np.uint64(0xBF58476D1CE4E5B9)


@njit(cache=True, nogil=True)
def _pattern(ids, sizes):
    """The objects' bytes as (data, offsets): object ``i`` is ``sizes[i]`` bytes of ``ids[i]``'s pattern."""
    offsets = np.zeros(sizes.size + 1, np.int64)
    for i in range(sizes.size):
        offsets[i + 1] = offsets[i] + sizes[i]
    data = np.empty(offsets[-1], np.uint8)
    for i in range(sizes.size):
        seed = _seed(ids[i])
        at = offsets[i]
        for k in range(sizes[i] // 8):
            word = _pattern_word(seed, k)
            for b in range(8):      # a fixed count: the compiler merges these into one store
                data[at + b] = np.uint8((word >> np.uint64(8 * b)) & np.uint64(0xFF))
            at += 8
        word = _pattern_word(seed, sizes[i] // 8)
        for b in range(sizes[i] % 8):
            data[at + b] = np.uint8((word >> np.uint64(8 * b)) & np.uint64(0xFF))
    return data, offsets


@njit(cache=True, nogil=True)
def _pattern_mismatches(ids, data, offsets):
    """How many objects do not hold their id's pattern (an id of -1 is not checked)."""
    bad = 0
    for i in range(ids.size):
        if ids[i] < 0:
            continue
        seed = _seed(ids[i])
        at = offsets[i]
        size = offsets[i + 1] - at
        differ = np.uint64(0)
        for k in range(size // 8):
            word = np.uint64(0)
            for b in range(8):
                word |= np.uint64(data[at + b]) << np.uint64(8 * b)
            differ |= word ^ _pattern_word(seed, k)
            at += 8
        last = _pattern_word(seed, size // 8)
        for b in range(size % 8):
            differ |= (np.uint64(data[at + b]) ^ (last >> np.uint64(8 * b))) & np.uint64(0xFF)
        if differ:
            bad += 1
    return bad


# ---------------------------------------------------------------------------------------------
# Synthetic traces


@njit(cache=True)
def _churn(n_ops, live_target, id_space, restore, burst, well, max_size, seed):
    """Bursts of stores and of frees, drifting towards ``live_target`` live ids.

    ``order[:n_live]`` are the live ids and ``order[n_live:]`` the others; ``position`` inverts
    it, so taking a random id from either side and moving it across is O(1).
    """
    np.random.seed(seed)
    ops = np.empty(n_ops, np.uint8)
    ids = np.empty(n_ops, np.int64)
    sizes = np.zeros(n_ops, np.int64)
    order = np.arange(id_space)
    position = np.arange(id_space)
    n_live = 0
    i = 0
    while i < n_ops:
        # a store burst is likelier below the target, a free burst above it (even at it)
        ratio = n_live / live_target
        store = np.random.random() < 1.0 / (1.0 + ratio ** 4)
        length = min(np.random.geometric(1.0 / burst), n_ops - i)
        if not store:
            length = min(length, n_live)
        for _ in range(length):
            if store:
                if n_live > 0 and (n_live == id_space or np.random.random() < restore):
                    object_id = order[np.random.randint(0, n_live)]         # re-store a live id
                else:
                    pick = np.random.randint(n_live, id_space)              # a new id goes live
                    object_id = order[pick]
                    other = order[n_live]
                    order[pick], order[n_live] = other, object_id
                    position[other], position[object_id] = pick, n_live
                    n_live += 1
                ops[i] = 0
                if np.random.random() < well:                               # compresses well
                    sizes[i] = np.random.randint(40, 901)
                else:
                    sizes[i] = np.random.randint(1500, max_size + 1)
            else:
                pick = np.random.randint(0, n_live)                         # a live id goes
                object_id = order[pick]
                n_live -= 1
                other = order[n_live]
                order[pick], order[n_live] = other, object_id
                position[other], position[object_id] = pick, n_live
                ops[i] = 1
            ids[i] = object_id
            i += 1
    return ops, ids, sizes


def synthetic_trace(n_ops, seed=0, *, live=None, id_space=None, restore=0.05, burst=32,
                    well_compressed=0.7, max_size=3968):
    """A zswap-like churn trace: swap-out bursts storing pages, swap-in bursts invalidating them.

    Bursts (geometric lengths, mean ``burst``) alternate at random between stores and frees;
    a store burst is likelier while fewer than ``live`` ids are live, so the live count climbs
    to about ``live`` and then churns around it. A store re-stores a live id with probability
    ``restore`` (a replacing ALLOC) and otherwise stores a random id that is not live; a free
    takes a random live id. Sizes are like compressed 4 KiB pages: ``well_compressed`` of them
    40-900 B, the rest 1500-``max_size`` B (3968 fits zbud on 4 KiB pages either way).

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
    restore, burst, well_compressed, max_size
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
    if not (0.0 <= restore <= 1.0 and 0.0 <= well_compressed <= 1.0 and burst >= 1):
        raise ValueError("restore and well_compressed must be probabilities and burst at least 1")
    if not 1500 <= max_size:
        raise ValueError(f"max_size must be at least 1500, got {max_size}")
    ops, ids, sizes = _churn(n_ops, live, id_space, float(restore), float(burst),
                             float(well_compressed), int(max_size), int(seed) % (2 ** 32))
    return Trace(ops, ids, sizes)
