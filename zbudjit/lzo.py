"""LZO1X-1 and lzo-rle, as Linux compresses memory pages, in Numba: whole batches per kernel call.

zram's default compressor is ``lzo-rle`` and zswap's used to be ``lzo``; both are the kernel's own
LZO1X-1 compressor (lib/lzo). This module compresses a batch of pages into a ragged batch and
decompresses one back, each in a single ``@njit`` kernel call, with the kernel's dictionary, match
finder and literal-skip heuristic, so that each page's compressed size is the size the kernel
gives it (checked against a live kernel's zram in tests/test_lzo.py).

The LZO1X stream (Documentation/staging/lzo.rst)
------------------------------------------------
A stream is a sequence of instructions, each one a literal run (bytes copied from the stream) or a
match (bytes copied from earlier output), ending with the three bytes ``0x11 0x00 0x00``. Every
match instruction carries, in its last byte's two low bits ``S``, a count of 0..3 literals that
follow it with no instruction of their own; ``state`` is that count, or 4 after a literal run of
four or more. Instruction bytes, by value:

====================  ======================================================================
``0000LLLL`` state 0  literal run of ``3 + L`` bytes; ``L == 0``: ``18 + 255 * zeros + byte``,
                      where ``zeros`` zero bytes and one non-zero byte follow
``0000DDSS`` state    2-byte match (state 1..3) at distance ``1 + D + 4 * next byte``, or a
1..4                  3-byte match (state 4) at ``2049 + D + 4 * next byte``
``0001HLLL``          match of ``2 + L`` bytes (``L == 0``: ``9 + 255 * zeros + byte``) at distance
                      ``16384 + 16384 * H + D``, with a little-endian 16-bit ``DDDDDDDDDDDDDDSS``
                      after it; distance 16384 ends the stream
``001LLLLL``          match of ``2 + L`` bytes (``L == 0``: ``33 + 255 * zeros + byte``) at
                      distance ``1 + D``, 16-bit ``DDDDDDDDDDDDDDSS`` after it
``LLLDDDSS`` >= 64    match of ``1 + LLL`` bytes (3..8) at distance ``1 + DDD + 8 * next byte``
====================  ======================================================================

A stream's first byte may also be ``17 + t`` (``t`` >= 1): ``t`` literals, then state
``min(t, 4)``. The compressor here, like the kernel's, only ever makes literal runs, the last
three match forms (with lengths of at least 4) and that first byte; the decoder reads them all,
so it reads other LZO1X compressors' output as well (lzokay's, in the tests).

lzo-rle (bitstream version 1)
-----------------------------
The stream begins ``0x11 0x01`` (a plain LZO1X stream never starts with 17 unless it is empty),
and a run of 4 to 2051 zero bytes is one 4-byte instruction: ``0x18 | (r & 7)``, ``0xfc | S``,
``0xff``, ``r >> 3`` with ``r`` the run length less 4, which is the ``0001HLLL`` form with
``H == 1`` and all 14 ``D`` bits set, a distance (0xbfff) that version 1 never uses for a match
(its farthest match is 0xbffe). A long match that would read the same (``L == 0``, a length byte
of 0xfc..0xff, then 0xff) is shortened to 260 bytes, as the kernel does.

The compressor (the kernel's LZO1X-1)
-------------------------------------
The input goes in chunks of at most 0xc000 bytes (0xbfff for lzo-rle), each with a fresh
dictionary of 2**13 16-bit positions; literals not yet written carry over to the next chunk
(a page of 48 KiB or less is one chunk). At each position the four bytes there, read
little-endian as ``dv``, are hashed as ``(dv * 0x1824429d mod 2**32) >> 19``; the dictionary
slot gives a candidate, and the position replaces it. A candidate whose four bytes equal ``dv``
is a match; otherwise the scan moves on by ``1 + (bytes since the last instruction) // 32``, so
incompressible data is skipped ever faster. lzo-rle first checks ``dv == 0``: a zero run (not
entered in the dictionary) is measured up to the first non-zero byte. A match is extended in
8-byte steps, as the x86-64 kernel does, and stops once it reaches 20 bytes from the chunk's end
without looking at the bytes of its last step; the last 20 bytes are always literals. The
scanning starts 5 bytes into the input (4 plus the first step).

Ragged output and status codes
------------------------------
:func:`compress_pages` returns ``(data, offsets)`` as zbudjit.compressors does: object ``i`` is
``data[offsets[i]:offsets[i + 1]]``, ``header_bytes`` zeros then the stream. The decoder is safe:
it never reads outside ``data[starts[i]:ends[i]]`` nor writes outside its page, whatever the
bytes; each object gets a status (:data:`STATUS_MESSAGES`), and :func:`decompress_objects`
raises ValueError naming the first bad object.
"""

