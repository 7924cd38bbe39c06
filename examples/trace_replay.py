"""Replay a zswap-like trace through a zbud pool and watch its density over time.

Makes a synthetic churn trace (swap-out bursts storing compressed-page-sized objects, re-stores,
swap-in bursts invalidating them), saves it as CSV and loads it back, replays it into a pool with
every object's bytes written and verified, prints the final statistics and the timeline every
~10%, then compacts the pool and prints its pages before and after.
Uses only the public API. Run: python examples/trace_replay.py [--ops 200000]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import zbudjit as zj
from zbudjit.replay import FREE, load_trace, replay, save_trace, synthetic_trace


def print_rows(rows):
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value:>16}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=200_000, help="records in the synthetic trace")
    parser.add_argument("--seed", type=int, default=2014)
    parser.add_argument("--pages", type=int, default=None,
                        help="pool size (default: the trace's peak live objects, so it never fills)")
    parser.add_argument("--reclaim", action="store_true",
                        help="when the pool is full, write back its LRU pages instead of failing")
    args = parser.parse_args(argv)
    if args.ops < 1:
        parser.error("--ops must be at least 1")

    trace = synthetic_trace(args.ops, seed=args.seed)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "trace.csv"
        save_trace(trace, path)
        size = path.stat().st_size
        loaded = load_trace(path)
    same = all(np.array_equal(getattr(trace, k), getattr(loaded, k)) for k in ("ops", "ids", "sizes"))
    print(f"trace: {len(loaded):,} records ({np.count_nonzero(loaded.ops == FREE):,} frees), "
          f"{size / 1e6:.1f} MB as CSV, read back {'identical' if same else 'DIFFERENT'}")

    pool = zj.Pool(pages=args.pages or max(loaded.peak_live(), 1))
    print(f"pool: {pool!r}")
    try:
        result = replay(loaded, pool, on_full="reclaim" if args.reclaim else "error", write=True)
    except zj.PoolFullError as error:
        print(f"trace_replay: {error}", file=sys.stderr)
        return 2
    print(f"replayed {result.ops:,} records in {result.seconds:.2f} s "
          f"({result.ops / result.seconds:,.0f} records/s, writing and verifying every object)")

    final = result.final
    print("final pool:")
    print_rows([
        ("pages used / total", f"{final.pages_used:,} / {final.pages_total:,}"),
        ("objects", f"{final.objects:,}"),
        ("bytes stored", f"{final.bytes_stored:,}"),
        ("density", f"{final.density:.3f}"),
        ("objects per page", f"{final.objects / max(final.pages_used, 1):.3f}"),
        ("objects evicted", f"{result.evicted:,}"),
    ])

    timeline = result.timeline
    header = (timeline["time_label"], "pages", "objects", "density", "evicted")
    print("timeline:")
    print(f"  {header[0]:>20} {header[1]:>10} {header[2]:>10} {header[3]:>8} {header[4]:>8}")
    times = timeline["time"]
    for tenth in range(1, 11):      # the first sample at or after each tenth of the trace
        row = int(np.searchsorted(times, tenth * result.ops / 10))
        row = min(row, times.size - 1)
        print(f"  {times[row]:>20,} {timeline['pool_pages'][row]:>10,} {timeline['objects'][row]:>10,} "
              f"{timeline['density'][row]:>8.3f} {timeline['evicted'][row]:>8,}")

    before = pool.pages_used
    start = time.perf_counter()
    compacted = pool.compact()
    print(f"compaction: {before:,} -> {pool.pages_used:,} pages "
          f"({compacted.objects_moved:,} objects moved in {time.perf_counter() - start:.2f} s), "
          f"density {pool.stats().density:.3f}")

    pool.check()
    print("pool audit passed")
    ok = same and result.verified
    print("every live object read back its pattern" if result.verified else "MISMATCH: objects changed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
