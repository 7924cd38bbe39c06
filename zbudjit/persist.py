"""Saving a :class:`~zbudjit.Pool` to a directory and opening it again, atomically.

On-disk layout
--------------
A save directory holds one live snapshot and a pointer naming it::

    directory/
        CURRENT                 one line, the name of the live snapshot ("snapshot-000007")
        snapshot-000007/
            manifest.json       format name and version, zbudjit version, configuration, plain
                                scalar attributes, and per saved file: dtype, shape, size, crc32
            _pages.npy          one .npy file (never pickled) per ndarray attribute of the pool:
            _handles.npy        every table exactly as it is in memory, but for the page table,
                                of which only the used prefix (pfns below the watermark) is kept:
                                the records above it are all zero, a free page
            ...
            _arena.npy          RAM pools only: the arena's used prefix, the first
                                ``counters[C_PAGE_WATERMARK] * page_size`` bytes (pfns above the
                                watermark were never handed out, so they hold nothing)

A file-backed pool's arena is not copied: the save flushes the mapping and records the file's path
(``config.path``), and opening maps that file again. Such a save is therefore only as good as the
file: writes to the arena after the save show through when the save is opened.

A save writes a complete new snapshot next to the live one (every file fsync'ed, the manifest
last), then writes the new name to ``CURRENT.tmp``, fsyncs it and renames it over ``CURRENT`` (and
fsyncs the directory): the rename is the commit. Older snapshots are removed afterwards. A save
killed at any point leaves ``CURRENT`` naming the previous, complete snapshot; the next save removes
the debris. Saves into one directory are serialised with ``flock`` on the directory, and opening
takes a shared lock, so a save never removes a snapshot that is being read.
"""

import contextlib
import fcntl
import json
import os
import re
import shutil
import tokenize
import zlib

import numpy as np

from .engine import tables as t
from . import pool as pool_module
from .errors import CorruptionError, PoolError

FORMAT_NAME = "zbudjit-pool"
#: Bump when the meaning of a saved table changes, not only its dtype (for example a new sentinel
#: value in a field): dtypes are checked on opening, meanings cannot be.
FORMAT_VERSION = 3           # 2: free handle slots in their own stack array; 3: stacks of blocks

#: Pool attributes a save leaves out. Opening rebuilds ``_policy`` from the configuration and
#: ``_arena`` from the save; any other name here is taken from a fresh pool of the same configuration.
#: ``_busy`` is transient: a save taken inside reclaim's writeback callback (the tables are not yet
#: changed then) must not reopen as a pool that refuses every change.
NOT_SAVED = {"_policy", "_arena", "_busy"}
#: Scalar attributes that configure the pool (the manifest's "config", with ``pages``), besides
#: the options of the pool's policy (zbud: reserve_header_chunk; zsmalloc: chain_size).
CONFIG = ("policy", "page_size", "path")
#: Tables whose first dimension is the pool's size or grows with use; every other table must have
#: exactly the shape a fresh pool gives it (kernels index them with fixed constants).
RESIZED_TABLES = {"_handles", "_free_slots", "_blocks", "_lru_log"}   # and the policy's page tables

POINTER = "CURRENT"
POINTER_TEMP = "CURRENT.tmp"
MANIFEST = "manifest.json"
ARENA_FILE = "_arena.npy"
CHUNK_BYTES = 4 << 20        # checksums and arena reads go this many bytes at a time

_SNAPSHOT = re.compile(r"snapshot-(\d{6,})\Z")
_ATTRIBUTE = re.compile(r"(?!__)[A-Za-z_][A-Za-z0-9_]*\Z")     # also what makes a safe file name
_SCALAR_TYPES = (bool, int, float, str, type(None))


class SaveError(PoolError):
    """A save directory is missing, damaged, someone else's, or written by an incompatible zbudjit."""


class SaveNotFoundError(SaveError, FileNotFoundError):
    """:func:`open_pool` was given a directory that does not exist."""


# ---------------------------------------------------------------------------------------------
# Saving


