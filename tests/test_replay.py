"""Trace replay: file formats, validation, and batched replay held to one-op-at-a-time replay."""

import math
import time

import numpy as np
import pytest
from hypothesis import event, given, strategies as st

import zbudjit as zj
from zbudjit.replay import (ALLOC, FREE, ReplayResult, Trace, TraceError, load_trace, replay,
                            save_trace,
                            synthetic_trace)

from helpers import snapshot

TIMELINE_KEYS = ("time", "pool_pages", "density", "objects", "bytes_stored", "evicted",
                 "limit_pages")
COMPARED_STATS = ("pages_used", "objects", "bytes_stored", "bytes_allocated", "density",
                  "free_chunks_histogram", "pages_compacted")


def make_trace(records):
    """[(op, id, size)] with op "a" / "f" -> Trace."""
    ops = [ALLOC if op == "a" else FREE for op, _, _ in records]
    return Trace(np.array(ops, np.uint8), np.array([r[1] for r in records], np.int64),
                 np.array([r[2] for r in records], np.int64))


def same_trace(a, b):
    return all(np.array_equal(getattr(a, k), getattr(b, k)) and getattr(a, k).dtype == getattr(b, k).dtype
               for k in ("ops", "ids", "sizes"))


# ---------------------------------------------------------------------------------------------
# The reference: the trace's rules applied with one Pool call per operation


def reference_replay(trace, pool, on_full="error", reclaim_to=0.9):
    """Returns ({id: handle} live at the end, failing record or None, objects evicted)."""
    live, owner, evicted = {}, {}, 0
    for i, (op, object_id, size) in enumerate(zip(trace.ops.tolist(), trace.ids.tolist(),
                                                  trace.sizes.tolist())):
        if object_id in live:                   # a FREE, or an ALLOC that replaces
            handle = live.pop(object_id)
            del owner[handle]
            pool.free([handle])
        if op == FREE:
            continue
        while True:
            try:
                handle = int(pool.alloc([size])[0])
                break
            except zj.PoolFullError:
                if on_full == "error":
                    return live, i, evicted
                n_pages = max(1, pool.stats().pages_used - math.floor(reclaim_to * pool.pages_total))
                result = pool.reclaim(n_pages, lambda handles, data, offsets: None)
                evicted += result.evicted.size
                for gone in result.evicted.tolist():
                    del live[owner.pop(gone)]
        live[object_id] = handle
        owner[handle] = object_id
    return live, None, evicted


def assert_same_pools(pool, live, reference, reference_live):
    """Same occupancy, page fill, LRU order, and each live id's object at the same place."""
    pool.check()
    reference.check()
    stats, expected = pool.stats(), reference.stats()
    for name in COMPARED_STATS:
        assert getattr(stats, name) == getattr(expected, name), name
    fill, expected_fill = pool.page_fill(), reference.page_fill()
    width = max(fill.size, expected_fill.size)
    assert np.array_equal(np.pad(fill, (0, width - fill.size)),
                          np.pad(expected_fill, (0, width - expected_fill.size)))
    assert pool.lru_order().tolist() == reference.lru_order().tolist()
    assert sorted(live) == sorted(reference_live)
    if live:
        ids = sorted(live)
        mine = np.array([live[i] for i in ids], np.uint64)
        theirs = np.array([reference_live[i] for i in ids], np.uint64)
        for a, b in zip(pool.locate(mine), reference.locate(theirs)):
            assert a.tolist() == b.tolist()
        assert pool.sizes(mine).tolist() == reference.sizes(theirs).tolist()


def replacing(trace):
    from zbudjit.replay import _id_history
    _, live_before, _ = _id_history(trace)
    return (trace.ops == ALLOC) & live_before


def live_of(result):
    return dict(zip(result.live_ids.tolist(), result.handles.tolist()))


