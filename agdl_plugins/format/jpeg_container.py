"""AGDL inside a JPEG (``container="jpeg"``; spec: docs/FORMAT.md, "AGDL inside JPEG").

The file is a standard baseline JPEG - the base layer byte for byte as the base codec wrote it - with the
rest of the .agdl file in APP11 segments right after SOI/APP0, so every JPEG decoder shows the base layer
and an AGDL decoder shows the refined image::

    SOI | APP0 JFIF | APP1 Exif | APP1 XMP | APP2 ICC_PROFILE* | APP11 AGDL* | DQT ... (base layer) ... EOI

    APP11 segment = FF EB | length u16 | "AGDL\\0" | version u8 = 1 | seq u16 (1..count) | count u16
                    | crc u32 (CRC-32 of the whole payload) | payload slice (at most 65,519 bytes)
    payload       = base hash (8 bytes) | an AGDL 2.0 container holding every record except BASE and
                    the metadata (HEAD, REFN, ALPH, unknown ancillary records)
    base hash     = SHA-256 of the JPEG's coded image, first 8 bytes: every byte from SOI to EOI except
                    the APPn segments (n != 14) and COM segments, i.e. exactly what decides the pixels

EXIF, XMP and the ICC profile live where JPEG keeps them (APP1 ``Exif``, APP1 XMP, APP2 ``ICC_PROFILE``
chunks), once. Reading reassembles the .agdl file (:func:`unwrap`): a fresh file gives back the .agdl bytes
the encoder produced, bit for bit, when its EXIF (if any) started with ``Exif\\0\\0`` as Pillow's does.

A file whose AGDL segments are present but unusable - a segment missing, duplicated, cut or from another
file, a CRC mismatch, a base layer that is no longer the one the segments were made for (re-encoded or
edited pixels), a payload this reader cannot read or whose parts are not installed - is never decoded with
its refinement: :func:`parse_info` warns (:class:`~agdl_plugins.errors.AgdlFallbackWarning`) and describes
the JPEG as it is, base layer only. A JPEG without AGDL segments is not an AGDL file (``AgdlFormatError``).

The segment writer and parser are pure standard library (no numpy, no torch); :func:`parse_file` hands the
rebuilt file to :func:`agdl_plugins.format.parse.parse_file`, and a fallback asks Pillow for the JPEG's size and mode.
"""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
import zlib
from dataclasses import dataclass, field
from typing import IO

from agdl_plugins.errors import AgdlFallbackWarning, AgdlFormatError, DecompressionBombError, MissingPartError
from agdl_plugins.format.container import EXIF, ICC, XMP, Chunk, read_container, write_container
from agdl_plugins.format.header import AgdlInfo, Header
from agdl_plugins.format.parse import Parsed
from agdl_plugins.imaging import open_without_pixel_limit

SOI = b"\xff\xd8"
APP0, APP1, APP2, APP11, APP14 = 0xE0, 0xE1, 0xE2, 0xEB, 0xEE
SOS, EOI, COM = 0xDA, 0xD9, 0xFE
IDENT = b"AGDL\0"
VERSION = 1
_SEG = struct.Struct(">5sBHHI")  # identifier, version, seq, count, payload CRC
MAX_SEGMENT_BODY = 65533  # bytes after a segment's length field
SLICE_BYTES = MAX_SEGMENT_BODY - _SEG.size  # 65,519 payload bytes per APP11 segment
MAX_SEGMENTS = 0xFFFF
HASH_BYTES = 8
EXIF_ID = b"Exif\0\0"
XMP_ID = b"http://ns.adobe.com/xap/1.0/\0"
ICC_ID = b"ICC_PROFILE\0"
ICC_SLICE = MAX_SEGMENT_BODY - len(ICC_ID) - 2  # 65,519, as Pillow's JPEG writer
JPEG_BASES = ("jpeg", "jpeg-saliency")
CONTAINERS = ("agdl", "jpeg")
_META_TYPES = (EXIF, ICC, XMP)


class Unusable(AgdlFormatError):
    """The AGDL segments are there but cannot be used with this JPEG (the reason is the message)."""


@dataclass(frozen=True)
class _Seg:
    marker: int | None  # None: entropy-coded data
    start: int  # first byte (fill bytes before the marker included)
    body: int  # first byte after the length field (== end for markers without one)
    end: int


@dataclass
class Split:
    """A JPEG taken apart: AGDL segment bodies, metadata, the base layer without them, its hash."""

    agdl: list[bytes] = field(default_factory=list)
    exif: bytes | None = None
    xmp: bytes | None = None
    icc: bytes | None = None
    base: bytes = b""
    hash: bytes = b""


