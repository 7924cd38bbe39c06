"""A quick speed check: zbudjit's batched operations against yardsticks timed in the same process.

What it measures
----------------
:func:`run_bench` builds one workload, a pool of ``pages`` 4 KiB pages and ``objects`` objects
sized like zswap's compressed pages (70% compress well, 40-900 B; 30% poorly, 1500-4032 B), and
times the same things as the asv suite's goal ratios (``asv_benchmarks/bench_alloc_free.py`` and
``bench_data_path.py``), each the best of ``repeat`` rounds:

==============================  ============================================  =====================
row                             operation                                     yardstick
==============================  ============================================  =====================
alloc                           one batch of ``objects`` into an empty pool   memory floor
free (random order)             every object of the filled pool, shuffled     memory floor
re-alloc                        free a random half, then alloc as many        memory floor
write, read                     ragged write / read of every object           NumPy's copy
read into a buffer (out=)       ``read(out=)`` into memory already mapped      NumPy's copy
alloc+free, one object          a one-object ``alloc`` then ``free``          2 bare dispatches
alloc+free batch                alloc the batch, free it in random order      plain-Python spec
==============================  ============================================  =====================

The yardsticks have rows of their own (ratio ``None``), so their absolute cost on this machine is
in the table too.

Reading the ratios
------------------
``ns_per_op`` is wall time per operation: per object for the batched rows, per alloc + free pair
for the one-object row, per object (alloc and free together) for the batch row against the spec.
Absolute figures move with the machine and with whatever else runs on it (by 2x on a shared VM);
the ratios move far less, because each is taken against its yardstick in the same process, round
by round interleaved, best of N against best of N. ``goal`` says which way is good:

- against the memory floor and the bare dispatches, ``ratio`` is time over the yardstick's time
  for the same number of operations; lower is better (goals ``<= 2`` and ``<= 10``).
- write and read: ``ratio`` is throughput over the throughput of :func:`numpy.copyto` of the same
  bytes into memory already mapped (the copy's time over the operation's); higher is better
  (``>= 0.5``).
- the batch against the spec: ``ratio`` is the spec's time per object over the engine's, so
  higher is better (``>= 300``). The spec runs a subset of at most :data:`SPEC_OBJECTS` objects
  (the engine the whole batch) so that it stays quick; the spec's cost per object grows a little
  with size, so the subset makes this ratio, if anything, lower than on the full batch.

The asv suite defines its goals on 2**20 pages and 1.5M objects (``run_bench(pages=1 << 20)``),
but for spec / engine (2**18 pages, 200k objects); the default here is a quarter of that, for a
check of 5-15 seconds (about 40 s, and 9 GB of memory, on 2**20 pages). Smaller tables sit better in the CPU's caches, which makes the memory
floor cheaper, and every operation too but not always in proportion: ratios from small runs are
not the goals' figures. Timing thresholds belong in the benchmarks, never in tests.

The yardsticks
--------------
Memory floor. Per operation, an allocator with an indirection table must at least (a) read the
handle's word in the handle table and (b) read-modify-write the record of the page that holds the
object. On a pool of a million pages both are cache misses at random places, so this pair of
accesses is the floor that a batched kernel can approach but not beat. :func:`memory_floor` does
exactly that and nothing else:

    handle_words   uint64[handle slots]   one random 8-byte read per op
    page_records   RECORD_DTYPE[pages]    one random read-modify-write of a 24-byte record per op

The random indices are drawn in advance (:class:`MemoryFloor`), so the timed loop is only the two
accesses. The two accesses of an op are independent of each other, so the CPU may overlap them
and the next op's; that is the best case the floor is meant to be. :data:`RECORD_DTYPE` is a copy
of ``zbudjit.zbud.PAGE_DTYPE`` as it was when the floor was defined (24 bytes, aligned), kept
here so the yardstick stays the same when the engine's page record changes.

Dispatch floor. :func:`dispatch_floor` is a trivial ``@njit`` function taking one 1-D array:
two calls of it are the cost of two bare Numba dispatches, the least a one-object ``alloc`` +
``free`` pair can cost. (Until the zsmalloc work it took ten arrays, about the arity of the
kernels; that hid what passing a dozen tables to every kernel costs, about 35 ns an array.)

These kernels are the yardsticks of the asv suite too (``asv_benchmarks/floor.py`` re-exports
them, with the comparison helpers below). Do not change them casually: every ratio recorded
before the change would stop being comparable with those after it.
"""