@st.composite
def traces(draw, max_size):
    """Valid traces over a few sparse ids: FREEs of live ids, fresh and replacing ALLOCs."""
    # few ids, so that replacing ALLOCs and FREEs are common
    id_values = draw(st.lists(st.integers(0, 2 ** 40), min_size=1, max_size=6, unique=True))
    sizes = st.one_of(st.integers(1, 300), st.integers(1500, max_size), st.integers(1, max_size))
    steps = draw(st.lists(st.tuples(st.booleans(), st.integers(0, len(id_values) - 1), sizes),
                          min_size=draw(st.sampled_from([0, 10, 30])), max_size=80))
    live, records = set(), []
    for want_free, k, size in steps:
        object_id = id_values[k]
        if want_free and object_id in live:
            records.append(("f", object_id, 0))
            live.discard(object_id)
        else:
            records.append(("a", object_id, size))
            live.add(object_id)
    return make_trace(records)


GEOMETRIES = st.sampled_from([(4096, False), (4096, True), (16384, False)])


@given(data=st.data(), geometry=GEOMETRIES, pages=st.integers(1, 4), samples=st.integers(1, 12),
       write=st.booleans())
def test_replay_equals_one_op_at_a_time(data, geometry, pages, samples, write):
    page_size, header = geometry
    pool = zj.Pool(pages=pages, page_size=page_size, reserve_header_chunk=header)
    reference = zj.Pool(pages=pages, page_size=page_size, reserve_header_chunk=header)
    trace = data.draw(traces(pool.max_size))
    reference_live, failed_at, _ = reference_replay(trace, reference)
    event("pool fills" if failed_at is not None else "trace fits")
    event(f"replacing ALLOCs: {min(int(replacing(trace).sum()), 3)}+")
    if failed_at is None:
        result = replay(trace, pool, samples=samples, write=write)
        assert result.ops == len(trace)
        assert result.verified is (True if write else None)
    else:
        with pytest.raises(zj.PoolFullError, match=f"trace record {failed_at} ") as raised:
            replay(trace, pool, samples=samples, write=write)
        assert raised.value.record == failed_at
        result = raised.value.result
        assert result.ops == failed_at and result.timeline["time"][-1] == failed_at
    assert result.final == pool.stats()
    assert_same_pools(pool, live_of(result), reference, reference_live)


@given(data=st.data(), pages=st.integers(1, 4), samples=st.integers(1, 12),
       reclaim_to=st.sampled_from([0.0, 0.5, 0.9, 1.0]), write=st.booleans())
def test_reclaiming_replay_equals_one_op_at_a_time(data, pages, samples, reclaim_to, write):
    pool, reference = zj.Pool(pages=pages), zj.Pool(pages=pages)
    trace = data.draw(traces(pool.max_size))
    reference_live, failed_at, evicted = reference_replay(trace, reference, "reclaim", reclaim_to)
    assert failed_at is None
    event("reclaims" if evicted else "no reclaim")
    result = replay(trace, pool, samples=samples, on_full="reclaim", reclaim_to=reclaim_to,
                    write=write)
    assert result.evicted == evicted == result.timeline["evicted"][-1]
    assert np.all(np.diff(result.timeline["evicted"]) >= 0)
    assert result.verified is (True if write else None)
    assert_same_pools(pool, live_of(result), reference, reference_live)


def test_synthetic_trace_replays_like_one_op_at_a_time():
    """A longer trace, with long runs and many sample cuts, through both routes."""
    trace = synthetic_trace(3000, seed=5, live=400)
    pool, reference = zj.Pool(pages=500), zj.Pool(pages=500)
    result = replay(trace, pool, samples=37)
    reference_live, failed_at, _ = reference_replay(trace, reference)
    assert failed_at is None
    assert_same_pools(pool, live_of(result), reference, reference_live)
    # and with a pool that must reclaim over and over
    pool, reference = zj.Pool(pages=120), zj.Pool(pages=120)
    result = replay(trace, pool, on_full="reclaim")
    reference_live, _, evicted = reference_replay(trace, reference, "reclaim")
    assert result.evicted == evicted > 0
    assert_same_pools(pool, live_of(result), reference, reference_live)


# ---------------------------------------------------------------------------------------------
# Errors before the pool is touched


def filled_pool():
    pool = zj.Pool(pages=64)
    handles = pool.alloc([100, 2000, 3000, 40, 700])
    pool.free(handles[1:2])
    return pool