def is_jpeg(prefix: bytes) -> bool:
    """True if ``prefix`` starts like a JPEG file (SOI followed by a marker)."""
    return prefix[:3] == b"\xff\xd8\xff"


def _walk(data: bytes) -> list[_Seg]:
    """Partition ``data[:end of EOI]`` into marker segments and entropy-coded data.

    Raises:
        AgdlFormatError: no SOI, a marker missing where one must be, a segment or the data cut off, no EOI.
    """
    if data[:2] != SOI:
        raise AgdlFormatError("not a JPEG file (no SOI marker)")
    n = len(data)
    segs = [_Seg(0xD8, 0, 2, 2)]
    pos = 2
    while True:
        start = pos
        if pos >= n:
            raise AgdlFormatError("truncated JPEG file: no EOI marker")
        if data[pos] != 0xFF:
            raise AgdlFormatError(f"corrupt JPEG file: no marker at byte {pos}")
        while pos + 1 < n and data[pos + 1] == 0xFF:  # fill bytes
            pos += 1
        if pos + 1 >= n:
            raise AgdlFormatError("truncated JPEG file: cut off in a marker")
        marker = data[pos + 1]
        if marker == EOI:
            segs.append(_Seg(EOI, start, pos + 2, pos + 2))
            return segs
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # TEM, RSTn: no length
            segs.append(_Seg(marker, start, pos + 2, pos + 2))
            pos += 2
            continue
        if marker in (0x00, 0xD8):
            raise AgdlFormatError(f"corrupt JPEG file: marker FF{marker:02X} at byte {pos}")
        if pos + 4 > n:
            raise AgdlFormatError(f"truncated JPEG file: segment FF{marker:02X} at byte {pos} is cut off")
        length = data[pos + 2] << 8 | data[pos + 3]
        end = pos + 2 + length
        if length < 2 or end > n:
            raise AgdlFormatError(
                f"truncated or corrupt JPEG file: segment FF{marker:02X} at byte {pos} declares {length} bytes"
            )
        segs.append(_Seg(marker, start, pos + 4, end))
        pos = end
        if marker == SOS:  # entropy-coded data runs to the next marker that is not stuffing or RSTn
            p = pos
            while True:
                ff = data.find(b"\xff", p)
                if ff < 0 or ff + 1 >= n:
                    raise AgdlFormatError("truncated JPEG file: image data without EOI")
                nxt = data[ff + 1]
                if nxt == 0x00 or 0xD0 <= nxt <= 0xD7:
                    p = ff + 2
                elif nxt == 0xFF:
                    p = ff + 1
                else:
                    break
            segs.append(_Seg(None, pos, pos, ff))
            pos = ff


def _is_metadata(marker: int | None) -> bool:
    """APPn (except APP14, Adobe: it decides the colour transform) and COM: no influence on the pixels."""
    return marker == COM or (marker is not None and 0xE0 <= marker <= 0xEF and marker != APP14)


def _hash(data: bytes, segs: list[_Seg]) -> bytes:
    h = hashlib.sha256()
    view = memoryview(data)
    for s in segs:
        if not _is_metadata(s.marker):
            h.update(view[s.start : s.end])
    return h.digest()[:HASH_BYTES]


def base_hash(jpeg: bytes) -> bytes:
    """The 8-byte hash of a JPEG's coded image (everything but APPn, n != 14, and COM segments)."""
    return _hash(jpeg, _walk(jpeg))


def _icc(chunks: list[bytes]) -> bytes | None:
    """Reassemble ICC_PROFILE chunks (``seq u8 | count u8 | data``) as Pillow does; None when inconsistent."""
    try:
        parts = sorted((c[0], c[1], c[2:]) for c in chunks)
    except IndexError:
        return None
    if not parts or [p[0] for p in parts] != list(range(1, parts[0][1] + 1)) or any(p[1] != parts[0][1] for p in parts):
        return None
    return b"".join(p[2] for p in parts)


