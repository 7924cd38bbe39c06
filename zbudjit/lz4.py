"""LZ4 block compression, as Linux compresses memory pages, in Numba: whole batches per kernel call.

zram and zswap's ``lz4`` is the kernel's own LZ4 (lib/lz4, called through ``LZ4_compress_fast``
with acceleration 1 by zram's ``backend_lz4.c`` and crypto's ``lz4.c``). This module compresses a
batch of pages into a ragged batch and decompresses one back, each in a single ``@njit`` kernel
call, with the kernel's hash table, hash, skip step and match finder, so that each page's
compressed size, and its bytes, are what the kernel gives it (checked against a live kernel's zram
in tests/test_lz4.py). liblz4 1.9.x (python-lz4) makes the same format but finds other matches.

The LZ4 block (lz4's doc/lz4_Block_format.md)
---------------------------------------------
A block is a sequence of sequences, with no header and no end marker: the block ends where its
input ends. A sequence is

====================  ==========================================================================
token (1 byte)        high nibble: literal count, low nibble: match length less 4; a nibble of
                      15 means "15 plus the bytes that follow": each 255 adds 255 and goes on,
                      the first byte below 255 adds itself and ends the count
literal count bytes   that many literals, then, unless the block ends here,
offset (2 bytes)      little-endian distance 1..65535 back from the current output position
match length bytes    the match length's own continuation bytes, if its nibble was 15
====================  ==========================================================================

and a match may overlap its own output (offset < length repeats the last ``offset`` bytes). The
last sequence has literals only. Encoders keep two end rules, and the kernel's decoder enforces
them: the last 5 bytes of a block's output are literals (a match ends at least 5 bytes before the
end) and the last match starts at least 12 bytes before the end (MFLIMIT).

The compressor (the kernel's LZ4_compress_default, 64-bit)
----------------------------------------------------------
A page under 64 KiB + 11 bytes is compressed with a table of 2**13 16-bit positions (LZ4_MEMORY_
USAGE 14: 16 KiB), cleared to zero for each page, so an untouched slot offers position 0. The four
bytes at a position, read little-endian as ``u``, hash to ``(u * 2654435761 mod 2**32) >> 19``.
Larger pages use 2**12 32-bit positions, and hash five bytes: the eight at the position, read
little-endian, shifted left by 24 (so the low five remain), times 889523592379, top 12 bits; their
candidates must also be at most 65535 bytes back.

Position 0 goes in the table; the scan then starts at 1. At each position the table slot of its
hash gives a candidate and the position replaces it. A candidate whose four bytes equal the
position's is a match; otherwise the scan moves on by ``attempts >> 6``, ``attempts`` counting
from 64 at the sequence's first try, so after 64 misses it steps 2, after 128 steps 3 and so on
(LZ4_SKIPTRIGGER 6). A match is first extended backwards, while the bytes before it agree and the
literals before it last, then forwards, by exact count up to 5 bytes before the page's end. After
a match, position ``end - 2`` goes in the table, and ``end`` is tried at once: a hit there is a
match with no literals; a miss restarts the scan at ``end + 1``. No scan looks at a position
past ``page_size - 12``, and a match that ends past it ends the scan; the rest of the page is the
last literals. A page of 12 bytes or fewer is all literals.

Ragged output and status codes
------------------------------
:func:`compress_pages` returns ``(data, offsets)`` as zbudjit.compressors does: object ``i`` is
``data[offsets[i]:offsets[i + 1]]``, ``header_bytes`` zeros then the block. The decoder is safe:
it never reads outside ``data[starts[i]:ends[i]]`` nor writes outside its page, whatever the
bytes; each object gets a status (:data:`STATUS_MESSAGES`), and :func:`decompress_objects`
raises ValueError naming the first bad object.
"""

import sys

import numba
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic

from . import codec_checks
from .codec_checks import checked_objects, checked_pages

