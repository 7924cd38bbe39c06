"""The zram frontend: writing real pages against the running kernel's own zram, and replaying a
kernel-check-shaped trace of compressed sizes.

- ``ZramWriteVsKernel``: ``Zram(disksize, compressor="lz4").write`` of about 20,000 real pages
  (``zbudjit.pagesource.default_pages``: this Python installation's files), each round on a fresh
  device, against the live kernel's zram (``zbudjit.kernel.zram.ZramDevice``, a private device it
  hot-adds and always removes; lz4; 1 MiB O_DIRECT writes) writing the same pages to a fresh
  device. Both are timed in one process, best of N rounds interleaved, so a slow spell of the
  machine hits both. Tracked: zbudjit's pages/s, the kernel's pages/s, and their ratio. Skipped
  (with the reason) where :func:`zbudjit.kernel.zram.availability` says no: not root, or no zram.
- ``ZramWrite``: zbudjit's pages/s alone, which needs no kernel (so a machine without zram still
  records it).
- ``ZramReplay``: ``Zram(..., keep_data=False).replay`` of 2M operations shaped like a kernel-check
  recording: 25% discards, writes whose compressed lengths are the lz4 sizes of real pages (0 for
  a same-filled page, 4096 for one of at least 3625 bytes, as the kernel reports a page stored
  raw), uniform random indices over 4,096 or 65,536 pages, a compaction every 100,000 operations.
  Tracked: operations/s, best of N rounds, each on a fresh device.

Goals:

=========================================================  =========
zbudjit write pages/s / kernel zram write pages/s (lz4)    >= 1
size-only replay, operations/s                             >= 1,000,000
=========================================================  =========

The kernel's side includes what any user of the block device pays (a system call a 1 MiB run,
the block layer); zbudjit's includes compressing in batches. Both compress with lz4, but with
different builds of it (python-lz4's and the kernel's), so their compressed sizes differ a little.
"""

import functools

import numpy as np

from .common import seconds

WRITE_PAGES = 20_000
PAGE_SIZE = 4096
HUGE = 3625                 # huge_class_size at 4 KiB pages, chain 8: stored raw from here on
REPLAY_OPS = 2_000_000
COMPACT_EVERY = 100_000
DISCARD_SHARE = 0.25
SEED = 2026


def _requires_zram_frontend():
    """Skip on commits from before the zram frontend (the suite runs over history)."""
    try:
        from zbudjit.frontends.zram import Zram
    except ImportError:
        raise NotImplementedError("zbudjit.frontends.zram is not in this commit") from None
    return Zram


def _requires_kernel_zram():
    """The driver of private kernel zram devices, or skip with availability()'s reason."""
    try:
        from zbudjit.kernel import zram
    except ImportError:
        raise NotImplementedError("zbudjit.kernel.zram is not in this commit") from None
    ok, reason = zram.availability()
    if not ok:
        raise NotImplementedError(f"the kernel's zram cannot be used here: {reason}")
    return zram


@functools.lru_cache(maxsize=1)
def _real_pages():
    from zbudjit.pagesource import default_pages
    return np.ascontiguousarray(default_pages(PAGE_SIZE, max_pages=WRITE_PAGES).pages)


class ZramWrite:
    """zbudjit's zram write of about 20,000 real pages, each round on a fresh device."""

    repeats = 5
    timeout = 300

    def setup(self):
        self.Zram = _requires_zram_frontend()
        self.pages = _real_pages()
        self.indices = np.arange(len(self.pages), dtype=np.int64)
        self.disksize = len(self.pages) * PAGE_SIZE
        # load the kernels from Numba's cache and touch the compressor outside the timed calls
        warm = self.Zram(64 * PAGE_SIZE, compressor="lz4")
        warm.write(self.indices[:64], self.pages[:64])
        warm.close()

    def _zbudjit_seconds(self):
        device = self.Zram(self.disksize, compressor="lz4")       # untimed: a fresh device
        try:
            return seconds(device.write, self.indices, self.pages)
        finally:
            device.close()

    def track_pages_per_second(self):
        return len(self.pages) / min(self._zbudjit_seconds() for _ in range(self.repeats))

    track_pages_per_second.unit = "pages/s"