def split(data: bytes) -> Split:
    """Take a JPEG apart (segments before the first SOS are its header).

    The base layer is the JPEG up to EOI without the AGDL segments and without the EXIF/XMP/ICC segments
    (those become ``exif``/``xmp``/``icc``). Raises ``AgdlFormatError`` when the JPEG structure is broken.
    """
    segs = _walk(data)
    out = Split(hash=_hash(data, segs))
    drop: set[int] = set()
    icc_chunks: list[bytes] = []
    for i, s in enumerate(segs):
        if s.marker == SOS:
            break
        body = data[s.body : s.end]
        if s.marker == APP11 and body.startswith(IDENT):
            out.agdl.append(body)
        elif s.marker == APP1 and body.startswith(EXIF_ID):
            out.exif = body if out.exif is None else out.exif
        elif s.marker == APP1 and body.startswith(XMP_ID):
            out.xmp = body[len(XMP_ID) :] if out.xmp is None else out.xmp
        elif s.marker == APP2 and body.startswith(ICC_ID):
            icc_chunks.append(body[len(ICC_ID) :])
        else:
            continue
        drop.add(i)
    else:
        raise AgdlFormatError("corrupt JPEG file: no image data (SOS) before EOI")
    out.icc = _icc(icc_chunks) if icc_chunks else None
    out.base = b"".join(data[s.start : s.end] for i, s in enumerate(segs) if i not in drop)
    return out


def has_segments(source: bytes | IO[bytes]) -> bool:
    """True if a JPEG carries an AGDL APP11 segment before its first SOS; reads only the JPEG's header.

    ``source``: bytes or a binary file positioned at the SOI (its position is left anywhere).
    """
    fp = io.BytesIO(source) if isinstance(source, bytes | bytearray | memoryview) else source
    if fp.read(2) != SOI:
        return False
    while True:
        b = fp.read(2)
        if len(b) < 2 or b[0] != 0xFF:
            return False
        marker = b[1]
        while marker == 0xFF:
            nxt = fp.read(1)
            if not nxt:
                return False
            marker = nxt[0]
        if marker in (SOS, EOI, 0x00, 0xD8) or marker == 0x01 or 0xD0 <= marker <= 0xD7:
            return False
        raw = fp.read(2)
        if len(raw) < 2:
            return False
        length = raw[0] << 8 | raw[1]
        if length < 2:
            return False
        if marker == APP11:
            ident = fp.read(min(len(IDENT), length - 2))
            if ident == IDENT:
                return True
            fp.seek(length - 2 - len(ident), io.SEEK_CUR)
        else:
            fp.seek(length - 2, io.SEEK_CUR)


