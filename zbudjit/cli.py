"""The ``zbudjit`` command line.

``zbudjit demo`` fills a pool with objects sized like compressed 4 KiB pages, frees a random share,
refills, verifies every object byte for byte and prints the pool's statistics.
"""

import argparse
import sys
import time

import numpy as np

from . import Pool, PoolError, __version__
from ._tables import gather_ragged


def compressed_page_sizes(rng, n, max_size):
    """Sizes like zswap's compressed pages: most compress well (40-900 B), the rest poorly."""
    well = rng.integers(40, 901, n)
    poorly = rng.integers(1500, max_size + 1, n)
    return np.where(rng.random(n) < 0.7, well, poorly)


def _offsets_of(sizes):
    offsets = np.zeros(sizes.size + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return offsets


def random_payload(rng, sizes):
    offsets = _offsets_of(sizes)
    return rng.integers(0, 256, int(offsets[-1]), dtype=np.uint8), offsets


def _print_stats(stats, page_size):
    rows = [
        ("pages used / total", f"{stats.pages_used:,} / {stats.pages_total:,}"),
        ("objects", f"{stats.objects:,}"),
        ("bytes stored", f"{stats.bytes_stored:,}"),
        ("bytes allocated (chunks)", f"{stats.bytes_allocated:,}"),
        ("density (stored / used pages)", f"{stats.density:.3f}"),
        ("objects per page", f"{stats.objects / max(stats.pages_used, 1):.3f}"),
        ("metadata bytes per page", f"{stats.metadata_bytes_per_page:.1f}"),
        ("metadata bytes per handle", f"{stats.metadata_bytes_per_handle}"),
    ]
    histogram = np.array(stats.free_chunks_histogram)
    full = int(histogram[:1].sum())
    rows.append(("pages with no free chunk", f"{full:,}"))
    rows.append(("pages with >= half free", f"{int(histogram[len(histogram) // 2:].sum()):,}"))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value:>22}")


def demo(args):
    rng = np.random.default_rng(args.seed)
    pool = Pool(pages=args.pages, page_size=args.page_size)
    print(f"zbudjit {__version__} demo: {pool!r}")
    timings = {}

    def timed(name, call, count):
        start = time.perf_counter()
        result = call()
        timings[name] = (time.perf_counter() - start) / max(count, 1) * 1e9
        return result

    sizes = compressed_page_sizes(rng, args.objects, pool.max_size)
    payload, offsets = random_payload(rng, sizes)
    handles = timed("store", lambda: pool.store(payload, offsets), sizes.size)
    victims = rng.permutation(handles.size)[: handles.size * 2 // 5]
    timed("free", lambda: pool.free(handles[victims]), victims.size)
    kept = np.setdiff1d(np.arange(handles.size), victims)
    refill = compressed_page_sizes(rng, victims.size, pool.max_size)
    refill_payload, refill_offsets = random_payload(rng, refill)
    new_handles = timed("store again", lambda: pool.store(refill_payload, refill_offsets), refill.size)
    data, data_offsets = timed("read", lambda: pool.read(handles[kept]), kept.size)

    new_data, _ = pool.read(new_handles)
    expected, expected_offsets = gather_ragged(payload, offsets, kept)
    verified = (np.array_equal(data_offsets, expected_offsets) and np.array_equal(data, expected)
                and np.array_equal(new_data, refill_payload))
    pool.check()

    print(f"stored {sizes.size:,} objects, freed {victims.size:,} at random, stored {refill.size:,} more")
    _print_stats(pool.stats(), pool.page_size)
    for name, ns in timings.items():
        print(f"  {name + ' (ns per object)':<30}  {ns:>22,.0f}")
    print("  (a first run also compiles the kernels, and the timings include it)")
    print("every object read back byte for byte" if verified else "MISMATCH: objects did not read back")
    return 0 if verified else 1


def main(argv=None):
    parser = argparse.ArgumentParser(prog="zbudjit", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"zbudjit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="fill a pool with compressed-page-like objects")
    demo_parser.add_argument("--pages", type=int, default=131_072, help="pool size in pages")
    demo_parser.add_argument("--objects", type=int, default=150_000, help="objects stored first")
    demo_parser.add_argument("--page-size", type=int, default=4096)
    demo_parser.add_argument("--seed", type=int, default=2014)
    args = parser.parse_args(argv)
    if args.objects < 1:
        parser.error("--objects must be at least 1")
    try:
        return demo(args)
    except (PoolError, ValueError, TypeError) as error:
        print(f"zbudjit: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
