"""A 64 GiB file-backed ("highmem") pool on a machine with less RAM: only touched pages cost memory.

Creates a 16M-page pool whose arena is a sparse file, stores a sample of compressed-page-sized
objects in batches, reads every one back, frees most of them, compacts, and reports the peak RSS,
the metadata size and the disk the arena really uses.
Run: python examples/highmem_pool.py [--pages N] [--objects N] [--dir DIR]
"""

import argparse
import os
import resource
import tempfile

import numpy as np

import zbudjit as zj
from zbudjit.workloads import compressed_page_sizes

MiB = 1 << 20


def run(directory, pages, objects, batch):
    path = os.path.join(directory, "arena.bin")
    pool = zj.Pool(pages=pages, path=path)
    print(f"arena: {pages * pool.page_size / 2**30:.0f} GiB file, "
          f"metadata at creation: {pool.stats().metadata_bytes / MiB:.0f} MiB")
    rng = np.random.default_rng(16)
    handles = []
    for start in range(0, objects, batch):
        sizes = compressed_page_sizes(rng, min(batch, objects - start), pool.max_size)
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        payload = rng.integers(0, 256, int(offsets[-1]), dtype=np.uint8)
        stored = pool.store(payload, offsets)
        data, read_offsets = pool.read(stored)
        assert np.array_equal(data, payload) and np.array_equal(read_offsets, offsets)
        handles.append(stored)
    handles = np.concatenate(handles)
    highest = int(pool.locate(handles)[0].max())
    print(f"stored and read back {handles.size:,} objects on {pool.stats().pages_used:,} pages "
          f"(highest pfn {highest:,})")

    keep = rng.permutation(handles)[: handles.size // 5]
    before = pool.read(keep)
    pool.free(np.setdiff1d(handles, keep))
    result = pool.compact()
    after = pool.read(keep)
    assert np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])
    pool.check()
    stats = pool.stats()
    print(f"freed 80%, compaction released {result.pages_freed:,} pages moving "
          f"{result.bytes_moved / MiB:.0f} MiB; now {stats.pages_used:,} pages")
    pool._arena.flush()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    on_disk = os.stat(path).st_blocks * 512
    print(f"metadata: {stats.metadata_bytes / MiB:.0f} MiB "
          f"({stats.metadata_bytes_per_page:.1f} B per page, {stats.metadata_bytes_per_handle} B per handle)")
    print(f"arena file on disk: {on_disk / MiB:.0f} MiB of {os.path.getsize(path) / 2**30:.0f} GiB")
    print(f"peak RSS: {peak / MiB:.0f} MiB")
    print("pool audit passed")
    return stats, peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=16 << 20)
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=250_000)
    parser.add_argument("--dir", help="where the arena file goes (default: a temporary directory)")
    args = parser.parse_args()
    if args.dir:
        run(args.dir, args.pages, args.objects, args.batch)
    else:
        with tempfile.TemporaryDirectory() as directory:
            run(directory, args.pages, args.objects, args.batch)


if __name__ == "__main__":
    main()
