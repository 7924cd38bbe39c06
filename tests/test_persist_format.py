"""What a save holds (format 4): only what the pool uses, so two saves of one pool state are byte
for byte the same and a save is proportional to the live data; saves of format 3 still open;
the arena file of a file-backed pool is never a file the save writes or removes, and is locked
while its pool is open."""

import hashlib
import json
import os
import pathlib
import shutil
import zlib

import numpy as np
import pytest

import zbudjit as zj
from zbudjit import persist
from zbudjit.engine import tables as t
from zbudjit.engine.files import LockedFile
from zbudjit.persist import FORMAT_VERSION, SaveError, open_pool, save
from helpers import snapshot

DATA = pathlib.Path(__file__).parent / "data"
SECRET = b"not-the-pool's-bytes: a password of the process"


def files_of(directory):
    """Every file under ``directory``: relative path -> bytes."""
    return {str(path.relative_to(directory)): path.read_bytes()
            for path in sorted(pathlib.Path(directory).rglob("*")) if path.is_file()}


def saved_bytes(directory):
    return sum(len(data) for data in files_of(directory).values())


def pool_with_history(policy, path=None, origin=12345):
    """The same pool state every call (the generation origin fixed as a fresh pool draws it):
    grown tables, freed slots, released pages."""
    options = {"policy": policy} if policy != "zbud" else {}
    pool = zj.Pool(pages=3000, path=path, **options)
    pool._counters[t.C_GENERATION_ORIGIN] = origin
    rng = np.random.default_rng(5)
    for _ in range(3):
        sizes = rng.integers(1, pool.max_size + 1, 700)
        data = rng.integers(0, 256, int(sizes.sum()), dtype=np.uint8)
        pool.store(data, np.concatenate([[0], np.cumsum(sizes)]))
        live = pool.handles()
        pool.free(live[rng.random(live.size) < 0.5])
    assert pool._handles.size > 1024 and pool._counters[t.C_RELEASED] > 0
    return pool


def scribble(pool):
    """Write bytes the pool does not use (never-used table records, the free-slot stack above
    its top, the LRU log past its end, released pages) as other objects of a process would have
    left them in memory: none of it may reach a save."""
    c = pool._counters
    secret = np.frombuffer(SECRET * 64, np.uint8)

    def fill(table, start):
        raw = table[start:].view(np.uint8).reshape(-1)
        raw[:] = np.resize(secret, raw.size)
    fill(pool._handles, int(c[t.C_SLOT_WATERMARK]))
    fill(pool._free_slots, int(c[t.C_SLOTS_FREE]))
    fill(pool._lru_log, int(c[t.C_LRU_LEN]))
    fill(pool._lru_log[:t.LRU_NONE + 1], 0)        # the entry that is never used
    fill(pool._blocks, int(c[t.C_BLOCK_WATERMARK]) * t.BLOCK_WORDS)
    released = np.flatnonzero(persist._released_pages(pool._pages, pool._counters)[1])
    assert released.size
    pages = pool._arena.reshape(-1, pool.page_size)
    pages[released] = np.resize(secret, pool.page_size)


# ---------------------------------------------------------------------------------------------
# A save holds only what the pool uses


@pytest.mark.parametrize("policy", ["zbud", "zsmalloc"])
def test_saves_of_one_pool_state_are_byte_identical_and_hold_nothing_else(tmp_path, policy):
    first, second = pool_with_history(policy), pool_with_history(policy)
    scribble(second)
    assert snapshot(first, lru=policy == "zbud") == snapshot(second, lru=policy == "zbud")
    save(first, tmp_path / "a")
    save(first, tmp_path / "b")
    save(second, tmp_path / "c")
    a, b, c = (files_of(tmp_path / name) for name in "abc")
    assert a == b == c                       # every file, manifests and CURRENT included
    assert not any(SECRET[:16] in data for data in c.values())
    restored = open_pool(tmp_path / "c")
    save(restored, tmp_path / "d")
    assert files_of(tmp_path / "d") == a     # the opened pool is the same state again
    manifest = json.loads(a[next(name for name in a if name.endswith("manifest.json"))])
    assert manifest["format_version"] == FORMAT_VERSION == 4


def test_saves_of_a_file_backed_pool_are_byte_identical(tmp_path):
    pool = pool_with_history("zbud", path=tmp_path / "arena.bin")
    save(pool, tmp_path / "a")
    save(pool, tmp_path / "b")
    pool.close()
    restored = open_pool(tmp_path / "a")
    save(restored, tmp_path / "c")
    assert files_of(tmp_path / "a") == files_of(tmp_path / "b") == files_of(tmp_path / "c")
    assert saved_bytes(tmp_path / "a") < 200_000        # the tables only: the arena stays in its file
    restored.close()


def table_bytes(pool):
    """Bytes of the records in use of every table, as a save keeps them."""
    total = 0
    for name, value in vars(pool).items():
        if isinstance(value, np.ndarray) and name not in persist.NOT_SAVED:
            used = persist._used_records(pool._policy, pool._counters, name, value.shape[0])
            total += value[:used].nbytes if used is not None else value.nbytes
    return total


