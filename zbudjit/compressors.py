"""Batch compression of memory pages for the zswap frontend, with each compressor set as Linux sets it.

This module holds the compressors zswap can put in front of a pool (:data:`NAMES`), a way to ask
which ones this Python can use (:func:`available`), and :func:`get_compressor`, which returns a
:class:`Compressor` that turns a batch of pages into a ragged batch of compressed objects and back.

Ragged format
-------------
A batch of ``n`` objects is a pair ``(data, offsets)``, the layout :meth:`zbudjit.Pool.store` and
:meth:`zbudjit.Pool.read` use: ``data`` is 1-D uint8, ``offsets`` is int64 of length ``n + 1``, and
object ``i`` is ``data[offsets[i]:offsets[i + 1]]``. :meth:`Compressor.compress` returns
``offsets[0] == 0`` and no gaps; :meth:`Compressor.decompress` accepts any offsets the pool accepts
(non-decreasing, starting at or after 0, ending within ``data``). Each object is ``header_bytes``
bytes that belong to the caller (written as zeros, skipped on decompression) followed by one
compressed page. The header lets a caller keep per-object metadata in the same allocation (as
older kernels' zswap kept ``struct zswap_header``, the swap entry, in front of each compressed
page for writeback) without copying the batch a second time.

Compressors and their settings
------------------------------
Settings follow the Linux kernel's crypto drivers (``crypto/*.c``), which zswap calls, so sizes
here are the sizes zswap would store, up to the frame detail noted under zstd.

``zstd``
    python-zstandard at level 3, ``ZSTD_DEF_LEVEL`` in ``crypto/zstd.c``, with no content checksum
    (the kernel writes none). Frames omit the content size, a byte less per page than the kernel's
    frames (6-byte frame header, not 7); the decoder is told the page size instead. Measured on
    5,000 4 KiB stdlib pages, the kernel's parameters (level 3 for a 256 KiB source, content size
    written) give every frame exactly one byte longer, so the compressed blocks are the same. With
    the C backend, batches of at least 1 MiB of pages go through the multi-threaded
    ``multi_compress_to_buffer`` / ``multi_decompress_to_buffer``; smaller ones, and other
    backends, use one context in a loop.
``lz4``
    A raw LZ4 block with no size prefix, which is what the kernel's ``crypto/lz4.c`` and zram's
    ``backend_lz4.c`` store, made as the kernel's ``lib/lz4`` ``LZ4_compress_default``
    (acceleration 1) makes it, in Numba (:mod:`zbudjit.lz4`): its 16 KiB hash table, hash, skip
    step and match finder, so each page's size (and bytes) is the kernel's; checked against
    Linux 6.18's zram on the 20,000 4 KiB pages of ``default_pages()`` (docs/compressors.md).
    python-lz4's liblz4 1.9.4, which it replaces, differs on 96% of those pages. Standard LZ4
    decoders (python-lz4's) read it; zbudjit's safe decoder reads any LZ4 block. Needs no library.
``zlib``
    Raw deflate (no zlib header or Adler-32), as ``crypto/deflate.c``: level 6
    (``Z_DEFAULT_COMPRESSION``), window bits -11, memLevel 8 (the kernel's ``MAX_MEM_LEVEL``),
    default strategy.
``lzo``
    LZO1X-1 as the kernel's ``lib/lzo`` makes it (called by ``crypto/lzo.c`` for zswap, whose
    long-time default it was, and by zram's ``backend_lzo.c``), in Numba (:mod:`zbudjit.lzo`):
    its 2**13-entry dictionary, hash, match finder (the x86-64 8-byte steps) and literal-skip
    heuristic, so each page's size is the kernel's. Checked against Linux 6.18's zram on the
    20,000 4 KiB pages of ``default_pages()`` and on mixes with random tails, zero runs and
    repeats: every size below 3625 equal, and ours at least 3625 wherever zram stored the page
    uncompressed (docs/compressors.md). Standard LZO1X decoders (lzokay) read it. A batch is one
    Numba call, with no per-page Python work.
``lzo-rle``
    The kernel's lzo-rle (``crypto/lzo-rle.c``, zram's ``backend_lzorle.c``; zram's default):
    the same compressor with the bitstream-version header ``0x11 0x01`` and runs of 4 to 2051
    zero bytes as one 4-byte instruction. As exact against 6.18's zram as ``lzo``. Only the
    kernel's decoder, and zbudjit's (which reads both variants), read it.
``lzma``
    Not a kernel zswap compressor; here as a strong reference point. A raw LZMA2 stream (preset 6,
    xz's default) with no ``.xz`` container, so the size is the payload alone. It is slow: about
    1.4 ms per 4 KiB page, most of it the encoder clearing its 8 MiB-dictionary match-finder tables.
``none``
    The page itself, ``page_size`` bytes: the baseline, and the cost of storing a page
    uncompressed.

zbudjit's own codecs (lz4, lzo, lzo-rle) compress a batch of at least :data:`PARALLEL_MIN_PAGES`
pages in one contiguous part per CPU at once (their Numba kernels release the GIL) and join the
parts: the same bytes as one call on the whole batch. lz4 decompresses the same way.

Corruption is detected as well as each library's one-shot decoder detects it (the lzo and lz4
decoders check every read and write; lzo's rejects bytes after the end marker): garbled or
truncated objects raise, but zstd, zlib and lzma ignore bytes after a complete stream. Any object
that does not come back as exactly ``page_size`` bytes raises ``ValueError`` naming its index.

A :class:`Compressor` keeps no library contexts between calls, so one instance may be used from
several threads at once.
"""