MINMATCH = 4                    # a match is at least 4 bytes
LAST_LITERALS = 5               # LASTLITERALS: the last 5 bytes are always literals
MFLIMIT = 12                    # no match starts in the last 12 bytes
MIN_INPUT = MFLIMIT + 1         # LZ4_minLength: a shorter input is all literals
SMALL_INPUT_LIMIT = 64 * 1024 + MFLIMIT - 1     # LZ4_64Klimit: below it, 16-bit positions
MAX_OFFSET = 65535              # LZ4_DISTANCE_MAX
MAX_INPUT = 0x7E000000          # LZ4_MAX_INPUT_SIZE
SKIP_TRIGGER = 6                # LZ4_SKIPTRIGGER
HASH_BITS_SMALL = 13            # LZ4_HASHLOG + 1 (LZ4_MEMORY_USAGE 14, 16-bit entries)
HASH_BITS_LARGE = 12            # LZ4_HASHLOG (32-bit entries)
HASH4_MULTIPLIER = 2654435761
HASH5_MULTIPLIER = 889523592379
NIBBLE = 15                     # RUN_MASK and ML_MASK: a nibble of 15 continues in later bytes

# Per-object results of the decoder.
OK = 0
INPUT_OVERRUN = 1       # the block ends inside a sequence (or is empty)
OUTPUT_OVERRUN = 2      # it decodes to more than a page
BAD_OFFSET = 3          # a match at offset 0, or reaching back before the page's start
MATCH_IN_TAIL = 4       # a match starts in the last 12 bytes or ends in the last 5
SHORT_OUTPUT = 5        # it decodes to less than a page

#: What each decoder status means, for error messages.
STATUS_MESSAGES = {
    INPUT_OVERRUN: "is truncated (the input ends inside a sequence)",
    OUTPUT_OVERRUN: "decompresses to more than the page size",
    BAD_OFFSET: "is corrupt (a match at offset 0 or reaching back before the page's start)",
    MATCH_IN_TAIL: "is corrupt (a match in the last bytes of the page, which are always literals)",
    SHORT_OUTPUT: "decompresses to fewer bytes than the page size",
}


def worst_case_size(page_size):
    """Bytes a compressed page can take at most: LZ4_COMPRESSBOUND, ``n + n // 255 + 16``.

    All literals is the worst: one token, and one length byte per 255 literals past the first 15.
    """
    return page_size + page_size // 255 + 16


_worst_case_size = njit(cache=True, nogil=True)(worst_case_size)


# ---------------------------------------------------------------------------------------------
# Word access: unaligned 4- and 8-byte loads and 8-byte stores, as the kernel's C does them

# The word loads read bytes as a little-endian machine does; elsewhere, the byte-wise forms.
_LITTLE_ENDIAN = sys.byteorder == "little"
# Under NUMBA_BOUNDSCHECK=1 every word access first touches its first and last byte by index, so
# an out-of-range one raises IndexError as a byte access would (the loads themselves are not
# checked). A constant at compile time: with checking off, no trace is left in the code.
_CHECK_WORDS = bool(numba.config.BOUNDSCHECK)


def _word_pointer(context, builder, array_type, array, index, bits):
    data = context.make_array(array_type)(context, builder, array).data
    return builder.bitcast(builder.gep(data, [index]), ir.IntType(bits).as_pointer())


def _load_codegen(bits):
    def codegen(context, builder, sig, args):
        pointer = _word_pointer(context, builder, sig.args[0], args[0], args[1], bits)
        return builder.load(pointer, align=1)
    return codegen


@intrinsic
def _raw_load32(typingctx, array, index):
    """The 4 bytes of uint8 ``array`` at ``index``, unaligned and unchecked, as a native-order
    uint32."""
    return types.uint32(array, types.intp), _load_codegen(32)


@intrinsic
def _raw_load64(typingctx, array, index):
    """The 8 bytes of uint8 ``array`` at ``index``, unaligned and unchecked, as a native-order
    uint64."""
    return types.uint64(array, types.intp), _load_codegen(64)


