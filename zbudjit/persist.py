"""Saving a :class:`~zbudjit.Pool` to a directory and opening it again, atomically.

On-disk layout (format 4)
-------------------------
A save directory holds one live snapshot and a pointer naming it::

    directory/
        CURRENT                 one line, the name of the live snapshot ("snapshot-000007")
        snapshot-000007/
            manifest.json       format name and version, zbudjit version, configuration, plain
                                scalar attributes, per saved file its dtype, shape, size and crc32,
                                and ``manifest_crc32``, the crc32 of the rest of the manifest
            _pages.npy          one .npy file (never pickled) per ndarray attribute of the pool.
            _handles.npy        A table that grows with use holds only its records in use, as
            ...                 counted by the counters (:data:`USED_RECORDS`; the policy's page
                                tables up to the page watermark), and its entry gives the table's
                                ``length`` in the pool: the records after those were never used,
                                or are stale, and open as zeros. Every other table is saved whole.
            _arena-pfns.npy     RAM pools only: the pfns of the pages in use, ascending (uint32)
            _arena.npy          RAM pools only: those pages' bytes, one row a page

A save holds nothing but what the pool uses: no uninitialised table memory, no released page. It
is therefore proportional to the live data (a pool compacted from 2 GB to 50 MB of objects saves
50 MB of pages, and its tables up to their watermarks), and two saves of one pool are byte for
byte the same (the manifest has no timestamp and its keys are sorted). A page in use is saved
whole, with the bytes of objects freed from it (zsmalloc keeps its free-slot lists there).

A file-backed pool's arena is not copied: the save flushes the mapping and records the file's path
(``config.path``), and opening maps that file again. Such a save is therefore only as good as the
file: writes to the arena after the save show through when the save is opened. The arena file may
sit in the save directory, but not under a name the save itself writes or removes (``CURRENT``,
``CURRENT.tmp``, ``snapshot-*``, or anywhere inside a snapshot): :func:`save` refuses that.

A save writes a complete new snapshot next to the live one (every file fsync'ed, the manifest
last), then writes the new name to ``CURRENT.tmp``, fsyncs it and renames it over ``CURRENT`` (and
fsyncs the directory): the rename is the commit. Older snapshots are removed afterwards. A save
killed at any point leaves ``CURRENT`` naming the previous, complete snapshot; the next save removes
the debris. Saves into one directory are serialised with ``flock`` on the directory, and opening
takes a shared lock, so a save never removes a snapshot that is being read.

Opening checks every file against the manifest (sizes, headers, crc32s), then the counters and the
sizes of the tables against each other (in plain Python, before a table is read into its size),
then the pool's :meth:`~zbudjit.Pool.check`: no kernel touches a table before all of that holds.
Saves of format 3 (zbudjit before the generation origin: whole tables, the arena's used prefix,
no manifest checksum) still open; the next save writes format 4.
"""

import contextlib
import fcntl
import json
import math
import os
import re
import shutil
import stat
import tokenize
import zlib

import numpy as np
from numba import njit

from .engine import tables as t
from . import pool as pool_module
from .errors import CorruptionError, PoolError

FORMAT_NAME = "zbudjit-pool"
#: Bump when the meaning of a saved table changes, not only its dtype (for example a new sentinel
#: value in a field): dtypes are checked on opening, meanings cannot be.
#: 2: free handle slots in their own stack array; 3: stacks of blocks; 4: tables saved up to their
#: records in use, the arena's pages in use only, the generation origin, a manifest checksum.
FORMAT_VERSION = 4
READABLE_VERSIONS = (3, 4)

#: Pool attributes a save leaves out. Opening rebuilds ``_policy`` from the configuration and
#: ``_arena`` (and ``_arena_file``) from the save; any other name here is taken from a fresh pool
#: of the same configuration. ``_busy`` is transient: a save taken inside reclaim's writeback
#: callback (the tables are not yet changed then) must not reopen as a pool that refuses every
#: change. ``_lock`` is the pool's own.
NOT_SAVED = {"_policy", "_arena", "_arena_file", "_busy", "_lock"}
#: Scalar attributes that configure the pool (the manifest's "config", with ``pages``), besides
#: the options of the pool's policy (zbud: reserve_header_chunk; zsmalloc: chain_size).
CONFIG = ("policy", "page_size", "path")
#: Tables saved only up to their records in use: ``(counter, per)`` says the first
#: ``counters[counter] * per`` records are. The policy's page tables are saved up to the page
#: watermark. Every other table must have exactly the shape a fresh pool gives it (kernels index
#: them with fixed constants).
USED_RECORDS = {"_handles": (t.C_SLOT_WATERMARK, 1), "_free_slots": (t.C_SLOTS_FREE, 1),
                "_blocks": (t.C_BLOCK_WATERMARK, t.BLOCK_WORDS), "_lru_log": (t.C_LRU_LEN, 1)}
#: The most records each of those tables may have.
MAX_RECORDS = {"_handles": t.MAX_SLOTS, "_free_slots": t.MAX_SLOTS,
               "_blocks": t.MAX_BLOCKS * t.BLOCK_WORDS, "_lru_log": t.MAX_LRU}

POINTER = "CURRENT"
POINTER_TEMP = "CURRENT.tmp"
MANIFEST = "manifest.json"
MANIFEST_CHECKSUM = "manifest_crc32"
ARENA_FILE = "_arena.npy"
ARENA_PFNS_FILE = "_arena-pfns.npy"      # "-": no attribute's file can have this name
CHUNK_BYTES = 4 << 20        # checksums and arena reads go this many bytes at a time
MAX_POINTER_BYTES = 64       # a CURRENT (or CURRENT.tmp) longer than this is not one a save wrote
MAX_DIMENSIONS = 32