import numpy as np
from numba import njit

from .codec_checks import checked_objects, checked_pages, raise_for_status

#: The two variants, as zram and the crypto API name them.
VARIANTS = ("lzo", "lzo-rle")

DICTIONARY_BITS = 13                # D_BITS: 2**13 16-bit positions, 16 KiB
HASH_MULTIPLIER = 0x1824429D
CHUNK_BYTES_V0 = 0xC000             # M4_MAX_OFFSET_V0 + 1: every offset in a chunk is encodable
CHUNK_BYTES_V1 = 0xBFFF             # M4_MAX_OFFSET_V1 + 1: keeps distance 0xbfff for zero runs
TAIL_LITERALS = 20                  # the scan stops this many bytes before a chunk's end
MIN_ZERO_RUN = 4
MAX_ZERO_RUN = 2047 + MIN_ZERO_RUN  # an 11-bit run length
RLE_VERSION = 1                     # LZO_VERSION: the byte after the 17 that marks lzo-rle

# Per-object results of the decoder.
OK = 0
INPUT_OVERRUN = 1       # the stream ends inside an instruction or before its end marker
OUTPUT_OVERRUN = 2      # it decodes to more than a page
LOOKBEHIND_OVERRUN = 3  # a match reaches back before the page's start
BAD_END = 4             # an end marker of the wrong length
INPUT_NOT_CONSUMED = 5  # bytes after the end marker
SHORT_OUTPUT = 6        # it decodes to less than a page

#: What each decoder status means, for error messages.
STATUS_MESSAGES = {
    INPUT_OVERRUN: "is truncated (the input ends inside an instruction)",
    OUTPUT_OVERRUN: "decompresses to more than the page size",
    LOOKBEHIND_OVERRUN: "is corrupt (a match reaches back before the page's start)",
    BAD_END: "is corrupt (a malformed end marker)",
    INPUT_NOT_CONSUMED: "has bytes after its end marker",
    SHORT_OUTPUT: "decompresses to fewer bytes than the page size",
}


def worst_case_size(page_size):
    """Bytes a compressed page can take at most, header and end marker included.

    Literals cost one byte each plus a length byte per run of 4 or more (and one per 255 more);
    every such run is followed by a match or zero run of at least 4 bytes that costs at most as
    many bytes as it covers. So at most one extra byte per 8 input bytes, one per 255, and a few
    bytes of header, last literal run and end marker: 1/8 + 1/128 + 64 covers it.
    """
    return page_size + page_size // 8 + page_size // 128 + 64


_worst_case_size = njit(cache=True, nogil=True)(worst_case_size)


# ---------------------------------------------------------------------------------------------
# Compression

@njit(cache=True, nogil=True)
def _load32(buffer, at):
    """The four bytes at ``at`` as a little-endian integer."""
    return (np.int64(buffer[at]) | (np.int64(buffer[at + 1]) << 8)
            | (np.int64(buffer[at + 2]) << 16) | (np.int64(buffer[at + 3]) << 24))


@njit(cache=True, nogil=True)
def _put_extra_length(out, op, remainder):
    """The count past an instruction's own length field: a zero byte per 255, then the rest
    (never 0, so the decoder knows where the zeros end). Returns the next output position."""
    while remainder > 255:
        remainder -= 255
        out[op] = 0
        op += 1
    out[op] = remainder
    return op + 1


@njit(cache=True, nogil=True)
def _put_literals(page, first, count, out, op, state_offset):
    """Literal run of ``count`` bytes from ``page[first:]`` after an instruction; a run of 1..3
    rides in the two low bits of the byte ``state_offset`` back from ``op``."""
    if count <= 3:
        out[op + state_offset] |= count
    elif count <= 18:
        out[op] = count - 3
        op += 1
    else:
        out[op] = 0
        op = _put_extra_length(out, op + 1, count - 18)
    for k in range(count):
        out[op + k] = page[first + k]
    return op + count


