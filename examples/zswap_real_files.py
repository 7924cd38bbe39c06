"""zswap over real files: how much writeback each pool limit costs.

Swaps the pages of some real files (default: a sample of this Python installation's files) out
through zbudjit's zswap frontend with the pool capped at 10%, 20% and 40% of RAM, swaps them back
in, verifies every page, and prints what each limit cost: pages written back to the swap file,
loads served by the swap file, and the pool's effective compression.

    python examples/zswap_real_files.py                  # a sample of the Python installation
    python examples/zswap_real_files.py /usr/lib --max-pages 20000
"""

import argparse
import sys

from zbudjit import compressors
from zbudjit.pagesource import default_pages, read_pages
from zbudjit.workloads import swap_cycle


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="files or directories (default: this Python's files)")
    parser.add_argument("--max-pages", type=int, default=8192)
    parser.add_argument("--compressor", default=compressors.default_name())
    args = parser.parse_args()
    page_set = (read_pages(args.paths, max_pages=args.max_pages) if args.paths
                else default_pages(max_pages=args.max_pages))
    print(f"{len(page_set):,} pages from {len(page_set.sources):,} files, compressor {args.compressor}")
    print(f"{'pool limit':>10} {'written back':>13} {'loads from swap':>16} {'effective ratio':>16} "
          f"{'density':>8}")
    ok = True
    for percent in (10, 20, 40):
        run = swap_cycle(page_set.pages, compressor=args.compressor, pool_percent=percent)
        s = run.stats
        print(f"{percent:>9}% {s.written_back_pages:>13,} {s.loads_from_swap:>16,} "
              f"{s.effective_ratio:>16.2f} {s.pool_density:>8.3f}")
        ok &= run.verified
    print("every page loaded back byte for byte" if ok else "MISMATCH: some pages did not load back")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
