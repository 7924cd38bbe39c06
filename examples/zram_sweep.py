"""zram's memory use across compressors x page sizes x zsmalloc chain sizes, on the same real data.

For each compressor installed among lzo-rle (zram's default), lzo, lz4 and zstd, each page size
(4 and 16 KiB) and each CONFIG_ZSMALLOC_CHAIN_SIZE (4, 8, 16), writes the same real bytes (a sample
of this Python installation's files, cut into pages of that size) through a zram device on
zsmalloc, and prints, per combination, what mm_stat says at the end: mem_used_total, the
compression ratio (orig_data_size / compr_data_size), the effective ratio (orig_data_size /
mem_used_total: what the allocator leaves of the compression) and mem_used_max (the peak). By
default the device has room for half of the pages, so the second half overwrites the first as
swap reuses its slots: zsmalloc frees a zspage only when it is empty, so the peak and the end
differ. Every page still stored is read back and compared at the end. A grouped bar chart of the
memory used (one panel per page size, bars by chain size, the peak marked) goes to ``--plot``.

On a sample this small, a size class holds few objects, so each class's last, part-empty zspage
weighs heavily and more so the longer the chain (a zspage of 16 pages of 16 KiB is 256 KiB): the
effective ratios of long chains rise with ``--mib``.

About 15-20 seconds with the defaults (8 MiB of data a combination, 24 combinations), once
Numba has compiled and cached its kernels (the first run takes some 15 seconds more):

    python examples/zram_sweep.py --mib 32 --plot zram_sweep.png
"""

import argparse
import sys

import numpy as np
from tabulate import tabulate

from zbudjit import compressors
from zbudjit.pagesource import default_pages
from zbudjit.zram_study import run_zram

# lzo-rle first: zram's default, and the one the others are read against
COMPRESSORS = ("lzo-rle", "lzo", "lz4", "zstd")
PAGE_SIZES = (4096, 16384)
CHAIN_SIZES = (4, 8, 16)
MIB = 1 << 20


def sweep(mib, device_percent, compact_every, names):
    """One :func:`run_zram` per combination: ``{(name, page_size, chain): ZramRun}``."""
    runs = {}
    for page_size in PAGE_SIZES:
        pages = default_pages(page_size=page_size, max_pages=max(mib * MIB // page_size, 1)).pages
        disksize = max(len(pages) * device_percent // 100, 1) * page_size
        for name in names:
            for chain in CHAIN_SIZES:
                runs[name, page_size, chain] = run_zram(
                    pages, compressor=name, page_size=page_size, chain_size=chain,
                    disksize=disksize, compact_every=compact_every)
    return runs


def table(runs):
    rows = []
    for (name, page_size, chain), run in runs.items():
        mm = run.mm_stat
        rows.append([name, f"{page_size // 1024}K", chain, mm.mem_used_total / MIB,
                     mm.orig_data_size / max(mm.compr_data_size, 1),
                     mm.orig_data_size / max(mm.mem_used_total, 1), mm.mem_used_max / MIB,
                     mm.pages_compacted])
    return tabulate(rows, headers=["compressor", "page", "chain", "mem_used_total MiB",
                                   "compression", "effective", "mem_used_max MiB",
                                   "pages_compacted"],
                    floatfmt=("", "", "", ".2f", ".2f", ".2f", ".2f", ""), intfmt=",")


def plot(runs, names, path):
    """Grouped bars: a panel per page size, a group per compressor, a bar per chain size."""
    from zbudjit import plots
    plots.require_matplotlib()
    from matplotlib.figure import Figure
    figure = Figure(figsize=(11, 4.5), layout="constrained")
    panels = figure.subplots(1, len(PAGE_SIZES), sharey=True)
    width = 0.8 / len(CHAIN_SIZES)
    where = np.arange(len(names))
    colours = ("tab:blue", "tab:orange", "tab:green")
    for axes, page_size in zip(panels, PAGE_SIZES):
        for i, (chain, colour) in enumerate(zip(CHAIN_SIZES, colours)):
            x = where - 0.4 + width * (i + 0.5)
            used = [runs[name, page_size, chain].mm_stat.mem_used_total / MIB for name in names]
            peak = [runs[name, page_size, chain].mm_stat.mem_used_max / MIB for name in names]
            axes.bar(x, used, width, color=colour, label=f"chain {chain}: mem_used_total")
            # the peak as a short black line over each bar: above it only where memory was freed
            axes.hlines(peak, x - width / 2, x + width / 2, color="black", linewidth=1.5,
                        label="mem_used_max (peak)" if i == 0 else None)
        axes.set_xticks(where, names)
        axes.set_title(f"{page_size // 1024} KiB pages")
        axes.set_xlabel("compressor")
        axes.grid(True, axis="y", alpha=0.3)
    panels[0].set_ylabel("memory used (MiB)")
    panels[-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small")
    figure.suptitle("zram memory used by compressor, page size and zsmalloc chain size")
    return plots.save(figure, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=8, help="MiB of real data per combination")
    parser.add_argument("--device-percent", type=int, default=50,
                        help="the device's size as a percentage of the data (100: no overwrites)")
    parser.add_argument("--compact-every", type=int, default=0,
                        help="compact after every this many pages written (0: never)")
    parser.add_argument("--plot", metavar="FILE", default="zram_sweep.png",
                        help="write the bar chart to FILE (.png, .svg or .pdf); default %(default)s")
    parser.add_argument("--no-plot", action="store_true", help="draw no chart")
    args = parser.parse_args()
    if args.mib < 1:
        parser.error("--mib must be at least 1")
    if not 1 <= args.device_percent <= 100:
        parser.error("--device-percent must be between 1 and 100")
    if args.compact_every < 0:
        parser.error("--compact-every must be >= 0")
    names = [name for name in COMPRESSORS if name in compressors.available()]
    if not names:
        sys.exit(f"none of {', '.join(COMPRESSORS)} is installed")
    print(f"{args.mib} MiB of this Python installation's files a combination, on a device with "
          f"room for {args.device_percent}% of its pages")
    runs = sweep(args.mib, args.device_percent, args.compact_every, names)
    print(table(runs))
    if not args.no_plot:
        print(f"bar chart written to {plot(runs, names, args.plot)}")
    wrong = sum(run.pages_wrong for run in runs.values())
    if wrong or not all(run.pages_verified for run in runs.values()):
        sys.exit(f"{wrong:,} pages read back wrong")
    print("every page of every run read back byte for byte")


if __name__ == "__main__":
    main()
