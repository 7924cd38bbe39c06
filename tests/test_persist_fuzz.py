"""Pool.open on damaged saves: only SaveError or CorruptionError ever escapes, the process never
crashes, and a pool that opens passes check() and keeps working (free, alloc, write, compact,
reclaim, check) without a fault.

The damage is of two kinds. Blind damage (a flipped bit or byte, a truncated, extended or deleted
file, in the manifest, the pointer or any table) is what a disk or a copy does; the checksums
catch most of it. Sealed damage changes a table (a record's field, a counter, a table's length or
size, a manifest field) and then gives the files and the manifest the checksums of their new
contents, as a crafted or buggy save would: only the audit of the tables against each other can
refuse it, and it must, before any kernel indexes with what it holds.

ZBUDJIT_FUZZ_EXAMPLES raises the number of examples for a longer run (with NUMBA_BOUNDSCHECK=1
and a fresh NUMBA_CACHE_DIR, an index out of bounds in a kernel is then an IndexError rather
than a quiet read or a crash).
"""

import contextlib
import json
import os
import re
import shutil
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import zbudjit as zj
from zbudjit import persist
from zbudjit.persist import SaveError, open_pool, save

EXAMPLES = int(os.environ.get("ZBUDJIT_FUZZ_EXAMPLES", "200"))
REFUSALS = (SaveError, zj.CorruptionError)


def history(pool, seed):
    """Objects of many sizes stored, some freed, more stored: free and reused slots, released
    pages, stale stack and LRU entries, zspages with freed slots."""
    rng = np.random.default_rng(seed)
    for _ in range(3):
        sizes = rng.integers(1, pool.max_size + 1, 40)
        data = rng.integers(0, 256, int(sizes.sum()), dtype=np.uint8)
        pool.store(data, np.concatenate([[0], np.cumsum(sizes)]))
        live = pool.handles()
        pool.free(live[rng.random(live.size) < 0.4])
    pool.check()
    return pool


TEMPLATES = {
    "zbud": dict(pages=160),
    "zbud-header-64k": dict(pages=60, page_size=65536, reserve_header_chunk=True),
    "zsmalloc": dict(pages=600, policy="zsmalloc"),
    "zbud-file": dict(pages=160, file=True),
    "zsmalloc-file": dict(pages=600, policy="zsmalloc", chain_size=4, file=True),
}


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    """Each template's folder: ``save/`` and, for a file-backed pool, ``arena.bin``."""
    made = {}
    for name, options in TEMPLATES.items():
        options = dict(options)
        root = tmp_path_factory.mktemp(name)
        path = root / "arena.bin" if options.pop("file", False) else None
        pool = history(zj.Pool(path=path, **options), seed=len(made))
        save(pool, root / "save")
        freed = np.array([h for h in range(1, 2000, 7)], np.uint64) | np.uint64(1 << 32)
        made[name] = (root, freed)
        pool.close()
    return made


@contextlib.contextmanager
def workspace(template):
    """An empty folder beside the template, the same path every time: a file-backed save's
    manifest then names the same arena path, so the manifests of all examples are alike."""
    work = os.path.join(os.path.dirname(template), "work")
    shutil.rmtree(work, ignore_errors=True)
    os.mkdir(work)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def materialise(template, into):
    """A copy of the template to damage; a file-backed save is pointed at its own arena copy."""
    root = os.path.join(into, "copy")
    shutil.copytree(template, root)
    directory = os.path.join(root, "save")
    if os.path.exists(os.path.join(root, "arena.bin")):
        snapshot = live_snapshot(directory)
        manifest = read_manifest(snapshot)
        manifest["config"]["path"] = os.path.join(root, "arena.bin")
        write_manifest(snapshot, manifest)
    return directory


def live_snapshot(directory):
    with open(os.path.join(directory, "CURRENT")) as pointer:
        return os.path.join(directory, pointer.read().strip())


def read_manifest(snapshot):
    with open(os.path.join(snapshot, "manifest.json"), "rb") as file:
        return json.loads(file.read())


def write_manifest(snapshot, manifest, seal=True):
    """Write the manifest, with (``seal``) the checksum of what it now says."""
    if seal:
        manifest[persist.MANIFEST_CHECKSUM] = persist._manifest_crc32(manifest)
    with open(os.path.join(snapshot, "manifest.json"), "wb") as file:
        file.write(persist._manifest_text(manifest))


def entries(manifest):
    """Every file entry of a manifest: (where it sits in the manifest, the entry)."""
    found = [(("arrays", name), entry) for name, entry in sorted(manifest["arrays"].items())]
    if manifest.get("arena"):
        found += [(("arena", key), entry) for key, entry in sorted(manifest["arena"].items())]
    return found