def save(pool, directory):
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
        ``directory`` is a file, or a non-empty directory that is not a zbudjit save.
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
    """
    if not isinstance(pool, pool_module.Pool):
        raise TypeError(f"save() takes a zbudjit.Pool, not {type(pool).__name__}")
    arrays, config, scalars = _savable_state(pool)
    directory = _make_directory(directory)
    with _locked(directory, fcntl.LOCK_EX) as directory_fd:
        name = _next_snapshot_name(_claim(directory, pool))
        snapshot = os.path.join(directory, name)
        os.mkdir(snapshot)
        try:
            _write_snapshot(snapshot, pool, arrays, config, scalars)
        except BaseException:
            shutil.rmtree(snapshot, ignore_errors=True)
            raise
        _commit(directory, directory_fd, name)
        _remove_old_snapshots(directory, name)


def _savable_state(pool):
    """Split the pool's attributes into (arrays, config, other scalars); refuse any other kind."""
    arrays, config, scalars = {}, {"pages": pool.pages_total}, {}
    for name, value in vars(pool).items():
        if name in NOT_SAVED:
            continue
        if isinstance(value, np.ndarray) and _ATTRIBUTE.match(name):
            arrays[name] = value
        elif type(value) in _SCALAR_TYPES and _ATTRIBUTE.match(name):
            configures = name in CONFIG or name in pool._policy.options
            (config if configures else scalars)[name] = value
        else:
            raise TypeError(
                f"Pool attribute {name!r} holds a {type(value).__name__}, which save() cannot store: "
                "keep it an ndarray or a plain int, float, bool, str or None, or add its name to "
                "zbudjit.persist.NOT_SAVED")
    for name in pool._policy.page_tables:      # one record a pfn: saved up to the watermark
        arrays[name] = getattr(pool, name)[:int(pool._counters[t.C_PAGE_WATERMARK])]
    return arrays, config, scalars


def _make_directory(directory):
    """Create ``directory`` (and parents) if needed and make its entry durable; returns its abspath."""
    directory = os.path.abspath(os.fspath(directory))
    try:
        os.makedirs(directory, exist_ok=True)
    except FileExistsError as error:
        raise SaveError(f"cannot save into {directory}: it exists and is not a directory") from error
    _fsync_directory(os.path.dirname(directory))
    return directory


def _claim(directory, pool):
    """The snapshot names in ``directory``; SaveError if it holds anything a save did not write.

    The pool's own arena file may sit in the directory too: it is the pool's, not a stranger's.
    """
    own_arena = None
    if pool.path is not None and os.path.dirname(pool.path) == directory:
        own_arena = os.path.basename(pool.path)
    entries = os.listdir(directory)
    foreign = sorted(entry for entry in entries
                     if entry not in (POINTER, POINTER_TEMP, own_arena) and not _SNAPSHOT.match(entry))
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise SaveError(f"refusing to save into {directory}: it is not empty and is not a zbudjit "
                        f"save directory (it holds {shown}); choose a new or empty directory")
    return [entry for entry in entries if _SNAPSHOT.match(entry)]


def _next_snapshot_name(snapshots):
    """A name after every existing snapshot, including debris of a save that was killed."""
    last = max((int(_SNAPSHOT.match(name).group(1)) for name in snapshots), default=0)
    return f"snapshot-{last + 1:06d}"


def _write_snapshot(snapshot, pool, arrays, config, scalars):
    """Write every table and then the manifest into the new, empty ``snapshot`` directory."""
    from . import __version__

    entries = {name: _write_array(snapshot, f"{name}.npy", value) for name, value in arrays.items()}
    arena = None
    if pool.path is None:
        arena = _write_array(snapshot, ARENA_FILE, pool._arena[:_used_arena_bytes(pool)])
    else:
        pool._arena.flush()
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "zbudjit_version": __version__,
        "config": config,
        "scalars": scalars,
        "arrays": entries,
        "arena": arena,
    }
    _write_file(os.path.join(snapshot, MANIFEST), json.dumps(manifest, indent=1).encode())
    _fsync_directory(snapshot)


