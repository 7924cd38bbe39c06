"""The ``zbudjit`` command line.

- ``zbudjit demo``: zswap over real pages (the files of this Python installation), with a pool small
  enough that writeback happens; prints the counters, writes a plot, and exits 0 only if every
  page came back byte for byte.
- ``zbudjit zswap PATH...``: the same over any files, directories or raw dumps.
- ``zbudjit replay TRACE``: a trace of (op, id, size) replayed through a pool, stats over time.
- ``zbudjit classes``: zsmalloc's size classes for a page size and chain size; given pages (or a
  trace), the pool they make, stored as zram stores them, printed as debugfs ``classes`` prints it.
- ``zbudjit bench``: a quick speed check, ns per op and ratios against yardsticks.
- ``zbudjit zram PATH...``: a zram device (Linux 6.18's rules) over real pages: mm_stat, zramctl's
  columns, memory over time and the class fill; exits 0 only if every page reads back.
- ``zbudjit kernel-check``: the zram model against a private zram device of the running kernel,
  every mm_stat field after every operation (root and zram needed; elsewhere it says why not).
- ``zbudjit replay TRACE`` also replays zram traces (kernel-check ``--save-trace``).

What a user can count on (docs/cli.md has it all):

- Exit statuses, one per kind of failure: :data:`EXIT_OK`, :data:`EXIT_VERIFY_FAILED`,
  :data:`EXIT_USAGE`, :data:`EXIT_BAD_INPUT`, :data:`EXIT_INTERNAL`. A failure is one line on
  stderr that says what was wrong with what the user typed or gave, in the command line's terms
  (options, files, lines), never a traceback or the Python API's names.
- ``--json`` prints one JSON object on stdout instead of tables, with ``"schema":``
  :data:`JSON_SCHEMA` and everything the tables and the plot show (timelines included).
- ``--plot FILE`` writes the format its suffix names (.png, .svg, .pdf); ``--no-plot`` none.
- ``--parquet FILE`` writes the command's table (see :data:`PARQUET_TABLES`) as Parquet.
- No time reported includes compiling: a first run compiles zbudjit's kernels (Numba; then they
  are cached), so the commands that time anything first run the same kernels on a small input.
"""

import argparse
import dataclasses
import json
import math
import os
import sys
import time

import numpy as np
from tabulate import tabulate

from . import POLICIES, Pool, PoolError, PoolFullError, __version__, compressors
from .engine.tables import MAX_PAGES
from .errors import CorruptionError
from .plots import PLOT_FORMATS, plot_format_of
from .policies.zsmalloc import classes as zs_classes
from .pool import MAX_PAGE_SIZE, MIN_PAGE_SIZE
from .pool import _page_size as pool_page_size
from .replay import ALLOC, TraceError

EXIT_OK = 0
EXIT_VERIFY_FAILED = 1
"""A verification failed: a page did not load back byte for byte, or the pool's audit failed."""
EXIT_USAGE = 2
"""Bad arguments: an option or value, a path that cannot be read or written, a pool that is too
small (full) or too large (no memory) for the run. argparse's own status for its errors."""
EXIT_BAD_INPUT = 3
"""A damaged input file: a trace that is not readable as CSV or NPZ, or whose records break the
trace rules (an unknown op, a negative id, a free of an id that is not live)."""
EXIT_INTERNAL = 4
"""An internal error: a bug of zbudjit's (set ZBUDJIT_TRACEBACK=1 to see where)."""
EXIT_NO_KERNEL = 5
"""``kernel-check`` cannot use the running kernel here: not Linux, not root, or no zram."""

JSON_SCHEMA = 1
"""The version of every ``--json`` object's layout (its ``"schema"`` field). It goes up when a
field is renamed or removed or changes meaning; new fields may appear without it."""

PARQUET_TABLES = {"demo": "the timeline: one row per swap-out batch",
                  "zswap": "the timeline: one row per swap-out batch",
                  "replay": "the timeline: one row per sample",
                  "classes": "the class rows: one row per size class",
                  "bench": "the bench rows: one row per measure",
                  "zram": "the timeline: one row per write batch"}
"""What ``--parquet FILE`` writes, per command."""

FIRST_RUN_COMPILE_SECONDS = 10
"""About how long a first ``zbudjit demo`` compiles zbudjit's kernels: 9.4 s of its 12 s, measured
on 2 CPUs with an empty NUMBA_CACHE_DIR (a warm run takes 2.5 s; every kernel of the package
compiles in about 16 s). Later runs load the kernels from Numba's cache."""

DEMO_PLOT = "zbudjit-demo.png"
WARM_UP_PAGES = 3072
"""Pages of the swap run that compiles the kernels: enough objects to fill the pool's first LRU
log (1024 entries), so that compacting it is compiled too. Never more than the run it prepares
(but at least :data:`WARM_UP_LEAST_PAGES`): a smaller run cannot reach the paths it would add."""
WARM_UP_LEAST_PAGES = 64
WARM_UP_RECORDS = 5000                  # records of churn in the replay that compiles the kernels
WARM_UP_BULK = 4000                     # objects allocated at once, half then freed at once
COMPILE_NOTE = (f"The first run compiles zbudjit's kernels (about {FIRST_RUN_COMPILE_SECONDS} s on "
                "2 CPUs; Numba caches them for later runs). Commands that report times run the "
                "kernels on a small input first, so that no time they report includes "
                "compiling.")
EXIT_STATUSES = f"""exit statuses:
  {EXIT_OK}  success (demo, zswap: and every page loaded back byte for byte)
  {EXIT_VERIFY_FAILED}  a verification failed: a page did not load back as stored, or the pool's
     audit found its tables inconsistent
  {EXIT_USAGE}  bad arguments: an option or its value, a path that cannot be read or
     written, a pool too small (full) or too large (out of memory) for the run
  {EXIT_BAD_INPUT}  a damaged input file: a trace not readable as CSV or NPZ, or whose records
     break the trace rules
  {EXIT_INTERNAL}  an internal error (a bug: please report it with the command line)
  {EXIT_NO_KERNEL}  kernel-check: the running kernel cannot be used here (the message says why:
     not Linux, not root, or no zram)"""
EPILOG = (f"{EXIT_STATUSES}\n\n{COMPILE_NOTE}\n\n"
          "docs/cli.md describes every command, option and field.")


class UsageError(Exception):
    """A bad argument found after parsing; reported like argparse's own errors (exit 2)."""


def _jsonable(value):
    """``value`` as JSON's types: arrays as lists, dataclasses as dicts, NaN and infinities as
    None (JSON has no such numbers)."""
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _print_json(command, report):
    """One JSON object on stdout: the schema version and command first, then ``report``."""
    head = {"schema": JSON_SCHEMA, "command": command, "zbudjit_version": __version__}
    print(json.dumps(_jsonable({**head, **report}), indent=2, allow_nan=False))


def _table(rows, title=None):
    """Print (name, value) rows as two aligned columns, indented under ``title``."""
    if title:
        print(title)
    _print_indented(tabulate(rows, tablefmt="plain", disable_numparse=True))


def _print_indented(text):
    for line in text.splitlines():
        print(f"  {line}".rstrip())


def _progress(args):
    """Progress bars on stderr, only for a person watching (not with --json, not into a pipe)."""
    return not args.json and sys.stderr.isatty()


def _compressor(name):
    if name == "auto":
        return compressors.default_name()
    compressors.get_compressor(name)            # a clear error now rather than after reading data
    return name


def _save_plot(figure_of, path):
    """Write a plot; without matplotlib, say so on stderr (the run itself still succeeded)."""
    from . import plots
    try:
        plots.require_matplotlib()
    except ImportError as error:
        print(f"zbudjit: plot skipped: {error}", file=sys.stderr)
        return None
    return str(plots.save(figure_of(plots), path))