@njit(cache=True, nogil=True)
def _match_length(page, ip, candidate, scan_end):
    """Bytes from ``ip`` equal to those from ``candidate``, counted as the x86-64 kernel counts:
    the first 4 are known equal; then 8 at a time, stopping at the first difference, or without
    comparing further once a whole equal step has carried the match to ``scan_end`` or past it."""
    length = 4
    while True:
        for k in range(8):
            if page[ip + length + k] != page[candidate + length + k]:
                return length + k
        length += 8
        if ip + length >= scan_end:
            return length


@njit(cache=True, nogil=True)
def _compress_chunk(page, chunk, chunk_len, out, op, pending, state_offset, dictionary, rle):
    """Compress ``page[chunk:chunk + chunk_len]`` with a fresh dictionary.

    ``pending`` literals before ``chunk`` are not written yet; they go out with the first
    instruction here. Returns ``(op, pending, state_offset)`` for the next chunk or the tail:
    ``state_offset`` is where, back from ``op``, the last instruction keeps its literal count.
    """
    dictionary[:] = 0
    chunk_end = chunk + chunk_len
    scan_end = chunk_end - TAIL_LITERALS
    literals = chunk                    # first byte not yet covered by an instruction
    ip = chunk + (4 - pending if pending < 4 else 0)
    step = True                         # False right after an instruction: look at ip itself
    while True:
        if step:
            ip += 1 + ((ip - literals) >> 5)
        step = True
        if ip >= scan_end:
            break
        word = _load32(page, ip)
        zero_run = 0
        candidate = 0
        if rle and word == 0:
            limit = min(scan_end, ip + MAX_ZERO_RUN + 1)
            end = ip + 4
            while end < limit and page[end] == 0:
                end += 1
            zero_run = min(end - ip, MAX_ZERO_RUN)
        else:
            slot = ((word * HASH_MULTIPLIER) & 0xFFFFFFFF) >> (32 - DICTIONARY_BITS)
            candidate = chunk + np.int64(dictionary[slot])
            dictionary[slot] = ip - chunk
            if _load32(page, candidate) != word:
                continue
        literals -= pending
        pending = 0
        if ip > literals:
            op = _put_literals(page, literals, ip - literals, out, op, state_offset)
        if zero_run:
            ip += zero_run
            run = zero_run - MIN_ZERO_RUN
            out[op] = 0x18 | (run & 7)
            out[op + 1] = 0xFC
            out[op + 2] = 0xFF
            out[op + 3] = run >> 3
            op += 4
            state_offset = -3
        else:
            length = _match_length(page, ip, candidate, scan_end)
            distance = ip - candidate
            ip += length
            if length <= 8 and distance <= 0x800:
                d = distance - 1
                out[op] = ((length - 1) << 5) | ((d & 7) << 2)
                out[op + 1] = d >> 3
                op += 2
            elif distance <= 0x4000:
                d = distance - 1
                if length <= 33:
                    out[op] = 32 | (length - 2)
                    op += 1
                else:
                    out[op] = 32
                    op = _put_extra_length(out, op + 1, length - 33)
                out[op] = (d << 2) & 0xFF
                out[op + 1] = d >> 6
                op += 2
            else:
                d = distance - 0x4000
                high = (d >> 11) & 8
                if length <= 9:
                    out[op] = 16 | high | (length - 2)
                    op += 1
                else:
                    if rle and (d & 0x403F) == 0x403F and 261 <= length <= 264:
                        # would read as a zero run if 3 literals followed: shorten it
                        ip -= length - 260
                        length = 260
                    out[op] = 16 | high
                    op = _put_extra_length(out, op + 1, length - 9)
                out[op] = (d << 2) & 0xFF
                out[op + 1] = (d >> 6) & 0xFF
                op += 2
            state_offset = -2
        literals = ip
        step = False
    return op, chunk_end - (literals - pending), state_offset


@njit(cache=True, nogil=True)
def _compress_page(page, out, op, dictionary, rle):
    """Compress one page into ``out[op:]``; returns the position after its end marker."""
    page_len = page.size
    if rle:
        out[op] = 17
        out[op + 1] = RLE_VERSION
        op += 2
        chunk_cap = CHUNK_BYTES_V1
    else:
        chunk_cap = CHUNK_BYTES_V0
    stream_start = op
    state_offset = -2
    pending = 0
    chunk = 0
    while page_len - chunk > TAIL_LITERALS:
        chunk_len = min(page_len - chunk, chunk_cap)
        op, pending, state_offset = _compress_chunk(page, chunk, chunk_len, out, op, pending,
                                                    state_offset, dictionary, rle)
        chunk += chunk_len
    pending += page_len - chunk
    if pending:
        first = page_len - pending
        if op == stream_start and pending <= 238:
            out[op] = 17 + pending
            for k in range(pending):
                out[op + 1 + k] = page[first + k]
            op += 1 + pending
        else:
            op = _put_literals(page, first, pending, out, op, state_offset)
    out[op] = 0x11                      # a distance-16384 match of length 3: the end
    out[op + 1] = 0
    out[op + 2] = 0
    return op + 3


