"""Saving a pool and opening it again (zbudjit.persist): exact round trips, atomic saves, clear errors.

A round trip must give back every table byte for byte and a pool that then behaves exactly like the
original; a save killed with SIGKILL must leave the previous save openable; and every kind of damage
to a save directory must be refused with a PoolError that says what is wrong.
"""

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import zbudjit as zj
from zbudjit.engine import tables as t
from zbudjit import persist
from zbudjit.persist import FORMAT_VERSION, SaveError, open_pool, save
from helpers import ragged, snapshot


def payload(rng, sizes):
    """Random bytes for objects of ``sizes``, as a ragged batch."""
    return ragged([rng.integers(0, 256, int(size), dtype=np.uint8).tobytes() for size in sizes])


def busy_pool(page_size=4096, reserve_header_chunk=False, objects=1400, path=None, seed=0):
    """A pool with history, and handles it has freed.

    Objects on both sides of pages, buddied and unbuddied pages, released pages, free and reused
    handle slots (so stale handles exist), stale stack and LRU entries; with more than 1024 objects
    the handle table, the stack blocks and the LRU log have also grown past a fresh pool's size.
    """
    rng = np.random.default_rng(seed)
    pool = zj.Pool(pages=2 * objects, page_size=page_size,
                   reserve_header_chunk=reserve_header_chunk, path=path)
    first = pool.store(*payload(rng, rng.integers(1, pool.max_size + 1, objects)))
    freed = first[rng.random(first.size) < 0.4]
    pool.free(freed)
    later = pool.alloc(rng.integers(1, pool.max_size // 2, objects // 5))
    pool.write(later, *payload(rng, pool.sizes(later)))
    pool.free(later[::3])
    pool.check()
    pages = pool._pages[:pool._counters[t.C_PAGE_WATERMARK]]
    both_sides = (pages["first_slot"] != 0) & (pages["last_slot"] != 0)
    assert both_sides.any() and (pages["last_slot"] != 0).sum() > both_sides.sum()
    assert pool._counters[t.C_RELEASED] > 0
    return pool, np.concatenate([freed, later[::3]])


def carry_on(pool, seed):
    """A further deterministic batch of frees, stores, allocs, writes, a reclaim and a compaction.

    Every object allocated is written: its bytes are undefined until then (a released page of an
    opened save reads zero, the original's still holds what it held).
    """
    rng = np.random.default_rng(seed)
    live = pool.handles()
    pool.free(live[rng.random(live.size) < 0.3])
    stored = pool.store(*payload(rng, rng.integers(1, pool.max_size + 1, 60)))
    allocated = pool.alloc(rng.integers(1, pool.max_size + 1, 20))
    pool.write(allocated, *payload(rng, pool.sizes(allocated)))
    pool.write(stored[:10], *payload(rng, pool.sizes(stored[:10])))
    pool.reclaim(2, lambda handles, data, offsets: None)
    pool.compact(max_bytes=8 * pool.page_size)


def used_arena_bytes(pool):
    return int(pool._counters[t.C_PAGE_WATERMARK]) * pool.page_size


def saved_state(pool):
    """What a save of ``pool`` must bring back: every attribute a save keeps (a table's records in
    use, its dtype and length; scalars with their types), and the bytes of the pages in use."""
    arrays, config, scalars = persist._savable_state(pool)
    state = {name: (value.dtype, value.tobytes(), length) for name, (value, length) in arrays.items()}
    state.update({name: (type(value), value) for name, value in {**config, **scalars}.items()})
    state["shapes"] = {name: value.shape for name, value in vars(pool).items()
                       if isinstance(value, np.ndarray)}
    pages = pool._arena.reshape(-1, pool.page_size)
    state["pages in use"] = {int(pfn): pages[pfn].tobytes() for pfn in persist._pages_in_use(pool)}
    return state


def assert_same_tables(expected, restored):
    """Every saved attribute is back, byte for byte, and so are the pages in use; a RAM arena's
    other pages are zero (a save holds nothing else)."""
    assert saved_state(restored) == expected
    if restored.path is None:
        pages = restored._arena.reshape(-1, restored.page_size).copy()
        pages[list(expected["pages in use"])] = 0
        assert not pages.any()


def reopened(pool, directory):
    """Save ``pool`` and open the save; the copy holds the same tables and the same objects.

    A file-backed pool is closed first: its arena file is locked while it is open.
    """
    save(pool, directory)
    expected, observed = saved_state(pool), snapshot(pool)
    if pool.path is not None:
        pool.close()
    restored = open_pool(directory)
    assert_same_tables(expected, restored)
    assert snapshot(restored) == observed
    return restored


def assert_round_trip(pool, directory, freed=()):
    """Save and reopen ``pool``; the copy equals it and keeps behaving exactly like it."""
    restored = reopened(pool, directory)
    for seed in (1, 2):
        carry_on(pool, seed)
        carry_on(restored, seed)
        assert snapshot(restored) == snapshot(pool)
        assert np.array_equal(restored.handles(), pool.handles())
    restored.check()
    if len(freed):
        with pytest.raises(zj.InvalidHandleError):
            restored.read(freed[:1])
        with pytest.raises(zj.InvalidHandleError):
            restored.free(freed[-1:])


def saved_bytes(directory):
    return sum(os.path.getsize(os.path.join(root, name))
               for root, _, names in os.walk(directory) for name in names)


def only_snapshot(directory):
    """The one snapshot a save directory should hold (checked), as a path."""
    entries = sorted(os.listdir(directory))
    assert len(entries) == 2 and entries[0] == "CURRENT", entries
    assert (directory / "CURRENT").read_text().strip() == entries[1]
    return directory / entries[1]


# ---------------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("page_size, reserve_header_chunk, objects", [
    (4096, False, 1400), (4096, True, 1400), (65536, False, 120), (65536, True, 120)])
