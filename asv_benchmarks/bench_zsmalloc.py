"""The zsmalloc policy (``Pool(policy="zsmalloc")``, 4 KiB pages, chain size 8): batched alloc and
free, the data path over objects that cross page boundaries, zs_compact, memory, and the
plain-Python ``ZsmallocSpec`` against the engine.

The workload: a pool filled to 90% of its pages (:data:`FILL`) with objects sized like zswap's
compressed pages, ``common.object_sizes("compressed")`` (70% 40-900 B, 30% 1500-4032 B), of which
3% (:data:`INCOMPRESSIBLE`) do not compress and are stored as whole 4096-byte objects (zsmalloc's
huge class, one page each). The number of objects that fills 90% is fixed by the mean footprint
of the distribution (pages per zspage over objects per zspage of each object's class, over a
fixed sample), so a change in placement shows up as a change in pages used, not in the workload;
on a 1M-page pool it is 3.0M objects, 3.75 GB. Objects of a class whose slot size does not
divide the page cross from one page of their zspage into the next, so every batch below
includes such straddling objects (17% of them).

time_ suites (pool size, one size distribution; the pool filled to 90% as above):

- ``Alloc.time_alloc``: fill an empty pool in one batch.
- ``FreeRandomOrder.time_free``: free every object of a filled pool, in random order.
- ``ReallocAfterFree.time_realloc``: free a random half, then allocate as many new objects.
- ``CallOverhead.time_alloc_free_one``: a one-object ``alloc`` + ``free`` pair on a filled pool.
- ``WriteRead.time_write``, ``time_read``, ``time_read_into``: ragged write of every object (the
  pool was filled with ``store``), read into a new array, ``read(out=)`` into a buffer already
  mapped; ``NumpyCopy.time_numpy_copy``, the yardstick, copies the same bytes.
- ``Compact.time_compact``: ``compact()`` (zs_compact) after a random half was freed.

Objects are written before they are freed (``FreeRandomOrder``, ``ReallocAfterFree``, the free
and re-alloc ratios, the engine's side of ``SpecVsEngine``): zs_free keeps a freed slot's
free-list link inside the slot, so a free of objects never written would time the first touch
of their pages (a page fault and the kernel's zeroing, 30-45% of a 1M-page batched free here)
rather than the allocator. The kernel's zspages are always resident; once written, so are these.
(``Compact`` writes only the survivors, as ``bench_compaction`` does; its frees are untimed.)

peakmem_ and tracked: ``BuildPool.peakmem_build_pool`` (peak RSS of building and filling a pool),
``Occupancy`` and ``Fill1M`` (``stats()``'s metadata bytes per page, density, pages used).

The data path, compaction, free and re-alloc skip 2**22 pages, as ``bench_data_path`` and
``bench_compaction`` do: the objects' bytes, resident, would be 15 GB.

Goals (``Ratios``, ``DataPathRatios``, ``CompactionRatios``, ``SpecVsEngine``; each measured in
one process, best of N against best of N of its yardstick, interleaved), on a 1M-page pool
(2**20 pages) filled to 90%:

=========================================================  =========
alloc (3.0M objects) / memory floor                        <= 2.5
free in random order (3.0M) / memory floor                 <= 2.5
re-alloc (free a random half, alloc as many) / floor       <= 2.5
ragged write throughput / numpy copy throughput            >= 0.5
read(out=) throughput (reused buffer) / numpy copy         >= 0.5
compact() at 50% live objects (a random half freed)        <= 0.5 s
reference ZsmallocSpec / engine, alloc + random free       >= 100
(a 2**16-page pool filled to 90%, 188k objects)
=========================================================  =========

The memory floor is ``floor.py``'s, the same yardstick as zbud's ratios in ``bench_alloc_free``:
per op one random 8-byte read of a table with one uint64 per handle slot plus one random
read-modify-write of a 24-byte record in a table with one record per page. The NumPy copy and
``read(out=)`` write into the same buffer, already mapped, so the read is compared like for like
(and the 1M-page data path needs three copies of the payload, not four: about 11 GB).
"""

import functools

import numpy as np

import zbudjit as zj

from . import floor
from .common import (PAGES, RATIO_PAGES, SEED, object_sizes, offsets_of, payload, permutation,
                     seconds, touched)