@intrinsic
def _raw_store8(typingctx, array, index, value):
    """Store uint64 ``value`` as 8 native-order bytes of uint8 ``array`` at ``index``, unaligned
    and unchecked."""
    signature = types.void(array, types.intp, types.uint64)

    def codegen(context, builder, sig, args):
        pointer = _word_pointer(context, builder, sig.args[0], args[0], args[1], 64)
        builder.store(args[2], pointer, align=1)
        return context.get_dummy_value()
    return signature, codegen


@njit(cache=True, nogil=True)
def _load32(buffer, at):
    """The four bytes at ``at`` as a little-endian integer."""
    if _CHECK_WORDS:
        buffer[at] | buffer[at + 3]
    if _LITTLE_ENDIAN:
        return np.int64(_raw_load32(buffer, at))
    return (np.int64(buffer[at]) | (np.int64(buffer[at + 1]) << 8)
            | (np.int64(buffer[at + 2]) << 16) | (np.int64(buffer[at + 3]) << 24))


@njit(cache=True, nogil=True)
def _load64(buffer, at):
    """The eight bytes at ``at`` as a little-endian uint64."""
    if _CHECK_WORDS:
        buffer[at] | buffer[at + 7]
    if _LITTLE_ENDIAN:
        return _raw_load64(buffer, at)
    word = np.uint64(0)
    for k in range(8):
        word |= np.uint64(buffer[at + k]) << np.uint64(8 * k)
    return word


@njit(cache=True, nogil=True)
def _copy8(source, at, target, to):
    """The eight bytes of ``source`` at ``at`` to ``target`` at ``to``."""
    if _CHECK_WORDS:
        source[at] | source[at + 7]
        target[to] = target[to + 7]
    if _LITTLE_ENDIAN:
        _raw_store8(target, to, _raw_load64(source, at))
    else:
        for k in range(8):
            target[to + k] = source[at + k]


@njit(cache=True, nogil=True)
def _wild_copy(source, at, target, to, count):
    """``count`` bytes from ``source[at:]`` to ``target[to:]`` in 8-byte steps, which may read
    and write up to 7 bytes past the ``count``: callers make sure both buffers have them."""
    done = 0
    while done < count:
        _copy8(source, at + done, target, to + done)
        done += 8


# ---------------------------------------------------------------------------------------------
# Compression


@njit(cache=True, nogil=True)
def _hash(page, at, small):
    """The table slot of the bytes at ``at``: four bytes hashed into 13 bits for a small input,
    five into 12 for a large one (the 64-bit kernel's two hashes). Unsigned, so that indexing
    the table with it needs no negative-index wrap-around."""
    if small:
        # the product of two 32-bit numbers fits in 64 bits: no wrap-around to emulate
        product = np.uint64(_load32(page, at)) * np.uint64(HASH4_MULTIPLIER)
        return (product >> np.uint64(32 - HASH_BITS_SMALL)) & np.uint64((1 << HASH_BITS_SMALL) - 1)
    # the shift keeps the low five of the eight bytes; the product wraps mod 2**64, as in C
    product = (_load64(page, at) << np.uint64(24)) * np.uint64(HASH5_MULTIPLIER)
    return product >> np.uint64(64 - HASH_BITS_LARGE)


@njit(cache=True, nogil=True)
def _common_length(page, a, b, limit):
    """Bytes from ``a`` equal to those from ``b`` (``b < a``), counting no further than
    ``limit`` (exclusive) on ``a``'s side: the kernel's LZ4_count, whose steps give the exact
    count. Eight bytes at a time (the first differing byte is the lowest set byte of their
    XOR), then byte by byte for the last few."""
    n = 0
    most = limit - a
    if _LITTLE_ENDIAN:
        while n + 8 <= most:
            difference = _load64(page, a + n) ^ _load64(page, b + n)
            if difference:
                return n + np.int64(trailing_zeros(difference) >> 3)
            n += 8
    while n < most and page[a + n] == page[b + n]:
        n += 1
    return n


