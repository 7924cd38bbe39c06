"""zbudjit.plots: each figure builds, is labelled, says "no data" when it has none, labels counts in
plain numbers, saves PNG, SVG or PDF by suffix; bad input and missing matplotlib raise."""

import builtins
import subprocess
import sys

import numpy as np
import pytest

from zbudjit import plots

PAGE = 4096
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
INSTALL_HINT = 'pip install "zbudjit[plot]"'


@pytest.fixture
def mpl():
    return pytest.importorskip("matplotlib")


def timeline(n=50, **extra):
    time = np.arange(1, n + 1) * 100
    data = {"time": time, "pool_pages": time // 3, "density": np.linspace(0.4, 0.8, n)}
    data.update(extra)
    return data


def full_timeline(n=50):
    return timeline(n, limit_pages=np.full(n, 2000), written_back_pages=np.arange(n) * 4,
                    stored_pages=np.arange(n) * 90, time_label="seconds")


def fill(n=300, seed=0):
    rng = np.random.default_rng(seed)
    values = rng.integers(1, PAGE + 1, n)
    values[rng.random(n) < 0.3] = 0
    return values


def legend_labels(axes):
    return [text.get_text() for text in axes.get_legend().get_texts()]


def saved_png(figure, tmp_path):
    import matplotlib.image
    path = plots.save(figure, tmp_path / "figure.png")
    assert path == tmp_path / "figure.png" and path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = matplotlib.image.imread(path)
    width, height = figure.get_size_inches() * plots.DPI
    assert abs(pixels.shape[0] - height) <= 2 and abs(pixels.shape[1] - width) <= 2
    assert pixels.shape[2] in (3, 4)
    assert pixels[..., :3].std() > 0.05                        # not a blank image
    return pixels


# -- the figures -----------------------------------------------------------------------------------

def test_timeline_required_keys_only(mpl, tmp_path):
    figure = plots.timeline_figure(timeline(), title="my timeline")
    pages, density = figure.axes
    assert pages.get_title() == "my timeline"
    assert pages.get_xlabel() == "pages stored"
    assert pages.get_ylabel() == "pages"
    assert "density" in density.get_ylabel() and "%" in density.get_ylabel()
    assert density.get_ylim()[1] >= 100
    assert legend_labels(density) == ["pool pages (used)", "density (right axis)"]
    saved_png(figure, tmp_path)


def test_timeline_optional_keys(mpl, tmp_path):
    figure = plots.timeline_figure(full_timeline())
    pages, density = figure.axes
    assert pages.get_xlabel() == "seconds"
    labels = legend_labels(density)
    assert len(labels) == 5 and labels[0] == "pool pages (used)" and labels[-1].startswith("density")
    limit = next(line for line in pages.get_lines() if line.get_label().startswith("pool limit"))
    assert limit.get_label() == "pool limit (2,000 pages)"        # the pool's size, in the legend
    assert limit.get_linestyle() == "--"
    np.testing.assert_array_equal(limit.get_ydata(), 2000)
    saved_png(figure, tmp_path)


def test_timeline_accepts_lists_and_a_single_sample(mpl):
    figure = plots.timeline_figure({"time": [0], "pool_pages": [3], "density": [0.5]})
    assert len(figure.axes) == 2


def test_histogram(mpl, tmp_path):
    values = fill()
    figure = plots.fill_histogram_figure(values, PAGE, title="fill now")
    (axes,) = figure.axes
    assert axes.get_title() == "fill now"
    assert "%" in axes.get_xlabel() and "4,096" in axes.get_xlabel()
    assert axes.get_ylabel() == "used pages"
    heights = [patch.get_height() for patch in axes.patches]
    assert len(heights) == plots.HISTOGRAM_BINS
    assert sum(heights) == np.count_nonzero(values)
    mean = values[values > 0].mean() / PAGE * 100
    (mean_line,) = axes.get_lines()
    assert mean_line.get_xdata()[0] == pytest.approx(mean)
    assert f"mean fill {mean:.1f}%" in legend_labels(axes)
    saved_png(figure, tmp_path)


def test_histogram_counts_full_and_tiny_pages(mpl):
    figure = plots.fill_histogram_figure(np.array([PAGE, 1, 0, 0, PAGE // 2]), PAGE)
    heights = np.array([patch.get_height() for patch in figure.axes[0].patches])
    assert heights[0] == 1 and heights[-1] == 1 and heights[plots.HISTOGRAM_BINS // 2] == 1
    assert heights.sum() == 3


def test_histogram_of_an_empty_pool(mpl):
    for empty in (np.zeros(10, np.int64), np.array([], np.int64), []):
        figure = plots.fill_histogram_figure(empty, PAGE)
        assert sum(patch.get_height() for patch in figure.axes[0].patches) == 0
    texts = [text.get_text() for text in figure.axes[0].texts]
    assert "no data: no used pages" in texts


def test_heatmap_equal_lengths(mpl, tmp_path):
    before = fill(400, seed=1)
    after = before.copy()
    after[200:] = 0
    figure = plots.fill_heatmap_figure(before, after, PAGE, title="compaction")
    left, right = figure.axes[:2]
    assert left.get_title() == f"before compaction: {np.count_nonzero(before):,} pages used"
    assert right.get_title() == f"after compaction: {np.count_nonzero(after):,} pages used"
    assert figure.get_suptitle() == "compaction"
    assert left.get_xlabel() == "pfn mod 20" and "pfn" in left.get_ylabel()
    colourbars = [axes for axes in figure.axes[2:] if "fill" in axes.get_ylabel()]
    assert len(colourbars) == 1                                # one bar, shared
    for axes, values in ((left, before), (right, after)):
        (image,) = axes.images
        data = image.get_array()
        assert data.shape == (20, 20)
        np.testing.assert_array_equal(data.mask.ravel(), values == 0)
        np.testing.assert_allclose(data.filled(0).ravel(), values / PAGE)
        assert image.norm.vmin == 0 and image.norm.vmax == 1
    saved_png(figure, tmp_path)


def test_heatmap_pads_the_shorter(mpl):
    before = np.array([PAGE, 0, 2000, 100, 3000, 0, 0, 4000, 10, 20])
    after = np.array([PAGE, 4000, 2000, 100])
    figure = plots.fill_heatmap_figure(before, after, PAGE)
    left, right = figure.axes[:2]
    assert right.get_title() == "after compaction: 4 pages used"
    expected_after = np.zeros(12)
    expected_after[:4] = after / PAGE
    expected_before = np.zeros(12)
    expected_before[:10] = before / PAGE
    for axes, expected in ((left, expected_before), (right, expected_after)):
        data = axes.images[0].get_array()
        assert data.shape == (3, 4)                            # ceil(sqrt(10)) = 4 wide, 3 rows
        np.testing.assert_allclose(data.filled(0).ravel(), expected)
        np.testing.assert_array_equal(data.mask.ravel(), expected == 0)
    # the other way round too
    figure = plots.fill_heatmap_figure(after, before, PAGE)
    assert figure.axes[0].images[0].get_array().shape == (3, 4)


def test_heatmap_of_empty_pools(mpl, tmp_path):
    figure = plots.fill_heatmap_figure(np.array([], np.int64), [], PAGE)
    assert figure.axes[0].get_title() == "before compaction: 0 pages used"
    assert figure.axes[0].images[0].get_array().mask.all()
    saved_png(figure, tmp_path)


def test_heatmap_downsamples_by_block_mean(mpl):
    values = fill(10, seed=3)
    values[3:6] = 0                                            # one whole block free
    figure = plots.fill_heatmap_figure(values, values[:5], PAGE, max_cells=4)
    left, right = figure.axes[:2]
    block = 3                                                  # ceil(10 / 4)
    fraction = values / PAGE
    expected = np.array([fraction[i:i + block].mean() for i in range(0, 10, block)])
    data = left.images[0].get_array()
    assert data.shape == (2, 2)                                # 4 cells, 2 wide
    np.testing.assert_allclose(data.filled(0).ravel(), expected)
    np.testing.assert_array_equal(data.mask.ravel(), expected == 0)
    padded = np.zeros(10)
    padded[:5] = fraction[:5]
    expected_after = np.array([padded[i:i + block].mean() for i in range(0, 10, block)])
    np.testing.assert_allclose(right.images[0].get_array().filled(0).ravel(), expected_after)
    assert "each cell = 3 pages" in left.get_xlabel()
    assert "each cell = 3 pages" in right.get_xlabel()


def test_heatmap_of_over_a_million_pfns(mpl):
    pfns = (1 << 20) + 1
    values = np.zeros(pfns, np.int64)
    values[::7] = PAGE
    figure = plots.fill_heatmap_figure(values, values[:1000], PAGE)
    data = figure.axes[0].images[0].get_array()
    assert data.shape[0] <= 1024 and data.shape[1] <= 1024
    assert "each cell = 2 pages" in figure.axes[0].get_xlabel()
    small = plots.fill_heatmap_figure(values[:1 << 20], values[:10], PAGE)
    assert small.axes[0].images[0].get_array().shape == (1024, 1024)
    assert "each cell" not in small.axes[0].get_xlabel()


def test_report(mpl, tmp_path):
    figure = plots.report_figure(full_timeline(), fill(), PAGE, title="demo run")
    titles = [axes.get_title() for axes in figure.axes]
    assert "pool over time" in titles and "page fill at the end" in titles
    assert figure.get_suptitle() == "demo run"
    top = figure.axes[titles.index("pool over time")]
    bottom = figure.axes[titles.index("page fill at the end")]
    assert top.get_position().y0 > bottom.get_position().y0
    assert top.get_xlabel() == "seconds" and bottom.get_ylabel() == "used pages"
    saved_png(figure, tmp_path)


SIGNATURES = {"png": PNG_SIGNATURE, "svg": b"<?xml", "pdf": b"%PDF-"}


@pytest.mark.parametrize("suffix", ["png", "svg", "pdf", "SVG"])
def test_save_writes_the_format_its_suffix_names(mpl, tmp_path, suffix):
    figure = plots.fill_histogram_figure(fill(), PAGE)
    path = plots.save(figure, str(tmp_path / f"figure.{suffix}"))
    assert path.read_bytes().startswith(SIGNATURES[suffix.lower()])
    if suffix == "svg":
        assert b"<svg" in path.read_bytes()[:2000]


@pytest.mark.parametrize("name", ["figure.img", "figure.jpg", "figure", "figure.png.txt"])
def test_save_refuses_other_suffixes_and_writes_nothing(mpl, tmp_path, name):
    figure = plots.fill_histogram_figure(fill(), PAGE)
    with pytest.raises(ValueError, match=r"cannot write a plot with .*\.png, \.svg or \.pdf"):
        plots.save(figure, tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_save_creates_no_directory(mpl, tmp_path):
    figure = plots.fill_histogram_figure(fill(), PAGE)
    with pytest.raises(FileNotFoundError):
        plots.save(figure, tmp_path / "missing" / "figure.png")
    assert not (tmp_path / "missing").exists()


# -- what the figures promise a reader ---------------------------------------------------------------

def replay_timeline(n=40, evicted=True):
    time = np.arange(1, n + 1) * 250_000                      # up to 10 million operations
    return {"time": time, "pool_pages": np.minimum(time // 4, 1_500_000),
            "density": np.linspace(0.5, 0.8, n), "objects": time // 3,
            "evicted": np.arange(n) * 1000 if evicted else np.zeros(n, np.int64),
            "limit_pages": np.full(n, 1_500_000), "time_label": "operations replayed"}


def count_axes(figure):
    """The x and y axes of every panel that counts (pages, objects, operations, used pages)."""
    for axes in figure.axes:
        if axes.get_ylabel() in ("pages", "objects", "used pages"):
            yield axes.yaxis
            if axes.get_xlabel() in ("operations replayed", "pages stored"):
                yield axes.xaxis


def test_count_axes_show_plain_numbers(mpl):
    """No "1e6" offset, no scientific notation on axes of counts, however large the counts."""
    figures = [plots.replay_figure(replay_timeline()),
               plots.timeline_figure({key: replay_timeline()[key]
                                      for key in ("time", "pool_pages", "density")}),
               plots.fill_histogram_figure(np.full(3_000_000, PAGE // 2), PAGE)]
    for figure in figures:
        figure.canvas.draw()
        axes = list(count_axes(figure))
        assert axes
        for axis in axes:
            assert axis.get_offset_text().get_text() == ""
            labels = [label.get_text() for label in axis.get_ticklabels() if label.get_text()]
            assert labels and not any("e" in label.lower() for label in labels), labels
    pages = figures[0].axes[0]
    labels = [label.get_text() for label in pages.yaxis.get_ticklabels()]
    assert labels[-1].endswith("M") and all(label == "0" or label.endswith("M")
                                            for label in labels if label), labels


@pytest.mark.parametrize("values, labels", [
    ([0, 2500, 5000, 7500], ["0", "2,500", "5,000", "7,500"]),
    ([0, 5000, 10000, 15000], ["0", "5k", "10k", "15k"]),      # one unit for the whole axis
    ([0, 1.5e6, 3e6], ["0", "1.5M", "3M"]),
    ([2e9, 4e9], ["2G", "4G"]),
    ([0, 0.25, 0.5], ["0", "0.25", "0.5"]),
    ([], []),
])
def test_count_labels(values, labels):
    assert plots._count_labels(values) == labels


def test_replay_figure_shows_the_pool_limit_and_evictions(mpl, tmp_path):
    figure = plots.replay_figure(replay_timeline(), title="replay of t.csv")
    assert figure.get_suptitle() == "replay of t.csv"
    titles = [axes.get_title() for axes in figure.axes]
    pages, objects = figure.axes[titles.index("pool pages")], figure.axes[titles.index("objects")]
    limit = next(line for line in pages.get_lines() if line.get_label().startswith("pool limit"))
    assert limit.get_label() == "pool limit (1,500,000 pages)"
    np.testing.assert_array_equal(limit.get_ydata(), 1_500_000)
    evicted = next(line for line in objects.get_lines() if "evicted" in line.get_label())
    np.testing.assert_array_equal(evicted.get_ydata(), np.arange(40) * 1000)
    assert objects.get_ylabel() == "objects" and objects.get_xlabel() == "operations replayed"
    saved_png(figure, tmp_path)


def test_replay_figure_says_when_nothing_was_evicted(mpl):
    figure = plots.replay_figure(replay_timeline(evicted=False))
    objects = figure.axes[[axes.get_title() for axes in figure.axes].index("objects")]
    assert "objects evicted (cumulative): none" in legend_labels(objects)


def test_replay_figure_of_a_real_replay(mpl):
    import zbudjit as zj
    from zbudjit.replay import replay, synthetic_trace
    result = replay(synthetic_trace(3000, live=300), zj.Pool(pages=60), on_full="reclaim")
    figure = plots.replay_figure(result.timeline)
    pages = figure.axes[0]
    assert any(line.get_label() == "pool limit (60 pages)" for line in pages.get_lines())
    with pytest.raises(ValueError, match="'objects', 'evicted'"):
        plots.replay_figure(timeline())


def no_data_texts(figure):
    return [text.get_text() for axes in figure.axes for text in axes.texts
            if text.get_text().startswith("no data")]


def test_empty_series_say_no_data(mpl, tmp_path):
    empty = {"time": [], "pool_pages": [], "density": []}
    assert no_data_texts(plots.timeline_figure(empty)) == ["no data"]
    assert no_data_texts(plots.report_figure(empty, [], PAGE)) == ["no data",
                                                                   "no data: no used pages"]
    replayed = dict(empty, objects=[], evicted=[])
    figure = plots.replay_figure(replayed)
    assert no_data_texts(figure) == ["no data", "no data"]
    assert no_data_texts(plots.fill_heatmap_figure([], [], PAGE)) == ["no data", "no data"]
    saved_png(plots.timeline_figure(timeline()), tmp_path)      # and the usual ones have none
    assert no_data_texts(plots.timeline_figure(timeline())) == []


def test_a_single_sample_is_drawn_as_a_point(mpl):
    figure = plots.timeline_figure({"time": [0], "pool_pages": [3], "density": [0.5]})
    used = figure.axes[0].get_lines()[0]
    assert used.get_marker() == "o"
    many = plots.timeline_figure(timeline())
    assert many.axes[0].get_lines()[0].get_marker() in ("None", None, "")


def test_fill_histogram_is_what_the_figure_draws(mpl):
    values = fill()
    numbers = plots.fill_histogram(values, PAGE)
    assert numbers["bin_edges_percent"].tolist() == np.linspace(0, 100, 33).tolist()
    assert numbers["used_pages"].sum() == np.count_nonzero(values)
    assert numbers["mean_fill_percent"] == pytest.approx(values[values > 0].mean() / PAGE * 100)
    figure = plots.fill_histogram_figure(values, PAGE)
    heights = [patch.get_height() for patch in figure.axes[0].patches]
    assert heights == numbers["used_pages"].tolist()
    assert plots.fill_histogram([0, 0], PAGE)["mean_fill_percent"] is None


def test_leaves_no_pyplot_state():
    """Building and saving figures neither imports pyplot nor picks a backend."""
    pytest.importorskip("matplotlib")
    code = (
        "import sys, numpy as np, matplotlib\n"
        "from matplotlib import rcParams\n"
        "backend = getattr(rcParams, '_get_backend_or_none', lambda: None)\n"
        "chosen = backend()\n"
        "from zbudjit import plots\n"
        "f = plots.fill_heatmap_figure(np.array([1, 0, 3]), np.array([4]), 4096)\n"
        "plots.save(f, sys.argv[1])\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
        "assert backend() == chosen, (chosen, backend())\n"
    )
    import tempfile
    with tempfile.TemporaryDirectory() as directory:
        done = subprocess.run([sys.executable, "-c", code, f"{directory}/f.png"],
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


# -- bad input -------------------------------------------------------------------------------------

BAD_TIMELINES = [
    ({"time": [1, 2], "pool_pages": [1, 2]}, ValueError, "'density'"),
    ({"pool_pages": [1], "density": [0.5]}, ValueError, "'time'"),
    ({"time": [1, 2], "pool_pages": [1, 2], "density": [0.5]}, ValueError, "length"),
    ({"time": [1, 2], "pool_pages": [1, 2], "density": [0.5, 0.5], "limit_pages": [9]},
     ValueError, "limit_pages: 1"),
    ({"time": [1], "pool_pages": [-1], "density": [0.5]}, ValueError, "pool_pages.*negative"),
    ({"time": [1], "pool_pages": [1], "density": [1.5]}, ValueError, "density"),
    ({"time": [[1]], "pool_pages": [[1]], "density": [[0.5]]}, ValueError, "1-D"),
    ({"time": ["a"], "pool_pages": [1], "density": [0.5]}, TypeError, "numeric"),
    ({"time": [1], "pool_pages": [1], "density": [0.5], "time_label": 3}, TypeError, "time_label"),
    ([1, 2, 3], TypeError, "dict"),
]


@pytest.mark.parametrize("data, error, match", BAD_TIMELINES)
def test_bad_timeline(mpl, data, error, match):
    with pytest.raises(error, match=match):
        plots.timeline_figure(data)
    with pytest.raises(error, match=match):
        plots.report_figure(data, fill(), PAGE)


BAD_FILLS = [
    (np.array([0, 10, -1]), PAGE, ValueError, r"negative.*\[2\] = -1"),
    (np.array([0, PAGE + 1]), PAGE, ValueError, r"above page_size 4096.*\[1\] = 4097"),
    (np.array([[1, 2]]), PAGE, ValueError, "1-D"),
    (np.array([1.5]), PAGE, TypeError, "integers"),
    (np.array([True]), PAGE, TypeError, "integers"),
    (np.array([1]), 0, ValueError, "page_size"),
    (np.array([1]), -4096, ValueError, "page_size"),
    (np.array([1]), 4096.0, TypeError, "page_size"),
    (np.array([1]), True, TypeError, "page_size"),
]


@pytest.mark.parametrize("values, page_size, error, match", BAD_FILLS)
def test_bad_fill(mpl, values, page_size, error, match):
    with pytest.raises(error, match=match):
        plots.fill_histogram_figure(values, page_size)
    with pytest.raises(error, match=match):
        plots.report_figure(timeline(), values, page_size)
    with pytest.raises(error, match=match):
        plots.fill_heatmap_figure(values, np.array([1]), page_size)
    with pytest.raises(error, match=match):
        plots.fill_heatmap_figure(np.array([1]), values, page_size)


def test_bad_fill_messages_name_the_array(mpl):
    with pytest.raises(ValueError, match="^after has negative"):
        plots.fill_heatmap_figure(np.array([1]), np.array([-3]), PAGE)
    with pytest.raises(ValueError, match="^page_fill has fill above"):
        plots.fill_histogram_figure(np.array([PAGE * 2]), PAGE)


@pytest.mark.parametrize("max_cells, error", [(0, ValueError), (2.5, TypeError)])
def test_bad_max_cells(mpl, max_cells, error):
    with pytest.raises(error, match="max_cells"):
        plots.fill_heatmap_figure(np.array([1]), np.array([1]), PAGE, max_cells=max_cells)


# -- without matplotlib ----------------------------------------------------------------------------

def every_figure():
    return [
        plots.require_matplotlib,
        lambda: plots.timeline_figure(timeline()),
        lambda: plots.fill_histogram_figure(fill(), PAGE),
        lambda: plots.fill_heatmap_figure(fill(), fill(), PAGE),
        lambda: plots.report_figure(timeline(), fill(), PAGE),
        lambda: plots.replay_figure(replay_timeline()),
    ]


def test_missing_matplotlib_via_sys_modules(monkeypatch):
    for name in [name for name in sys.modules if name.split(".")[0] == "matplotlib"] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)
    for call in every_figure():
        with pytest.raises(ImportError, match=INSTALL_HINT.replace("[", r"\[").replace("]", r"\]")):
            call()


def test_missing_matplotlib_via_import(monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.split(".")[0] == "matplotlib":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    for call in every_figure():
        with pytest.raises(ImportError) as raised:
            call()
        assert INSTALL_HINT in str(raised.value)
        assert isinstance(raised.value.__cause__, ImportError)


def test_require_matplotlib_passes_when_installed(mpl):
    assert plots.require_matplotlib() is None