@njit(cache=True, nogil=True)
def _compress_batch(pages, header_bytes, rle):
    """Every row of ``pages`` compressed: ``(data, offsets)``, each object ``header_bytes``
    zeros then its stream."""
    n, page_size = pages.shape
    data = np.empty(n * (header_bytes + _worst_case_size(page_size)), np.uint8)
    offsets = np.empty(n + 1, np.int64)
    offsets[0] = 0
    dictionary = np.empty(1 << DICTIONARY_BITS, np.uint16)
    op = 0
    for i in range(n):
        for k in range(header_bytes):
            data[op + k] = 0
        op = _compress_page(pages[i], data, op + header_bytes, dictionary, rle)
        offsets[i + 1] = op
    return data[:op].copy(), offsets


# ---------------------------------------------------------------------------------------------
# Decompression

@njit(cache=True, nogil=True)
def _extra_length(data, pos, end, base):
    """A count that continues past its instruction: ``base + 255 * zeros + byte``. Returns
    ``(count, next position)``, or ``(-1, pos)`` if the input ends first."""
    zeros = 0
    while pos < end and data[pos] == 0:
        zeros += 1
        pos += 1
    if pos >= end:
        return -1, pos
    return base + 255 * zeros + np.int64(data[pos]), pos + 1


@njit(cache=True, nogil=True)
def _decompress_one(data, pos, end, page):
    """Decode ``data[pos:end]`` into ``page``; returns ``(status, bytes written)``. Every read
    is checked against ``end`` and every write against the page, so no input can make it stray."""
    page_size = page.size
    o = 0                               # bytes of the page written
    if end - pos < 3:
        return INPUT_OVERRUN, o
    versioned = False
    if end - pos >= 5 and data[pos] == 17:
        versioned = data[pos + 1] != 0
        pos += 2
    state = 0
    literals = 0                        # literals to copy after the current instruction
    if data[pos] > 17:
        literals = np.int64(data[pos]) - 17
        pos += 1
        state = min(4, literals)
        if literals > end - pos:
            return INPUT_OVERRUN, o
        if literals > page_size - o:
            return OUTPUT_OVERRUN, o
        for k in range(literals):
            page[o + k] = data[pos + k]
        o += literals
        pos += literals
    while True:
        if pos >= end:
            return INPUT_OVERRUN, o
        t = np.int64(data[pos])
        pos += 1
        length = 0
        distance = 0
        literals = 0
        if t < 16:
            if state == 0:
                count = t + 3
                if t == 0:
                    count, pos = _extra_length(data, pos, end, 18)
                    if count < 0:
                        return INPUT_OVERRUN, o
                if count > end - pos:
                    return INPUT_OVERRUN, o
                if count > page_size - o:
                    return OUTPUT_OVERRUN, o
                for k in range(count):
                    page[o + k] = data[pos + k]
                o += count
                pos += count
                state = 4
                continue
            if pos >= end:
                return INPUT_OVERRUN, o
            if state != 4:
                length = 2
                distance = 1 + (t >> 2) + (np.int64(data[pos]) << 2)
            else:
                length = 3
                distance = 2049 + (t >> 2) + (np.int64(data[pos]) << 2)
            pos += 1
            literals = t & 3
        elif t >= 64:
            if pos >= end:
                return INPUT_OVERRUN, o
            length = (t >> 5) + 1
            distance = 1 + ((t >> 2) & 7) + (np.int64(data[pos]) << 3)
            pos += 1
            literals = t & 3
        elif t >= 32:
            length = (t & 31) + 2
            if length == 2:
                length, pos = _extra_length(data, pos, end, 33)
                if length < 0:
                    return INPUT_OVERRUN, o
            if end - pos < 2:
                return INPUT_OVERRUN, o
            word = np.int64(data[pos]) | (np.int64(data[pos + 1]) << 8)
            pos += 2
            distance = 1 + (word >> 2)
            literals = word & 3
        else:
            if end - pos < 2:
                return INPUT_OVERRUN, o
            word = np.int64(data[pos]) | (np.int64(data[pos + 1]) << 8)
            if versioned and (t & 0xF8) == 0x18 and (word & 0xFFFC) == 0xFFFC:
                # lzo-rle's zero run (distance 0xbfff)
                if end - pos < 3:
                    return INPUT_OVERRUN, o
                run = ((t & 7) | (np.int64(data[pos + 2]) << 3)) + MIN_ZERO_RUN
                pos += 3
                if run > page_size - o:
                    return OUTPUT_OVERRUN, o
                for k in range(run):
                    page[o + k] = 0
                o += run
                literals = word & 3
            else:
                length = (t & 7) + 2
                if length == 2:
                    length, pos = _extra_length(data, pos, end, 9)
                    if length < 0:
                        return INPUT_OVERRUN, o
                    if end - pos < 2:
                        return INPUT_OVERRUN, o
                    word = np.int64(data[pos]) | (np.int64(data[pos + 1]) << 8)
                pos += 2
                distance = ((t & 8) << 11) + (word >> 2)
                literals = word & 3
                if distance == 0:
                    if length != 3:
                        return BAD_END, o
                    if pos != end:
                        return INPUT_NOT_CONSUMED, o
                    if o != page_size:
                        return SHORT_OUTPUT, o
                    return OK, o
                distance += 0x4000
        if length:
            if distance > o:
                return LOOKBEHIND_OVERRUN, o
            if length > page_size - o:
                return OUTPUT_OVERRUN, o
            source = o - distance
            for k in range(length):      # byte by byte: a match may overlap its own output
                page[o + k] = page[source + k]
            o += length
        state = literals
        if literals:
            if literals > end - pos:
                return INPUT_OVERRUN, o
            if literals > page_size - o:
                return OUTPUT_OVERRUN, o
            for k in range(literals):
                page[o + k] = data[pos + k]
            o += literals
            pos += literals


