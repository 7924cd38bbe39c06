"""zsmalloc's class table, lookups, fullness groups and debugfs text against kernel-6.18.md.

The expected table is Appendix A of kernel-6.18.md, pasted here as text and parsed: it is the
documented table (checked on a live 6.18 kernel), not something the code under test computes.
"""

import numpy as np
import pytest

from zbudjit.policies.zsmalloc.classes import (
    CLASS_DTYPE, CLASS_STATS_DTYPE, FULLNESS_GROUPS, RATIO_FIELDS, class_count, class_index_for,
    class_lookup_table, format_class_stats, fullness_group, huge_class_size, lookup_class_index,
    real_class_indices, size_class_table)

# kernel-6.18.md, Appendix A (CONFIG_ZSMALLOC_CHAIN_SIZE=8, 4 KiB pages):
# indices:size/pages_per_zspage/objs_per_zspage; a range uses the class of its highest index.
APPENDIX_A = """
0:32/1/128  1:48/3/256  2:64/1/64  3:80/5/256  4:96/3/128  5:112/7/256  6:128/1/32  7:144/7/199
8:160/5/128  9:176/4/93  10:192/3/64  11:208/3/59  12:224/7/128  13:240/1/17  14:256/1/16
15:272/1/15  16:288/5/71  17:304/7/94  18:320/5/64  19:336/6/73  20:352/8/93  21:368/8/89
22:384/3/32  23:400/5/51  24:416/6/59  25:432/7/66  26:448/7/64  27:464/5/44  28:480/2/17
29:496/4/33  30:512/1/8  31:528/4/31  32:544/2/15  33:560/7/51  34:576/1/7  35:592/8/55
36:608/7/47  37:624/2/13  38:640/5/32  39:656/5/31  40:672/1/6  41:688/8/47  42:704/5/29
43:720/3/17  44:736/2/11  45:752/7/38  46:768/3/16  47:784/5/26  48-49:816/1/5  50:832/8/39
51:848/5/24  52:864/7/33  53:880/8/37  54:896/7/32  55:912/7/31  56:928/5/22  57:944/3/13
58:960/4/17  59:976/6/25  60:992/8/33  61-62:1024/1/4  63-64:1056/8/31  65:1072/5/19  66:1088/4/15
67:1104/3/11  68:1120/8/29  69:1136/5/18  70-71:1168/2/7  72:1184/7/24  73:1200/5/17  74:1216/3/10
75:1232/7/23  76:1248/4/13  77-78:1280/5/16  79:1296/7/22  80-83:1360/1/3  84-87:1424/8/23
88:1440/6/17  89:1456/5/14  90-91:1488/4/11  92:1504/7/19  93-94:1536/3/8  95:1552/8/21
96:1568/5/13  97:1584/7/18  98-100:1632/2/5  101-103:1680/7/17  104:1696/5/12  105:1712/8/19
106-107:1744/3/7  108-110:1792/7/16  111:1808/4/9  112-114:1856/5/11  115-116:1888/6/13
117:1904/7/15  118:1920/8/17  119-126:2048/1/2  127-134:2176/8/15  135:2192/7/13
136-137:2224/6/11  138-140:2272/5/9  141-144:2336/4/7  145-147:2384/7/12  148-151:2448/3/5
152-155:2512/8/13  156-158:2560/5/8  159-160:2592/7/11  161-168:2720/2/3  169-177:2864/7/10
178-180:2912/5/7  181-184:2976/8/11  185-190:3072/3/4  191-197:3184/7/9  198-202:3264/4/5
203-211:3408/5/6  212-217:3504/6/7  218-222:3584/7/8  223-225:3632/8/9  226-254:4096/1/1
"""


def appendix_rows():
    """{index: (size, pages, objs, class_index)} for every index of Appendix A."""
    rows = {}
    for entry in APPENDIX_A.split():
        indices, shape = entry.split(":")
        low, _, high = indices.partition("-")
        low, high = int(low), int(high or low)
        size, pages, objs = (int(part) for part in shape.split("/"))
        for index in range(low, high + 1):
            rows[index] = (size, pages, objs, high)
    return rows


EXPECTED = appendix_rows()


def test_appendix_covers_every_index_once():
    assert sorted(EXPECTED) == list(range(255))


def test_table_is_appendix_a():
    table = size_class_table()
    assert table.dtype == CLASS_DTYPE
    assert len(table) == 255
    got = {i: tuple(int(v) for v in table[i]) for i in range(len(table))}
    wrong = {i: (got[i], EXPECTED[i]) for i in EXPECTED if got[i] != EXPECTED[i]}
    assert not wrong