@njit(cache=True, nogil=True)
def _put_length(out, op, remainder):
    """A count past its nibble's 15: a 255 per 255, then the rest (0..254). Returns the next
    output position."""
    while remainder >= 255:
        out[op] = 255
        op += 1
        remainder -= 255
    out[op] = remainder
    return op + 1


@njit(cache=True, nogil=True)
def _put_literals(page, first, count, out, op, last):
    """A token with ``count`` literals from ``page[first:]`` (its match nibble left 0): returns
    ``(token position, next output position)``. Literals before a match are copied 8 bytes at a
    time (they end at least 12 bytes before the page's end, and ``out`` has 8 bytes to spare);
    the ``last`` literals, which reach the page's end, exactly."""
    token_at = op
    op += 1
    if count >= NIBBLE:
        out[token_at] = NIBBLE << 4
        op = _put_length(out, op, count - NIBBLE)
    else:
        out[token_at] = count << 4
    if last:
        out[op:op + count] = page[first:first + count]
    else:
        _wild_copy(page, first, out, op, count)
    return token_at, op + count


@njit(cache=True, nogil=True)
def _compress_page(page, out, op, table16, table32):
    """Compress one page into ``out[op:]``; returns the position after its last byte.

    ``table16`` (2**13 uint16) serves pages below SMALL_INPUT_LIMIT, ``table32`` (2**12 uint32)
    larger ones; the one used is cleared here.
    """
    n = page.size
    anchor = 0                          # first byte not yet covered by a sequence
    if n >= MIN_INPUT:
        small = n < SMALL_INPUT_LIMIT
        if small:
            table16[:] = 0
        else:
            table32[:] = 0
        scan_limit = n - MFLIMIT        # mflimit: no match starts past it
        match_limit = n - LAST_LITERALS
        # Position 0 enters the table (a no-op on a cleared table); the scan starts at 1.
        ip = 1
        forward_hash = _hash(page, ip, small)
        finished = False
        while not finished:
            # Find a match: try ip, then ip + step, the step growing with every miss.
            forward = ip
            step = 1
            attempts = 1 << SKIP_TRIGGER
            while True:
                slot = forward_hash
                ip = forward
                forward += step
                step = attempts >> SKIP_TRIGGER
                attempts += 1
                if forward > scan_limit:
                    finished = True
                    break
                if small:
                    candidate = np.int64(table16[slot])
                    table16[slot] = ip
                else:
                    candidate = np.int64(table32[slot])
                    table32[slot] = ip
                forward_hash = _hash(page, forward, small)
                if ((small or candidate + MAX_OFFSET >= ip)
                        and _load32(page, candidate) == _load32(page, ip)):
                    break
            if finished:
                break
            # Extend the match backwards over equal bytes, into the literals before it.
            while ip > anchor and candidate > 0 and page[ip - 1] == page[candidate - 1]:
                ip -= 1
                candidate -= 1
            token_at, op = _put_literals(page, anchor, ip - anchor, out, op, False)
            while True:                 # one match, and more while each one's end matches at once
                offset = ip - candidate
                out[op] = offset & 0xFF
                out[op + 1] = offset >> 8
                op += 2
                extra = _common_length(page, ip + MINMATCH, candidate + MINMATCH, match_limit)
                ip += MINMATCH + extra
                if extra >= NIBBLE:
                    out[token_at] |= NIBBLE
                    op = _put_length(out, op, extra - NIBBLE)
                else:
                    out[token_at] |= extra
                anchor = ip
                if ip > scan_limit:
                    finished = True
                    break
                # The position two back enters the table; the match's end is tried at once.
                if small:
                    table16[_hash(page, ip - 2, small)] = ip - 2
                    slot = _hash(page, ip, small)
                    candidate = np.int64(table16[slot])
                    table16[slot] = ip
                else:
                    table32[_hash(page, ip - 2, small)] = ip - 2
                    slot = _hash(page, ip, small)
                    candidate = np.int64(table32[slot])
                    table32[slot] = ip
                if not (candidate + MAX_OFFSET >= ip
                        and _load32(page, candidate) == _load32(page, ip)):
                    break
                token_at = op           # a match straight after a match: no literals
                out[op] = 0
                op += 1
            if not finished:
                ip += 1
                forward_hash = _hash(page, ip, small)
    _, op = _put_literals(page, anchor, n - anchor, out, op, True)
    return op


