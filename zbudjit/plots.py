"""Figures of a pool: its occupancy over time, how full its pages are, and compaction before/after.

Every function here returns a :class:`matplotlib.figure.Figure` drawn on its own Agg canvas, without
pyplot, so it works headless and leaves no global state behind (the user's backend choice and
pyplot's figure list are untouched). Write one to disk with :func:`save`, as PNG, SVG or PDF (the
suffix says which).

What the figures promise a reader: a series with no samples says "no data" in its axes rather
than leaving them blank; a series of one sample is drawn as a point; axes that count (pages,
objects, operations) are labelled in plain numbers (``1,500``, ``20k``, ``3.5M``), never with a
``1e6`` offset that is easy to miss. :func:`fill_histogram` gives the numbers the fill histogram
draws, for a report that wants them without a figure.

Two figures are of a zram device (:func:`zbudjit.zram_study.run_zram`): :func:`zram_memory_figure`
(mm_stat's memory over pages written) and :func:`class_fill_figure` (zspages per size class and
fullness group, as debugfs ``classes`` counts them).

matplotlib is an optional dependency: install it with ``pip install "zbudjit[plot]"``. It is
imported only when a figure is built; without it every function raises :class:`ImportError` with
that install hint (call :func:`require_matplotlib` to check up front).

>>> import numpy as np
>>> from zbudjit import plots
>>> fill = np.array([0, 4000, 2100, 0, 900])          # bytes stored on each pfn
>>> figure = plots.fill_histogram_figure(fill, page_size=4096)
>>> path = plots.save(figure, "fill.png")              # doctest: +SKIP
"""

import functools
import math
import pathlib

import numpy as np

from .pool import _whole_number

__all__ = ["PLOT_FORMATS", "class_fill_figure", "fill_heatmap_figure", "fill_histogram",
           "fill_histogram_figure", "plot_format_of", "replay_figure", "report_figure",
           "require_matplotlib", "save", "timeline_figure", "zram_memory_figure"]

INSTALL_HINT = 'pip install "zbudjit[plot]"'
DPI = 120
HISTOGRAM_BINS = 32
MAX_CELLS = 1 << 20
"""A heatmap shows at most this many cells (1024 x 1024); larger pools average blocks of pages."""

TIMELINE_REQUIRED = ("time", "pool_pages", "density")
# Optional page series, in drawing order: key -> (legend label, line style).
TIMELINE_OPTIONAL = {
    "stored_pages": ("pages stored (pool + same-filled)", dict(color="tab:green", linewidth=1.5)),
    "written_back_pages": ("pages written back (cumulative)", dict(color="tab:red", linewidth=1.5)),
    "limit_pages": ("pool limit", dict(color="black", linestyle="--", linewidth=1.2)),
}
REPLAY_REQUIRED = TIMELINE_REQUIRED + ("objects", "evicted")
# zram_memory_figure: mm_stat's byte series, in drawing order: key -> (legend label, line style).
# mem_limit is left out while it is 0 (no limit); pages_compacted (a page count) goes on the
# right axis.
ZRAM_REQUIRED = ("pages_written", "mem_used_total")
ZRAM_BYTE_SERIES = {
    "mem_used_total": ("mem_used_total (pool memory)", dict(color="tab:blue", linewidth=2)),
    "mem_used_max": ("mem_used_max (peak)", dict(color="tab:purple", linestyle="--",
                                                 linewidth=1.5)),
    "compr_data_size": ("compr_data_size (compressed bytes)", dict(color="tab:green",
                                                                   linestyle=":", linewidth=1.5)),
    "mem_limit": ("mem_limit", dict(color="black", linestyle="--", linewidth=1.2)),
}
BYTE_UNITS = ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"))
CLASS_FILL_ANNOTATE_ROWS = 40
"""class_fill_figure writes each cell's count in it when it has at most this many rows."""
FREE_COLOUR = "0.82"
NO_DATA = "no data"
PLOT_FORMATS = ("png", "svg", "pdf")
"""The formats :func:`save` writes, named by the file's suffix: matplotlib writes each of them
without a library beyond its own."""


# -- matplotlib, imported lazily -----------------------------------------------------------------

def require_matplotlib():
    """Check that matplotlib is importable.

    Raises
    ------
    ImportError
        If matplotlib is missing; the message says ``pip install "zbudjit[plot]"``.
    """
    _matplotlib()


