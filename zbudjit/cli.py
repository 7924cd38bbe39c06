"""The ``zbudjit`` command line.

- ``zbudjit demo``: zswap over real pages (the files of this Python installation), with a pool small
  enough that writeback happens; prints the counters, writes a PNG plot, and exits 0 only if every
  page came back byte for byte.
- ``zbudjit zswap PATH...``: the same over any files, directories or raw dumps.
- ``zbudjit replay TRACE``: a trace of (op, id, size) replayed through a pool, stats over time.
- ``zbudjit classes``: zsmalloc's size classes for a page size and chain size; given pages (or a
  trace), the pool they make, stored as zram stores them, printed as debugfs ``classes`` prints it.
- ``zbudjit bench``: a quick speed check, ns per op and ratios against yardsticks.

``--json`` prints one JSON object on stdout instead of tables. Bad arguments, paths or inputs give
one line on stderr and exit status 2; a failed verification exits 1.
"""

import argparse
import dataclasses
import json
import os
import sys

import numpy as np

from . import POLICIES, Pool, PoolError, PoolFullError, __version__, compressors
from .engine.tables import MAX_PAGES
from .policies.zsmalloc import classes as zs_classes
from .pool import _page_size as pool_page_size

DEMO_PLOT = "zbudjit-demo.png"


class UsageError(Exception):
    """A bad argument found after parsing; reported like argparse's own errors."""


def _table(rows, title=None):
    """Print (name, value) rows as two aligned columns."""
    if title:
        print(title)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if dataclasses.is_dataclass(value):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


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


# -- zswap over real pages -------------------------------------------------------------------------


def _swap(args, page_set, what):
    from .workloads import swap_cycle

    if len(page_set) == 0:
        raise UsageError(f"no pages to swap: {what} holds no data")
    run = swap_cycle(page_set.pages, policy=args.policy, compressor=_compressor(args.compressor),
                     pool_percent=args.pool_percent, ram_pages=args.ram_pages,
                     batches=args.batches, seed=args.seed, progress=_progress(args))
    title = f"zswap ({run.compressor}, {args.policy}) over {what}"
    plot = None
    if args.plot:
        plot = _save_plot(lambda plots: plots.report_figure(
            run.timeline, run.page_fill, run.page_size, title=title), args.plot)
    if args.json:
        print(json.dumps(_jsonable({
            "data": {"what": what, "files": len(page_set.sources), "pages": run.pages,
                     "page_size": run.page_size, "skipped": page_set.skipped},
            "compressor": run.compressor, "policy": args.policy,
            "pool_percent": args.pool_percent, "ram_pages": run.ram_pages,
            "stats": run.stats, "store_seconds": run.store_seconds,
            "load_seconds": run.load_seconds, "verified": run.verified,
            "mismatched_pages": run.mismatched[:100], "plot": plot}), indent=2))
    else:
        _print_swap(run, page_set, what, title, plot)
    return 0 if run.verified else 1


def _print_swap(run, page_set, what, title, plot):
    s = run.stats
    mib = run.pages * run.page_size / 2**20
    rows = [
        ("data", f"{run.pages:,} pages of {run.page_size} B ({mib:,.1f} MiB) "
                 f"from {len(page_set.sources):,} files"),
        ("pool limit", f"{s.pool_limit_pages:,} pages "
                       f"({s.pool_limit_pages * run.page_size / 2**20:,.1f} MiB) "
                       f"of {run.ram_pages:,} RAM pages"),
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
        ("swap out", f"{run.store_seconds:.2f} s ({mib / run.store_seconds:,.0f} MiB/s)"),
        ("swap in and verify", f"{run.load_seconds:.2f} s ({mib / run.load_seconds:,.0f} MiB/s)"),
    ]
    if page_set.skipped:
        rows.insert(1, ("files skipped (unreadable or not regular)", f"{len(page_set.skipped):,}"))
    _table(rows, title)
    if plot:
        print(f"plot written to {plot}")
    if run.verified:
        print(f"every one of the {run.pages:,} pages loaded back byte for byte")
    else:
        print(f"MISMATCH: {run.mismatched.size:,} pages did not load back, first ids "
              f"{run.mismatched[:10].tolist()}")


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