@pytest.mark.parametrize("records, record, message", [
    ([("a", 1, 100), ("f", 2, 0)], 1, "free of id 2, which is not live"),
    ([("a", 1, 100), ("f", 1, 0), ("f", 1, 0)], 2, "free of id 1, which is not live"),
    ([("a", 1, 100), ("a", 1, 100), ("f", 1, 0), ("a", 3, 50), ("f", 1, 0)], 4, "not live"),
    ([("a", 1, 100), ("a", 2, 4033)], 1, "size 4033 is out of range 1..4032"),
    ([("a", 1, 100), ("a", 2, 4033), ("f", 9, 0)], 1, "out of range"),
    ([("a", 1, 100), ("f", 9, 0), ("a", 2, 4033)], 1, "not live"),
])
@pytest.mark.parametrize("on_full", ["error", "reclaim"])
def test_bad_trace_leaves_pool_unchanged(records, record, message, on_full):
    pool = filled_pool()
    before = snapshot(pool)
    fill = pool.page_fill()
    with pytest.raises(ValueError, match=f"record {record}: .*{message}"):
        replay(make_trace(records), pool, on_full=on_full)
    assert snapshot(pool) == before
    assert np.array_equal(pool.page_fill(), fill)


@pytest.mark.parametrize("kwargs, error", [
    ({"samples": 0}, ValueError), ({"samples": 2.5}, ValueError), ({"on_full": "ignore"}, ValueError),
    ({"reclaim_to": 1.5}, ValueError),
])
def test_bad_arguments(kwargs, error):
    pool = filled_pool()
    before = snapshot(pool)
    with pytest.raises(error):
        replay(make_trace([("a", 1, 10)]), pool, **kwargs)
    with pytest.raises(TypeError):
        replay([(0, 1, 10)], pool)
    assert snapshot(pool) == before


def test_trace_checks_its_records():
    trace = Trace([0, 0, 1, 0], [5, 2 ** 40, 5, 5], [10, 20, 99, 30])
    assert trace.ops.dtype == np.uint8 and trace.ids.dtype == np.int64
    assert trace.sizes.tolist() == [10, 20, 0, 30]          # a FREE's size is ignored
    assert len(trace) == 4 and trace.peak_live() == 2
    assert Trace(np.array(["alloc", "FREE"]), [1, 1], [3, 0]).ops.tolist() == [ALLOC, FREE]
    for args, message in [
        (([0, 7], [1, 1], [3, 0]), "record 1: unknown op"),
        ((["alloc", "drop"], [1, 1], [3, 0]), "record 1: unknown op 'drop'"),
        (([0, 0], [1, -1], [3, 3]), "record 1: negative id -1"),
        (([0, 0], [1, 2], [3, 0]), "record 1: alloc size 0"),
        (([0, 0], [1, 2], [3]), "ragged lengths"),
        (([0, 0], [1.0, 2.0], [3, 3]), "id must hold integers"),
        (([[0]], [[1]], [[3]]), "1-D"),
        (([0], np.array([2 ** 63], np.uint64), [3]), "record 0: id .* too large"),
    ]:
        with pytest.raises(ValueError, match=message):
            Trace(*args)


# ---------------------------------------------------------------------------------------------
# Files


def sample_trace():
    return make_trace([("a", 0, 1), ("a", 2 ** 31 + 5, 4032), ("a", 2 ** 62, 300),
                       ("f", 0, 0), ("a", 2 ** 31 + 5, 77), ("f", 2 ** 62, 0), ("a", 7, 1500)])


@pytest.mark.parametrize("suffix", [".csv", ".npz", ".CSV"])
def test_round_trip(tmp_path, suffix):
    for trace in (sample_trace(), synthetic_trace(2000, seed=3), make_trace([])):
        path = tmp_path / f"trace{suffix}"
        save_trace(trace, path)
        assert same_trace(load_trace(path), trace)
        assert same_trace(load_trace(str(path)), trace)