def _save_parquet(frame_of, path):
    """Write the command's table as Parquet (pandas and pyarrow were checked before the work)."""
    if path is None:
        return None
    from . import results
    return str(results.write_parquet(frame_of(results), path))


def _new_pool(pages, policy, page_size, chain_size=None):
    """A Pool, or the command line's words for one that does not fit in memory."""
    try:
        return Pool(pages=pages, policy=policy, page_size=page_size, chain_size=chain_size)
    except MemoryError:
        raise MemoryError(f"a pool of {pages:,} pages of {page_size:,} B "
                          f"({pages * page_size / 2**30:,.1f} GiB) does not fit in memory; "
                          "give fewer --pages") from None


# -- zswap over real pages -------------------------------------------------------------------------


def _warm_up_swap(args, compressor, page_size, pages_to_swap):
    """Compile the kernels a swap run of ``pages_to_swap`` pages uses, on a small one of its own:
    same-filled pages, incompressible ones and compressible ones, in a pool small enough to
    write back. Returns its seconds."""
    from .workloads import swap_cycle

    started = time.perf_counter()
    count = min(WARM_UP_PAGES, max(WARM_UP_LEAST_PAGES, pages_to_swap))
    rng = np.random.default_rng(0)
    pages = np.zeros((count, page_size), np.uint8)                  # a quarter same-filled
    quarter = count // 4
    pages[quarter:2 * quarter] = rng.integers(0, 256, (quarter, page_size), dtype=np.uint8)
    # half of 4 bits each: about 2:1, objects large enough that the pool fills and writes back
    pages[2 * quarter:] = rng.integers(0, 16, (count - 2 * quarter, page_size), dtype=np.uint8)
    swap_cycle(pages, policy=args.policy, compressor=compressor, pool_percent=20, batches=4)
    return time.perf_counter() - started


def _swap(args, page_set, what):
    from . import plots
    from .workloads import swap_cycle

    if len(page_set) == 0:
        raise UsageError(f"no pages to swap: {what} holds no data")
    compressor = _compressor(args.compressor)
    warm_up = _warm_up_swap(args, compressor, page_set.page_size, len(page_set))
    run = swap_cycle(page_set.pages, policy=args.policy, compressor=compressor,
                     pool_percent=args.pool_percent, ram_pages=args.ram_pages,
                     batches=args.batches, seed=args.seed, progress=_progress(args))
    title = f"zswap ({run.compressor}, {args.policy}) over {what}"
    plot = None
    if args.plot:
        plot = _save_plot(lambda plots: plots.report_figure(
            run.timeline, run.page_fill, run.page_size, title=title), args.plot)
    parquet = _save_parquet(lambda results: results.timeline_frame(run.timeline), args.parquet)
    mib = run.pages * run.page_size / 2**20
    report = {
        "data": {"what": what, "files": len(page_set.sources), "pages": run.pages,
                 "page_size": run.page_size, "mib": mib, "skipped": page_set.skipped},
        "compressor": run.compressor, "policy": args.policy,
        "pool_percent": args.pool_percent, "ram_pages": run.ram_pages,
        "pool_limit_pages": run.stats.pool_limit_pages,
        "stats": run.stats,
        "warmup_seconds": warm_up, "store_seconds": run.store_seconds,
        "load_seconds": run.load_seconds,
        "store_mib_per_second": mib / run.store_seconds if run.store_seconds else None,
        "load_mib_per_second": mib / run.load_seconds if run.load_seconds else None,
        "verified": run.verified, "mismatched_count": int(run.mismatched.size),
        "mismatched_pages": run.mismatched[:100],
        "timeline": run.timeline,
        "page_fill_histogram": plots.fill_histogram(run.page_fill, run.page_size),
        "plot": plot, "parquet": parquet}
    if args.json:
        _print_json(args.command, report)
    else:
        _print_swap(report, title)
    return EXIT_OK if run.verified else EXIT_VERIFY_FAILED


def _rate(seconds, mib_per_second):
    rate = "" if mib_per_second is None else f" ({mib_per_second:,.0f} MiB/s)"
    return f"{seconds:.2f} s{rate}"


def _print_swap(report, title):
    s, data = report["stats"], report["data"]
    page_size = data["page_size"]
    rows = [
        ("data", f"{data['pages']:,} pages of {page_size} B ({data['mib']:,.1f} MiB) "
                 f"from {data['files']:,} files"),
        ("pool limit", f"{s.pool_limit_pages:,} pages "
                       f"({s.pool_limit_pages * page_size / 2**20:,.1f} MiB) "
                       f"of {report['ram_pages']:,} RAM pages"),
        ("stored_pages", f"{s.stored_pages:,}"),
        ("same_filled_pages", f"{s.same_filled_pages:,}"),
        ("pool pages used", f"{s.pool_pages:,}"),
        ("pool_total_size", f"{s.pool_total_size:,} B"),
        ("written_back_pages", f"{s.written_back_pages:,}"),
        ("pool_limit_hit", f"{s.pool_limit_hit:,}"),
        ("reject_compress_poor", f"{s.reject_compress_poor:,}"),
        ("reject_alloc_fail", f"{s.reject_alloc_fail:,}"),
        ("pages in the swap file", f"{s.swap_pages:,}"),
        ("loads from pool / same-filled / swap",
         f"{s.loads_from_pool:,} / {s.loads_from_same_filled:,} / {s.loads_from_swap:,}"),
        ("compression ratio (pooled pages)", f"{s.compression_ratio:.2f}"),
        ("effective ratio (pooled pages / pool memory)", f"{s.effective_ratio:.2f}"),
        ("pool density (bytes stored / pool memory)", f"{s.pool_density:.3f}"),
        ("warm-up (compiles on a first run)",
         f"{report['warmup_seconds']:.2f} s, in none of the times below"),
        ("swap out", _rate(report["store_seconds"], report["store_mib_per_second"])),
        ("swap in and verify", _rate(report["load_seconds"], report["load_mib_per_second"])),
    ]
    if data["skipped"]:
        rows.insert(1, ("files skipped (unreadable or not regular)", f"{len(data['skipped']):,}"))
    _table(rows, title)
    _print_written(report)
    if report["verified"]:
        print(f"every one of the {data['pages']:,} pages loaded back byte for byte")
    else:
        print(f"MISMATCH: {report['mismatched_count']:,} pages did not load back, first ids "
              f"{list(report['mismatched_pages'][:10])}")


def _print_written(report):
    if report.get("plot"):
        print(f"plot written to {report['plot']}")
    if report.get("parquet"):
        print(f"table written to {report['parquet']}")


def _cmd_demo(args):
    from .pagesource import default_pages
    pages = default_pages(args.page_size, max_pages=args.max_pages, progress=_progress(args))
    return _swap(args, pages, "the files of this Python installation")


def _cmd_zswap(args):
    from .pagesource import read_pages
    pages = read_pages(args.paths, args.page_size, max_pages=args.max_pages,
                       progress=_progress(args))
    return _swap(args, pages, ", ".join(args.paths))


# -- replay and bench ------------------------------------------------------------------------------


def _check_sizes(trace, pool):
    """Every alloc of ``trace`` fits ``pool``, or a UsageError naming the first that does not."""
    too_big = np.flatnonzero((trace.ops == ALLOC) & (trace.sizes > pool.max_size))
    if too_big.size:
        i = int(too_big[0])
        raise UsageError(f"{trace.origin(i)}: an object of {int(trace.sizes[i]):,} bytes does not "
                         f"fit a {pool.policy} pool of {pool.page_size:,}-byte pages (at most "
                         f"{pool.max_size:,} bytes); give a larger --page-size")


