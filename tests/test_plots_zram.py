"""zbudjit.plots' zram figures: zram_memory_figure draws mm_stat's series of a run_zram timeline
(the limit only when there is one, pages compacted on a twin axis), class_fill_figure a heatmap of
zspages by size class and fullness group; both save as PNG, say "no data" when empty, and reject
malformed input."""

import numpy as np
import pytest

from zbudjit import plots
from zbudjit.policies.zsmalloc.classes import (
    CLASS_STATS_DTYPE,
    RATIO_FIELDS,
    RATIO_LABELS,
)
from zbudjit.zram_study import TIMELINE_KEYS, run_zram

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIB = 1 << 20


@pytest.fixture
def mpl():
    return pytest.importorskip("matplotlib")


def zram_timeline(n=20, limit=0, compacted=True):
    written = np.arange(1, n + 1, dtype=np.int64) * 256
    used = written * 2000
    timeline = {"pages_written": written, "orig_data_size": written * 4096,
                "compr_data_size": written * 1700, "mem_used_total": used,
                "mem_limit": np.full(n, limit, np.int64),
                "mem_used_max": np.maximum.accumulate(used + 4096),
                "pages_compacted": np.arange(n, dtype=np.int64) // 5 * 10}
    if not compacted:
        del timeline["pages_compacted"]
    return timeline


def class_rows(groups):
    """CLASS_STATS_DTYPE rows, one per ``(size, {group field: zspages})``."""
    rows = np.zeros(len(groups), CLASS_STATS_DTYPE)
    for row, (size, counts) in zip(rows, groups):
        row["size"] = size
        for name, count in counts.items():
            row[name] = count
    rows["class"] = np.arange(len(groups))
    return rows


def legend_labels(axes):
    return [text.get_text() for text in axes.get_legend().get_texts()]


def texts(axes):
    return [text.get_text() for text in axes.texts]


def saved(figure, tmp_path):
    path = plots.save(figure, tmp_path / "figure.png")
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    return path


# -- zram_memory_figure ------------------------------------------------------------------------------

def test_memory_figure_draws_the_series_in_mib(mpl, tmp_path):
    timeline = zram_timeline()
    figure = plots.zram_memory_figure(timeline, title="a run")
    axes, right = figure.axes
    assert axes.get_title() == "a run"
    assert axes.get_xlabel() == "pages written" and axes.get_ylabel() == "memory (MiB)"
    lines = {line.get_label(): line for line in axes.get_lines()}
    assert set(lines) == {"mem_used_total (pool memory)", "mem_used_max (peak)",
                          "compr_data_size (compressed bytes)"}       # no limit: 0 is not drawn
    used = lines["mem_used_total (pool memory)"]
    np.testing.assert_array_equal(used.get_xdata(), timeline["pages_written"])
    np.testing.assert_allclose(used.get_ydata(), timeline["mem_used_total"] / MIB)
    np.testing.assert_allclose(lines["mem_used_max (peak)"].get_ydata(),
                               timeline["mem_used_max"] / MIB)
    (compacted,) = right.get_lines()
    np.testing.assert_array_equal(compacted.get_ydata(), timeline["pages_compacted"])
    assert right.get_ylabel() == "pages compacted"
    assert legend_labels(right)[-1] == "pages_compacted (cumulative, right axis)"
    assert "no data" not in texts(axes)
    saved(figure, tmp_path)


def test_memory_figure_draws_a_limit_and_labels_its_size(mpl):
    figure = plots.zram_memory_figure(zram_timeline(limit=64 * MIB))
    labels = legend_labels(figure.axes[1])
    assert "mem_limit (64 MiB)" in labels
    (limit,) = [line for line in figure.axes[0].get_lines() if line.get_label().startswith("mem_limit")]
    np.testing.assert_allclose(limit.get_ydata(), 64)


def test_memory_figure_picks_the_unit_and_needs_no_compaction_series(mpl):
    timeline = {key: values // 1024 for key, values in zram_timeline(compacted=False).items()}
    timeline["pages_written"] = zram_timeline()["pages_written"]
    figure = plots.zram_memory_figure(timeline)
    (axes,) = figure.axes                     # no pages_compacted: no twin axis
    assert axes.get_ylabel() == "memory (KiB)"
    assert "pages_compacted (cumulative, right axis)" not in legend_labels(axes)
    minimal = plots.zram_memory_figure({"pages_written": [1, 2], "mem_used_total": [10, 20]})
    assert minimal.axes[0].get_ylabel() == "memory (bytes)"


def test_memory_figure_of_one_sample_is_a_point(mpl):
    timeline = {key: values[:1] for key, values in zram_timeline().items()}
    figure = plots.zram_memory_figure(timeline)
    assert all(line.get_marker() == "o" for line in figure.axes[0].get_lines())


def test_memory_figure_of_a_run(mpl, tmp_path, zram_run):
    figure = plots.zram_memory_figure(zram_run.timeline)
    used = next(line for line in figure.axes[0].get_lines()
                if line.get_label() == "mem_used_total (pool memory)")
    assert used.get_xdata()[-1] == zram_run.timeline["pages_written"][-1]
    saved(figure, tmp_path)


def test_memory_figure_without_samples_says_no_data(mpl, tmp_path):
    empty = {key: np.empty(0, np.int64) for key in TIMELINE_KEYS}
    figure = plots.zram_memory_figure(empty)
    assert "no data" in texts(figure.axes[0])
    saved(figure, tmp_path)
    assert "no data" in texts(plots.zram_memory_figure({"pages_written": [],
                                                        "mem_used_total": []}).axes[0])


@pytest.mark.parametrize("timeline, error, message", [
    ([1, 2, 3], TypeError, "dict of arrays"),
    ({"pages_written": [1]}, ValueError, "mem_used_total"),
    ({"pages_written": [1, 2], "mem_used_total": [1]}, ValueError, "one length"),
    ({"pages_written": [1], "mem_used_total": [-1]}, ValueError, "negative"),
    ({"pages_written": [[1]], "mem_used_total": [[1]]}, ValueError, "1-D"),
    ({"pages_written": ["a"], "mem_used_total": [1]}, TypeError, "numeric"),
])
def test_memory_figure_rejects_bad_timelines(mpl, timeline, error, message):
    with pytest.raises(error, match=message):
        plots.zram_memory_figure(timeline)


# -- class_fill_figure -------------------------------------------------------------------------------

def test_class_fill_heatmap_shows_the_classes_with_zspages(mpl, tmp_path):
    rows = class_rows([(32, {}), (48, {"ratio_10": 1, "ratio_100": 40}), (64, {}),
                       (1024, {"ratio_50": 3, "ratio_99": 2}), (3632, {"ratio_100": 7})])
    figure = plots.class_fill_figure(rows, title="fill")
    axes = figure.axes[0]
    (image,) = axes.get_images()
    data = image.get_array()
    assert data.shape == (3, len(RATIO_FIELDS))          # the empty classes 32 and 64 are left out
    expected = np.zeros((3, len(RATIO_FIELDS)), np.int64)
    expected[0, [0, 10]] = 1, 40
    expected[1, [4, 9]] = 3, 2
    expected[2, 10] = 7
    np.testing.assert_array_equal(data.filled(0), expected)
    assert np.array_equal(data.mask, expected == 0)        # empty cells are blank
    assert [t.get_text() for t in axes.get_yticklabels()] == ["48", "1,024", "3,632"]
    assert [t.get_text() for t in axes.get_xticklabels()] == list(RATIO_LABELS)
    assert axes.get_title() == "fill: 53 zspages in 3 size classes"
    assert axes.get_ylabel() == "size class (slot bytes)"
    assert sorted(texts(axes)) == sorted(["1", "40", "3", "2", "7"])   # counts in the cells
    assert figure.axes[1].get_ylabel() == "zspages"                    # the colour bar
    saved(figure, tmp_path)


def test_class_fill_of_a_run(mpl, tmp_path, zram_run):
    figure = plots.class_fill_figure(zram_run.class_fill)
    data = figure.axes[0].get_images()[0].get_array()
    stored = np.stack([zram_run.class_fill[name] for name in RATIO_FIELDS], axis=1)
    stored = stored[stored.sum(axis=1) > 0]
    np.testing.assert_array_equal(data.filled(0), stored)
    saved(figure, tmp_path)


def test_class_fill_with_many_classes_labels_some_rows(mpl):
    rows = class_rows([(32 + 16 * i, {"ratio_100": i + 1}) for i in range(100)])
    figure = plots.class_fill_figure(rows)
    axes = figure.axes[0]
    assert axes.get_images()[0].get_array().shape == (100, len(RATIO_FIELDS))
    assert texts(axes) == []                                # too many cells to write counts in
    figure.canvas.draw()
    labels = [t.get_text() for t in axes.get_yticklabels() if t.get_text()]
    assert 2 <= len(labels) <= 25 and "32" in labels


@pytest.mark.parametrize("class_fill", [None, np.zeros(0, CLASS_STATS_DTYPE),
                                        np.zeros(5, CLASS_STATS_DTYPE)])
def test_class_fill_without_zspages_says_no_data(mpl, tmp_path, class_fill):
    figure = plots.class_fill_figure(class_fill)
    axes = figure.axes[0]
    assert "no data" in texts(axes) and axes.get_images() == []
    assert [t.get_text() for t in axes.get_xticklabels()] == list(RATIO_LABELS)
    saved(figure, tmp_path)


@pytest.mark.parametrize("class_fill, error, message", [
    (np.zeros(3, np.int64), TypeError, "CLASS_STATS_DTYPE"),
    (np.zeros(3, [("size", np.int64)]), TypeError, "ratio_10"),
    (np.zeros((2, 2), CLASS_STATS_DTYPE), ValueError, "1-D"),
    (class_rows([(48, {"ratio_10": -1})]), ValueError, "negative"),
])
def test_class_fill_rejects_bad_rows(mpl, class_fill, error, message):
    with pytest.raises(error, match=message):
        plots.class_fill_figure(class_fill)


@pytest.fixture(scope="module")
def zram_run():
    """A small real run: pages of random bytes up to a random length, zeros after it (so they
    compress to sizes spread over the classes), written over a smaller device and compacted."""
    rng = np.random.default_rng(0)
    pages = rng.integers(0, 256, (600, 4096), dtype=np.uint8)
    pages[np.arange(4096) >= rng.integers(8, 4096, (600, 1))] = 0
    return run_zram(pages, compressor="lz4", disksize=400 * 4096, batch=64, compact_every=256)