import abc
import importlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numba
import numpy as np

from . import lz4, lzo
from .pool import _bytes, _whole_number

NAMES = ("zstd", "lz4", "zlib", "lzo", "lzo-rle", "lzma", "none")

# The importable module each compressor needs (None: nothing beyond NumPy).
_MODULES = {"zstd": "zstandard", "lz4": None, "zlib": "zlib", "lzo": None, "lzo-rle": None,
            "lzma": "lzma", "none": None}
# Which of those ship with the optional extra; zlib and lzma are in the standard library, so pip
# cannot supply them when they are missing (a Python built without zlib or liblzma).
_FROM_EXTRA = {"zstandard"}

ZSTD_LEVEL = 3                  # ZSTD_DEF_LEVEL, crypto/zstd.c
DEFLATE_LEVEL = 6               # Z_DEFAULT_COMPRESSION resolves to 6, crypto/deflate.c
DEFLATE_WBITS = -11             # -DEFLATE_DEF_WINBITS: raw deflate, 2 KiB window
# memLevel: the kernel's DEFLATE_DEF_MEMLEVEL is MAX_MEM_LEVEL, 8 in its zlib; zlib.compress always
# uses DEF_MEM_LEVEL, also 8, so it needs no argument.
LZMA_PRESET = 6                 # xz's default preset

# Below this many page bytes a zstd batch runs in the calling thread with one context: starting the
# batch API's worker threads (about 50 us) costs more than they save on a small batch. Measured on
# 2 CPUs with 4 KiB stdlib pages, us per page, batch API against loop: compress 38 / 16 (16 pages),
# 18 / 18 (128), 16 / 18 (256), 11 / 19 (1024); decompress 9 / 7 (128), 7 / 7 (256), 5 / 9 (4096).
_ZSTD_BATCH_MIN_BYTES = 1 << 20

# From this many pages a batch for one of zbudjit's own Numba codecs (lz4, lzo, lzo-rle) is split
# into one contiguous part per worker thread; the kernels release the GIL, so the parts run at
# once. Below it, starting the parts costs more than it saves (a part of 128 4 KiB pages takes
# about 1 ms).
PARALLEL_MIN_PAGES = 256
_executor = None
_executor_lock = threading.Lock()


def available():
    """The compressors whose library this Python can import.

    Returns
    -------
    list of str
        A subset of :data:`NAMES`, in the same order.
    """
    names = []
    for name in NAMES:
        try:
            _import(name)
        except ImportError:
            continue
        names.append(name)
    return names


