"""The AGDL container: magic, version and the version's framing of the chunks (spec: docs/FORMAT.md).

Pure standard library on purpose: parsing a header must never import numpy or torch, so
``Image.open`` stays cheap.

Chunk lists in memory do not depend on the file's version: :func:`write_container` takes, and
:func:`parse_container` returns, ``Chunk(type, payload)`` with every payload in its *logical* form - the
1.0 layouts of HEAD (:meth:`Header.pack`) and REFN (``n_explicit u32 | len u32 | list | measurements``),
the other chunks as they are. Only this module knows how a version lays them out on disk.

Format 2.0, the one written::

    MAGIC (9 bytes) | major u8 = 2 | minor u8 | head_len uvarint | HEAD (Header.pack(major=2)) | record* | crc32 u32 BE
    record = tag u8 | type[4] (only when tag = 0) | length uvarint | payload

One CRC-32 covers every byte before it, magic and version included. Tags 1..127 are critical, 128..255
ancillary (a reader skips an ancillary tag it does not know): 1 BASE, 2 REFN, 3 ALPH, 4 ROIM (the user's
region of interest, :mod:`agdl_plugins.format.roi`), 5 BASZ (the BASE chunk with the base codec's header
deflated, :mod:`agdl_plugins.format.base_pack`: written instead of BASE whenever smaller), 0x81 eXIf, 0x82 iCCP,
0x83 xmPP; tag 0 spells the 4-letter type out (critical when upper-case, as in 1.0). An empty refinement
(no guard-band list, no measurements) is left out and read back as :data:`EMPTY_REFN`; any other REFN is
stored with varints (:func:`agdl_plugins.format.refn.to_stored`).

Format 1.0, still read::

    MAGIC (9 bytes) | major u8 = 1 | minor u8 | chunk* ; chunk = type[4] | length u32 BE | data | crc32 u32 BE

The CRC covers type + data. ``HEAD`` must come first and ``AEND`` last. In both versions a critical chunk
type a reader does not know makes it refuse the file, and critical chunks appear at most once.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from agdl_plugins.errors import AgdlFormatError
from agdl_plugins.format import base_pack, refn
from agdl_plugins.format._wire import Reader, uvarint
from agdl_plugins.format.header import Header

MAGIC = b"\x89AGDL\r\n\x1a\n"
FORMAT_MAJOR = 2  # written
FORMAT_MINOR = 0
READ_MAJORS = (1, 2)
MAX_FILE_BYTES = 1 << 30  # 1 GiB: far above any real AGDL file, refuses absurd inputs early
MAX_CHUNK_BYTES = 1 << 30

KNOWN_CRITICAL = frozenset({b"HEAD", b"BASE", b"REFN", b"ALPH", b"AEND", b"ROIM"})
#: the stored type of a packed BASE (record tag 5); in memory it is always the BASE chunk
PACKED_BASE = b"BASZ"
# ancillary chunks carried through untouched
EXIF, ICC, XMP = b"eXIf", b"iCCP", b"xmPP"
#: 2.x record tags (append-only). 0 = the 4-letter type follows; 1..127 critical, 128..255 ancillary.
TAGS = {b"BASE": 0x01, b"REFN": 0x02, b"ALPH": 0x03, b"ROIM": 0x04, PACKED_BASE: 0x05, EXIF: 0x81, ICC: 0x82, XMP: 0x83}
_TAG_TYPES = {tag: ctype for ctype, tag in TAGS.items()}
#: the logical REFN of a file without refinement: no guard-band list, no measurements
EMPTY_REFN = bytes(8)


@dataclass(frozen=True)
class Chunk:
    """One chunk: 4-byte ASCII type and payload."""

    type: bytes
    data: bytes

    @property
    def critical(self) -> bool:
        return 65 <= self.type[0] <= 90


@dataclass(frozen=True)
class Container:
    """A parsed file: its ``(major, minor)`` version, its chunks (logical payloads, HEAD first, no AEND) and
    ``stored``, the bytes each chunk type's payload takes in the file (0 for a REFN left out)."""

    version: tuple[int, int]
    chunks: list[Chunk]
    stored: dict[bytes, int]


def accept(prefix: bytes) -> bool:
    """True if ``prefix`` (e.g. the first 16 bytes of a file) starts with the AGDL magic."""
    return prefix[: len(MAGIC)] == MAGIC


