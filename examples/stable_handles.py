"""Store variable-sized blobs in a zbud pool and keep them by handle.

Uses only the public API: store a ragged batch, look objects up, free some, and show that the
surviving handles still read back the same bytes while freed ones are rejected.
Run: python examples/stable_handles.py
"""

import numpy as np

import zbudjit as zj


def main():
    pool = zj.Pool(pages=16_384)
    rng = np.random.default_rng(7)

    # 10,000 blobs of 1 B to 4 KiB, in one ragged batch: blob i is data[offsets[i]:offsets[i+1]]
    sizes = rng.integers(1, pool.max_size + 1, 10_000)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    data = rng.integers(0, 256, offsets[-1], dtype=np.uint8)
    handles = pool.store(data, offsets)

    pfn, page_offset = pool.locate(handles[:3])
    print("first three objects live at (pfn, offset):", list(zip(pfn.tolist(), page_offset.tolist())))
    print(f"after store: {pool.stats().pages_used} pages hold {pool.stats().objects} objects, "
          f"density {pool.stats().density:.2f}")

    # free every other object; the rest keep their handles and their bytes
    pool.free(handles[::2])
    kept = handles[1::2]
    got, got_offsets = pool.read(kept)
    for i, original in enumerate(range(1, handles.size, 2)):
        assert np.array_equal(got[got_offsets[i]:got_offsets[i + 1]], data[offsets[original]:offsets[original + 1]])
    print(f"all {kept.size} kept objects read back unchanged")
    print(f"after freeing half: {pool.stats().pages_used} pages, {pool.stats().objects} objects")

    try:
        pool.read(handles[:1])
    except zj.InvalidHandleError as error:
        print("a freed handle is rejected:", error)

    pool.check()
    print("pool audit passed")


if __name__ == "__main__":
    main()
