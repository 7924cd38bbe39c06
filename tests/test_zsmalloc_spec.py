"""The plain-Python zsmalloc spec against the rules of kernel-6.18.md, on cases worked by hand.

Classes used (4 KiB pages, chain 8, Appendix A), with the request sizes that reach them
(zs_malloc adds 8 bytes before the lookup):

* index 0: 32-byte slots, 1 page, 128 objects; requests 1..24.
* index 83: 1360-byte slots, 1 page, 3 objects; requests 1289..1352. Groups: 1 object -> 4,
  2 -> 7, 3 -> 11.
* index 126: 2048-byte slots, 1 page, 2 objects; requests 1913..2040. 1 object -> group 6.
* index 225: 3632-byte slots, 8 pages, 9 objects; requests 3577..3624.
* index 254: the huge class, 4096 bytes, 1 page, 1 object; requests 3625..4096.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zbudjit.errors import InvalidHandleError, PoolFullError
from zbudjit.policies.zsmalloc.classes import (CLASS_STATS_DTYPE, RATIO_FIELDS,
                                               format_class_stats, fullness_group,
                                               size_class_table)
from zbudjit.policies.zsmalloc.spec import ZsmallocSpec

SMALL, THIRD, HALF, BIG, HUGE = 20, 1300, 2000, 3624, 4096


def state(spec):
    """Everything observable about a spec, for before/after comparisons."""
    handles = spec.handles()
    return (handles, spec.locate(handles), spec.read(handles), spec.sizes(handles),
            spec.fullness_lists(), spec.pages_used, spec.pages_compacted, spec.objects,
            spec.bytes_stored, spec.class_stats().tolist(),
            {first: spec.zspage_pages(first) for lists in spec.fullness_lists().values()
             for first in lists})


def row(spec, class_index):
    """The class_stats row of one class."""
    [found] = [r for r in spec.class_stats() if r["class"] == class_index]
    return found


# -- placement ----------------------------------------------------------------------------------

def test_first_object_of_a_class_is_at_pfn_0_offset_0():
    for size in (1, SMALL, THIRD, BIG, HUGE):
        spec = ZsmallocSpec(16)
        [handle] = spec.alloc([size])
        assert handle == 1
        assert spec.locate([handle]) == [(0, 0)]


def test_fresh_zspage_hands_out_objects_in_address_order_across_pages():
    spec = ZsmallocSpec(16)
    handles = spec.alloc([BIG] * 9)
    assert handles == list(range(1, 10))
    assert spec.zspage_pages(0) == list(range(8))
    # Object k starts at byte 3632 k of the chain; object 1 straddles pfns 0 and 1, and the
    # pages' first-object offsets are 0, 3168, 2704, 2240, 1776, 1312, 848, 384 (rule 3.3).
    assert spec.locate(handles) == [(0, 0), (0, 3632), (1, 3168), (2, 2704), (3, 2240),
                                    (4, 1776), (5, 1312), (6, 848), (7, 384)]
    assert spec.fullness_lists() == {(225, 11): [0]}
    assert spec.pages_used == 8


def test_straddling_object_continues_on_the_next_chain_page():
    spec = ZsmallocSpec(16)
    handles = spec.alloc([BIG, BIG])
    blob = bytes(range(256)) * 14 + bytes(range(40))             # 3624 bytes
    spec.write([handles[1]], [blob])
    assert spec.read(handles) == [bytes(BIG), blob]
    # Slot 1 is [3632, 7264): its first 464 bytes end page 0, the rest begin page 1.
    assert spec.page_contents(0)[3632:] == blob[:464]
    assert spec.page_contents(1)[:BIG - 464] == blob[464:]
    assert spec.page_contents(1)[BIG - 464:] == bytes(4096 - (BIG - 464))


def test_a_new_zspage_goes_to_the_head_of_its_group():
    spec = ZsmallocSpec(16)
    first = spec.alloc([THIRD])                  # zspage at pfn 0, group 4
    assert spec.fullness_lists() == {(83, 4): [0]}
    spec.alloc([THIRD, THIRD])                   # fills it: group 7, then 11
    assert spec.fullness_lists() == {(83, 11): [0]}
    spec.alloc([SMALL, HALF, HUGE])              # one new zspage per class
    assert spec.fullness_lists() == {(83, 11): [0], (0, 1): [1], (126, 6): [2], (254, 11): [3]}
    assert spec.locate(first) == [(0, 0)]


def test_freed_slots_are_reused_lifo():
    spec = ZsmallocSpec(16)
    handles = spec.alloc([SMALL] * 6)            # slots 0..5 of one zspage, offsets 32 k
    spec.free([handles[1]])
    spec.free([handles[4]])
    spec.free([handles[2]])
    again = spec.alloc([SMALL] * 4)
    assert again == [7, 8, 9, 10]                # handles are never reused
    # The most recently freed slot first (2, then 4, then 1), then the fresh slot 6.
    assert spec.locate(again) == [(0, 64), (0, 128), (0, 32), (0, 192)]


def test_allocation_takes_the_fullest_non_full_zspage():
    spec = ZsmallocSpec(16)
    handles = spec.alloc([THIRD] * 4)            # pfn 0 full, pfn 1 has one object (group 4)
    spec.free([handles[1]])                      # pfn 0: two objects, group 7
    assert spec.fullness_lists() == {(83, 7): [0], (83, 4): [1]}
    # Group 7 is searched before group 4, though pfn 1 joined its list more recently.
    [handle] = spec.alloc([THIRD])
    assert spec.locate([handle]) == [(0, 1360)]
    assert spec.fullness_lists() == {(83, 11): [0], (83, 4): [1]}


def test_among_equals_the_most_recently_listed_wins():
    spec = ZsmallocSpec(16)
    handles = spec.alloc([HALF] * 4)             # pfns 0 and 1, both full
    spec.free([handles[0]])                      # pfn 0 to group 6
    spec.free([handles[3]])                      # pfn 1 to group 6, now its head
    assert spec.fullness_lists() == {(126, 6): [1, 0]}
    [handle] = spec.alloc([HALF])
    assert spec.locate([handle]) == [(1, 2048)]


def test_a_zspage_moves_only_when_its_group_changes():
    spec = ZsmallocSpec(16)
    a = spec.alloc([SMALL] * 128)                # pfn 0 full
    b = spec.alloc([SMALL] * 2)                  # pfn 1, group 1 (2/128)
    spec.free(a[12:])                            # pfn 0 keeps 12 (9 %): group 1, at the head
    assert spec.fullness_lists() == {(0, 1): [0, 1]}
    spec.free([b[1]])                            # pfn 1 stays in group 1, so it is not moved
    assert spec.fullness_lists() == {(0, 1): [0, 1]}
    spec.free([a[11]])                           # 11/128: still group 1
    [handle] = spec.alloc([SMALL])               # the head, pfn 0, gets its last freed slot
    assert spec.locate([handle]) == [(0, 11 * 32)]
    assert spec.fullness_lists() == {(0, 1): [0, 1]}
    [handle] = spec.alloc([SMALL])               # 13/128 = 10 %: group 2
    assert spec.locate([handle]) == [(0, 127 * 32)]
    assert spec.fullness_lists() == {(0, 2): [0], (0, 1): [1]}


def test_an_empty_zspage_is_released_at_once_and_its_pages_reused_lifo():
    spec = ZsmallocSpec(16)
    [big] = spec.alloc([BIG])                    # pfns 0..7
    [huge] = spec.alloc([HUGE])                  # pfn 8
    spec.free([big])
    assert spec.pages_used == 1
    assert spec.fullness_lists() == {(254, 11): [8]}
    # Released first page first, so pfn 7 is on top of the stack: the next zspage takes
    # 7, 6, ..., 0 in chain order, then new pages start at pfn 9.
    [again] = spec.alloc([BIG])
    assert spec.zspage_pages(7) == [7, 6, 5, 4, 3, 2, 1, 0]
    assert spec.locate([again]) == [(7, 0)]
    [other] = spec.alloc([HUGE])
    assert spec.locate([other]) == [(9, 0)]
    assert spec.pages_used == 10
    spec.free([huge, other])                     # released in batch order: 8, then 9
    assert spec.locate(spec.alloc([SMALL, SMALL - 1])) == [(9, 0), (9, 32)]


def test_huge_objects_sit_at_offset_0_of_their_own_page():
    spec = ZsmallocSpec(16)
    handles = spec.alloc([3625, 4096, 3625])
    assert spec.locate(handles) == [(0, 0), (1, 0), (2, 0)]
    assert spec.fullness_lists() == {(254, 11): [2, 1, 0]}
    assert spec.sizes(handles) == [3625, 4096, 3625]
    assert spec.bytes_stored == 3625 * 2 + 4096


# -- all or nothing -----------------------------------------------------------------------------

def test_pool_full_leaves_the_spec_as_it_was():
    spec = ZsmallocSpec(9)
    spec.alloc([BIG] * 9)                        # pfns 0..7, full
    before = state(spec)
    with pytest.raises(PoolFullError):
        spec.alloc([SMALL, BIG])                 # SMALL would take pfn 8; BIG needs 8 more pages
    assert state(spec) == before
    assert spec.alloc([SMALL]) == [10]           # the failed batch used up no handle
    assert spec.locate([10]) == [(8, 0)]
    with pytest.raises(PoolFullError):
        spec.alloc([HUGE])
    assert spec.pages_used == 9


def test_pool_full_after_releases_counts_released_pages():
    spec = ZsmallocSpec(8)
    [big] = spec.alloc([BIG])
    spec.free([big])
    spec.alloc([BIG])                            # the 8 released pages suffice
    with pytest.raises(PoolFullError):
        ZsmallocSpec(7).alloc([BIG])


@pytest.mark.parametrize("bad", [0, -1, 4097, 1.0, True, "8", None])
def test_bad_size_changes_nothing(bad):
    spec = ZsmallocSpec(16)
    spec.alloc([SMALL, THIRD])
    before = state(spec)
    with pytest.raises(ValueError):
        spec.alloc([SMALL, bad])
    assert state(spec) == before
    assert spec.alloc([SMALL]) == [3]


def test_bad_handles_change_nothing():
    spec = ZsmallocSpec(16)
    handles = spec.alloc([SMALL, SMALL, THIRD])
    spec.free([handles[1]])
    before = state(spec)
    for batch in ([handles[0], 99], [handles[0], handles[1]], [handles[2], handles[0], handles[2]],
                  [0], [handles[0], True], [1.0]):
        with pytest.raises(InvalidHandleError):
            spec.free(batch)
        assert state(spec) == before
    for call in (spec.read, spec.locate, spec.sizes):
        with pytest.raises(InvalidHandleError):
            call([handles[0], handles[1]])
    spec.free(np.array([handles[0], handles[2]]))       # NumPy integers are handles too
    assert spec.pages_used == 0 and spec.objects == 0


def test_write_checks_every_blob_first():
    spec = ZsmallocSpec(16)
    handles = spec.alloc([3, 5])
    with pytest.raises(ValueError):
        spec.write(handles, [b"abc", b"abcd"])
    with pytest.raises(ValueError):
        spec.write(handles, [b"abc"])
    with pytest.raises(InvalidHandleError):
        spec.write([handles[0], 7], [b"abc", b"abcde"])
    assert spec.read(handles) == [bytes(3), bytes(5)]
    spec.write(handles, [b"abc", bytearray(b"vwxyz")])
    assert spec.read(handles) == [b"abc", b"vwxyz"]


# -- compaction ---------------------------------------------------------------------------------

def test_compaction_merges_two_half_empty_zspages():
    spec = ZsmallocSpec(16)
    h = spec.alloc([HALF] * 4)                   # pfn 0: h1, h2; pfn 1: h3, h4
    spec.write([h[0], h[3]], [b"a" * HALF, b"d" * HALF])
    spec.free([h[1]])                            # pfn 0 to group 6
    spec.free([h[2]])                            # pfn 1 to group 6, the head
    assert row(spec, 126)["freeable"] == 1
    # dst: the head of the fullest group (pfn 1); src: the head of the emptiest group (pfn 0).
    # h1 moves into dst's free-list head, the slot h3 left (pfn 1 offset 0); pfn 0 is freed.
    assert spec.compact() == 1
    assert spec.pages_compacted == 1
    assert spec.locate([h[0], h[3]]) == [(1, 0), (1, 2048)]
    assert spec.read([h[0], h[3]]) == [b"a" * HALF, b"d" * HALF]
    assert spec.fullness_lists() == {(126, 11): [1]}
    assert spec.pages_used == 1
    assert spec.compact() == 0 and spec.pages_compacted == 1
    assert spec.locate(spec.alloc([SMALL])) == [(0, 0)]       # pfn 0 was released


def test_compaction_keeps_dst_across_sources_emptiest_first():
    spec = ZsmallocSpec(16)
    h = spec.alloc([THIRD] * 9)                  # pfns 0, 1, 2 with 3 objects each
    spec.free([h[1], h[2]])                      # pfn 0 keeps h1 (group 4)
    spec.free([h[4], h[5]])                      # pfn 1 keeps h4
    spec.free([h[7], h[8]])                      # pfn 2 keeps h7 and is the group's head
    assert spec.fullness_lists() == {(83, 4): [2, 1, 0]}
    assert spec.compact() == 2
    # dst pfn 2 (free list head: slot 2, then 1); h4 from pfn 1 takes slot 2, pfn 1 is freed;
    # dst is not full, so it is kept, and h1 from pfn 0 takes slot 1; pfn 0 is freed.
    assert spec.locate([h[6], h[0], h[3]]) == [(2, 0), (2, 1360), (2, 2720)]
    assert spec.fullness_lists() == {(83, 11): [2]}
    assert spec.pages_compacted == 2
    # Sources were freed pfn 1 first, then pfn 0: pfn 0 is reused first.
    assert spec.locate(spec.alloc([HUGE, HUGE])) == [(0, 0), (1, 0)]


def test_compaction_partly_drains_a_source_then_takes_it_again():
    spec = ZsmallocSpec(16)
    h = spec.alloc([THIRD] * 9)
    spec.free([h[0]])                            # pfn 0: h2, h3 (group 7)
    spec.free([h[3]])                            # pfn 1: h5, h6
    spec.free([h[6]])                            # pfn 2: h8, h9, the head of group 7
    assert spec.fullness_lists() == {(83, 7): [2, 1, 0]}
    assert spec.compact() == 1
    # Pass 1: dst pfn 2, src pfn 1; h5 fills dst's slot 0, src keeps h6 and goes to group 4.
    # Pass 2: dst pfn 0 (group 7), src pfn 1 (group 4); h6 takes pfn 0 slot 0; pfn 1 freed.
    assert spec.locate(h[1:3] + h[4:6] + h[7:]) == [(0, 1360), (0, 2720), (2, 0), (0, 0),
                                                    (2, 1360), (2, 2720)]
    assert spec.fullness_lists() == {(83, 11): [0, 2]}


def test_compaction_needs_a_whole_zspage_of_free_slots():
    spec = ZsmallocSpec(16)
    h = spec.alloc([THIRD] * 6)
    spec.free([h[0], h[4]])                      # two zspages of 2 of 3: 2 free slots < 3
    before = state(spec)
    assert spec.compact() == 0
    assert state(spec) == before
    assert row(spec, 83)["freeable"] == 0


def test_compaction_walks_classes_from_the_largest_and_keeps_bytes():
    spec = ZsmallocSpec(64)
    big = spec.alloc([BIG] * 18)                 # pfns 0..7 and 8..15
    small = spec.alloc([HALF] * 4)               # pfns 16, 17
    blobs = [bytes([i]) * BIG for i in range(18)]
    spec.write(big, blobs)
    spec.free(big[1:9])                          # pfn 0's zspage keeps big[0] (group 2)
    spec.free(big[10:17])                        # pfn 8's keeps big[9], big[17] (group 3)
    spec.free(small[1:3])
    assert spec.compact() == 8 + 1
    # Class 225: dst pfn 8 (2/9, fuller), src pfn 0; big[0] takes dst's free-list head, the
    # slot big[16] (index 7) left last; the first zspage's pages 0..7 are freed.
    assert spec.locate([big[0]]) == [(14, 848)]
    assert spec.read([big[0], big[9], big[17]]) == [blobs[0], blobs[9], blobs[17]]
    assert spec.pages_used == 8 + 1
    assert spec.pages_compacted == 9


# -- statistics ---------------------------------------------------------------------------------

def test_class_stats_counts():
    spec = ZsmallocSpec(64)
    h = spec.alloc([THIRD] * 7 + [SMALL] * 3 + [BIG] * 10)
    spec.free([h[0], h[3], h[4]])                # class 83: pfn 0 has 2, pfn 1 has 1, pfn 2 has 1
    stats = spec.class_stats()
    assert stats.dtype == CLASS_STATS_DTYPE and len(stats) == 119
    assert list(stats["class"]) == sorted(stats["class"])
    by_class = {int(row["class"]): row for row in stats}
    third = by_class[83]
    assert [int(third[name]) for name in RATIO_FIELDS] == [0, 0, 0, 2, 0, 0, 1, 0, 0, 0, 0]
    assert (third["obj_allocated"], third["obj_used"], third["pages_used"],
            third["pages_per_zspage"], third["freeable"]) == (9, 4, 3, 1, 1)
    small = by_class[0]
    assert (small["ratio_10"], small["obj_allocated"], small["obj_used"]) == (1, 128, 3)
    big = by_class[225]
    assert (big["ratio_100"], big["ratio_20"], big["obj_allocated"], big["obj_used"],
            big["pages_used"], big["pages_per_zspage"], big["freeable"]) == (1, 1, 18, 10, 16, 8, 0)
    assert by_class[254]["pages_per_zspage"] == 1 and by_class[254]["obj_allocated"] == 0
    assert stats["pages_used"].sum() == spec.pages_used == 3 + 1 + 16
    text = format_class_stats(stats)
    assert len(text.splitlines()) == 1 + 119 + 2
    assert text.splitlines()[-1].split() == ["Total", "1", "1", "0", "2", "0", "0", "1", "0",
                                             "0", "0", "1", "155", "17", "20", "1"]


# -- rules that hold after any sequence ---------------------------------------------------------

operations = st.lists(st.one_of(
    st.tuples(st.just("alloc"), st.lists(st.sampled_from([1, 24, 25, 700, THIRD, HALF, 3000, BIG,
                                                          HUGE]), min_size=1, max_size=6)),
    st.tuples(st.just("free"), st.lists(st.integers(0, 40), max_size=5, unique=True)),
    st.tuples(st.just("compact"), st.none())), max_size=25)


@settings(max_examples=40, deadline=None)
@given(operations)
def test_rules_hold_after_any_sequence(ops):
    spec = ZsmallocSpec(48)
    table = size_class_table()
    data = {}
    for op, arg in ops:
        if op == "alloc":
            try:
                handles = spec.alloc(arg)
            except PoolFullError:
                continue
            blobs = [bytes([handle % 251]) * size for handle, size in zip(handles, arg)]
            spec.write(handles, blobs)
            data.update(zip(handles, blobs))
        elif op == "free":
            live = spec.handles()
            batch = [live[i] for i in arg if i < len(live)]
            spec.free(batch)
            for handle in batch:
                del data[handle]
        else:
            before = spec.pages_used, spec.pages_compacted
            freed = spec.compact()
            assert spec.pages_used == before[0] - freed
            assert spec.pages_compacted == before[1] + freed
            # Compaction leaves no class with a whole zspage of free slots.
            assert spec.class_stats()["freeable"].sum() == 0
    handles = spec.handles()
    assert spec.read(handles) == [data[h] for h in handles]
    assert spec.objects == len(handles)
    assert spec.bytes_stored == sum(len(data[h]) for h in handles)
    # Live slots never share a start, and each starts inside a page of some listed zspage.
    places = spec.locate(handles)
    assert len(places) == len(set(places))
    lists = spec.fullness_lists()
    chains = {first: spec.zspage_pages(first) for firsts in lists.values() for first in firsts}
    assert sum(len(firsts) for firsts in lists.values()) == len(chains)
    pfns = [pfn for chain in chains.values() for pfn in chain]
    assert len(pfns) == len(set(pfns)) == spec.pages_used
    owner = {pfn: first for first, chain in chains.items() for pfn in chain}
    inuse = dict.fromkeys(chains, 0)
    for pfn, _ in places:
        inuse[owner[pfn]] += 1
    # Every zspage is on the list its inuse count calls for (rule 2.5); none is empty.
    for (class_index, group), firsts in lists.items():
        assert group != 0
        for first in firsts:
            assert len(chains[first]) == table["pages_per_zspage"][class_index]
            assert fullness_group(inuse[first], table["objs_per_zspage"][class_index]) == group
    stats = spec.class_stats()
    assert stats["pages_used"].sum() == spec.pages_used
    assert stats["obj_used"].sum() == len(handles)