def _pool_full(full, trace, pool, args):
    """The command line's words for a replay that found the pool full."""
    record = getattr(full, "record", None)
    where = f" at {trace.origin(record)}" if record is not None else ""
    alloc = (f" (alloc of id {int(trace.ids[record])}, {int(trace.sizes[record]):,} bytes)"
             if record is not None else "")
    if args.on_full == "reclaim":
        return UsageError(f"the pool is full{where}{alloc}, and writing back its least recently "
                          f"used pages freed none: {pool.pages_total:,} pages are too few; give "
                          "more --pages")
    hint = ", or --on-full reclaim" if pool.policy == "zbud" else ""
    return UsageError(f"the pool is full{where}{alloc}: {pool.pages_total:,} pages are too few; "
                      f"give more --pages{hint}")


def _warm_up_trace():
    """A trace that takes a pool down every path a long replay takes: churn (replacing allocs,
    frees of live ids) and a bulk free of half of thousands of objects at once, which is what
    grows the free lists' tables and compacts the LRU log."""
    from .replay import FREE, Trace, synthetic_trace

    churn = synthetic_trace(WARM_UP_RECORDS, live=WARM_UP_RECORDS // 4, max_size=1500)
    bulk = WARM_UP_BULK
    ops = np.concatenate([churn.ops, np.repeat(np.array([ALLOC, FREE], np.uint8),
                                               [bulk, bulk // 2])])
    ids = np.concatenate([churn.ids, np.arange(bulk) + WARM_UP_RECORDS,
                          np.arange(0, bulk, 2) + WARM_UP_RECORDS])
    sizes = np.concatenate([churn.sizes, np.random.default_rng(0).integers(40, 1500, bulk),
                            np.zeros(bulk // 2, np.int64)])
    return Trace(ops, ids, sizes)


def _warm_up_replay(args):
    """Compile the kernels a replay uses, on a small one (reclaiming, if the replay will).
    Returns its seconds."""
    from .replay import replay

    started = time.perf_counter()
    trace = _warm_up_trace()
    pool = _new_pool(2 * len(trace) if args.on_full == "error" else 256, args.policy,
                     args.page_size, args.chain_size)
    try:
        replay(trace, pool, samples=2, on_full=args.on_full)
    except PoolFullError:
        pass                            # compiled all the same
    return time.perf_counter() - started


def _cmd_replay(args):
    from .kernel.check import is_zram_trace
    from .replay import load_trace, replay

    if is_zram_trace(args.trace):
        return _replay_zram(args)
    trace = load_trace(args.trace)
    pool = _new_pool(args.pages, args.policy, args.page_size, args.chain_size)
    _check_sizes(trace, pool)
    warm_up = _warm_up_replay(args)
    try:
        result = replay(trace, pool, samples=args.samples, progress=_progress(args),
                        on_full=args.on_full)
    except PoolFullError as full:
        raise _pool_full(full, trace, pool, args) from None
    plot = None
    if args.plot:
        plot = _save_plot(lambda plots: plots.replay_figure(
            result.timeline, title=f"replay of {args.trace}"), args.plot)
    parquet = _save_parquet(lambda results: results.timeline_frame(result.timeline),
                            args.parquet)
    report = {"trace": args.trace, "ops": result.ops,
              "pool": {"pages": pool.pages_total, "policy": pool.policy,
                       "page_size": pool.page_size, "chain_size": args.chain_size,
                       "max_size": pool.max_size, "on_full": args.on_full},
              "warmup_seconds": warm_up, "seconds": result.seconds,
              "ops_per_second": result.ops / result.seconds if result.seconds else None,
              "evicted": result.evicted, "final": result.final, "timeline": result.timeline,
              "plot": plot, "parquet": parquet}
    if args.json:
        _print_json("replay", report)
        return EXIT_OK
    _print_replay(report)
    return EXIT_OK


REPLAY_TABLE_ROWS = 11                  # samples of the timeline the text output shows


def _print_replay(report):
    timeline, final = report["timeline"], report["final"]
    rate = "" if report["ops_per_second"] is None else f", {report['ops_per_second']:,.0f} ops/s"
    print(f"replayed {report['ops']:,} operations of {report['trace']} in "
          f"{report['seconds']:.2f} s{rate} (warm-up {report['warmup_seconds']:.2f} s, which "
          "compiles on a first run, not included)")
    picks = np.unique(np.linspace(0, timeline["time"].size - 1, REPLAY_TABLE_ROWS).astype(int))
    rows = [(f"{timeline['time'][i]:,}", f"{timeline['objects'][i]:,}",
             f"{timeline['pool_pages'][i]:,}", f"{timeline['density'][i]:.3f}",
             f"{timeline['evicted'][i]:,}") for i in picks]
    _print_indented(tabulate(rows, headers=("ops", "objects", "pages", "density", "evicted"),
                             tablefmt="plain", disable_numparse=True, colalign=("right",) * 5))
    _table([("pages used / total", f"{final.pages_used:,} / {final.pages_total:,}"),
            ("objects", f"{final.objects:,}"), ("bytes stored", f"{final.bytes_stored:,}"),
            ("density", f"{final.density:.3f}"),
            ("objects evicted", f"{report['evicted']:,}")], "final pool")
    _print_written(report)


def _cmd_bench(args):
    from .bench import run_bench
    rows = run_bench(pages=args.pages, repeat=args.repeat, progress=_progress(args))
    # "met" is a property of a row, not a field: the table shows it, so the records carry it
    records = [{**dataclasses.asdict(row), "met": row.met} for row in rows]
    parquet = _save_parquet(lambda results: results.records_frame(records), args.parquet)
    if args.json:
        _print_json("bench", {"pages": args.pages, "repeat": args.repeat, "rows": records,
                              "parquet": parquet})
        return EXIT_OK
    print(f"zbudjit {__version__} bench: {args.pages:,}-page pool, best of {args.repeat}; "
          "ratios are measured against their yardstick in the same run (the kernels are "
          "compiled before anything is timed)")
    table = [(row.name, f"{row.ns_per_op:,.1f}", "-" if row.ratio is None else f"{row.ratio:.3g}",
              row.yardstick or "-", row.goal or "-", {None: "-", True: "yes", False: "no"}[row.met])
             for row in rows]
    print(tabulate(table, headers=("measure", "ns/op", "ratio", "yardstick", "goal", "met"),
                   tablefmt="plain", disable_numparse=True,
                   colalign=("left", "right", "right", "left", "left", "left")))
    _print_written({"parquet": parquet})
    return EXIT_OK


# -- zram ------------------------------------------------------------------------------------------

ZRAM_PLOT = "zbudjit-zram.png"
ZRAM_WARM_UP_PAGES = 256                # pages of the run that compiles a zram run's kernels
ZRAM_WARM_UP_RECORDS = 2000             # records of the replay that compiles a trace replay's


def _human(nbytes):
    """A size as zramctl prints it: 1024-based units, one decimal below 10 (``7.4M``)."""
    value = float(nbytes)
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            break
        value /= 1024
    if unit == "B":
        return f"{int(value)}B"
    return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"


def _warm_up_zram(args, compressor):
    """Compile the kernels a zram run uses, on a small run with the same settings: compressible,
    same-filled and incompressible pages, a compaction, and writeback if the run writes back."""
    import tempfile

    from .zram_study import run_zram

    started = time.perf_counter()
    rng = np.random.default_rng(0)
    pages = rng.integers(0, 16, (ZRAM_WARM_UP_PAGES, args.page_size), dtype=np.uint8)
    pages[::4] = 0
    pages[1::4] = rng.integers(0, 256, (len(pages[1::4]), args.page_size), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as scratch:
        run_zram(pages, compressor=compressor, policy=args.policy, page_size=args.page_size,
                 chain_size=args.chain_size, compact_every=ZRAM_WARM_UP_PAGES // 2, batch=64,
                 backing_file=os.path.join(scratch, "backing") if args.writeback else None,
                 writeback=args.writeback)
    return time.perf_counter() - started


def _cmd_zram(args):
    import tempfile

    from .pagesource import read_pages
    from .zram_study import run_zram

    args.chain_size = args.chain_size or zs_classes.DEFAULT_CHAIN_SIZE
    page_set = read_pages(args.paths, args.page_size, max_pages=args.max_pages,
                          progress=_progress(args))
    what = ", ".join(args.paths)
    if len(page_set) == 0:
        raise UsageError(f"no pages to write: {what} holds no data")
    compressor = _compressor(args.compressor)
    warm_up = _warm_up_zram(args, compressor)
    with tempfile.TemporaryDirectory() as scratch:
        backing = args.backing_file
        if args.writeback and backing is None:
            backing = os.path.join(scratch, "backing")      # a backing file for this run only
        started = time.perf_counter()
        run = run_zram(page_set.pages, compressor=compressor, policy=args.policy,
                       disksize=args.disksize, mem_limit=args.mem_limit,
                       page_size=args.page_size, chain_size=args.chain_size,
                       compact_every=args.compact_every, batch=args.batch,
                       backing_file=backing, writeback=args.writeback,
                       writeback_every=args.writeback_every)
        seconds = time.perf_counter() - started
    title = f"zram ({compressor}, {args.policy}) over {what}"
    plot = class_plot = None
    if args.plot:
        plot = _save_plot(lambda plots: plots.zram_memory_figure(run.timeline, title=title),
                          args.plot)
        if run.class_fill is not None and plot is not None:
            stem, suffix = os.path.splitext(args.plot)
            class_plot = _save_plot(lambda plots: plots.class_fill_figure(
                run.class_fill, title=f"class fill ({compressor})"), f"{stem}-classes{suffix}")
    parquet = _save_parquet(lambda results: results.timeline_frame(run.timeline), args.parquet)
    report = {"data": {"what": what, "files": len(page_set.sources), "pages": len(page_set),
                       "page_size": page_set.page_size, "skipped": page_set.skipped},
              "config": run.config, "mm_stat": run.mm_stat, "mm_stat_text": str(run.mm_stat),
              "io_stat": run.io_stat, "bd_stat": run.bd_stat, "zramctl": run.zramctl,
              "failed_writes": run.failed_writes, "pages_verified": run.pages_verified,
              "pages_wrong": run.pages_wrong, "warmup_seconds": warm_up, "seconds": seconds,
              "pages_per_second": len(page_set) / seconds if seconds else None,
              "timeline": run.timeline,
              "class_fill": None if run.class_fill is None else
              [dict(zip(run.class_fill.dtype.names, row)) for row in run.class_fill.tolist()],
              "plot": plot, "class_plot": class_plot, "parquet": parquet}
    if args.json:
        _print_json("zram", report)
    else:
        _print_zram(report, title)
    return EXIT_OK if run.pages_wrong == 0 else EXIT_VERIFY_FAILED


def _print_zram(report, title):
    print(title)
    z = report["zramctl"]
    _print_indented(tabulate(
        [(z["NAME"], z["ALGORITHM"], _human(z["DISKSIZE"]), _human(z["DATA"]),
          _human(z["COMPR"]), _human(z["TOTAL"]))],
        headers=("NAME", "ALGORITHM", "DISKSIZE", "DATA", "COMPR", "TOTAL"), tablefmt="plain",
        disable_numparse=True))
    mm = report["mm_stat"]
    _table([(name, f"{value:,}") for name, value in dataclasses.asdict(mm).items()], "mm_stat")
    print(f"  as /sys/block/zramN/mm_stat reads: {report['mm_stat_text'].rstrip()}")
    io = report["io_stat"]
    rows = [("io_stat (failed_reads failed_writes invalid_io notify_free)", str(io).strip())]
    if report["bd_stat"] is not None:
        rows.append(("bd_stat (bd_count bd_reads bd_writes, 4 KiB units)",
                     str(report["bd_stat"]).strip()))
    ratio = mm.orig_data_size / mm.mem_used_total if mm.mem_used_total else float("nan")
    rows += [("memory saved (orig_data_size / mem_used_total)", f"{ratio:.2f}"),
             ("writes refused over mem_limit", f"{report['failed_writes']:,}"),
             ("warm-up (compiles on a first run)", f"{report['warmup_seconds']:.2f} s"),
             ("run, reading every page back included",
              f"{report['seconds']:.2f} s ({report['pages_per_second']:,.0f} pages/s)")]
    _table(rows)
    _print_written(report)
    if report.get("class_plot"):
        print(f"class fill plot written to {report['class_plot']}")
    if report["pages_wrong"] == 0:
        print(f"every one of the {report['pages_verified']:,} stored pages read back byte for "
              "byte")
    else:
        print(f"MISMATCH: {report['pages_wrong']:,} of {report['pages_verified']:,} stored pages "
              "did not read back as written")


def _cmd_kernel_check(args):
    from .kernel.check import PHASES, kernel_check, save_trace
    from .kernel.zram import availability

    available, reason = availability()
    if not available:
        print(f"zbudjit: kernel-check cannot run here: {reason}", file=sys.stderr)
        return EXIT_NO_KERNEL
    user_space = not args.no_user_space and args.compressor in compressors.NAMES
    result = kernel_check(args.operations, args.seed, args.compressor, args.indices,
                          user_space=user_space)
    trace = None
    if args.save_trace:
        save_trace(result.records, args.save_trace)
        trace = args.save_trace
    if args.json:
        _print_json("kernel-check", {
            "compressor": args.compressor, "seed": args.seed, "indices": args.indices,
            "operations": int(result.records.size), "matched": result.matched,
            "mismatch_count": result.mismatch_count,
            "mismatches": [dict(zip(("operation", "op", "field", "kernel", "model"), m))
                           for m in result.mismatches],
            "phases": result.phases, "user_space_compressor": result.user_space_compressor,
            "size_error": result.size_error, "trace": trace})
        return EXIT_OK if result.matched else EXIT_VERIFY_FAILED
    print(f"kernel-check: {result.records.size:,} operations (seed {args.seed}, "
          f"{args.indices} indices) through a private zram device ({args.compressor}) and "
          "through zbudjit.Zram fed the kernel's sizes")
    described = dict(PHASES)
    for phase in result.phases:
        print(f"after phase {phase.name} (operations {phase.start:,} to {phase.stop - 1:,}: "
              f"{described[phase.name]})")
        headers = ["mm_stat field", "kernel", "zbudjit", ""]
        if phase.user_space is not None:
            headers.append(f"user-space {result.user_space_compressor}")
        rows = []
        for name, kernel in dataclasses.asdict(phase.kernel).items():
            model = getattr(phase.model, name)
            row = [name, f"{kernel:,}", f"{model:,}", "=" if model == kernel else "DIFFERS"]
            if phase.user_space is not None:
                user = getattr(phase.user_space, name)
                row.append(f"{user:,} ({user - kernel:+,})")
            rows.append(row)
        _print_indented(tabulate(rows, headers=headers, tablefmt="plain",
                                 disable_numparse=True,
                                 colalign=("left", "right", "right", "left", "right")))
    if result.size_error is not None:
        e = result.size_error
        print(f"user-space {result.user_space_compressor}: {e['differing']:,} of {e['pages']:,} "
              f"compressed pages differ from the kernel's size (mean |error| "
              f"{e['mean_abs']:.1f} B, max {e['max_abs']:,} B, mean {e['mean_signed']:+.1f} B)")
    if trace:
        print(f"trace written to {trace}")
    if result.matched:
        print(f"every mm_stat field matched the kernel's after every one of the "
              f"{result.records.size:,} operations")
        return EXIT_OK
    print(f"MISMATCH: {result.mismatch_count:,} field values differ; the first:")
    for operation, op, name, kernel, model in result.mismatches:
        print(f"  operation {operation:,} ({op}): {name} kernel {kernel:,}, zbudjit {model:,}")
    return EXIT_VERIFY_FAILED


def _replay_zram(args):
    """``zbudjit replay`` of a zram trace: through zbudjit.Zram (size-only), timed, and checked
    against the trace's mm_stat columns if it has them (the timed run keeps the model's)."""
    from .frontends.zram import Zram
    from .kernel.check import load_trace
    from .kernel.zram import MM_STAT_FIELDS, OP_NAMES

    records, has_mm_stat = load_trace(args.trace)
    policy = args.policy
    chain = args.chain_size or zs_classes.DEFAULT_CHAIN_SIZE
    disksize = (int(records["index"].max(initial=0)) + 1) * 4096

    def device():
        return Zram(disksize, compressor="none", policy=policy, chain_size=chain,
                    keep_data=False)

    started = time.perf_counter()
    warm = records[:ZRAM_WARM_UP_RECORDS]
    device().replay(warm["op"], warm["index"], warm["comp_len"])
    warm_up = time.perf_counter() - started
    model = device()
    started = time.perf_counter()
    result = model.replay(records["op"], records["index"], records["comp_len"],
                          record=has_mm_stat)
    seconds = time.perf_counter() - started
    mismatch = None
    if has_mm_stat:                 # the timed run kept its mm_stat after every operation
        rows = result[1]
        kernel = np.stack([records[name] for name in MM_STAT_FIELDS], axis=1)
        differ = np.argwhere(rows != kernel)
        if differ.size:
            i, j = (int(v) for v in differ[0])
            mismatch = {"operation": i, "op": OP_NAMES[records["op"][i]],
                        "field": MM_STAT_FIELDS[j], "trace": int(kernel[i, j]),
                        "zbudjit": int(rows[i, j]), "count": int(differ.shape[0])}
    report = {"trace": args.trace, "kind": "zram", "ops": int(records.size),
              "policy": policy, "chain_size": chain, "warmup_seconds": warm_up,
              "seconds": seconds, "ops_per_second": records.size / seconds if seconds else None,
              "mm_stat": model.mm_stat(), "checked": has_mm_stat, "mismatch": mismatch}
    status = EXIT_VERIFY_FAILED if mismatch else EXIT_OK
    if args.json:
        _print_json("replay", report)
        return status
    rate = f", {report['ops_per_second']:,.0f} ops/s" if report["ops_per_second"] else ""
    print(f"replayed {records.size:,} zram operations of {args.trace} through zbudjit.Zram "
          f"({policy}) in {seconds:.3f} s{rate} (warm-up {warm_up:.2f} s, not included)")
    _table([(name, f"{value:,}") for name, value in dataclasses.asdict(report["mm_stat"]).items()],
           "mm_stat at the end")
    if mismatch:
        print(f"MISMATCH with the trace's mm_stat: {mismatch['count']:,} values differ; the "
              f"first at operation {mismatch['operation']:,} ({mismatch['op']}): "
              f"{mismatch['field']} trace {mismatch['trace']:,}, zbudjit {mismatch['zbudjit']:,}")
    elif has_mm_stat:
        print("every mm_stat field equals the trace's after every operation")
    return status


# -- zsmalloc's size classes -----------------------------------------------------------------------

STORE_BATCH = 1 << 12                           # pages compressed and stored per pool call


def _cmd_classes(args):
    if args.trace is not None:
        pool, described = _classes_of_trace(args)
    elif args.paths:
        pool, described = _classes_of_pages(args)
    else:
        return _class_table(args)
    rows = pool.class_stats()
    parquet = _save_parquet(lambda results: results.class_stats_frame(rows), args.parquet)
    if args.json:
        names = zs_classes.CLASS_STATS_DTYPE.names
        total = {name: int(rows[name].sum()) for name in names
                 if name not in ("class", "size", "pages_per_zspage")}
        _print_json("classes", {
            "page_size": pool.page_size, "chain_size": pool.chain_size,
            "huge_class_size": zs_classes.huge_class_size(pool.page_size, pool.chain_size),
            "input": described, "pages_used": pool.pages_used, "objects": pool.objects,
            "bytes_stored": pool.bytes_stored, "density": pool.density,
            "rows": [{name: int(row[name]) for name in names} for row in rows],
            "total": total, "parquet": parquet})
        return EXIT_OK
    # the kernel's debugfs format, byte for byte: its own fixed-width code, not a table of ours
    print(zs_classes.format_class_stats(rows), end="")
    if args.trace is not None:
        origin = (f"{pool.objects:,} objects live after {described['records']:,} records of "
                  f"{args.trace}")
    else:
        origin = (f"{described['pages']:,} pages in: {described['same_filled_pages']:,} "
                  f"same-filled, {described['huge_pages']:,} huge, "
                  f"{described['compressed_pages']:,} compressed with {described['compressor']}")
    print(f"pages used {pool.pages_used:,}, bytes stored {pool.bytes_stored:,}, "
          f"density {pool.density:.3f} ({origin})")
    _print_written({"parquet": parquet})
    return EXIT_OK


def _class_table(args):
    """The class table of a geometry: every class index, and the real class each one uses."""
    page_size, chain_size = args.page_size, args.chain_size
    table = zs_classes.size_class_table(page_size, chain_size)
    huge = zs_classes.huge_class_size(page_size, chain_size)
    rows = []
    for index, row in enumerate(table):
        merged = int(row["class_index"])
        rows.append({"index": index,
                     "size": zs_classes.nominal_size(index, page_size),
                     "pages_per_zspage": int(row["pages_per_zspage"]),
                     "objs_per_zspage": int(row["objs_per_zspage"]),
                     "merged_into": None if merged == index else merged,
                     "slot_size": int(row["size"])})
    real = sum(row["merged_into"] is None for row in rows)
    parquet = _save_parquet(lambda results: results.records_frame(rows), args.parquet)
    if args.json:
        _print_json("classes", {"page_size": page_size, "chain_size": chain_size,
                                "class_indices": len(rows), "real_classes": real,
                                "huge_class_size": huge, "rows": rows, "parquet": parquet})
        return EXIT_OK
    print(f"zsmalloc size classes for {page_size} B pages, chain size {chain_size} "
          "(CONFIG_ZSMALLOC_CHAIN_SIZE)")
    columns = ("index", "size", "pages_per_zspage", "objs_per_zspage", "merged_into")
    shown = [[row[name] if name != "merged_into" or row[name] is not None else "-"
              for name in columns] for row in rows]
    print(tabulate(shown, headers=columns, tablefmt="plain", colalign=("right",) * 5))
    print(f"{len(rows)} class indices, {real} real classes (an index merged into a larger class "
          "uses that class's slots)")
    print(f"huge_class_size {huge}: a request of at least {huge} B is stored in a huge class, one "
          "object a zspage; zram stores such a page uncompressed")
    _print_written({"parquet": parquet})
    return EXIT_OK


def _room(table, objects):
    """Pages enough for ``objects`` objects stored with no free in between: each real class
    holds at most one zspage that is not full, and a full zspage has no fewer objects than
    pages."""
    real = zs_classes.real_class_indices(table)
    return max(1, objects + int(table["pages_per_zspage"][real].sum()))


def _classes_of_pages(args):
    """Real pages into a zsmalloc pool as zram stores them: through a size-only zbudjit.Zram,
    one page an index (a same-filled page kept as its word, with no object; a page whose
    compressed length is at least huge_class_size stored raw, a page_size object; any other as
    its compressed bytes)."""
    from .frontends.zram import Zram
    from .pagesource import read_pages

    name = _compressor(args.compressor or "auto")
    page_set = read_pages(args.paths, args.page_size, max_pages=args.max_pages,
                          progress=_progress(args))
    what = ", ".join(args.paths)
    n = len(page_set)
    if n == 0:
        raise UsageError(f"no pages to store: {what} holds no data")
    zram = Zram(n * page_set.page_size, compressor=name, page_size=page_set.page_size,
                chain_size=args.chain_size, keep_data=False)
    for first in range(0, n, STORE_BATCH):
        last = min(first + STORE_BATCH, n)
        zram.write(np.arange(first, last), page_set.pages[first:last])
    mm = zram.mm_stat()
    described = {"what": what, "files": len(page_set.sources), "pages": n,
                 "skipped": page_set.skipped, "compressor": name,
                 "same_filled_pages": mm.same_pages, "huge_pages": mm.huge_pages,
                 "compressed_pages": n - mm.same_pages - mm.huge_pages}
    return zram.pool, described


def _classes_of_trace(args):
    """A trace replayed into a zsmalloc pool, its sizes going to zs_malloc as they are. The pool
    is made large enough, as a zram device without mem_limit is: a replay that finds it full is
    run again on one twice the size (which zspage an object goes to never depends on the pool's
    size, so the classes come out the same as on any pool it fits)."""
    from .replay import load_trace, replay

    trace = load_trace(args.trace)
    table = zs_classes.size_class_table(args.page_size, args.chain_size)
    live = trace.peak_live()
    # every zspage in use holds an object, so no trace needs more than this
    most = min(max(1, live * args.chain_size), MAX_PAGES - 1)
    pages = min(_room(table, live), most)
    while True:
        pool = _new_pool(pages, "zsmalloc", args.page_size, args.chain_size)
        _check_sizes(trace, pool)
        try:
            result = replay(trace, pool, samples=1, progress=_progress(args))
        except PoolFullError as full:
            if pages >= most:
                raise UsageError(f"{args.trace} needs more than {most:,} pages") from full
            pages = min(2 * pages, most)
            continue
        return pool, {"trace": args.trace, "records": result.ops, "peak_live": live}


# -- argument parsing ------------------------------------------------------------------------------


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's help, but text whose lines are indented (the exit statuses) kept as written;
    the rest is wrapped to the terminal, a paragraph at a time."""

    def _fill_text(self, text, width, indent):
        paragraphs = []
        for paragraph in text.split("\n\n"):
            if any(line.startswith(" ") for line in paragraph.splitlines()):
                paragraphs.append("\n".join(indent + line for line in paragraph.splitlines()))
            else:
                paragraphs.append(super()._fill_text(paragraph, width, indent))
        return "\n\n".join(paragraphs)


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr (no usage block), exit status 2."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _parse_int(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _integer(low, high=None, most=None):
    """An argument type: an integer from ``low`` (to ``high``). ``most`` is an upper limit of
    the implementation rather than of the option's meaning, and its message says so."""
    def integer(text):
        value = _parse_int(text)
        if value < low or (high is not None and value > high):
            bound = f"between {low:,} and {high:,}" if high is not None else f"at least {low:,}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        if most is not None and value > most[0]:
            raise argparse.ArgumentTypeError(f"must be at most {most[0]:,} ({most[1]}), "
                                             f"got {value:,}")
        return value
    return integer


def _page_size(text):
    value = _parse_int(text)
    try:
        return pool_page_size(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a power of two from {MIN_PAGE_SIZE} to "
                                         f"{MAX_PAGE_SIZE}, not {value}") from None


def _chain_size(text):
    value = _parse_int(text)
    try:
        return zs_classes.check_geometry(4096, value)[1]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be from {zs_classes.MIN_CHAIN_SIZE} to {zs_classes.MAX_CHAIN_SIZE} "
            f"(CONFIG_ZSMALLOC_CHAIN_SIZE), not {value}") from None


def _output_file(text):
    """An argument type: a file that can be written (checked now, not after the work)."""
    directory = os.path.dirname(text) or "."
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is a directory")
    if not os.path.isdir(directory):
        raise argparse.ArgumentTypeError(f"no such directory: {directory}")
    if not os.access(text if os.path.exists(text) else directory, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text}")
    return text


def _plot_file(text):
    """An argument type: a file to write a plot to, in a format its suffix names."""
    _output_file(text)
    try:
        plot_format_of(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _trace_file(text):
    """An argument type: a trace file's name, ending in .csv or .npz (read later)."""
    if os.path.splitext(text)[1].lower() not in (".csv", ".npz"):
        raise argparse.ArgumentTypeError(f"{text}: a trace file must end in .csv or .npz")
    return text


def _size(text):
    """An argument type: bytes, with an optional K, M, G or T (KiB to TiB), as zram's sysfs
    files take them."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    number, scale = text.strip(), 1
    if number[-1:].lower() in units:
        number, scale = number[:-1], units[number[-1].lower()]
    value = _parse_int(number) * scale
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {text}")
    return value


def _zram_trace_file(text):
    """An argument type: a zram trace to write, .csv or .npz."""
    _trace_file(text)
    return _output_file(text)


_positive = _integer(1)
_pages = _integer(1, most=(MAX_PAGES - 1, "the most pages a pool can have"))
POLICY_HELP = "placement policy (default zbud)"
# the help of --chain-size, less its closing parenthesis
CHAIN_RANGE = (f"CONFIG_ZSMALLOC_CHAIN_SIZE, {zs_classes.MIN_CHAIN_SIZE} to "
               f"{zs_classes.MAX_CHAIN_SIZE}: the most pages a zspage chains "
               f"(default {zs_classes.DEFAULT_CHAIN_SIZE}")
CHAIN_HELP = f"zsmalloc's {CHAIN_RANGE}; --policy zsmalloc only)"
PAGE_SIZE_HELP = (f"bytes per page, a power of two from {MIN_PAGE_SIZE} to {MAX_PAGE_SIZE} "
                  "(default 4096)")
JSON_HELP = (f"print one JSON object (schema {JSON_SCHEMA}) instead of tables: everything they "
             "show (default: tables)")
JSON_PLOT_HELP = (f"print one JSON object (schema {JSON_SCHEMA}) instead of tables: everything "
                  "they and the plot show, timelines included (default: tables)")
PLOT_HELP = ("write a plot to FILE, in the format its suffix names ("
             + ", ".join(f".{f}" for f in PLOT_FORMATS[:-1]) + f" or .{PLOT_FORMATS[-1]})")
# zswap writes back through Pool.reclaim, which walks zbud's LRU; zsmalloc keeps none
NO_LRU = ("zsmalloc keeps no LRU, and {what} writes back the least recently used pages, "
          "which needs zbud's")


def _plot_options(sub, default=None, what=""):
    """``--plot FILE`` (what it draws, its default) and ``--no-plot``."""
    shown = f": {what}" if what else ""
    sub.add_argument("--plot", metavar="FILE", type=_plot_file, default=default,
                     help=f"{PLOT_HELP}{shown} (default {default or 'none'})")
    sub.add_argument("--no-plot", dest="plot", action="store_const", const=None,
                     help="write no plot")


def _parquet_option(sub, command):
    sub.add_argument("--parquet", metavar="FILE", type=_output_file, default=None,
                     help=f"also write {PARQUET_TABLES[command]}, as Parquet (needs pandas and "
                          'pyarrow: pip install "zbudjit[data]"; default: none)')


def _parser():
    parser = _Parser(prog="zbudjit", description=__doc__.splitlines()[0], epilog=EPILOG,
                     formatter_class=_HelpFormatter)
    parser.add_argument("--version", action="version", version=f"zbudjit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, help, description=None):
        sub = commands.add_parser(name, help=help, description=description or help,
                                  epilog=EPILOG, formatter_class=_HelpFormatter)
        sub.set_defaults(command_parser=sub)    # errors found after parsing name the command
        return sub

    def swap_options(sub, name, plot_default, max_pages_default):
        sub.add_argument("--policy", choices=sorted(POLICIES), default="zbud",
                         help="placement policy (default zbud; zswap needs zbud's LRU)")
        sub.add_argument("--chain-size", type=_chain_size, default=None, help=CHAIN_HELP)
        sub.add_argument("--compressor", choices=("auto",) + compressors.NAMES, default="auto",
                         help="the page compressor (default auto: zstd if installed, else "
                              "zlib)")
        sub.add_argument("--pool-percent", type=_integer(1, 100), default=20,
                         help="zswap's max_pool_percent (default 20)")
        sub.add_argument("--ram-pages", type=_positive, default=None,
                         help="simulated RAM in pages (default: the number of pages swapped)")
        sub.add_argument("--page-size", type=_page_size, default=4096, help=PAGE_SIZE_HELP)
        sub.add_argument("--max-pages", type=_positive, default=max_pages_default,
                         help="read at most this many pages (default "
                              + (f"{max_pages_default})" if max_pages_default else "all)"))
        sub.add_argument("--batches", type=_positive, default=50,
                         help="swap out and in in this many batches, the timeline's samples "
                              "(default 50)")
        sub.add_argument("--seed", type=_integer(0), default=0,
                         help="seed of the swap-in order (default 0)")
        _plot_options(sub, plot_default)
        _parquet_option(sub, name)
        sub.add_argument("--json", action="store_true", help=JSON_PLOT_HELP)

    demo = command("demo", "zswap over this Python installation's files",
                   "zswap over real pages, the files of this Python installation, with a pool "
                   "small enough that writeback happens; exits 0 only if every page loads back "
                   "byte for byte. " + COMPILE_NOTE)
    swap_options(demo, "demo", DEMO_PLOT, 32768)
    demo.set_defaults(run=_cmd_demo)

    zswap = command("zswap", "zswap over files, directories or raw dumps",
                    "zswap over the pages of PATHs (files, directories, raw dumps); exits 0 only "
                    "if every page loads back byte for byte. " + COMPILE_NOTE)
    zswap.add_argument("paths", nargs="+", metavar="PATH",
                       help="files, directories or raw dumps to read as pages")
    swap_options(zswap, "zswap", None, None)
    zswap.set_defaults(run=_cmd_zswap)

    replay = command("replay", "replay a trace (CSV or NPZ of op, id, size; or a zram trace)",
                     "Replay a trace of (op, id, size) records through a pool and print its "
                     "statistics over time. A CSV trace has a header naming op, id and size; "
                     "fields may be quoted, and lines starting with # are comments. A zram "
                     "trace (kernel-check --save-trace: op, index, comp_len and the kernel's "
                     "mm_stat after each operation) is replayed through zbudjit.Zram instead, "
                     "timed, and checked against its mm_stat columns (exit 1 if any differs); "
                     "only --policy and --chain-size apply to it. " + COMPILE_NOTE)
    replay.add_argument("trace", metavar="TRACE", type=_trace_file,
                        help="the trace file, .csv or .npz")
    replay.add_argument("--pages", type=_pages, default=1 << 20,
                        help="pool size in pages (default 1048576)")
    replay.add_argument("--policy", choices=sorted(POLICIES), default=None,
                        help="placement policy (default zbud; zsmalloc for a zram trace)")
    replay.add_argument("--chain-size", type=_chain_size, default=None, help=CHAIN_HELP)
    replay.add_argument("--page-size", type=_page_size, default=4096, help=PAGE_SIZE_HELP)
    replay.add_argument("--samples", type=_positive, default=200,
                        help="timeline samples (default 200)")
    replay.add_argument("--on-full", choices=("error", "reclaim"), default="error",
                        help="when the pool is full: stop, or write back LRU pages (zbud only) "
                             "(default error)")
    _plot_options(replay, None, "pages used against the pool limit, and objects live and "
                                "evicted")
    _parquet_option(replay, "replay")
    replay.add_argument("--json", action="store_true", help=JSON_PLOT_HELP)
    replay.set_defaults(run=_cmd_replay)

    classes = command(
        "classes", "zsmalloc's size classes; with pages or a trace, the debugfs table",
        "Without input: zsmalloc's class table for the geometry. With PATHs (files, "
        "directories, raw dumps) or --trace: store them in a zsmalloc pool as zram does "
        "(same-filled pages as no object, pages compressing to huge_class_size or more "
        "uncompressed) and print the pool as /sys/kernel/debug/zsmalloc/<pool>/classes shows it, "
        "then a summary line.")
    classes.add_argument("paths", nargs="*", metavar="PATH",
                         help="files, directories or raw dumps to read as pages (default: none, "
                              "the class table)")
    classes.add_argument("--trace", metavar="FILE", type=_trace_file, default=None,
                         help="replay this trace (CSV or NPZ of op, id, size) instead of pages; "
                              "its sizes go to zs_malloc as they are (default: none)")
    classes.add_argument("--page-size", type=_page_size, default=4096, help=PAGE_SIZE_HELP)
    classes.add_argument("--chain-size", type=_chain_size, default=zs_classes.DEFAULT_CHAIN_SIZE,
                         help=CHAIN_RANGE + ")")
    classes.add_argument("--compressor", choices=("auto",) + compressors.NAMES, default=None,
                         help="the page compressor, for PATHs (default auto: zstd if "
                              "installed, else zlib)")
    classes.add_argument("--max-pages", type=_positive, default=None,
                         help="for PATHs: read at most this many pages (default: all)")
    _parquet_option(classes, "classes")
    classes.add_argument("--json", action="store_true", help=JSON_HELP)
    classes.set_defaults(run=_cmd_classes)

    zram = command("zram", "a zram device (Linux 6.18) over files, directories or raw dumps",
                   "Write the pages of PATHs (files, directories, raw dumps) through a zram "
                   "device as Linux 6.18 runs it, in order at indices 0, 1, ... (round and round "
                   "if --disksize is smaller); print mm_stat, zramctl's columns, io_stat (and "
                   "bd_stat with writeback); plot memory used over time and the class fill. "
                   "Exits 0 only if every stored page reads back byte for byte. " + COMPILE_NOTE)
    zram.add_argument("paths", nargs="+", metavar="PATH",
                      help="files, directories or raw dumps to read as pages")
    zram.add_argument("--compressor", choices=("auto",) + compressors.NAMES,
                      default="lzo-rle", help="the compressor (default lzo-rle, zram's)")
    zram.add_argument("--policy", choices=sorted(POLICIES), default="zsmalloc",
                      help="the pool's policy (default zsmalloc, as zram; zbud is a what-if)")
    zram.add_argument("--disksize", type=_size, default=None,
                      help="device size in bytes, with K, M, G or T for KiB..TiB (default: "
                           "room for every page)")
    zram.add_argument("--mem-limit", type=_size, default=0,
                      help="mem_limit in bytes (K, M, G, T allowed; default 0, no limit)")
    zram.add_argument("--page-size", type=_page_size, default=4096, help=PAGE_SIZE_HELP)
    zram.add_argument("--chain-size", type=_chain_size, default=None, help=CHAIN_HELP)
    zram.add_argument("--max-pages", type=_positive, default=None,
                      help="read at most this many pages (default all)")
    zram.add_argument("--batch", type=_positive, default=4096,
                      help="pages a write call; the timeline has a sample a batch "
                           "(default 4096)")
    zram.add_argument("--compact-every", type=_integer(0), default=0,
                      help="compact (echo 1 > compact) after every this many pages written "
                           "(default 0: never)")
    zram.add_argument("--writeback", choices=("idle", "huge", "huge_idle", "incompressible"),
                      default=None,
                      help="write back slots of this kind to the backing file (idle modes mark "
                           "every slot idle first) at the end, or every --writeback-every pages "
                           "(default none)")
    zram.add_argument("--writeback-every", type=_integer(0), default=0,
                      help="with --writeback: every this many pages written (default 0: once, "
                           "at the end)")
    zram.add_argument("--backing-file", metavar="FILE", type=_output_file, default=None,
                      help="the backing file for --writeback, created or emptied (default: a "
                           "temporary file, removed afterwards)")
    _plot_options(zram, ZRAM_PLOT, "memory used over time; the class fill heatmap goes to "
                                   "FILE's name with -classes added")
    _parquet_option(zram, "zram")
    zram.add_argument("--json", action="store_true", help=JSON_PLOT_HELP)
    zram.set_defaults(run=_cmd_zram)

    check = command(
        "kernel-check", "hold the zram model against the running kernel (root, zram)",
        "Send the same real pages and a seeded random sequence of writes, overwrites, discards "
        "and compactions through a private zram device of the running kernel (hot-added, and "
        "removed afterwards, on Ctrl-C too) and through zbudjit.Zram fed the sizes the kernel "
        "reported; print both mm_stat tables side by side after each phase. Exits 0 only if "
        "every field matched after every operation, 1 if one did not, 5 where the kernel "
        "cannot be used (not root, no zram). A second pass feeds the model a user-space "
        "compressor's sizes and reports how far they are from the kernel's.")
    check.add_argument("--operations", type=_integer(1, most=(1_000_000, "a check's length")),
                       default=2000, help="about how many operations (default 2000)")
    check.add_argument("--seed", type=_integer(0), default=0,
                       help="chooses the pages and the sequence (default 0)")
    check.add_argument("--compressor", default="lzo-rle",
                       help="the kernel's comp_algorithm, one it lists (default lzo-rle)")
    check.add_argument("--indices", type=_integer(16, 1 << 16), default=256,
                       help="page indices used, few so most writes overwrite (default 256)")
    check.add_argument("--no-user-space", action="store_true",
                       help="skip the second pass (default: run it when zbudjit has the "
                            "compressor)")
    check.add_argument("--save-trace", metavar="FILE", type=_zram_trace_file, default=None,
                       help="write the recorded sequence (.csv or .npz: each operation, its "
                            "index, the kernel's size and mm_stat) for `zbudjit replay` "
                            "(default none)")
    check.add_argument("--json", action="store_true", help=JSON_HELP)
    check.set_defaults(run=_cmd_kernel_check)

    bench = command("bench", "a quick speed check: ns per op and ratios",
                    "A quick speed check: ns per operation, and ratios against yardsticks timed "
                    "in the same run. " + COMPILE_NOTE)
    bench.add_argument("--pages", type=_pages, default=1 << 18,
                       help="pool size in pages (default 262144)")
    bench.add_argument("--repeat", type=_positive, default=3,
                       help="best of this many runs (default 3)")
    _parquet_option(bench, "bench")
    bench.add_argument("--json", action="store_true", help=JSON_HELP)
    bench.set_defaults(run=_cmd_bench)
    return parser


def _check_arguments(parser, args):
    """Arguments that parse but cannot work together: refused before any work is done."""
    if args.command == "replay" and args.policy is None:
        from .kernel.check import is_zram_trace
        args.policy = "zsmalloc" if is_zram_trace(args.trace) else "zbud"
    policy = getattr(args, "policy", None)
    if policy is not None and args.chain_size is not None and policy != "zsmalloc":
        parser.error(f"argument --chain-size: an option of --policy zsmalloc, not {policy}")
    if policy == "zsmalloc" and args.command in ("demo", "zswap"):
        parser.error("argument --policy: " + NO_LRU.format(what="zswap") + "; "
                     "`zbudjit classes PATH...` stores pages in zsmalloc as zram does")
    if policy == "zsmalloc" and getattr(args, "on_full", None) == "reclaim":
        parser.error("argument --on-full: " + NO_LRU.format(what="reclaim") + "; "
                     "use --on-full error with --policy zsmalloc")
    if args.command == "classes":
        if args.trace is not None and args.paths:
            parser.error("argument --trace: give a trace or PATHs, not both")
        if args.trace is not None or not args.paths:
            for name in ("compressor", "max_pages"):
                if getattr(args, name) is not None:
                    parser.error(f"argument --{name.replace('_', '-')}: only for PATHs (pages "
                                 "to compress)")
    if getattr(args, "ram_pages", None):        # demo and zswap: fail before reading any data
        from .frontends.zswap import min_ram_pages
        least = min_ram_pages(args.pool_percent)
        if args.ram_pages < least:
            parser.error(f"argument --ram-pages: {args.pool_percent}% of {args.ram_pages} RAM "
                         f"pages leaves the pool no page; give at least {least}")
    if getattr(args, "compressor", None) is not None and args.command != "kernel-check":
        try:
            _compressor(args.compressor)        # a missing library, before any data is read
        except ImportError as error:
            parser.error(f"argument --compressor: {error}")
    if getattr(args, "parquet", None):
        from . import results
        try:
            results.require_data()
        except ImportError as error:
            parser.error(f"argument --parquet: {error}")


def main(argv=None):
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    _check_arguments(args.command_parser, args)
    try:
        status = args.run(args)
        sys.stdout.flush()                      # so a closed pipe is seen here, not at exit
        return status
    except KeyboardInterrupt:
        return _fail("interrupted", 128 + 2)        # as a shell reports SIGINT
    except BrokenPipeError:
        # the reader went away (``zbudjit ... | head``): not an error of ours; silence the flush
        # Python would otherwise attempt, and fail, at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except TraceError as error:
        return _fail(error, EXIT_BAD_INPUT)
    except CorruptionError as error:
        return _fail(f"verification failed: {error}", EXIT_VERIFY_FAILED)
    except (UsageError, PoolError, ValueError, OSError, ImportError, MemoryError) as error:
        return _fail(_message(error), EXIT_USAGE)
    except Exception as error:
        if os.environ.get("ZBUDJIT_TRACEBACK"):
            raise
        return _fail(f"internal error, please report it with the command line "
                     f"(ZBUDJIT_TRACEBACK=1 shows where): {_message(error)}", EXIT_INTERNAL)


def _fail(message, status):
    print(f"zbudjit: {message}", file=sys.stderr)
    return status


def _message(error):
    """An exception in words for one line on stderr."""
    if isinstance(error, OSError) and error.filename:
        return f"{error.strerror}: {error.filename}"
    if isinstance(error, MemoryError):
        return f"out of memory: {error}" if str(error) else "out of memory"
    return " ".join(str(error).split()) or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