def default_name():
    """The compressor to use when none is named: ``"zstd"`` if its library imports (zswap's
    usual choice), else ``"zlib"``, which every Python has."""
    try:
        _import("zstd")
    except ImportError:
        return "zlib"
    return "zstd"


def get_compressor(name):
    """The compressor called ``name``.

    Parameters
    ----------
    name : str
        One of :data:`NAMES`.

    Returns
    -------
    Compressor

    Raises
    ------
    TypeError
        If ``name`` is not a string.
    ValueError
        If ``name`` is not one of :data:`NAMES`; the message lists them.
    ImportError
        If the compressor's library cannot be imported. For zstd the message says to
        ``pip install "zbudjit[compress]"``.
    """
    if not isinstance(name, str):
        raise TypeError(f"compressor name must be a string, not {type(name).__name__}")
    if name not in NAMES:
        raise ValueError(f"unknown compressor {name!r}; known compressors: {', '.join(NAMES)}")
    module = _import(name)
    return _CLASSES[name](module)


def _import(name):
    """Import the library of compressor ``name`` (None for ``none``), with an ImportError that
    says how to get it."""
    module_name = _MODULES[name]
    if module_name is None:
        return None
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        if module_name in _FROM_EXTRA:
            hint = f'the {module_name.split(".")[0]} package: pip install "zbudjit[compress]"'
        else:
            hint = f"Python's {module_name} module, which this Python was built without"
        raise ImportError(f"compressor {name!r} needs {hint}") from exc