def _matplotlib():
    """``(Figure, FigureCanvasAgg)``, or ImportError with the install hint."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(f"zbudjit's figures need matplotlib: {INSTALL_HINT}") from error
    return Figure, FigureCanvasAgg


def _new_figure(figsize):
    Figure, FigureCanvasAgg = _matplotlib()
    figure = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


# -- input checks ----------------------------------------------------------------------------------

def _check_fill(page_fill, page_size, name="page_fill"):
    """``page_fill`` as a 1-D int64 array with every entry in 0..page_size."""
    fill = np.asarray(page_fill)
    if fill.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one entry per pfn), not {fill.ndim}-D")
    if fill.dtype.kind not in "iu":
        if fill.size == 0 and fill.dtype.kind == "f":
            fill = fill.astype(np.int64)      # np.asarray([]) is float64
        else:
            raise TypeError(f"{name} must hold integers (bytes per page), not {fill.dtype}")
    negative = np.flatnonzero(fill < 0)
    if negative.size:
        pfn = int(negative[0])
        raise ValueError(f"{name} has negative fill: {name}[{pfn}] = {int(fill[pfn])} "
                         f"({negative.size} negative entries)")
    over = np.flatnonzero(fill > page_size)
    if over.size:
        pfn = int(over[0])
        raise ValueError(f"{name} has fill above page_size {page_size}: {name}[{pfn}] = "
                         f"{int(fill[pfn])} ({over.size} entries over)")
    return fill.astype(np.int64, copy=False)


def _timeline_series(timeline, required, drawn):
    """The series ``required`` and those of ``drawn`` that ``timeline`` has, as float arrays of
    one length (which may be 0: no samples), none negative but ``time``."""
    if not hasattr(timeline, "keys") or not hasattr(timeline, "__getitem__"):
        raise TypeError(f"timeline must be a dict of arrays, not {type(timeline).__name__}")
    missing = [key for key in required if key not in timeline]
    if missing:
        raise ValueError(f"timeline is missing the required key(s) {', '.join(map(repr, missing))} "
                         f"(required: {', '.join(required)})")
    series = {}
    for key in dict.fromkeys(tuple(required) + tuple(drawn)):
        if key not in timeline:
            continue
        values = np.asarray(timeline[key])
        if values.ndim != 1:
            raise ValueError(f"timeline[{key!r}] must be 1-D, not {values.ndim}-D")
        if values.dtype.kind not in "iuf":
            raise TypeError(f"timeline[{key!r}] must be numeric, not {values.dtype}")
        series[key] = values.astype(np.float64)
    lengths = {key: values.size for key, values in series.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{key}: {size}" for key, size in lengths.items())
        raise ValueError(f"timeline arrays must all have one length, not ({listed})")
    for key, values in series.items():
        if key != "time" and np.any(values < 0):
            raise ValueError(f"timeline[{key!r}] has negative values")
    return series


def _check_timeline(timeline, required=TIMELINE_REQUIRED):
    """``(series, time_label)``: the known series of ``timeline`` as float arrays of one length
    (which may be 0: no samples)."""
    series = _timeline_series(timeline, required, TIMELINE_OPTIONAL)
    density = series["density"]
    if np.any(density > 1 + 1e-9):
        raise ValueError(f"timeline['density'] must be a fraction in 0..1, but reaches "
                         f"{np.nanmax(density):g}")
    label = timeline.get("time_label", "pages stored") if hasattr(timeline, "get") else "pages stored"
    if not isinstance(label, str):
        raise TypeError(f"timeline['time_label'] must be a str, not {type(label).__name__}")
    return series, label


def _check_zram_timeline(timeline):
    """The series of a :func:`zbudjit.zram_study.run_zram` timeline that
    :func:`zram_memory_figure` draws, as float arrays of one length (which may be 0)."""
    return _timeline_series(timeline, ZRAM_REQUIRED,
                            tuple(ZRAM_BYTE_SERIES) + ("pages_compacted",))


def _byte_unit(top):
    """``(bytes per unit, name)``: the largest binary unit that ``top`` bytes reach (so an axis
    reads ``1.5 GiB``, not ``1536 MiB``), bytes below one KiB."""
    return next(((scale, unit) for scale, unit in BYTE_UNITS if top >= scale), (1, "bytes"))


def _check_class_fill(class_fill):
    """``(sizes, counts)``: the slot size of each size class that has zspages, and its zspages
    per fullness group (int64, one column per :data:`RATIO_FIELDS` entry)."""
    from .policies.zsmalloc.classes import RATIO_FIELDS
    if class_fill is None:                      # a pool with no size classes (zbud)
        return np.empty(0, np.int64), np.empty((0, len(RATIO_FIELDS)), np.int64)
    rows = np.asarray(class_fill)
    names = rows.dtype.names or ()
    missing = [name for name in ("size",) + RATIO_FIELDS if name not in names]
    if missing:
        raise TypeError("class_fill must be rows of zbudjit.policies.zsmalloc.classes."
                        f"CLASS_STATS_DTYPE (as Pool.class_stats() returns); it has no field(s) "
                        f"{', '.join(missing)}")
    if rows.ndim != 1:
        raise ValueError(f"class_fill must be 1-D (one row per size class), not {rows.ndim}-D")
    counts = np.stack([rows[name] for name in RATIO_FIELDS], axis=1).astype(np.int64) \
        if rows.size else np.empty((0, len(RATIO_FIELDS)), np.int64)
    if np.any(counts < 0):
        raise ValueError("class_fill has negative zspage counts")
    shown = counts.sum(axis=1) > 0
    return rows["size"][shown].astype(np.int64), counts[shown]


# -- drawing ---------------------------------------------------------------------------------------

def _count_labels(values):
    """Counts as tick labels with one unit for the whole axis: ``2,500 5,000 7,500``,
    ``10k 20k``, ``1.5M 3M``; never an offset or an exponent."""
    top = max((abs(value) for value in values), default=0)
    # thousands as "k" only from 10,000: "2,500" reads better than "2.5k"
    scale, unit = next(((scale, unit) for least, scale, unit in
                        ((1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k")) if top >= least),
                       (1, ""))
    labels = []
    for value in values:
        if value == 0:
            labels.append("0")
        elif scale > 1:
            labels.append(f"{value / scale:,.4g}{unit}")
        else:
            labels.append(f"{value:,.0f}" if value == round(value) else f"{value:,.4g}")
    return labels


@functools.cache
def _count_formatter_class():
    """A matplotlib Formatter of :func:`_count_labels` (made on first use: matplotlib is
    imported only when a figure is drawn)."""
    from matplotlib.ticker import Formatter

    class CountFormatter(Formatter):
        def format_ticks(self, values):
            return _count_labels(values)

        def __call__(self, value, position=None):
            return _count_labels([value])[0]

    return CountFormatter


def _count_axis(axis, integer=True):
    """Label ``axis`` (an x or y axis) as a count: plain numbers, whole ones if ``integer``."""
    from matplotlib.ticker import MaxNLocator
    if integer:
        axis.set_major_locator(MaxNLocator(integer=True))
    axis.set_major_formatter(_count_formatter_class()())


def _no_data(axes, text=NO_DATA):
    """Say in ``axes`` that it has nothing to show, where a reader would look for the data."""
    axes.text(0.5, 0.5, text, transform=axes.transAxes, ha="center", va="center", color="0.4",
              fontsize="large")


def _line_style(samples):
    """Markers for a series too short to draw a line (one point), none otherwise."""
    return dict(marker="o", markersize=5) if samples == 1 else {}


def _draw_timeline(axes, series, time_label):
    time = series["time"]
    points = _line_style(time.size)
    lines = [axes.plot(time, series["pool_pages"], color="tab:blue", linewidth=2,
                       label="pool pages (used)", **points)[0]]
    for key, (label, style) in TIMELINE_OPTIONAL.items():
        if key in series:
            if key == "limit_pages" and time.size and np.all(series[key] == series[key][0]):
                label = f"{label} ({series[key][0]:,.0f} pages)"
            lines.append(axes.plot(time, series[key], label=label, **style, **points)[0])
    axes.set_xlabel(time_label)
    axes.set_ylabel("pages")
    axes.set_ylim(bottom=0)
    axes.grid(True, alpha=0.3)
    _count_axis(axes.yaxis)
    _count_axis(axes.xaxis, integer=False)      # the time may be seconds
    if time.size == 0:
        _no_data(axes)

    right = axes.twinx()
    lines.append(right.plot(time, series["density"] * 100, color="tab:orange", linewidth=1.5,
                            linestyle="-.", label="density (right axis)", **points)[0])
    right.set_ylim(0, 105)
    right.set_ylabel("density (% of used-page bytes)", color="tab:orange")
    right.tick_params(axis="y", colors="tab:orange")
    # Legend on the twin (drawn on top), outside the plot on the right so it hides no data.
    right.legend(lines, [line.get_label() for line in lines], loc="upper left",
                 bbox_to_anchor=(1.12, 1.0), borderaxespad=0, fontsize="small")


def _draw_histogram(axes, fill, page_size):
    edges, counts, mean = _histogram(fill, page_size)
    # the counts are fill_histogram's, so that a report's numbers and its figure agree
    axes.hist(edges[:-1], bins=edges, weights=counts, color="tab:blue", edgecolor="white",
              linewidth=0.5, label=f"{int(counts.sum()):,} used pages")
    axes.set_xlim(0, 100)
    axes.set_xlabel(f"fill (% of the {page_size:,}-byte page)")
    axes.set_ylabel("used pages")
    axes.grid(True, axis="y", alpha=0.3)
    _count_axis(axes.yaxis)
    if mean is not None:
        axes.axvline(mean, color="tab:red", linestyle="--", linewidth=1.5,
                     label=f"mean fill {mean:.1f}%")
        axes.legend(loc="upper left", fontsize="small")
    else:
        _no_data(axes, f"{NO_DATA}: no used pages")


def _histogram(fill, page_size):
    """``(edges, counts, mean)`` of the used pages' fill in % (``fill`` already checked)."""
    used = fill[fill > 0]
    percent = used * (100.0 / page_size)
    edges = np.linspace(0.0, 100.0, HISTOGRAM_BINS + 1)
    counts, _ = np.histogram(percent, bins=edges)
    return edges, counts.astype(np.int64), float(percent.mean()) if used.size else None