POLICY = "zsmalloc"
PAGE_SIZE = 4096
CHAIN_SIZE = 8
FILL = 0.9                 # share of the pool's pages the objects take
INCOMPRESSIBLE = 0.03      # share of objects stored whole, as PAGE_SIZE bytes
SAMPLE = 1 << 20           # objects the mean footprint is taken over
LARGEST_PAGES = 2**19      # the data path, compaction, free and re-alloc skip 2**22 pages
SPEC_PAGES = 2**16         # SpecVsEngine's pool
ONE_OBJECT_SIZE = 700

_BLOCK = 1 << 20           # the incompressible share is drawn a block at a time (peakmem_)
_WRITE_CHUNK = 1 << 16     # objects written per call by write_all


def new_pool(pages):
    """An empty zsmalloc pool of ``pages`` pages."""
    return zj.Pool(pages=pages, policy=POLICY, page_size=PAGE_SIZE, chain_size=CHAIN_SIZE)


def requires_zsmalloc():
    """Skip the benchmark (NotImplementedError in setup) on a commit without the zsmalloc policy."""
    try:
        new_pool(1)
    except (TypeError, ValueError):       # no policy= / chain_size= argument, or no such policy
        raise NotImplementedError("zbudjit.Pool has no zsmalloc policy at this commit") from None


@functools.lru_cache(maxsize=4)
def zsmalloc_sizes(n, seed=SEED):
    """``n`` object sizes (int64): ``common.object_sizes("compressed", n, seed)``, with a share
    :data:`INCOMPRESSIBLE` of them (chosen at random) set to :data:`PAGE_SIZE`. Cached for the
    process: do not modify it."""
    sizes = object_sizes("compressed", n, seed).copy()
    rng = np.random.default_rng([seed, 13])
    for start in range(0, n, _BLOCK):
        block = sizes[start:start + _BLOCK]
        block[rng.random(block.size) < INCOMPRESSIBLE] = PAGE_SIZE
    return sizes


@functools.lru_cache(maxsize=1)
def _mean_footprint():
    """Mean pages an object of :func:`zsmalloc_sizes` takes in a full zspage of its class."""
    from zbudjit.policies.zsmalloc.classes import class_lookup_table, size_class_table
    table = size_class_table(PAGE_SIZE, CHAIN_SIZE)
    pages_per_object = table["pages_per_zspage"] / table["objs_per_zspage"]
    by_size = pages_per_object[class_lookup_table(PAGE_SIZE, CHAIN_SIZE)[1:]]
    return float(by_size[zsmalloc_sizes(SAMPLE, seed=SEED + 1) - 1].mean())


def objects_to_fill(pages):
    """How many objects of :func:`zsmalloc_sizes` take :data:`FILL` of ``pages`` pages."""
    return int(FILL * pages / _mean_footprint())


def fill_sizes(pages):
    """The sizes that fill a pool of ``pages`` pages to 90%."""
    return zsmalloc_sizes(objects_to_fill(pages))