def test_119_real_classes():
    table = size_class_table()
    real = real_class_indices(table)
    assert len(real) == 119
    assert list(real) == sorted({row[3] for row in EXPECTED.values()})
    # A real class names itself; a merged index names a larger real class of the same shape.
    for index, row in enumerate(table):
        target = table[row["class_index"]]
        assert row["class_index"] >= index
        assert target["class_index"] == row["class_index"]
        assert tuple(target) == tuple(row)


def test_defaults_are_4k_chain_8_and_table_is_a_fresh_copy():
    table = size_class_table()
    assert np.array_equal(table, size_class_table(4096, 8))
    table["size"][:] = 0
    assert size_class_table()["size"][0] == 32


def test_huge_class_size_chain_8():
    assert huge_class_size() == 3625
    assert huge_class_size(4096, 8) == 3625


@pytest.mark.parametrize("chain, watermark", [(4, 3264 - 7), (5, 3408 - 7), (16, 3840 - 7)])
def test_huge_class_size_other_chains(chain, watermark):
    # Rule 1.10.5.
    assert huge_class_size(4096, chain) == watermark


@pytest.mark.parametrize("chain, classes", [
    (4, 69), (5, 86), (6, 94), (7, 110), (8, 119), (9, 136), (10, 141), (11, 153), (12, 159),
    (13, 173), (14, 179), (15, 186), (16, 192)])
def test_class_counts_other_chains(chain, classes):
    # Rule 1.10.6: the min-waste rule, not the documentation's older counts.
    table = size_class_table(4096, chain)
    assert len(table) == 255
    assert len(real_class_indices(table)) == classes


@pytest.mark.parametrize("page_size, indices", [(4096, 255), (8192, 256), (16384, 257),
                                                (65536, 257)])
def test_other_page_sizes(page_size, indices):
    # ceil((page_size - 32) / (page_size >> 8)) + 1 indices; the last one is the page itself.
    table = size_class_table(page_size)
    assert class_count(page_size) == indices == len(table)
    delta = page_size >> 8
    assert table["size"][0] == 32
    assert tuple(table[-1]) == (page_size, 1, 1, indices - 1)
    real = real_class_indices(table)
    assert list(table["size"][real]) == [min(32 + i * delta, page_size) for i in real]
    assert np.all(table["pages_per_zspage"] * page_size // table["size"]
                  == table["objs_per_zspage"])


@pytest.mark.parametrize("call", [
    lambda **kw: size_class_table(**kw), lambda **kw: huge_class_size(**kw),
    lambda **kw: class_lookup_table(**kw), lambda **kw: class_index_for(100, **kw)])
def test_argument_validation(call):
    for bad in (4096.0, "4096", True, None):
        with pytest.raises(TypeError, match="page_size must be an integer"):
            call(page_size=bad)
    for bad in (2048, 6144, 131072, 0, -4096):
        with pytest.raises(ValueError, match="page_size must be a power of two"):
            call(page_size=bad)
    for bad in (8.0, True, np.bool_(True), "8"):
        with pytest.raises(TypeError, match="chain_size must be an integer"):
            call(chain_size=bad)
    for bad in (3, 17, 0, -8):
        with pytest.raises(ValueError, match="chain_size must be from 4 to 16"):
            call(chain_size=bad)
    call(page_size=np.int64(8192), chain_size=np.int32(4))       # NumPy integers are integers


@pytest.mark.parametrize("inuse, objs, group", [
    # Rule 2.8.4: the group of a new zspage (one object in use).
    (1, 1, 11), (1, 2, 6), (1, 3, 4), (1, 4, 3), (1, 5, 3), (1, 6, 2), (1, 10, 2), (1, 11, 1),
    (1, 128, 1), (1, 256, 1),
    # Rule 2.5: empty, full, and the tenths.
    (0, 9, 0), (9, 9, 11), (12, 128, 1), (13, 128, 2), (127, 128, 10), (2, 3, 7), (8, 9, 9)])
def test_fullness_group(inuse, objs, group):
    assert fullness_group(inuse, objs) == group


def test_fullness_group_bad_arguments():
    assert FULLNESS_GROUPS == 12
    for inuse, objs in ((-1, 3), (4, 3), (0, 0)):
        with pytest.raises(ValueError):
            fullness_group(inuse, objs)


