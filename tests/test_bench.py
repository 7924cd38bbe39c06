"""zbudjit.bench: the quick speed check returns the rows it promises, and its yardstick kernels
compute what they say. No timing thresholds here: speed goals live in the asv suite."""

import math

import numpy as np
import pytest

from zbudjit import bench
from zbudjit.workloads import compressed_page_sizes

ROWS = [  # name, yardstick, goal
    ("memory floor", "", ""),
    ("alloc", "memory floor", "<= 2"),
    ("free (random order)", "memory floor", "<= 2"),
    ("re-alloc", "memory floor", "<= 2"),
    ("numpy copy", "", ""),
    ("write", "numpy copy", ">= 0.5"),
    ("read", "numpy copy", ">= 0.5"),
    ("read into a buffer (out=)", "numpy copy", ">= 0.5"),
    ("2 bare dispatches", "", ""),
    ("alloc+free, one object", "2 bare dispatches", "<= 10"),
    ("plain-Python spec", "", ""),
    ("alloc+free batch", "plain-Python spec", ">= 300"),
]


@pytest.fixture(scope="module")
def tiny_run():
    return bench.run_bench(pages=1 << 12, repeat=1)


def test_run_bench_returns_every_row_with_its_yardstick(tiny_run):
    assert [(row.name, row.yardstick, row.goal) for row in tiny_run] == ROWS
    for row in tiny_run:
        assert isinstance(row, bench.BenchRow)
        assert math.isfinite(row.ns_per_op) and row.ns_per_op > 0, row
        if row.yardstick:
            assert math.isfinite(row.ratio) and row.ratio > 0, row
            assert row.met in (True, False)
        else:
            assert row.ratio is None and row.met is None


def test_progress_bar_names_the_steps(capsys):
    bench.run_bench(pages=1 << 10, repeat=1, progress=True)
    assert "plain-Python spec" in capsys.readouterr().err


def test_format_table_has_a_line_per_row(tiny_run):
    lines = bench.format_table(tiny_run).splitlines()
    assert len(lines) == len(ROWS) + 1
    assert lines[0].split()[:3] == ["measure", "ns/op", "ratio"]
    for line, (name, yardstick, goal) in zip(lines[1:], ROWS):
        assert line.startswith(name) and (yardstick or "-") in line and (goal or "-") in line


@pytest.mark.parametrize("ratio, goal, met", [
    (1.5, "<= 2", True), (2.5, "<= 2", False), (0.6, ">= 0.5", True), (0.4, ">= 0.5", False),
    (None, "", None), (3.0, "", None),
])
def test_met_reads_the_goal(ratio, goal, met):
    assert bench.BenchRow("x", 1.0, ratio, "y" if goal else "", goal).met is met


@pytest.mark.parametrize("kwargs, message", [
    ({"objects": 1}, "objects"), ({"repeat": 0}, "repeat"), ({"pages": 0}, "pages"),
])
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bench.run_bench(**{"pages": 64, **kwargs})


def test_memory_floor_checksum_and_updates_match_numpy():
    rng = np.random.default_rng(5)
    slots, pages, ops = 50, 20, 300
    words = rng.integers(0, 1 << 63, slots, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    records = np.zeros(pages, bench.RECORD_DTYPE)
    records["first_slot"] = rng.integers(0, 1000, pages)
    records["lru_pos"] = rng.integers(-50, 50, pages)
    before = records.copy()
    handle_index = rng.integers(0, slots, ops)
    page_index = rng.integers(0, pages, ops)

    total = bench.memory_floor(words, records, handle_index, page_index)

    assert int(total) == int(words[handle_index].astype(object).sum()) % (1 << 64)   # wraps
    visits = np.bincount(page_index, minlength=pages)
    assert np.array_equal(records["stamp"], before["stamp"] + visits)
    assert np.array_equal(records["lru_pos"],
                          before["lru_pos"] + visits * before["first_slot"].astype(np.int64))
    assert np.array_equal(records["first_slot"], before["first_slot"])


def test_memory_floor_helper_and_dispatch_floor():
    floor = bench.MemoryFloor(handle_slots=100, pages=40, ops=500, seed=1)
    assert floor.seconds(500) > 0 and floor.seconds(10) > 0
    assert bench.RECORD_DTYPE.itemsize == 24
    assert bench.dispatch_floor(*bench.dispatch_arguments()) == 0


def test_comparisons_return_two_positive_times():
    floor = bench.MemoryFloor(100, 40, 100)
    best, best_floor = bench.versus_floor(floor, lambda: 3, lambda state: state + 1, 100, 2)
    assert best > 0 and best_floor > 0
    data = np.arange(1000, dtype=np.uint8)
    destination = np.zeros_like(data)
    best, best_copy = bench.versus_copy(lambda: None, destination, data, 2)
    assert best > 0 and best_copy > 0 and np.array_equal(destination, data)
    sizes = compressed_page_sizes(np.random.default_rng(0), 200, 4032)
    assert sizes.dtype == np.int64 and sizes.min() >= 40 and sizes.max() <= 4032
    order = np.random.default_rng(1).permutation(200)
    assert bench.engine_alloc_free_seconds(256, sizes, order, 1) > 0
    assert bench.spec_alloc_free_seconds(256, sizes, order, 1) > 0