def test_csv_layout_and_spellings(tmp_path):
    path = tmp_path / "t.csv"
    save_trace(sample_trace(), path)
    lines = path.read_text().splitlines()
    assert lines[:2] == ["op,id,size", "alloc,0,1"] and lines[4] == "free,0,"
    path.write_text("Size, OP ,id,comment\n"      # any column order, case and spacing; extra columns
                    "100,alloc,3,x\n"
                    "\n"
                    "200, Store ,4,\n"
                    "1,A,5,y\n"
                    ",free,3,\n"
                    "0, INVALIDATE,4,\n"
                    "  ,f,5,\n"
                    "\n")
    trace = load_trace(path)
    assert trace.ops.tolist() == [ALLOC, ALLOC, ALLOC, FREE, FREE, FREE]
    assert trace.ids.tolist() == [3, 4, 5, 3, 4, 5]
    assert trace.sizes.tolist() == [100, 200, 1, 0, 0, 0]


def test_npz_with_op_names(tmp_path):
    path = tmp_path / "t.npz"
    np.savez(path, op=np.array(["alloc", "store", "FREE", "invalidate"]),
             id=np.array([1, 2, 1, 2], np.uint32),
             size=np.array([5, 6, 0, 0], np.int16))
    trace = load_trace(path)
    assert trace.ops.tolist() == [0, 0, 1, 1] and trace.sizes.tolist() == [5, 6, 0, 0]
    np.savez(path, op=np.array([b"a", b"f"]), id=np.array([1, 1]), size=np.array([5, 0]))
    assert load_trace(path).ops.tolist() == [0, 1]


CSV_HEADER = "op,id,size\n"


@pytest.mark.parametrize("text, message", [
    (CSV_HEADER + "alloc,1,100\nfrobnicate,2,100\n", "line 3: unknown op 'frobnicate'"),
    (CSV_HEADER + "alloc,-5,100\n", "line 2: negative id -5"),
    (CSV_HEADER + "alloc,x,100\n", "line 2: id 'x' is not an integer"),
    (CSV_HEADER + "alloc,1.5,100\n", "line 2: id '1.5' is not an integer"),
    (CSV_HEADER + "alloc,,100\n", "line 2: id is missing"),
    (CSV_HEADER + "alloc,1,100\nalloc,2,\n", "line 3: size is missing"),
    (CSV_HEADER + "alloc,1,0\n", "line 2: alloc size 0 is not a positive"),
    (CSV_HEADER + "\n\nalloc,1,-3\n", "line 4: alloc size -3"),
    (CSV_HEADER + "alloc,1,99999999999999999999999\n",
     "line 2: size 99999999999999999999999 is out of range"),
    (CSV_HEADER + "alloc,1,100\nfree,1\n", "line 3: expected 3 fields"),
    (CSV_HEADER + "alloc,1,100,7\n", "line 2: expected 3 fields"),
    ("op,id\nalloc,1\n", "line 1: missing column 'size'"),
    ("op,id,size,id\nalloc,1,2,3\n", "line 1: repeated column 'id'"),
    ("alloc,1,100\n", "line 1: missing column 'op'"),
    ("", "empty file"),
])
def test_bad_csv(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as raised:
        load_trace(path)
    assert str(raised.value).startswith(str(path))


def test_binary_csv(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"op,id,size\n\xff\xfe\x00")
    with pytest.raises(TraceError, match="line 2: not a text file"):
        load_trace(path)


def test_csv_as_users_write_it(tmp_path):
    """A byte-order mark, comment lines, quoted fields and CRLF line ends are ordinary CSV."""
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeff# exported from a spreadsheet\r\n"
                     "\r\n"
                     '"op","id","size"\r\n'
                     '"alloc","3","100"\r\n'
                     "  # a comment between records\r\n"
                     '"store", "4" ,"200"\r\n'
                     '"free","3",""\r\n'.encode("utf-8"))
    trace = load_trace(path)
    assert trace.ops.tolist() == [ALLOC, ALLOC, FREE]
    assert trace.ids.tolist() == [3, 4, 3] and trace.sizes.tolist() == [100, 200, 0]
    assert [trace.origin(i) for i in range(3)] == [f"{path}: line {n}" for n in (4, 6, 7)]