class Compressor(abc.ABC):
    """Compresses batches of pages into ragged batches of objects, and back.

    Get one from :func:`get_compressor`. The attribute ``name`` is the compressor's name in
    :data:`NAMES`. Subclasses supply the per-page library calls; this class checks arguments and
    builds the ragged batches.
    """

    name = None
    # Exceptions the library raises for bad compressed data; anything else propagates.
    _errors = ()

    def __init__(self, module=None):
        self._module = module

    def __repr__(self):
        return f"<Compressor {self.name!r}>"

    def compress(self, pages, header_bytes=0):
        """Compress each page into one object of a ragged batch.

        Parameters
        ----------
        pages : numpy.ndarray
            ``(n, page_size)`` uint8, one page a row. ``n`` may be 0. A non-contiguous array is
            copied to a C-contiguous one first.
        header_bytes : int, optional
            Bytes to reserve, as zeros, at the start of every object for the caller's use.

        Returns
        -------
        data : numpy.ndarray
            1-D uint8 (writable), every object back to back.
        offsets : numpy.ndarray
            int64 of length ``n + 1`` with ``offsets[0] == 0``: object ``i`` is
            ``data[offsets[i]:offsets[i + 1]]``, ``header_bytes`` zeros then page ``i`` compressed.

        Raises
        ------
        TypeError
            If ``pages`` is not uint8 or ``header_bytes`` is not an integer.
        ValueError
            If ``pages`` is not 2-D or has zero-length rows, or ``header_bytes`` is negative.
        """
        pages = _check_pages(pages)
        header_bytes = _whole_number(header_bytes, "header_bytes", 0)
        if pages.shape[0] == 0:
            return np.empty(0, np.uint8), np.zeros(1, np.int64)
        return self._compress_batch(pages, header_bytes)

    def _compress_batch(self, pages, header_bytes):
        """:meth:`compress` once its arguments are checked and there is at least one page."""
        return _ragged(self._compress_pages(pages), pages.shape[0], header_bytes)

    def decompress(self, data, offsets, page_size, header_bytes=0):
        """Decompress every object of a ragged batch into one page.

        Parameters
        ----------
        data : numpy.ndarray or bytes-like
            1-D uint8, the objects' bytes.
        offsets : array_like of int
            ``n + 1`` non-decreasing offsets into ``data``: object ``i`` is
            ``data[offsets[i]:offsets[i + 1]]``.
        page_size : int
            Bytes every object must decompress to.
        header_bytes : int, optional
            Bytes at the start of every object that are not compressed data; skipped.

        Returns
        -------
        numpy.ndarray
            A new C-contiguous, writable ``(n, page_size)`` uint8 array: page ``i`` is object ``i``
            decompressed.

        Raises
        ------
        TypeError
            If ``data`` is not uint8, ``offsets`` are not integers, or ``page_size`` or
            ``header_bytes`` is not an integer.
        ValueError
            If the arguments are malformed (bad shapes or offsets, an object shorter than
            ``header_bytes``, ``page_size`` < 1, ``header_bytes`` < 0), or an object is corrupt or
            does not decompress to exactly ``page_size`` bytes; the message names the object's index.
        """
        data = _bytes(data)
        page_size = _whole_number(page_size, "page_size", 1)
        header_bytes = _whole_number(header_bytes, "header_bytes", 0)
        starts, ends = _check_offsets(offsets, data.size, header_bytes)
        n = starts.size
        if n == 0:
            return np.empty((0, page_size), np.uint8)
        # Slicing one memoryview is the cheapest way to hand each object to a C library call.
        view = memoryview(data)
        objects = list(map(view.__getitem__, map(slice, starts.tolist(), ends.tolist())))
        pages = self._decompress_objects(data, starts, ends, objects, page_size)
        lengths = np.fromiter(map(len, pages), np.int64, n)
        wrong = np.flatnonzero(lengths != page_size)
        if wrong.size:
            i = int(wrong[0])
            raise ValueError(f"object at index {i} decompressed to {int(lengths[i])} bytes, "
                             f"not the page size {page_size}")
        return np.frombuffer(bytearray().join(pages), np.uint8).reshape(n, page_size)

    @abc.abstractmethod
    def _compress_pages(self, pages):
        """Each row of C-contiguous uint8 ``pages`` compressed: a list of bytes-like, in order."""

    @abc.abstractmethod
    def _decompress_objects(self, data, starts, ends, objects, page_size):
        """Each object (header already skipped) decompressed: a list of bytes-like, in order.

        ``objects`` are memoryviews of ``data[starts[i]:ends[i]]``. A library error raises
        ValueError naming the object; a wrong length may be left to the caller to catch.
        """

    def _decompress_each(self, function, objects, page_size):
        """``function`` over ``objects``; on a library error, find and name the first bad object.

        The fast path is one ``map``; the search runs only after a failure, so valid batches pay
        nothing for it.
        """
        try:
            return list(map(function, objects))
        except self._errors:
            pass
        for i, item in enumerate(objects):
            _decompress_one(function, item, i, page_size, self._errors, self.name)
        raise AssertionError(f"{self.name} failed on the batch but on none of its objects")


def _decompress_one(function, item, index, page_size, errors, name):
    """``function(item)``, with a library error or a wrong length raised as ValueError naming
    ``index``."""
    try:
        page = function(item)
    except errors as exc:
        raise ValueError(f"object at index {index} is corrupt or is not one {page_size}-byte page "
                         f"({name}: {exc})") from exc
    if len(page) != page_size:
        raise ValueError(f"object at index {index} decompressed to {len(page)} bytes, "
                         f"not the page size {page_size}")
    return page


