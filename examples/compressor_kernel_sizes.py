"""How far user-space compressors' page sizes are from the running kernel's, and what that costs zram.

For each compressor that both this Python and the kernel's zram have (zbudjit's own lz4, lzo and
lzo-rle, and python-lz4's liblz4 as a user-space reference for lz4), every page of the default
real data (this Python installation's files) is written to a private zram device
(zbudjit.kernel.zram, which adds its own device and always removes it) to learn the size the
kernel gives it, and compressed in user space. The script prints, per compressor, how many pages'
sizes differ, the mean and largest absolute difference, the mean signed difference, and the error
in zram's mem_used_total: each list of sizes is replayed with zram's rules (a same-filled page
stores nothing; a size of 3625 or more is a 4096-byte object; any other an object of that size)
into a zbudjit zsmalloc pool, and the pools' pages compared. Then the compress and decompress
throughput of each on the same pages: python-lz4 one page per call, zbudjit's codecs one Numba
call per batch, on one thread and split over the CPUs (zbudjit.compressors.PARALLEL_MIN_PAGES).

Run as root on a Linux with zram: ``python examples/compressor_kernel_sizes.py [--pages N]``.
Without root or zram the size table is skipped with the reason, and only throughput is measured.
"""

import argparse
import time
from functools import partial

import numpy as np

from zbudjit import Pool, compressors
from zbudjit.kernel import zram
from zbudjit.pagesource import default_pages

COMPRESSORS = ("lz4", "lzo", "lzo-rle")
PYTHON_LZ4 = "python-lz4"       # liblz4's LZ4_compress_default, compared with the kernel's lz4


class PythonLz4:
    """python-lz4 one page per call, shaped like a zbudjit Compressor: raw blocks, no size."""

    name = PYTHON_LZ4

    def __init__(self):
        import lz4.block
        self._block = lz4.block

    def compress(self, pages):
        objects = [self._block.compress(page, store_size=False) for page in pages]
        offsets = np.zeros(len(objects) + 1, np.int64)
        np.cumsum([len(o) for o in objects], out=offsets[1:])
        return np.frombuffer(b"".join(objects), np.uint8), offsets

    def decompress(self, data, offsets, page_size):
        view = memoryview(data)
        return [self._block.decompress(view[a:b], uncompressed_size=page_size)
                for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]


def user_space(name):
    return PythonLz4() if name == PYTHON_LZ4 else compressors.get_compressor(name)


def kernel_algorithm(name):
    return "lz4" if name == PYTHON_LZ4 else name


def kernel_sizes(pages, algorithm):
    """comp_len of every page written to an empty index, and mem_used_total after the last."""
    with zram.ZramDevice(disksize=(len(pages) + 1) * zram.PAGE_SIZE,
                         comp_algorithm=algorithm) as device:
        records = zram.record(device, [("write", i, page) for i, page in enumerate(pages)])
    return records["comp_len"], int(records["mem_used_total"][-1])


def as_zram_counts(sizes, same):
    """Sizes as zram stores them: 0 for a same-filled page, 4096 from the huge class up."""
    counted = np.where(sizes >= zram.HUGE_CLASS_SIZE, zram.PAGE_SIZE, sizes)
    return np.where(same, 0, counted)


def pool_pages(counted):
    """zsmalloc pool pages after allocating one object per stored page, in page order."""
    pool = Pool(len(counted) + 16, policy="zsmalloc")
    pool.alloc(counted[counted > 0])
    return pool.pages_used


def best_seconds(function, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def size_table(pages, names):
    same = np.array([zram.same_filled(page) for page in pages])
    print(f"\n{len(pages):,} pages ({same.sum()} same-filled); sizes as zram counts them")
    print(f"{'compressor':<10} {'differ':>7} {'mean |err|':>10} {'max |err|':>9} "
          f"{'mean err':>9} {'pool pages: kernel':>18} {'user':>7} {'error':>8}")
    exact = True
    for name in names:
        try:
            kernel, mem_used_total = kernel_sizes(pages, kernel_algorithm(name))
        except ValueError as exc:           # the kernel does not offer this algorithm
            print(f"{name:<10} skipped: {exc}")
            continue
        _, offsets = user_space(name).compress(pages)
        user = as_zram_counts(np.diff(offsets), same)
        error = user - kernel
        kernel_pool, user_pool = pool_pages(kernel), pool_pages(user)
        # the replay of the kernel's own sizes must give the kernel's own mem_used_total
        assert kernel_pool * zram.PAGE_SIZE == mem_used_total, (name, kernel_pool, mem_used_total)
        print(f"{name:<10} {np.count_nonzero(error):>7,} {np.abs(error).mean():>10.3f} "
              f"{np.abs(error).max():>9,} {error.mean():>+9.3f} {kernel_pool:>18,} "
              f"{user_pool:>7,} {(user_pool - kernel_pool) / kernel_pool:>+8.3%}")
        if name != PYTHON_LZ4:
            exact &= not error.any()
    return exact


def throughput_table(pages, names, repeats):
    print(f"\nthroughput on {pages.nbytes / 1e6:.1f} MB of pages, best of {repeats} "
          "(MB/s of uncompressed data); 1 thread, and split over the CPUs")
    print(f"{'compressor':<10} {'ratio':>6} {'compress':>9} {'parallel':>9} {'decompress':>10} "
          f"{'parallel':>9}")
    parallel_min = compressors.PARALLEL_MIN_PAGES
    for name in names:
        compressor = user_space(name)
        data, offsets = compressor.compress(pages)      # also compiles the Numba kernels
        compressor.decompress(data, offsets, pages.shape[1])
        figures = []
        for split in (False, True):
            compressors.PARALLEL_MIN_PAGES = parallel_min if split else len(pages) + 1
            try:
                c = best_seconds(partial(compressor.compress, pages), repeats)
                d = best_seconds(partial(compressor.decompress, data, offsets, pages.shape[1]),
                                 repeats)
            finally:
                compressors.PARALLEL_MIN_PAGES = parallel_min
            figures.append((pages.nbytes / c / 1e6, pages.nbytes / d / 1e6))
        if name == PYTHON_LZ4:                          # one page per call: never split
            print(f"{name:<10} {pages.nbytes / data.size:>6.2f} {figures[0][0]:>9.0f} {'-':>9} "
                  f"{figures[0][1]:>10.0f} {'-':>9}")
        else:
            print(f"{name:<10} {pages.nbytes / data.size:>6.2f} {figures[0][0]:>9.0f} "
                  f"{figures[1][0]:>9.0f} {figures[0][1]:>10.0f} {figures[1][1]:>9.0f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20000, help="4 KiB pages of real data")
    parser.add_argument("--repeats", type=int, default=5, help="timings per throughput figure")
    args = parser.parse_args()
    pages = default_pages(zram.PAGE_SIZE, max_pages=args.pages).pages
    names = [name for name in COMPRESSORS if name in compressors.available()]
    try:
        PythonLz4()
        names.insert(1, PYTHON_LZ4)
    except ImportError:
        print("python-lz4 is not installed: its rows are skipped")
    ok, reason = zram.availability()
    exact = None
    if ok:
        exact = size_table(pages, names)
    else:
        print(f"size table skipped: {reason}")
    throughput_table(pages, names, args.repeats)
    if exact:
        print("lz4, lzo and lzo-rle: every page's size is the kernel's")


if __name__ == "__main__":
    main()