_SNAPSHOT = re.compile(r"snapshot-(\d{6,})\Z")
_ATTRIBUTE = re.compile(r"(?!__)[A-Za-z_][A-Za-z0-9_]*\Z")     # also what makes a safe file name
_SNAPSHOT_FILE = re.compile(r"[A-Za-z0-9_.-]+\.(npy|json)\Z")    # what a snapshot (any format) holds
_SCALAR_TYPES = (bool, int, float, str, type(None))


class SaveError(PoolError):
    """A save directory is missing, damaged, someone else's, or written by an incompatible zbudjit."""


class SaveNotFoundError(SaveError, FileNotFoundError):
    """:func:`open_pool` was given a directory that does not exist."""


# ---------------------------------------------------------------------------------------------
# Saving


def save(pool, directory) -> None:
    """Save ``pool`` into ``directory`` so that :func:`open_pool` restores it exactly.

    Parameters
    ----------
    pool : zbudjit.Pool
        The pool to save. It is not changed (a file-backed arena is flushed to its file).
    directory : str or os.PathLike
        Where to save. Created if it does not exist; an existing directory must be empty or a
        previous save, which this one replaces.

    Raises
    ------
    SaveError
        ``directory`` is a file, or a non-empty directory that is not a zbudjit save, or the
        pool's arena file lies in ``directory`` under a name the save writes or removes.
    PoolError
        The pool is closed.
    CorruptionError
        The pool's released-page stack is broken (see :meth:`Pool.check`), so the pages in use
        are not known.
    TypeError
        The pool has an attribute that is neither an ndarray nor a plain scalar, and is not
        listed in :data:`NOT_SAVED`.
    OSError
        Writing failed (for example the disk is full); the previous save stays live.

    Notes
    -----
    The save is atomic: if it is interrupted at any point, even by SIGKILL or a power cut after
    the files reached the disk, the directory still opens to the previous save. A file-backed
    pool's arena is flushed, not copied, so later writes to that arena show through the save.
    Only what the pool uses is written (module notes), so two saves of one pool are identical.
    :meth:`Pool.save` calls this holding the pool's lock; called directly, no other thread may
    change the pool meanwhile.
    """
    if not isinstance(pool, pool_module.Pool):
        raise TypeError(f"save() takes a zbudjit.Pool, not {type(pool).__name__}")
    if pool.closed:
        raise PoolError("cannot save a closed pool")
    arrays, config, scalars = _savable_state(pool)
    pfns = None if pool.path is not None else _pages_in_use(pool)
    directory = os.path.abspath(os.fspath(directory))
    _check_arena_place(pool, directory)
    directory = _make_directory(directory)
    with _locked(directory, fcntl.LOCK_EX) as directory_fd:
        name = _next_snapshot_name(_claim(directory, pool))
        snapshot = os.path.join(directory, name)
        os.mkdir(snapshot)
        try:
            _write_snapshot(snapshot, pool, arrays, config, scalars, pfns)
        except BaseException:
            shutil.rmtree(snapshot, ignore_errors=True)
            raise
        _commit(directory, directory_fd, name)
        _remove_old_snapshots(directory, name)


def _savable_state(pool):
    """Split the pool's attributes into (arrays, config, other scalars); refuse any other kind.

    ``arrays`` maps a name to ``(what is saved, the table's length)``: the records in use of a
    table that grows with use, else the whole array (length None for a 0-d array).
    """
    arrays, config, scalars = {}, {"pages": pool.pages_total}, {}
    for name, value in vars(pool).items():
        if name in NOT_SAVED:
            continue
        if isinstance(value, np.ndarray) and _ATTRIBUTE.match(name):
            length = value.shape[0] if value.ndim else None
            used = _used_records(pool._policy, pool._counters, name, length)
            if used is not None:
                value = value[:used]
                if name == "_lru_log" and used > t.LRU_NONE:
                    value = value.copy()         # entry 0 is never used (not even initialised)
                    value[t.LRU_NONE] = 0
            arrays[name] = (value, length)
        elif type(value) in _SCALAR_TYPES and _ATTRIBUTE.match(name):
            configures = name in CONFIG or name in pool._policy.options
            (config if configures else scalars)[name] = value
        else:
            raise TypeError(
                f"Pool attribute {name!r} holds a {type(value).__name__}, which save() cannot store: "
                "keep it an ndarray or a plain int, float, bool, str or None, or add its name to "
                "zbudjit.persist.NOT_SAVED")
    return arrays, config, scalars


def _used_counter(policy, name):
    """``(counter, per)`` of a table saved up to its records in use, or None for a whole table."""
    if name in policy.page_tables:
        return t.C_PAGE_WATERMARK, 1
    return USED_RECORDS.get(name)


def _used_records(policy, counters, name, length):
    """How many leading records of table ``name`` (of ``length``) are in use; None: all of it."""
    used = _used_counter(policy, name)
    if used is None or length is None:
        return None
    counter, per = used
    return max(0, min(int(counters[counter]) * per, length))


@njit(cache=True, nogil=True)
def _released_pages(pages, counters):
    """``(sound, marks)``: a bool per pfn below the page watermark, True for the pages on the
    released-page stack; ``sound`` is False when the stack leaves the watermark, repeats a page
    or is not ``counters[C_RELEASED]`` pages long (the walk stops there: it cannot loop)."""
    watermark = counters[t.C_PAGE_WATERMARK]
    marks = np.zeros(min(max(watermark, 0), pages.size), np.bool_)
    if marks.size != watermark:
        return False, marks
    pfn = counters[t.C_RELEASED_HEAD]
    walked = 0
    while pfn != -1:
        if pfn < 0 or pfn >= watermark or marks[pfn] or walked >= counters[t.C_RELEASED]:
            return False, marks
        marks[pfn] = True
        walked += 1
        link = pages[pfn].stamp
        pfn = -1 if link == t.NONE32 else np.int64(link)
    return walked == counters[t.C_RELEASED], marks