def reseal(snapshot, manifest, entry):
    """Give ``entry`` the size and crc32 of its file as it now is."""
    with open(os.path.join(snapshot, entry["file"]), "rb") as file:
        data = file.read()
    entry["nbytes"], entry["crc32"] = len(data), zlib.crc32(data)
    write_manifest(snapshot, manifest)


def interesting(value, draw):
    """A value near ``value`` or at an edge a kernel might trip on."""
    edges = [value - 1, value + 1, 0, -1, 1, 2 * value + 1, 63, 64, 1023, 4096, 0x7FFF, 0x8000,
             0xFFFE, 0xFFFF, 2**31 - 1, 2**31, 2**32 - 2, 2**32 - 1, 2**32, 2**48, 2**62,
             2**63 - 1, -2**63]
    return draw(st.sampled_from(edges) | st.integers(0, 2 * abs(value) + 2)
                | st.integers(-2**63, 2**63 - 1))


def fit(value, dtype):
    """``value`` wrapped into an integer dtype, as storing it into a table would."""
    bits = dtype.itemsize * 8
    wrapped = value & ((1 << bits) - 1)
    if dtype.kind == "i" and wrapped >= 1 << (bits - 1):
        wrapped -= 1 << bits
    return wrapped


# ---------------------------------------------------------------------------------------------
# Damage


def blind(draw, directory, snapshot):
    """Damage any file as a disk or a copy would: nothing is resealed."""
    names = sorted(os.listdir(snapshot))
    paths = [os.path.join(snapshot, name) for name in names] + [os.path.join(directory, "CURRENT")]
    path = draw(st.sampled_from(paths))
    kind = draw(st.sampled_from(["flip", "byte", "truncate", "extend", "delete"]))
    with open(path, "rb") as file:
        data = bytearray(file.read())
    if kind == "delete":
        os.unlink(path)
        return
    # positions are drawn as fractions of the file: its size must not steer what is drawn
    where = draw(st.sampled_from([0, 2**32 - 1]) | st.integers(0, 2**32 - 1)) * len(data) >> 32
    if kind == "extend":
        data += draw(st.binary(min_size=1, max_size=64))
    elif not data:
        return
    elif kind == "truncate":
        data = data[:where]
    elif kind == "flip":
        data[where] ^= 1 << draw(st.integers(0, 7))
    else:
        data[where] = draw(st.integers(0, 255))
    with open(path, "wb") as file:
        file.write(data)


def sealed_record(draw, directory, snapshot):
    """One field of one record of one table (a counter, a handle's address, a block word, ...)
    set to an edge value, and the save resealed."""
    manifest = read_manifest(snapshot)
    _, entry = draw(st.sampled_from(entries(manifest)))
    path = os.path.join(snapshot, entry["file"])
    table = np.load(path)
    if table.size == 0:
        return
    flat = table.reshape(-1)
    index = draw(st.sampled_from([0, flat.size - 1]) | st.integers(0, flat.size - 1))
    if table.dtype.names:
        field = draw(st.sampled_from(table.dtype.names))
        kind = table.dtype.fields[field][0]
        flat[index][field] = fit(interesting(int(flat[index][field]), draw), kind)
    else:
        flat[index] = fit(interesting(int(flat[index]), draw), table.dtype)
    np.save(path, table, allow_pickle=False)
    reseal(snapshot, manifest, entry)


def sealed_bytes(draw, directory, snapshot):
    """A few random bytes of a table's data changed, and the save resealed."""
    manifest = read_manifest(snapshot)
    _, entry = draw(st.sampled_from(entries(manifest)))
    path = os.path.join(snapshot, entry["file"])
    table = np.load(path)
    raw = table.reshape(-1).view(np.uint8)
    if raw.size == 0:
        return
    for _ in range(draw(st.integers(1, 8))):
        raw[draw(st.integers(0, raw.size - 1))] = draw(st.integers(0, 255))
    np.save(path, table, allow_pickle=False)
    reseal(snapshot, manifest, entry)