@pytest.mark.parametrize("text, message", [
    # line numbers count comment lines, and a quoted field over two lines ends on the second
    ("# c\nop,id,size\n# c\nalloc,x,1\n", "line 4: id 'x' is not an integer"),
    ('op,id,size\n"alloc\nagain",1,5\n', r"line 3: unknown op 'alloc\\nagain'"),
    ("# only a comment\n\n", "empty file"),
    ("op,id,size\nalloc,1," + "9" * 200_000 + "\n", "line 2: not readable as CSV"),
    ("op,id,size\nalloc,1," + "9" * 5000 + "\n", r"line 2: size '9{40}'\.\.\. \(5,000 characters\)"),
    ("op,id,size\n" + "x" * 100 + ",1,5\n", r"line 2: unknown op 'x{40}'\.\.\. \(100 characters\)"),
])
def test_bad_csv_names_the_line(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(TraceError, match=message) as raised:
        load_trace(path)
    assert str(raised.value).startswith(str(path)) and "\n" not in str(raised.value)


def test_replay_names_the_file_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("op,id,size\n# the next free has no alloc\nalloc,1,10\n\nfree,2,\n")
    with pytest.raises(TraceError, match=f"^{path}: line 5: free of id 2, which is not live"):
        replay(load_trace(path), zj.Pool(pages=4))


def test_npz_header_cannot_ask_for_terabytes(tmp_path):
    """A damaged .npy header inside the archive declares a huge shape: refused before any
    allocation, as a TraceError."""
    import io
    import zipfile
    ids = np.arange(3, dtype=np.int64)
    header = np.lib.format.header_data_from_array_1_0(ids)
    header["shape"] = (10 ** 14,)                          # 800 TB of int64
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, header)
    member.write(ids.tobytes())
    path = tmp_path / "t.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in (("op", np.zeros(3, np.uint8)), ("size", np.full(3, 7))):
            buffer = io.BytesIO()
            np.save(buffer, array)
            archive.writestr(f"{name}.npy", buffer.getvalue())
        archive.writestr("id.npy", member.getvalue())
    with pytest.raises(TraceError, match=r"cannot read the arrays \(array 'id' of shape"):
        load_trace(path)


@pytest.mark.parametrize("arrays, message", [
    ({"op": [0, 1], "id": [1, 1]}, "missing array 'size'"),
    ({"op": [0, 1, 0], "id": [1, 1], "size": [5, 0, 5]},
     "ragged lengths: op has 3 records, id has 2 records"),
    ({"op": [0, 7], "id": [1, 1], "size": [5, 0]}, "record 1: unknown op"),
    ({"op": ["alloc", "nope"], "id": [1, 1], "size": [5, 0]}, "record 1: unknown op 'nope'"),
    ({"op": [0, 0, 0], "id": [1, 2, -3], "size": [5, 5, 5]}, "record 2: negative id -3"),
    ({"op": [0, 0], "id": [1, 2], "size": [5, -5]}, "record 1: alloc size -5"),
    ({"op": [0.0, 1.0], "id": [1, 1], "size": [5, 0]}, "op must hold integer codes"),
    ({"op": [0, 1], "id": [1.5, 1.5], "size": [5, 0]}, "id must hold integers"),
    ({"op": [[0, 1]], "id": [[1, 1]], "size": [[5, 0]]}, "1-D"),
])
def test_bad_npz(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **{name: np.array(values) for name, values in arrays.items()})
    with pytest.raises(ValueError, match=message) as raised:
        load_trace(path)
    assert str(raised.value).startswith(str(path))


def test_unreadable_npz(tmp_path):
    path = tmp_path / "bad.npz"
    path.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="not a readable .npz"):
        load_trace(path)
    np.savez(path, op=np.array(["alloc", 1], dtype=object), id=np.array([1]), size=np.array([1]))
    with pytest.raises(ValueError, match="cannot read the arrays"):
        load_trace(path)
    np.save(tmp_path / "single.npy", np.arange(3))
    (tmp_path / "single.npy").rename(tmp_path / "single.npz")
    with pytest.raises(ValueError, match="not an .npz archive"):
        load_trace(tmp_path / "single.npz")


def test_missing_file_and_unknown_suffix(tmp_path):
    for name in ("absent.csv", "absent.npz"):
        with pytest.raises(FileNotFoundError):
            load_trace(tmp_path / name)
    with pytest.raises(ValueError, match="unknown trace format '.txt'"):
        load_trace(tmp_path / "trace.txt")
    with pytest.raises(ValueError, match="unknown trace format"):
        save_trace(sample_trace(), tmp_path / "trace")
    with pytest.raises(TypeError):
        save_trace([(0, 1, 2)], tmp_path / "trace.csv")


