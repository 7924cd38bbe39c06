"""What must hold however a pool is used: shared by threads, given another pool's handles, its
arena or swap file wanted by a second user or written behind its back, a full disk, a failed
construction, arguments out of range, a closed pool."""

import errno
import os
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import zbudjit as zj
from zbudjit.engine import files
from zbudjit.engine import tables as t
from zbudjit.errors import FileInUseError
from helpers import ragged, snapshot, unragged

POLICIES = ["zbud", "zsmalloc"]
PAGE = 4096


@pytest.fixture(scope="module")
def real_pages(installation_pages):
    return installation_pages[:40]


# -- threads -----------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_a_pool_shared_by_threads_stays_sound(policy):
    """Four threads alloc, write, read back, free and compact one pool at once (the kernels
    release the GIL, so without the pool's lock their batches interleave inside the tables)."""
    pool = zj.Pool(4096, policy=policy)
    failures = []

    def work(seed):
        rng = np.random.default_rng(seed)
        mine = {}
        try:
            for step in range(150):
                sizes = rng.integers(1, pool.max_size + 1, int(rng.integers(1, 40)))
                blobs = [bytes([seed, step % 256]) * (int(s) // 2) + b"x" * (int(s) % 2)
                         for s in sizes]
                for handle, blob in zip(pool.store(*ragged(blobs)).tolist(), blobs):
                    mine[handle] = blob
                handles = list(mine)
                assert unragged(*pool.read(handles)) == [mine[h] for h in handles]
                gone = handles[:int(rng.integers(0, len(handles) + 1))]
                pool.free(gone)
                for handle in gone:
                    del mine[handle]
                if step % 25 == 0:
                    pool.compact()
                    pool.stats()
            pool.free(list(mine))
        except Exception as error:          # reported in the main thread
            failures.append(error)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    pool.check()
    assert pool.objects == 0 and pool.pages_used == 0


# -- handles of another pool -------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_handles_of_another_pool_are_rejected(policy):
    ours, theirs = zj.Pool(64, policy=policy), zj.Pool(64, policy=policy)
    assert ours._counters[t.C_GENERATION_ORIGIN] != theirs._counters[t.C_GENERATION_ORIGIN]
    ours.alloc([100] * 5)
    foreign = theirs.alloc([100] * 5)          # the same slots, each of its first generation
    before = snapshot(ours, lru=policy == "zbud")
    for call in (ours.read, ours.free, ours.locate, ours.sizes):
        with pytest.raises(zj.InvalidHandleError):
            call(foreign[:1])
    assert snapshot(ours, lru=policy == "zbud") == before


# -- files: locks, checksums, disk space -------------------------------------------------------


def test_an_arena_file_has_one_user(tmp_path):
    path = str(tmp_path / "arena")
    pool = zj.Pool(16, path=path)
    with pytest.raises(FileInUseError, match="in use"):
        files.LockedFile(path, 16 * PAGE, False, "arena file")
    pool.close()
    files.LockedFile(path, 16 * PAGE, False, "arena file").close()


def test_a_swap_file_has_one_user_and_is_not_cut_short(tmp_path, real_pages):
    path = tmp_path / "swap"
    first = zj.Zswap(zj.Pool(8), ram_pages=100, max_pool_percent=5, swap_path=path)
    ids = np.arange(40)
    first.store(ids, real_pages[:40])
    assert first.stats().swap_pages > 0
    size = path.stat().st_size
    with pytest.raises(FileInUseError, match="swap file"):
        zj.Zswap(zj.Pool(8), swap_path=path)
    assert path.stat().st_size == size
    assert np.array_equal(first.load(ids), real_pages[:40])
    first.close()
    zj.Zswap(zj.Pool(8), swap_path=path).close()


def test_swap_pages_changed_behind_the_frontend_are_refused(tmp_path, real_pages):
    path = tmp_path / "swap"
    front = zj.Zswap(zj.Pool(8), ram_pages=100, max_pool_percent=5, swap_path=path)
    ids = np.arange(40)
    front.store(ids, real_pages[:40])
    in_swap = ids[front.locations(ids) == zj.frontends.zswap.SWAP]
    victim = int(in_swap[-1])
    slot = int(front._value[front._at(np.array([victim]))][0])
    with open(path, "r+b") as swap:             # another program writes into the file
        swap.seek(slot * PAGE + 100)
        swap.write(b"\xff" * 8)
    assert np.array_equal(front.load(ids[ids != victim]), real_pages[:40][ids != victim])
    with pytest.raises(zj.CorruptionError, match=rf"pages \[{victim}\]"):
        front.load([victim])
    front.close()


@pytest.mark.parametrize("policy", POLICIES)
def test_a_file_backed_arena_has_disk_for_its_pages_before_they_are_written(tmp_path, policy):
    path = tmp_path / "arena"
    pool = zj.Pool(1024, policy=policy, path=path)
    assert path.stat().st_blocks == 0                     # sparse until used
    pool.store(*ragged([b"a" * 3000] * 50 + [b"b" * 100] * 50))
    watermark = int(pool._counters[t.C_PAGE_WATERMARK])
    assert path.stat().st_blocks * 512 >= watermark * PAGE
    assert path.stat().st_blocks * 512 < pool.pages_total * PAGE


@pytest.mark.parametrize("policy", POLICIES)
def test_a_full_disk_fails_the_alloc_and_changes_nothing(tmp_path, monkeypatch, policy):
    pool = zj.Pool(1024, policy=policy, path=tmp_path / "arena")
    kept = pool.store(*ragged([b"k" * 500] * 10))
    before = snapshot(pool, lru=policy == "zbud")

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(zj.PoolFullError, match="no disk space"):
        pool.store(*ragged([b"n" * 3000] * 200))
    assert snapshot(pool, lru=policy == "zbud") == before
    pool.write(kept, *ragged([b"w" * 500] * 10))          # pages it has keep working
    monkeypatch.undo()
    pool.store(*ragged([b"n" * 3000] * 200))
    pool.check()


def test_a_failed_file_backed_pool_leaves_no_file(tmp_path, monkeypatch):
    path = tmp_path / "arena"

    def no_memory(self, shape=None):
        raise MemoryError("cannot map")

    monkeypatch.setattr(files.LockedFile, "map", no_memory)
    with pytest.raises(MemoryError):
        zj.Pool(16, path=path)
    assert not path.exists()


# -- arguments and life ------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [2**63, 2**70, np.uint64(2**64 - 1)], ids=str)
def test_limits_beyond_int64_mean_no_limit(limit):
    """A budget or page count past int64 reached a kernel as a Python object (a Numba
    TypingError); "at most" that much means "no limit"."""
    pool = zj.Pool(16)
    handles = pool.alloc([2000] * 4)                      # two full pages
    pool.free(handles[pool.locate(handles)[1] == 0])      # one object left on each
    assert pool.compact(max_bytes=limit).pages_freed == 1
    used = pool.pages_used
    assert pool.reclaim(limit, lambda *args: None).pages_freed == used
    assert pool.objects == 0


def test_sizes_beyond_int64_are_value_errors():
    pool = zj.Pool(16)
    for sizes in ([2**63], [2**70], np.array([2**64 - 1], np.uint64)):
        with pytest.raises(ValueError):
            pool.alloc(sizes)


@pytest.mark.parametrize("policy", POLICIES)
def test_a_closed_pool_refuses_every_call(policy, tmp_path):
    with zj.Pool(16, policy=policy, path=tmp_path / "arena") as pool:
        handles = pool.alloc([100, 200])
    assert pool.closed
    pool.close()                                          # twice is fine
    for call in (lambda: pool.alloc([1]), lambda: pool.free(handles), lambda: pool.read(handles),
                 lambda: pool.write(handles[:1], np.zeros(100, np.uint8), [0, 100]),
                 pool.compact, pool.check, pool.stats, lambda: pool.save(tmp_path / "save")):
        with pytest.raises(zj.PoolError, match="closed"):
            call()


@pytest.mark.parametrize("policy", POLICIES)
@settings(max_examples=60, deadline=None)
@given(batches=st.lists(st.lists(st.integers(1, PAGE), min_size=1, max_size=60), min_size=1,
                        max_size=8),
       seed=st.integers(0, 2**32 - 1))
def test_an_alloc_takes_no_more_pages_than_the_disk_reserved_for(policy, batches, seed):
    """The bound a file-backed arena reserves disk for really bounds the pages a batch takes."""
    pool = zj.Pool(2048, policy=policy)
    rng = np.random.default_rng(seed)
    for sizes in batches:
        sizes = np.minimum(np.array(sizes, np.int64), pool.max_size)
        bound = pool._policy.new_pages_bound(pool, sizes)
        used, watermark = pool.pages_used, int(pool._counters[t.C_PAGE_WATERMARK])
        handles = pool.alloc(sizes)
        assert pool.pages_used - used <= bound
        assert int(pool._counters[t.C_PAGE_WATERMARK]) - watermark <= bound
        pool.free(handles[rng.random(handles.size) < 0.5])


@pytest.mark.parametrize("policy", POLICIES)
def test_the_free_slot_table_keeps_the_handle_tables_length(policy):
    """It is as deep as slots can be free, and no deeper (it grew by a quarter more, 4 bytes a
    slot for nothing)."""
    pool = zj.Pool(4096, policy=policy)
    for _ in range(3):
        pool.free(pool.alloc(np.full(5000, 100)))
        assert pool._free_slots.size == pool._handles.size > 5000