class ZramWriteVsKernel(ZramWrite):
    """zbudjit's zram write against the kernel's zram writing the same pages (see the module
    docstring). Goal: ratio >= 1."""

    def setup(self):
        self.kernel = _requires_kernel_zram()
        super().setup()
        try:
            with self.kernel.ZramDevice(64 * PAGE_SIZE, "lz4", max_pages_per_write=256) as device:
                device.write_pages(0, self.pages[:64])
        except ValueError as error:         # this kernel's zram offers no lz4
            raise NotImplementedError(str(error)) from None

    def _kernel_seconds(self):
        # a fresh private device each round (hot_add and removal untimed); never /dev/zram0
        with self.kernel.ZramDevice(self.disksize, "lz4", max_pages_per_write=256) as device:
            return seconds(device.write_pages, 0, self.pages)

    def _best_of_interleaved(self):
        best, best_kernel = np.inf, np.inf
        for _ in range(self.repeats):
            best_kernel = min(best_kernel, self._kernel_seconds())
            best = min(best, self._zbudjit_seconds())
        return best, best_kernel

    def track_zbudjit_pages_per_second(self):
        best, _ = self._best_of_interleaved()
        return len(self.pages) / best

    track_zbudjit_pages_per_second.unit = "pages/s"

    def track_kernel_pages_per_second(self):
        _, best_kernel = self._best_of_interleaved()
        return len(self.pages) / best_kernel

    track_kernel_pages_per_second.unit = "pages/s"

    def track_zbudjit_vs_kernel(self):
        best, best_kernel = self._best_of_interleaved()
        return best_kernel / best           # same pages: the throughput ratio

    track_zbudjit_vs_kernel.unit = "ratio"

    track_pages_per_second = None           # tracked by ZramWrite


@functools.lru_cache(maxsize=1)
def _lz4_lengths():
    """comp_len as the kernel reports each real page's write: 0 same-filled, 4096 when stored
    raw (a compressed length of at least HUGE), else lz4's compressed length."""
    from zbudjit import compressors
    pages = _real_pages()
    _, offsets = compressors.get_compressor("lz4").compress(pages)
    lengths = np.diff(offsets).astype(np.int64)
    lengths[lengths >= HUGE] = PAGE_SIZE
    words = pages.view(np.uint64)
    lengths[(words == words[:, :1]).all(axis=1)] = 0
    return lengths


@functools.lru_cache(maxsize=2)
def _trace(indices_over):
    """``(ops, indices, comp_lens)`` of REPLAY_OPS operations (see the module docstring)."""
    from zbudjit.kernel.zram import OP_COMPACT, OP_DISCARD, OP_WRITE
    rng = np.random.default_rng([SEED, indices_over])
    ops = np.where(rng.random(REPLAY_OPS) < DISCARD_SHARE, OP_DISCARD, OP_WRITE).astype(np.uint8)
    ops[COMPACT_EVERY - 1::COMPACT_EVERY] = OP_COMPACT
    indices = rng.integers(0, indices_over, REPLAY_OPS, dtype=np.int64)
    lengths = _lz4_lengths()
    comp_lens = lengths[rng.integers(0, lengths.size, REPLAY_OPS)]
    # as a recording has them: -1 where an operation is not a write, no index for a compaction
    comp_lens[ops != OP_WRITE] = -1
    indices[ops == OP_COMPACT] = -1
    return ops, indices, comp_lens


class ZramReplay:
    """Size-only replay of a kernel-check-shaped trace, in operations/s. Goal: >= 1,000,000."""

    params = [[4096, 65536]]
    param_names = ["indices"]
    repeats = 3
    timeout = 300

    def setup(self, indices_over):
        self.Zram = _requires_zram_frontend()
        if not hasattr(self.Zram, "replay"):
            raise NotImplementedError("Zram.replay is not in this commit")
        self.ops, self.indices, self.comp_lens = _trace(indices_over)
        self.disksize = indices_over * PAGE_SIZE
        warm = self._device()
        warm.replay(self.ops[:1000], self.indices[:1000], self.comp_lens[:1000])
        warm.replay(self.ops[COMPACT_EVERY - 10:COMPACT_EVERY],
                    self.indices[COMPACT_EVERY - 10:COMPACT_EVERY],
                    self.comp_lens[COMPACT_EVERY - 10:COMPACT_EVERY])      # a compaction too
        warm.close()

    def _device(self):
        return self.Zram(self.disksize, compressor="lz4", keep_data=False)

    def _seconds(self):
        device = self._device()                                 # untimed: a fresh device
        try:
            return seconds(device.replay, self.ops, self.indices, self.comp_lens)
        finally:
            device.close()

    def track_ops_per_second(self, indices_over):
        return self.ops.size / min(self._seconds() for _ in range(self.repeats))

    track_ops_per_second.unit = "ops/s"