import gc
import time
from dataclasses import dataclass

import numpy as np
from numba import njit
from tqdm import tqdm

from .pool import Pool
from .workloads import compressed_page_sizes

SPEC_OBJECTS = 20_000
"""At most this many objects go through the plain-Python spec in :func:`run_bench`."""

DISPATCH_CALLS = 2000
"""One-object ``alloc`` + ``free`` pairs (and pairs of bare dispatches) per timed round."""

ONE_OBJECT_SIZE = 700
"""Size in bytes of the object of the one-object ``alloc`` + ``free`` pair."""

SEED = 2014

# -- the yardsticks ------------------------------------------------------------------------------

RECORD_DTYPE = np.dtype([
    ("first_slot", np.uint32),
    ("last_slot", np.uint32),
    ("first_chunks", np.uint8),
    ("last_chunks", np.uint8),
    ("free_list", np.uint8),
    ("stamp", np.uint32),
    ("lru_pos", np.int64),
], align=True)
"""The memory floor's page record: 24 bytes, aligned, like the engine's page record."""
assert RECORD_DTYPE.itemsize == 24


@njit(cache=True, nogil=True)
def memory_floor(handle_words, page_records, handle_index, page_index):
    """Per op, one random handle-word read and one random page-record update.

    Parameters
    ----------
    handle_words : ndarray of uint64
        The handle-word table.
    page_records : ndarray of RECORD_DTYPE
        The page-record table; each visited record's ``stamp`` is incremented and its
        ``lru_pos`` increased by its ``first_slot``.
    handle_index, page_index : ndarray of int64
        One index into each table per op (the same length).

    Returns
    -------
    uint64
        The sum, modulo 2**64, of the handle words read, so the reads cannot be optimised away.
    """
    total = np.uint64(0)
    for i in range(handle_index.size):
        total += handle_words[handle_index[i]]
        record = page_records[page_index[i]]
        record.stamp = record.stamp + np.uint32(1)
        record.lru_pos = record.lru_pos + np.int64(record.first_slot)
    return total


@njit(cache=True, nogil=True)
def dispatch_floor(a0):
    """Do nothing with one array: one call is one bare Numba dispatch (see the module docstring)."""
    return 0


def dispatch_arguments():
    """The arguments of :func:`dispatch_floor`: one small int64 array.

    Returns
    -------
    tuple of ndarray
    """
    return (np.zeros(4, np.int64),)


class MemoryFloor:
    """Tables the size of a pool's handle and page tables, and ``ops`` random indices into each.

    Building one compiles (or loads) :func:`memory_floor` and runs it once, so the tables are in
    memory before anything is timed.

    Parameters
    ----------
    handle_slots : int
        Entries of the handle-word table (the pool's handle slots).
    pages : int
        Records of the page-record table (the pool's pages).
    ops : int
        Largest number of operations :meth:`seconds` will be asked for.
    seed : int, optional
        Seed of the table contents and indices.
    """

    def __init__(self, handle_slots, pages, ops, seed=SEED):
        rng = np.random.default_rng([seed, 11])
        self.handle_words = rng.integers(0, 1 << 62, handle_slots, dtype=np.uint64)
        self.page_records = np.zeros(pages, RECORD_DTYPE)
        self.page_records["first_slot"] = 1          # touch every page of the table now
        self.handle_index = rng.integers(0, handle_slots, ops)
        self.page_index = rng.integers(0, pages, ops)
        self.seconds(ops)                            # compile or load, and warm the tables

    def seconds(self, ops):
        """Wall time of :func:`memory_floor` over the first ``ops`` indices.

        Parameters
        ----------
        ops : int
            Operations, at most the ``ops`` the tables were built for.

        Returns
        -------
        float
            Seconds.
        """
        handle_index = self.handle_index[:ops]
        page_index = self.page_index[:ops]
        start = time.perf_counter()
        memory_floor(self.handle_words, self.page_records, handle_index, page_index)
        return time.perf_counter() - start


# -- comparisons, shared with the asv suite ------------------------------------------------------

