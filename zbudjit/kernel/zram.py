"""A driver for private zram devices: the running kernel's zsmalloc as the project's live oracle.

A zram device stores each 4 KiB page it is given in zsmalloc, and ``/sys/block/zramN/mm_stat``
reports the pool's exact state after every operation (kernel-6.18.md, section 7.3). Written to
with O_DIRECT, one page at a time, it answers synchronously and deterministically, so a sequence of
writes, discards and compactions recorded on it is the reference that zbudjit's zsmalloc policy
and its zram frontend must reproduce (sections 7 and 12 of the notes).

What this module holds
----------------------
- :func:`availability`: whether this process can use the kernel at all (root, zram built in), and
  why not, so callers can skip with a clear reason.
- :class:`ZramDevice`: one device this process hot-added, configured, opened and, whatever
  happens, removed again: by :meth:`ZramDevice.close` (or the ``with`` block), at interpreter
  exit, and on SIGTERM or SIGINT. A device another process or the machine owns (``/dev/zram0``) is
  never touched: ours is held open from its configuration to its removal (so nobody can remove it
  and reuse its number meanwhile), and removal first checks the device's ``diskseq``, a number the
  kernel never gives twice per boot, so a number reused after ours went cannot be taken for ours.
- :func:`record`: run operations on a fresh device and record, after each one, the compressed size
  the kernel gave each write and the whole of ``mm_stat``.
- :data:`RECORD_DTYPE` and the op codes, :func:`same_filled`; mm_stat and io_stat come as the
  model's own :class:`~zbudjit.frontends.zram.MmStat` and :class:`~zbudjit.frontends.zram.IoStat`,
  so the kernel's figures and the model's compare directly.

A signal ends the devices' lives: they are removed before the handler that was there before runs,
whatever that handler then does (Python's SIGINT handler raises KeyboardInterrupt, which a program
may catch and go on; its devices are then gone and say so). SIGKILL cannot be caught, so a process
killed that way leaves its device behind (remove it by hand as section 12 says). Signal cleanup
runs in the main thread, as Python's signal handlers do; a device is meant for one thread.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import mmap
import os
import signal
import struct
import sys
import threading
import time
import weakref
import numpy as np

from ..frontends.zram import IoStat, MmStat
from ..frontends.zram_kernels import OP_COMPACT, OP_DISCARD, OP_WRITE

__all__ = ["BLKDISCARD", "HUGE_CLASS_SIZE", "IoStat", "MM_STAT_FIELDS", "MmStat", "OP_COMPACT",
           "OP_DISCARD", "OP_NAMES", "OP_WRITE", "PAGE_SIZE", "RECORD_DTYPE", "ZramDevice", "ZramError",
           "ZramUnavailable", "availability", "huge_class_size", "record", "same_filled"]

#: zram's page: the kernel's PAGE_SIZE, 4 KiB on every machine this oracle supports.
PAGE_SIZE = 4096

#: zs_huge_class_size() for CONFIG_ZSMALLOC_CHAIN_SIZE=8 and 4 KiB pages (notes 1.10): zram stores
#: a page whose compressed length is at least this uncompressed, in a 4096-byte object.
HUGE_CLASS_SIZE = 3625
huge_class_size = HUGE_CLASS_SIZE

#: ioctl number of BLKDISCARD (_IO(0x12, 119)); its argument is two uint64: start and length.
BLKDISCARD = 0x1277

#: Op codes of :func:`record`'s operations and of :data:`RECORD_DTYPE`'s ``op`` field.
OP_NAMES = ("write", "discard", "compact")

_CONTROL = "/sys/class/zram-control"
MM_STAT_FIELDS = ("orig_data_size", "compr_data_size", "mem_used_total", "mem_limit",
                   "mem_used_max", "same_pages", "pages_compacted", "huge_pages",
                   "huge_pages_since")

#: One record of :func:`record`: the operation, then ``mm_stat`` after it.
#:
#: ``op``        OP_WRITE, OP_DISCARD or OP_COMPACT
#: ``index``     the page index written or discarded; -1 for a compaction
#: ``comp_len``  for a write, the bytes the kernel's compr_data_size counts for the new contents:
#:               the compressed length (1..3624), 4096 for a page stored uncompressed (its real
#:               compressed length, at least 3625, is not visible), 0 for a same-filled page;
#:               -1 for a discard or a compaction
#: ``same``      the write was same-filled (stored as a word, no zsmalloc object)
#: the nine mm_stat fields (section 7.3), in bytes or counts as the kernel prints them.
RECORD_DTYPE = np.dtype([("op", np.uint8), ("index", np.int64), ("comp_len", np.int64),
                         ("same", np.bool_)] + [(name, np.int64) for name in MM_STAT_FIELDS])


class ZramError(OSError):
    """A zram operation failed: a sysfs write the kernel refused, an I/O error on the device, or a
    kernel that behaved as the recorder cannot explain. ``errno`` is the kernel's error, if any."""