class _Zstd(Compressor):
    name = "zstd"

    def __init__(self, module):
        super().__init__(module)
        self._errors = (module.ZstdError,)
        # The batch API exists only in the C extension, not in the CFFI backend.
        # It wins: on 20,000 4 KiB pages of stdlib files (82 MB), 2 CPUs, six runs each, compress
        # took 0.20-0.38 s with the batch API (threads=-1) against 0.38-0.40 s for a per-page loop,
        # and decompress 0.12-0.20 s against 0.20 s. The batch API's spread is the second CPU's
        # load from other processes; with it idle the batch API is 1.9x (compress) and 1.6x
        # (decompress) faster, and it was never slower.
        self._batch_api = getattr(module, "backend", None) == "cext"

    def _compressor(self):
        # A new context per call keeps the Compressor thread-safe (zstd contexts are not); making
        # one costs about 16 us, nothing beside a batch.
        return self._module.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=False,
                                           write_content_size=False)

    def _compress_pages(self, pages):
        n, page_size = pages.shape
        cctx = self._compressor()
        if self._batch_api and pages.nbytes >= _ZSTD_BATCH_MIN_BYTES:
            segments = np.empty((n, 2), np.uint64)
            segments[:, 0] = np.arange(0, pages.nbytes, page_size, dtype=np.uint64)
            segments[:, 1] = page_size
            # The pages are read in place; the result lists each frame in input order.
            frames = cctx.multi_compress_to_buffer(self._module.BufferWithSegments(pages, segments),
                                                   threads=-1)
            return list(frames)
        return list(map(cctx.compress, _page_views(pages)))

    def _decompress_objects(self, data, starts, ends, objects, page_size):
        n = starts.size
        # Frames carry no content size, so each decoder is given the page size instead.
        dctx = self._module.ZstdDecompressor()
        if self._batch_api and n * page_size >= _ZSTD_BATCH_MIN_BYTES:
            segments = np.empty((n, 2), np.uint64)
            segments[:, 0] = starts
            segments[:, 1] = ends - starts
            try:
                frames = dctx.multi_decompress_to_buffer(
                    self._module.BufferWithSegments(data, segments),
                    decompressed_sizes=np.full(n, page_size, np.uint64), threads=-1)
                return list(frames)
            except self._errors:
                pass    # find the bad object one by one, below
        return self._decompress_each(partial(dctx.decompress, max_output_size=page_size),
                                     objects, page_size)


class _Lz4(Compressor):
    name = "lz4"

    def _compress_pages(self, pages):
        data, offsets = self._compress_batch(pages, 0)
        return [data[a:b] for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]

    def _compress_batch(self, pages, header_bytes):
        # One Numba call per worker writes its part of the ragged batch, headers included.
        return compress_in_parallel(lz4.compress_pages, pages, header_bytes)

    def decompress(self, data, offsets, page_size, header_bytes=0):
        """As :meth:`Compressor.decompress`, in one Numba call per worker thread."""
        data = _bytes(data)
        page_size = _whole_number(page_size, "page_size", 1)
        header_bytes = _whole_number(header_bytes, "header_bytes", 0)
        starts, ends = _check_offsets(offsets, data.size, header_bytes)
        n = starts.size
        pages = np.zeros((n, page_size), np.uint8)
        status = np.empty(n, np.int8)
        produced = np.empty(n, np.int64)
        data = np.ascontiguousarray(data)
        run_in_parallel(lambda a, b: lz4.decompress_into(data, starts[a:b], ends[a:b], pages[a:b],
                                                         status[a:b], produced[a:b]), n)
        lz4.raise_for_status(status, produced, page_size)
        return pages

    def _decompress_objects(self, data, starts, ends, objects, page_size):
        return list(lz4.decompress_objects(data, starts, ends, page_size))


class _Zlib(Compressor):
    name = "zlib"

    def __init__(self, module):
        super().__init__(module)
        self._errors = (module.error,)

    def _compress_pages(self, pages):
        # zlib.compress calls deflateInit2(level, Z_DEFLATED, wbits, DEF_MEM_LEVEL = 8,
        # Z_DEFAULT_STRATEGY): the kernel's settings exactly, without a compressobj per page.
        return list(map(partial(self._module.compress, level=DEFLATE_LEVEL, wbits=DEFLATE_WBITS),
                        _page_views(pages)))

    def _decompress_objects(self, data, starts, ends, objects, page_size):
        return self._decompress_each(
            partial(self._module.decompress, wbits=DEFLATE_WBITS, bufsize=page_size),
            objects, page_size)