def test_round_trip_restores_every_table_and_keeps_working(tmp_path, page_size, reserve_header_chunk,
                                                           objects):
    pool, freed = busy_pool(page_size, reserve_header_chunk, objects)
    if objects > 1024:
        assert pool._handles.size > 1024 and pool._lru_log.size > 1024
    assert_round_trip(pool, tmp_path / "save", freed)


def test_opened_stack_blocks_each_sit_on_one_cache_line(tmp_path):
    pool, _ = busy_pool()
    save(pool, tmp_path / "save")
    assert open_pool(tmp_path / "save")._blocks.ctypes.data % 64 == 0


def test_empty_pool_round_trips(tmp_path):
    pool = zj.Pool(pages=200)
    save(pool, tmp_path / "empty")
    assert only_snapshot(tmp_path / "empty").joinpath("_arena.npy").stat().st_size < 200
    assert_round_trip(pool, tmp_path / "empty")


def test_saving_twice_keeps_only_the_latest_snapshot(tmp_path):
    pool, _ = busy_pool(objects=200)
    directory = tmp_path / "save"
    save(pool, directory)
    first = only_snapshot(directory)
    carry_on(pool, 5)
    reopened(pool, directory)
    assert only_snapshot(directory) != first and not first.exists()


def test_file_backed_pool_is_saved_without_copying_its_arena(tmp_path):
    pool, _ = busy_pool(objects=1200, path=tmp_path / "arena.bin")
    directory = tmp_path / "save"
    restored = reopened(pool, directory)      # closes pool: one pool at a time maps the file
    assert saved_bytes(directory) < used_arena_bytes(pool) / 10
    assert isinstance(restored._arena, np.memmap)
    assert restored.path == pool.path and os.path.samefile(restored._arena_file.path, pool.path)
    carry_on(restored, 3)
    reopened(restored, directory)


def test_file_backed_pool_may_be_saved_next_to_its_arena_file(tmp_path):
    pool, _ = busy_pool(objects=50, path=tmp_path / "arena.bin")
    reopened(pool, tmp_path)


