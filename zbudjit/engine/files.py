"""The files a pool or a frontend maps (an arena, a swap file): each opened under an exclusive lock,
with disk space reserved before any byte is written into its mapping.

Why the lock: two users of one file (a second pool opened on a live pool's arena, a second Zswap
on the same swap path) would write each other's bytes, or truncate the file under the other's
mapping. The lock is ``flock``'s: advisory, on the open file, held until the file is closed (when
its pool or frontend is closed or collected, or its process ends, even by kill -9), so a second
open in this process or any other fails at once with :class:`zbudjit.FileInUseError`.

Why the reservation: a sparse file has no disk blocks for the pages never written, and a store
into a shared mapping of such a page on a full filesystem kills the process with SIGBUS.
``posix_fallocate`` gives the blocks first, so a full disk is an exception the batch can raise
before anything changes. Space once reserved stays reserved (the file keeps its blocks).
"""

import errno
import fcntl
import os

import numpy as np

from ..errors import FileInUseError, PoolFullError


def allocate(fd, start, end):
    """Give bytes ``start..end`` of a file disk blocks now, growing the file to ``end`` if it is
    shorter (so writes to them through a mapping cannot run out of space). Where the system has
    no posix_fallocate (macOS) the file only grows, sparse, and space is found on write."""
    if hasattr(os, "posix_fallocate"):
        os.posix_fallocate(fd, start, end - start)
    elif os.fstat(fd).st_size < end:
        os.ftruncate(fd, end)


class LockedFile:
    """A file of exactly ``nbytes`` bytes, open and exclusively locked until :meth:`close`.

    Parameters
    ----------
    path : str
        The file.
    nbytes : int
        Its size. A new file is created sparse of that size; an existing one must have it.
    create : bool or "replace"
        True: create the file, which must not exist. False: open an existing one. ``"replace"``:
        create it or empty an existing one (only once the lock is held, so a file another user
        holds is never cut short).
    what : str
        What the file is, for messages ("arena file", "swap file").

    Raises
    ------
    FileExistsError, FileNotFoundError, PermissionError
        As opening the file raises them.
    FileInUseError
        Another pool or frontend, in this process or another, holds the file.
    ValueError
        An existing file does not have ``nbytes`` bytes.
    """

    def __init__(self, path, nbytes, create, what):
        self.path = path
        self.nbytes = nbytes
        self.what = what
        self.reserved = 0             # bytes from the start known to have disk blocks
        new = create is True
        flags = os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT | os.O_EXCL if new else 0)
        if create == "replace":
            flags |= os.O_CREAT
        fd = os.open(path, flags, 0o666)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise FileInUseError(f"the {what} {path} is in use by another pool or process; "
                                     "close that one first") from None
            if create:
                os.ftruncate(fd, nbytes)
            elif os.fstat(fd).st_size != nbytes:
                raise ValueError(f"the {what} {path} holds {os.fstat(fd).st_size} bytes, "
                                 f"not {nbytes}")
        except BaseException:
            os.close(fd)
            if new:
                os.unlink(path)
            raise
        self._file = os.fdopen(fd, "r+b", buffering=0)

    def map(self, shape=None):
        """The whole file as a writable uint8 :class:`numpy.memmap` (a shared mapping), 1-D or
        of ``shape``."""
        return np.memmap(self._file, dtype=np.uint8, mode="r+", shape=shape or (self.nbytes,))

    def fileno(self):
        return self._file.fileno()

    def reserve(self, nbytes):
        """Give the first ``nbytes`` bytes of the file disk blocks, so that writing them through
        the mapping cannot fault; raise :class:`zbudjit.PoolFullError` when the disk is full
        (the file is then as it was, less any blocks it did get)."""
        nbytes = min(nbytes, self.nbytes)
        if nbytes <= self.reserved:
            return
        try:
            allocate(self._file.fileno(), self.reserved, nbytes)
        except OSError as error:
            if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                raise PoolFullError(
                    f"no disk space for the {self.what} {self.path}: {nbytes - self.reserved:,} "
                    f"more bytes are needed ({os.strerror(error.errno)})") from None
            if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise
            # a filesystem without fallocate: nothing can be reserved, writes are as before
        self.reserved = nbytes

    def grow(self, nbytes):
        """Make the file ``nbytes`` long (at least its size now), with disk blocks for all of it;
        OSError (ENOSPC on a full disk) leaves its length as it was."""
        allocate(self._file.fileno(), self.nbytes, nbytes)
        self.nbytes = self.reserved = max(nbytes, self.nbytes)

    def close(self):
        """Release the lock and the file (a mapping made by :meth:`map` stays valid)."""
        self._file.close()

    @property
    def closed(self):
        return self._file.closed
