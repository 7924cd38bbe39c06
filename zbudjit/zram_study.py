"""What ``zbudjit zram`` and the zram examples run: real pages through a :class:`~zbudjit.Zram` in
batches, with mm_stat sampled as it goes and every page read back and checked at the end.

:func:`run_zram` writes page ``i`` of the input at index ``i % indices`` (a device smaller than the
input is overwritten round and round, as swap reuses its slots), compacts every ``compact_every``
pages if asked, and returns a :class:`ZramRun`: the device's figures at the end, a timeline of
memory use and the class fill of the pool (zspages per fullness group, for a heatmap).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .frontends.zram import BdStat, IoStat, MmStat, Zram
from .pool import _whole_number

#: The timeline's series, each one value a sample: bytes, but for ``pages_written`` and
#: ``pages_compacted`` (pages, as mm_stat counts them).
TIMELINE_KEYS = ("pages_written", "orig_data_size", "compr_data_size", "mem_used_total",
                 "mem_limit", "mem_used_max", "pages_compacted")


@dataclass
class ZramRun:
    """What :func:`run_zram` measured.

    Attributes
    ----------
    config : dict
        The device's settings (compressor, policy, disksize, mem_limit, page_size, chain_size,
        compact_every, batch).
    mm_stat, io_stat : MmStat, IoStat
        At the end.
    bd_stat : BdStat or None
        At the end, with a backing file.
    zramctl : dict
        zramctl's columns at the end (:meth:`Zram.zramctl`).
    timeline : dict of numpy.ndarray
        :data:`TIMELINE_KEYS`, one int64 value a sample (after each batch).
    class_fill : numpy.ndarray or None
        zsmalloc only: :data:`zbudjit.policies.zsmalloc.classes.CLASS_STATS_DTYPE` rows at the end
        (``ratio_*`` fields: zspages per fullness group).
    pages_verified, pages_wrong : int
        Pages read back at the end and compared with what was last written there; how many
        differed (0 on a sound device).
    failed_writes : int
        Writes refused over mem_limit.
    """

    config: dict
    mm_stat: MmStat
    io_stat: IoStat
    bd_stat: BdStat | None
    zramctl: dict
    timeline: dict = field(repr=False)
    class_fill: np.ndarray | None = field(repr=False)
    pages_verified: int = 0
    pages_wrong: int = 0
    failed_writes: int = 0


def run_zram(pages, *, compressor="lzo-rle", policy="zsmalloc", disksize=None, mem_limit=0,
             page_size=4096, chain_size=8, compact_every=0, batch=4096, verify=True,
             backing_file=None, writeback=None, writeback_every=0):
    """Write ``pages`` through a new :class:`Zram` and measure it (see the module docstring).

    Parameters
    ----------
    pages : numpy.ndarray
        ``(n, page_size)`` uint8.
    disksize : int, optional
        Bytes; default: room for every page.
    compact_every : int
        Compact after every this many pages written (0: never).
    batch : int
        Pages a write call.
    verify : bool
        Read every stored page back at the end and compare.
    backing_file, writeback, writeback_every :
        With a backing file, run ``writeback(writeback)`` (a mode: "idle", "huge", "huge_idle",
        "incompressible"), after ``mark_idle()`` for the idle modes, every ``writeback_every``
        pages written (0: once, at the end).
    """
    pages = np.asarray(pages)
    n = len(pages)
    disksize = n * page_size if disksize is None else disksize
    compact_every = _whole_number(compact_every, "compact_every", 0)
    writeback_every = _whole_number(writeback_every, "writeback_every", 0)
    batch = _whole_number(batch, "batch", 1)
    if writeback is not None and backing_file is None:
        raise ValueError("writeback needs a backing_file")
    with Zram(max(disksize, page_size), compressor=compressor, policy=policy,
              page_size=page_size, chain_size=chain_size, mem_limit=mem_limit,
              backing_file=backing_file) as device:      # closed (the file unlocked) at the end
        indices = np.arange(n, dtype=np.int64) % device.n_indices
        last = np.full(device.n_indices, -1, np.int64)      # the input page each index holds
        rows = []
        failed = 0

        def every(step, start, stop):
            return step and (stop // step) > (start // step)

        for start in range(0, n, batch):
            stop = min(start + batch, n)
            stored = device.write(indices[start:stop], pages[start:stop])
            failed += int(np.count_nonzero(~stored))
            last[indices[start:stop][stored]] = np.arange(start, stop)[stored]
            if every(compact_every, start, stop):
                device.compact()
            if writeback is not None and every(writeback_every, start, stop):
                _writeback(device, writeback)
            mm = device.mm_stat()
            rows.append((stop, mm.orig_data_size, mm.compr_data_size, mm.mem_used_total,
                         mm.mem_limit, mm.mem_used_max, mm.pages_compacted))
        if writeback is not None and not writeback_every:
            _writeback(device, writeback)
        verified = wrong = 0
        if verify:
            held = np.flatnonzero(last >= 0)
            for start in range(0, held.size, batch):
                chosen = held[start:start + batch]
                back = device.read(chosen)
                wrong += int(np.count_nonzero((back != pages[last[chosen]]).any(axis=1)))
                verified += chosen.size
        timeline = {key: np.array([row[i] for row in rows], np.int64)
                    for i, key in enumerate(TIMELINE_KEYS)}
        config = {"compressor": compressor, "policy": policy, "disksize": device.disksize,
                  "mem_limit": device.mem_limit, "page_size": page_size, "chain_size": chain_size,
                  "compact_every": compact_every, "batch": batch}
        class_fill = device.pool.class_stats() if policy == "zsmalloc" else None
        return ZramRun(config, device.mm_stat(), device.io_stat(),
                       device.bd_stat() if backing_file is not None else None,
                       device.zramctl(), timeline, class_fill, verified, wrong, failed)


def _writeback(device, mode):
    if mode in ("idle", "huge_idle"):
        device.mark_idle()
    device.writeback(mode)