def _used_arena_bytes(pool):
    """The arena prefix a RAM pool's save copies: every page below the watermark has been used."""
    return int(pool._counters[t.C_PAGE_WATERMARK]) * pool.page_size


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


def _write_array(snapshot, file_name, array):
    """Write ``array`` as a fsync'ed .npy file; returns its manifest entry."""
    array = np.ascontiguousarray(array)
    with open(os.path.join(snapshot, file_name), "xb") as file:
        writer = _ChecksummedWriter(file)
        np.save(writer, array, allow_pickle=False)
        file.flush()
        os.fsync(file.fileno())
    return {"file": file_name, "dtype": np.lib.format.dtype_to_descr(array.dtype),
            "shape": list(array.shape), "nbytes": writer.nbytes, "crc32": writer.crc32}


def _commit(directory, directory_fd, name):
    """Point CURRENT at snapshot ``name``: write a temp file, fsync it, rename it over CURRENT."""
    temp = os.path.join(directory, POINTER_TEMP)
    _write_file(temp, f"{name}\n".encode())
    os.replace(temp, os.path.join(directory, POINTER))
    os.fsync(directory_fd)


def _remove_old_snapshots(directory, keep):
    """Remove every snapshot but ``keep``. The save has committed, so a failure here is only
    debris (the next save retries) and is not reported."""
    for entry in os.listdir(directory):
        if _SNAPSHOT.match(entry) and entry != keep:
            shutil.rmtree(os.path.join(directory, entry), ignore_errors=True)


def _write_file(path, data):
    with open(path, "wb") as file:
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


def open_pool(directory):
    """Open the pool last saved into ``directory`` by :func:`save`.

    Parameters
    ----------
    directory : str or os.PathLike
        A directory written by :func:`save`.

    Returns
    -------
    zbudjit.Pool
        A pool equal to the saved one: the same tables, LRU order, handle generations, counters,
        configuration and object bytes. A file-backed pool maps its arena file again (read-write).

    Raises
    ------
    SaveNotFoundError
        ``directory`` does not exist (also a FileNotFoundError).
    SaveError
        The save is incomplete, damaged (a file is truncated, or its checksum does not match),
        written in another format or format version, saved with tables of another layout than
        this zbudjit's, or its arena file is missing or has the wrong size.
    CorruptionError
        The files are intact but the tables contradict each other (see :meth:`Pool.check`).
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
    """The snapshot's manifest, checked to be a dict of this format and format version."""
    path = os.path.join(snapshot, MANIFEST)
    with _reading(path, f"{path} is missing: the snapshot is incomplete") as file:
        text = file.read()
    try:
        manifest = json.loads(text)
    except ValueError as error:          # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise SaveError(f"{path} is not valid JSON ({error}): the manifest is damaged") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise SaveError(f"{path} is not a manifest of a saved zbudjit pool "
                        f"(format {found!r}, expected {FORMAT_NAME!r})")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise SaveError(f"{path} has format version {manifest.get('format_version')!r}, but this "
                        f"zbudjit reads version {FORMAT_VERSION} (the save was written by zbudjit "
                        f"{manifest.get('zbudjit_version')!r})")
    return manifest


def _field(mapping, key, kinds, where):
    """``mapping[key]``, which must be one of ``kinds`` (bool does not pass for int); else SaveError."""
    value = mapping.get(key) if isinstance(mapping, dict) else None
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join(kind.__name__ for kind in kinds)
        raise SaveError(f"{where}: {key!r} is missing or is not a {names} (found {value!r})")
    return value