class _Lzma(Compressor):
    name = "lzma"

    def __init__(self, module):
        super().__init__(module)
        self._errors = (module.LZMAError,)
        # A dictionary no bigger than the page would be 2.4x faster with output identical on almost
        # every page, but not all (1 of 5,000 16 KiB pages came out 3 bytes different), so the
        # filter chain stays exactly preset 6.
        self._filters = [{"id": module.FILTER_LZMA2, "preset": LZMA_PRESET}]

    def _compress_pages(self, pages):
        return list(map(partial(self._module.compress, format=self._module.FORMAT_RAW,
                                filters=self._filters), _page_views(pages)))

    def _decompress_objects(self, data, starts, ends, objects, page_size):
        return self._decompress_each(
            partial(self._module.decompress, format=self._module.FORMAT_RAW, filters=self._filters),
            objects, page_size)


class _NoCompression(Compressor):
    name = "none"

    def _compress_pages(self, pages):
        return _page_views(pages)       # each page as it is (_compress_batch skips even this)

    def _compress_batch(self, pages, header_bytes):
        # Fixed-size objects: one vectorised copy, no per-page work at all.
        n, page_size = pages.shape
        objects = np.zeros((n, header_bytes + page_size), np.uint8)
        objects[:, header_bytes:] = pages
        offsets = np.arange(n + 1, dtype=np.int64) * (header_bytes + page_size)
        return objects.reshape(-1), offsets

    def _decompress_objects(self, data, starts, ends, objects, page_size):
        return objects      # the caller checks every length and copies the bytes out


class _Lzo(Compressor):
    name = "lzo"

    def _compress_pages(self, pages):
        data, offsets = self._compress_batch(pages, 0)
        return [data[a:b] for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]

    def _compress_batch(self, pages, header_bytes):
        # One Numba call per worker writes its part of the ragged batch, headers included:
        # nothing per page in Python.
        return compress_in_parallel(partial(lzo.compress_pages, variant=self.name), pages,
                                    header_bytes)

    def decompress(self, data, offsets, page_size, header_bytes=0):
        """As :meth:`Compressor.decompress`, all objects in one Numba call."""
        data = _bytes(data)
        page_size = _whole_number(page_size, "page_size", 1)
        header_bytes = _whole_number(header_bytes, "header_bytes", 0)
        starts, ends = _check_offsets(offsets, data.size, header_bytes)
        if starts.size == 0:
            return np.empty((0, page_size), np.uint8)
        return lzo.decompress_objects(data, starts, ends, page_size)

    def _decompress_objects(self, data, starts, ends, objects, page_size):
        return list(lzo.decompress_objects(data, starts, ends, page_size))


class _LzoRle(_Lzo):
    name = "lzo-rle"


_CLASSES = {"zstd": _Zstd, "lz4": _Lz4, "zlib": _Zlib, "lzo": _Lzo, "lzo-rle": _LzoRle,
            "lzma": _Lzma, "none": _NoCompression}


def _workers():
    """Threads a parallel batch uses: the CPUs, or fewer if Numba is told to use fewer."""
    return max(1, min(os.cpu_count() or 1, numba.config.NUMBA_NUM_THREADS))