def _cmd_replay(args):
    from .replay import load_trace, replay

    trace = load_trace(args.trace)
    pool = Pool(pages=args.pages, policy=args.policy, page_size=args.page_size,
                chain_size=args.chain_size)
    result = replay(trace, pool, samples=args.samples, progress=_progress(args),
                    on_full=args.on_full)
    plot = None
    if args.plot:
        plot = _save_plot(lambda plots: plots.timeline_figure(
            result.timeline, title=f"replay of {args.trace}"), args.plot)
    if args.json:
        print(json.dumps(_jsonable({"trace": args.trace, "ops": result.ops,
                                    "seconds": result.seconds, "final": result.final,
                                    "timeline": result.timeline, "plot": plot}), indent=2))
        return 0
    timeline = result.timeline
    picks = np.unique(np.linspace(0, timeline["time"].size - 1, 11).astype(int))
    print(f"replayed {result.ops:,} operations of {args.trace} in {result.seconds:.2f} s")
    header = f"  {'ops':>12} {'objects':>10} {'pages':>10} {'density':>8}"
    print(header)
    for i in picks:
        print(f"  {timeline['time'][i]:>12,} {timeline['objects'][i]:>10,} "
              f"{timeline['pool_pages'][i]:>10,} {timeline['density'][i]:>8.3f}")
    final = result.final
    _table([("pages used / total", f"{final.pages_used:,} / {final.pages_total:,}"),
            ("objects", f"{final.objects:,}"), ("bytes stored", f"{final.bytes_stored:,}"),
            ("density", f"{final.density:.3f}")], "final pool")
    if plot:
        print(f"plot written to {plot}")
    return 0


def _cmd_bench(args):
    from .bench import format_table, run_bench
    rows = run_bench(pages=args.pages, repeat=args.repeat, progress=_progress(args))
    if args.json:
        print(json.dumps(_jsonable(rows), indent=2))
    else:
        print(f"zbudjit {__version__} bench: {args.pages:,}-page pool, best of {args.repeat}; "
              "ratios are measured against their yardstick in the same run")
        print(format_table(rows))
    return 0


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
    if args.json:
        names = zs_classes.CLASS_STATS_DTYPE.names
        total = {name: int(rows[name].sum()) for name in names
                 if name not in ("class", "size", "pages_per_zspage")}
        print(json.dumps(_jsonable({
            "page_size": pool.page_size, "chain_size": pool.chain_size,
            "huge_class_size": zs_classes.huge_class_size(pool.page_size, pool.chain_size),
            "input": described, "pages_used": pool.pages_used, "objects": pool.objects,
            "bytes_stored": pool.bytes_stored, "density": pool.density,
            "rows": [{name: int(row[name]) for name in names} for row in rows],
            "total": total}), indent=2))
        return 0
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
    return 0


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
    if args.json:
        print(json.dumps({"page_size": page_size, "chain_size": chain_size,
                          "class_indices": len(rows), "real_classes": real,
                          "huge_class_size": huge, "rows": rows}, indent=2))
        return 0
    print(f"zsmalloc size classes for {page_size} B pages, chain size {chain_size} "
          "(CONFIG_ZSMALLOC_CHAIN_SIZE)")
    print(f" {'index':>5} {'size':>5} {'pages_per_zspage':>16} {'objs_per_zspage':>15} "
          f"{'merged_into':>11}")
    for row in rows:
        merged = "-" if row["merged_into"] is None else row["merged_into"]
        print(f" {row['index']:>5} {row['size']:>5} {row['pages_per_zspage']:>16} "
              f"{row['objs_per_zspage']:>15} {merged:>11}")
    print(f"{len(rows)} class indices, {real} real classes (an index merged into a larger class "
          "uses that class's slots)")
    print(f"huge_class_size {huge}: a request of at least {huge} B is stored in a huge class, one "
          "object a zspage; zram stores such a page uncompressed")
    return 0


def _room(table, objects):
    """Pages enough for ``objects`` objects stored with no free in between: each real class
    holds at most one zspage that is not full, and a full zspage has no fewer objects than
    pages."""
    real = zs_classes.real_class_indices(table)
    return max(1, objects + int(table["pages_per_zspage"][real].sum()))


