"""Where Numba keeps zbudjit's compiled kernels: a per-user cache directory, never the package.

Left to itself, Numba writes the cache of every ``@njit(cache=True)`` kernel (``*.nbi`` index and
``*.nbc`` code files) into the ``__pycache__`` folder beside the kernel's source, which for an
installed zbudjit is ``site-packages/zbudjit/...``. pip does not know those files, so
``pip uninstall`` leaves them, and with them the folders ``site-packages/zbudjit/...``; a later
editable install is then shadowed by that leftover folder, which Python imports as an empty
namespace package (``ImportError: cannot import name 'POLICIES'``).

So, unless the user has chosen a cache directory (``NUMBA_CACHE_DIR`` set and not empty, Numba's
``.numba_config.yaml``, or ``numba.config.CACHE_DIR`` set in code before zbudjit was imported), this
module sets ``NUMBA_CACHE_DIR`` and ``numba.config.CACHE_DIR`` to
``$XDG_CACHE_HOME/zbudjit/numba-<zbudjit version>-py<X.Y>-<hash of the package's sources>``
(``~/.cache`` when ``XDG_CACHE_HOME``
is unset or not absolute). Numba has one cache directory per process, so the cached functions of
other packages defined after zbudjit's import (in this process or its children, which inherit the
variable) are kept there too, each under a folder named after its source's directory.

When that directory cannot be created or written (read-only home), it warns with
:class:`CacheDirWarning` and uses a private temporary directory that is removed when the process
exits, so kernels compile again in every run but nothing lands in the package.

It must run before any module that defines a cached kernel is imported (``zbudjit/__init__.py``
imports it first): Numba picks a kernel's cache directory when the decorator runs, by reading
``numba.config.CACHE_DIR``, not when the kernel compiles.
"""

import atexit
import hashlib
import os
import re
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

__all__ = ["CACHE_DIR", "CacheDirWarning", "configure", "user_cache_dir"]

ENV = "NUMBA_CACHE_DIR"


class CacheDirWarning(UserWarning):
    """Numba's cache directory cannot be written; the message says where kernels go instead."""


def _version():
    """zbudjit's version, read from ``__init__.py`` itself.

    ``zbudjit.__version__`` is not defined yet when this runs (``__init__`` imports this module
    first), and an installed distribution's metadata may be missing (a source checkout on
    ``sys.path``) or stale (an editable install after a version bump).
    """
    try:
        text = Path(__file__).with_name("__init__.py").read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    found = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', text, re.MULTILINE)
    return found.group(1) if found else "unknown"


def user_cache_dir(environ=None, version=None):
    """The per-user directory zbudjit gives Numba's cache, whether or not it exists.

    Parameters
    ----------
    environ : mapping, optional
        The environment to read ``XDG_CACHE_HOME`` and ``HOME`` from; ``os.environ`` by default.
    version : str, optional
        zbudjit's version; the installed source's by default.

    Returns
    -------
    str
        ``<cache home>/zbudjit/numba-<version>-py<X.Y>-<hash of the sources>``.

    Raises
    ------
    RuntimeError
        When no home directory can be found to put ``.cache`` in.
    """
    environ = os.environ if environ is None else environ
    version = _version() if version is None else version
    base = environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):                   # the XDG spec says to ignore a relative path
        home = environ.get("HOME") or str(Path.home())
        if not os.path.isabs(home):               # or makedirs would make "~/.cache" in the cwd
            raise RuntimeError(f"the home directory {home!r} is not an absolute path")
        base = os.path.join(home, ".cache")
    # One directory per zbudjit and Python version, so that an upgrade leaves the old caches in a
    # folder of their own that can be deleted whole; and per content of the package's sources,
    # because Numba checks only a cached kernel's own file, not the files of the helpers it
    # inlined: after an edit of engine/tables.py a kernel of policies/zbud/kernels.py would load
    # its old compiled code (an editable install meets that at every edit).
    name = (f"numba-{version}-py{sys.version_info.major}.{sys.version_info.minor}"
            f"-{_sources_digest()}")
    return os.path.join(base, "zbudjit", name)