def _draw_objects(axes, series, time_label):
    """Live objects and objects evicted so far (both counts of objects) over time."""
    time = series["time"]
    points = _line_style(time.size)
    axes.plot(time, series["objects"], color="tab:purple", linewidth=2, label="objects live",
              **points)
    evicted = series["evicted"]
    none = time.size > 0 and not evicted.any()
    axes.plot(time, evicted, color="tab:red", linewidth=1.5,
              label="objects evicted (cumulative)" + (": none" if none else ""), **points)
    axes.set_xlabel(time_label)
    axes.set_ylabel("objects")
    axes.set_ylim(bottom=0)
    axes.grid(True, alpha=0.3)
    _count_axis(axes.yaxis)
    _count_axis(axes.xaxis, integer=False)
    axes.legend(loc="upper left", bbox_to_anchor=(1.12, 1.0), borderaxespad=0, fontsize="small")
    if time.size == 0:
        _no_data(axes)


def _block_means(fraction, block):
    """Mean of each run of ``block`` consecutive entries (the last run may be shorter)."""
    if block == 1:
        return fraction
    starts = np.arange(0, fraction.size, block)
    sums = np.add.reduceat(fraction, starts)
    counts = np.diff(np.append(starts, fraction.size))
    return sums / counts


# -- public figures --------------------------------------------------------------------------------

