"""Real data for the zswap simulation, as memory pages.

A compressed-memory cache sees whatever the machine's page cache and anonymous memory hold:
program text, shared libraries, byte code, source files, data. How well zbud and friends pack
depends entirely on how those pages compress, so synthetic random or constant pages say little.
This module turns files into a ``(n, page_size)`` ``uint8`` table of pages, the way the page
cache holds them: a file of ``L`` bytes fills ``ceil(L / page_size)`` pages, the last one
zero-padded, and an empty file fills none.

The default workload (:func:`default_pages`) is the running Python installation itself: the
standard library's sources, its compiled byte code (``.pyc`` under ``__pycache__``), its extension
modules (``lib-dynload``), ``libpython*.so`` and the interpreter executable. That data is on every
machine that can run this package, is a few hundred MiB of the kinds of pages a real system keeps
in memory (text, byte code, machine code), and needs no download. Third-party packages
(``site-packages``/``dist-packages``) are left out so the set does not change when somebody
installs a package.

Order. Files found by walking a directory (and the default set) are read in the order of a
stable hash of their path relative to the root walked (BLAKE2b, 8 bytes, ties broken by the path
itself). Sorting by name would put all of ``asyncio/*.py`` next to each other and make a
``max_pages`` prefix a sample of one directory and one file kind; the hash interleaves sources,
byte code, machine code and data files, so any prefix is a representative mix, and the order is
the same on every run and every machine with the same files. Files named explicitly keep the order
they were given in; a directory named explicitly contributes its files, in hash order, at its
place in the list.

Other inputs: :func:`read_pages` reads any files or directories (recursively), or a raw dump (one
file of any size, e.g. a memory dump or a disk image, read as consecutive pages).
"""

from __future__ import annotations

import errno
import hashlib
import operator
import os
import pathlib
import stat
import sys
import sysconfig
from dataclasses import dataclass

import numpy as np

from .pool import _page_size as pool_page_size

__all__ = ["PageSet", "default_pages", "python_installation_files", "read_pages"]

# Largest single read: bounds how stale the progress bar gets on a big file and how much a
# buffer may have to grow by at once when a file turns out longer than its stat said.
_CHUNK = 1 << 22

# Directories under the standard library that hold third-party packages, not the installation.
_THIRD_PARTY = frozenset({"site-packages", "dist-packages"})


@dataclass(frozen=True, eq=False)
class PageSet:
    """Pages read from files, and where each came from.

    Attributes
    ----------
    pages : numpy.ndarray
        ``(n, page_size)`` ``uint8``, C-contiguous. Page ``i`` of a file holds its bytes
        ``[i * page_size, (i + 1) * page_size)``; the last page of a file is zero-padded.
    sources : tuple of (str, int, int)
        ``(path, first_page, n_pages)``, one per file that contributed pages, in page order: the
        ranges are consecutive and cover ``pages`` exactly. ``path`` is spelt as it was found (the
        symlink's own path, not its target). When ``max_pages`` cut the last file short,
        ``n_pages`` counts only the pages taken. Empty files contribute no pages and no entry.
    skipped : tuple of (str, str)
        ``(path, reason)`` for entries found while walking a directory that were not read:
        unreadable files or directories, dangling symlinks, symlinks to directories (not followed,
        to avoid cycles), fifos, sockets and devices.

    Notes
    -----
    Equality compares page contents (not identity); a ``PageSet`` is therefore not hashable.
    ``pages`` stays writeable so Numba kernels can take it without read-only array types.
    """

    pages: np.ndarray
    sources: tuple
    skipped: tuple

    def __post_init__(self):
        p = self.pages
        if not (isinstance(p, np.ndarray) and p.ndim == 2 and p.dtype == np.uint8
                and p.flags.c_contiguous):
            raise ValueError("pages must be a C-contiguous (n, page_size) uint8 array")

    @property
    def page_size(self) -> int:
        """Bytes per page."""
        return int(self.pages.shape[1])

    def __len__(self) -> int:
        return int(self.pages.shape[0])

    def __eq__(self, other):
        if not isinstance(other, PageSet):
            return NotImplemented
        return (self.sources == other.sources and self.skipped == other.skipped
                and self.pages.shape == other.pages.shape
                and bool(np.array_equal(self.pages, other.pages)))

    __hash__ = None

    def __repr__(self):
        return (f"PageSet({len(self)} pages of {self.page_size} B from {len(self.sources)} files, "
                f"{len(self.skipped)} skipped)")


# ---------------------------------------------------------------------------------------------
# Argument checks