def _sources_digest():
    """12 hex digits of a hash of every .py file of the package (names and contents)."""
    package = Path(__file__).parent
    digest = hashlib.sha1()
    for source in sorted(package.rglob("*.py")):
        digest.update(str(source.relative_to(package)).encode())
        try:
            digest.update(source.read_bytes())
        except OSError:
            digest.update(b"?")
    return digest.hexdigest()[:12]


def _why_unwritable(path):
    """None if PATH is (made) a directory a file can be written in, else the reason why not."""
    try:
        os.makedirs(path, exist_ok=True)
        # The same test Numba makes: without it Numba would silently skip a directory it cannot
        # write and fall back to __pycache__ beside the source, the very thing this module avoids.
        tempfile.TemporaryFile(dir=path).close()
    except OSError as error:
        return str(error)
    return None


def _tell_numba(config, path):
    """Make PATH Numba's cache directory in this process and in every process it starts."""
    # Numba's compiler calls reload_config() before every compile, which re-reads the NUMBA_
    # variables whenever one of them changed: so the variable, not only the config attribute, has
    # to hold the path, or the next compile of anyone's function would set CACHE_DIR back. The
    # variable also reaches child processes.
    os.environ[ENV] = path
    config.reload_config()
    if config.CACHE_DIR != path:                  # a numba whose reload ignores the change
        config.CACHE_DIR = path


def _temporary_dir():
    """A private directory for this process's cache, removed when the process exits."""
    path = tempfile.mkdtemp(prefix="zbudjit-numba-")   # mode 0700: the index files are pickles
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def configure():
    """Choose Numba's cache directory for zbudjit's kernels and tell Numba; return it.

    A directory the user chose (``NUMBA_CACHE_DIR``, ``cache_dir`` in ``.numba_config.yaml``, or
    ``numba.config.CACHE_DIR`` set in code before zbudjit was imported) is kept as it is.
    Otherwise :func:`user_cache_dir` is created and used; if it cannot be written, a temporary
    directory is used with a :class:`CacheDirWarning`.

    Returns
    -------
    str or None
        The cache directory, or None if none could be made (Numba's own default then applies).
    """
    # Imported here rather than left to the kernels' modules so that the choice below sees what
    # the user set; importing numba.core.config reads the environment if numba was not imported
    # yet, and reload_config() re-reads it if numba was (say NUMBA_CACHE_DIR was set in code
    # after `import numba`): either way CACHE_DIR is current before any decorator reads it.
    from numba.core import config
    config.reload_config()
    if config.CACHE_DIR:                          # e.g. CI's bounds-checked pass has its own
        problem = _why_unwritable(config.CACHE_DIR)
        if problem is not None:
            warnings.warn(f"Numba's cache directory {config.CACHE_DIR} ({ENV}) cannot be "
                          f"written ({problem}); Numba then caches zbudjit's kernels beside "
                          f"their sources.", CacheDirWarning, stacklevel=2)
        return config.CACHE_DIR
    try:
        path = user_cache_dir()
        problem = _why_unwritable(path)
    except RuntimeError as error:                 # no home directory at all
        path, problem = "~/.cache/zbudjit", str(error)
    if problem is not None:
        try:
            fallback = _temporary_dir()
        except OSError as error:
            warnings.warn(f"zbudjit cannot write Numba's cache to {path} ({problem}) nor to a "
                          f"temporary directory ({error}); Numba's own default applies. Set "
                          f"{ENV} to a writable directory.", CacheDirWarning, stacklevel=2)
            return None
        warnings.warn(f"zbudjit cannot write Numba's cache to {path} ({problem}); compiled kernels "
                      f"are kept in {fallback} for this process only, so they compile again in "
                      f"every run. Set {ENV} or XDG_CACHE_HOME to a writable directory to keep "
                      f"them.", CacheDirWarning, stacklevel=2)
        path = fallback
    _tell_numba(config, path)
    return path


CACHE_DIR = configure()