def timeline_figure(timeline, title="pool occupancy over time"):
    """The pool's pages and density over time.

    Parameters
    ----------
    timeline : dict
        Equal-length 1-D numeric arrays sampled over time. Required: ``"time"`` (x values),
        ``"pool_pages"`` (pages the pool uses) and ``"density"`` (bytes stored / bytes of used
        pages, 0..1). Drawn when present: ``"limit_pages"`` (dashed), ``"written_back_pages"``
        (cumulative pages written to the swap file) and ``"stored_pages"`` (pages stored:
        in the pool or same-filled). ``"time_label"`` (str) labels the x axis, ``"pages stored"`` by
        default. Other keys are ignored. Arrays of length 0 draw empty axes that say "no data".
    title : str, optional
        The figure's title.

    Returns
    -------
    matplotlib.figure.Figure
        One axes of pages (left) with a twin axes of density in % (right) and a legend of both.

    Raises
    ------
    ValueError
        A required key is missing, the arrays differ in length, a page count is negative, or
        density is above 1.
    TypeError
        ``timeline`` is not a mapping, an array is not numeric, or ``time_label`` is not a str.
    ImportError
        matplotlib is missing.
    """
    series, time_label = _check_timeline(timeline)
    figure = _new_figure((9.5, 4.8))
    axes = figure.add_subplot()
    _draw_timeline(axes, series, time_label)
    axes.set_title(title)
    return figure


