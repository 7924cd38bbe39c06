"""Workloads and timing helpers shared by the benchmark modules.

Every workload is deterministic (fixed seeds), so two commits are measured on the same objects.
The size distributions live here rather than being imported from ``zbudjit.cli``, so a change to
the command line's demo cannot silently change what the benchmarks measure.
"""

import functools
import gc
import time

import numpy as np

import zbudjit as zj

# Parameters of the class-based suites: pool sizes in pages, and object size distributions.
PAGES = [2**16, 2**19, 2**22]
SIZE_KINDS = ["uniform", "compressed", "tiny"]
PARAM_NAMES = ["pages", "sizes"]

# The workload the track_ ratios are defined on: a 1M-page pool and 1.5M objects sized like
# zswap's compressed pages.
RATIO_PAGES = 2**20
RATIO_OBJECTS = 1_500_000

SEED = 2014
_KIND_SEEDS = {"uniform": 1, "compressed": 2, "tiny": 3}
_BLOCK = 1 << 20      # sizes are drawn a block at a time, so peakmem_ does not see the temporaries


def max_object_size():
    """Largest object of a default pool (4 KiB pages, no header chunk): 4032 B today."""
    return zj.Pool(pages=1).max_size


def object_sizes(kind, n, seed=SEED):
    """``n`` object sizes (int64) drawn from distribution ``kind``.

    ``uniform``: 1 .. max_size. ``compressed``: like zswap's compressed pages and
    ``zbudjit.workloads.compressed_page_sizes`` (70% compress well, 40-900 B; 30% poorly,
    1500 B .. max_size). ``tiny``: 1-64 B, one chunk each. The array is cached for the process:
    do not modify it.
    """
    return _object_sizes(kind, int(n), max_object_size(), seed)


@functools.lru_cache(maxsize=8)
def _object_sizes(kind, n, max_size, seed):
    rng = np.random.default_rng([seed, _KIND_SEEDS[kind]])
    sizes = np.empty(n, np.int64)
    for start in range(0, n, _BLOCK):
        m = min(_BLOCK, n - start)
        if kind == "uniform":
            sizes[start:start + m] = rng.integers(1, max_size + 1, m)
        elif kind == "compressed":
            well = rng.integers(40, 901, m)
            poorly = rng.integers(1500, max_size + 1, m)
            sizes[start:start + m] = np.where(rng.random(m) < 0.7, well, poorly)
        elif kind == "tiny":
            sizes[start:start + m] = rng.integers(1, 65, m)
        else:
            raise ValueError(f"unknown size distribution {kind!r}")
    return sizes


def permutation(n, seed=SEED):
    """A fixed random order of ``n`` items (int64)."""
    return np.random.default_rng([seed, 7]).permutation(n)


def offsets_of(sizes):
    """Ragged-batch offsets: object ``i`` is ``data[offsets[i]:offsets[i + 1]]``."""
    offsets = np.zeros(sizes.size + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return offsets


def payload(nbytes):
    """``nbytes`` of object data. Copy speed does not depend on the values, so a cheap pattern."""
    data = np.empty(int(nbytes), np.uint8)
    data[:] = 0xA5
    return data


def touched(nbytes):
    """A destination buffer already mapped in memory (no first-touch page faults when timed)."""
    buffer = np.empty(int(nbytes), np.uint8)
    buffer[:] = 0
    return buffer


def requires(*methods):
    """Skip the benchmark (asv treats NotImplementedError in setup as a skip) on a commit whose
    ``Pool`` lacks one of ``methods``, so the suite can run over the project's history."""
    missing = [name for name in methods if not hasattr(zj.Pool, name)]
    if missing:
        raise NotImplementedError(f"zbudjit.Pool has no {', '.join(missing)} at this commit")


def filled_pool(pages, sizes, settle=False):
    """A new pool of ``pages`` pages with one object allocated per entry of ``sizes``.

    A large first batch leaves the pool's growable tables (handle slots, LRU log) exactly full,
    so the next call that needs room grows or squeezes them: O(pool) work, once (about 0.2 s at
    2**22 pages), and the next few calls are still slow. ``settle=True`` pays that now with a few
    one-object alloc + free pairs, for benchmarks that time a steady-state operation rather than
    the first one after a fill.
    """
    pool = zj.Pool(pages=pages)
    handles = pool.alloc(sizes)
    if settle:
        for _ in range(8):
            pool.free(pool.alloc(sizes[:1]))
    return pool, handles


@functools.lru_cache(maxsize=1)
def warm_up():
    """Call every kernel once on a tiny pool, so that loading compiled kernels from Numba's cache
    (about 0.1-0.3 s in a new process) is never inside a timed call, even with ``--quick``."""
    pool = zj.Pool(pages=1024)
    sizes = np.arange(1, 301, dtype=np.int64) * 13
    handles = pool.alloc(sizes)
    offsets = offsets_of(sizes)
    data = payload(offsets[-1])
    pool.write(handles, data, offsets)
    pool.read(handles)
    if hasattr(zj.Pool, "store"):
        pool.store(data, offsets)
    pool.locate(handles)
    pool.free(handles[::2])
    pool.stats()
    if hasattr(zj.Pool, "reclaim"):
        pool.reclaim(4, lambda h, d, o: None)
        pool.reclaim(4, lambda h, d, o: np.arange(h.size) % 2 == 0)
    if hasattr(zj.Pool, "compact"):
        pool.compact(max_bytes=1 << 10)
        pool.compact()
    return True


def seconds(operation, *args):
    """Wall time of one call, with the garbage collector off (as asv's own timer does).

    The same as ``zbudjit.bench.seconds``, kept here because the data-path and compaction
    ratios also run on commits from before ``zbudjit.bench`` existed."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        operation(*args)
        return time.perf_counter() - start
    finally:
        if enabled:
            gc.enable()
