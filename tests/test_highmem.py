"""Arenas far larger than RAM: a 16M-page (64 GiB) file-backed pool, and pfns beyond 2**31."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

import zbudjit as zj
from zbudjit.engine import tables as t

ROOT = Path(__file__).resolve().parent.parent
MiB = 1 << 20


def test_16m_page_file_backed_pool(tmp_path, report):
    """The example stores, reads, frees and compacts a sample; memory stays near what it touched."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "highmem_pool.py"), "--objects", "400000",
         "--dir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "pool audit passed" in out
    peak = int(re.search(r"peak RSS: (\d+) MiB", out).group(1))
    metadata = int(re.search(r"metadata: (\d+) MiB", out).group(1))
    on_disk = int(re.search(r"arena file on disk: (\d+) MiB of 64 GiB", out).group(1))
    report(f"16M-page file-backed pool, 400k objects: peak RSS {peak} MiB, metadata {metadata} MiB, "
           f"arena on disk {on_disk} MiB of 64 GiB")
    assert metadata <= 512
    assert on_disk < 1024
    assert peak < 4096


def test_pfns_beyond_2_to_the_31(tmp_path):
    """Index types are wide enough: objects on pages past 2**31 (an 8 TiB sparse arena)."""
    pages = 2**31 + 16
    pool = zj.Pool(pages=pages, path=tmp_path / "arena.bin")
    # Filling 2**31 pages is out of reach here: start the never-used pfns just below the top, as
    # if the pages below had been used, and so had been given their disk blocks already (the
    # reservation would otherwise give all 8 TiB of them blocks now).
    pool._counters[t.C_PAGE_WATERMARK] = pages - 8
    pool._arena_file.reserved = (pages - 8) * pool.page_size
    handles = pool.store(np.arange(4000 * 6, dtype=np.uint64).astype(np.uint8), np.arange(7) * 4000)
    pfns, offsets = pool.locate(handles)
    assert pfns.tolist() == list(range(pages - 8, pages - 2))
    assert pfns.dtype == np.int64 and (pfns > 2**31).all()
    data, _ = pool.read(handles[::-1])
    assert np.array_equal(data[:4000], np.arange(20000, 24000, dtype=np.uint64).astype(np.uint8))
    pool.free(handles[:2])
    again = pool.alloc([4000, 4000])
    assert pool.locate(again)[0].tolist() == [pages - 7, pages - 8]    # released pages reused
    assert pool.stats().pages_total == pages