def write_container(chunks: Iterable[Chunk], pack_base: bool = True) -> bytes:
    """Serialise chunks as a format 2.0 file (caller supplies HEAD first; there is no AEND in 2.x).

    ``pack_base``: store the BASE chunk as a ``BASZ`` record when that is smaller (its header deflated,
    :mod:`agdl_plugins.format.base_pack`); False keeps the plain BASE record (``container="jpeg"``, whose base
    is the .jpg itself, so its rate control counts the unpacked size).

    Raises:
        ValueError: a bad chunk type, no HEAD first, a HEAD or REFN payload no reader would accept in
            its logical layout, a repeated critical chunk.
    """
    chunks = list(chunks)
    for ch in chunks:
        if len(ch.type) != 4 or not ch.type.isalpha() or ch.type == PACKED_BASE:
            raise ValueError(f"bad chunk type {ch.type!r}")
    if not chunks or chunks[0].type != b"HEAD":
        raise ValueError("the first chunk must be HEAD")
    try:
        head = Header.unpack(chunks[0].data).pack(major=2)
    except AgdlFormatError as e:
        raise ValueError(f"cannot write this HEAD: {e}") from e
    out = bytearray(MAGIC) + bytes([FORMAT_MAJOR, FORMAT_MINOR]) + uvarint(len(head)) + head
    seen: set[bytes] = set()
    for ch in chunks[1:]:
        if ch.type in (b"HEAD", b"AEND") or (ch.critical and ch.type in seen):
            raise ValueError(f"chunk {ch.type.decode('ascii')} given twice (or AEND, which 2.x does not have)")
        seen.add(ch.type)
        data = ch.data
        if ch.type == b"REFN":
            if data == EMPTY_REFN:
                continue
            data = refn.to_stored(data)
        tag = TAGS.get(ch.type)
        if ch.type == b"BASE" and pack_base and (packed := base_pack.pack(data)) is not None:
            tag, data = TAGS[PACKED_BASE], packed
        out += (bytes([tag]) if tag else b"\x00" + ch.type) + uvarint(len(data)) + data
    out += struct.pack(">I", zlib.crc32(out))
    return bytes(out)


def parse_container(data: bytes) -> list[Chunk]:
    """Split ``data`` into verified chunks with logical payloads (see :func:`read_container`)."""
    return read_container(data).chunks


def read_container(data: bytes) -> Container:
    """Verify and split a file of any readable version.

    Raises:
        AgdlFormatError: wrong magic or version, truncation, CRC mismatch, malformed framing or HEAD (2.x),
            unknown critical chunk, missing HEAD/AEND (1.0), duplicated critical chunk.
    """
    if len(data) > MAX_FILE_BYTES:
        raise AgdlFormatError(f"AGDL stream of {len(data)} bytes exceeds the {MAX_FILE_BYTES}-byte limit")
    if not accept(data):
        raise AgdlFormatError("not an AGDL file (magic bytes missing)")
    if len(data) < len(MAGIC) + 2:
        raise AgdlFormatError("truncated AGDL file: no version bytes")
    major, minor = data[len(MAGIC)], data[len(MAGIC) + 1]
    if major not in READ_MAJORS:
        raise AgdlFormatError(
            f"unsupported AGDL format version {major}.{minor} (this reader reads "
            f"{', '.join(f'{v}.x' for v in READ_MAJORS)})"
        )
    chunks, stored = (_parse_v1 if major == 1 else _parse_v2)(data)
    return Container((major, minor), chunks, stored)


def _admit(chunk: Chunk, seen: set[bytes]) -> None:
    """The rules for critical chunks, shared by every version: known to this reader, at most once."""
    name = chunk.type.decode("ascii")
    if chunk.critical:
        if chunk.type not in KNOWN_CRITICAL:
            raise AgdlFormatError(f"AGDL file needs chunk type {name}, unknown to this reader (newer writer?)")
        if chunk.type in seen:
            raise AgdlFormatError(f"corrupt AGDL file: duplicate {name} chunk")
        seen.add(chunk.type)