def _segment(marker: int, body: bytes) -> bytes:
    if len(body) > MAX_SEGMENT_BODY:
        raise ValueError(f"JPEG segment body of {len(body)} bytes exceeds {MAX_SEGMENT_BODY}")
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def metadata_segments(exif: bytes | None = None, icc_profile: bytes | None = None, xmp: bytes | None = None) -> bytes:
    """EXIF (APP1, ``Exif\\0\\0`` prefixed when it is not), XMP (APP1) and ICC (APP2 chunks) as JPEG segments.

    Raises:
        ValueError: EXIF or XMP longer than one segment holds (as Pillow's JPEG writer), ICC over 255 chunks.
    """
    out = b""
    if exif:
        exif = bytes(exif) if bytes(exif).startswith(EXIF_ID) else EXIF_ID + bytes(exif)
        if len(exif) > MAX_SEGMENT_BODY:
            raise ValueError(f"EXIF data is too long for a JPEG APP1 segment ({len(exif)} > {MAX_SEGMENT_BODY} bytes)")
        out += _segment(APP1, exif)
    if xmp:
        if len(XMP_ID) + len(xmp) > MAX_SEGMENT_BODY:
            raise ValueError(f"XMP data is too long for a JPEG APP1 segment ({len(xmp)} bytes)")
        out += _segment(APP1, XMP_ID + bytes(xmp))
    if icc_profile:
        icc_profile = bytes(icc_profile)
        n = -(-len(icc_profile) // ICC_SLICE)
        if n > 255:
            raise ValueError(f"ICC profile is too long for JPEG ({len(icc_profile)} bytes)")
        for i in range(n):
            part = icc_profile[i * ICC_SLICE : (i + 1) * ICC_SLICE]
            out += _segment(APP2, ICC_ID + bytes([i + 1, n]) + part)
    return out


def agdl_segments(payload: bytes) -> bytes:
    """The payload as APP11 segments (identifier, version, seq, count, payload CRC, slice)."""
    n = max(1, -(-len(payload) // SLICE_BYTES))
    if n > MAX_SEGMENTS:
        raise ValueError(f"AGDL payload of {len(payload)} bytes needs more than {MAX_SEGMENTS} APP11 segments")
    crc = zlib.crc32(payload)
    return b"".join(
        _segment(APP11, _SEG.pack(IDENT, VERSION, i + 1, n, crc) + payload[i * SLICE_BYTES : (i + 1) * SLICE_BYTES])
        for i in range(n)
    )


def wrap(agdl: bytes) -> bytes:
    """A .agdl file with a JPEG base layer -> the same content as a JPEG (base layer + APP segments).

    Raises:
        ValueError: the base layer is not a JPEG, metadata too long for JPEG segments.
        AgdlFormatError: ``agdl`` is not a valid AGDL file.
    """
    cont = read_container(agdl)
    head = Header.unpack(cont.chunks[0].data)
    bases = [c.data for c in cont.chunks if c.type == b"BASE"]
    if head.base_codec not in JPEG_BASES or not bases or not is_jpeg(bases[0]):
        raise ValueError(f"container='jpeg' needs a JPEG base layer (base 'jpeg' or 'jpeg-saliency'), "
                         f"this file's base codec is {head.base_codec!r}")
    base = bases[0]
    try:
        segs = _walk(base)
    except AgdlFormatError as e:
        raise ValueError(f"the base layer is not a complete JPEG ({e})") from e
    meta = {c.type: c.data for c in reversed(cont.chunks) if c.type in _META_TYPES}  # first occurrence wins
    rest = [c for c in cont.chunks if c.type != b"BASE" and c.type not in _META_TYPES]
    payload = _hash(base, segs) + write_container(rest)
    app = metadata_segments(meta.get(EXIF), meta.get(ICC), meta.get(XMP)) + agdl_segments(payload)
    at = segs[1].end if segs[1].marker == APP0 else 2  # after SOI and the JFIF APP0
    return base[:at] + app + base[at:]


def _payload(bodies: list[bytes]) -> bytes:
    """Reassemble and verify the APP11 payload; ``Unusable`` names what is wrong."""
    parts = []
    for b in bodies:
        if len(b) < _SEG.size:
            raise Unusable("an AGDL APP11 segment is cut short")
        _, version, seq, count, crc = _SEG.unpack_from(b)
        if version != VERSION:
            raise Unusable(f"AGDL-in-JPEG segment version {version}, this reader reads version {VERSION}")
        parts.append((seq, count, crc, b[_SEG.size :]))
    count, crc = parts[0][1], parts[0][2]
    if any(p[1] != count or p[2] != crc for p in parts):
        raise Unusable("the AGDL APP11 segments disagree on their count or CRC (segments of different files?)")
    seqs = sorted(p[0] for p in parts)
    if len(set(seqs)) != len(seqs):
        raise Unusable("duplicate AGDL APP11 segment")
    if seqs != list(range(1, count + 1)):
        raise Unusable(f"incomplete AGDL APP11 segments: sequence numbers {seqs[:8]}{'...' if len(seqs) > 8 else ''}"
                       f" of a count of {count}")
    payload = b"".join(p[3] for p in sorted(parts, key=lambda p: p[0]))
    if zlib.crc32(payload) != crc:
        raise Unusable("damaged AGDL APP11 segments: CRC mismatch")
    if len(payload) < HASH_BYTES:
        raise Unusable("AGDL APP11 payload too short")
    return payload


@dataclass
class Unwrapped:
    """The .agdl file a JPEG holds, with facts for :class:`~agdl_plugins.format.header.AgdlInfo`."""

    agdl: bytes
    split: Split


def unwrap(data: bytes) -> Unwrapped:
    """A JPEG with AGDL segments -> the .agdl file it holds (BASE = the JPEG without the APP segments moved).

    Raises:
        AgdlFormatError: not a JPEG, a broken JPEG structure, or no AGDL segments (a plain JPEG, or one whose
            APP11 segments were stripped).
        Unusable: AGDL segments present but not usable with this JPEG (subclass of ``AgdlFormatError``).
    """
    sp = split(data)
    if not sp.agdl:
        raise AgdlFormatError(
            "not an AGDL file: a plain JPEG without AGDL APP11 segments (or they were stripped); "
            "any JPEG decoder reads it"
        )
    payload = _payload(sp.agdl)
    if payload[:HASH_BYTES] != sp.hash:
        raise Unusable("the JPEG's image data is not the base layer its AGDL segments were made for "
                       "(re-encoded or edited)")
    try:
        cont = read_container(payload[HASH_BYTES:])
    except AgdlFormatError as e:
        raise Unusable(f"AGDL payload unreadable ({e})") from e
    types = [c.type for c in cont.chunks]
    head = Header.unpack(cont.chunks[0].data)
    if b"BASE" in types:
        raise Unusable("AGDL APP11 payload holds a BASE record")
    if head.base_codec not in JPEG_BASES:
        raise Unusable(f"AGDL APP11 payload names base codec {head.base_codec!r}, not a JPEG one")
    meta = [Chunk(t, v) for t, v in ((EXIF, sp.exif), (ICC, sp.icc), (XMP, sp.xmp)) if v]
    rest = [c for c in cont.chunks[1:] if c.type not in _META_TYPES]
    try:
        agdl = write_container([cont.chunks[0], Chunk(b"BASE", sp.base), *rest, *meta])
    except ValueError as e:
        raise Unusable(f"AGDL APP11 payload unusable ({e})") from e
    return Unwrapped(agdl, sp)


def _check_parts(info) -> None:
    """The parts a full decode will look up, as the decoder does: ``Unusable`` when one is not installed."""
    from agdl_plugins.parts.registry import get_registry

    h = info.header
    need = [("base_codec", h.base_codec, h.base_codec_version), ("restorer", h.restorer, h.restorer_version)]
    if h.n_critical:
        need.append(("predictor", h.predictor, h.predictor_version))
    if h.n_measurements:
        need.append(("sensing", h.sensing, h.sensing_version))
    reg = get_registry()
    for kind, pid, ver in need:
        try:
            reg.get(kind, pid, ver)
        except MissingPartError as e:
            raise Unusable(str(e)) from e


def _fallback(data: bytes, sp: Split, reason: str, max_pixels: int | None) -> Parsed:
    """The JPEG as it is, as an AGDL file with no refinement: base layer only, identity restorer."""
    from PIL import Image

    from agdl_plugins.format.container import EMPTY_REFN
    from agdl_plugins.format.header import empty_mask_crc

    try:
        with open_without_pixel_limit(sp.base, "JPEG") as im:  # the limit is checked just below
            (w, h), mode = im.size, im.mode
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise AgdlFormatError(f"{reason}; and the JPEG itself cannot be read ({e})") from e
    if max_pixels is not None and w * h > max_pixels:
        raise DecompressionBombError(
            f"image size ({w * h} pixels) exceeds limit of {max_pixels} pixels, could be decompression bomb DOS attack."
        )
    if mode not in ("L", "RGB"):
        raise AgdlFormatError(f"{reason}; and the JPEG (mode {mode}) cannot be decoded as an AGDL base layer")
    hdr = Header(width=w, height=h, mode=mode, quality=0, base_codec="jpeg", base_codec_version=1,
                 predictor="edge-sobel", predictor_version=1, restorer="identity", restorer_version=1,
                 sensing="identity", sensing_version=1, seed=0, n_critical=0, n_measurements=0, step=16.0,
                 threshold=float("inf"), guard=0.0, critical_crc=empty_mask_crc(w, h))
    layers = {"base": len(sp.base), "refinement": 0, "alpha": 0, "total": len(data)}
    info = AgdlInfo(hdr, sp.exif, sp.icc, sp.xmp, layers, "", container="jpeg", fallback=reason)
    return Parsed(info, {b"BASE": sp.base, b"REFN": EMPTY_REFN})


def parse_info(data: bytes, max_pixels: int | None = None) -> AgdlInfo:
    """:class:`~agdl_plugins.format.header.AgdlInfo` of an AGDL-in-JPEG file (``container == "jpeg"``)."""
    return parse_file(data, max_pixels).info


def parse_file(data: bytes, max_pixels: int | None = None) -> Parsed:
    """An AGDL-in-JPEG file (``container == "jpeg"``) parsed: its info and layers' payloads.

    Unusable AGDL segments: warns (``AgdlFallbackWarning``) and returns the JPEG as it is, base layer only
    (``info.fallback`` = the reason), which decodes to what ``decode(..., base_only=True)`` gives.

    Raises:
        AgdlFormatError: not a JPEG with AGDL segments, broken JPEG structure. DecompressionBombError.
    """
    from agdl_plugins.format import parse

    sp = None
    try:
        un = unwrap(data)
        sp = un.split
        pf = parse.parse_file(un.agdl, max_pixels)
        _check_parts(pf.info)
    except DecompressionBombError:
        raise
    except Unusable as e:
        reason = str(e)
    except AgdlFormatError as e:
        if sp is None:  # not a JPEG with AGDL segments, or a broken JPEG structure
            raise
        reason = f"AGDL payload unusable ({e})"
    else:
        pf.info.layer_bytes["total"] = len(data)
        pf.info.layer_bytes["base"] = len(sp.base)  # the .jpg holds its JPEG whole (the .agdl view packs it)
        pf.info.container = "jpeg"
        return pf
    warnings.warn(f"{reason}: decoding the JPEG as it is (base layer only, no AGDL refinement)",
                  AgdlFallbackWarning, stacklevel=4)  # the caller of agdl.decode / read_info
    return _fallback(data, sp if sp is not None else split(data), reason, max_pixels)
