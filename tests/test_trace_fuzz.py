"""The trace readers against damaged files: mutated CSV and NPZ bytes, and bytes of no format at
all. Whatever the bytes, load_trace returns a valid Trace or raises TraceError (the documented
exception, a ValueError naming the file): never a UnicodeDecodeError, csv.Error, zipfile's or
NumPy's errors, an IndexError. Bounded: a few hundred files each, about a second."""

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from zbudjit.replay import ALLOC, FREE, Trace, TraceError, load_trace, save_trace

FUZZ = settings(max_examples=600, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

# Bytes that mean something to one of the readers: CSV's quotes, separators, comments and line
# ends, a byte-order mark and bytes that are not UTF-8, numbers too large, the names of columns
# and ops, and zip's and NumPy's magic.
MEANINGFUL = [b'"', b",", b"#", b"\n", b"\r\n", b"\r", b"\x00", b"\xff", b"\xef\xbb\xbf", b"-",
              b"9" * 30, b" ", b"alloc", b"free", b"op,id,size\n", b"PK\x03\x04", b"PK\x05\x06",
              b"\x93NUMPY", b"{'descr': '<i8', 'fortran_order': False, 'shape': (9999999999,), }"]

MUTATION = st.tuples(st.sampled_from(["flip", "insert", "delete", "replace", "truncate"]),
                     st.integers(0, 1 << 16),
                     st.one_of(st.sampled_from(MEANINGFUL), st.binary(min_size=1, max_size=8)))


def mutated(data, mutations):
    data = bytearray(data)
    for kind, position, chunk in mutations:
        at = position % (len(data) + 1)
        if kind == "flip" and data:
            data[at % len(data)] ^= 1 << (position % 8)
        elif kind == "insert":
            data[at:at] = chunk
        elif kind == "delete":
            del data[at:at + len(chunk)]
        elif kind == "replace":
            data[at:at + len(chunk)] = chunk
        elif kind == "truncate":
            del data[at:]
    return bytes(data)


def seed_trace():
    ops = np.array([ALLOC, ALLOC, FREE, ALLOC, ALLOC, FREE], np.uint8)
    return Trace(ops, [3, 7, 3, 2 ** 40, 7, 7], [100, 4000, 0, 1, 77, 0])


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    """Valid files to mutate: CSV as save_trace writes it and as spreadsheets do, and NPZ
    archives compressed and stored."""
    directory = tmp_path_factory.mktemp("seeds")
    save_trace(seed_trace(), directory / "plain.csv")
    spreadsheet = ('\ufeff# exported\r\n"op","id","size"\r\n"alloc","3","100"\r\n'
                   '"store", "7" ,"4000"\r\n"free","3",""\r\n').encode()
    npz_compressed = (directory / "plain.csv").with_suffix(".npz")
    save_trace(seed_trace(), npz_compressed)
    stored = io.BytesIO()
    np.savez(stored, op=np.array(["alloc", "free"]), id=np.array([1, 1], np.uint32),
             size=np.array([5, 0], np.int16))
    return {"csv": [(directory / "plain.csv").read_bytes(), spreadsheet],
            "npz": [npz_compressed.read_bytes(), stored.getvalue()],
            "directory": directory}


def assert_valid_or_trace_error(path):
    """load_trace(path) gives a trace that keeps the rules, or raises TraceError naming path."""
    try:
        trace = load_trace(path)
    except TraceError as error:
        event("TraceError")
        assert str(error).startswith(str(path)) and "\n" not in str(error)
        return
    event("loaded")
    assert trace.ops.dtype == np.uint8 and set(np.unique(trace.ops).tolist()) <= {ALLOC, FREE}
    assert trace.ids.size == trace.sizes.size == trace.ops.size
    assert np.all(trace.ids >= 0)
    assert np.all(trace.sizes[trace.ops == ALLOC] >= 1) and not trace.sizes[trace.ops == FREE].any()


@FUZZ
@given(which=st.integers(0, 1), mutations=st.lists(MUTATION, min_size=1, max_size=6))
def test_mutated_csv(seeds, which, mutations):
    path = seeds["directory"] / "fuzzed.csv"
    path.write_bytes(mutated(seeds["csv"][which], mutations))
    assert_valid_or_trace_error(path)


@FUZZ
@given(which=st.integers(0, 1), mutations=st.lists(MUTATION, min_size=1, max_size=6))
def test_mutated_npz(seeds, which, mutations):
    path = seeds["directory"] / "fuzzed.npz"
    path.write_bytes(mutated(seeds["npz"][which], mutations))
    assert_valid_or_trace_error(path)


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".csv", ".npz"]))
def test_bytes_of_no_format(seeds, data, suffix):
    path = seeds["directory"] / f"noise{suffix}"
    path.write_bytes(data)
    assert_valid_or_trace_error(path)