@njit(cache=True, nogil=True)
def _decompress_batch(data, starts, ends, page_size):
    """Each object ``data[starts[i]:ends[i]]`` decoded into row ``i``: ``(pages, status,
    produced)``, with the bytes each one wrote."""
    n = starts.size
    pages = np.zeros((n, page_size), np.uint8)
    status = np.empty(n, np.int8)
    produced = np.empty(n, np.int64)
    for i in range(n):
        status[i], produced[i] = _decompress_one(data, starts[i], ends[i], pages[i])
    return pages, status, produced


# ---------------------------------------------------------------------------------------------
# Python entry points: check the arguments, run one kernel, raise for its status codes

def _check_variant(variant):
    if variant not in VARIANTS:
        raise ValueError(f"unknown LZO variant {variant!r}; known variants: {', '.join(VARIANTS)}")
    return variant == "lzo-rle"


def compress_pages(pages, variant="lzo", header_bytes=0):
    """Compress every page of a batch, as the kernel's lzo or lzo-rle would, in one kernel call.

    Parameters
    ----------
    pages : numpy.ndarray
        ``(n, page_size)`` uint8, C-contiguous, ``page_size`` >= 1; ``n`` may be 0.
    variant : {"lzo", "lzo-rle"}
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
        ``pages`` is not 2-D, C-contiguous, with rows of at least one byte; ``header_bytes`` < 0;
        an unknown ``variant``.
    """
    rle = _check_variant(variant)
    pages, header_bytes = checked_pages(pages, header_bytes, np.iinfo(np.int64).max)
    if pages.shape[0] == 0:
        return np.empty(0, np.uint8), np.zeros(1, np.int64)
    return _compress_batch(pages, header_bytes, rle)


def decompress_status(data, starts, ends, page_size):
    """Decode every object of a batch in one kernel call, reporting instead of raising.

    Parameters
    ----------
    data : numpy.ndarray
        1-D uint8.
    starts, ends : numpy.ndarray
        int64, one per object: object ``i``'s stream is ``data[starts[i]:ends[i]]``, with
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
    return _decompress_batch(data, starts, ends, page_size)


def decompress_objects(data, starts, ends, page_size):
    """:func:`decompress_status`, raising ValueError naming the first object that is not OK."""
    pages, status, produced = decompress_status(data, starts, ends, page_size)
    raise_for_status(status, produced, page_size, STATUS_MESSAGES, SHORT_OUTPUT, "lzo")
    return pages
