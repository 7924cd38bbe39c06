"""zbudjit.results: pools' statistics, size classes, timelines and tables as DataFrames and Parquet
files that read back equal; a batch's (data, offsets) as Arrow's large_binary layout, without a
copy; a clear install hint without pandas or pyarrow."""

import dataclasses
import sys

import numpy as np
import pytest

import zbudjit as zj
from zbudjit import results
from zbudjit.replay import replay, synthetic_trace

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")


@pytest.fixture(scope="module")
def pools():
    """A zbud pool and a zsmalloc pool holding the same objects, some freed."""
    made = {}
    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 3000, 500)
    for policy in ("zbud", "zsmalloc"):
        pool = zj.Pool(pages=1000, policy=policy)
        handles = pool.alloc(sizes)
        pool.free(handles[::3])
        made[policy] = pool
    return made


def read_back(frame, tmp_path):
    path = results.write_parquet(frame, tmp_path / "frame.parquet")
    assert path == tmp_path / "frame.parquet"
    return pd.read_parquet(path)


@pytest.mark.parametrize("policy", ["zbud", "zsmalloc"])
def test_stats_frame(pools, policy, tmp_path):
    stats = pools[policy].stats()
    frame = results.stats_frame(stats)
    assert list(frame.columns) == [field.name for field in dataclasses.fields(zj.Stats)]
    assert len(frame) == 1
    for name, value in dataclasses.asdict(stats).items():
        cell = frame[name].iloc[0]
        assert (list(cell) == list(value)) if isinstance(value, tuple) else cell == value, name
    back = read_back(frame, tmp_path)
    assert back.drop(columns="free_chunks_histogram").equals(
        frame.drop(columns="free_chunks_histogram"))
    assert list(back["free_chunks_histogram"].iloc[0]) == list(stats.free_chunks_histogram)


def test_stats_frame_of_snapshots_and_of_zswap():
    pool = zj.Pool(pages=64)
    snapshots = [pool.stats()]
    pool.alloc([100, 200, 3000])
    snapshots.append(pool.stats())
    frame = results.stats_frame(snapshots)
    assert frame["objects"].tolist() == [0, 3] and frame["pages_used"].tolist() == [0, 2]
    with zj.Zswap(zj.Pool(pages=16), compressor="zlib", ram_pages=64) as front:
        front.store(np.arange(2), np.zeros((2, 4096), np.uint8))
        frame = results.stats_frame(front.stats())
    assert frame["same_filled_pages"].tolist() == [2]
    with pytest.raises(TypeError, match="dataclass or a dict"):
        results.stats_frame([1, 2])


def test_class_stats_frame(pools, tmp_path):
    rows = pools["zsmalloc"].class_stats()
    frame = results.class_stats_frame(rows)
    assert list(frame.columns) == list(rows.dtype.names) and len(frame) == rows.size
    for name in rows.dtype.names:
        assert frame[name].tolist() == rows[name].tolist()
    assert read_back(frame, tmp_path).equals(frame)
    with pytest.raises(TypeError, match="structured array"):
        results.class_stats_frame(np.arange(3))


def test_timeline_frame(tmp_path):
    result = replay(synthetic_trace(3000, live=300), zj.Pool(pages=100), samples=20,
                    on_full="reclaim")
    frame = results.timeline_frame(result.timeline)
    keys = [key for key in result.timeline if key != "time_label"]
    assert list(frame.columns) == keys and len(frame) == 20
    for key in keys:
        assert frame[key].tolist() == result.timeline[key].tolist()
    assert frame.attrs["time_label"] == "operations replayed"
    back = read_back(frame, tmp_path)
    assert back.equals(frame) and back.attrs.get("time_label") == "operations replayed"
    with pytest.raises(ValueError, match="one length"):
        results.timeline_frame({"time": [1, 2], "pool_pages": [1]})


