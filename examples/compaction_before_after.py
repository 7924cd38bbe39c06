"""Compaction before and after: fragment a pool of real compressed pages, compact it, look at it.

Stores real pages (a sample of this Python installation's files, compressed) in a zbud pool through
the zswap frontend, invalidates a random half of them (as when processes exit), then compacts the
pool. Prints pages used, density and what compaction moved, checks every remaining page, and draws
the pool's page fill before and after as a heatmap (needs ``pip install "zbudjit[plot]"``).

    python examples/compaction_before_after.py --plot compaction.png
"""

import argparse
import sys

import numpy as np

import zbudjit as zj
from zbudjit import compressors
from zbudjit.pagesource import default_pages


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-pages", type=int, default=16384)
    parser.add_argument("--plot", metavar="FILE", help="write the before/after heatmap to FILE (.png, .svg or .pdf)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    pages = default_pages(max_pages=args.max_pages).pages
    n = len(pages)
    compressor = compressors.default_name()
    pool = zj.Pool(pages=n)
    with zj.Zswap(pool, compressor=compressor, max_pool_percent=100, ram_pages=n) as front:
        front.store(np.arange(n), pages)
        gone = np.random.default_rng(args.seed).permutation(n)[: n // 2]
        front.invalidate(gone)
        before = pool.page_fill()
        used_before, density_before = pool.pages_used, pool.stats().density
        result = pool.compact()
        after = pool.page_fill()
        pool.check()
        kept = np.setdiff1d(np.arange(n), gone)
        ok = np.array_equal(front.load(kept), pages[kept])
    print(f"{n:,} real pages stored ({compressor}), {gone.size:,} invalidated at random")
    print(f"  {'':<22}{'before':>10}{'after':>10}")
    print(f"  {'pages used':<22}{used_before:>10,}{pool.pages_used:>10,}")
    print(f"  {'density':<22}{density_before:>10.3f}{pool.stats().density:>10.3f}")
    print(f"  compaction moved {result.objects_moved:,} objects ({result.bytes_moved / 2**20:.1f} MiB) "
          f"and freed {result.pages_freed:,} pages")
    if args.plot:
        from zbudjit import plots
        path = plots.save(plots.fill_heatmap_figure(before, after, pool.page_size), args.plot)
        print(f"heatmap written to {path}")
    print("every remaining page loaded back byte for byte" if ok else "MISMATCH after compaction")
    return 0 if ok and pool.pages_used == used_before - result.pages_freed else 1


if __name__ == "__main__":
    sys.exit(main())
