"""The BASE record's packed form (record tag 5, ``BASZ``): the base codec's own header deflated against a preset
dictionary, its entropy-coded data untouched (spec: docs/FORMAT.md, "BASZ").

A base layer is a complete JPEG, WebP or AVIF file, and its header is mostly the same from file to file: an
AVIF's HEIF boxes (ftyp, meta, iloc, ipco, ...) are ~275 bytes, a JPEG's JFIF/DQT/SOF/DHT/SOS ~320, a WebP's
RIFF/VP8 ~30 - 6 % of an AVIF base at 0.3 bpp on a 400×300 image. Raw deflate (RFC 1951) of that header with a
dictionary of typical headers stores it in ~17 (AVIF), ~145 (JPEG) or ~16 (WebP) bytes. Unpacking gives back the
codec's file **byte for byte**, so everything downstream (base decode, critical set, pixels) is unchanged.

Layout: ``kind u8 | raw deflate stream of the header | the rest of the base file``. The deflate stream ends
itself (its final block), so no length is stored. Kinds (append-only; a dictionary never changes, its sha256 is
pinned in ``tests/core/test_base_pack.py``): 1 JPEG, 2 WebP, 3 AVIF. JPEG 2000 and anything a span finder
does not recognise stay a plain ``BASE`` record.

Pure standard library (the container is parsed before numpy is imported); the JPEG dictionary's generated part
imports :mod:`agdl_plugins.parts.jpeg_tables`, which is pure Python too.
"""

from __future__ import annotations

import struct
import zlib
from functools import cache

from agdl_plugins.errors import AgdlFormatError

JPEG, WEBP, AVIF = 1, 2, 3
#: the longest header packed (and so the most a packed header may inflate to)
MAX_HEADER = 1 << 16
_ZIGZAG = (0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6,
           7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31,
           39, 46, 53, 60, 61, 54, 47, 55, 62, 63)


def kind_of(data: bytes) -> int | None:
    """The packing kind of a base file, by its magic (None: not packed)."""
    if data[:3] == b"\xff\xd8\xff":
        return JPEG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data[4:8] == b"ftyp":
        return AVIF
    return None


def header_span(data: bytes) -> int | None:
    """Bytes of ``data`` before its entropy-coded data (None: not a layout this module packs).

    JPEG: through the first SOS segment. AVIF (ISOBMFF): through the top-level ``mdat`` box's header. WebP:
    the RIFF header, the first chunk's header and the 10-byte VP8 frame header (or less if the file is shorter).
    """
    return _span(kind_of(data), data)


def _span(kind: int | None, data: bytes) -> int | None:
    """:func:`header_span` of ``data`` whose packing kind is ``kind``."""
    if kind == JPEG:
        return _jpeg_span(data)
    if kind == AVIF:
        return _isobmff_span(data)
    if kind == WEBP:
        return min(30, len(data))
    return None


def _jpeg_span(data: bytes) -> int | None:
    pos = 2
    while pos + 4 <= len(data) and pos <= MAX_HEADER:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2
            continue
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if end > len(data):
            return None
        if marker == 0xDA:
            return end if end <= MAX_HEADER else None
        pos = end
    return None


def _isobmff_span(data: bytes) -> int | None:
    pos = 0
    while pos + 8 <= len(data) and pos <= MAX_HEADER:
        size, box = struct.unpack_from(">I4s", data, pos)
        head = 8
        if size == 1:
            if pos + 16 > len(data):
                return None
            size, head = struct.unpack_from(">Q", data, pos + 8)[0], 16
        if box == b"mdat":
            return pos + head if pos + head <= MAX_HEADER else None
        if size < head:  # size 0 (to the end) before mdat, or a broken size
            return None
        pos += size
    return None


def pack(base: bytes) -> bytes | None:
    """The packed form of a base file, or None when it would not be smaller (or its layout is not known)."""
    kind = kind_of(base)
    span = _span(kind, base)
    if not span:
        return None
    z = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zdict=dictionary(kind))
    packed = bytes([kind]) + z.compress(base[:span]) + z.flush() + base[span:]
    return packed if len(packed) < len(base) else None


def unpack(payload: bytes) -> bytes:
    """The base file a ``BASZ`` payload holds, byte for byte.

    Raises:
        AgdlFormatError: an unknown kind, a broken or unterminated deflate stream, a header over
            :data:`MAX_HEADER` bytes.
    """
    if not payload or payload[0] not in (JPEG, WEBP, AVIF):
        raise AgdlFormatError(f"corrupt AGDL file: BASZ record of unknown kind {payload[:1].hex() or 'none'}")
    z = zlib.decompressobj(-15, zdict=dictionary(payload[0]))
    try:
        head = z.decompress(payload[1:], MAX_HEADER + 1)
    except zlib.error as e:
        raise AgdlFormatError(f"corrupt AGDL file: BASZ header does not inflate ({e})") from e
    if len(head) > MAX_HEADER or not z.eof:
        raise AgdlFormatError("corrupt AGDL file: BASZ header is cut off or longer than "
                              f"{MAX_HEADER} bytes")
    return head + z.unused_data


@cache
def dictionary(kind: int) -> bytes:
    """The preset dictionary of a kind (part of the format: never changes)."""
    if kind == JPEG:
        return _jpeg_dqt_segments() + _JPEG_HEADERS
    return {WEBP: _WEBP_HEADERS, AVIF: _AVIF_HEADERS}[kind]


