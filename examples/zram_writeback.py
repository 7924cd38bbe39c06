"""zram writeback of idle pages: cold pages leave memory for a backing file, hot ones stay.

Writes real pages (this Python installation's files) to a zram device with a backing file in a
temporary directory, then does what a system's idle-page writeback does:

1. reads a random "hot" subset of the pages (and checks them);
2. marks every stored page idle (``echo all > /sys/block/zramN/idle``: ``mark_idle()``);
3. reads the hot pages again, which clears their IDLE flag, so only the cold pages stay idle;
4. writes the idle pages back (``echo idle > writeback``): each goes to a block of the backing
   file and its compressed object leaves the pool;
5. compacts the pool (``echo 1 > compact``): freeing objects frees a zspage only when it empties,
   so the memory the writeback freed comes back only with zs_compact.

It prints mm_stat before the writeback, after it and after the compaction (the sysfs text, and a
table of its fields) and
bd_stat (backing-file blocks in 4 KiB units: in use, read, written), checks that exactly the cold
pages that are not same-filled (zram keeps those as one word, never written back) went, then reads
every page back, from memory or from the file, and compares it with what was written.

About a second with the defaults (4,096 pages), once Numba has compiled and cached its kernels
(the first run, up to about 15 seconds):

    python examples/zram_writeback.py --pages 65536 --hot-percent 10
"""

import argparse
import os
import sys
import tempfile
from dataclasses import fields

import numpy as np
from tabulate import tabulate

from zbudjit import compressors
from zbudjit.frontends.zram import Zram
from zbudjit.pagesource import default_pages

PAGE_SIZE = 4096


def same_filled(pages):
    """Which pages are one 8-byte word repeated: zram stores those as the word alone."""
    words = np.ascontiguousarray(pages).view(np.uint64)
    return (words == words[:, :1]).all(axis=1)


def default_compressor():
    # zram's own default when this installation has it
    return "lzo-rle" if "lzo-rle" in compressors.available() else "lz4"


def mm_table(before, after, compacted):
    rows = [[field.name] + [getattr(mm, field.name) for mm in (before, after, compacted)]
            for field in fields(before)]
    return tabulate(rows, headers=["mm_stat", "before", "after writeback", "after compact"],
                    intfmt=",")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=4096, help="pages of real data to write")
    parser.add_argument("--hot-percent", type=int, default=25,
                        help="percentage of the pages read again after the idle marking")
    parser.add_argument("--compressor", choices=compressors.available(),
                        default=default_compressor(), help="default: %(default)s")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.pages < 1:
        parser.error("--pages must be at least 1")
    if not 0 <= args.hot_percent <= 100:
        parser.error("--hot-percent must be between 0 and 100")

    pages = default_pages(PAGE_SIZE, max_pages=args.pages).pages
    n = len(pages)
    rng = np.random.default_rng(args.seed)
    hot = np.sort(rng.choice(n, n * args.hot_percent // 100, replace=False))
    cold = np.ones(n, np.bool_)
    cold[hot] = False
    expected = int(np.count_nonzero(cold & ~same_filled(pages)))
    indices = np.arange(n)
    print(f"{n:,} pages of this Python installation's files, {hot.size:,} of them hot, "
          f"compressed with {args.compressor}")

    with tempfile.TemporaryDirectory() as directory, \
            Zram(n * PAGE_SIZE, compressor=args.compressor,
                 backing_file=os.path.join(directory, "backing")) as zram:
        zram.write(indices, pages)
        before = zram.mm_stat()
        if not np.array_equal(zram.read(hot), pages[hot]):
            sys.exit("a hot page read back wrong before the writeback")
        marked = zram.mark_idle()
        zram.read(hot)                          # accessed again: no longer idle
        written = zram.writeback("idle")
        after = zram.mm_stat()
        freed = zram.compact()
        compacted = zram.mm_stat()
        written_stat = zram.bd_stat()
        print(f"marked {marked:,} pages idle; {hot.size:,} read again; "
              f"wrote back {written:,} idle pages; compaction freed {freed:,} pool pages")
        print("mm_stat before writeback:\n" + str(before).rstrip("\n"))
        print("mm_stat after writeback:\n" + str(after).rstrip("\n"))
        print("mm_stat after compaction:\n" + str(compacted).rstrip("\n"))
        print(mm_table(before, after, compacted))
        print("bd_stat after writeback (bd_count bd_reads bd_writes, 4 KiB blocks):\n"
              + str(written_stat).rstrip("\n"))
        if written != expected:
            sys.exit(f"wrote back {written:,} pages, expected the {expected:,} cold pages that "
                     "are not same-filled")
        if written_stat.bd_writes != written * (PAGE_SIZE // 4096):
            sys.exit(f"bd_stat counts {written_stat.bd_writes:,} blocks written for "
                     f"{written:,} pages")
        back = zram.read(indices)
        read_stat = zram.bd_stat()
        print("bd_stat after reading every page:\n" + str(read_stat).rstrip("\n"))
        wrong = int(np.count_nonzero((back != pages).any(axis=1)))
        if wrong:
            sys.exit(f"{wrong:,} pages read back wrong")
        if read_stat.bd_reads != written:
            sys.exit(f"{read_stat.bd_reads:,} blocks read from the backing file, "
                     f"expected {written:,}")
    print("every page read back byte for byte")


if __name__ == "__main__":
    main()