def test_attributes_added_to_pool_later_are_saved_generically(tmp_path, monkeypatch):
    original_init = zj.Pool.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self._marks = np.arange(5, dtype=np.int16)
        self._note = "fresh"
        self._ratio = 0.5
        self._mutex = threading.Lock()        # not _lock: that is the pool's own lock

    monkeypatch.setattr(zj.Pool, "__init__", init)
    pool, _ = busy_pool(objects=50)
    pool._marks[:] = [5, 4, 3, 2, 1]
    pool._note, pool._ratio, pool.label = "used", 0.25, "my cache"
    with pytest.raises(TypeError, match="_mutex.*NOT_SAVED"):
        save(pool, tmp_path / "save")
    monkeypatch.setattr(persist, "NOT_SAVED", persist.NOT_SAVED | {"_mutex"})
    restored = reopened(pool, tmp_path / "save")
    assert restored.label == "my cache" and restored._marks.tolist() == [5, 4, 3, 2, 1]
    assert isinstance(restored._mutex, type(pool._mutex)) and restored._mutex is not pool._mutex
    assert restored._lock is not pool._lock


def test_save_inside_reclaim_writeback_reopens_as_a_usable_pool(tmp_path):
    pool, _ = busy_pool(objects=100)
    before = snapshot(pool)
    pool.reclaim(3, lambda handles, data, offsets: save(pool, tmp_path / "save"))
    restored = open_pool(tmp_path / "save")
    assert snapshot(restored) == before
    restored.alloc([100])


@settings(max_examples=25)
@given(reserve_header_chunk=st.booleans(),
       steps=st.lists(st.tuples(st.booleans(), st.integers(0, 2**32 - 1)), max_size=10))
def test_any_history_round_trips(reserve_header_chunk, steps):
    pool = zj.Pool(pages=40, reserve_header_chunk=reserve_header_chunk)
    for storing, seed in steps:
        rng = np.random.default_rng(seed)
        if storing:
            try:
                pool.store(*payload(rng, rng.integers(1, pool.max_size + 1, rng.integers(1, 30))))
            except zj.PoolFullError:
                pass
        else:
            live = pool.handles()
            pool.free(live[rng.random(live.size) < 0.5])
    with tempfile.TemporaryDirectory() as directory:
        reopened(pool, directory)


# ---------------------------------------------------------------------------------------------
# A save killed with SIGKILL

# Fills a 64 MiB RAM pool (every page used, so the save copies the whole arena) and saves it into
# argv[1]. With argv[2] > 0 the save stops for good once that many bytes are written, and says so:
# the parent then kills it exactly there, half way through the arena file, never after the commit.
SAVER = """
import sys, time
import numpy as np
import zbudjit as zj
from zbudjit import persist

directory, pause_after = sys.argv[1], int(sys.argv[2])
pool = zj.Pool(pages=16384)
pool.alloc(np.full(32768, 2000))
written = 0
plain_write = persist._ChecksummedWriter.write

def write(self, data):
    global written
    written += memoryview(data).nbytes
    if pause_after and written > pause_after:
        print("paused", flush=True)
        time.sleep(60)
    return plain_write(self, data)

persist._ChecksummedWriter.write = write
print("saving", flush=True)
persist.save(pool, directory)
print("saved", flush=True)
"""
SAVER_OBJECTS = 32768