def test_records_frame(tmp_path):
    from zbudjit.bench import BenchRow
    rows = [BenchRow("alloc", 12.5, 1.5, "memory floor", "<= 2"),
            BenchRow("memory floor", 8.0, None, "", "")]
    frame = results.records_frame(rows)
    assert frame["name"].tolist() == ["alloc", "memory floor"]
    assert frame["ns_per_op"].tolist() == [12.5, 8.0]
    assert read_back(frame, tmp_path)["name"].tolist() == ["alloc", "memory floor"]
    frame = results.records_frame([{"index": 0, "size": 32}, {"index": 1, "size": 48}])
    assert frame.to_dict("list") == {"index": [0, 1], "size": [32, 48]}


# -- a batch as Arrow ----------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["zbud", "zsmalloc"])
def test_a_batch_is_arrow_large_binary(policy):
    """(data, offsets) as Pool.read returns them are the offsets and data buffers of Arrow's
    large_binary: from_buffers gives the objects, over the same memory."""
    pool = zj.Pool(pages=64, policy=policy)
    objects = [bytes([i]) * size for i, size in enumerate([1, 700, 3, 4000, 33, 2048])]
    stored = np.frombuffer(b"".join(objects), np.uint8)
    offsets = np.concatenate([[0], np.cumsum([len(o) for o in objects])]).astype(np.int64)
    handles = pool.store(stored, offsets)
    data, offsets = pool.read(handles)
    assert data.dtype == np.uint8 and offsets.dtype == np.int64 and offsets.size == len(objects) + 1
    n = offsets.size - 1
    array = pa.LargeBinaryArray.from_buffers(pa.large_binary(), n,
                                             [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    array.validate(full=True)
    assert array.type == pa.large_binary() and array.null_count == 0
    assert array.to_pylist() == objects
    # no copy: Arrow's buffers are NumPy's memory
    _, offsets_buffer, data_buffer = array.buffers()
    assert offsets_buffer.address == offsets.ctypes.data
    assert data_buffer.address == data.ctypes.data
    # results.objects_array is that call, checked
    made = results.objects_array(data, offsets)
    assert made.equals(array) and made.buffers()[2].address == data.ctypes.data


def test_objects_array_into_a_reused_buffer():
    pool = zj.Pool(pages=16)
    stored = (np.arange(300) % 251).astype(np.uint8)
    handles = pool.store(stored, np.array([0, 100, 300]))
    out = np.zeros(4096, np.uint8)
    data, offsets = pool.read(handles, out=out)
    array = results.objects_array(data, offsets)
    assert array.buffers()[2].address == out.ctypes.data
    assert array.to_pylist() == [stored[:100].tobytes(), stored[100:].tobytes()]


@pytest.mark.parametrize("data, offsets, error", [
    (np.zeros(4, np.int8), np.array([0, 4]), TypeError),
    (np.zeros(4, np.uint8), np.array([0, 4], np.int32), TypeError),
    (np.zeros((2, 2), np.uint8), np.array([0, 4]), ValueError),
    (np.zeros(4, np.uint8), np.array([0, 5]), ValueError),
    (np.zeros(4, np.uint8), np.array([0, 3, 2]), ValueError),
    (np.zeros(4, np.uint8), np.array([], np.int64), ValueError),
    (np.zeros(8, np.uint8)[::2], np.array([0, 4]), ValueError),
])
def test_objects_array_refuses_what_is_not_a_batch(data, offsets, error):
    with pytest.raises(error):
        results.objects_array(data, offsets.astype(np.int64) if offsets.dtype == np.int64 else
                              offsets)


# -- without pandas or pyarrow -------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["pandas", "pyarrow"])
def test_missing_dependency_names_the_extra(monkeypatch, missing):
    monkeypatch.setitem(sys.modules, missing, None)            # import raises ImportError
    calls = [results.require_data, lambda: results.write_parquet(None, "x.parquet")]
    if missing == "pandas":
        calls += [lambda: results.stats_frame(zj.Pool(pages=1).stats()),
                  lambda: results.records_frame([]), lambda: results.timeline_frame({}),
                  lambda: results.class_stats_frame(np.zeros(0, [("class", np.int64)]))]
    else:
        calls.append(lambda: results.objects_array(np.zeros(1, np.uint8), np.array([0, 1])))
    for call in calls:
        with pytest.raises(ImportError, match=r'pip install "zbudjit\[data\]"'):
            call()
