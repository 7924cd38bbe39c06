"""zbudjit.Zram: the 6.18 write path rule by rule on hand-worked cases, counters against a
plain-Python reference of zram's rules over the policies' plain-Python specs (hypothesis),
round trips for every compressor, writeback, recompression, idle marking, bad input, and the
kernel check on the live kernel."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zbudjit import PoolError
from zbudjit.cli import main as cli_main
from zbudjit.compressors import available
from zbudjit.frontends.zram import IoStat, MmStat, Zram
from zbudjit.kernel.zram import OP_COMPACT, OP_DISCARD, OP_WRITE, availability
from zbudjit.policies.zbud.spec import ZbudSpec
from zbudjit.policies.zsmalloc.spec import ZsmallocSpec
from zram_oracle import ReferenceZram  # tests/ is not a package

PAGE = 4096
MB = 1 << 20


def fields(zram):
    return tuple(vars(zram.mm_stat()).values())


def state(zram):
    """Everything a failed call must leave as it was."""
    return (fields(zram), zram.io_stat(), zram._handle.copy(), zram._size.copy(),
            zram._flags.copy(), zram.pool.pages_used)


def same_state(a, b):
    return a[0] == b[0] and a[1] == b[1] and all(np.array_equal(x, y) for x, y in zip(a[2:5],
                                                                                    b[2:5])) \
        and a[5] == b[5]


@pytest.fixture(scope="module")
def pages():
    from zbudjit.kernel.check import real_pages
    return real_pages(300, seed=4)


def random_pages(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, PAGE), dtype=np.uint8)


# -- the write path, rule by rule --------------------------------------------------------------

def word_page(word_bytes):
    return np.frombuffer(word_bytes * (PAGE // len(word_bytes)), np.uint8).reshape(1, PAGE)


@pytest.mark.parametrize("pattern, same", [
    (b"\0" * 8, True), (b"\xff" * 8, True), (b"abcd", True), (b"12345678", True),
    (b"0123456789abcdef", False)])
def test_same_filled_is_any_repeated_8_byte_word(pattern, same):
    zram = Zram(MB, compressor="lz4")
    page = word_page(pattern)
    zram.write([3], page)
    mm = zram.mm_stat()
    assert mm.same_pages == int(same)
    assert mm.orig_data_size == PAGE
    assert (mm.mem_used_total == 0) == same          # a same-filled page takes no memory
    assert np.array_equal(zram.read([3]), page)


def test_a_page_differing_only_in_its_last_word_is_not_same_filled():
    page = np.zeros((1, PAGE), np.uint8)
    page[0, -1] = 1
    zram = Zram(MB, compressor="lz4")
    zram.write([0], page)
    assert zram.mm_stat().same_pages == 0


def test_an_incompressible_page_is_stored_raw_in_a_one_page_object():
    zram = Zram(MB, compressor="lz4")
    page = random_pages(1)
    zram.write([0], page)
    assert fields(zram) == (PAGE, PAGE, PAGE, 0, PAGE, 0, 0, 1, 1)
    assert np.array_equal(zram.read([0]), page)
    zram.discard([0])
    assert fields(zram) == (0, 0, 0, 0, PAGE, 0, 0, 0, 1)      # huge_pages_since stays


def test_sizes_land_in_the_classes_of_appendix_a():
    zram = Zram(MB, compressor="lz4", keep_data=False)
    zram.write_sizes([0], [100])            # 108 B: index 5, class 112 B, 7-page zspages
    assert zram.mm_stat().compr_data_size == 100
    assert zram.mm_stat().mem_used_total == 7 * PAGE
    zram.write_sizes([1], [3624])           # below huge_class_size: class 3632, 8 pages a zspage
    assert zram.mm_stat().mem_used_total == 15 * PAGE and zram.mm_stat().huge_pages == 0
    zram.write_sizes([2], [3625])           # huge: a raw page, class 4096, one page
    assert zram.mm_stat().mem_used_total == 16 * PAGE
    assert zram.mm_stat().compr_data_size == 100 + 3624 + PAGE


def test_an_overwrite_allocates_before_it_frees():
    # 504 B + 8 -> class 512 B: one-page zspages of 8 objects. Index 0 lives in a full zspage, so
    # its new copy needs a second zspage while the old copy still holds its slot.
    zram = Zram(MB, compressor="lz4", keep_data=False)
    zram.write_sizes(range(8), [504] * 8)
    assert zram.mm_stat().mem_used_total == PAGE
    zram.write_sizes([0], [504])
    mm = zram.mm_stat()
    assert mm.mem_used_max == 2 * PAGE          # both copies at once
    assert mm.mem_used_total == 2 * PAGE        # freeing first would have kept one page
    assert mm.orig_data_size == 8 * PAGE and mm.compr_data_size == 8 * 504


def test_the_limit_is_checked_after_the_allocation_and_the_peak_before_it():
    zram = Zram(MB, compressor="lz4", keep_data=False, mem_limit=1)     # rounds up to a page
    assert zram.mem_limit == PAGE
    assert zram.write_sizes(range(8), [504] * 8).all()
    stored = zram.write_sizes([8, 9], [504, 0])
    assert stored.tolist() == [False, True]     # the same-filled page after it still goes in
    mm = zram.mm_stat()
    assert mm.mem_used_max == 2 * PAGE          # the transient peak of the refused write
    assert mm.mem_used_total == PAGE
    assert mm.orig_data_size == 9 * PAGE and mm.same_pages == 1
    assert zram.io_stat() == IoStat(0, 1, 0, 0)


def test_a_refused_overwrite_leaves_the_old_page(pages):
    zram = Zram(MB, compressor="lz4")
    zram.write([0, 1], pages[:2])
    zram.mem_limit = zram.mm_stat().mem_used_total
    assert not zram.write([0], random_pages(1)).any()     # a raw page needs a page more
    assert np.array_equal(zram.read([0, 1]), pages[:2])
    assert zram.io_stat().failed_writes == 1


def test_discard_counts_notify_free_for_every_page_and_frees_it():
    zram = Zram(MB, compressor="lz4", keep_data=False)
    zram.write_sizes([0, 1], [0, 700])
    zram.discard([0, 1, 2, 2])
    assert fields(zram)[:3] == (0, 0, 0) and zram.mm_stat().same_pages == 0
    assert zram.io_stat() == IoStat(0, 0, 0, 4)


def test_reset_zeroes_every_counter_and_keeps_the_configuration():
    zram = Zram(MB, compressor="lz4", keep_data=False, mem_limit=8 * PAGE)
    zram.write_sizes(range(17), [3700] + [504] * 16)      # two full one-page zspages
    zram.discard(range(1, 17, 2))                         # half of each: one can go
    assert zram.compact() == 1
    assert zram.mm_stat().pages_compacted == 1
    zram.reset()
    assert fields(zram) == (0, 0, 0, 8 * PAGE, 0, 0, 0, 0, 0)
    assert zram.io_stat() == IoStat(0, 0, 0, 0)
    zram.write_sizes([0], [504])
    assert zram.mm_stat().mem_used_total == PAGE


def test_mem_used_max_resets_to_the_pool_now():
    zram = Zram(MB, compressor="lz4", keep_data=False)
    zram.write_sizes(range(8), [504] * 8)
    zram.write_sizes([0], [504])
    zram.discard(range(1, 8))
    zram.compact()
    assert zram.mm_stat().mem_used_max == 2 * PAGE
    zram.reset_mem_used_max()
    assert zram.mm_stat().mem_used_max == zram.mm_stat().mem_used_total == PAGE


def test_sysfs_texts_are_the_kernels():
    assert str(MmStat(4096, 70, 8192, 0, 8192, 1, 0, 0, 0)) == (
        "    4096       70     8192        0     8192        1        0        0        0\n")
    assert str(IoStat(0, 12, 0, 3)) == "       0       12 0        3\n"
    assert MmStat.parse(str(MmStat(*range(9)))) == MmStat(*range(9))


def test_a_batch_is_its_pages_one_at_a_time(pages):
    one, batch = Zram(MB, compressor="lz4"), Zram(MB, compressor="lz4")
    indices = np.random.default_rng(1).integers(0, 40, 120)
    chosen = pages[np.arange(120) % len(pages)]
    for i in range(120):
        one.write(indices[i:i + 1], chosen[i:i + 1])
    batch.write(indices, chosen)
    assert fields(one) == fields(batch)
    assert np.array_equal(one.read(range(40)), batch.read(range(40)))


def test_a_device_far_larger_than_ram_is_made_and_used():
    # the pool's worst-case bound (every index in a zspage of its own) is 8 x 64 GiB of arena
    zram = Zram(64 << 30, compressor="lz4")
    last = zram.n_indices - 1
    zram.write([0, last], np.vstack([word_page(b"\1" * 8), random_pages(1)]))
    assert zram.mm_stat().mem_used_total == PAGE
    assert np.array_equal(zram.read([last]), random_pages(1))


@pytest.mark.parametrize("policy", ["zsmalloc", "zbud"])
def test_one_object_calls_are_the_policys_batch_kernels(policy):
    from zbudjit import Pool
    from zbudjit.policies import single
    pool, twin = Pool(64, policy), Pool(64, policy)
    twin._counters[:] = pool._counters          # the same generation origin: the same handles
    state = pool._policy.kernel_state(pool)
    out = np.zeros(1, np.uint64)
    data = np.arange(300, dtype=np.uint8)
    assert single.alloc_one(state, np.array([300]), data, np.array([0, 300]), out) == (0, 0)
    assert out[0] == twin.store(data, [0, 300])[0]
    assert single.counters_of(state)[0] == pool.pages_used == twin.pages_used > 0
    assert np.array_equal(pool.read(out)[0], data)
    assert single.free_one(state, out) == (0, 0)
    assert single.free_one(state, out)[0] != 0                 # no longer live
    pool.check()
    with pytest.raises(TypeError, match="kernel_state"):
        single.alloc_one((np.zeros(3), np.zeros(3)), np.array([1]), data, np.array([0, 1]), out)


# -- counters against the plain-Python reference -------------------------------------------------

operation = st.one_of(
    st.tuples(st.just(OP_WRITE), st.integers(0, 23),
              st.one_of(st.just(0), st.integers(1, 400), st.integers(400, 3700),
                        st.integers(3625, 5000))),
    st.tuples(st.just(OP_DISCARD), st.integers(0, 23), st.just(0)),
    st.tuples(st.just(OP_COMPACT), st.just(0), st.just(0)))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["zsmalloc", "zbud"]), st.integers(0, 12),
       st.lists(operation, min_size=1, max_size=40))
def test_counters_follow_the_reference(policy, limit_pages, ops):
    zram = Zram(64 * PAGE, compressor="lz4", policy=policy, keep_data=False,
                mem_limit=limit_pages * PAGE)
    batched = Zram(64 * PAGE, compressor="lz4", policy=policy, keep_data=False,
                   mem_limit=limit_pages * PAGE)
    spec = ZsmallocSpec(1 << 14) if policy == "zsmalloc" else ZbudSpec(1 << 14)
    # zbud cannot hold a page: zbudjit.Zram keeps huge pages on their own, and so does this
    reference = ReferenceZram(spec, limit_pages, own_pages=policy == "zbud")
    if policy == "zbud":
        # zbud's compaction is held to its own spec elsewhere; ZbudSpec plans none itself
        ops = [op for op in ops if op[0] != OP_COMPACT] or [(OP_DISCARD, 0, 0)]
    for op, index, comp_len in ops:
        if op == OP_WRITE:
            expected = reference.write(index, comp_len)
            assert zram.write_sizes([index], [comp_len]).tolist() == [expected]
        elif op == OP_DISCARD:
            reference.discard(index)
            zram.discard([index])
        else:
            reference.compact()
            zram.compact()
        assert fields(zram) == reference.mm_stat()
        assert zram.io_stat() == IoStat(0, reference.failed, 0, reference.notify)
        zram.pool.check()
    # the same operations in one replay call: the same figures after every one of them
    codes, indices, lens = (np.array(column) for column in zip(*ops))
    done, rows = batched.replay(codes.astype(np.uint8), indices, lens, record=True)
    assert tuple(rows[-1]) == reference.mm_stat()
    batched.pool.check()


# -- round trips -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", available())
@pytest.mark.parametrize("policy", ["zsmalloc", "zbud"])
def test_every_page_reads_back(name, policy, pages):
    special = np.vstack([word_page(b"\0" * 8), word_page(b"abcdefgh"), random_pages(3)])
    data = np.vstack([pages[:120], special])
    zram = Zram(MB, compressor=name, policy=policy)
    indices = np.arange(len(data))
    zram.write(indices, data)
    zram.write(indices[:40], data[60:100])            # overwrites
    zram.discard(indices[100:110])
    zram.compact()
    expected = data.copy()
    expected[:40] = data[60:100]
    expected[100:110] = 0
    assert np.array_equal(zram.read(indices), expected)
    zram.pool.check()


# -- idle, writeback, recompression ------------------------------------------------------------

class Clock:
    def __init__(self):
        self.now = 10**12

    def __call__(self):
        return self.now


def test_mark_idle_all_and_by_age(pages):
    clock = Clock()
    zram = Zram(MB, compressor="lz4", clock=clock)
    zram.write(range(10), pages[:10])
    zram.write([10], word_page(b"\0" * 8))
    assert zram.mark_idle() == 10                   # not the same-filled page
    zram.read([0, 1])                               # a read clears IDLE
    assert np.count_nonzero(zram._flags & 8) == 8
    assert zram.mark_idle(older_than=0) == 0        # all accessed at "now", none before it
    clock.now += 1
    assert zram.mark_idle(older_than=0) == 10       # all accessed before "now"
    clock.now += 5 * 10**9
    zram.write([2], pages[20:21])
    assert zram.mark_idle(older_than=3) == 9        # index 2 was written 0 s ago
    with pytest.raises(ValueError):
        zram.mark_idle(older_than=-1)


def test_writeback_moves_pages_to_the_backing_file(tmp_path, pages):
    zram = Zram(MB, compressor="lz4", backing_file=tmp_path / "backing")
    data = np.vstack([pages[:6], random_pages(2)])
    zram.write(range(8), data)
    before = zram.mm_stat()
    assert zram.writeback("huge") == 2
    after = zram.mm_stat()
    assert after.orig_data_size == before.orig_data_size      # still stored, elsewhere
    assert after.huge_pages == 0 and after.compr_data_size == before.compr_data_size - 2 * PAGE
    assert after.mem_used_total == before.mem_used_total - 2 * PAGE
    assert str(zram.bd_stat()) == "       2        0        2\n"
    # both raw pages share a size bucket, so the last placed (7) goes first; block 0 stays unused
    assert zram._handle[6:8].tolist() == [2, 1]
    assert np.array_equal(zram.read(range(8)), data)
    assert zram.bd_stat().bd_reads == 2
    zram.discard([6])
    assert zram.bd_stat().bd_count == 1
    zram.close()


def test_writeback_takes_the_largest_first_and_stops_at_the_limit(tmp_path):
    zram = Zram(MB, compressor="lz4", keep_data=False, backing_file=tmp_path / "b")
    zram.write_sizes(range(4), [100, 2000, 1000, 2010])
    zram.writeback_limit = 3
    assert zram.writeback(indices=range(4)) == 3
    # buckets of 64 B, largest first, the last placed first within one: 2010 and 2000 share one
    assert zram._handle[[3, 1, 2]].tolist() == [1, 2, 3]
    assert zram.writeback_limit == 0 and zram.writeback(indices=[0]) == 0
    zram.mark_idle()
    zram.writeback_limit = None
    assert zram.writeback("idle") == 1


def test_recompression_of_huge_pages(pages):
    zram = Zram(MB, compressor="none", recompressors=["zlib"])   # every page huge at first
    data = np.vstack([pages[:20], random_pages(2)])
    zram.write(range(22), data)
    before = zram.mm_stat()
    assert before.huge_pages == 22
    assert zram.recompress(type="huge") == 20
    after = zram.mm_stat()
    assert after.huge_pages == 2 and after.huge_pages_since == 22
    assert after.mem_used_max == before.mem_used_max         # no limit check, no new peak
    assert np.array_equal(zram.read(range(22)), data)
    assert (zram._flags[20:22] & 16).all()          # the random pages: INCOMPRESSIBLE
    assert not (zram._flags[:20] & 16).any()
    assert zram.recompress() == 0       # the rest are at the highest priority already


def test_recompression_threshold_max_pages_and_priority(pages):
    zram = Zram(MB, compressor="none", recompressors=["lz4", "zlib"])
    zram.write(range(30), pages[:30])
    assert zram.recompress(max_pages=5, priority=1) == 5
    assert (zram._flags >> 6 & 3)[:30].tolist().count(1) == 5
    with pytest.raises(ValueError):
        zram.recompress(threshold=3625)
    assert zram.recompress(algo="zlib", threshold=3000) > 0
    assert np.array_equal(zram.read(range(30)), pages[:30])


# -- bad input ---------------------------------------------------------------------------------

def test_bad_input_raises_and_changes_nothing(pages, tmp_path):
    zram = Zram(16 * PAGE, compressor="lz4")
    zram.write(range(4), pages[:4])
    before = state(zram)
    bad = [
        (IndexError, lambda: zram.write([16], pages[:1])),
        (IndexError, lambda: zram.write([-1], pages[:1])),
        (TypeError, lambda: zram.write([0.5], pages[:1])),
        (ValueError, lambda: zram.write([0, 1], pages[:1])),
        (TypeError, lambda: zram.write([0], pages[:1].astype(np.int16))),
        (ValueError, lambda: zram.write([0], pages[:1, :100])),
        (IndexError, lambda: zram.discard([0, 99])),
        (IndexError, lambda: zram.read([99])),
        (PoolError, lambda: zram.write_sizes([0], [10])),
        (PoolError, lambda: zram.writeback("idle")),
        (PoolError, lambda: zram.recompress()),
        (PoolError, lambda: zram.bd_stat()),
        (ValueError, lambda: setattr(zram, "mem_limit", -1)),
    ]
    for error, call in bad:
        with pytest.raises(error):
            call()
        assert same_state(before, state(zram)), call
    size_only = Zram(16 * PAGE, keep_data=False, backing_file=tmp_path / "b")
    for error, call in [(ValueError, lambda: size_only.write_sizes([0], [9000])),
                        (ValueError, lambda: size_only.write_sizes([0, 1], [1])),
                        (ValueError, lambda: size_only.writeback("cold")),
                        (ValueError, lambda: size_only.writeback()),
                        (PoolError, lambda: size_only.read([0])),
                        (ValueError, lambda: size_only.replay([7], [0], [0]))]:
        with pytest.raises(error):
            call()
    for kwargs in ({"disksize": 0}, {"policy": "slab"}, {"compressor": "brotli"},
                   {"policy": "zbud", "chain_size": 4}, {"page_size": 3000},
                   {"recompressors": ["lz4"] * 4}):
        with pytest.raises((ValueError, TypeError)):
            Zram(**{"disksize": MB, **kwargs})


# -- the live kernel ---------------------------------------------------------------------------

def test_kernel_check_on_the_live_kernel(capsys, tmp_path):
    ok, reason = availability()
    if not ok:
        pytest.skip(reason)
    trace = tmp_path / "trace.npz"
    status = cli_main(["kernel-check", "--operations", "800", "--seed", "3",
                       "--save-trace", str(trace)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "every mm_stat field matched the kernel's after every one" in out
    assert cli_main(["replay", str(trace)]) == 0
    assert "every mm_stat field equals the trace's" in capsys.readouterr().out


def test_kernel_check_says_why_it_cannot_run(monkeypatch, capsys):
    import zbudjit.kernel.zram as driver
    monkeypatch.setattr(driver, "availability", lambda: (False, "this process is not root"))
    assert cli_main(["kernel-check"]) == 5
    assert "cannot run here: this process is not root" in capsys.readouterr().err


# -- every operation at random: pages and counters against what was written -------------------

step = st.one_of(
    st.tuples(st.just("write"), st.lists(st.integers(0, 15), min_size=1, max_size=6),
              st.sampled_from(["real", "same", "random"])),
    st.tuples(st.just("discard"), st.lists(st.integers(0, 15), min_size=1, max_size=4),
              st.just(None)),
    st.tuples(st.just("idle"), st.just([]), st.just(None)),
    st.tuples(st.just("writeback"), st.just([]),
              st.sampled_from(["idle", "huge", "huge_idle", "incompressible"])),
    st.tuples(st.just("recompress"), st.just([]), st.sampled_from([None, "idle", "huge"])),
    st.tuples(st.just("compact"), st.just([]), st.just(None)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["zsmalloc", "zbud"]), st.lists(step, min_size=1, max_size=25),
       st.integers(0, 2**32 - 1))
def test_any_sequence_keeps_every_page_and_counter(tmp_path, pages, policy, steps, seed):
    rng = np.random.default_rng(seed)
    zram = Zram(16 * PAGE, compressor="none", policy=policy, recompressors=["lz4"],
                backing_file=tmp_path / f"backing-{seed}")
    written = {}                            # index -> the page last written there
    for kind, indices, how in steps:
        if kind == "write":
            if how == "real":
                batch = pages[rng.integers(0, len(pages), len(indices))]
            elif how == "same":
                batch = np.vstack([word_page(rng.bytes(8)) for _ in indices])
            else:
                batch = random_pages(len(indices), int(rng.integers(1 << 30)))
            assert zram.write(indices, batch).all()
            written.update(zip(indices, batch))
        elif kind == "discard":
            zram.discard(indices)
            for index in indices:
                written.pop(index, None)
        elif kind == "idle":
            zram.mark_idle()
        elif kind == "writeback":
            zram.writeback(how)
        elif kind == "recompress":
            zram.recompress(type=how)
        else:
            zram.compact()
        zram.pool.check()
        flags, stored = zram._flags, sorted(written)
        mm, bd = zram.mm_stat(), zram.bd_stat()
        assert mm.orig_data_size == len(written) * PAGE
        assert mm.same_pages == np.count_nonzero(flags & 1)
        assert mm.huge_pages == np.count_nonzero(flags & 4)
        assert bd.bd_count == np.count_nonzero(flags & 2)
        assert mm.compr_data_size == int(zram._size.sum())
        assert mm.compr_data_size == zram.pool.bytes_stored + (
            PAGE * int(zram._stats[13]) if policy == "zbud" else 0)     # the own-page store
        if stored:       # read as writeback does: a read would clear IDLE, changing what follows
            back = zram._read_unlocked(np.array(stored), mark=False)
            assert np.array_equal(back, np.vstack([written[i] for i in stored]))
    if written:
        stored = sorted(written)
        assert np.array_equal(zram.read(stored), np.vstack([written[i] for i in stored]))
    zram.close()
