"""Pool.check() finds tables that were corrupted on purpose, and says what is wrong."""

import numpy as np
import pytest

import zbudjit as zj
from zbudjit.engine import tables as t
from zbudjit.policies.zbud import kernels as zbud


def busy_pool():
    """Buddied, unbuddied and released pages, free and live slots, stale stack and LRU entries."""
    pool = zj.Pool(pages=16)
    handles = pool.alloc([100, 2000, 3000, 10, 4000, 500, 700, 64])
    pool.free(handles[[1, 4]])
    pool.alloc([300])
    pool.free(handles[[2, 3]])
    pool.check()
    return pool


def first_with(pool, condition):
    pages = pool._pages[:pool._counters[t.C_PAGE_WATERMARK]]
    return int(np.flatnonzero(condition(pages))[0])


def buddied(pages):
    return pages["free_list"] == zbud.BUDDIED


def unbuddied(pages):
    return (pages["free_list"] != 0) & (pages["free_list"] < zbud.BUDDIED)


def released(pages):
    return (pages["first_slot"] == 0) & (pages["last_slot"] == 0)


def corrupt_chunks(pool):
    pool._pages[first_with(pool, buddied)]["first_chunks"] += 1


def corrupt_address(pool):
    pool._handles[0]["address"] += 64


def corrupt_object_count(pool):
    pool._counters[t.C_OBJECTS] += 1


def corrupt_bytes_stored(pool):
    pool._counters[t.C_BYTES_STORED] -= 1


def corrupt_free_list(pool):
    pool._pages[first_with(pool, unbuddied)]["free_list"] = 3


def corrupt_buddied_list(pool):
    pool._pages[first_with(pool, buddied)]["free_list"] = 10


def corrupt_lru_position(pool):
    pool._pages[first_with(pool, buddied)]["lru_pos"] = 0


def corrupt_lru_log(pool):
    pfn = first_with(pool, buddied)
    pool._lru_log[pool._pages[pfn]["lru_pos"]] = (pfn + 1) % 16


def corrupt_lru_latest(pool):
    """A stale entry after a page's live one: an undone alloc would restore the wrong position."""
    pfn = first_with(pool, buddied)
    pool._lru_log[pool._counters[t.C_LRU_LEN]] = pfn
    pool._counters[t.C_LRU_LEN] += 1


def corrupt_slot_stack(pool):
    depth = pool._counters[t.C_SLOTS_FREE]
    pool._free_slots[depth - 1] = pool._free_slots[depth - 2]     # one slot twice, one lost


def corrupt_released_stack(pool):
    pool._counters[t.C_RELEASED_HEAD] = first_with(pool, buddied)


def corrupt_stack_head(pool):
    pool._stack_heads[5] = 10**6


def corrupt_stack_stamp(pool):
    pool._pages[first_with(pool, unbuddied)]["stamp"] += 1000


def corrupt_empty_page(pool):
    pool._pages[first_with(pool, released)]["lru_pos"] = 5


def corrupt_watermark(pool):
    pool._counters[t.C_PAGE_WATERMARK] = 17


def corrupt_size(pool):
    pool._handles[0]["size"] += 64


def corrupt_back_pointer(pool):
    pfn = first_with(pool, buddied)
    page = pool._pages[pfn]
    page["first_slot"], page["last_slot"] = page["last_slot"], page["first_slot"]


def corrupt_block_in_two_places(pool):
    shared = pool._stack_heads[pool._pages[first_with(pool, unbuddied)]["free_list"]]
    empty_list = int(np.flatnonzero(pool._stack_heads[1:] == -1)[0]) + 1
    pool._stack_heads[empty_list] = shared           # two lists now share their blocks


def corrupt_stale_stamp(pool):
    block = int(pool._stack_heads[pool._pages[first_with(pool, unbuddied)]["free_list"]])
    pool._blocks[block * t.BLOCK_WORDS + t.B_ENTRY + 1] = pool._counters[t.C_STAMP] + 5


def corrupt_part_full_block(pool):
    """A block below the top of its list that is not full: the look-ahead would misread it."""
    head = int(pool._stack_heads[pool._pages[first_with(pool, unbuddied)]["free_list"]])
    blocks = pool._blocks.reshape(-1, t.BLOCK_WORDS)
    pfn = blocks[head, t.B_ENTRY]
    block = pool._counters[t.C_BLOCK_WATERMARK]
    pool._counters[t.C_BLOCK_WATERMARK] += 1
    blocks[block, t.B_NEXT] = head
    blocks[block, t.B_COUNT] = 1
    blocks[block, t.B_ENTRY] = pfn           # a stale copy of a live entry
    blocks[block, t.B_ENTRY + 1] = 0
    pool._stack_heads[pool._pages[pfn]["free_list"]] = block


def corrupt_block_table_size(pool):
    pool._blocks = pool._blocks[:-1].copy()          # no longer whole 64-byte blocks


def corrupt_geometry(pool):
    pool._geometry[t.G_MAX_SIZE] += 64


CORRUPTIONS = [
    (corrupt_block_in_two_places, "unbuddied stack"),
    (corrupt_part_full_block, "unbuddied stack"),
    (corrupt_block_table_size, "counters are out of range"),
    (corrupt_stale_stamp, "unbuddied stack"),
    (corrupt_geometry, "geometry"),
    (corrupt_chunks, "page"),
    (corrupt_address, "page|handle"),
    (corrupt_object_count, "totals"),
    (corrupt_bytes_stored, "totals"),
    (corrupt_free_list, "wrong free list"),
    (corrupt_buddied_list, "wrong free list"),
    (corrupt_lru_position, "LRU"),
    (corrupt_lru_log, "LRU"),
    (corrupt_lru_latest, "LRU log is broken"),
    (corrupt_slot_stack, "free-slot stack"),
    (corrupt_released_stack, "released-page stack"),
    (corrupt_stack_head, "unbuddied stack"),
    (corrupt_stack_stamp, "unbuddied stack"),
    (corrupt_empty_page, "empty"),
    (corrupt_watermark, "counters"),
    (corrupt_size, "page"),
    (corrupt_back_pointer, "page"),
]


@pytest.mark.parametrize("corrupt, message", CORRUPTIONS, ids=[c.__name__ for c, _ in CORRUPTIONS])
def test_check_finds_corruption(corrupt, message):
    pool = busy_pool()
    corrupt(pool)
    with pytest.raises(zj.CorruptionError, match=message):
        pool.check()


def test_check_passes_on_a_sound_pool():
    busy_pool().check()