def _restore(snapshot, manifest):
    """Build the saved pool without running Pool.__init__'s allocations, then audit it."""
    where = os.path.join(snapshot, MANIFEST)
    config = _field(manifest, "config", (dict,), where)
    scalars = _field(manifest, "scalars", (dict,), where)
    arrays = _field(manifest, "arrays", (dict,), where)
    reference = _reference_pool(config, where)
    _check_attribute_names(reference, config, scalars, arrays, manifest, where)
    pool = pool_module.Pool.__new__(pool_module.Pool)
    for name, value in {**scalars, **config}.items():
        if name != "pages":
            setattr(pool, name, value)
    pool._policy = reference._policy
    for name, entry in arrays.items():
        resized = name in RESIZED_TABLES or name in pool._policy.page_tables
        expected = getattr(reference, name, None)
        setattr(pool, name, _read_table(snapshot, name, entry, expected, resized))
    _check_geometry(pool, reference, config["pages"], where)
    for name in pool._policy.page_tables:
        setattr(pool, name, _whole_page_table(getattr(pool, name), config["pages"], where))
    pool._blocks = _line_aligned(pool._blocks)
    for name in NOT_SAVED - {"_policy", "_arena"}:
        if hasattr(reference, name):
            setattr(pool, name, getattr(reference, name))
    pool._arena = _restore_arena(snapshot, manifest, pool, config["pages"], where)
    try:
        pool.check()
    except CorruptionError as error:
        raise CorruptionError(f"the pool saved in {snapshot} has tables that contradict each "
                              f"other: {error}") from error
    return pool


def _reference_pool(config, where):
    """A one-page pool of the saved configuration: it validates the configuration, and its tables
    give the dtypes (and the fixed shapes) this zbudjit expects."""
    pages = _field(config, "pages", (int,), where)
    policy = _field(config, "policy", (str,), where)
    page_size = _field(config, "page_size", (int,), where)
    path = _field(config, "path", (str, type(None)), where)
    if pages < 1 or (path is not None and not os.path.isabs(path)):
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


def _entry_layout(name, entry, where):
    """(dtype, shape) of a manifest entry, checked to be well formed."""
    shape = _field(entry, "shape", (list,), f"{where}, table {name}")
    descr = entry.get("dtype")
    try:
        dtype = np.lib.format.descr_to_dtype(descr)
    except (TypeError, ValueError, KeyError, IndexError) as error:
        raise SaveError(f"{where}: table {name} has dtype {descr!r}, which is not a NumPy dtype") from error
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise SaveError(f"{where}: table {name} has shape {shape!r}, which is not a shape")
    return dtype, tuple(shape)


def _read_table(snapshot, name, entry, expected, resized):
    """Load one table; with ``expected`` (the fresh pool's table), insist on its dtype and shape."""
    where = os.path.join(snapshot, MANIFEST)
    dtype, shape = _entry_layout(name, entry, where)
    if expected is not None:
        fixed = expected.shape[1:] if resized else expected.shape
        if dtype != expected.dtype:
            raise SaveError(f"{where}: table {name} is saved with dtype {dtype}, but this zbudjit's "
                            f"pool keeps it as {expected.dtype}")
        if len(shape) != expected.ndim or shape[len(shape) - len(fixed):] != fixed:
            raise SaveError(f"{where}: table {name} is saved with shape {shape}, which does not fit "
                            f"this zbudjit's pool (a fresh pool has {expected.shape})")
        dtype = expected.dtype       # the very dtype the kernels were compiled for (alignment flag)
    table = np.empty(shape, dtype)
    _read_array(snapshot, entry, table)
    return table


def _whole_page_table(used, pages, where):
    """The saved prefix of the page table, followed by free (all-zero) records up to ``pages``."""
    if used.shape[0] > pages:
        raise SaveError(f"{where}: the page table holds {used.shape[0]} records for {pages} pages")
    table = t.zeroed(pages, used.dtype, reserve=False)
    table[:used.shape[0]] = used
    return table