def _check_page_size(page_size):
    # bool is an int subclass but True is never a page size someone meant
    if isinstance(page_size, bool):
        raise ValueError(f"page_size must be an integer, got {page_size!r}")
    try:
        ps = operator.index(page_size)
    except TypeError:
        raise ValueError(f"page_size must be an integer, got {page_size!r}") from None
    return pool_page_size(ps)


def _check_max_pages(max_pages):
    if max_pages is None:
        return None
    if isinstance(max_pages, bool):
        raise ValueError(f"max_pages must be None or a positive integer, got {max_pages!r}")
    try:
        n = operator.index(max_pages)
    except TypeError:
        raise ValueError(
            f"max_pages must be None or a positive integer, got {max_pages!r}") from None
    if n <= 0:
        raise ValueError(f"max_pages must be None or a positive integer, got {n}")
    return n


# ---------------------------------------------------------------------------------------------
# Finding files

def _order_key(rel):
    """Stable, well-mixed sort key for a path relative to its root (see the module docstring)."""
    raw = os.fsencode(rel)
    return hashlib.blake2b(raw, digest_size=8).digest(), raw


def _reason(exc):
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    return repr(exc)


def _kind(mode):
    for test, name in ((stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device")):
        if test(mode):
            return name
    return "special file"


def _walk(root, skipped, exclude_top=frozenset()):
    """Regular files under ``root`` as ``[(key, path, stat), ...]``, unsorted.

    Subdirectories are entered without following symlinks (a symlinked directory could loop or
    pull in half the file system); symlinks to files are followed. Anything that cannot be
    listed or stat'ed is appended to ``skipped`` instead of raising: one bad entry in a large
    tree should not lose the rest.
    """
    found = []
    bad = []
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        dir_path = os.path.join(root, rel_dir) if rel_dir else root
        try:
            with os.scandir(dir_path) as it:
                entries = list(it)
        except OSError as exc:
            bad.append((dir_path, _reason(exc)))
            continue
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not (rel_dir == "" and entry.name in exclude_top):
                        stack.append(rel)
                    continue
                st = entry.stat(follow_symlinks=True)
            except FileNotFoundError as exc:
                reason = "dangling symlink" if entry.is_symlink() else _reason(exc)
                bad.append((entry.path, reason))
                continue
            except OSError as exc:
                bad.append((entry.path, _reason(exc)))
                continue
            if stat.S_ISREG(st.st_mode):
                found.append((_order_key(rel), entry.path, st))
            elif stat.S_ISDIR(st.st_mode):
                bad.append((entry.path, "symlink to a directory (not followed)"))
            else:
                bad.append((entry.path, f"not a regular file ({_kind(st.st_mode)})"))
    # scandir order depends on the file system; the report should not
    skipped += sorted(bad)
    return found


def _nested_in(path, others):
    return any(path != o and path.startswith(o.rstrip(os.sep) + os.sep) for o in others)


def _installation_roots():
    """Standard-library directories of the running interpreter (the base one, in a venv)."""
    base = {"base": sys.base_prefix, "platbase": sys.base_exec_prefix,
            "installed_base": sys.base_prefix, "installed_platbase": sys.base_exec_prefix}
    candidates = []
    for key in ("stdlib", "platstdlib"):
        try:
            candidates.append(sysconfig.get_path(key, vars=base))
        except (KeyError, ValueError):
            pass
    # The directories modules were actually imported from, in case the scheme lies (distro
    # patches): where ``os`` lives, and any lib-dynload on sys.path.
    candidates.append(os.path.dirname(os.__file__))
    candidates += [p for p in sys.path if os.path.basename(p.rstrip(os.sep)) == "lib-dynload"]
    roots = []
    for c in candidates:
        if c and os.path.isdir(c):
            c = os.path.realpath(c)
            if c not in roots:
                roots.append(c)
    # a root inside another (lib-dynload inside platstdlib) would only list its files twice
    return [r for r in roots if not _nested_in(r, roots)]


def _installation_singles():
    """``libpython*.so*`` and the interpreter executable: installation files outside the roots."""
    paths = []
    version = sysconfig.get_config_var("VERSION") or f"{sys.version_info[0]}.{sys.version_info[1]}"
    libdir = sysconfig.get_config_var("LIBDIR")
    multiarch = sysconfig.get_config_var("MULTIARCH")
    dirs = [d for d in (libdir, libdir and multiarch and os.path.join(libdir, multiarch)) if d]
    for d in dirs:
        p = pathlib.Path(d)
        if p.is_dir():
            # only this version's library: a system libdir holds every installed Python's
            paths += sorted(p.glob(f"libpython{version}*.so*"))
    exe = getattr(sys, "_base_executable", None) or sys.executable
    if exe:
        paths.append(pathlib.Path(os.path.realpath(exe)))
    return paths


def python_installation_files():
    """List the files of the running Python installation: the default workload.

    Returns
    -------
    list of pathlib.Path
        Regular files of the standard library (sources, ``__pycache__/*.pyc``, data files,
        ``lib-dynload`` extension modules; ``site-packages`` and ``dist-packages`` excluded),
        ``libpython<version>*.so*`` from ``LIBDIR`` and the interpreter executable. In a virtual
        environment the base installation (``sys.base_prefix``) is listed. Each real file appears
        once (symlinks and hard links to the same file are dropped after the first).

    Notes
    -----
    The order is deterministic: a stable hash of each path relative to its root (the file name,
    for the library and the executable), so that any prefix mixes every kind of file. Directories
    that do not exist on this machine are ignored; unreadable entries are left out.
    """
    return [pathlib.Path(path) for path, _ in _installation_entries()]


def _installation_entries():
    """``(path, stat)`` of each file :func:`python_installation_files` lists, in its order."""
    items = []
    skipped = []
    for root in _installation_roots():
        items += _walk(root, skipped, exclude_top=_THIRD_PARTY)
    for p in _installation_singles():
        try:
            st = p.stat()
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            items.append((_order_key(p.name), str(p), st))
    items.sort(key=lambda it: it[:2])
    return [(path, st) for _, path, st in _once_per_file(items, lambda item: item[2])]


def _once_per_file(entries, stat_of):
    """``entries`` with each real file kept at its first place only: symlinks, hard links and
    repeated names are read once."""
    seen = set()
    unique = []
    for entry in entries:
        st = stat_of(entry)
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            unique.append(entry)
    return unique


# ---------------------------------------------------------------------------------------------
# Reading

class _Buffer:
    """A growing flat ``uint8`` buffer of whole pages, filled with ``readinto``."""

    def __init__(self, page_size, capacity_pages, max_pages):
        self.ps = page_size
        self.max_bytes = None if max_pages is None else max_pages * page_size
        self.flat = np.empty(capacity_pages * page_size, np.uint8)
        self.pos = 0  # end of the last complete file, always page aligned

    def ensure(self, nbytes, keep):
        """Make room for ``nbytes`` bytes in total, keeping the first ``keep`` (the caller never
        asks past ``max_pages``)."""
        if nbytes <= self.flat.size:
            return
        new = max(nbytes, 2 * self.flat.size, 16 * self.ps)
        new = -(-new // self.ps) * self.ps
        if self.max_bytes is not None:
            new = min(new, self.max_bytes)
        grown = np.empty(new, np.uint8)
        grown[:keep] = self.flat[:keep]
        self.flat = grown

    def read_file(self, f, limit, bar):
        """Append the file's pages (at most ``limit`` bytes' worth, ``None`` for no limit).

        Reads until EOF rather than trusting ``st_size``: files under /proc report 0, and a file
        may grow between listing and reading. Returns the number of pages appended.
        """
        start = self.pos
        end_limit = None if limit is None else start + limit
        pos = start
        scratch = None
        while end_limit is None or pos < end_limit:
            if pos >= self.flat.size:
                # Buffer full (the estimate from st_size ran out): probe with a small read before
                # growing, so a file that ends exactly here costs no reallocation.
                if scratch is None:
                    scratch = np.empty(min(_CHUNK, 16 * self.ps), np.uint8)
                want = scratch.size if end_limit is None else min(scratch.size, end_limit - pos)
                k = f.readinto(memoryview(scratch)[:want])
                if not k:
                    break
                self.ensure(pos + k, keep=pos)  # keep this file's bytes read so far too
                self.flat[pos:pos + k] = scratch[:k]
            else:
                stop = min(self.flat.size, pos + _CHUNK)
                if end_limit is not None:
                    stop = min(stop, end_limit)
                k = f.readinto(memoryview(self.flat)[pos:stop])
                if not k:
                    break
            pos += k
            bar.update(k)
        n_pages = -(-(pos - start) // self.ps)
        end = start + n_pages * self.ps
        self.flat[pos:end] = 0  # zero padding of the last page, as the page cache holds it
        bar.update(end - pos)  # the bar counts page bytes, so it ends at its total
        self.pos = end
        return n_pages

    def pages(self):
        n = self.pos // self.ps
        used = self.flat[:self.pos]
        # copy only if the buffer was over-allocated, so a large unused tail is not kept alive
        if self.flat.size > self.pos:
            used = used.copy()
        return used.reshape(n, self.ps)


def _expand(paths, skipped):
    """Turn the caller's paths into ``[(path, stat, explicit), ...]`` in reading order."""
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    out = []
    for p in paths:
        path = os.fsdecode(os.fspath(p))
        # raises FileNotFoundError / PermissionError naming the path (also for dangling symlinks)
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            found = _walk(path, skipped)
            found.sort(key=lambda it: it[0])
            out += [(fp, fst, False) for _, fp, fst in found]
        else:
            if not os.access(path, os.R_OK, effective_ids=os.access in os.supports_effective_ids):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
            out.append((path, st, True))
    return out


def _read(entries, page_size, max_pages, progress, skipped):
    unique = _once_per_file(entries, lambda entry: entry[1])

    # Preallocate from st_size so regular files need no reallocation; streams and files that
    # grew make the buffer grow. Never more than max_pages pages.
    est_pages = sum(-(-st.st_size // page_size) for _, st, _ in unique if stat.S_ISREG(st.st_mode))
    if max_pages is not None:
        est_pages = min(est_pages, max_pages)
    buf = _Buffer(page_size, est_pages, max_pages)

    # plain tqdm, not tqdm.auto: the bar goes to stderr even inside a notebook; imported here
    # like the other modules do, so importing zbudjit stays cheap
    from tqdm import tqdm

    sources = []
    with tqdm(total=est_pages * page_size, unit="B", unit_scale=True, unit_divisor=1024,
              file=sys.stderr, disable=not progress, desc="reading pages", leave=False) as bar:
        for path, st, explicit in unique:
            taken = buf.pos // page_size
            if max_pages is not None and taken >= max_pages:
                break
            limit = None if max_pages is None else (max_pages - taken) * page_size
            start = buf.pos
            try:
                # unbuffered: readinto goes straight from the kernel into the page table
                with open(path, "rb", buffering=0) as f:
                    n = buf.read_file(f, limit, bar)
            except OSError as exc:
                if explicit:
                    raise
                buf.pos = start  # drop whatever a failed read left behind
                skipped.append((path, _reason(exc)))
                continue
            if n:
                sources.append((path, taken, n))
    return PageSet(pages=buf.pages(), sources=tuple(sources), skipped=tuple(skipped))


def read_pages(paths, page_size=4096, max_pages=None, progress=False):
    """Read files, directories or a raw dump as memory pages.

    Parameters
    ----------
    paths : str, os.PathLike or iterable of them
        Files and directories, read in the order given. A directory is walked recursively and its
        regular files are read in the order of a stable hash of their path relative to it (see
        the module docstring). A single file of any size (e.g. a memory dump) is read as
        consecutive pages; an explicitly named fifo or device is read as a stream until EOF
        (give ``max_pages`` for an endless one such as ``/dev/zero``).
    page_size : int, default 4096
        Bytes per page, a power of two from 4096 to 65536.
    max_pages : int or None, default None
        Stop once this many pages are collected. Files after that are not opened, and the last
        file read may contribute only its first pages.
    progress : bool, default False
        Show a tqdm progress bar on stderr (page bytes, padding included).

    Returns
    -------
    PageSet
        The pages, one ``sources`` entry per file that contributed pages, and the directory
        entries that were skipped.

    Raises
    ------
    FileNotFoundError
        A path given explicitly does not exist (or is a dangling symlink).
    PermissionError
        A file given explicitly cannot be read (entries found in a directory are skipped and
        listed in ``PageSet.skipped`` instead).
    ValueError
        ``page_size`` or ``max_pages`` is invalid.

    Notes
    -----
    A file of ``L`` bytes gives ``ceil(L / page_size)`` pages with the last zero-padded; empty
    files give none. Every real file is read once: a symlink and its target, hard links, or the
    same path listed twice contribute pages only at their first occurrence. Symlinks to files
    are followed; symlinks to directories inside a walked directory are not.
    """
    page_size = _check_page_size(page_size)
    max_pages = _check_max_pages(max_pages)
    skipped = []
    entries = _expand(paths, skipped)
    return _read(entries, page_size, max_pages, progress, skipped)


def default_pages(page_size=4096, max_pages=None, progress=False):
    """The default workload: the running Python installation's files as memory pages.

    Parameters
    ----------
    page_size : int, default 4096
        Bytes per page, a power of two from 4096 to 65536.
    max_pages : int or None, default None
        Stop after this many pages; thanks to the hashed file order any prefix mixes sources,
        byte code, extension modules and the shared library.
    progress : bool, default False
        Show a tqdm progress bar on stderr (page bytes, padding included).

    Returns
    -------
    PageSet
        As ``read_pages(python_installation_files(), ...)``, except that a file that cannot be
        read is listed in ``skipped`` instead of raising, as for a directory walk: the files
        were found by walking the installation, not named by the caller.
    """
    page_size = _check_page_size(page_size)
    max_pages = _check_max_pages(max_pages)
    # a file that vanished or became unreadable since it was listed is skipped by _read
    entries = [(path, st, False) for path, st in _installation_entries()]
    return _read(entries, page_size, max_pages, progress, [])