def _thread_pool():
    """The module's worker threads, started on first use and shared by every Compressor."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=_workers(),
                                           thread_name_prefix="zbudjit-compress")
        return _executor


def _parts(n):
    """``[(start, stop), ...]``: ``n`` items as contiguous parts, one per worker, or one part
    when ``n`` is below :data:`PARALLEL_MIN_PAGES` or there is one worker."""
    workers = _workers()
    if n < PARALLEL_MIN_PAGES or workers < 2:
        return [(0, n)]
    bounds = np.linspace(0, n, workers + 1).astype(np.int64).tolist()
    return list(zip(bounds[:-1], bounds[1:]))


def run_in_parallel(work, n):
    """``work(start, stop)`` over :func:`_parts` of ``n`` items: the first part in the calling
    thread, the others in the module's threads (``work`` must release the GIL to gain). Returns
    the results in part order; the first exception raised by any part propagates."""
    parts = _parts(n)
    if len(parts) == 1:
        return [work(0, n)]
    futures = [_thread_pool().submit(work, a, b) for a, b in parts[1:]]
    first = work(*parts[0])
    return [first] + [future.result() for future in futures]


def compress_in_parallel(compress, pages, header_bytes):
    """``compress(pages, header_bytes=...)``, a batch kernel returning a ragged ``(data,
    offsets)``, run over contiguous parts of ``pages`` at once and joined: the same bytes and
    offsets as one call on the whole batch, for one extra copy of the compressed data."""
    n = pages.shape[0]
    results = run_in_parallel(lambda a, b: compress(pages[a:b], header_bytes=header_bytes), n)
    if len(results) == 1:
        return results[0]
    data = np.empty(sum(part.size for part, _ in results), np.uint8)
    offsets = np.empty(n + 1, np.int64)
    at = 0
    for (start, stop), (part, part_offsets) in zip(_parts(n), results):
        data[at:at + part.size] = part
        offsets[start:stop] = part_offsets[:-1] + at
        at += part.size
    offsets[n] = at
    return data, offsets


def _page_views(pages):
    """A memoryview of each row of C-contiguous 2-D ``pages``, without a NumPy call per row."""
    n, page_size = pages.shape
    view = memoryview(pages.reshape(-1))
    return list(map(view.__getitem__, map(slice, range(0, n * page_size, page_size),
                                          range(page_size, (n + 1) * page_size, page_size))))


def _ragged(items, n, header_bytes):
    """``(data, offsets)`` of ``header_bytes`` zeros then each of ``items``, in one pass.

    The zero header is the separator of a join that starts with an empty item, so the headers are
    written as the objects are copied: measured on 20,000 objects (28 MB), this join takes 11 ms
    (6 ms with no headers), where joining and then scattering the objects past their headers with a
    boolean mask takes 36 ms.
    """
    data = np.frombuffer(bytearray(header_bytes).join([b"", *items]), np.uint8)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(np.fromiter(map(len, items), np.int64, n) + header_bytes, out=offsets[1:])
    return data, offsets


def _check_pages(pages):
    if not isinstance(pages, np.ndarray):
        pages = np.asarray(pages)
    if pages.dtype != np.uint8:
        raise TypeError(f"pages must be uint8, not {pages.dtype}")
    if pages.ndim != 2:
        raise ValueError(f"pages must be a 2-D (n, page_size) array, got shape {pages.shape}")
    if pages.shape[1] == 0:
        raise ValueError(f"pages must have a positive page size, got shape {pages.shape}")
    return np.ascontiguousarray(pages)


def _check_offsets(offsets, size, header_bytes):
    """Each object's compressed bytes as ``(starts, ends)``: past the header, up to the next offset."""
    offsets = np.asarray(offsets)
    if offsets.ndim != 1 or offsets.size == 0:
        raise ValueError(f"offsets must be a 1-D array of n + 1 offsets, got shape {offsets.shape}")
    if offsets.dtype.kind not in "iu":
        raise TypeError(f"offsets must be integers, not {offsets.dtype}")
    if offsets.dtype.kind == "u" and offsets.max() > size:
        raise ValueError(f"offsets are not valid: {int(offsets.max())} is past the end of data "
                         f"({size} bytes)")
    offsets = offsets.astype(np.int64)
    lengths = np.diff(offsets)
    if offsets[0] < 0:
        raise ValueError("offsets are not valid at index 0: they must start at or after 0")
    decreasing = np.flatnonzero(lengths < 0)
    if decreasing.size:
        raise ValueError(f"offsets are not valid at index {int(decreasing[0])}: "
                         "they must be non-decreasing")
    if offsets[-1] > size:
        raise ValueError(f"offsets are not valid at index {offsets.size - 1}: "
                         f"{int(offsets[-1])} is past the end of data ({size} bytes)")
    short = np.flatnonzero(lengths < header_bytes)
    if short.size:
        i = int(short[0])
        raise ValueError(f"object at index {i} is {int(lengths[i])} bytes, shorter than "
                         f"header_bytes ({header_bytes})")
    return offsets[:-1] + header_bytes, offsets[1:]