def _classes_of_pages(args):
    """Real pages into a zsmalloc pool as zram stores them (zram_write_page): a same-filled page
    is kept as its word, with no object; a page whose compressed length is at least
    huge_class_size is stored as it is, a page_size object; any other as its compressed bytes."""
    from .frontends.zswap import same_filled_words
    from .pagesource import read_pages

    name = _compressor(args.compressor or "auto")
    compressor = compressors.get_compressor(name)
    page_set = read_pages(args.paths, args.page_size, max_pages=args.max_pages,
                          progress=_progress(args))
    what = ", ".join(args.paths)
    if len(page_set) == 0:
        raise UsageError(f"no pages to store: {what} holds no data")
    pages = page_set.pages
    page_size = page_set.page_size
    huge = zs_classes.huge_class_size(page_size, args.chain_size)
    same, _ = same_filled_words(pages.view(np.uint64))
    stored = np.flatnonzero(~same)
    pool = Pool(pages=_room(zs_classes.size_class_table(page_size, args.chain_size), stored.size),
                policy="zsmalloc", page_size=page_size, chain_size=args.chain_size)
    huge_pages = 0
    for first in range(0, stored.size, STORE_BATCH):
        batch = pages[stored[first:first + STORE_BATCH]]
        data, offsets = compressor.compress(batch)
        lengths = np.diff(offsets)
        incompressible = lengths >= huge
        if incompressible.any():
            huge_pages += int(np.count_nonzero(incompressible))
            parts = [batch[i] if incompressible[i] else data[offsets[i]:offsets[i + 1]]
                     for i in range(batch.shape[0])]
            lengths = np.where(incompressible, page_size, lengths)
            data = np.concatenate(parts)
            offsets = np.concatenate([[0], np.cumsum(lengths)])
        pool.store(data, offsets)
    described = {"what": what, "files": len(page_set.sources), "pages": len(page_set),
                 "skipped": page_set.skipped, "compressor": name,
                 "same_filled_pages": int(np.count_nonzero(same)), "huge_pages": huge_pages,
                 "compressed_pages": int(stored.size) - huge_pages}
    return pool, described


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
        pool = Pool(pages=pages, policy="zsmalloc", page_size=args.page_size,
                    chain_size=args.chain_size)
        try:
            result = replay(trace, pool, samples=1, progress=_progress(args))
        except PoolFullError:
            if pages >= most:
                raise
            pages = min(2 * pages, most)
            continue
        return pool, {"trace": args.trace, "records": result.ops, "peak_live": live}


# -- argument parsing ------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr (no usage block), exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parse_int(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _integer(low, high=None):
    """An argument type: an integer from ``low`` (to ``high``)."""
    def integer(text):
        value = _parse_int(text)
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value
    return integer


