"""Write the format-3 saves in this folder with the zbudjit that wrote format 3 (not this one).

    git -C /work/main archive 615141a | tar -x -C /tmp/old615
    PYTHONPATH=/tmp/old615 python tests/data/make_format3_saves.py tests/data/format3-zbud-615141a zbud
    git -C /work/main archive 1f77b1b | tar -x -C /tmp/old1f77
    PYTHONPATH=/tmp/old1f77 python tests/data/make_format3_saves.py tests/data/format3-zsmalloc-1f77b1b zsmalloc

Each run writes the save into the named folder and, beside it (``<folder>.json``), what the pool
held: every live handle with its size, place and the sha256 of its bytes, the handles it had freed, its LRU
order and counters. The pool has history (freed and reused slots, released pages, stale stack
and LRU entries) and is small (64 pages). Table memory that pool never initialised (np.empty beyond the
watermarks and the LRU log's entry 0, which a format-3 save wrote as they were) is zeroed before
the save, so the files hold no bytes of the writing process.
"""

import hashlib
import json
import sys

import numpy as np

import zbudjit as zj


def main(folder, policy):
    rng = np.random.default_rng(11)
    if policy == "zbud":
        pool = zj.Pool(pages=64)
    else:
        pool = zj.Pool(pages=64, policy=policy)
    if policy == "zbud":
        sizes = rng.integers(1, 3001, 40)
    else:                            # a few classes: a zspage each, a small save
        sizes = rng.choice([48, 200, 700, 1500], 40)
    chunks = [rng.integers(0, 256, int(size), dtype=np.uint8).tobytes() for size in sizes]
    offsets = np.concatenate([[0], np.cumsum([len(chunk) for chunk in chunks])])
    first = pool.store(np.frombuffer(b"".join(chunks), np.uint8), offsets)
    freed = first[::3].copy()
    pool.free(freed)
    later = pool.alloc(rng.integers(1, 1500, 8) if policy == "zbud" else rng.choice([48, 700], 8))
    pool.write(later, *ragged(rng, pool.sizes(later)))
    pool.free(later[::4])
    freed = np.concatenate([freed, later[::4]])
    pool.check()
    c = pool._counters
    counters = {"slots": int(c[7]), "slots_free": int(c[8])}
    pool._handles[counters["slots"]:] = np.zeros(1, pool._handles.dtype)
    pool._free_slots[counters["slots_free"]:] = 0
    if pool._lru_log.size:
        pool._lru_log[int(c[14]):] = 0
        pool._lru_log[0] = 0                 # the entry the LRU log never uses
    pool.save(folder)
    handles = pool.handles()
    data, data_offsets = pool.read(handles)
    pfns, in_page = pool.locate(handles)
    expected = {
        "policy": policy,
        "objects": [{"handle": int(h), "size": int(data_offsets[i + 1] - data_offsets[i]),
                     "pfn": int(pfns[i]), "offset": int(in_page[i]),
                     "sha256": hashlib.sha256(data[data_offsets[i]:data_offsets[i + 1]]).hexdigest()}
                    for i, h in enumerate(handles)],
        "freed": [int(h) for h in freed],
        "lru": pool.lru_order().tolist() if policy == "zbud" else None,
        "counters": pool._counters.tolist(),
    }
    with open(f"{folder.rstrip('/')}.json", "w") as file:
        json.dump(expected, file, indent=1)


def ragged(rng, sizes):
    chunks = [rng.integers(0, 256, int(size), dtype=np.uint8).tobytes() for size in sizes]
    offsets = np.concatenate([[0], np.cumsum([len(chunk) for chunk in chunks])])
    return np.frombuffer(b"".join(chunks), np.uint8), offsets


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