def replay_figure(timeline, title="trace replay"):
    """A trace replay over time: the pool's pages against its limit (top), its objects (bottom).

    Parameters
    ----------
    timeline : dict
        As :func:`zbudjit.replay.replay` samples it (``ReplayResult.timeline``). Required:
        ``"time"``, ``"pool_pages"``, ``"density"``, ``"objects"`` (objects live) and
        ``"evicted"`` (objects evicted so far, cumulative). Drawn when present: ``"limit_pages"``
        (the pool's size in pages, dashed; the replay's timeline has it). ``"time_label"``
        labels the x axes.
    title : str, optional
        The figure's title.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels sharing the x axis: ``"pool pages"`` (pages used, the pool limit, density on
        a twin axis) over ``"objects"`` (live, and evicted; "none" in the legend when reclaim
        never ran).

    Raises
    ------
    ValueError, TypeError, ImportError
        As for :func:`timeline_figure`.
    """
    series, time_label = _check_timeline(timeline, REPLAY_REQUIRED)
    figure = _new_figure((10.0, 7.5))
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    _draw_timeline(top, series, time_label)
    top.set_xlabel("")                                  # the shared x axis is labelled below
    top.set_title("pool pages")
    _draw_objects(bottom, series, time_label)
    bottom.set_title("objects")
    figure.suptitle(title, fontsize="x-large")
    return figure


def fill_histogram(page_fill, page_size):
    """The numbers :func:`fill_histogram_figure` draws, without matplotlib.

    Parameters
    ----------
    page_fill : numpy.ndarray
        Integer bytes stored on each page, indexed by pfn; 0 is a free or unused page.
    page_size : int
        Bytes in a page.

    Returns
    -------
    dict
        ``"bin_edges_percent"`` (33 floats, 0 to 100), ``"used_pages"`` (32 counts: used pages
        by fill, a bin holding its lower edge; 100% in the last) and ``"mean_fill_percent"``
        (None if no page is used).

    Raises
    ------
    ValueError, TypeError
        As for :func:`fill_histogram_figure`.
    """
    page_size = _whole_number(page_size, "page_size", 1)
    edges, counts, mean = _histogram(_check_fill(page_fill, page_size), page_size)
    return {"bin_edges_percent": edges, "used_pages": counts, "mean_fill_percent": mean}


def fill_histogram_figure(page_fill, page_size, title="page fill"):
    """Histogram of how full the used pages are.

    Parameters
    ----------
    page_fill : numpy.ndarray
        Integer bytes stored on each page, indexed by pfn; 0 is a free or unused page (as from
        :meth:`zbudjit.Pool.page_fill`). Only used pages (fill > 0) are counted.
    page_size : int
        Bytes in a page.
    title : str, optional
        The figure's title.

    Returns
    -------
    matplotlib.figure.Figure
        Used pages by fill fraction (0..100 % of the page, 32 bins), with the mean fill marked.

    Raises
    ------
    ValueError
        ``page_fill`` is not 1-D, has a negative entry or one above ``page_size``; ``page_size``
        is not positive.
    TypeError
        ``page_fill`` does not hold integers, or ``page_size`` is not an integer.
    ImportError
        matplotlib is missing.
    """
    page_size = _whole_number(page_size, "page_size", 1)
    fill = _check_fill(page_fill, page_size)
    figure = _new_figure((7.5, 4.5))
    axes = figure.add_subplot()
    _draw_histogram(axes, fill, page_size)
    axes.set_title(title)
    return figure


