"""The AGDL container: magic, version and CRC-protected chunks (see docs/FORMAT.md).

Pure standard library on purpose: parsing a header must never import numpy or torch, so
``Image.open`` stays cheap.

Layout::

    MAGIC (9 bytes) | major u8 | minor u8 | chunk* ; chunk = type[4] | length u32 BE | data | crc32 u32 BE

The CRC covers type + data. A chunk type whose first letter is upper-case is *critical*: a reader
that does not know it must refuse the file. A lower-case first letter marks an *ancillary* chunk
that older readers skip. ``HEAD`` must come first and ``AEND`` last.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import AgdlFormatError

MAGIC = b"\x89AGDL\r\n\x1a\n"
FORMAT_MAJOR = 1
FORMAT_MINOR = 0
MAX_FILE_BYTES = 1 << 30  # 1 GiB: far above any real AGDL file, refuses absurd inputs early
MAX_CHUNK_BYTES = 1 << 30

KNOWN_CRITICAL = frozenset({b"HEAD", b"BASE", b"REFN", b"ALPH", b"AEND"})
# ancillary chunks carried through untouched
EXIF, ICC, XMP = b"eXIf", b"iCCP", b"xmPP"


@dataclass(frozen=True)
class Chunk:
    """One chunk: 4-byte ASCII type and payload."""

    type: bytes
    data: bytes

    @property
    def critical(self) -> bool:
        return 65 <= self.type[0] <= 90


def accept(prefix: bytes) -> bool:
    """True if ``prefix`` (e.g. the first 16 bytes of a file) starts with the AGDL magic."""
    return prefix[: len(MAGIC)] == MAGIC


def write_container(chunks: Iterable[Chunk]) -> bytes:
    """Serialise chunks (caller supplies HEAD first; AEND is appended here)."""
    out = bytearray(MAGIC)
    out += bytes([FORMAT_MAJOR, FORMAT_MINOR])
    for ch in list(chunks) + [Chunk(b"AEND", b"")]:
        if len(ch.type) != 4 or not ch.type.isalpha():
            raise ValueError(f"bad chunk type {ch.type!r}")
        out += struct.pack(">4sI", ch.type, len(ch.data))
        out += ch.data
        out += struct.pack(">I", zlib.crc32(ch.type + ch.data) & 0xFFFFFFFF)
    return bytes(out)


def parse_container(data: bytes) -> list[Chunk]:
    """Split ``data`` into verified chunks.

    Raises:
        AgdlFormatError: wrong magic or version, truncation, CRC mismatch, unknown critical chunk,
            missing HEAD/AEND, duplicated critical chunk.
    """
    if len(data) > MAX_FILE_BYTES:
        raise AgdlFormatError(f"AGDL stream of {len(data)} bytes exceeds the {MAX_FILE_BYTES}-byte limit")
    if not accept(data):
        raise AgdlFormatError("not an AGDL file (magic bytes missing)")
    if len(data) < len(MAGIC) + 2:
        raise AgdlFormatError("truncated AGDL file: no version bytes")
    major, minor = data[len(MAGIC)], data[len(MAGIC) + 1]
    if major != FORMAT_MAJOR:
        raise AgdlFormatError(
            f"unsupported AGDL format version {major}.{minor} (this reader reads {FORMAT_MAJOR}.x)"
        )
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
        if chunk.critical:
            if ctype not in KNOWN_CRITICAL:
                raise AgdlFormatError(
                    f"AGDL file needs chunk type {ctype.decode('ascii')}, unknown to this reader (newer writer?)"
                )
            if ctype in seen:
                raise AgdlFormatError(f"corrupt AGDL file: duplicate {ctype.decode('ascii')} chunk")
            seen.add(ctype)
        if ctype == b"AEND":
            break
        chunks.append(chunk)
    return chunks


def chunk_map(chunks: list[Chunk]) -> dict[bytes, bytes]:
    """Map chunk type -> payload (first occurrence for ancillary types)."""
    out: dict[bytes, bytes] = {}
    for ch in chunks:
        out.setdefault(ch.type, ch.data)
    return out
