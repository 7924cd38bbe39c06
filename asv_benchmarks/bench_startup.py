"""Start-up cost, measured in fresh subprocesses: what a user pays before the first batch runs.

- ``Startup.track_import_seconds``: ``import zbudjit`` (with NumPy and Numba) in a new
  interpreter.
- ``Startup.track_import_and_first_alloc_seconds``: that import, then ``Pool(pages=2**20)`` and
  its first ``alloc``, with Numba's on-disk cache warm (the kernels are loaded, not compiled).
- ``ColdCompile.track_cold_compile_seconds``: every operation of the public API run once on a
  small pool in a new interpreter whose ``NUMBA_CACHE_DIR`` is a new empty directory, so every
  kernel is compiled (the import is not included).

asv's timers cannot see inside another process, so these are track_ benchmarks: the child times
itself with ``time.perf_counter`` and prints the numbers; each value is the best of a few
children. Goal: no fixed number yet; a jump means a kernel got slower to compile or load.
"""

import json
import os
import subprocess
import sys
import tempfile

from .common import requires

# Run by the child. Prints {"import": s, "first_alloc": s, "exercise": s} on its last line.
CHILD = r"""
import json, sys, time
start = time.perf_counter()
import numpy as np
import zbudjit as zj
imported = time.perf_counter()
timings = {"import": imported - start}
if sys.argv[1] == "first_alloc":
    pool = zj.Pool(pages=1 << 20)
    pool.alloc(np.array([100, 2000, 3000], np.int64))
    timings["first_alloc"] = time.perf_counter() - imported
else:
    pool = zj.Pool(pages=4096)
    sizes = np.arange(1, 3001, dtype=np.int64) * 7 % pool.max_size + 1
    offsets = np.zeros(sizes.size + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    data = np.full(int(offsets[-1]), 7, np.uint8)
    handles = pool.alloc(sizes)
    pool.write(handles, data, offsets)
    pool.read(handles)
    stored = pool.store(data, offsets)
    pool.locate(handles)
    pool.sizes(handles)
    pool.free(handles[::2])
    for _ in range(50):                      # enough churn to squeeze and grow the tables
        pool.free(pool.alloc(sizes[:1000]))
    try:
        pool.free(handles[:1])               # the error path: a stale handle
    except zj.InvalidHandleError:
        pass
    pool.lru_order()
    pool.handles()
    pool.stats()
    pool.check()
    pool.reclaim(8, lambda h, d, o: None)
    pool.reclaim(8, lambda h, d, o: np.arange(h.size) % 2 == 0)
    pool.compact(max_bytes=1 << 12)
    pool.compact()
    try:                                     # the demo command's helper, where it lives now
        from zbudjit.engine.datapath import gather_ragged
    except ImportError:                      # commits before the engine/ layout, if they have it
        from zbudjit import _tables
        gather_ragged = getattr(_tables, "gather_ragged", None)
    if gather_ragged is not None:
        gather_ragged(data, offsets, np.arange(3, dtype=np.int64))
    timings["exercise"] = time.perf_counter() - imported
print(json.dumps(timings))
"""


def run_child(what, cache_dir=None):
    """Run CHILD in a new interpreter; return its timings. ``cache_dir`` sets NUMBA_CACHE_DIR."""
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    result = subprocess.run([sys.executable, "-c", CHILD, what], env=env, capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"the start-up child failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


class Startup:
    """Cached import and first alloc (best of ``runs`` children)."""

    runs = 5
    timeout = 300

    def setup(self):
        run_child("first_alloc")     # make sure the cache holds the kernels the child will load

    def track_import_seconds(self):
        return min(run_child("first_alloc")["import"] for _ in range(self.runs))

    track_import_seconds.unit = "seconds"

    def track_import_and_first_alloc_seconds(self):
        return min(sum(run_child("first_alloc").values()) for _ in range(self.runs))

    track_import_and_first_alloc_seconds.unit = "seconds"


class ColdCompile:
    """Compiling every kernel from nothing (best of ``runs`` children, each with an empty cache)."""

    runs = 2
    timeout = 900

    def setup(self):
        requires("store", "reclaim", "compact")

    def track_cold_compile_seconds(self):
        best = float("inf")
        for _ in range(self.runs):
            with tempfile.TemporaryDirectory(prefix="zbudjit-numba-cache-") as cache_dir:
                best = min(best, run_child("exercise", cache_dir)["exercise"])
        return best

    track_cold_compile_seconds.unit = "seconds"
