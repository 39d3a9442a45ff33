"""Byte-level helpers shared by the container and the header: a bounds-checked reader and LEB128 varints.

Pure standard library (``Image.open`` must not import numpy or torch). Every malformed input raises
:class:`AgdlFormatError` naming what was being read; nothing is allocated beyond the input's own size.
"""

from __future__ import annotations

import struct
from typing import Any

from agdl_plugins.errors import AgdlFormatError


def uvarint(value: int) -> bytes:
    """Unsigned LEB128: 7 bits a byte, least significant first, high bit = more bytes follow."""
    if value < 0:
        raise ValueError(f"uvarint of a negative number {value}")
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        out.append(b | (0x80 if value else 0))
        if not value:
            return bytes(out)


def zigzag(value: int) -> int:
    """Signed -> unsigned (0, -1, 1, -2, ... -> 0, 1, 2, 3, ...) so that small magnitudes stay short."""
    return value * 2 if value >= 0 else -value * 2 - 1


def unzigzag(value: int) -> int:
    return value >> 1 if not value & 1 else -((value + 1) >> 1)


class Reader:
    """Reads ``data[pos:end]``; ``what`` names the structure in error messages ("HEAD", "REFN record"),
    which start with ``prefix``."""

    def __init__(
        self, data: bytes, what: str, pos: int = 0, end: int | None = None, prefix: str = "corrupt AGDL file: "
    ) -> None:
        self.data, self.what, self.pos, self.prefix = data, what, pos, prefix
        self.end = len(data) if end is None else end

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def _short(self) -> AgdlFormatError:
        return AgdlFormatError(f"{self.prefix}{self.what} is too short")

    def take(self, fmt: str) -> tuple[Any, ...]:
        size = struct.calcsize(fmt)
        if size > self.remaining:
            raise self._short()
        vals = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return vals

    def bytes(self, n: int) -> bytes:
        if n > self.remaining:
            raise self._short()
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def rest(self) -> bytes:
        return self.bytes(self.remaining)

    def uvarint(self, bits: int, field: str) -> int:
        """An unsigned varint of at most ``bits`` bits, in its shortest form (anything else is corrupt)."""
        value, shift = 0, 0
        for i in range((bits + 6) // 7):
            if self.pos >= self.end:
                raise self._short()
            b = self.data[self.pos]
            self.pos += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                if b == 0 and i:
                    raise AgdlFormatError(f"{self.prefix}{field} in {self.what} is a padded varint")
                if value >> bits:
                    break
                return value
        raise AgdlFormatError(f"{self.prefix}{field} in {self.what} overflows {bits} bits (varint)")

    def svarint(self, bits: int, field: str) -> int:
        """A zigzag varint holding a signed ``bits``-bit integer."""
        return unzigzag(self.uvarint(bits, field))

    def string(self) -> str:
        (n,) = self.take(">B")
        raw = self.bytes(n)
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError as e:
            raise AgdlFormatError(f"{self.prefix}non-ASCII part id in {self.what}") from e
