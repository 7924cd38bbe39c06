"""Workloads the command line, the examples and the benchmarks share.

- :func:`swap_cycle`: real pages swapped out through a :class:`zbudjit.Zswap` and back in, with a
  timeline of the pool and a byte-for-byte check (``zbudjit demo`` and ``zbudjit zswap``).
- :func:`compressed_page_sizes`: synthetic object sizes like zswap's compressed 4 KiB pages, for
  studies that need sizes but not real bytes (``zbudjit bench``, ``examples/highmem_pool.py``). The
  asv suite keeps its own copy, so a change here cannot move what it measures.
"""

import time
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from .pool import Pool, _whole_number
from .frontends.zswap import Zswap, min_ram_pages


def compressed_page_sizes(rng, n, max_size):
    """``n`` sizes like zswap's compressed pages: 70% compress well (40-900 B), the rest poorly
    (1500 B up to ``max_size``), as int64."""
    well = rng.integers(40, 901, n)
    poorly = rng.integers(1500, max_size + 1, n)
    return np.where(rng.random(n) < 0.7, well, poorly).astype(np.int64)


@dataclass(frozen=True)
class SwapRun:
    """What :func:`swap_cycle` measured.

    ``timeline`` samples the swap-out after each batch (keys as :func:`zbudjit.plots.timeline_figure`
    reads them); ``page_fill`` is the pool's bytes per page when the swap-out ended; ``mismatched``
    lists the page ids that did not load back byte for byte (empty when ``verified``);
    ``ram_pages`` is the simulated RAM the pool limit was taken from.
    """

    stats: object
    timeline: dict
    page_fill: np.ndarray
    verified: bool
    mismatched: np.ndarray
    store_seconds: float
    load_seconds: float
    pages: int
    page_size: int
    ram_pages: int
    compressor: str


def swap_cycle(pages, policy="zbud", compressor="zstd", pool_percent=20, ram_pages=None,
               batches=50, seed=0, progress=False):
    """Swap ``pages`` out through a :class:`Zswap` and back in, verifying every page.

    The pages are stored in ``batches`` equal batches, in order (page ``i`` under id ``i``), with the
    pool capped at ``pool_percent`` of ``ram_pages`` (default: as many RAM pages as there are pages
    to swap, so the pool holds at most ``pool_percent`` of the data set's pages and writeback
    happens; and never fewer than make a one-page pool). The pool is made exactly that large.
    Then every page is loaded back in a random order (``seed``) and compared with the original.

    Parameters
    ----------
    pages : numpy.ndarray
        ``(n, page_size)`` uint8, e.g. ``zbudjit.pagesource.default_pages().pages``.

    Returns
    -------
    SwapRun
    """
    pages = np.asarray(pages)
    if pages.ndim != 2 or pages.shape[0] == 0:
        raise ValueError(f"pages must be a non-empty (n, page_size) array, got shape {pages.shape}")
    n, page_size = pages.shape
    pool_percent = _whole_number(pool_percent, "pool_percent", 1, 100)
    if ram_pages is None:
        ram_pages = max(n, min_ram_pages(pool_percent))
    # At least one page, so that an explicit ram_pages too small gets Zswap's message, not Pool's
    pool = Pool(pages=max(1, ram_pages * pool_percent // 100), policy=policy, page_size=page_size)
    keys = ("time", "pool_pages", "density", "limit_pages", "written_back_pages", "stored_pages")
    samples = []
    with Zswap(pool, compressor=compressor, max_pool_percent=pool_percent,
               ram_pages=ram_pages) as front:
        start = time.perf_counter()
        for batch in tqdm(np.array_split(np.arange(n), min(batches, n)), desc="swap out",
                          unit="batch", disable=not progress):
            front.store(batch, pages[batch])
            s = front.stats()
            samples.append((batch[-1] + 1, s.pool_pages, s.pool_density, s.pool_limit_pages,
                            s.written_back_pages, s.stored_pages))
        store_seconds = time.perf_counter() - start
        page_fill = pool.page_fill()
        pool.check()

        mismatched = []
        start = time.perf_counter()
        order = np.random.default_rng(seed).permutation(n)
        for batch in tqdm(np.array_split(order, min(batches, n)), desc="swap in",
                          unit="batch", disable=not progress):
            same = (front.load(batch) == pages[batch]).all(axis=1)
            mismatched.append(batch[~same])
        load_seconds = time.perf_counter() - start
        stats = front.stats()
    mismatched = np.sort(np.concatenate(mismatched))
    timeline = {key: np.array(values) for key, values in zip(keys, zip(*samples))}
    timeline["time_label"] = "pages swapped out"
    return SwapRun(stats=stats, timeline=timeline, page_fill=page_fill,
                   verified=mismatched.size == 0, mismatched=mismatched,
                   store_seconds=store_seconds, load_seconds=load_seconds, pages=n,
                   page_size=page_size, ram_pages=ram_pages, compressor=front.compressor.name)
