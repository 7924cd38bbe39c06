"""The data path's byte copy: the same bytes as NumPy's slice assignment, overlapping ranges too,
and a bounds check under NUMBA_BOUNDSCHECK=1."""

import os
import subprocess
import sys
import tempfile

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import zbudjit as zj
from zbudjit.engine.memory import STREAM_MIN_BYTES, copy_bytes, stream_bytes


@given(st.integers(0, 200), st.integers(0, 200), st.integers(0, 56), st.booleans())
def test_copy_bytes_is_slice_assignment(dst_start, src_start, n, same_array):
    rng = np.random.default_rng(dst_start * 1000 + src_start)
    src = rng.integers(0, 256, 256, dtype=np.uint8)
    dst = src if same_array else rng.integers(0, 256, 256, dtype=np.uint8)
    expected = dst.copy()
    expected[dst_start:dst_start + n] = src.copy()[src_start:src_start + n]   # memmove semantics
    copy_bytes(dst, dst_start, src, src_start, n)
    assert np.array_equal(dst, expected)


def test_out_of_range_copy_raises_when_bounds_are_checked():
    program = ("import numpy as np\nfrom zbudjit.engine.memory import copy_bytes\n"
               "a = np.zeros(10, np.uint8)\n"
               "try:\n    copy_bytes(a, 5, a, 0, 6)\nexcept IndexError:\n    print('raised')\n")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=cache)
        result = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True,
                                text=True, timeout=300)
    assert result.stdout.strip() == "raised", result.stderr


@given(st.integers(0, 300), st.integers(0, 300), st.integers(0, 400))
def test_stream_bytes_is_slice_assignment(dst_start, src_start, n):
    rng = np.random.default_rng(dst_start * 1000 + src_start)
    src = rng.integers(0, 256, 1024, dtype=np.uint8)
    dst = rng.integers(0, 256, 1024, dtype=np.uint8)[1:]     # not 64-byte aligned as a whole
    expected = dst.copy()
    expected[dst_start:dst_start + n] = src[src_start:src_start + n]
    stream_bytes(dst, dst_start, src, src_start, n)
    assert np.array_equal(dst, expected)


def test_batches_larger_than_the_caches_stream_and_read_back():
    pool = zj.Pool(pages=8192)
    rng = np.random.default_rng(11)
    sizes = rng.integers(1500, 4033, 8000)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    assert offsets[-1] > STREAM_MIN_BYTES
    payload = rng.integers(0, 256, offsets[-1], dtype=np.uint8)
    handles = pool.store(payload, offsets)                    # alloc's copy streams
    data, _ = pool.read(handles)                              # so does read
    assert np.array_equal(data, payload)
    fresh = rng.integers(0, 256, offsets[-1], dtype=np.uint8)
    pool.write(handles, fresh, offsets)                       # and write
    data, _ = pool.read(handles, out=np.empty(offsets[-1], np.uint8))
    assert np.array_equal(data, fresh)
    pool.check()
