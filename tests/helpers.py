"""Helpers shared by the tests: whole-pool snapshots and engine-versus-spec comparison."""

import numpy as np

import zbudjit as zj
from zbudjit.engine import tables as t
from zbudjit.policies.zbud.spec import ZbudSpec

# (page_size, reserve_header_chunk) pairs every differential test runs on
GEOMETRIES = [(4096, False), (4096, True), (16384, False), (65536, True)]


def make_pair(pages, page_size=4096, reserve_header_chunk=False):
    pool = zj.Pool(pages=pages, page_size=page_size, reserve_header_chunk=reserve_header_chunk)
    spec = ZbudSpec(pages, page_size=page_size, reserve_header_chunk=reserve_header_chunk)
    return pool, spec


def ragged(chunks):
    """list of bytes -> (data, offsets) in the pool's layout."""
    offsets = np.zeros(len(chunks) + 1, np.int64)
    offsets[1:] = np.cumsum([len(c) for c in chunks])
    data = np.frombuffer(b"".join(chunks), np.uint8) if chunks else np.empty(0, np.uint8)
    return data, offsets


def unragged(data, offsets):
    return [bytes(data[offsets[i]:offsets[i + 1]]) for i in range(len(offsets) - 1)]


def fewest_pages(sizes, chunk, usable):
    """The fewest zbud pages for objects of these sizes, computed here from scratch: sort by chunks,
    then pair the largest with the smallest while they fit."""
    chunks = sorted(-(-int(size) // chunk) for size in sizes)
    low, high, pages = 0, len(chunks) - 1, 0
    while low <= high:
        if low < high and chunks[low] + chunks[high] <= usable:
            low += 1
        high -= 1
        pages += 1
    return pages


def snapshot(pool, lru=True):
    """Everything observable about a pool: stats, LRU order (``lru``: zbud), and every live
    object's place and bytes."""
    handles = pool.handles()
    pfns, offsets = pool.locate(handles)
    data, data_offsets = pool.read(handles)
    return {
        "stats": pool.stats(),
        "lru": pool.lru_order().tolist() if lru else None,
        "objects": {relative_handle(pool, h): (int(p), int(o), b) for h, p, o, b
                    in zip(handles, pfns, offsets, unragged(data, data_offsets))},
    }


def relative_handle(pool, handle):
    """``handle`` with its generation counted from the pool's generation origin, so that handles
    of two pools that did the same things compare equal."""
    handle = int(handle)
    generation = ((handle >> 32) - int(pool._counters[t.C_GENERATION_ORIGIN])) % 2**32
    return generation << 32 | handle & 0xFFFFFFFF


def last_generation(pool):
    """The generation a slot of ``pool`` retires after: the one before the pool's origin."""
    return (int(pool._counters[t.C_GENERATION_ORIGIN]) - 1) % 2**32


def engine_lists(pool):
    """Each unbuddied list of the engine, head first: the live entries of its stamped stack."""
    lists = {}
    blocks = pool._blocks.reshape(-1, t.BLOCK_WORDS)
    for free_list, block in enumerate(pool._stack_heads.tolist()):
        order = []
        while block != -1:
            for k in range(int(blocks[block, t.B_COUNT]) - 1, -1, -1):
                pfn, stamp = blocks[block, t.B_ENTRY + 2 * k], blocks[block, t.B_ENTRY + 2 * k + 1]
                page = pool._pages[pfn]
                if page["free_list"] == free_list and page["stamp"] == stamp:
                    order.append(int(pfn))
            block = -1 if blocks[block, t.B_NEXT] == t.NONE32 else int(blocks[block, t.B_NEXT])
        if order:
            lists[free_list] = order
    return lists


def spec_lists(spec):
    return {i: list(reversed(pages)) for i, pages in enumerate(spec.unbuddied) if pages}


def assert_same_as_spec(pool, spec, pairs):
    """The engine and the spec agree on placement, sides, page count, LRU order and totals.

    ``pairs`` maps each live engine handle to the spec handle of the same object.
    """
    pool.check()
    stats = pool.stats()
    assert stats.pages_used == spec.pages_used()
    assert stats.objects == len(spec.objects) == len(pairs)
    assert stats.bytes_stored == sum(o.size for o in spec.objects.values())
    assert stats.bytes_allocated == spec.bytes_allocated()
    assert stats.free_chunks_histogram == spec.free_chunks_histogram()
    assert pool.lru_order().tolist() == spec.lru_order()
    assert engine_lists(pool) == spec_lists(spec)
    if pairs:
        engine = np.array(list(pairs), np.uint64)
        pfns, offsets = pool.locate(engine)
        expected = [spec.locate(s) for s in pairs.values()]
        assert list(zip(pfns.tolist(), offsets.tolist())) == expected
        assert pool.sizes(engine).tolist() == [spec.objects[s].size for s in pairs.values()]
    assert sorted(pool.handles().tolist()) == sorted(pairs)


def damaged(obj, draw):
    """``obj`` (a bytearray) with 1 to 6 damages drawn by hypothesis's ``st.data()`` object
    ``draw``: bits flipped, bytes set, the end cut off, bytes inserted or deleted."""
    from hypothesis import strategies as st
    for _ in range(draw.draw(st.integers(1, 6), label="damages")):
        kind = draw.draw(st.sampled_from(["flip", "set", "cut", "insert", "delete"]))
        at = draw.draw(st.integers(0, max(0, len(obj) - 1)))
        if kind == "flip" and obj:
            obj[at] ^= 1 << draw.draw(st.integers(0, 7))
        elif kind == "set" and obj:
            obj[at] = draw.draw(st.integers(0, 255))
        elif kind == "cut":
            del obj[at:]
        elif kind == "insert":
            obj[at:at] = draw.draw(st.binary(min_size=1, max_size=8))
        elif obj:
            del obj[at]
    return obj