class ZramUnavailable(RuntimeError):
    """This process cannot use zram here; the message is :func:`availability`'s reason."""


def availability():
    """Whether this process can drive private zram devices, and why not.

    Returns
    -------
    available : bool
        True when the process is root on Linux with zram's control interface and 4 KiB pages.
    reason : str
        Empty when available; otherwise one sentence fit for ``pytest.skip``.
    """
    if not sys.platform.startswith("linux"):
        return False, f"zram needs Linux; this is {sys.platform}"
    if os.geteuid() != 0:
        return False, "zram devices can only be added by root; this process is not root"
    if not os.path.exists(f"{_CONTROL}/hot_add"):
        return False, (f"{_CONTROL} is missing: this kernel has no zram "
                       "(not built in and the module is not loaded)")
    if os.sysconf("SC_PAGE_SIZE") != PAGE_SIZE:
        return False, (f"the kernel's page is {os.sysconf('SC_PAGE_SIZE')} bytes; "
                       f"the oracle assumes {PAGE_SIZE}")
    return True, ""


def same_filled(page):
    """Whether zram stores this page as a word: one 8-byte word repeated 512 times (section 7.2).

    Parameters
    ----------
    page : bytes-like or numpy.ndarray
        4096 bytes.

    Returns
    -------
    bool
    """
    data = np.ascontiguousarray(page).tobytes() if isinstance(page, np.ndarray) else bytes(page)
    if len(data) != PAGE_SIZE:
        raise ValueError(f"a page is {PAGE_SIZE} bytes, got {len(data)}")
    return data == data[:8] * (PAGE_SIZE // 8)


# ---------------------------------------------------------------------------------------------
# Cleanup on exit and on signals
#
# Every device this process has added and not yet removed is in _LIVE. atexit and the SIGTERM and
# SIGINT handlers remove them all. Python runs a signal's handler in the main thread between any
# two bytecodes, so it could interrupt the very code that adds or removes a device. Such code is a
# step (``with _signals_deferred():``): a signal that comes while a step runs is only noted, and
# handled as soon as no step runs any more. This holds wherever the signal comes, because:
#
# - A step of the main thread is known by the frame that entered it, and runs for as long as that
#   frame is on the main thread's stack. There is no count to undo on the way out: a count that an
#   exception skipped (a KeyboardInterrupt from Python's own handler just as a step began, before
#   ours was in) would have every later signal noted and never handled.
# - Our handlers go in before the first step that adds a device and are given back only after the
#   step that removed the last one, so no other handler raises inside a step's own bookkeeping.
#   While ours is installed, _PREVIOUS holds what it chains to: an entry is made before our
#   handler goes in and dropped only once it is gone.
# - A step of another thread (a device used outside the main thread) defers the main thread's
#   signals too, so the handler never removes a device while that thread adds or removes one; the
#   last such step to end sends the noted signals on to the main thread, which handles them.
# - The noted signals are handled together, each once (as the kernel merges a pending signal),
#   and an exception from one handler does not lose the others.

_LIVE = weakref.WeakValueDictionary()     # diskseq -> ZramDevice
_PREVIOUS = {}                            # signal -> the handler ours replaced
_PENDING = []                             # (signal, frame, handler to chain to), noted in a step
_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_STEPS = []                               # the frames that entered the main thread's steps
_OTHER_STEPS = [0]                        # steps running in other threads
_OTHER_LOCK = threading.Lock()            # for _OTHER_STEPS; never taken by the main thread


class _Step:
    """The context of a step that adds or removes a device (see above)."""

    __slots__ = ("_frame", "_other")

    def __enter__(self):
        self._other = threading.current_thread() is not threading.main_thread()
        if self._other:
            with _OTHER_LOCK:
                _OTHER_STEPS[0] += 1
        else:
            self._frame = sys._getframe(1)
            _STEPS.append(self._frame)
        return self

    def __exit__(self, *exc):
        if self._other:
            with _OTHER_LOCK:
                _OTHER_STEPS[0] = max(_OTHER_STEPS[0] - 1, 0)     # 0 after a fork: see there
                last = _OTHER_STEPS[0] == 0
            if last:
                _send_pending_to_main()
            return
        with contextlib.suppress(ValueError):   # already forgotten, as over (see _in_step)
            _STEPS.remove(self._frame)
        self._frame = None
        if _PENDING and not _in_step(sys._getframe()):
            _run_pending()


def _signals_deferred():
    """``with _signals_deferred():`` runs its body as one step: signals wait until it is over."""
    return _Step()


def _in_step(frame):
    """Whether a step runs: in another thread, or in the main thread, whose current frame is
    ``frame``. A step whose frame has left the stack without ending it (an exception skipped its
    exit) is over, and forgotten."""
    if _OTHER_STEPS[0]:
        return True
    if not _STEPS:
        return False
    stack = set()
    while frame is not None:
        stack.add(id(frame))            # the frames in _STEPS are alive, so their ids are theirs
        frame = frame.f_back
    running = [step for step in _STEPS if id(step) in stack]
    if len(running) < len(_STEPS):
        _STEPS[:] = running
    return bool(running)


def _run_pending():
    """Handle the noted signals in the order they came; the first exception a handler raised is
    raised once every one has been handled."""
    error = None
    while _PENDING:
        try:
            signum, frame, previous = _PENDING.pop(0)
        except IndexError:              # a handler in between took the last one
            break
        try:
            _handle(signum, frame, previous)
        except BaseException as exc:    # noqa: BLE001 - the others must still be handled
            if error is None:
                error = exc
    if error is not None:
        try:
            raise error
        finally:
            error = None                # no cycle frame -> error -> traceback -> frame


def _send_pending_to_main():
    # Called by another thread when its last step ends: only the main thread runs handlers.
    main = threading.main_thread().ident
    while _PENDING:
        try:
            signum = _PENDING.pop(0)[0]
        except IndexError:
            break
        signal.pthread_kill(main, signum)


def _close_all():
    """Remove every live device of this process and give the previous handlers back; errors are
    reported, never raised (this runs at exit and in signal handlers, where raising would hide the
    reason the process is ending)."""
    for device in list(_LIVE.values()):
        try:
            device.close()
        except Exception as exc:            # noqa: BLE001 - the others must still be removed
            print(f"zbudjit.kernel.zram: could not remove zram{device.number}: {exc}",
                  file=sys.stderr)
    _restore_handlers(always=True)          # also when no close() ran: nothing is left to guard


def _on_signal(signum, frame):
    # The handler to chain to is taken now: closing the last device gives it back and forgets it.
    # A signal already noted is not noted twice, as the kernel keeps one of each pending.
    if all(noted[0] != signum for noted in _PENDING):
        _PENDING.append((signum, frame, _PREVIOUS.get(signum, signal.SIG_DFL)))
    if not _in_step(sys._getframe()):
        _run_pending()


def _handle(signum, frame, previous):
    _close_all()                            # and puts the previous handlers back
    if callable(previous):
        previous(signum, frame)             # e.g. Python's default_int_handler: KeyboardInterrupt
    else:
        # SIG_DFL: end the process by the signal, as it would have without us, so its parent sees
        # the right exit status.
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _install_handlers():
    if threading.current_thread() is not threading.main_thread():
        return                              # signal.signal works only there; atexit still guards
    for signum in _SIGNALS:
        current = signal.getsignal(signum)
        # An ignored signal does not end the process, and a handler installed outside Python
        # (None) cannot be chained: leave both alone.
        if current is _on_signal or current is None or current == signal.SIG_IGN:
            continue
        _PREVIOUS[signum] = current         # before ours goes in: it chains to this at once
        signal.signal(signum, _on_signal)


def _restore_handlers(always=False):
    """Give the handlers ours replaced back once no device is left, nor being added: close() may
    run inside a device's __init__ (a finaliser's), before that device is live. ``always`` skips
    the second condition: for that __init__ when it failed, and for a signal's handler, which ends
    every device's life (an __init__ that goes on after it installs them again)."""
    if _LIVE or threading.current_thread() is not threading.main_thread():
        return
    frame = None if always else sys._getframe(1)
    while frame is not None:
        if frame.f_code is ZramDevice.__init__.__code__:
            return
        frame = frame.f_back
    for signum, previous in list(_PREVIOUS.items()):
        if signal.getsignal(signum) is _on_signal:   # somebody else's later handler stays
            signal.signal(signum, previous)
        _PREVIOUS.pop(signum, None)         # only once ours is gone: until then it chains to this


def _forget_after_fork():
    # A forked child must not remove its parent's devices; it only lets go of its copies of the
    # file descriptors, which would keep the parent's removal busy.
    global _OTHER_LOCK
    for device in list(_LIVE.values()):
        device._let_go()
    _LIVE.clear()
    for signum, previous in list(_PREVIOUS.items()):
        try:
            if signal.getsignal(signum) is _on_signal:
                signal.signal(signum, previous)
        except ValueError:                  # not the child's main thread: leave it
            pass
    _PREVIOUS.clear()
    _PENDING.clear()
    # The other threads did not come along: their steps are over (and their lock may be held).
    # A main-thread step the fork was made in goes on in the child; stale frames are forgotten.
    _OTHER_LOCK = threading.Lock()
    _OTHER_STEPS[0] = 0


atexit.register(_close_all)
os.register_at_fork(after_in_child=_forget_after_fork)


# ---------------------------------------------------------------------------------------------
# sysfs

def _read_attr(path):
    with open(path, "rb", buffering=0) as f:
        return f.read().decode().strip()


def _write_attr(path, value):
    # Unbuffered os.write: with a buffered file the kernel's error surfaces only when the file is
    # closed, and a garbage-collected file swallows it.
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)