# ---------------------------------------------------------------------------------------------
# Timeline, full pools, data, progress


def test_timeline():
    trace = synthetic_trace(5000, seed=1, live=300)
    for samples, expected in [(200, 200), (1, 1), (7, 7), (10_000, 5000)]:
        result = replay(trace, zj.Pool(pages=400), samples=samples)
        timeline = result.timeline
        assert isinstance(result, ReplayResult)
        assert set(timeline) == set(TIMELINE_KEYS) | {"time_label"}
        assert timeline["time_label"] == "operations replayed"
        assert all(timeline[key].size == expected for key in TIMELINE_KEYS)
        assert np.all(np.diff(timeline["time"]) > 0) and timeline["time"][-1] == len(trace)
        assert timeline["pool_pages"][-1] == result.final.pages_used
        assert timeline["objects"][-1] == result.final.objects
        assert timeline["bytes_stored"][-1] == result.final.bytes_stored
        assert timeline["density"][-1] == pytest.approx(result.final.density)
        assert not timeline["evicted"].any() and result.evicted == 0
        assert np.all(timeline["limit_pages"] == 400)            # the pool's size, for the plot
    spaced = replay(trace, zj.Pool(pages=400), samples=10).timeline["time"]
    assert spaced.tolist() == list(range(500, 5001, 500))


def test_timeline_samples_the_right_moments():
    """Sample k shows the pool after exactly time[k] records: compare with prefixes replayed alone."""
    trace = synthetic_trace(400, seed=2, live=60, restore=0.3, burst=4)
    timeline = replay(trace, zj.Pool(pages=100), samples=9).timeline
    for k, done in enumerate(timeline["time"].tolist()):
        prefix = Trace(trace.ops[:done], trace.ids[:done], trace.sizes[:done])
        stats = replay(prefix, zj.Pool(pages=100), samples=1).final
        assert (timeline["pool_pages"][k], timeline["objects"][k], timeline["bytes_stored"][k]) == (
            stats.pages_used, stats.objects, stats.bytes_stored)


def test_empty_trace():
    pool = filled_pool()
    result = replay(make_trace([]), pool)
    assert result.ops == 0 and result.timeline["time"].tolist() == [0]
    assert result.timeline["objects"].tolist() == [4] and result.live_ids.size == 0


def test_pool_full_error_keeps_everything_before_the_record():
    records = [("a", i, 3000) for i in range(3)] + [("f", 0, 0), ("a", 1, 3500), ("a", 9, 3000),
                                                     ("a", 10, 3000)]
    pool = zj.Pool(pages=3)
    with pytest.raises(zj.PoolFullError, match="trace record 6 .*records 0..5 were applied") as raised:
        replay(make_trace(records), pool, samples=100)
    error = raised.value
    assert error.record == 6 and error.result.ops == 6
    assert error.result.timeline["time"].tolist() == [1, 2, 3, 4, 5, 6]
    assert sorted(error.result.live_ids.tolist()) == [1, 2, 9]
    assert pool.stats().objects == 3
    # a failing replacing ALLOC has freed the object it replaces, as one op at a time would
    pool = zj.Pool(pages=1)
    with pytest.raises(zj.PoolFullError, match="replaces a live object, which was freed") as raised:
        replay(make_trace([("a", 1, 3000), ("a", 2, 100), ("a", 2, 4000)]), pool)
    assert raised.value.record == 2 and raised.value.result.live_ids.tolist() == [1]
    assert pool.stats().objects == 1


def test_reclaim_forgets_evicted_ids():
    records = [("a", i, 3000) for i in range(4)] + [("f", 0, 0), ("a", 1, 10), ("f", 1, 0),
                                                     ("f", 3, 0), ("a", 0, 20)]
    pool = zj.Pool(pages=2)
    result = replay(make_trace(records), pool, on_full="reclaim", reclaim_to=1.0, samples=100)
    # ids 0 and 1 went (LRU tail first) to make room for 2 and 3; freeing 0 is then a no-op and
    # allocating 1 again is a plain alloc
    assert result.evicted == 2
    assert result.timeline["evicted"].tolist() == [0, 0, 1, 2, 2, 2, 2, 2, 2]
    assert result.live_ids.tolist() == [0, 2]
    pool.check()
    assert pool.stats().objects == 2


