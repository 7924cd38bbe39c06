"""Density of compressors x page sizes: what zswap over zbud makes of the same real data.

For each compressor installed and each page size (4, 16 and 64 KiB), stores the same real bytes (a
sample of this Python installation's files, cut into pages of that size) in a zbud pool through the
zswap frontend, with no pool limit, and prints the compression ratio, the effective ratio (original
bytes over the pool's memory: what zbud's two-objects-a-page rule leaves of the compression), the
pool's density, and the pages rejected as incompressible. Optionally plots both ratios: zbud keeps
at most two objects a page, so however well the compressor does, the pool cannot beat 2.

    python examples/compressor_density.py --mib 16 --plot density.png
"""

import argparse
import sys

import numpy as np

from zbudjit import compressors
from zbudjit.pagesource import default_pages
from zbudjit.workloads import swap_cycle

PAGE_SIZES = (4096, 16384, 65536)


def measure(pages, compressor):
    """Every page stored with no pool limit (as much RAM as pages), then loaded back."""
    run = swap_cycle(pages, compressor=compressor, pool_percent=100, batches=1)
    return run.stats, run.verified


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=8, help="MiB of real data per measurement")
    parser.add_argument("--plot", metavar="FILE", help="write bar charts of both ratios to FILE (.png, .svg or .pdf)")
    args = parser.parse_args()
    names = compressors.available()
    results = {}
    print(f"{args.mib} MiB of this Python installation's files per cell")
    print(f"{'compressor':<10} {'page':>6} {'compression':>12} {'effective':>10} {'density':>8} "
          f"{'rejected':>9}")
    ok = True
    for page_size in PAGE_SIZES:
        pages = default_pages(page_size, max_pages=args.mib * 2**20 // page_size).pages
        for name in names:
            stats, verified = measure(pages, name)
            ok &= verified
            results[name, page_size] = stats.compression_ratio, stats.effective_ratio
            print(f"{name:<10} {page_size // 1024:>5}K {stats.compression_ratio:>12.2f} "
                  f"{stats.effective_ratio:>10.2f} {stats.pool_density:>8.3f} "
                  f"{stats.reject_compress_poor:>9,}")
    if args.plot:
        from zbudjit import plots
        plots.require_matplotlib()
        from matplotlib.figure import Figure
        figure = Figure(figsize=(11, 4.5), layout="constrained")
        width = 0.8 / len(names)
        where = np.arange(len(PAGE_SIZES))
        for axes, key, label in zip(figure.subplots(1, 2, sharey=True), (0, 1), (
                "compression ratio (original / compressed bytes)",
                "effective ratio (original bytes / pool memory)")):
            for k, name in enumerate(names):
                axes.bar(where + k * width, [results[name, size][key] for size in PAGE_SIZES],
                         width, label=name)
            axes.set_xticks(where + width * (len(names) - 1) / 2,
                            [f"{size // 1024} KiB" for size in PAGE_SIZES])
            axes.set_xlabel("page size")
            axes.set_ylabel(label)
            axes.grid(axis="y", alpha=0.3)
        axes.axhline(2, color="black", linestyle="--", linewidth=1, label="zbud's cap: 2 a page")
        axes.legend(loc="upper left", fontsize="small")
        figure.suptitle("zswap over zbud: what the compressor achieves, and what the pool keeps")
        print(f"plot written to {plots.save(figure, args.plot)}")
    print("every page loaded back byte for byte" if ok else "MISMATCH: some pages did not load back")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