def fill_heatmap_figure(before, after, page_size, title="page fill by pfn", *, max_cells=MAX_CELLS):
    """Side-by-side maps of every page's fill, before and after compaction.

    Pfns are laid out row-major in one near-square grid shared by both panels (``width =
    ceil(sqrt(cells))``); colour is the fill fraction 0..1 on a shared colour bar, free pages are
    grey and cells past the last pfn are blank. Pools of more than ``max_cells`` pfns are
    downsampled: each cell is the mean fill fraction of ``k`` consecutive pfns (free pages count
    as 0; a cell is free only when all its pages are), and the axis labels say so.

    Parameters
    ----------
    before, after : numpy.ndarray
        Integer bytes stored on each page, indexed by pfn (0 = free). They may differ in length:
        the shorter is padded with free pages.
    page_size : int
        Bytes in a page.
    title : str, optional
        The figure's title.
    max_cells : int, optional
        Most cells a panel shows; 1024 x 1024 by default.

    Returns
    -------
    matplotlib.figure.Figure
        Two image axes titled ``"before compaction: N pages used"`` and ``"after compaction: M
        pages used"``, and a colour bar.

    Raises
    ------
    ValueError
        An array is not 1-D, has a negative entry or one above ``page_size``; ``page_size`` or
        ``max_cells`` is not positive.
    TypeError
        An array does not hold integers, or ``page_size``/``max_cells`` is not an integer.
    ImportError
        matplotlib is missing.
    """
    page_size = _whole_number(page_size, "page_size", 1)
    max_cells = _whole_number(max_cells, "max_cells", 1)
    fills = [_check_fill(before, page_size, "before"), _check_fill(after, page_size, "after")]
    pfns = max(fills[0].size, fills[1].size)
    block = max(1, -(-pfns // max_cells))
    cells = max(1, -(-pfns // block))
    width = math.isqrt(cells - 1) + 1                        # ceil(sqrt(cells))
    rows = -(-cells // width)

    figure = _new_figure((12.0, 5.6))                         # ImportError with the hint first
    from matplotlib import colormaps
    from matplotlib.colors import Normalize
    from matplotlib.patches import Patch, Rectangle
    from matplotlib.ticker import MaxNLocator
    cmap = colormaps["viridis"].with_extremes(bad=FREE_COLOUR)
    norm = Normalize(0.0, 1.0)
    panels = figure.subplots(1, 2, sharex=True, sharey=True)
    unit = "pfn" if block == 1 else "cell"
    for axes, fill, when in zip(panels, fills, ("before", "after")):
        fraction = np.zeros(pfns, np.float64)
        fraction[:fill.size] = fill / page_size
        grid = np.zeros(rows * width, np.float64)
        means = _block_means(fraction, block)                # empty if both arrays are
        grid[:means.size] = means
        shown = np.ma.masked_equal(grid.reshape(rows, width), 0.0)
        # "antialiased": nearest-neighbour when cells are big on screen, filtered when a grid has
        # more cells than pixels (a plain nearest-neighbour subsample would alias).
        image = axes.imshow(shown, cmap=cmap, norm=norm, interpolation="antialiased",
                            aspect="equal")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        if rows * width > cells:                             # blank out the cells past the end
            last = cells - (rows - 1) * width
            axes.add_patch(Rectangle((last - 0.5, rows - 1.5), width - last, 1.0,
                                     facecolor="white", edgecolor="none"))
        used = int(np.count_nonzero(fill))
        axes.set_title(f"{when} compaction: {used:,} pages used")
        if pfns == 0:
            _no_data(axes)
        axes.set_xlabel(f"{unit} mod {width:,}"
                        + ("" if block == 1 else f"  (each cell = {block:,} pages)"))
        if axes is panels[0]:
            axes.set_ylabel(f"{unit} // {width:,}  ({width * block:,} pages a row)")
    colourbar = figure.colorbar(image, ax=list(panels), shrink=0.85)
    colourbar.set_label("fill (fraction of the page)" if block == 1
                        else f"mean fill of {block:,} pages (fraction of a page)")
    panels[1].legend(handles=[Patch(facecolor=FREE_COLOUR, edgecolor="0.5", label="free page"
                                    if block == 1 else f"all {block:,} pages free")],
                     loc="upper right", bbox_to_anchor=(1.0, -0.12), fontsize="small",
                     borderaxespad=0)
    figure.suptitle(title)
    return figure


def report_figure(timeline, page_fill, page_size, title="zbudjit demo"):
    """The timeline (top, wide) over the fill histogram (bottom), for ``zbudjit demo``.

    Parameters
    ----------
    timeline : dict
        As for :func:`timeline_figure`.
    page_fill : numpy.ndarray
        As for :func:`fill_histogram_figure`: bytes stored on each pfn, at the end of the run.
    page_size : int
        Bytes in a page.
    title : str, optional
        The figure's title.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels titled ``"pool over time"`` and ``"page fill at the end"``.

    Raises
    ------
    ValueError, TypeError, ImportError
        As for :func:`timeline_figure` and :func:`fill_histogram_figure`.
    """
    series, time_label = _check_timeline(timeline)
    page_size = _whole_number(page_size, "page_size", 1)
    fill = _check_fill(page_fill, page_size)
    figure = _new_figure((10.0, 8.5))
    top, bottom = figure.subplots(2, 1, height_ratios=[3, 2])
    _draw_timeline(top, series, time_label)
    top.set_title("pool over time")
    _draw_histogram(bottom, fill, page_size)
    bottom.set_title("page fill at the end")
    figure.suptitle(title, fontsize="x-large")
    return figure


def zram_memory_figure(timeline, title="zram memory over time"):
    """A zram device's memory as pages are written: mm_stat's figures from a run's timeline.

    Parameters
    ----------
    timeline : dict
        As :func:`zbudjit.zram_study.run_zram` samples it (``ZramRun.timeline``): equal-length
        1-D numeric arrays, one value a sample. Required: ``"pages_written"`` (x values) and
        ``"mem_used_total"`` (bytes). Drawn when present: ``"mem_used_max"`` (the peak, bytes),
        ``"compr_data_size"`` (bytes), ``"mem_limit"`` (bytes; left out while it is 0, which
        means no limit) and ``"pages_compacted"`` (pages freed by compaction so far, on the right
        axis). Other keys (``"orig_data_size"``) are ignored.
    title : str, optional
        The figure's title.

    Returns
    -------
    matplotlib.figure.Figure
        One axes of memory (in the binary unit the largest value reaches: KiB, MiB or GiB)
        against pages written, with a twin axis of pages compacted when the timeline has them,
        and one legend for both.

    Raises
    ------
    ValueError
        A required key is missing, the arrays differ in length or are not 1-D, or a value is
        negative.
    TypeError
        ``timeline`` is not a mapping, or an array is not numeric.
    ImportError
        matplotlib is missing.
    """
    series = _check_zram_timeline(timeline)
    figure = _new_figure((9.5, 4.8))
    axes = figure.add_subplot()
    written = series["pages_written"]
    points = _line_style(written.size)
    drawn = {key: values for key, values in series.items() if key in ZRAM_BYTE_SERIES}
    if "mem_limit" in drawn and not drawn["mem_limit"].any():
        del drawn["mem_limit"]                                  # 0: the device has no limit
    top = max((float(values.max()) for values in drawn.values() if values.size), default=0.0)
    scale, unit = _byte_unit(top)
    lines = []
    for key, (label, style) in ZRAM_BYTE_SERIES.items():
        if key not in drawn:
            continue
        values = drawn[key]
        if key == "mem_limit" and values.size and np.all(values == values[0]):
            label = f"{label} ({values[0] / scale:,.4g} {unit})"
        lines.append(axes.plot(written, values / scale, label=label, **style, **points)[0])
    axes.set_xlabel("pages written")
    axes.set_ylabel(f"memory ({unit})")
    axes.set_ylim(bottom=0)
    axes.grid(True, alpha=0.3)
    _count_axis(axes.xaxis)
    _count_axis(axes.yaxis, integer=False)
    if written.size == 0:
        _no_data(axes)
    legend_axes = axes
    if "pages_compacted" in series:
        right = axes.twinx()
        compacted = series["pages_compacted"]
        # cumulative and changed only by a compaction: steps, not slopes between samples
        lines.append(right.step(written, compacted, where="post", color="tab:orange",
                                linewidth=1.5, label="pages_compacted (cumulative, right axis)",
                                **points)[0])
        right.set_ylim(bottom=0, top=max(float(compacted.max(initial=0)) * 1.05, 1.0))
        right.set_ylabel("pages compacted", color="tab:orange")
        right.tick_params(axis="y", colors="tab:orange")
        _count_axis(right.yaxis)
        legend_axes = right                                     # drawn on top of the twin
    # outside the plot on the right, as timeline_figure's, so it hides no data
    legend_axes.legend(lines, [line.get_label() for line in lines], loc="upper left",
                       bbox_to_anchor=(1.12, 1.0), borderaxespad=0, fontsize="small")
    axes.set_title(title)
    return figure


def class_fill_figure(class_fill, title="zspages per fullness group"):
    """A heatmap of a zsmalloc pool's zspages: size classes by fullness group.

    Rows are the size classes that have at least one zspage, labelled by their slot size, the
    smallest at the top (the order debugfs ``classes`` prints them); columns are the fullness
    groups ``10%`` .. ``100%`` (:data:`zbudjit.policies.zsmalloc.classes.RATIO_LABELS`, as
    zsmalloc's get_fullness_group sorts them: a zspage with objects in use but fewer than 10% of
    its own is in ``10%``, 10-19% in ``20%``, ..., 90% or more but not all in ``99%``, a full
    one in ``100%``). Colour is
    the zspage count on a logarithmic scale, so that a few partly used zspages still show beside
    thousands of full ones; empty cells are left blank, and with at most
    :data:`CLASS_FILL_ANNOTATE_ROWS` rows each cell's count is written in it.

    Parameters
    ----------
    class_fill : numpy.ndarray or None
        Rows of :data:`zbudjit.policies.zsmalloc.classes.CLASS_STATS_DTYPE`, as
        :meth:`zbudjit.Pool.class_stats` and ``ZramRun.class_fill`` give them (only ``size`` and
        the ``ratio_*`` fields are read). None (a run on a pool with no size classes) or no row
        with zspages draws "no data".
    title : str, optional
        The figure's title.

    Returns
    -------
    matplotlib.figure.Figure
        One image axes (titled with the zspage and class counts) and its colour bar.

    Raises
    ------
    TypeError
        ``class_fill`` lacks the ``size`` or a ``ratio_*`` field.
    ValueError
        ``class_fill`` is not 1-D, or a count is negative.
    ImportError
        matplotlib is missing.
    """
    from .policies.zsmalloc.classes import RATIO_LABELS
    sizes, counts = _check_class_fill(class_fill)
    classes = sizes.size
    # a row is about a fifth of an inch, between a short and a tall figure
    figure = _new_figure((8.0, min(max(2.0 + 0.2 * classes, 4.0), 11.0)))
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import MaxNLocator
    axes = figure.add_subplot()
    axes.set_xlabel("fullness group (objects in use, as a share of the zspage's)")
    axes.set_ylabel("size class (slot bytes)")
    axes.set_xticks(range(len(RATIO_LABELS)), RATIO_LABELS)
    zspages = int(counts.sum())
    axes.set_title(f"{title}: {zspages:,} zspages in {classes:,} size classes" if classes
                   else title)
    if classes == 0:
        axes.set_xlim(-0.5, len(RATIO_LABELS) - 0.5)
        axes.set_yticks([])
        _no_data(axes)
        return figure
    top = int(counts.max())
    image = axes.imshow(np.ma.masked_equal(counts, 0), cmap=colormaps["viridis"],
                        norm=LogNorm(vmin=1, vmax=max(top, 2)), aspect="auto",
                        interpolation="nearest")
    if classes <= CLASS_FILL_ANNOTATE_ROWS:
        axes.set_yticks(range(classes), [f"{size:,}" for size in sizes])
        norm = image.norm
        for row, column in zip(*np.nonzero(counts)):
            count = int(counts[row, column])
            # dark text on the light (yellow) end of viridis, white on the dark end
            colour = "black" if norm(count) > 0.6 else "white"
            axes.text(column, row, f"{count:,}", ha="center", va="center", fontsize="x-small",
                      color=colour)
    else:
        # too many rows to label each: label some, by their slot size
        axes.yaxis.set_major_locator(MaxNLocator(nbins=20, integer=True))
        axes.yaxis.set_major_formatter(
            lambda value, position: f"{sizes[int(value)]:,}" if 0 <= value < classes
            and value == int(value) else "")
    colourbar = figure.colorbar(image, ax=axes)
    # ticks at 1, 2, 5, 10, 20, ... in plain numbers: a log axis would print "6 x 10^0"
    ticks = [step * 10 ** power for power in range(len(str(top))) for step in (1, 2, 5)
             if step * 10 ** power <= max(top, 2)]
    colourbar.set_ticks(ticks, labels=_count_labels(ticks))
    colourbar.ax.minorticks_off()
    colourbar.set_label("zspages")
    return figure


def save(figure, path):
    """Write ``figure`` to ``path`` in the format its suffix names: PNG (at 120 dpi), SVG or PDF.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
        A figure from this module (or any matplotlib figure).
    path : str or os.PathLike
        The file to write, ending in ``.png``, ``.svg`` or ``.pdf`` (any case); its directory
        must exist (none is created).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        The suffix is none of :data:`PLOT_FORMATS` (nothing is written).
    ImportError
        matplotlib is missing.
    """
    path = pathlib.Path(path)
    plot_format = plot_format_of(path)
    _, FigureCanvasAgg = _matplotlib()
    from matplotlib.backend_bases import FigureCanvasBase
    if type(figure.canvas) is FigureCanvasBase:        # a bare Figure(): draw it with Agg
        FigureCanvasAgg(figure)
    # SVG and PDF keep text as text; a fixed date keeps the same figure's file the same bytes
    metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}.get(plot_format)
    figure.savefig(path, dpi=DPI, format=plot_format, metadata=metadata)
    return path


def plot_format_of(path):
    """The format :func:`save` writes to ``path``: its suffix, lower-cased and without the dot.

    Raises
    ------
    ValueError
        The suffix is none of :data:`PLOT_FORMATS`; the message names the path and the formats.
    """
    suffix = pathlib.Path(path).suffix.lower().lstrip(".")
    if suffix not in PLOT_FORMATS:
        shown = f".{suffix}" if suffix else "no suffix"
        raise ValueError(f"{path}: cannot write a plot with {shown}; name the file .png, .svg "
                         "or .pdf")
    return suffix