def _jpeg_dqt_segments() -> bytes:
    """libjpeg's DQT segments (luma then chroma, as Pillow writes them) at every integer quality, 100 down to 1."""
    from agdl_plugins.parts.jpeg_tables import ijg_tables

    out = bytearray()
    for q in range(100, 0, -1):
        for i, table in enumerate(ijg_tables(q)):
            out += b"\xff\xdb\x00\x43" + bytes([i]) + bytes(table[z] for z in _ZIGZAG)
    return bytes(out)


# --- literals printed by scripts/make_base_dicts.py (DUTS-TR headers; no pixel data) ---
_JPEG_HEADERS = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb0043001b12141714111b1716171e1c1b2028422b28252528513a3d3042605565645f"
    "555d5b6a7899816a7190735b5d85b586909ea3abadab6780bcc9baa6c799a8aba4ffc0000b08018c019001012200ffc4001a000003010101"
    "010000000000000000000000010203040506ffc4004510000103020403040607050802020300000100021103210412314113516122718191"
    "053242a1c1d1141552637292b1233334549324446273a2c2e1f0538243f1256483ffda0008010100003f00ffd8ffe000104a464946000101"
    "00000100010000ffdb0043001b12141714111b1716171e1c1b2028422b28252528513a3d3042605565645f555d5b6a7899816a7190735b5d"
    "85b586909ea3abadab6780bcc9baa6c799a8aba4ffdb0043011c1e1e2823284e2b2b4ea46e5d6ea4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4"
    "a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4ffc0001108012c019003012200021101031101ffc4001a"
    "000002030101000000000000000000000003040102050006ffc4003d10000201030302050204060004060301000102110003210412314151"
    "051322617132811491a1b1234252c1d1e1155392f02433436272f106348273ffc40019010003010101000000000000000000000000010203"
    "0405ffc400221101010100020301000301010100000000000111022103123141132251426104ffda000c03010002110311003f00ffd8ffe0"
    "00104a46494600010100000100010000ffdb0043000d090a0b0a080d0b0a0b0e0e0d0f13201513121213271c1e17202e2931302e292d2c33"
    "3a4a3e333646372c2d405741464c4e525352323e5a615a50604a51524fffdb0043010e0e0e131113261515264f352d354f4f4f4f4f4f4f4f"
    "4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4fffc0001108012c01900301220002"
    "1101031101ffc4001b00000203010101000000000000000000000405020306010007ffc40040100100010302040405030303030204070001"
    "020003110421051231411351617106228191a114b1c132d1f02342e11552f133621624728207253443446392ffc4001a0100030101010100"
    "00000000000000000000010203040506ffc4002b110002020202020202020104030000000000010211032112310441225113611432710523"
    "81b1424352ffda000c03010002110311003f00ffd8ffe000104a46494600010100000100010000ffdb0043001b12141714111b1716171e1c"
    "1b2028422b28252528513a3d3042605565645f555d5b6a7899816a7190735b5d85b586909ea3abadab6780bcc9baa6c799a8aba4ffdb0043"
    "011c1e1e2823284e2b2b4ea46e5d6ea4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4"
    "a4a4a4a4a4a4a4a4a4ffc0001108012c019003012200021101031101ffc4001a000003010101010000000000000000000000010203040506"
    "ffc400371000020201030205030205040202030000010200112103123141510422617181133291a1b1052342c1d13352e1f014f115624353"
    "82ffc4001801010101010100000000000000000000000001020304ffc4002011010101000300030003010000000000000001110221311241"
    "5103137161ffda000c03010002110311003f00ffd8ffe000104a46494600010100000100010000ffdb0043000d090a0b0a080d0b0a0b0e0e"
    "0d0f13201513121213271c1e17202e2931302e292d2c333a4a3e333646372c2d405741464c4e525352323e5a615a50604a51524fffdb0043"
    "010e0e0e131113261515264f352d354f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f"
    "4f4f4f4f4f4f4f4f4fffc0001108012c019003012200021101031101ffc4001b000002030101010000000000000000000002030001040506"
    "07ffc400361001000201030302050303050100020301010211030021310412415161051322718191a1b1c1d1f006142332e1f12442153334"
    "52ffc400190100030101010000000000000000000000000102030405ffc40024110101010003000300020203010000000001001102213103"
    "12415161047113324252ffda000c03010002110311003f00"
)
_WEBP_HEADERS = bytes.fromhex(
    "52494646e62900005745425056503820da29000030bb009d012a90012c015249464674390000574542505650382068390000f016019d012a"
    "90012c01"
)
_AVIF_HEADERS = bytes.fromhex(
    "0000001c667479706176696600000000617669666d6966316d696166000000e96d657461000000000000002168646c720000000000000000"
    "70696374000000000000000000000000000000000e7069746d0000000000010000001e696c6f630000000044000001000100000001000001"
    "0d0000116c0000002869696e660000000000010000001a696e6665020000000001000061763031436f6c6f72000000006869707270000000"
    "496970636f000000146973706500000000000001900000012c0000000e706978690000000001080000000c6176314381001c000000001363"
    "6f6c726e636c780001000d0006800000001769706d61000000000000000100010401028304000011746d6461740000002066747970617669"
    "6600000000617669666d6966316d6961664d413142000000eb6d657461000000000000002168646c72000000000000000070696374000000"
    "000000000000000000000000000e7069746d0000000000010000001e696c6f63000000004400000100010000000100000113000018e80000"
    "002869696e660000000000010000001a696e6665020000000001000061763031436f6c6f72000000006a697072700000004b6970636f0000"
    "00146973706500000000000001900000012c000000107069786900000000030808080000000c6176314381000c0000000013636f6c726e63"
    "6c780001000d0006800000001769706d61000000000000000100010401028304000018f06d646174"
)