def start_saver(directory, pause_after):
    saver = subprocess.Popen([sys.executable, "-c", SAVER, str(directory), str(pause_after)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert saver.stdout.readline() == "saving\n", saver.communicate()[1]
    return saver


def kill(saver):
    saver.kill()                              # SIGKILL
    return saver.wait(timeout=10)


def assert_directory_recovers(directory, expected):
    """The directory opens to ``expected`` (None: it holds no completed save), and saves work again."""
    if expected is None:
        with pytest.raises(SaveError, match="no completed save"):
            open_pool(directory)
    else:
        assert snapshot(open_pool(directory)) == expected
    reopened(busy_pool(objects=30, seed=9)[0], directory)
    only_snapshot(directory)


@pytest.mark.parametrize("previous_save", [True, False])
def test_save_killed_half_way_leaves_the_previous_save(tmp_path, previous_save):
    directory = tmp_path / "save"
    expected = None
    if previous_save:
        pool, _ = busy_pool(objects=200)
        save(pool, directory)
        expected = snapshot(pool)
    saver = start_saver(directory, 32 << 20)
    assert saver.stdout.readline() == "paused\n", saver.communicate()[1]
    assert kill(saver) == -9
    partial = [entry for entry in os.listdir(directory) if entry.startswith("snapshot-")]
    arena_files = [directory / entry / "_arena.npy" for entry in partial]
    assert any(path.exists() and 0 < path.stat().st_size < 64 << 20 for path in arena_files)
    assert_directory_recovers(directory, expected)


def test_save_killed_as_soon_as_it_starts_writing_opens_to_one_whole_state(tmp_path):
    """No pause: the kill lands wherever the save is when its snapshot directory appears. Either
    way the directory must open to a whole state, the old one or (if the commit won) the new one."""
    directory = tmp_path / "save"
    pool, _ = busy_pool(objects=200)
    save(pool, directory)
    old = only_snapshot(directory).name
    saver = start_saver(directory, 0)
    deadline = time.monotonic() + 30
    while set(os.listdir(directory)) <= {"CURRENT", old} and saver.poll() is None:
        assert time.monotonic() < deadline, "the save never started"
        time.sleep(0.001)
    assert kill(saver) in (-9, 0), saver.communicate()[1]
    restored = open_pool(directory)
    if restored.stats().objects != SAVER_OBJECTS:
        assert snapshot(restored) == snapshot(pool)
    assert_directory_recovers(directory, snapshot(restored))


# A save killed at each of its stages, of a file-backed pool (whose arena is not copied: the
# killed save and the one before share the file) and of a RAM pool. The saver stores objects,
# saves (the first state), stores more (new objects only, so the first state's objects keep their
# bytes in the shared arena: the second state), and saves again, stopping for good at ``stage``:
# "tables" half way through the tables, "manifest" with every table written, "commit" before the
# rename of CURRENT, "cleanup" after it, before the old snapshot is removed.
STAGED_SAVER = """
import hashlib, sys, time
import numpy as np
import zbudjit as zj
from zbudjit import persist
sys.path.insert(0, sys.argv[4])
from helpers import snapshot

directory, arena, stage = sys.argv[1:4]
pool = zj.Pool(pages=4096, path=arena if arena != "-" else None)
rng = np.random.default_rng(3)

def store(n):
    sizes = rng.integers(1, pool.max_size + 1, n)
    data = rng.integers(0, 256, int(sizes.sum()), dtype=np.uint8)
    pool.store(data, np.concatenate([[0], np.cumsum(sizes)]))

def digest():
    return hashlib.sha256(repr(snapshot(pool)).encode()).hexdigest()

def pause():
    print("paused", flush=True)
    time.sleep(60)

def pausing(function, before=None):
    def paused(*args, **kwargs):
        if before is None or before(*args):
            pause()
        return function(*args, **kwargs)
    return paused

store(3000)
pool.free(pool.handles()[::3])
persist.save(pool, directory)
print(digest(), flush=True)
store(1000)
print(digest(), flush=True)
if stage == "tables":
    written = []
    plain = persist._write_array
    def write_array(*args):
        written.append(args[1])
        if len(written) == 4:
            pause()
        return plain(*args)
    persist._write_array = write_array
elif stage == "manifest":
    persist._write_file = pausing(persist._write_file, lambda path, *rest: path.endswith("manifest.json"))
elif stage == "commit":
    persist._commit = pausing(persist._commit)
elif stage == "cleanup":
    persist._remove_old_snapshots = pausing(persist._remove_old_snapshots)
pool.save(directory)
print("saved", flush=True)
"""


@pytest.mark.parametrize("backing, stage", [
    ("file", "tables"), ("file", "manifest"), ("file", "commit"), ("file", "cleanup"),
    ("ram", "manifest"), ("ram", "cleanup")])
def test_save_killed_at_any_stage_opens_to_the_state_it_had_committed(tmp_path, backing, stage):
    directory = tmp_path / "save"
    arena = tmp_path / "arena.bin" if backing == "file" else None
    saver = subprocess.Popen(
        [sys.executable, "-c", STAGED_SAVER, str(directory), str(arena or "-"), stage,
         os.path.dirname(__file__)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first, second, paused = (saver.stdout.readline().strip() for _ in range(3))
    assert paused == "paused", saver.communicate()[1]
    assert first != second
    assert kill(saver) == -9                  # its arena file's lock goes with it
    restored = open_pool(directory)
    state = hashlib.sha256(repr(snapshot(restored)).encode()).hexdigest()
    assert state == (second if stage == "cleanup" else first)
    restored.check()
    # the directory takes the next save (the debris goes) and opens to it
    carry_on(restored, 4)
    expected = snapshot(restored)
    save(restored, directory)
    only_snapshot(directory)
    restored.close()
    with open_pool(directory) as again:
        assert snapshot(again) == expected
    if arena is not None:
        assert arena.stat().st_size == 4096 * 4096


# ---------------------------------------------------------------------------------------------
# Damage and misuse give a PoolError that says what is wrong


@pytest.fixture
def saved(tmp_path):
    """A saved busy pool: (save directory, its snapshot directory)."""
    pool, _ = busy_pool(objects=60)
    save(pool, tmp_path / "save")
    return tmp_path / "save", only_snapshot(tmp_path / "save")


def edit_manifest(snapshot_dir, change, reseal=True):
    """Change the manifest; with ``reseal`` give it the checksum of its new contents, so that
    only the checks after the checksum's can tell."""
    path = snapshot_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    if reseal:
        manifest[persist.MANIFEST_CHECKSUM] = persist._manifest_crc32(manifest)
    path.write_bytes(persist._manifest_text(manifest))


def rewrite_array(snapshot_dir, name, array):
    """Replace a saved table and fix its manifest entry, so only Pool.check() can tell."""
    path = snapshot_dir / f"{name}.npy"
    np.save(path, array, allow_pickle=False)
    data = path.read_bytes()
    edit_manifest(snapshot_dir, lambda m: m["arrays"][name].update(nbytes=len(data), crc32=zlib.crc32(data)))


def flip_byte(path, position):
    data = bytearray(path.read_bytes())
    data[position] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path):
    os.truncate(path, path.stat().st_size // 2)


def set_entry(table, **fields):
    return lambda manifest: manifest["arrays"][table].update(fields)


DAMAGE = {
    "garbage pointer": (lambda d, s: (d / "CURRENT").write_bytes(b"\x00\xff\x13garbage"),
                        "does not name a snapshot"),
    "pointer to nothing": (lambda d, s: (d / "CURRENT").write_text("snapshot-000099\n"), "does not exist"),
    "no pointer": (lambda d, s: (d / "CURRENT").unlink(), "no completed save"),
    "garbage manifest": (lambda d, s: (s / "manifest.json").write_bytes(b"\x89PNG{{"), "not valid JSON"),
    "manifest not an object": (lambda d, s: (s / "manifest.json").write_text("[1, 2]"), "not a manifest"),
    "no manifest": (lambda d, s: (s / "manifest.json").unlink(), "snapshot is incomplete"),
    "other format": (lambda d, s: edit_manifest(s, lambda m: m.update(format="pickle")), "not a manifest"),
    "wrong version": (lambda d, s: edit_manifest(s, lambda m: m.update(format_version=2)),
                      f"format version 2, but this zbudjit reads versions 3 and {FORMAT_VERSION}"),
    "later version": (lambda d, s: edit_manifest(s, lambda m: m.update(format_version=5)),
                      "format version 5, but"),
    "edited manifest": (lambda d, s: edit_manifest(s, lambda m: m["config"].update(pages=10**6),
                                                   reseal=False), "manifest.json is corrupted"),
    "flipped manifest bit": (lambda d, s: flip_byte(s / "manifest.json", 400), "manifest.json"),
    "no version": (lambda d, s: edit_manifest(s, lambda m: m.pop("format_version")), "format version None"),
    "truncated table": (lambda d, s: truncate(s / "_pages.npy"), "_pages.npy holds"),
    "truncated arena": (lambda d, s: truncate(s / "_arena.npy"), "truncated"),
    "flipped data byte": (lambda d, s: flip_byte(s / "_handles.npy", -1), "_handles.npy is corrupted"),
    "flipped arena byte": (lambda d, s: flip_byte(s / "_arena.npy", 5000), "_arena.npy is corrupted"),
    "flipped header byte": (lambda d, s: flip_byte(s / "_counters.npy", 10), "not a readable .npy"),
    "missing table file": (lambda d, s: (s / "_blocks.npy").unlink(), "_blocks.npy is missing"),
    "table not in manifest": (lambda d, s: edit_manifest(s, lambda m: m["arrays"].pop("_lru_log")),
                              "lacks _lru_log"),
    "dtype not the pool's": (lambda d, s: edit_manifest(s, set_entry("_counters", dtype="<i4")),
                             "_counters is saved with dtype int32"),
    "record not the pool's": (lambda d, s: edit_manifest(s, set_entry(
        "_handles", dtype=[["address", "<i8"], ["size", "<u4"], ["gen", "<u4"]])), "table _handles"),
    "not a dtype": (lambda d, s: edit_manifest(s, set_entry("_pages", dtype="float128x")),
                    "not a NumPy dtype"),
    "fixed shape changed": (
        lambda d, s: edit_manifest(s, set_entry("_counters", shape=[t.N_COUNTERS + 1], length=t.N_COUNTERS + 1)),
        f"_counters is saved with shape ({t.N_COUNTERS + 1},)"),
    "header disagrees": (lambda d, s: edit_manifest(s, set_entry("_pages", shape=[7])),
                         "but the manifest says"),
    "file outside the save": (lambda d, s: edit_manifest(s, set_entry("_pages", file="../../x.npy")),
                              "not a file of a save"),
    "bad configuration": (lambda d, s: edit_manifest(s, lambda m: m["config"].update(page_size=5000)),
                          "configuration is not valid"),
    "geometry disagrees": (lambda d, s: edit_manifest(s, lambda m: m["config"].update(
        reserve_header_chunk=True)), "geometry"),
    "scalar over a method": (lambda d, s: edit_manifest(s, lambda m: m["scalars"].update(alloc=1)),
                             "cannot be an attribute"),
    "no arena entry": (lambda d, s: edit_manifest(s, lambda m: m.pop("arena")), "'arena' is missing"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_save_is_refused_with_a_clear_message(saved, damage):
    corrupt, message = DAMAGE[damage]
    corrupt(*saved)
    with pytest.raises(SaveError, match=re.escape(message)):
        open_pool(saved[0])


def test_tables_that_contradict_each_other_are_refused_by_check(saved):
    directory, snapshot_dir = saved
    counters = np.load(snapshot_dir / "_counters.npy")
    counters[t.C_OBJECTS] += 1
    rewrite_array(snapshot_dir, "_counters", counters)
    with pytest.raises(zj.CorruptionError, match="has tables that contradict each other: "):
        open_pool(directory)


def test_missing_or_resized_arena_file_is_refused(tmp_path):
    pool, _ = busy_pool(objects=50, path=tmp_path / "arena.bin")
    save(pool, tmp_path / "save")
    arena = pool.path
    pool.close()                              # unmap before the file shrinks under the mapping
    os.truncate(arena, 4096)
    with pytest.raises(SaveError, match=f"cannot map the arena file {re.escape(arena)} .*holds 4096 bytes"):
        open_pool(tmp_path / "save")
    os.remove(arena)
    with pytest.raises(SaveError, match=f"arena file {re.escape(arena)} .* is missing"):
        open_pool(tmp_path / "save")


def test_missing_directory_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist") as error:
        open_pool(tmp_path / "nothing here")
    assert isinstance(error.value, zj.PoolError)
    (tmp_path / "a file").write_text("x")
    with pytest.raises(SaveError, match="not a save directory"):
        open_pool(tmp_path / "a file")


def test_save_refuses_someone_elses_directory(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.jpg").write_bytes(b"\xff\xd8")
    pool = zj.Pool(pages=4)
    with pytest.raises(SaveError, match="not empty and is not a zbudjit save directory .*cat.jpg"):
        save(pool, folder)
    assert os.listdir(folder) == ["cat.jpg"]
    with pytest.raises(SaveError, match="not a directory"):
        save(pool, folder / "cat.jpg")
    with pytest.raises(TypeError, match="zbudjit.Pool"):
        save("not a pool", tmp_path / "save")
    (tmp_path / "empty").mkdir()
    reopened(pool, tmp_path / "empty")