def _page_count(n, what):
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{what} must be an integer, got {n!r}")
    return int(n)


class ZramDevice:
    """A private zram device: hot-added, configured and opened here, removed when closed.

    Parameters
    ----------
    disksize : int, default 64 MiB
        Bytes of the device (rounded up to pages by the kernel); it bounds the page indices.
    comp_algorithm : str, default "lz4"
        One of the algorithms ``/sys/block/zramN/comp_algorithm`` lists.
    mem_limit : int, default 0
        Bytes of zsmalloc memory the device may use (rounded up to pages); 0 for no limit.
    max_pages_per_write : int, default 64
        Pages of the page-aligned buffer that O_DIRECT writes and reads go through; longer
        batches are written in runs of this many pages.

    Attributes
    ----------
    number : int
        N of ``/dev/zramN``.
    path : str
        ``/dev/zramN``.
    sysfs : str
        ``/sys/block/zramN``.
    diskseq : int
        The kernel's sequence number of this disk, unique per boot.
    disksize : int
        Bytes, as the kernel took it.
    pages : int
        Page indices the device has: ``disksize // 4096``.
    comp_algorithm : str

    Raises
    ------
    ZramUnavailable
        Where :func:`availability` says no.
    ValueError, TypeError
        Bad arguments, or an algorithm the kernel does not offer (the device is removed first).
    ZramError
        The kernel refused a step; the device is removed before this is raised.

    Notes
    -----
    Use it as a context manager, or call :meth:`close`. It is removed at interpreter exit and on
    SIGTERM or SIGINT as well; those handlers remove every device, then hand the signal on to the
    handler they replaced (so SIGINT still raises KeyboardInterrupt under pytest), and are taken
    away again when the last device is closed.
    """

    def __init__(self, disksize=64 << 20, comp_algorithm="lz4", mem_limit=0, *,
                 max_pages_per_write=64):
        ok, reason = availability()
        if not ok:
            raise ZramUnavailable(reason)
        disksize = _page_count(disksize, "disksize")
        mem_limit = _page_count(mem_limit, "mem_limit")
        max_pages_per_write = _page_count(max_pages_per_write, "max_pages_per_write")
        if disksize < PAGE_SIZE:
            raise ValueError(f"disksize must be at least one page ({PAGE_SIZE}), got {disksize}")
        if mem_limit < 0:
            raise ValueError(f"mem_limit must be >= 0 (0: no limit), got {mem_limit}")
        if max_pages_per_write < 1:
            raise ValueError(f"max_pages_per_write must be >= 1, got {max_pages_per_write}")
        if not isinstance(comp_algorithm, str) or not comp_algorithm.strip() \
                or comp_algorithm.split() != [comp_algorithm]:
            raise ValueError(f"comp_algorithm must be one algorithm name, got {comp_algorithm!r}")

        self._pid = os.getpid()
        self._fd = self._stat_fd = -1
        self._buffer = self._view = self._one = None
        self._removed = True                # until there is something to remove
        self.number, self.diskseq = -1, None
        try:
            # The handlers go in before hot_add: a SIGTERM that came while hot_add runs (it takes
            # milliseconds) would otherwise end the process by default and leave the new device.
            # They go in before the step, too: see "Cleanup on exit and on signals".
            _install_handlers()
            with _signals_deferred():
                _install_handlers()         # again, had a signal's handler given them back
                number = int(_read_attr(f"{_CONTROL}/hot_add"))
                self.number = number
                self.path = f"/dev/zram{number}"
                self.sysfs = f"/sys/block/zram{number}"
                self._removed = False
                try:
                    self.diskseq = int(_read_attr(f"{self.sysfs}/diskseq"))
                    _LIVE[self.diskseq] = self
                    self._configure(disksize, comp_algorithm, mem_limit, max_pages_per_write)
                except BaseException:
                    self.close()
                    raise
        finally:
            if self._removed:               # failed, or a signal's handler removed it meanwhile
                _restore_handlers(always=True)      # if no other device is left to guard

    def _configure(self, disksize, comp_algorithm, mem_limit, max_pages_per_write):
        offered = [name.strip("[]") for name in _read_attr(f"{self.sysfs}/comp_algorithm").split()]
        if comp_algorithm not in offered:
            raise ValueError(f"comp_algorithm {comp_algorithm!r} is not offered by this kernel; "
                             f"it offers {', '.join(offered)}")
        # The algorithm must be set first: once disksize is set the device is initialised and
        # refuses a new algorithm with EBUSY.
        self._sysfs_write("comp_algorithm", comp_algorithm)
        self._sysfs_write("disksize", disksize)
        if mem_limit:
            self._sysfs_write("mem_limit", mem_limit)
        self.comp_algorithm = comp_algorithm
        self.disksize = int(_read_attr(f"{self.sysfs}/disksize"))
        self.pages = self.disksize // PAGE_SIZE

        # devtmpfs makes the node at once; a udev-managed /dev may lag a little.
        deadline = time.monotonic() + 2.0
        while not os.path.exists(self.path):
            if time.monotonic() > deadline:
                raise ZramError(errno.ENOENT, f"{self.path} did not appear after hot_add")
            time.sleep(0.005)
        fd = os.open(self.path, os.O_RDWR | os.O_DIRECT | os.O_CLOEXEC)
        self._fd = fd
        # Make sure the node is this device and not a stale one of the same name.
        major, minor = map(int, _read_attr(f"{self.sysfs}/dev").split(":"))
        st = os.fstat(fd)
        if (os.major(st.st_rdev), os.minor(st.st_rdev)) != (major, minor):
            raise ZramError(errno.ENODEV, f"{self.path} is device {os.major(st.st_rdev)}:"
                            f"{os.minor(st.st_rdev)}, not zram{self.number} ({major}:{minor})")
        # mm_stat is read after every recorded operation: a held descriptor read at offset 0
        # makes the kernel print it afresh, for a tenth of the cost of opening the file.
        self._stat_fd = os.open(f"{self.sysfs}/mm_stat", os.O_RDONLY | os.O_CLOEXEC)
        # O_DIRECT moves data straight between the device and our memory, which must be
        # page-aligned: an anonymous mapping is.
        self._buffer = mmap.mmap(-1, max_pages_per_write * PAGE_SIZE)
        self._view = memoryview(self._buffer)
        self._one = self._view[:PAGE_SIZE]
        self._buffer_pages = max_pages_per_write

    # -- lifetime -------------------------------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        # A device dropped without close() would otherwise live until the interpreter exits.
        try:
            if not self._removed and self._pid == os.getpid():
                self.close()
        except Exception:  # noqa: BLE001, S110 - never raise from a finaliser
            pass

    @property
    def closed(self):
        """True once the device is removed (or was never added)."""
        return self._removed

    def close(self):
        """Close the device and remove it from the kernel (reset, then hot_remove).

        Closing twice does nothing. If the kernel keeps refusing (another process holds the
        device open), the device stays registered for the exit handler and ZramError is raised.
        """
        try:
            with _signals_deferred():
                if self._removed:
                    return
                self._let_go()
                if self._pid != os.getpid():
                    self._removed = True
                    return
                if not self._still_ours():
                    self._removed = True    # gone already; its number may be somebody else's
                else:
                    self._remove()
                if self.diskseq is not None:
                    _LIVE.pop(self.diskseq, None)
        finally:
            # After the step, not in it: our handlers stay in for as long as a step runs.
            _restore_handlers()             # if this was the last device

    def _let_go(self):
        """Close the descriptors and the buffer (not the device)."""
        for name in ("_fd", "_stat_fd"):
            fd = getattr(self, name)
            setattr(self, name, -1)
            if fd >= 0:
                os.close(fd)
        for view in (self._one, self._view):
            if view is not None:
                view.release()
        self._one = self._view = None
        if self._buffer is not None:
            try:
                self._buffer.close()
            except BufferError:             # a caller still holds a view: the GC frees it later
                pass
            self._buffer = None

    def _still_ours(self):
        if self.diskseq is None:            # failed just after hot_add: nobody else had time
            return os.path.isdir(self.sysfs)
        try:
            return int(_read_attr(f"{self.sysfs}/diskseq")) == self.diskseq
        except FileNotFoundError:
            return False

    def _remove(self):
        # Somebody probing new disks (udev's blkid) may hold the device open for a moment; the
        # kernel then answers EBUSY. Wait for it rather than leave the device behind.
        deadline = time.monotonic() + 5.0
        while True:
            try:
                _write_attr(f"{self.sysfs}/reset", 1)
                _write_attr(f"{_CONTROL}/hot_remove", self.number)
                break
            except FileNotFoundError:       # removed meanwhile
                break
            except OSError as exc:
                if exc.errno == errno.ENODEV:
                    break
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise ZramError(exc.errno, f"could not remove zram{self.number}: "
                                    f"{os.strerror(exc.errno)}; remove it by hand: echo 1 > "
                                    f"{self.sysfs}/reset; echo {self.number} > "
                                    f"{_CONTROL}/hot_remove") from exc
                time.sleep(0.01)
        self._removed = True

    def __repr__(self):
        if self._removed:
            return f"<ZramDevice zram{self.number} (removed)>"
        return (f"<ZramDevice {self.path} {self.comp_algorithm} "
                f"{self.disksize // (1 << 20)} MiB>")

    # -- sysfs ----------------------------------------------------------------------------------

    def _check_open(self):
        if self._removed or self._fd < 0:
            raise ValueError(f"zram{self.number} is closed")

    def _sysfs_write(self, attribute, value):
        try:
            _write_attr(f"{self.sysfs}/{attribute}", value)
        except OSError as exc:
            raise ZramError(exc.errno, f"the kernel refused {value!r} for "
                            f"{self.sysfs}/{attribute}: {os.strerror(exc.errno)}") from exc

    def _mm_stat_raw(self):
        fields = os.pread(self._stat_fd, 512, 0).split()
        if len(fields) != 9:
            raise ZramError(errno.EPROTO, f"{self.sysfs}/mm_stat has {len(fields)} fields, "
                            "not the 9 of Linux 6.18")
        return tuple(map(int, fields))

    def mm_stat(self):
        """The device's ``mm_stat`` now.

        Returns
        -------
        MmStat
        """
        self._check_open()
        return MmStat(*self._mm_stat_raw())

    def io_stat(self):
        """The device's ``io_stat`` now.

        Returns
        -------
        IoStat
        """
        self._check_open()
        return IoStat(*map(int, _read_attr(f"{self.sysfs}/io_stat").split()))

    def compact(self):
        """Run zs_compact on the device's pool (``echo 1 > compact``); the effect shows in
        :meth:`mm_stat` (pages_compacted, mem_used_total)."""
        self._check_open()
        self._sysfs_write("compact", 1)

    def reset_mem_used_max(self):
        """Set ``mem_used_max`` to the pool's current size (the kernel accepts only "0")."""
        self._check_open()
        self._sysfs_write("mem_used_max", 0)

    # -- data -----------------------------------------------------------------------------------

    def _check_range(self, first, count):
        first = _page_count(first, "index")
        if first < 0 or first + count > self.pages:
            raise IndexError(f"pages {first}..{first + count - 1} are outside zram{self.number}'s "
                             f"{self.pages} pages")
        return first

    def _io_error(self, exc, what):
        try:
            counters = f" ({self.io_stat()})"
        except OSError:
            counters = ""
        return ZramError(exc.errno, f"{what} on {self.path} failed: "
                         f"{os.strerror(exc.errno)}{counters}")

    def write_pages(self, first_index, pages):
        """Write pages at consecutive indices, synchronously.

        Parameters
        ----------
        first_index : int
            Index of the first page; page ``k`` goes to byte ``4096 * (first_index + k)``.
        pages : numpy.ndarray
            ``(n, 4096)`` ``uint8``.

        Raises
        ------
        ZramError
            The kernel failed a write (for instance ENOMEM beyond mem_limit, which zram reports
            as an I/O error and counts in failed_writes); the pages before it are written.
        """
        self._check_open()
        if not (isinstance(pages, np.ndarray) and pages.dtype == np.uint8 and pages.ndim == 2
                and pages.shape[1] == PAGE_SIZE):
            raise ValueError(f"pages must be an (n, {PAGE_SIZE}) uint8 array, got "
                             f"{getattr(pages, 'dtype', type(pages).__name__)} "
                             f"{getattr(pages, 'shape', '')}")
        first = self._check_range(first_index, len(pages))
        flat = np.ascontiguousarray(pages).reshape(-1)
        run = self._buffer_pages * PAGE_SIZE
        for start in range(0, flat.size, run):
            chunk = flat[start:start + run]
            view = self._view[:chunk.size]
            view[:] = chunk
            self._pwrite(view, first * PAGE_SIZE + start)

    def write_page(self, index, page):
        """Write one page (4096 bytes: a uint8 array or any bytes-like) at ``index``."""
        self._check_open()
        index = self._check_range(index, 1)
        self._write_one(index, page)

    def _write_one(self, index, page):
        # The recorder's path: no checks beyond what the copy itself makes.
        try:
            self._one[:] = page
        except (ValueError, TypeError):
            if not (isinstance(page, np.ndarray) and page.dtype == np.uint8
                    and page.size == PAGE_SIZE):
                raise ValueError(f"a page must be {PAGE_SIZE} bytes (uint8 or bytes-like), got "
                                 f"{getattr(page, 'dtype', type(page).__name__)} "
                                 f"{getattr(page, 'shape', '')}") from None
            self._one[:] = np.ascontiguousarray(page).reshape(-1)
        self._pwrite(self._one, index * PAGE_SIZE)

    def _pwrite(self, view, offset):
        try:
            written = os.pwrite(self._fd, view, offset)
        except OSError as exc:
            raise self._io_error(exc, f"writing page {offset // PAGE_SIZE}") from exc
        if written != len(view):
            raise ZramError(errno.EIO, f"short write on {self.path}: {written} of {len(view)} "
                            f"bytes at page {offset // PAGE_SIZE}")

    def read_pages(self, first_index, count):
        """Read ``count`` pages from ``first_index`` on (O_DIRECT).

        Returns
        -------
        numpy.ndarray
            ``(count, 4096)`` ``uint8``, a copy. Unwritten pages read as zeros, same-filled ones
            as their word.
        """
        self._check_open()
        count = _page_count(count, "count")
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        first = self._check_range(first_index, count)
        out = np.empty((count, PAGE_SIZE), np.uint8)
        flat = out.reshape(-1)
        run = self._buffer_pages * PAGE_SIZE
        for start in range(0, flat.size, run):
            n = min(run, flat.size - start)
            try:
                got = os.preadv(self._fd, [self._view[:n]], first * PAGE_SIZE + start)
            except OSError as exc:
                raise self._io_error(exc, f"reading page {first + start // PAGE_SIZE}") from exc
            if got != n:
                raise ZramError(errno.EIO, f"short read on {self.path}: {got} of {n} bytes")
            flat[start:start + n] = np.frombuffer(self._view[:n], np.uint8)
        return out

    def read_page(self, index):
        """Read one page (O_DIRECT); returns a ``(4096,)`` ``uint8`` array."""
        return self.read_pages(index, 1)[0]

    def discard(self, index, count=1):
        """Free ``count`` pages from ``index`` on (ioctl BLKDISCARD); notify_free counts each
        page, stored or not (section 7.5)."""
        self._check_open()
        count = _page_count(count, "count")
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        index = self._check_range(index, count)
        try:
            fcntl.ioctl(self._fd, BLKDISCARD,
                        struct.pack("QQ", index * PAGE_SIZE, count * PAGE_SIZE))
        except OSError as exc:
            raise self._io_error(exc, f"discarding pages {index}..{index + count - 1}") from exc