@njit(cache=True, nogil=True)
def _compress_batch(pages, header_bytes):
    """Every row of ``pages`` compressed: ``(data, offsets)``, each object ``header_bytes``
    zeros then its block."""
    n, page_size = pages.shape
    # 8 bytes to spare past the last page's worst case, for the 8-byte literal copies
    data = np.empty(n * (header_bytes + _worst_case_size(page_size)) + 8, np.uint8)
    offsets = np.empty(n + 1, np.int64)
    offsets[0] = 0
    table16 = np.empty(1 << HASH_BITS_SMALL, np.uint16)
    table32 = np.empty(1 << HASH_BITS_LARGE, np.uint32)
    op = 0
    for i in range(n):
        data[op:op + header_bytes] = 0
        op = _compress_page(pages[i], data, op + header_bytes, table16, table32)
        offsets[i + 1] = op
    return data[:op].copy(), offsets


# ---------------------------------------------------------------------------------------------
# Decompression

@njit(cache=True, nogil=True)
def _read_length(data, pos, end, base):
    """A count past its nibble: ``base`` plus bytes up to and including the first below 255.
    Returns ``(count, next position)``, or ``(-1, pos)`` if the input ends first."""
    count = base
    while pos < end:
        byte = np.int64(data[pos])
        pos += 1
        count += byte
        if byte != 255:
            return count, pos
    return -1, pos


@njit(cache=True, nogil=True)
def _decompress_one(data, pos, end, page):
    """Decode ``data[pos:end]`` into ``page``; returns ``(status, bytes written)``. Every read
    is checked against ``end`` and every write against the page, so no input can make it stray."""
    page_size = page.size
    o = 0                               # bytes of the page written
    if pos >= end:
        return INPUT_OVERRUN, o
    while True:
        token = np.int64(data[pos])
        pos += 1
        count = token >> 4
        if count == NIBBLE:
            count, pos = _read_length(data, pos, end, NIBBLE)
            if count < 0:
                return INPUT_OVERRUN, o
        if count > end - pos:
            return INPUT_OVERRUN, o
        if count > page_size - o:
            return OUTPUT_OVERRUN, o
        if count + 8 <= end - pos and count + 8 <= page_size - o:
            _wild_copy(data, pos, page, o, count)     # both have 8 bytes to spare
        else:
            page[o:o + count] = data[pos:pos + count]
        o += count
        pos += count
        if pos == end:                  # literals up to the input's end: the last sequence
            return (OK if o == page_size else SHORT_OUTPUT), o
        if end - pos < 2:
            return INPUT_OVERRUN, o
        offset = np.int64(data[pos]) | (np.int64(data[pos + 1]) << 8)
        pos += 2
        length = token & NIBBLE
        if length == NIBBLE:
            length, pos = _read_length(data, pos, end, NIBBLE)
            if length < 0:
                return INPUT_OVERRUN, o
        length += MINMATCH
        if offset == 0 or offset > o:
            return BAD_OFFSET, o
        if length > page_size - o:
            return OUTPUT_OVERRUN, o
        if o > page_size - MFLIMIT or o + length > page_size - LAST_LITERALS:
            return MATCH_IN_TAIL, o
        source = o - offset
        if offset >= 8 and length + 8 <= page_size - o:
            # each 8-byte step reads bytes already written (offset >= 8), so overlap is fine
            _wild_copy(page, source, page, o, length)
        elif offset >= length:          # no overlap: one slice copy
            page[o:o + length] = page[source:source + length]
        else:
            for k in range(length):     # byte by byte: the match repeats its own output
                page[o + k] = page[source + k]
        o += length
        if pos >= end:                  # a block never ends with a match
            return INPUT_OVERRUN, o