@pytest.mark.parametrize("policy", ["zbud", "zsmalloc"])
def test_save_of_a_compacted_pool_is_proportional_to_its_live_data(tmp_path, policy):
    """A full pool, most of it freed and compacted: the save holds the pages in use and the
    tables' records in use, not the pages the pool once used."""
    options = {"policy": policy} if policy != "zbud" else {}
    pool = zj.Pool(pages=16384, **options)                        # 64 MiB
    rng = np.random.default_rng(2)
    handles = pool.alloc(rng.integers(500, 2001, 25_000))
    watermark = int(pool._counters[t.C_PAGE_WATERMARK])
    pool.free(handles[rng.random(handles.size) < 0.95])
    kept = pool.handles()
    pool.write(kept, rng.integers(0, 256, int(pool.sizes(kept).sum()), dtype=np.uint8),
               np.concatenate([[0], np.cumsum(pool.sizes(kept))]))
    pool.compact()
    assert pool.pages_used < watermark / 10
    save(pool, tmp_path / "save")
    expected = pool.pages_used * pool.page_size + table_bytes(pool)
    overhead = saved_bytes(tmp_path / "save") - expected
    assert 0 <= overhead < 16 * 1024               # .npy headers, the manifest and CURRENT
    assert saved_bytes(tmp_path / "save") < watermark * pool.page_size / 5
    lru = policy == "zbud"
    assert snapshot(open_pool(tmp_path / "save"), lru=lru) == snapshot(pool, lru=lru)


# ---------------------------------------------------------------------------------------------
# Format 3


FORMAT3 = ["format3-zbud-615141a", "format3-zsmalloc-1f77b1b"]