# ---------------------------------------------------------------------------------------------
# Recording

def _op_index(i, index, pages):
    """Operation ``i``'s page index as an int, if it is one of the device's ``pages``."""
    if not (isinstance(index, (int, np.integer)) and 0 <= index < pages):
        raise ValueError(f"operation {i}: index {index!r} is not a page of the device")
    return int(index)


def record(device, operations):
    """Run operations on a fresh device and record each one with ``mm_stat`` after it.

    Parameters
    ----------
    device : ZramDevice
        A device that holds nothing and has never compacted: new, or with every page discarded
        and no compaction run (otherwise the records would not start from an empty pool).
        mem_used_max is reset to 0 first.
    operations : iterable of tuple
        ``("write", index, page)`` with ``page`` 4096 bytes (bytes-like or uint8 array),
        ``("discard", index)`` or ``("compact",)``.

    Returns
    -------
    numpy.ndarray
        One :data:`RECORD_DTYPE` record per operation.

    Raises
    ------
    ValueError
        The device is not fresh, or an operation is malformed.
    ZramError
        A write failed (the records so far are in the exception's ``records`` attribute), or the
        kernel did something the rules do not explain, such as its shrinker compacting the pool
        between operations under memory pressure (the recording would not be reproducible).

    Notes
    -----
    How comp_len is known. compr_data_size is the sum of the stored objects' sizes, and a write
    replaces the index's old contents, so its change is ``new size - old size``. The recorder
    keeps the size it recorded for every index (0 for empty or same-filled slots) and takes
    ``comp_len = delta + old size``: exact for first writes and overwrites alike, without a
    discard before the overwrite (which would change the order of allocations and frees the
    kernel makes: new object first, old one freed after). Whether a write was same-filled or
    stored uncompressed is read from the same_pages and huge_pages_since counters, and checked
    against the page's bytes and comp_len.
    """
    if not isinstance(device, ZramDevice):
        raise TypeError(f"device must be a ZramDevice, got {type(device).__name__}")
    device._check_open()
    start = device.mm_stat()
    if start.orig_data_size or start.mem_used_total or start.pages_compacted:
        raise ValueError(f"record() needs a fresh device, and zram{device.number} has "
                         f"{start.orig_data_size // PAGE_SIZE} pages stored, "
                         f"{start.mem_used_total // PAGE_SIZE} pool pages and "
                         f"{start.pages_compacted} pages compacted")
    device.reset_mem_used_max()

    sizes = {}                  # index -> bytes counted in compr_data_size (0: same-filled)
    same = set()                # indices holding a same-filled page
    rows = []
    before = device._mm_stat_raw()
    pages = device.pages
    for i, operation in enumerate(operations):
        device._check_open()                # a signal handler may have removed it meanwhile
        op = operation[0] if isinstance(operation, tuple) and operation else None
        if op == "write" and len(operation) == 3:
            index, page = _op_index(i, operation[1], pages), operation[2]
            try:
                device._write_one(index, page)
            except ZramError as exc:
                exc.records = np.array(rows, RECORD_DTYPE)
                raise
            after = device._mm_stat_raw()
            old = sizes.get(index)
            comp_len = after[1] - before[1] + (old or 0)
            # same_pages rises by one for a same-filled page, less one if the old one was
            is_same = after[5] - before[5] + (index in same) == 1
            is_huge = after[8] - before[8] == 1
            stored = after[0] - before[0] == (0 if old is not None else PAGE_SIZE)
            expected_same = same_filled(page)
            if not stored or is_same != expected_same or (is_same and comp_len != 0) \
                    or is_huge != (comp_len == PAGE_SIZE) \
                    or not (is_same or is_huge or 0 < comp_len < HUGE_CLASS_SIZE):
                raise ZramError(errno.EPROTO, f"operation {i} (write of index {index}): the "
                                f"kernel's mm_stat went from {MmStat(*before)!r} to "
                                f"{MmStat(*after)!r}, which the rules do not explain "
                                f"(same-filled by its bytes: {expected_same})")
            sizes[index] = comp_len
            (same.add if is_same else same.discard)(index)
            row = (OP_WRITE, index, comp_len, is_same)
        elif op == "discard" and len(operation) == 2:
            index = _op_index(i, operation[1], pages)
            device.discard(index)
            after = device._mm_stat_raw()
            old = sizes.pop(index, None)
            same.discard(index)
            if after[1] - before[1] != -(old or 0) \
                    or after[0] - before[0] != (0 if old is None else -PAGE_SIZE):
                raise ZramError(errno.EPROTO, f"operation {i} (discard of index {index}): "
                                f"mm_stat went from {MmStat(*before)!r} to "
                                f"{MmStat(*after)!r}, which the rules do not explain")
            row = (OP_DISCARD, index, -1, False)
        elif op == "compact" and len(operation) == 1:
            device.compact()
            after = device._mm_stat_raw()
            row = (OP_COMPACT, -1, -1, False)
        else:
            raise ValueError(f"operation {i} is {operation!r}; expected ('write', index, page), "
                             "('discard', index) or ('compact',)")
        if op != "compact" and after[6] != before[6]:
            raise ZramError(errno.EPROTO, f"operation {i} ({op}): pages_compacted went from "
                            f"{before[6]} to {after[6]} without a compaction: the kernel's "
                            "shrinker compacted the pool (memory pressure), so this recording "
                            "is not reproducible")
        rows.append(row + after)
        before = after
    return np.array(rows, RECORD_DTYPE)