def _pages_in_use(pool):
    """The pfns of the pages in use, ascending: below the page watermark and not released (a
    released page holds nothing, and it is zero again when the save is opened)."""
    sound, released = _released_pages(pool._pages, pool._counters)
    if not sound:
        raise CorruptionError("cannot save the pool: its released-page stack is broken, so the "
                              "pages in use are not known (Pool.check() says what is wrong)")
    return np.flatnonzero(~released).astype(np.uint32)


def _check_arena_place(pool, directory):
    """SaveError if the pool's arena file is one that saving into ``directory`` would overwrite
    (``CURRENT``, ``CURRENT.tmp``) or remove (a snapshot, or a file inside one), or is named like
    the manifest."""
    if pool.path is None:
        return
    arena, home = os.path.realpath(pool.path), os.path.realpath(directory)
    if arena == home or os.path.commonpath([arena, home]) != home:
        return
    relative = os.path.relpath(arena, home)
    if os.sep in relative:
        place = f"inside {relative.split(os.sep)[0]}"
    elif relative in (POINTER, POINTER_TEMP, MANIFEST) or _SNAPSHOT.match(relative):
        place = f"named {relative}"
    else:
        return                           # beside the save's own files: allowed
    raise SaveError(f"refusing to save into {directory}: the pool's arena file {pool.path} is "
                    f"{place}, which the save writes or removes ({POINTER}, {POINTER_TEMP}, "
                    f"snapshot-*, {MANIFEST}); move the arena file or save elsewhere")


def _make_directory(directory):
    """Create ``directory`` (and parents) if needed and make its entry durable; returns its abspath."""
    try:
        os.makedirs(directory, exist_ok=True)
    except FileExistsError as error:
        raise SaveError(f"cannot save into {directory}: it exists and is not a directory") from error
    _fsync_directory(os.path.dirname(directory))
    return directory


def _claim(directory, pool):
    """The snapshot names in ``directory``; SaveError if it holds anything a save did not write.

    The pool's own arena file may sit in the directory too: it is the pool's, not a stranger's.
    What the save will replace or remove must look like what a save writes: ``CURRENT`` and
    ``CURRENT.tmp`` a few bytes, a snapshot a directory of .npy and .json files (so another
    pool's arena file under such a name is never overwritten or removed).
    """
    own_arena = None
    if pool.path is not None and os.path.realpath(os.path.dirname(pool.path)) == os.path.realpath(directory):
        own_arena = os.path.basename(pool.path)
    snapshots, foreign = [], []
    for entry in sorted(os.listdir(directory)):
        path = os.path.join(directory, entry)
        if entry == own_arena:
            continue
        if entry in (POINTER, POINTER_TEMP):
            if not _is_pointer_file(path):
                foreign.append(f"{entry} (not a pointer a save wrote)")
        elif _SNAPSHOT.match(entry):
            if not _is_snapshot_directory(path):
                foreign.append(f"{entry} (not a snapshot a save wrote)")
            else:
                snapshots.append(entry)
        else:
            foreign.append(entry)
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise SaveError(f"refusing to save into {directory}: it is not empty and is not a zbudjit "
                        f"save directory (it holds {shown}); choose a new or empty directory")
    return snapshots


def _is_pointer_file(path):
    info = os.lstat(path)
    return stat.S_ISREG(info.st_mode) and info.st_size <= MAX_POINTER_BYTES


def _is_snapshot_directory(path):
    if not stat.S_ISDIR(os.lstat(path).st_mode):
        return False
    return all(_SNAPSHOT_FILE.match(entry) and stat.S_ISREG(os.lstat(os.path.join(path, entry)).st_mode)
               for entry in os.listdir(path))


def _next_snapshot_name(snapshots):
    """A name after every existing snapshot, including debris of a save that was killed."""
    last = max((int(_SNAPSHOT.match(name).group(1)) for name in snapshots), default=0)
    return f"snapshot-{last + 1:06d}"


def _write_snapshot(snapshot, pool, arrays, config, scalars, pfns):
    """Write every table, the arena's pages in use, and then the manifest into ``snapshot``."""
    from . import __version__

    entries = {}
    for name, (table, length) in arrays.items():
        entries[name] = _write_array(snapshot, f"{name}.npy", table)
        if length is not None:
            entries[name]["length"] = length
    arena = None
    if pfns is None:
        pool._arena.flush()
    else:
        arena = {"pfns": _write_array(snapshot, ARENA_PFNS_FILE, pfns),
                 "pages": _write_pages(snapshot, pool._arena, pfns, pool.page_size)}
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "zbudjit_version": __version__,
        "config": config,
        "scalars": scalars,
        "arrays": entries,
        "arena": arena,
    }
    manifest[MANIFEST_CHECKSUM] = _manifest_crc32(manifest)
    _write_file(os.path.join(snapshot, MANIFEST), _manifest_text(manifest))
    _fsync_directory(snapshot)


def _manifest_text(manifest):
    """The manifest as a save writes it: sorted keys, so that the text depends only on the pool."""
    return json.dumps(manifest, indent=1, sort_keys=True).encode()


def _manifest_crc32(manifest):
    """The crc32 of a manifest's text without its checksum (the JSON round trip keeps the text)."""
    return zlib.crc32(_manifest_text({key: value for key, value in manifest.items()
                                      if key != MANIFEST_CHECKSUM}))


class _ChecksummedWriter:
    """A file wrapper that keeps a running crc32 and byte count of everything written through it.

    ``np.save`` writes a non-file object in buffered chunks (16 MiB), so a multi-GiB arena is
    checksummed as it is written and is never in memory twice.
    """

    def __init__(self, file):
        self.file = file
        self.crc32 = 0
        self.nbytes = 0

    def write(self, data):
        self.crc32 = zlib.crc32(data, self.crc32)
        self.nbytes += memoryview(data).nbytes
        return self.file.write(data)


def _entry_of(file_name, writer, dtype, shape):
    return {"file": file_name, "dtype": np.lib.format.dtype_to_descr(dtype),
            "shape": list(shape), "nbytes": writer.nbytes, "crc32": writer.crc32}