def sealed_resize(draw, directory, snapshot):
    """A table cut short or lengthened (zeros or copies of its records), its shape and perhaps
    its length changed to match, and the save resealed: the issue's free-slot table shorter than
    the slot watermark is one of these."""
    manifest = read_manifest(snapshot)
    _, entry = draw(st.sampled_from(entries(manifest)))
    path = os.path.join(snapshot, entry["file"])
    table = np.load(path)
    if table.ndim == 0:
        return
    rows = table.shape[0]
    new_rows = draw(st.sampled_from([0, 1, max(rows - 1, 0), rows + 1, 2 * rows + 3])
                    | st.integers(0, 2 * rows + 3))
    if new_rows <= rows:
        table = table[:new_rows]
    else:
        extra = np.zeros((new_rows - rows,) + table.shape[1:], table.dtype)
        if rows and draw(st.booleans()):
            extra[:] = table[-1]
        table = np.concatenate([table, extra])
    np.save(path, np.ascontiguousarray(table), allow_pickle=False)
    entry["shape"] = list(table.shape)
    if "length" in entry and draw(st.booleans()):
        entry["length"] = new_rows if draw(st.booleans()) else interesting(entry["length"], draw)
    reseal(snapshot, manifest, entry)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**64, 2**64) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6)


def sealed_manifest(draw, directory, snapshot):
    """One value anywhere in the manifest replaced (or a key removed), resealed or not."""
    manifest = read_manifest(snapshot)
    node, key = manifest, None
    for _ in range(draw(st.integers(1, 4))):
        keys = sorted(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = draw(st.sampled_from(keys))
        if not isinstance(node[key], (dict, list)):
            break
        if draw(st.booleans()):
            break
        node = node[key]
        key = None
    if key is None:
        return
    if isinstance(node, dict) and draw(st.integers(0, 5)) == 0:
        del node[key]
    else:
        current = node[key]
        if isinstance(current, int) and not isinstance(current, bool) and draw(st.booleans()):
            node[key] = interesting(current, draw)
        else:
            node[key] = draw(JSON_VALUES)
    write_manifest(snapshot, manifest, seal=draw(st.integers(0, 4)) > 0)


DAMAGE = [blind, sealed_record, sealed_record, sealed_record, sealed_bytes, sealed_resize,
          sealed_resize, sealed_manifest]


# ---------------------------------------------------------------------------------------------
# A pool that opens must work


def exercise(pool, freed):
    """Everything a user may do with an opened pool; only PoolFullError (and InvalidHandleError
    for handles it does not hold) may be raised, and every check() must pass."""
    pool.check()
    handles = pool.handles()
    pool.read(handles)
    pool.locate(handles)
    pool.sizes(handles)
    pool.stats()
    pool.page_fill()
    with pytest.raises(zj.InvalidHandleError):
        pool.free(np.concatenate([handles[:1], freed[:5], np.array([2**64 - 1], np.uint64)]))
    pool.free(handles[::2])
    pool.check()
    try:
        new = pool.alloc([1, 33, pool.max_size, 700, 4000 % pool.max_size + 1] * 3)
        sizes = pool.sizes(new)
        pool.write(new, np.zeros(int(sizes.sum()), np.uint8), np.concatenate([[0], np.cumsum(sizes)]))
    except zj.PoolFullError:
        pass
    pool.check()
    with pytest.raises(zj.PoolFullError):    # a batch undone half way: every page it took given back
        pool.alloc(np.full(pool.pages_total + 1, pool.max_size))
    pool.check()
    pool.compact()
    pool.check()
    if pool.policy == "zbud":
        pool.reclaim(2, lambda h, d, o: None)
        pool.lru_order()
        pool.check()
    pool.free(pool.handles())
    pool.check()


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_damaged_saves_are_refused_or_open_to_a_sound_pool(templates, data):
    name = data.draw(st.sampled_from(sorted(templates)), label="template")
    template, freed = templates[name]
    with workspace(template) as work:
        directory = materialise(template, work)
        snapshot = live_snapshot(directory)
        for _ in range(data.draw(st.integers(1, 3), label="damages")):
            if not os.path.isdir(snapshot):
                break
            damage = data.draw(st.sampled_from(DAMAGE), label="damage")
            try:
                damage(data.draw, directory, snapshot)
            except Exception:            # an earlier damage left nothing this one can read
                pass
        try:
            pool = open_pool(directory)
        except REFUSALS as error:
            event(f"refused: {type(error).__name__}: {reason(error)}")
            return
        event("opened")
        try:
            exercise(pool, freed)
        finally:
            pool.close()


def reason(error):
    """What a refusal says, without its paths and numbers (for --hypothesis-show-statistics)."""
    text = re.sub(r"/\S*", "", str(error))
    text = re.sub(r"0x[0-9a-f]+|-?\d+", "N", text)
    return text.split("contradict each other: ")[-1][:70]


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_undamaged_templates_open_and_work(templates, name):
    template, freed = templates[name]
    with workspace(template) as work:
        pool = open_pool(materialise(template, work))
        try:
            exercise(pool, freed)
        finally:
            pool.close()