@pytest.mark.parametrize("size, index", [
    (1, 0), (24, 0),           # + 8 <= 32: class 0
    (25, 1),                   # 33 bytes: nominal index 1 (48 bytes)
    (3624, 225),               # 3632: the largest non-huge class
    (3625, 254),               # huge_class_size: 3633 goes to the 4096-byte class
    (4096, 254)])              # 4104: index 255 clamped to 254
def test_class_index_for(size, index):
    assert class_index_for(size) == index
    assert class_lookup_table()[size] == index


def test_lookup_class_index_adds_no_handle():
    # zs_lookup_class_index: the class that holds slots of the size, as is.
    assert lookup_class_index(32) == 0
    assert lookup_class_index(33) == 1
    assert lookup_class_index(3632) == 225
    assert lookup_class_index(3633) == 254
    assert lookup_class_index(800) == 49            # nominal 48 is merged into 49 (816 bytes)


def test_class_lookup_table_matches_the_rule_everywhere():
    lookup = class_lookup_table()
    assert lookup.dtype == np.int64 and len(lookup) == 4097
    assert lookup[0] == -1
    for size in range(1, 4097):
        slot = size + 8
        nominal = 0 if slot <= 32 else min(-(-(slot - 32) // 16), 254)
        assert lookup[size] == EXPECTED[nominal][3]
    # Every request fits its class's slot, and the huge class takes exactly n >= 3625.
    sizes = size_class_table()["size"][lookup[1:]]
    assert np.all(sizes >= np.minimum(np.arange(1, 4097) + 8, 4096))
    assert np.all((lookup[1:] == 254) == (np.arange(1, 4097) >= 3625))


def test_class_index_for_bad_sizes():
    for bad in (0, -1, 4097):
        with pytest.raises(ValueError):
            class_index_for(bad)
    for bad in (1.0, True, "1"):
        with pytest.raises(TypeError):
            class_index_for(bad)


# zs_stats_size_show's formats in 6.18 (mm/zsmalloc.c), as printf strings; Python's % operator
# follows printf, so these give the kernel's exact text.
HEADER_FORMAT = " %5s %5s" + " %9s" * 11 + " %13s %10s %10s %16s %8s\n"
ROW_FORMAT = " %5u %5u " + "%9u " * 11 + "%13u %10u %10u %16d %8u\n"
TOTAL_FORMAT = " %5s %5s " + "%9u " * 11 + "%13u %10u %10u %16s %8u\n"
HEADER = HEADER_FORMAT % ("class", "size", "10%", "20%", "30%", "40%", "50%", "60%", "70%",
                          "80%", "90%", "99%", "100%", "obj_allocated", "obj_used", "pages_used",
                          "pages_per_zspage", "freeable")


def test_class_stats_dtype():
    assert RATIO_FIELDS == ("ratio_10", "ratio_20", "ratio_30", "ratio_40", "ratio_50",
                            "ratio_60", "ratio_70", "ratio_80", "ratio_90", "ratio_99",
                            "ratio_100")
    assert CLASS_STATS_DTYPE.names == (("class", "size") + RATIO_FIELDS
                                       + ("obj_allocated", "obj_used", "pages_used",
                                          "pages_per_zspage", "freeable"))


def test_format_class_stats_header_and_rows():
    rows = np.zeros(2, dtype=CLASS_STATS_DTYPE)
    rows[0] = (0, 32, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 128, 1, 1, 1, 0)
    rows[1] = (225, 3632, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 3, 45, 35, 40, 8, 8)
    text = format_class_stats(rows)
    assert text == (
        HEADER
        + ROW_FORMAT % (0, 32, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 128, 1, 1, 1, 0)
        + ROW_FORMAT % (225, 3632, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 3, 45, 35, 40, 8, 8)
        + "\n"
        + TOTAL_FORMAT % ("Total", "", 1, 0, 0, 0, 0, 0, 0, 2, 0, 0, 3, 173, 36, 41, "", 8))
    lines = text.split("\n")
    assert lines[0] == (" class  size       10%       20%       30%       40%       50%       60%"
                        "       70%       80%       90%       99%      100% obj_allocated"
                        "   obj_used pages_used pages_per_zspage freeable")
    assert lines[1] == ("     0    32         1         0         0         0         0         0"
                        "         0         0         0         0         0           128"
                        "          1          1                1        0")
    assert lines[3] == ""
    assert lines[4].startswith(" Total       ")
    assert lines[4].endswith("173         36         41                         8")


def test_format_class_stats_of_no_rows():
    text = format_class_stats(np.zeros(0, dtype=CLASS_STATS_DTYPE))
    assert text == HEADER + "\n" + TOTAL_FORMAT % (("Total", "") + (0,) * 14 + ("", 0))