@pytest.mark.parametrize("name", FORMAT3)
def test_format_3_save_opens_checks_and_keeps_working(tmp_path, name):
    """Saves written by zbudjit 615141a (zbud) and 1f77b1b (zsmalloc), made by
    tests/data/make_format3_saves.py: whole tables, the arena's used prefix, 17 counters."""
    directory = tmp_path / name
    shutil.copytree(DATA / name, directory)
    expected = json.loads((DATA / f"{name}.json").read_text())
    assert json.loads(next(directory.glob("snapshot-*/manifest.json")).read_text())["format_version"] == 3
    pool = open_pool(directory)
    pool.check()
    assert pool._counters.tolist() == expected["counters"] + [0]       # generation origin 0
    handles = pool.handles()
    assert handles.tolist() == [item["handle"] for item in expected["objects"]]
    data, offsets = pool.read(handles)
    pfns, in_page = pool.locate(handles)
    for i, item in enumerate(expected["objects"]):
        assert (int(pfns[i]), int(in_page[i]), int(offsets[i + 1] - offsets[i])) == \
            (item["pfn"], item["offset"], item["size"])
        assert hashlib.sha256(data[offsets[i]:offsets[i + 1]]).hexdigest() == item["sha256"]
    if expected["lru"] is not None:
        assert pool.lru_order().tolist() == expected["lru"]
    for handle in expected["freed"]:
        with pytest.raises(zj.InvalidHandleError):
            pool.read(np.array([handle], np.uint64))

    # it keeps working: new slots start at generation 0, as the pool's always did
    pool.free(handles[::2])
    data = (np.arange(600) % 251).astype(np.uint8)
    new = pool.store(data, [0, 100, 600])
    assert pool.read(new)[0].tolist() == data.tolist()
    pool.compact()
    pool.check()
    save(pool, tmp_path / "again")
    manifest = json.loads(next((tmp_path / "again").glob("snapshot-*/manifest.json")).read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert snapshot(open_pool(tmp_path / "again"), lru=pool.policy == "zbud") == \
        snapshot(pool, lru=pool.policy == "zbud")
    # and the format-3 directory itself takes the new save
    save(pool, directory)
    assert snapshot(open_pool(directory), lru=False) == snapshot(pool, lru=False)


def test_format_3_save_with_damage_is_refused(tmp_path):
    directory = tmp_path / "old"
    shutil.copytree(DATA / FORMAT3[0], directory)
    arena = next(directory.glob("snapshot-*/_arena.npy"))
    data = bytearray(arena.read_bytes())
    data[-1] ^= 1
    arena.write_bytes(bytes(data))
    with pytest.raises(SaveError, match="_arena.npy is corrupted"):
        open_pool(directory)


# ---------------------------------------------------------------------------------------------
# The arena file and the save's own files


@pytest.mark.parametrize("name", ["CURRENT", "CURRENT.tmp", "snapshot-000001", "snapshot-000042",
                                  "manifest.json"])
def test_arena_file_named_like_a_file_of_the_save_is_refused(tmp_path, name):
    """save() would rename over it, overwrite it or remove it with the old snapshots (or, the
    manifest's name, it would at least look like a file of the save)."""
    directory = tmp_path / "save"
    directory.mkdir()
    pool = zj.Pool(pages=16, path=directory / name)
    handles = pool.store(np.full(3000, 7, np.uint8), [0, 1000, 3000])
    with pytest.raises(SaveError, match=f"arena file .* is named {name}, which the save writes or removes"):
        save(pool, directory)
    assert os.listdir(directory) == [name]
    assert (directory / name).stat().st_size == 16 * 4096
    assert pool.read(handles)[0].tolist() == [7] * 3000
    save(pool, tmp_path / "elsewhere")                # saving elsewhere is fine
    pool.close()


def test_arena_file_inside_a_snapshot_is_refused_and_never_removed(tmp_path):
    directory = tmp_path / "save"
    other = zj.Pool(pages=4)
    save(other, directory)
    snapshot_dir = next(directory.glob("snapshot-*"))
    pool = zj.Pool(pages=16, path=snapshot_dir / "arena.bin")
    with pytest.raises(SaveError, match=f"arena file .* is inside {snapshot_dir.name}"):
        save(pool, directory)
    # the other pool's next save would remove that snapshot, and the arena file with it
    with pytest.raises(SaveError, match=f"{snapshot_dir.name} .not a snapshot a save wrote"):
        save(other, directory)
    assert (snapshot_dir / "arena.bin").exists()
    pool.close()


def test_another_pools_arena_named_like_a_pointer_is_never_overwritten(tmp_path):
    """A pool made with its arena at CURRENT.tmp in someone's save directory: the next save
    there must not truncate it (a save's own CURRENT.tmp is a few bytes)."""
    directory = tmp_path / "save"
    owner = zj.Pool(pages=4)
    save(owner, directory)
    stranger = zj.Pool(pages=16, path=directory / "CURRENT.tmp")
    handles = stranger.store(np.full(100, 9, np.uint8), [0, 100])
    with pytest.raises(SaveError, match=r"CURRENT.tmp \(not a pointer a save wrote\)"):
        save(owner, directory)
    assert stranger.read(handles)[0].tolist() == [9] * 100
    assert open_pool(directory).pages_total == 4                      # the old save still opens
    stranger.close()


def test_arena_file_beside_the_save_files_is_allowed(tmp_path):
    directory = tmp_path / "save"
    directory.mkdir()
    pool = zj.Pool(pages=16, path=directory / "CURRENT.arena")
    handles = pool.store(np.full(50, 3, np.uint8), [0, 50])
    save(pool, directory)
    save(pool, directory)                               # a second save leaves it too
    pool.close()
    restored = open_pool(directory)
    assert restored.read(handles)[0].tolist() == [3] * 50
    restored.close()


# ---------------------------------------------------------------------------------------------
# File locks


def test_file_backed_save_is_refused_while_its_pool_is_open(tmp_path):
    pool = pool_with_history("zbud", path=tmp_path / "arena.bin")
    save(pool, tmp_path / "save")
    with pytest.raises(zj.FileInUseError, match="in use"):
        open_pool(tmp_path / "save")
    assert isinstance(zj.FileInUseError("x"), zj.PoolError)
    expected = snapshot(pool)
    pool.close()
    restored = open_pool(tmp_path / "save")
    assert snapshot(restored) == expected
    with pytest.raises(zj.FileInUseError):               # the opened pool holds it in turn
        open_pool(tmp_path / "save")
    restored.close()
    with open_pool(tmp_path / "save") as again:
        again.check()
    open_pool(tmp_path / "save").close()                 # leaving the with block closed it


def test_a_refused_open_lets_go_of_the_arena_file(tmp_path):
    """An open that maps the arena and then finds contradicting tables closes the file again."""
    pool = pool_with_history("zbud", path=tmp_path / "arena.bin")
    save(pool, tmp_path / "save")
    pool.close()
    snapshot_dir = next((tmp_path / "save").glob("snapshot-*"))
    manifest = json.loads((snapshot_dir / "manifest.json").read_text())
    pages = np.load(snapshot_dir / "_pages.npy")
    pages[0]["lru_pos"] += 1                    # only check() can tell
    np.save(snapshot_dir / "_pages.npy", pages)
    data = (snapshot_dir / "_pages.npy").read_bytes()
    manifest["arrays"]["_pages"].update(nbytes=len(data), crc32=zlib.crc32(data))
    manifest[persist.MANIFEST_CHECKSUM] = persist._manifest_crc32(manifest)
    (snapshot_dir / "manifest.json").write_bytes(persist._manifest_text(manifest))
    with pytest.raises(zj.CorruptionError, match="contradict each other"):
        open_pool(tmp_path / "save")
    LockedFile(str(tmp_path / "arena.bin"), pool.pages_total * pool.page_size, False, "arena file").close()


def test_a_closed_pool_is_not_saved(tmp_path):
    pool = zj.Pool(pages=4)
    pool.close()
    with pytest.raises(zj.PoolError, match="closed"):
        save(pool, tmp_path / "save")
    assert not (tmp_path / "save").exists()