def _parse_v1(data: bytes) -> tuple[list[Chunk], dict[bytes, int]]:
    pos = len(MAGIC) + 2
    chunks: list[Chunk] = []
    seen: set[bytes] = set()
    while True:
        if pos + 8 > len(data):
            raise AgdlFormatError(f"truncated AGDL file: chunk header at byte {pos} is cut off")
        ctype, length = struct.unpack_from(">4sI", data, pos)
        if not ctype.isalpha():
            raise AgdlFormatError(f"corrupt AGDL file: invalid chunk type {ctype!r} at byte {pos}")
        if length > MAX_CHUNK_BYTES or pos + 12 + length > len(data):
            raise AgdlFormatError(
                f"truncated AGDL file: chunk {ctype.decode('ascii')} declares {length} bytes, "
                f"only {max(0, len(data) - pos - 12)} remain"
            )
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack_from(">I", data, pos + 8 + length)
        if zlib.crc32(ctype + body) & 0xFFFFFFFF != crc:
            raise AgdlFormatError(f"corrupt AGDL file: CRC mismatch in chunk {ctype.decode('ascii')}")
        chunk = Chunk(ctype, body)
        pos += 12 + length
        if not chunks and ctype != b"HEAD":
            raise AgdlFormatError("corrupt AGDL file: first chunk is not HEAD")
        _admit(chunk, seen)
        if ctype == b"AEND":
            break
        chunks.append(chunk)
    stored: dict[bytes, int] = {}
    for ch in chunks:
        stored.setdefault(ch.type, len(ch.data))
    return chunks, stored


def _frame_v2(data: bytes, prefix: str) -> tuple[bytes, list[tuple[int, bytes | None, bytes]]]:
    """A 2.x file's framing: (compact HEAD, [(tag, type or None for an unknown tag, payload)])."""
    r = Reader(data, "record list", pos=len(MAGIC) + 2, end=len(data) - 4, prefix=prefix)
    head_len = r.uvarint(32, "HEAD length")
    if head_len > r.remaining:
        raise AgdlFormatError(f"{prefix}HEAD declares {head_len} bytes, only {r.remaining} remain")
    head = r.bytes(head_len)
    records = []
    while r.remaining:
        at = r.pos
        (tag,) = r.take(">B")
        ctype = r.bytes(4) if tag == 0 else _TAG_TYPES.get(tag)
        if ctype is not None and not ctype.isalpha():
            raise AgdlFormatError(f"{prefix}invalid chunk type {ctype!r} at byte {at}")
        name = ctype.decode("ascii") if ctype is not None else f"tag {tag:#04x}"
        length = r.uvarint(32, f"length of {name}")
        if length > r.remaining:
            raise AgdlFormatError(f"{prefix}{name} at byte {at} declares {length} bytes, only {r.remaining} remain")
        records.append((tag, ctype, r.bytes(length)))
    return head, records


def _parse_v2(data: bytes) -> tuple[list[Chunk], dict[bytes, int]]:
    if len(data) < len(MAGIC) + 2 + 1 + 4:
        raise AgdlFormatError("truncated AGDL file: cut off after the version bytes")
    if zlib.crc32(data[:-4]) != struct.unpack_from(">I", data, len(data) - 4)[0]:
        try:  # say where, when the framing shows a cut
            _frame_v2(data, "")
            detail = ""
        except AgdlFormatError as e:
            detail = f" ({e})"
        raise AgdlFormatError(f"corrupt or truncated AGDL file: CRC mismatch{detail}")
    head, records = _frame_v2(data, "corrupt AGDL file: ")
    chunks = [Chunk(b"HEAD", Header.unpack(head, major=2).pack())]
    stored = {b"HEAD": len(head)}
    seen = {b"HEAD"}
    for tag, ctype, payload in records:
        if ctype is None:
            if tag < 0x80:
                raise AgdlFormatError(f"AGDL file needs record tag {tag:#04x}, unknown to this reader (newer writer?)")
            continue  # an ancillary record from a newer minor version
        if ctype == b"AEND":
            raise AgdlFormatError("corrupt AGDL file: AEND record in a 2.x file")
        if ctype == PACKED_BASE:
            chunk = Chunk(b"BASE", base_pack.unpack(payload))
        else:
            chunk = Chunk(ctype, refn.from_stored(payload) if ctype == b"REFN" else payload)
        _admit(chunk, seen)
        chunks.append(chunk)
        stored.setdefault(chunk.type, len(payload))
    if b"REFN" not in seen:
        chunks.append(Chunk(b"REFN", EMPTY_REFN))
        stored[b"REFN"] = 0
    return chunks, stored


def chunk_map(chunks: list[Chunk]) -> dict[bytes, bytes]:
    """Map chunk type -> payload (first occurrence for ancillary types)."""
    out: dict[bytes, bytes] = {}
    for ch in chunks:
        out.setdefault(ch.type, ch.data)
    return out