def _page_size(text):
    try:
        return pool_page_size(_parse_int(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


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


def _chain_size(text):
    try:
        return zs_classes.check_geometry(4096, _parse_int(text))[1]
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


_positive = _integer(1)
POLICY_HELP = "placement policy (default zbud)"
# the help of --chain-size, less its closing parenthesis
CHAIN_RANGE = (f"CONFIG_ZSMALLOC_CHAIN_SIZE, {zs_classes.MIN_CHAIN_SIZE} to "
               f"{zs_classes.MAX_CHAIN_SIZE}: the most pages a zspage chains "
               f"(default {zs_classes.DEFAULT_CHAIN_SIZE}")
CHAIN_HELP = f"zsmalloc's {CHAIN_RANGE}; --policy zsmalloc only)"
# zswap writes back through Pool.reclaim, which walks zbud's LRU; zsmalloc keeps none
NO_LRU = ("zsmalloc keeps no LRU, and {what} writes back the least recently used pages, "
          "which needs zbud's")


def _parser():
    parser = _Parser(prog="zbudjit", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"zbudjit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def swap_options(sub, plot_default, max_pages_default):
        sub.add_argument("--policy", choices=sorted(POLICIES), default="zbud",
                         help="placement policy (default zbud; zswap needs zbud's LRU)")
        sub.add_argument("--chain-size", type=_chain_size, default=None, help=CHAIN_HELP)
        sub.add_argument("--compressor", choices=("auto",) + compressors.NAMES, default="auto",
                         help="auto: zstd if installed, else zlib")
        sub.add_argument("--pool-percent", type=_integer(1, 100), default=20,
                         help="zswap's max_pool_percent (default 20)")
        sub.add_argument("--ram-pages", type=_positive, default=None,
                         help="simulated RAM in pages (default: the number of pages swapped)")
        sub.add_argument("--page-size", type=_page_size, default=4096,
                         help="bytes per page (default 4096)")
        sub.add_argument("--max-pages", type=_positive, default=max_pages_default,
                         help="read at most this many pages")
        sub.add_argument("--batches", type=_positive, default=50,
                         help="swap out and in in this many batches (timeline samples)")
        sub.add_argument("--seed", type=_integer(0), default=0, help="seed of the swap-in order")
        sub.add_argument("--plot", metavar="FILE", type=_output_file, default=plot_default,
                         help=f"write a PNG plot (default {plot_default})" if plot_default
                         else "write a PNG plot")
        sub.add_argument("--no-plot", dest="plot", action="store_const", const=None,
                         help="write no plot")
        sub.add_argument("--json", action="store_true", help="print one JSON object")

    demo = commands.add_parser("demo", help="zswap over this Python installation's files")
    swap_options(demo, DEMO_PLOT, 32768)
    demo.set_defaults(run=_cmd_demo)

    zswap = commands.add_parser("zswap", help="zswap over files, directories or raw dumps")
    zswap.add_argument("paths", nargs="+", metavar="PATH")
    swap_options(zswap, None, None)
    zswap.set_defaults(run=_cmd_zswap)

    replay = commands.add_parser("replay", help="replay a trace (CSV or NPZ of op, id, size)")
    replay.add_argument("trace", metavar="TRACE")
    replay.add_argument("--pages", type=_positive, default=1 << 20,
                        help="pool size in pages (default 1048576)")
    replay.add_argument("--policy", choices=sorted(POLICIES), default="zbud", help=POLICY_HELP)
    replay.add_argument("--chain-size", type=_chain_size, default=None, help=CHAIN_HELP)
    replay.add_argument("--page-size", type=_page_size, default=4096,
                        help="bytes per page (default 4096)")
    replay.add_argument("--samples", type=_positive, default=200,
                        help="timeline samples (default 200)")
    replay.add_argument("--on-full", choices=("error", "reclaim"), default="error",
                        help="when the pool is full: stop, or write back LRU pages (zbud only) "
                             "(default error)")
    replay.add_argument("--plot", metavar="FILE", type=_output_file,
                        help="write a PNG plot of the timeline")
    replay.add_argument("--json", action="store_true", help="print one JSON object")
    replay.set_defaults(run=_cmd_replay)

    classes = commands.add_parser(
        "classes", help="zsmalloc's size classes; with pages or a trace, the debugfs table",
        description="Without input: zsmalloc's class table for the geometry. With PATHs (files, "
        "directories, raw dumps) or --trace: store them in a zsmalloc pool as zram does "
        "(same-filled pages as no object, pages compressing to huge_class_size or more "
        "uncompressed) and print the pool as /sys/kernel/debug/zsmalloc/<pool>/classes shows it, "
        "then a summary line.")
    classes.add_argument("paths", nargs="*", metavar="PATH",
                         help="files, directories or raw dumps to read as pages")
    classes.add_argument("--trace", metavar="FILE", default=None,
                         help="replay this trace (CSV or NPZ of op, id, size) instead of pages; "
                              "its sizes go to zs_malloc as they are")
    classes.add_argument("--page-size", type=_page_size, default=4096,
                         help="bytes per page (default 4096)")
    classes.add_argument("--chain-size", type=_chain_size, default=zs_classes.DEFAULT_CHAIN_SIZE,
                         help=CHAIN_RANGE + ")")
    classes.add_argument("--compressor", choices=("auto",) + compressors.NAMES, default=None,
                         help="for PATHs (default auto: zstd if installed, else zlib)")
    classes.add_argument("--max-pages", type=_positive, default=None,
                         help="for PATHs: read at most this many pages (default: all)")
    classes.add_argument("--json", action="store_true", help="print one JSON object")
    classes.set_defaults(run=_cmd_classes)

    bench = commands.add_parser("bench", help="a quick speed check: ns per op and ratios")
    bench.add_argument("--pages", type=_positive, default=1 << 18, help="pool size in pages")
    bench.add_argument("--repeat", type=_positive, default=3, help="best of this many runs")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.set_defaults(run=_cmd_bench)
    return parser


def _check_policy(parser, args):
    """Policy arguments that parse but cannot work together: refused before any work is done."""
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


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    _check_policy(parser, args)
    if getattr(args, "ram_pages", None):        # demo and zswap: fail before reading any data
        from .frontends.zswap import min_ram_pages
        least = min_ram_pages(args.pool_percent)
        if args.ram_pages < least:
            parser.error(f"argument --ram-pages: {args.pool_percent}% of {args.ram_pages} RAM "
                         f"pages leaves the pool no page; give at least {least}")
    try:
        status = args.run(args)
        sys.stdout.flush()                      # so a closed pipe is seen here, not at exit
        return status
    except BrokenPipeError:
        # the reader went away (``zbudjit ... | head``): not an error of ours; silence the flush
        # Python would otherwise attempt, and fail, at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (UsageError, PoolError, ValueError, TypeError, KeyError, OSError, ImportError,
            MemoryError) as error:
        print(f"zbudjit: {_message(error)}", file=sys.stderr)
        return 2


def _message(error):
    if isinstance(error, KeyError) and error.args:
        return error.args[0]                    # str() of a KeyError would quote it
    if isinstance(error, OSError) and error.filename:
        return f"{error.strerror}: {error.filename}"
    if isinstance(error, MemoryError):
        return f"out of memory: {error}" if str(error) else "out of memory"
    return error


if __name__ == "__main__":
    sys.exit(main())