@njit(cache=True, nogil=True)
def _decompress_into(data, starts, ends, pages, status, produced):
    """Each object ``data[starts[i]:ends[i]]`` decoded into row ``i`` of ``pages``, its status
    and the bytes it wrote into ``status[i]`` and ``produced[i]``. A row is written only as far
    as its object decodes (the rest keeps what ``pages`` held)."""
    for i in range(starts.size):
        status[i], produced[i] = _decompress_one(data, starts[i], ends[i], pages[i])


# ---------------------------------------------------------------------------------------------
# Python entry points: check the arguments, run one kernel, raise for its status codes

def compress_pages(pages, header_bytes=0):
    """Compress every page of a batch, as the kernel's LZ4_compress_default would, in one call.

    Parameters
    ----------
    pages : numpy.ndarray
        ``(n, page_size)`` uint8, C-contiguous, ``1 <= page_size <= 0x7E000000``; ``n`` may be 0.
    header_bytes : int, optional
        Zero bytes to put in front of every object, for the caller.

    Returns
    -------
    data : numpy.ndarray
        1-D uint8, the objects back to back.
    offsets : numpy.ndarray
        int64, ``n + 1``: object ``i`` is ``data[offsets[i]:offsets[i + 1]]``.

    Raises
    ------
    TypeError
        ``pages`` is not a uint8 ndarray, or ``header_bytes`` not an integer.
    ValueError
        ``pages`` is not 2-D, C-contiguous, with rows of 1 to LZ4_MAX_INPUT_SIZE bytes;
        ``header_bytes`` < 0.
    """
    pages, header_bytes = checked_pages(pages, header_bytes, MAX_INPUT)
    if pages.shape[0] == 0:
        return np.empty(0, np.uint8), np.zeros(1, np.int64)
    return _compress_batch(pages, header_bytes)


def decompress_status(data, starts, ends, page_size):
    """Decode every object of a batch in one kernel call, reporting instead of raising.

    Parameters
    ----------
    data : numpy.ndarray
        1-D uint8.
    starts, ends : numpy.ndarray
        int64, one per object: object ``i``'s block is ``data[starts[i]:ends[i]]``, with
        ``0 <= starts[i] <= ends[i] <= data.size``.
    page_size : int
        Bytes each object must decode to.

    Returns
    -------
    pages : numpy.ndarray
        ``(n, page_size)`` uint8; a row whose status is not OK holds whatever was decoded.
    status : numpy.ndarray
        int8 per object: 0 (OK) or a key of :data:`STATUS_MESSAGES`.
    produced : numpy.ndarray
        int64 per object: the bytes it decoded to before it ended or failed.
    """
    data, starts, ends, page_size = checked_objects(data, starts, ends, page_size)
    n = starts.size
    pages = np.zeros((n, page_size), np.uint8)
    status = np.empty(n, np.int8)
    produced = np.empty(n, np.int64)
    if n:
        decompress_into(data, starts, ends, pages, status, produced)
    return pages, status, produced


def decompress_into(data, starts, ends, pages, status, produced):
    """The decoder kernel on checked arguments (as :func:`decompress_status` makes them), writing
    into the caller's arrays: rows of ``pages`` may be any slice of a larger batch, so threads can
    each decode a part of one. Releases the GIL."""
    _decompress_into(data, starts, ends, pages, status, produced)


def raise_for_status(status, produced, page_size):
    """ValueError naming the first object whose decoder status is not OK (nothing if none)."""
    codec_checks.raise_for_status(status, produced, page_size, STATUS_MESSAGES, SHORT_OUTPUT,
                                  "lz4")


def decompress_objects(data, starts, ends, page_size):
    """:func:`decompress_status`, raising ValueError naming the first object that is not OK."""
    pages, status, produced = decompress_status(data, starts, ends, page_size)
    raise_for_status(status, produced, page_size)
    return pages
