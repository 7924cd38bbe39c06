"""``zbudjit kernel-check``: the model held against the running kernel, operation by operation.

:func:`kernel_check` sends the same real pages, in a seeded random sequence of writes, overwrites,
discards and compactions, through a private zram device of the running kernel
(:class:`zbudjit.kernel.zram.ZramDevice`: hot-added, and removed afterwards whatever happens) and
through :class:`zbudjit.Zram` in size-only mode, fed with the compressed size the kernel reported
for each write. After every operation all nine mm_stat fields of the two must be equal. A second
pass feeds the model the sizes a user-space compressor of the same name gives the same pages and
reports how far its mm_stat is from the kernel's: what a study that compresses in user space gets
wrong.

The sequence comes in phases (:data:`PHASES`), each printed as the two mm_stat tables side by side.
The recording can be kept as a zram trace (:func:`save_trace`, :func:`load_trace`): every
operation with its index, the kernel's size and the kernel's mm_stat after it, which
``zbudjit replay`` replays and checks.

Also here: :func:`real_pages` and :func:`random_operations`, the pages and the operation mixes
(the test suite's live-kernel tests use them too).
"""

from __future__ import annotations

import csv
import os
import zipfile
from dataclasses import astuple, dataclass, field

import numpy as np

from ..pagesource import python_installation_files
from .zram import (HUGE_CLASS_SIZE, MM_STAT_FIELDS, OP_COMPACT, OP_DISCARD, OP_NAMES, OP_WRITE,
                   PAGE_SIZE, RECORD_DTYPE, ZramDevice, record, same_filled)

#: The phases of a check: (name, what its operations are).
PHASES = (("fill", "a write to every index, in order"),
          ("overwrite", "writes over stored indices"),
          ("discard", "discards of a third of the indices, then a compaction"),
          ("mixed", "writes, overwrites, discards and compactions at random"),
          ("compact", "a last compaction"))


# ---------------------------------------------------------------------------------------------
# Pages and operation mixes

def real_pages(count, seed=0):
    """``count`` real pages: 4 KiB pieces of the running Python installation's files.

    Parameters
    ----------
    count : int
    seed : int
        Chooses the files (.py sources and .so machine code, about half each) and the
        page-aligned piece of each; the same seed gives the same pages on the same installation.

    Returns
    -------
    numpy.ndarray
        ``(count, 4096)`` ``uint8``; a file's last piece is zero-padded, as in the page cache.
    """
    files = python_installation_files()
    sources = [f for f in files if f.suffix == ".py"]
    binaries = [f for f in files if f.suffix == ".so" or ".so." in f.name]
    if not sources or not binaries:
        raise RuntimeError(f"found {len(sources)} .py and {len(binaries)} .so files in the "
                           "Python installation; real pages need both")
    rng = np.random.default_rng(seed)
    out = np.zeros((count, PAGE_SIZE), np.uint8)
    for k in range(count):
        group = binaries if rng.random() < 0.5 else sources
        path = group[int(rng.integers(len(group)))]
        size = os.path.getsize(path)
        offset = int(rng.integers(max(1, -(-size // PAGE_SIZE)))) * PAGE_SIZE
        with open(path, "rb") as f:
            f.seek(offset)
            piece = f.read(PAGE_SIZE)
        out[k, :len(piece)] = np.frombuffer(piece, np.uint8)
    return out


#: What :func:`random_operations` draws, with its default weights.
DEFAULT_MIX = {
    "real": 0.50,           # a page of the installation (text, machine code)
    "mixed": 0.12,          # a real page with a random tail: sizes up to and past huge
    "random": 0.06,         # incompressible: stored uncompressed (huge)
    "zeros": 0.03,          # same-filled with word 0
    "word": 0.03,           # same-filled with a non-zero word
    "discard": 0.22,
    "compact": 0.04,
}


def random_operations(count, seed=0, *, indices=256, first_index=0, pages=None, mix=None):
    """A seeded sequence of zram operations over real pages, for zbudjit.kernel.zram.record.

    Parameters
    ----------
    count : int
        Operations.
    seed : int
    indices : int, default 256
        Page indices used: ``first_index`` to ``first_index + indices - 1``. Small, so most
        writes are overwrites and discards usually hit a stored page.
    first_index : int, default 0
    pages : numpy.ndarray, optional
        ``(n, 4096)`` ``uint8`` real pages to draw from; by default 512 of :func:`real_pages`.
    mix : dict, optional
        Weights by kind (see :data:`DEFAULT_MIX`; missing kinds weigh 0).

    Returns
    -------
    list of tuple
        ``("write", index, bytes)``, ``("discard", index)`` and ``("compact",)``.
    """
    rng = np.random.default_rng(seed)
    if pages is None:
        pages = real_pages(512, seed)
    mix = dict(DEFAULT_MIX if mix is None else mix)
    kinds = list(mix)
    weights = np.array([mix[k] for k in kinds], float)
    if weights.min() < 0 or weights.sum() <= 0:
        raise ValueError(f"mix weights must be >= 0 with a positive sum, got {mix}")
    draws = rng.choice(len(kinds), size=count, p=weights / weights.sum())
    ops = []
    for draw in draws:
        kind = kinds[draw]
        index = first_index + int(rng.integers(indices))
        if kind == "discard":
            ops.append(("discard", index))
        elif kind == "compact":
            ops.append(("compact",))
        else:
            if kind == "real":
                page = pages[int(rng.integers(len(pages)))].tobytes()
            elif kind == "mixed":
                keep = int(rng.integers(PAGE_SIZE))
                page = pages[int(rng.integers(len(pages)))].tobytes()[:keep] \
                    + rng.bytes(PAGE_SIZE - keep)
            elif kind == "random":
                page = rng.bytes(PAGE_SIZE)
            elif kind == "zeros":
                page = bytes(PAGE_SIZE)
            elif kind == "word":
                word = int(rng.integers(1, 1 << 63)).to_bytes(8, "little")
                page = word * (PAGE_SIZE // 8)
            else:
                raise ValueError(f"unknown kind {kind!r} in mix")
            ops.append(("write", index, page))
    return ops