def refill_sizes(pages):
    """Sizes of as many new objects as half the fill, from another draw."""
    return zsmalloc_sizes(objects_to_fill(pages) // 2, seed=1)


def write_all(pool, handles, sizes):
    """Write the objects' bytes, :data:`_WRITE_CHUNK` objects a call (one payload buffer of at most
    256 MiB), so that their pages are resident as the kernel's zspages are."""
    data = payload(min(sizes.size, _WRITE_CHUNK) * PAGE_SIZE)
    for start in range(0, sizes.size, _WRITE_CHUNK):
        offsets = offsets_of(sizes[start:start + _WRITE_CHUNK])
        pool.write(handles[start:start + _WRITE_CHUNK], data[:offsets[-1]], offsets)


def filled_pool(pages, settle=False, written=False):
    """A new pool of ``pages`` pages filled to 90%, and its handles (``common.filled_pool``).

    ``written=True`` also writes every object's bytes (:func:`write_all`), for benchmarks that
    free (see the module docstring).
    """
    sizes = fill_sizes(pages)
    pool = new_pool(pages)
    handles = pool.alloc(sizes)
    if written:
        write_all(pool, handles, sizes)
    if settle:
        for _ in range(8):
            pool.free(pool.alloc(sizes[:1]))
    return pool, handles


def shuffled_pool(pages):
    """A pool filled to 90%, every object written (:func:`filled_pool`), and its handles in
    random order (``common.permutation``): the state before a free in random order."""
    pool, handles = filled_pool(pages, written=True)
    return pool, handles[permutation(handles.size)]


def half_freed_pool(pages):
    """A :func:`shuffled_pool` with a random half of its objects freed: the state before a
    re-alloc."""
    pool, shuffled = shuffled_pool(pages)
    pool.free(shuffled[:shuffled.size // 2])
    return pool


@functools.lru_cache(maxsize=1)
def warm_up():
    """Call every zsmalloc kernel once on a small pool (``common.warm_up`` for this policy), so
    loading them from Numba's cache is never inside a timed call."""
    pool = new_pool(1024)
    sizes = np.arange(1, 301, dtype=np.int64) * 13
    sizes[-4:] = PAGE_SIZE
    handles = pool.alloc(sizes)
    offsets = offsets_of(sizes)
    data = payload(offsets[-1])
    pool.write(handles, data, offsets)
    pool.read(handles)
    pool.read(handles, out=touched(data.size))
    stored = pool.store(data, offsets)
    pool.locate(handles)
    pool.free(handles[::2])
    pool.free(stored[permutation(stored.size)])
    pool.compact()
    pool.stats()
    pool.class_stats()
    return True


def _setup(written_pages=None):
    """What every suite's setup starts with: skip old commits, warm up. The suites that hold
    every object's bytes in memory pass their pool size, ``written_pages``, and skip pools of
    more than :data:`LARGEST_PAGES`."""
    if written_pages is not None and written_pages > LARGEST_PAGES:
        raise NotImplementedError("the objects' bytes of a 2**22-page pool (15 GB) are too many "
                                  "to write here")
    requires_zsmalloc()
    warm_up()


# -- alloc and free --------------------------------------------------------------------------------

class _NewPoolEachCall:
    """What the suites whose timed call changes the pool share: ``number = 1``, so that every
    timed call gets a new pool from ``setup``, and a ``teardown`` that drops it."""

    params = [PAGES]
    param_names = ["pages"]
    number = 1
    repeat = (3, 10, 20.0)
    timeout = 300

    def teardown(self, pages):
        self.pool = None       # also reached after a skipped setup


class Alloc(_NewPoolEachCall):
    """Fill an empty pool to 90% in one batch."""

    def setup(self, pages):
        _setup()
        self.sizes = fill_sizes(pages)
        self.pool = new_pool(pages)

    def time_alloc(self, pages):
        self.pool.alloc(self.sizes)


class FreeRandomOrder(_NewPoolEachCall):
    """Free every object of a pool filled to 90%, in one batch, in random order."""

    def setup(self, pages):
        _setup(pages)
        self.pool, self.victims = shuffled_pool(pages)

    def time_free(self, pages):
        self.pool.free(self.victims)


class ReallocAfterFree(_NewPoolEachCall):
    """Free a random half of a filled pool's objects, then allocate as many new objects (timed)."""

    def setup(self, pages):
        _setup(pages)
        self.pool = half_freed_pool(pages)
        self.refill = refill_sizes(pages)

    def time_realloc(self, pages):
        self.pool.alloc(self.refill)


_filled_pools = {}


class CallOverhead:
    """One-object ``alloc`` then ``free`` of the same handle on a filled pool; the pair leaves the
    pool as it found it, so one pool serves every call."""

    params = [PAGES]
    param_names = ["pages"]
    number = 200
    repeat = (3, 10, 10.0)

    def setup(self, pages):
        _setup()
        if pages not in _filled_pools:
            _filled_pools[pages] = filled_pool(pages, settle=True)[0]
        self.pool = _filled_pools[pages]
        self.one = np.array([ONE_OBJECT_SIZE], np.int64)

    def time_alloc_free_one(self, pages):
        self.pool.free(self.pool.alloc(self.one))


class Ratios:
    """alloc, free in random order and re-alloc against the memory floor (module docstring)."""

    repeats = 5
    timeout = 600

    def setup(self):
        floor.require()
        _setup()
        self.sizes = fill_sizes(RATIO_PAGES)
        self.objects = self.sizes.size
        self.refill = refill_sizes(RATIO_PAGES)

    @functools.cached_property
    def yardstick(self):
        """The floor's tables, one handle word per object and one record per page."""
        return floor.MemoryFloor(self.objects, RATIO_PAGES, self.objects)

    def _versus_floor(self, prepare, operation, ops):
        best, best_floor = floor.versus_floor(self.yardstick, prepare, operation, ops, self.repeats)
        return best / best_floor

    def track_alloc_vs_floor(self):
        return self._versus_floor(
            lambda: new_pool(RATIO_PAGES),
            lambda pool: pool.alloc(self.sizes),
            self.objects)

    track_alloc_vs_floor.unit = "ratio"

    def track_free_random_vs_floor(self):
        return self._versus_floor(
            lambda: shuffled_pool(RATIO_PAGES),
            lambda state: state[0].free(state[1]),
            self.objects)

    track_free_random_vs_floor.unit = "ratio"

    def track_realloc_vs_floor(self):
        return self._versus_floor(
            lambda: half_freed_pool(RATIO_PAGES),
            lambda pool: pool.alloc(self.refill),
            self.refill.size)

    track_realloc_vs_floor.unit = "ratio"


def _engine_alloc_free_seconds(pages, sizes, order, repeat):
    """``floor.engine_alloc_free_seconds`` on a zsmalloc pool: best of ``repeat`` rounds, each a
    new pool allocating ``sizes`` in one batch and freeing the handles in ``order`` in one.

    Between the two timed calls the objects' bytes are written (untimed), as before every free
    in this module, so the free does not time first touches of the new pool's pages.
    """
    def one_round():
        pool = new_pool(pages)
        allocated = []
        alloc = seconds(lambda: allocated.append(pool.alloc(sizes)))
        handles = allocated[0]
        write_all(pool, handles, sizes)
        return alloc + seconds(lambda: pool.free(handles[order]))

    return min(one_round() for _ in range(repeat))


def _spec_alloc_free_seconds(pages, sizes, order, repeat):
    """The same for ``ZsmallocSpec``; its arguments become Python lists before anything is timed."""
    from zbudjit.policies.zsmalloc.spec import ZsmallocSpec

    size_list = [int(size) for size in sizes]
    order_list = [int(i) for i in order]

    def one_round():
        spec = ZsmallocSpec(pages, PAGE_SIZE, CHAIN_SIZE)

        def run():
            handles = spec.alloc(size_list)
            spec.free([handles[i] for i in order_list])

        return seconds(run)

    return min(one_round() for _ in range(repeat))


class SpecVsEngine:
    """The plain-Python reference ``ZsmallocSpec`` over the engine, for one batched alloc that
    fills a 2**16-page pool to 90% (188k objects) and a free of all of them in random order
    (the engine's objects written in between, untimed). Goal: >= 100."""

    timeout = 600

    def setup(self):
        _setup()
        self.sizes = fill_sizes(SPEC_PAGES)
        self.order = permutation(self.sizes.size)

    def track_spec_vs_engine(self):
        engine = _engine_alloc_free_seconds(SPEC_PAGES, self.sizes, self.order, 5)
        spec = _spec_alloc_free_seconds(SPEC_PAGES, self.sizes, self.order, 2)
        return spec / engine

    track_spec_vs_engine.unit = "ratio"


# -- the data path ---------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _batch(pages):
    """The ragged batch ``(data, offsets)`` that fills a pool of ``pages`` pages to 90%."""
    offsets = offsets_of(fill_sizes(pages))
    return payload(offsets[-1]), offsets


@functools.lru_cache(maxsize=1)
def _stored(pages):
    """A pool holding the batch, and its handles. ``write`` rewrites the same bytes and ``read``
    changes nothing, so one pool serves every timed call of a process."""
    data, offsets = _batch(pages)
    pool = new_pool(pages)
    return pool, pool.store(data, offsets)


class WriteRead:
    """Ragged write and read of every object of a pool filled to 90%."""

    params = [PAGES]
    param_names = ["pages"]
    repeat = (3, 10, 20.0)
    timeout = 300

    def setup(self, pages):
        _setup(pages)
        self.data, self.offsets = _batch(pages)
        self.pool, self.handles = _stored(pages)
        self.received = touched(self.data.size)

    def time_write(self, pages):
        self.pool.write(self.handles, self.data, self.offsets)

    def time_read(self, pages):
        self.pool.read(self.handles)

    def time_read_into(self, pages):
        self.pool.read(self.handles, out=self.received)


class NumpyCopy:
    """The yardstick: ``np.copyto`` of ``WriteRead``'s bytes into memory already mapped."""

    params = [PAGES]
    param_names = ["pages"]
    repeat = (3, 10, 20.0)
    timeout = 300

    def setup(self, pages):
        _setup(pages)
        self.data, _ = _batch(pages)
        if getattr(self, "destination", None) is None or self.destination.size != self.data.size:
            self.destination = touched(self.data.size)

    def time_numpy_copy(self, pages):
        np.copyto(self.destination, self.data)


class DataPathRatios:
    """Throughput of the ragged write and of ``read(out=)`` over NumPy's copy of the same bytes
    into the same buffer (1M-page pool filled to 90%)."""

    repeats = 3
    timeout = 600

    def setup(self):
        _setup()
        self.data, self.offsets = _batch(RATIO_PAGES)
        self.pool, self.handles = _stored(RATIO_PAGES)
        self.buffer = touched(self.data.size)      # the copy's destination and read's out=

    def _versus_copy(self, operation):
        # floor.py does not re-export versus_copy; every commit with the zsmalloc policy has it
        from zbudjit.bench import versus_copy
        best, best_copy = versus_copy(operation, self.buffer, self.data, self.repeats)
        return best_copy / best      # same bytes, so the throughput ratio is the inverse time ratio

    def track_write_vs_numpy_copy(self):
        return self._versus_copy(lambda: self.pool.write(self.handles, self.data, self.offsets))

    track_write_vs_numpy_copy.unit = "ratio"

    def track_read_into_vs_numpy_copy(self):
        return self._versus_copy(lambda: self.pool.read(self.handles, out=self.buffer))

    track_read_into_vs_numpy_copy.unit = "ratio"


# -- compaction ------------------------------------------------------------------------------------

def fragmented_pool(pages):
    """A pool filled to 90%, a random half of its objects freed, the survivors' bytes written
    (``bench_compaction.fragmented_pool``), so moves copy resident memory."""
    pool, handles = filled_pool(pages)
    order = permutation(handles.size)
    pool.free(handles[order[:handles.size // 2]])
    live = np.sort(order[handles.size // 2:])
    write_all(pool, handles[live], fill_sizes(pages)[live])
    return pool


class Compact(_NewPoolEachCall):
    """zs_compact of a pool filled to 90% and then half freed at random."""

    # number = 1 (inherited): compaction is one-way, every timed call gets a new fragmented pool
    repeat = (2, 6, 30.0)
    timeout = 600

    def setup(self, pages):
        _setup(pages)
        self.pool = fragmented_pool(pages)

    def time_compact(self, pages):
        self.pool.compact()


class CompactionRatios:
    """Seconds to compact the 1M-page pool of the goal at 50% live objects (best of N)."""

    repeats = 3
    timeout = 900

    def setup(self):
        _setup()

    def track_compact_1m_seconds(self):
        best = np.inf
        for _ in range(self.repeats):
            pool = fragmented_pool(RATIO_PAGES)
            best = min(best, seconds(pool.compact))
            del pool
        return best

    track_compact_1m_seconds.unit = "seconds"


# -- memory ----------------------------------------------------------------------------------------

class BuildPool:
    """Peak RSS of building a pool of ``pages`` pages and filling it to 90% (no bytes written);
    it includes Python, NumPy and Numba, so compare it between commits, not against zero."""

    params = [PAGES]
    param_names = ["pages"]
    timeout = 300

    def setup(self, pages):
        _setup()
        self.sizes = fill_sizes(pages)

    def peakmem_build_pool(self, pages):
        pool = new_pool(pages)
        pool.alloc(self.sizes)


class _StatsTracks:
    """The tracks of a filled pool's ``stats()``, which the setup keeps in ``self.stats``;
    ``*pages`` takes the parameter of a parameterised suite, if any. Tracked, no goals."""

    timeout = 300

    def track_metadata_bytes_per_page(self, *pages):
        return self.stats.metadata_bytes_per_page

    track_metadata_bytes_per_page.unit = "bytes"

    def track_density(self, *pages):
        return self.stats.density

    track_density.unit = "ratio"

    def track_pages_used(self, *pages):
        return self.stats.pages_used

    track_pages_used.unit = "pages"


class Occupancy(_StatsTracks):
    """``stats()`` of a pool of ``pages`` pages filled to 90% in one batch."""

    params = [PAGES]
    param_names = ["pages"]

    def setup(self, pages):
        _setup()
        self.stats = filled_pool(pages)[0].stats()


class Fill1M(_StatsTracks):
    """``stats()`` of the goal workload: a 1M-page pool (2**20 pages) filled to 90%."""

    def setup(self):
        _setup()
        self.stats = filled_pool(RATIO_PAGES)[0].stats()