def _write_array(snapshot, file_name, array):
    """Write ``array`` as a fsync'ed .npy file; returns its manifest entry."""
    array = np.ascontiguousarray(array)
    with open(os.path.join(snapshot, file_name), "xb") as file:
        writer = _ChecksummedWriter(file)
        np.save(writer, array, allow_pickle=False)
        file.flush()
        os.fsync(file.fileno())
    return _entry_of(file_name, writer, array.dtype, array.shape)


def _write_pages(snapshot, arena, pfns, page_size):
    """Write the arena's pages ``pfns`` as one .npy file of one row a page, gathering a chunk of
    pages at a time (never the whole set in memory); returns its manifest entry."""
    rows = arena.reshape(-1, page_size)
    shape = (pfns.size, page_size)
    step = max(1, CHUNK_BYTES // page_size)
    with open(os.path.join(snapshot, ARENA_FILE), "xb") as file:
        writer = _ChecksummedWriter(file)
        np.lib.format.write_array_header_1_0(
            writer, {"descr": "|u1", "fortran_order": False, "shape": shape})   # as np.save writes it
        for start in range(0, pfns.size, step):
            writer.write(rows[pfns[start:start + step]].reshape(-1))
        file.flush()
        os.fsync(file.fileno())
    return _entry_of(ARENA_FILE, writer, np.dtype(np.uint8), shape)


def _commit(directory, directory_fd, name):
    """Point CURRENT at snapshot ``name``: write a temp file, fsync it, rename it over CURRENT.

    A leftover temp file is removed first if it is still a pointer (as :func:`_claim` found it)
    and the new one created exclusively, so a file someone else made under that name is never
    truncated or removed: the save fails instead, before its commit.
    """
    temp = os.path.join(directory, POINTER_TEMP)
    with contextlib.suppress(FileNotFoundError):
        if _is_pointer_file(temp):
            os.unlink(temp)
    try:
        _write_file(temp, f"{name}\n".encode(), exclusive=True)
    except FileExistsError as error:
        raise SaveError(f"cannot commit the save in {directory}: {POINTER_TEMP} is a file a save "
                        "did not write") from error
    os.replace(temp, os.path.join(directory, POINTER))
    os.fsync(directory_fd)


def _remove_old_snapshots(directory, keep):
    """Remove every snapshot but ``keep``. The save has committed, so a failure here is only
    debris (the next save retries) and is not reported."""
    for entry in os.listdir(directory):
        if _SNAPSHOT.match(entry) and entry != keep:
            shutil.rmtree(os.path.join(directory, entry), ignore_errors=True)


def _write_file(path, data, exclusive=False):
    with open(path, "xb" if exclusive else "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _fsync_directory(directory):
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _locked(directory, operation):
    """Hold an flock on ``directory`` (exclusive to save, shared to open); yields its fd."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, operation)
        yield fd
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# Opening


def open_pool(directory) -> "pool_module.Pool":
    """Open the pool last saved into ``directory`` by :func:`save`.

    Parameters
    ----------
    directory : str or os.PathLike
        A directory written by :func:`save` (format 4, or format 3 of earlier zbudjits).

    Returns
    -------
    zbudjit.Pool
        A pool equal to the saved one: the same tables, LRU order, handle generations, counters,
        configuration and object bytes. A file-backed pool maps its arena file again (read-write)
        and holds its lock until it is closed.

    Raises
    ------
    SaveNotFoundError
        ``directory`` does not exist (also a FileNotFoundError).
    SaveError
        The save is incomplete or damaged (a file is missing or truncated, a checksum does not
        match, the manifest is not one a save writes), written in another format or format
        version, saved with tables of another layout than this zbudjit's, or its arena file is
        missing or has the wrong size.
    CorruptionError
        The files are intact but the tables contradict each other: a counter out of range of
        the tables, a table shorter than its counters say, or entries :meth:`Pool.check` refuses.
    FileInUseError
        The save's arena file is mapped by a pool that is still open (close it first).
    """
    directory = os.path.abspath(os.fspath(directory))
    if not os.path.exists(directory):
        raise SaveNotFoundError(f"no saved pool at {directory}: the directory does not exist")
    if not os.path.isdir(directory):
        raise SaveError(f"no saved pool at {directory}: it is a file, not a save directory")
    with _locked(directory, fcntl.LOCK_SH):
        snapshot = _live_snapshot(directory)
        return _restore(snapshot, _read_manifest(snapshot))


@contextlib.contextmanager
def _reading(path, missing):
    """``path`` open for reading; SaveError(``missing``) if it does not exist, and SaveError for
    any other failure to open or read it."""
    try:
        with open(path, "rb") as file:
            yield file
    except FileNotFoundError as error:
        raise SaveError(missing) from error
    except OSError as error:
        raise SaveError(f"cannot read {path}: {error}") from error


def _live_snapshot(directory):
    """The path of the snapshot CURRENT names."""
    pointer = os.path.join(directory, POINTER)
    with _reading(pointer, f"{directory} holds no completed save: {POINTER} is missing") as file:
        text = file.read(256)
    name = text.decode("ascii", errors="replace").strip()
    if not _SNAPSHOT.match(name):
        raise SaveError(f"{pointer} does not name a snapshot (it holds {text[:40]!r}); "
                        "it is damaged, or this is not a zbudjit save directory")
    snapshot = os.path.join(directory, name)
    if not os.path.isdir(snapshot):
        raise SaveError(f"{pointer} names {name}, which does not exist in {directory}")
    return snapshot


def _read_manifest(snapshot):
    """The snapshot's manifest, checked to be a dict of this format, of a version this zbudjit
    reads, and (format 4) to match its checksum."""
    path = os.path.join(snapshot, MANIFEST)
    with _reading(path, f"{path} is missing: the snapshot is incomplete") as file:
        text = file.read()
    try:
        manifest = json.loads(text)
    except (ValueError, RecursionError) as error:    # JSONDecodeError, UnicodeDecodeError, nesting
        raise SaveError(f"{path} is not valid JSON ({error}): the manifest is damaged") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise SaveError(f"{path} is not a manifest of a saved zbudjit pool "
                        f"(format {found!r}, expected {FORMAT_NAME!r})")
    version = manifest.get("format_version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        raise SaveError(f"{path} has format version {version!r}, but this zbudjit reads versions "
                        f"{' and '.join(map(str, READABLE_VERSIONS))} (the save was written by "
                        f"zbudjit {manifest.get('zbudjit_version')!r})")
    if version >= 4:
        recorded = manifest.get(MANIFEST_CHECKSUM)
        try:
            computed = _manifest_crc32(manifest)
        except (ValueError, TypeError, RecursionError) as error:
            raise SaveError(f"{path} cannot be checked ({error}): the manifest is damaged") from error
        if type(recorded) is not int or recorded != computed:
            raise SaveError(f"{path} is corrupted: its {MANIFEST_CHECKSUM} is {recorded!r}, but its "
                            f"contents give {computed:#010x}")
    return manifest


def _field(mapping, key, kinds, where):
    """``mapping[key]``, which must be one of ``kinds`` (bool does not pass for int); else SaveError."""
    value = mapping.get(key) if isinstance(mapping, dict) else None
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join(kind.__name__ for kind in kinds)
        raise SaveError(f"{where}: {key!r} is missing or is not a {names} (found {value!r})")
    return value


def _contradiction(snapshot, finding):
    return CorruptionError(f"the pool saved in {snapshot} has tables that contradict each other: "
                           f"{finding}")


def _restore(snapshot, manifest):
    """Build the saved pool without running Pool.__init__'s allocations, auditing it on the way:
    every file against the manifest, the counters and table sizes against each other, then check().
    """
    where = os.path.join(snapshot, MANIFEST)
    version = manifest["format_version"]
    config = _field(manifest, "config", (dict,), where)
    scalars = _field(manifest, "scalars", (dict,), where)
    arrays = _field(manifest, "arrays", (dict,), where)
    reference = _reference_pool(config, where)
    pages = config["pages"]
    _check_attribute_names(reference, config, scalars, arrays, manifest, where)
    pool = pool_module.Pool.__new__(pool_module.Pool)
    for name, value in {**scalars, **config}.items():
        if name != "pages":
            setattr(pool, name, value)
    pool._policy = policy = reference._policy
    entries = {name: _entry(name, arrays[name], where, f"{name}.npy", version) for name in sorted(arrays)}
    partial = {name for name in entries if _used_counter(policy, name) is not None}
    for name, entry in entries.items():
        expected = getattr(reference, name, None)
        if expected is not None and not _old_counters(name, entry, expected, version):
            _check_layout(name, entry, expected, name in partial, where)
    with contextlib.ExitStack() as files:
        opened = {name: files.enter_context(_SavedFile(snapshot, entry)) for name, entry in entries.items()}
        # the whole tables first: the counters and the geometry say how long the others are
        for name in sorted(set(entries) - partial):
            setattr(pool, name, _read_whole(name, entries[name], opened[name],
                                            getattr(reference, name, None), version, where))
        _check_geometry(pool, reference, pages, where)
        lengths = {name: _table_length(name, entries[name], pages, policy, version, where)
                   for name in partial}
        finding = _size_contradiction(pool, lengths, entries, pages, version)
        if finding:
            raise _contradiction(snapshot, finding)
        for name in sorted(partial):
            table = _zeroed_table(name, lengths[name], getattr(reference, name).dtype, where)
            opened[name].read_into(table[:entries[name]["shape"][0]])
            setattr(pool, name, table)
        finding = _stack_heads_contradiction(pool)
        if finding:
            raise _contradiction(snapshot, finding)
    for name in NOT_SAVED - {"_policy", "_arena", "_arena_file"}:
        if hasattr(reference, name):
            setattr(pool, name, getattr(reference, name))
    pool._arena_file, pool._arena = _restore_arena(snapshot, manifest, pool, pages, version, where)
    try:
        pool.check()
    except CorruptionError as error:
        pool.close()                # a file-backed arena is unlocked again
        raise _contradiction(snapshot, error) from error
    except BaseException:
        pool.close()
        raise
    return pool


def _reference_pool(config, where):
    """A one-page pool of the saved configuration: it validates the configuration, and its tables
    give the dtypes (and the fixed shapes) this zbudjit expects."""
    pages = _field(config, "pages", (int,), where)
    policy = _field(config, "policy", (str,), where)
    page_size = _field(config, "page_size", (int,), where)
    path = _field(config, "path", (str, type(None)), where)
    if not 1 <= pages < t.MAX_PAGES or (path is not None and not os.path.isabs(path)):
        raise SaveError(f"{where}: the configuration is not valid (pages {pages}, path {path!r})")
    if policy not in pool_module.POLICIES:
        raise SaveError(f"{where}: the configuration is not valid: unknown policy {policy!r}")
    options = {name: _field(config, name, (type(default),), where)
               for name, default in pool_module.POLICIES[policy].options.items()}
    try:
        return pool_module.Pool(pages=1, policy=policy, page_size=page_size, **options)
    except (TypeError, ValueError) as error:
        raise SaveError(f"{where}: the configuration is not valid: {error}") from error


def _check_attribute_names(reference, config, scalars, arrays, manifest, where):
    """Every attribute this zbudjit's Pool has is in the save, as the same kind (array or scalar).

    Attributes the save holds and the Pool does not know are restored as they are, if they are
    plain names that the Pool class does not define (no saved value may replace a method).
    """
    saved = (set(config) - {"pages"}) | set(scalars) | set(arrays)
    missing = sorted(set(vars(reference)) - NOT_SAVED - saved)
    if missing:
        raise SaveError(f"{where}: the save lacks {', '.join(missing)}, which this zbudjit's Pool "
                        f"has (the save was written by zbudjit {manifest.get('zbudjit_version')!r})")
    for name in saved:
        if not _ATTRIBUTE.match(name) or name in NOT_SAVED or hasattr(pool_module.Pool, name):
            raise SaveError(f"{where}: {name!r} cannot be an attribute of a Pool")
        if name in vars(reference) and isinstance(getattr(reference, name), np.ndarray) != (name in arrays):
            raise SaveError(f"{where}: {name} is saved as {'an array' if name in arrays else 'a scalar'}, "
                            "but this zbudjit's Pool keeps it as the other kind")
        if name in scalars and type(scalars[name]) not in _SCALAR_TYPES:
            raise SaveError(f"{where}: scalar {name} holds {scalars[name]!r}, which a save never writes")


def _whole_int(value):
    return type(value) is int


def _entry(name, entry, where, file_name, version, table=True):
    """A manifest entry of a saved file, checked to be well formed: a dict with the file's name,
    ``dtype`` (as a NumPy dtype), ``shape`` (a tuple), ``nbytes``, ``crc32`` and, for a ``table``
    of format 4, the table's ``length`` (None for a 0-d array)."""
    where = f"{where}, table {name}"
    if not isinstance(entry, dict):
        raise SaveError(f"{where}: the entry is not a mapping (found {entry!r})")
    if entry.get("file") != file_name:
        raise SaveError(f"{where} names a file {entry.get('file')!r}, which is not a file of a save "
                        f"(expected {file_name!r})")
    shape = _field(entry, "shape", (list,), where)
    if len(shape) > MAX_DIMENSIONS or not all(_whole_int(n) and n >= 0 for n in shape):
        raise SaveError(f"{where}: shape {shape!r} is not a shape")
    descr = entry.get("dtype")
    try:
        dtype = np.lib.format.descr_to_dtype(descr)
    except Exception as error:        # any failure to parse a damaged descr means it is not one
        raise SaveError(f"{where}: dtype {descr!r} is not a NumPy dtype ({error})") from error
    if dtype.hasobject or dtype.itemsize == 0:
        raise SaveError(f"{where}: dtype {descr!r} is not one a save writes")
    nbytes = _field(entry, "nbytes", (int,), where)
    crc32 = _field(entry, "crc32", (int,), where)
    length = None
    if table and version >= 4 and shape:
        length = _field(entry, "length", (int,), where)
        if length < shape[0]:
            raise SaveError(f"{where}: the table's length {length} is shorter than its saved "
                            f"{shape[0]} records")
    return {"file": file_name, "dtype": dtype, "shape": tuple(shape), "nbytes": nbytes,
            "crc32": crc32, "length": length}


def _check_layout(name, entry, expected, partial, where):
    """The saved table has the dtype this zbudjit's pool keeps it as (``expected``, a fresh pool's
    table) and its shape: exactly, or but for the first dimension for a table saved in part."""
    fixed = expected.shape[1:] if partial else expected.shape
    if entry["dtype"] != expected.dtype:
        raise SaveError(f"{where}: table {name} is saved with dtype {entry['dtype']}, but this "
                        f"zbudjit's pool keeps it as {expected.dtype}")
    shape = entry["shape"]
    if len(shape) != expected.ndim or shape[len(shape) - len(fixed):] != fixed:
        raise SaveError(f"{where}: table {name} is saved with shape {shape}, which does not fit "
                        f"this zbudjit's pool (a fresh pool has {expected.shape})")
    if not partial and entry["length"] not in (None, shape[0] if shape else None):
        raise SaveError(f"{where}: table {name} is saved whole, but its entry gives it length "
                        f"{entry['length']}")


def _read_whole(name, entry, saved_file, expected, version, where):
    """A table saved whole (its layout checked against ``expected``, the fresh pool's table).

    A format-3 ``_counters`` lacks the generation origin: theirs is 0, as it always was then.
    """
    if _old_counters(name, entry, expected, version):
        counters = np.empty(entry["shape"], entry["dtype"])
        saved_file.read_into(counters)
        return np.append(counters, 0).astype(expected.dtype)
    table = np.empty(entry["shape"], entry["dtype"] if expected is None else expected.dtype)
    saved_file.read_into(table)       # the very dtype the kernels were compiled for (alignment flag)
    return table


def _old_counters(name, entry, expected, version):
    """Whether this is a format-3 counters table, written before pools had a generation origin."""
    return (name == "_counters" and version == 3 and entry["shape"] == (t.C_GENERATION_ORIGIN,)
            and entry["dtype"] == expected.dtype)


def _table_length(name, entry, pages, policy, version, where):
    """The length in the pool of a table saved in part: the pool's pages for a page table, the
    entry's length (format 3: the table was saved whole) for the others."""
    if name in policy.page_tables:
        if version >= 4 and entry["length"] != pages:
            raise SaveError(f"{where}: page table {name} has length {entry['length']} in a pool of "
                            f"{pages} pages")
        return pages
    length = entry["shape"][0] if version == 3 else entry["length"]
    if length > MAX_RECORDS[name]:
        raise SaveError(f"{where}: table {name} has length {length:,}, more than a pool's "
                        f"{MAX_RECORDS[name]:,}")
    return length


def _size_contradiction(pool, lengths, entries, pages, version):
    """What is wrong with the counters and the sizes of the tables saved in part (plain Python,
    before those tables are read), or None. Every counter must be in range of its tables and of
    the others, so that no kernel can index outside a table whatever the tables hold."""
    c = pool._counters.tolist()
    handles, free_slots, blocks = lengths["_handles"], lengths["_free_slots"], lengths["_blocks"]
    lru_entries = lengths["_lru_log"]
    watermark, used, released = c[t.C_PAGE_WATERMARK], c[t.C_PAGES_USED], c[t.C_RELEASED]
    slots, objects = c[t.C_SLOT_WATERMARK], c[t.C_OBJECTS]
    slots_free, retired = c[t.C_SLOTS_FREE], c[t.C_SLOTS_RETIRED]
    stored, chunks = c[t.C_BYTES_STORED], c[t.C_CHUNKS_USED]
    block_mark, blocks_free = c[t.C_BLOCK_WATERMARK], c[t.C_BLOCKS_FREE]
    tail, end = c[t.C_LRU_TAIL], c[t.C_LRU_LEN]
    max_size = int(pool._geometry[t.G_MAX_SIZE])
    rules = [
        (0 <= watermark <= pages, f"the page watermark {watermark} is outside the pool's {pages} pages"),
        (used >= 0 and released >= 0 and used + released == watermark,
         f"{used} pages in use and {released} released do not add up to the page watermark {watermark}"),
        (_head_in_range(c[t.C_RELEASED_HEAD], released, watermark),
         f"the released-page stack's head {c[t.C_RELEASED_HEAD]} does not fit its {released} pages"),
        (0 <= slots <= handles, f"the slot watermark {slots} is beyond the handle table's {handles} records"),
        (free_slots >= handles,
         f"the free-slot table holds {free_slots} records, fewer than the handle table's {handles}"),
        (min(objects, slots_free, retired) >= 0 and objects + slots_free + retired == slots,
         f"{objects} live, {slots_free} free and {retired} retired slots do not add up to the slot "
         f"watermark {slots}"),
        (objects <= stored <= objects * max_size, f"{stored} bytes stored cannot be {objects} objects"),
        (0 <= chunks <= objects * 64, f"{chunks} chunks in use cannot be {objects} objects"),
        (blocks % t.BLOCK_WORDS == 0, f"the stack-block table's {blocks} words are not whole blocks"),
        (0 <= block_mark <= blocks // t.BLOCK_WORDS,
         f"the block watermark {block_mark} is beyond the stack-block table's "
         f"{blocks // t.BLOCK_WORDS} blocks"),
        (0 <= blocks_free <= block_mark and _head_in_range(c[t.C_BLOCK_FREE_HEAD], blocks_free, block_mark),
         f"the free-block list ({blocks_free} blocks from {c[t.C_BLOCK_FREE_HEAD]}) does not fit the "
         f"block watermark {block_mark}"),
        (0 <= c[t.C_STAMP] <= t.MAX_STAMP, f"the stamp counter {c[t.C_STAMP]} is out of range"),
        (t.LRU_NONE < tail <= end <= t.MAX_LRU and (end <= lru_entries or not pool._policy.stacks),
         f"the LRU log's tail {tail} and end {end} do not fit its {lru_entries} entries"),
        (c[t.C_PAGES_COMPACTED] >= 0, f"{c[t.C_PAGES_COMPACTED]} pages compacted is negative"),
        (0 <= c[t.C_GENERATION_ORIGIN] <= t.MAX_GENERATION,
         f"the generation origin {c[t.C_GENERATION_ORIGIN]} is not a 32-bit generation"),
    ]
    for holds, finding in rules:
        if not holds:
            return finding
    for name in sorted(lengths):
        saved = entries[name]["shape"][0]
        expected = _used_records(pool._policy, pool._counters, name, lengths[name])
        if (version >= 4 or name in pool._policy.page_tables) and saved != expected:
            return f"table {name} holds {saved} records in use, but the counters say {expected}"
    return None


def _head_in_range(head, count, watermark):
    """A stack head fits a stack of ``count`` entries below ``watermark``: -1 exactly when empty."""
    return head == -1 if count == 0 else 0 <= head < watermark


def _stack_heads_contradiction(pool):
    """Every stack head is -1 (an empty stack) or a block below the block watermark."""
    heads = pool._stack_heads
    bad = (heads != -1) & ((heads < 0) | (heads >= pool._counters[t.C_BLOCK_WATERMARK]))
    if bad.any():
        return f"stack head {int(np.flatnonzero(bad)[0])} names block {int(heads[bad][0])}, which is not in use"
    return None


def _zeroed_table(name, length, dtype, where):
    """A zero table of ``length`` records in memory that costs nothing until touched (the
    records above those in use are never read before they are written, as in the saved pool)."""
    try:
        return t.zeroed(length, dtype, reserve=False)
    except (MemoryError, OverflowError, ValueError) as error:
        raise SaveError(f"{where}: cannot map table {name} of {length:,} records: {error}") from error


def _check_geometry(pool, reference, pages, where):
    expected = reference._geometry.copy()
    expected[t.G_PAGES] = pages
    if not np.array_equal(pool._geometry, expected):
        raise SaveError(f"{where}: the saved geometry {pool._geometry.tolist()} does not match the "
                        f"configuration (expected {expected.tolist()})")


def _restore_arena(snapshot, manifest, pool, pages, version, where):
    """``(arena file, arena)``: a RAM arena with the saved pages copied in (no file; format 4:
    the saved pfns must be the pages in use, those the released-page stack leaves), or the
    file-backed arena locked and mapped again, with disk blocks for every page in use."""
    nbytes = pages * pool.page_size
    watermark = int(pool._counters[t.C_PAGE_WATERMARK])
    if pool.path is not None:
        if version >= 4 and manifest.get("arena") is not None:
            raise SaveError(f"{where}: a file-backed pool's save holds an arena entry")
        try:
            arena_file, arena = pool_module._file_arena(pool.path, nbytes, create=False)
        except FileNotFoundError as error:
            raise SaveError(f"the arena file {pool.path} of the pool saved in {snapshot} "
                            "is missing") from error
        except (OSError, ValueError) as error:
            raise SaveError(f"cannot map the arena file {pool.path} of the pool saved in {snapshot}: "
                            f"{error}") from error
        try:
            arena_file.reserve(watermark * pool.page_size)
        except PoolError as error:
            arena_file.close()
            raise SaveError(f"cannot open the pool saved in {snapshot}: {error}") from error
        return arena_file, arena
    entry = _field(manifest, "arena", (dict,), where)
    try:
        arena = t.zeroed(nbytes, np.uint8)     # as Pool makes it: pages not written cost nothing
    except MemoryError as error:
        raise MemoryError(f"{error}: the saved pool's arena does not fit in memory") from None
    if version == 3:                             # the arena's prefix below the page watermark
        entry = _entry("_arena", entry, where, ARENA_FILE, version, False)
        used = watermark * pool.page_size
        if entry["dtype"] != np.uint8 or entry["shape"] != (used,):
            raise SaveError(f"{where}: the arena is saved as {entry['dtype']} {entry['shape']}, but "
                            f"the pool has used {used} bytes of its {nbytes}")
        with _SavedFile(snapshot, entry) as saved_file:
            saved_file.read_into(arena[:used])
        return None, arena
    pfns_entry = _entry("arena pfns", entry.get("pfns"), where, ARENA_PFNS_FILE, version, False)
    pages_entry = _entry("arena pages", entry.get("pages"), where, ARENA_FILE, version, False)
    in_use = int(pool._counters[t.C_PAGES_USED])
    if pfns_entry["dtype"] != np.uint32 or pfns_entry["shape"] != (in_use,) \
            or pages_entry["dtype"] != np.uint8 or pages_entry["shape"] != (in_use, pool.page_size):
        raise SaveError(f"{where}: the arena is saved as {pages_entry['dtype']} "
                        f"{pages_entry['shape']} pages at {pfns_entry['dtype']} {pfns_entry['shape']} "
                        f"pfns, but the pool has {in_use} pages in use of {pool.page_size} bytes")
    with _SavedFile(snapshot, pfns_entry) as pfns_file, _SavedFile(snapshot, pages_entry) as pages_file:
        pfns = np.empty(in_use, np.uint32)
        pfns_file.read_into(pfns)
        # the walk stops at anything out of range, so it may come before check()
        sound, released = _released_pages(pool._pages, pool._counters)
        if not sound:
            raise _contradiction(snapshot, "the released-page stack is broken")
        if not np.array_equal(np.flatnonzero(~released), pfns):
            raise _contradiction(snapshot, "the arena's saved pages are not the pages in use")
        pages_file.read_pages(arena.reshape(-1, pool.page_size), pfns)
    return None, arena


class _SavedFile:
    """One .npy file of a snapshot, open (a context manager) and checked against its manifest
    entry: its size, and a header of the entry's dtype and shape. Its data is read once, by
    :meth:`read_into` or :meth:`read_pages`, which check the crc32 of the whole file at the end."""

    def __init__(self, snapshot, entry):
        self.path = os.path.join(snapshot, entry["file"])
        self.entry = entry
        try:
            self.file = open(self.path, "rb")
        except FileNotFoundError as error:
            raise SaveError(f"{self.path} is missing: the snapshot is incomplete") from error
        except OSError as error:
            raise SaveError(f"cannot read {self.path}: {error}") from error
        try:
            self._check_header()
        except BaseException:
            self.file.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.file.close()

    def _check_header(self):
        entry, path = self.entry, self.path
        try:
            size = os.fstat(self.file.fileno()).st_size
            if size != entry["nbytes"]:
                raise SaveError(f"{path} holds {size} bytes, but the manifest recorded "
                                f"{entry['nbytes']!r}: the file is truncated or was replaced")
            dtype, shape = _read_npy_header(self.file, path)
            self.header_size = self.file.tell()
            expected = entry["dtype"].itemsize * math.prod(entry["shape"])
            if dtype != entry["dtype"] or shape != entry["shape"] or size - self.header_size != expected:
                raise SaveError(f"{path} holds a {dtype} array of shape {shape}, but the manifest "
                                f"says {entry['dtype']} {entry['shape']}")
            self.file.seek(0)
            self.crc32 = zlib.crc32(self.file.read(self.header_size))
        except OSError as error:
            raise SaveError(f"cannot read {path}: {error}") from error

    def read_into(self, out):
        """Fill ``out`` (C-contiguous, of the entry's dtype and shape) with the file's data."""
        buffer = out.reshape(-1).view(np.uint8)
        self._read(buffer[start:start + CHUNK_BYTES] for start in range(0, buffer.size, CHUNK_BYTES))

    def read_pages(self, rows, pfns):
        """Copy the file's rows (pages) into ``rows[pfns]``, a chunk of pages at a time."""
        page_size = rows.shape[1]
        step = max(1, CHUNK_BYTES // page_size)
        scratch = np.empty(min(step, pfns.size) * page_size, np.uint8)

        def chunks():
            for start in range(0, pfns.size, step):
                part = pfns[start:start + step]
                chunk = scratch[:part.size * page_size]
                yield chunk                             # filled by _read, then scattered
                rows[part] = chunk.reshape(-1, page_size)
        self._read(chunks())

    def _read(self, chunks):
        crc32 = self.crc32
        try:
            for chunk in chunks:
                if self.file.readinto(chunk) != chunk.size:
                    raise SaveError(f"{self.path} ended early: the file is truncated")
                crc32 = zlib.crc32(chunk, crc32)
        except OSError as error:
            raise SaveError(f"cannot read {self.path}: {error}") from error
        if crc32 != self.entry["crc32"]:
            raise SaveError(f"{self.path} is corrupted: its crc32 is {crc32:#010x}, but the manifest "
                            f"recorded {self.entry['crc32']!r}")


def _read_npy_header(file, path):
    """(dtype, shape) from a .npy header; SaveError when it is not one of C-ordered data."""
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    try:
        version = np.lib.format.read_magic(file)
        if version not in readers:
            raise ValueError(f"unsupported .npy version {version}")
        shape, fortran_order, dtype = readers[version](file)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError,
            tokenize.TokenError) as error:              # the header is Python syntax
        raise SaveError(f"{path} is not a readable .npy file ({error}): the save is damaged") from error
    if fortran_order:
        raise SaveError(f"{path} holds a Fortran-ordered array, which a save never writes")
    return dtype, shape