def test_reclaim_may_evict_the_callers_objects():
    pool = zj.Pool(pages=4)
    theirs = pool.store(np.full(6000, 7, np.uint8), [0, 3000, 6000])     # the two oldest pages
    records = [("a", i, 3000) for i in range(5)] + [("f", 0, 0), ("a", 5, 100)]
    result = replay(make_trace(records), pool, on_full="reclaim", reclaim_to=1.0, write=True)
    # the caller's pages go first (their bytes are not a trace pattern: not checked), then id 0's
    assert result.evicted == 3 and result.verified is True
    assert result.live_ids.tolist() == [1, 2, 3, 4, 5]
    assert pool.sizes(result.handles).tolist() == [3000] * 4 + [100]
    with pytest.raises(zj.InvalidHandleError):
        pool.sizes(theirs[:1])
    pool.check()


def test_other_objects_survive_replay():
    pool = zj.Pool(pages=200)
    mine = pool.store(np.arange(300, dtype=np.uint8), [0, 100, 300])
    result = replay(synthetic_trace(2000, seed=4, live=100), pool, write=True)
    assert result.verified is True
    data, _ = pool.read(mine)
    assert np.array_equal(data, np.arange(300, dtype=np.uint8))
    assert result.final.objects == result.live_ids.size + 2
    pool.check()


def test_pattern_check_finds_a_changed_byte():
    from zbudjit.replay import _pattern, _pattern_mismatches
    ids, sizes = np.array([3, 4, 5, 6]), np.array([1, 8, 13, 4000])
    data, offsets = _pattern(ids, sizes)
    assert _pattern_mismatches(ids, data, offsets) == 0
    assert not np.array_equal(_pattern(ids[1:2], sizes[3:])[0][:8], _pattern(ids[2:3], sizes[3:])[0][:8])
    for at in (0, 1, 8, 9, 21, data.size - 1):
        changed = data.copy()
        changed[at] ^= 1
        assert _pattern_mismatches(ids, changed, offsets) == 1
    assert _pattern_mismatches(np.array([3, 4, 5, -1]), changed, offsets) == 0


def test_progress_bar(capsys):
    replay(synthetic_trace(1000, seed=0), zj.Pool(pages=1000), progress=True)
    assert "replay" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Synthetic traces


def test_synthetic_trace_is_zswap_like():
    trace = synthetic_trace(40_000, seed=11)
    assert same_trace(trace, synthetic_trace(40_000, seed=11))
    assert not same_trace(trace, synthetic_trace(40_000, seed=12))
    allocs = trace.sizes[trace.ops == ALLOC]
    well = (allocs >= 40) & (allocs <= 900)
    poorly = (allocs >= 1500) & (allocs <= 3968)
    assert np.all(well | poorly) and 0.67 < well.mean() < 0.73
    assert 0 <= trace.ids.min() and trace.ids.max() < 2 * (40_000 // 4)
    result = replay(trace, zj.Pool(pages=trace.peak_live()))      # valid: frees only live ids
    frees = (trace.ops == FREE).mean()
    assert 0.2 < frees < 0.5
    assert 0.01 < replacing(trace).mean() < 0.1
    # the live count climbs to about ``live`` and churns there
    assert 0.7 * 10_000 < result.final.objects < 1.3 * 10_000
    assert synthetic_trace(0).ops.size == 0


def test_replay_speed(report):
    trace = synthetic_trace(200_000, seed=0)
    replay(synthetic_trace(100), zj.Pool(pages=100))               # compiled already: warm up
    start = time.perf_counter()
    result = replay(trace, zj.Pool(pages=trace.peak_live()))
    rate = result.ops / (time.perf_counter() - start)
    report(f"replay: {rate:,.0f} ops/s on a 200k-op synthetic trace")
    assert rate > 50_000