def seconds(operation, *args):
    """Wall time of one call ``operation(*args)``, with the garbage collector off (as asv times).

    Returns
    -------
    float
        Seconds.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        operation(*args)
        return time.perf_counter() - start
    finally:
        if enabled:
            gc.enable()


def versus_floor(floor, prepare, operation, ops, repeat):
    """Best of ``repeat`` of an operation and of the memory floor for as many ops, interleaved.

    Each round calls ``prepare()`` (untimed), times the floor, then times ``operation(state)``
    on the state ``prepare`` returned, so a slow spell of the machine hits both.

    Parameters
    ----------
    floor : MemoryFloor
        The yardstick, built for at least ``ops`` operations.
    prepare : callable
        Builds a fresh state for one round, e.g. a new pool.
    operation : callable
        Called with that state; the timed work.
    ops : int
        Operations the timed work does (objects allocated or freed).
    repeat : int
        Rounds.

    Returns
    -------
    (float, float)
        Best seconds of the operation, best seconds of the floor.
    """
    best, best_floor = np.inf, np.inf
    for _ in range(repeat):
        state = prepare()
        best_floor = min(best_floor, floor.seconds(ops))
        best = min(best, seconds(operation, state))
        del state
    return best, best_floor


def versus_copy(operation, destination, data, repeat):
    """Best of ``repeat`` of an operation and of ``np.copyto(destination, data)``, interleaved.

    Parameters
    ----------
    operation : callable
        The timed work, called without arguments; it should move ``data.nbytes`` bytes.
    destination, data : ndarray
        The yardstick's copy; ``destination`` should already be mapped (written once).
    repeat : int
        Rounds.

    Returns
    -------
    (float, float)
        Best seconds of the operation, best seconds of the copy. The copy's over the
        operation's is the throughput ratio.
    """
    best, best_copy = np.inf, np.inf
    for _ in range(repeat):
        best_copy = min(best_copy, seconds(np.copyto, destination, data))
        best = min(best, seconds(operation))
    return best, best_copy


def one_object_vs_dispatch(pool, calls=DISPATCH_CALLS, rounds=6, size=ONE_OBJECT_SIZE):
    """A one-object ``alloc`` + ``free`` pair against two bare Numba dispatches.

    A few untimed pairs first let a pool that a large batch has just filled grow its tables, so
    the rounds time the steady state. The pair leaves the pool as it found it.

    Parameters
    ----------
    pool : Pool
        A pool with room for one more object of ``size`` bytes.
    calls : int, optional
        Pairs per timed round.
    rounds : int, optional
        Rounds, each timing the dispatches and then the pairs.
    size : int, optional
        The object's size in bytes.

    Returns
    -------
    (float, float)
        Best seconds per alloc + free pair, best seconds per two calls of :func:`dispatch_floor`.
    """
    one = np.array([size], np.int64)
    a0, = dispatch_arguments()
    noop = dispatch_floor
    noop(a0)
    for _ in range(8):
        pool.free(pool.alloc(one))

    def pairs():
        for _ in range(calls):
            pool.free(pool.alloc(one))

    def dispatches():
        for _ in range(calls):
            noop(a0)
            noop(a0)

    best, best_floor = np.inf, np.inf
    for _ in range(rounds):
        best_floor = min(best_floor, seconds(dispatches))
        best = min(best, seconds(pairs))
    return best / calls, best_floor / calls


def engine_alloc_free_seconds(pages, sizes, order, repeat):
    """Best of ``repeat``: a new :class:`Pool` allocates ``sizes`` in one batch, then frees the
    handles in ``order`` in one batch.

    Parameters
    ----------
    pages : int
        Pool size in pages.
    sizes : ndarray of int64
        Object sizes.
    order : ndarray of int64
        A permutation of ``range(sizes.size)``: the order of the frees.
    repeat : int
        Rounds, each on a new pool.

    Returns
    -------
    float
        Seconds of the best round (alloc and free together; building the pool is not timed).
    """
    def one_round():
        pool = Pool(pages=pages)

        def run():
            handles = pool.alloc(sizes)
            pool.free(handles[order])

        return seconds(run)

    return min(one_round() for _ in range(repeat))


def spec_alloc_free_seconds(pages, sizes, order, repeat):
    """:func:`engine_alloc_free_seconds` for the plain-Python :class:`zbudjit.spec.ZbudSpec`.

    The arguments are converted to Python lists before anything is timed.

    Returns
    -------
    float
        Seconds of the best round.
    """
    from .policies.zbud.spec import ZbudSpec

    size_list = [int(size) for size in sizes]
    order_list = [int(i) for i in order]

    def one_round():
        spec = ZbudSpec(pages)

        def run():
            handles = spec.alloc(size_list)
            spec.free([handles[i] for i in order_list])

        return seconds(run)

    return min(one_round() for _ in range(repeat))


# -- the quick check -----------------------------------------------------------------------------

@dataclass(frozen=True)
class BenchRow:
    """One line of :func:`run_bench`'s table.

    Attributes
    ----------
    name : str
        What was timed, e.g. ``"alloc"``, ``"free (random order)"``, ``"memory floor"``.
    ns_per_op : float
        Nanoseconds per operation (per object for batches; per pair for the one-object row).
    ratio : float or None
        Against ``yardstick``, measured in the same run (see the module docstring for its
        direction); None on the yardsticks' own rows.
    yardstick : str
        ``"memory floor"``, ``"numpy copy"``, ``"2 bare dispatches"``, ``"plain-Python spec"``,
        or ``""`` on a yardstick's row.
    goal : str
        The asv suite's goal for ``ratio``, e.g. ``"<= 2"`` or ``">= 0.5"``; ``""`` if none.
    """

    name: str
    ns_per_op: float
    ratio: float | None
    yardstick: str
    goal: str

    @property
    def met(self):
        """Whether ``ratio`` meets ``goal`` (None when the row has no ratio or no goal)."""
        if self.ratio is None or not self.goal:
            return None
        relation, target = self.goal.split()
        return self.ratio <= float(target) if relation == "<=" else self.ratio >= float(target)


def _warm_up():
    """Call every timed kernel once on a small pool, so loading them from Numba's cache (or
    compiling them) is never inside a timed call, table growth (stack rebuild, LRU squeeze) too."""
    pool = Pool(pages=1024)
    sizes = (np.arange(1500, dtype=np.int64) % 20 + 1) * 40   # > 1024: the tables must grow
    offsets = np.zeros(sizes.size + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    data = np.zeros(int(offsets[-1]), np.uint8)
    handles = pool.store(data, offsets)
    pool.write(handles, data, offsets)
    pool.read(handles)
    pool.read(handles, out=data)
    pool.free(handles[np.arange(handles.size)[::-1]])
    for _ in range(2):
        handles = pool.alloc(sizes)
        pool.free(handles[np.arange(handles.size // 2)])
        pool.free(pool.alloc(sizes[:handles.size // 2]))
        pool.free(handles[np.arange(handles.size // 2, handles.size)])


def run_bench(pages=1 << 18, objects=None, repeat=3, seed=0, progress=False):
    """Time zbudjit's operations against their yardsticks in this process (module docstring).

    Parameters
    ----------
    pages : int, optional
        Pool size in 4 KiB pages. The asv goals are defined on ``1 << 20``.
    objects : int, optional
        Objects in the batch; default ``1.5 * pages``. Must fit the pool (zbud puts at most two
        objects on a page), and be at least 2.
    repeat : int, optional
        Rounds of each measurement; each row is the best round. The one-object pair runs
        ``2 * repeat`` rounds of :data:`DISPATCH_CALLS` pairs.
    seed : int, optional
        Seed of the object sizes, the free orders and the floor's indices.
    progress : bool, optional
        Show a tqdm progress bar (on stderr) naming the step being measured.

    Returns
    -------
    list of BenchRow
        In order: memory floor, alloc, free (random order), re-alloc, numpy copy, write, read,
        read into a buffer (out=), 2 bare dispatches, alloc+free one object, plain-Python spec,
        alloc+free batch.

    Raises
    ------
    ValueError
        If ``objects`` is less than 2 or ``repeat`` less than 1 (and as :class:`Pool` does for
        a bad ``pages``).
    zbudjit.PoolFullError
        If the objects do not fit the pool.

    Notes
    -----
    Memory: the object bytes of the batch (about 1.2 KB an object), a destination buffer and a
    read's output of the same size, and the pool's arena where written: about 2.3 GB at the
    default size, 9 GB at ``pages=1 << 20``.
    """
    max_size = Pool(pages=pages).max_size        # checks pages
    objects = int(pages * 3 // 2) if objects is None else int(objects)
    if objects < 2:
        raise ValueError(f"objects must be at least 2, got {objects}")
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    rng = np.random.default_rng([seed, SEED])
    sizes = compressed_page_sizes(rng, objects, max_size)
    order = rng.permutation(objects)
    refill = compressed_page_sizes(rng, objects // 2, max_size)
    spec_objects = min(objects, SPEC_OBJECTS)
    spec_order = rng.permutation(spec_objects)
    rows = []

    def row(name, elapsed, ops, ratio=None, yardstick="", goal=""):
        rows.append(BenchRow(name, elapsed / ops * 1e9, ratio, yardstick, goal))

    steps = ["warm-up", "memory floor", "alloc", "free", "re-alloc", "write and read",
             "one-object alloc+free", "engine batch", "plain-Python spec"]
    with tqdm(total=len(steps), disable=not progress, unit="step", leave=False) as bar:

        def next_step():
            bar.update(1)
            if bar.n < len(steps):
                bar.set_description(steps[bar.n])

        bar.set_description(steps[0])
        _warm_up()
        next_step()
        floor = MemoryFloor(objects, pages, objects, seed=seed)
        next_step()

        def filled():
            pool = Pool(pages=pages)
            return pool, pool.alloc(sizes)[order]

        def half_freed():
            pool, shuffled = filled()
            pool.free(shuffled[:objects // 2])
            return pool

        alloc, floor_alloc = versus_floor(floor, lambda: Pool(pages=pages),
                                          lambda pool: pool.alloc(sizes), objects, repeat)
        next_step()
        free, floor_free = versus_floor(floor, filled, lambda state: state[0].free(state[1]),
                                        objects, repeat)
        next_step()
        realloc, floor_realloc = versus_floor(floor, half_freed, lambda pool: pool.alloc(refill),
                                              objects // 2, repeat)
        next_step()
        row("memory floor", min(floor_alloc, floor_free), objects)
        row("alloc", alloc, objects, alloc / floor_alloc, "memory floor", "<= 2")
        row("free (random order)", free, objects, free / floor_free, "memory floor", "<= 2")
        row("re-alloc", realloc, objects // 2, realloc / floor_realloc, "memory floor", "<= 2")
        del floor

        offsets = np.zeros(objects + 1, np.int64)
        np.cumsum(sizes, out=offsets[1:])
        data = np.full(int(offsets[-1]), 0xA5, np.uint8)
        destination = np.zeros_like(data)            # mapped before the copies are timed
        pool = Pool(pages=pages)
        handles = pool.store(data, offsets)
        write, copy_write = versus_copy(lambda: pool.write(handles, data, offsets),
                                        destination, data, repeat)
        read, copy_read = versus_copy(lambda: pool.read(handles), destination, data, repeat)
        received = np.zeros_like(data)               # read(out=) into memory already mapped
        read_into, copy_into = versus_copy(lambda: pool.read(handles, out=received),
                                           destination, data, repeat)
        del data, destination, offsets, handles, received
        next_step()
        row("numpy copy", min(copy_write, copy_read, copy_into), objects)
        row("write", write, objects, copy_write / write, "numpy copy", ">= 0.5")
        row("read", read, objects, copy_read / read, "numpy copy", ">= 0.5")
        row("read into a buffer (out=)", read_into, objects, copy_into / read_into, "numpy copy",
            ">= 0.5")

        pair, dispatches = one_object_vs_dispatch(pool, rounds=2 * repeat)
        del pool
        next_step()
        row("2 bare dispatches", dispatches, 1)
        row("alloc+free, one object", pair, 1, pair / dispatches, "2 bare dispatches", "<= 10")

        engine = engine_alloc_free_seconds(pages, sizes, order, repeat) / objects
        next_step()
        spec = spec_alloc_free_seconds(pages, sizes[:spec_objects], spec_order, repeat) / spec_objects
        next_step()
        row("plain-Python spec", spec, 1)
        row("alloc+free batch", engine, 1, spec / engine, "plain-Python spec", ">= 300")
    return rows


def format_table(rows):
    """The rows of :func:`run_bench` as a plain-text table.

    Parameters
    ----------
    rows : list of BenchRow

    Returns
    -------
    str
        One header line and one line a row, without a trailing newline.
    """
    header = ("measure", "ns/op", "ratio", "yardstick", "goal", "met")
    lines = [(row.name, f"{row.ns_per_op:,.1f}",
              "-" if row.ratio is None else f"{row.ratio:.3g}", row.yardstick or "-",
              row.goal or "-", {None: "-", True: "yes", False: "no"}[row.met]) for row in rows]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    right = {1, 2}
    return "\n".join("  ".join(cell.rjust(width) if i in right else cell.ljust(width)
                               for i, (cell, width) in enumerate(zip(line, widths))).rstrip()
                     for line in [header, *lines])