def _line_aligned(blocks):
    """The stack-block table copied to page-aligned memory, so that each block is one cache line
    (a table read into ``np.empty`` is only 16-byte aligned, and blocks would straddle lines)."""
    if blocks.size % t.BLOCK_WORDS:
        return blocks                 # not whole blocks: check() refuses it, alignment is moot
    aligned = t.new_blocks(blocks.size // t.BLOCK_WORDS)
    aligned[:] = blocks
    return aligned


def _check_geometry(pool, reference, pages, where):
    expected = reference._geometry.copy()
    expected[t.G_PAGES] = pages
    if not np.array_equal(pool._geometry, expected):
        raise SaveError(f"{where}: the saved geometry {pool._geometry.tolist()} does not match the "
                        f"configuration (expected {expected.tolist()})")


def _restore_arena(snapshot, manifest, pool, pages, where):
    """A RAM arena with the saved prefix copied in, or the file-backed arena mapped again."""
    nbytes = pages * pool.page_size
    if pool.path is not None:
        try:
            return pool_module._file_arena(pool.path, nbytes, create=False)
        except FileNotFoundError as error:
            raise SaveError(f"the arena file {pool.path} of the pool saved in {snapshot} "
                            "is missing") from error
        except (OSError, ValueError) as error:
            raise SaveError(f"cannot map the arena file {pool.path} of the pool saved in {snapshot}: "
                            f"{error}") from error
    entry = _field(manifest, "arena", (dict,), where)
    dtype, shape = _entry_layout("_arena", entry, where)
    used = _used_arena_bytes(pool)
    if dtype != np.uint8 or shape != (used,) or used > nbytes:
        raise SaveError(f"{where}: the arena is saved as {dtype} {shape}, but the pool has used "
                        f"{used} bytes of its {nbytes}")
    arena = t.zeroed(nbytes, np.uint8)         # as Pool makes it: pages above ``used`` cost nothing
    _read_array(snapshot, entry, arena[:used])
    return arena


def _read_array(snapshot, entry, out):
    """Fill ``out`` from the .npy file of a manifest entry, checking size, header and crc32 in one pass."""
    file_name = entry.get("file")
    if not (isinstance(file_name, str) and _ATTRIBUTE.match(file_name.removesuffix(".npy"))):
        raise SaveError(f"{os.path.join(snapshot, MANIFEST)} names a file {file_name!r}, "
                        "which is not a file of a save")
    path = os.path.join(snapshot, file_name)
    with _reading(path, f"{path} is missing: the snapshot is incomplete") as file:
        crc32 = _read_npy(file, path, entry, out)
    if crc32 != entry.get("crc32"):
        raise SaveError(f"{path} is corrupted: its crc32 is {crc32:#010x}, but the manifest "
                        f"recorded {entry.get('crc32')!r}")


def _read_npy(file, path, entry, out):
    """Read an open .npy file into ``out``; returns the crc32 of all its bytes."""
    size = os.fstat(file.fileno()).st_size
    if size != entry.get("nbytes"):
        raise SaveError(f"{path} holds {size} bytes, but the manifest recorded {entry.get('nbytes')!r}: "
                        "the file is truncated or was replaced")
    dtype, shape = _read_npy_header(file, path)
    header_size = file.tell()
    if dtype != out.dtype or shape != out.shape or size - header_size != out.nbytes:
        raise SaveError(f"{path} holds a {dtype} array of shape {shape}, but the manifest says "
                        f"{out.dtype} {out.shape}")
    file.seek(0)
    crc32 = zlib.crc32(file.read(header_size))
    buffer = out.reshape(-1).view(np.uint8)
    for start in range(0, buffer.size, CHUNK_BYTES):
        chunk = buffer[start:start + CHUNK_BYTES]
        if file.readinto(chunk) != chunk.size:
            raise SaveError(f"{path} ended early: the file is truncated")
        crc32 = zlib.crc32(chunk, crc32)
    return crc32


def _read_npy_header(file, path):
    """(dtype, shape) from a .npy header; SaveError when it is not one of C-ordered data."""
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    try:
        version = np.lib.format.read_magic(file)
        if version not in readers:
            raise ValueError(f"unsupported .npy version {version}")
        shape, fortran_order, dtype = readers[version](file)
    except (ValueError, TypeError, SyntaxError, tokenize.TokenError) as error:   # the header is Python syntax
        raise SaveError(f"{path} is not a readable .npy file ({error}): the save is damaged") from error
    if fortran_order:
        raise SaveError(f"{path} holds a Fortran-ordered array, which a save never writes")
    return dtype, shape
