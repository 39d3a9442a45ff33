"""The ``ROIM`` record (issue 27): the user's region of interest, exact side information the decoder draws the
critical set inside (spec: docs/FORMAT.md, "ROIM").

Pure standard library (``read_info`` must not import numpy): the record is parsed here, a bitmap's bits are
decoded only when asked for (:meth:`RoiRecord.block_bits`), and :meth:`RoiRecord.pixel_map` imports numpy on
call only. Layout::

    version u8 = 1 | kind_block u8 | body
    kind_block = kind (bits 0-1: 0 boxes, 1 bitmap) | log2(block) << 2 (bits 2-5, block 1..256 px); bits 6-7 zero
    boxes  body = count uvarint (1..4096) | (x0, y0, w - 1, h - 1 uvarint)*   in blocks, x0 + w <= gw, y0 + h <= gh
    bitmap body = the gw x gh block bits in raster order, binary range coded (:class:`BitEncoder`), context = the
                  left, upper-left, upper and upper-right blocks (outside the grid: 0)

with ``gw = ceil(W / block)``, ``gh = ceil(H / block)``, ``gw * gh <= 2**20``. A block is in the ROI when its bit
is set; a box covers the pixels ``[x0 * block, min((x0 + w) * block, W))`` x (the same for y). A bitmap with no
bit set is corrupt (an encoder never writes an empty ROI).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agdl_plugins.errors import AgdlFormatError
from agdl_plugins.format._wire import Reader, uvarint

#: record type (upper-case first letter: critical; container tag 0x04)
ROI = b"ROIM"
VERSION = 1
BOXES, BITMAP = 0, 1
MAX_BLOCKS = 1 << 20
MAX_BOXES = 4096
#: the bitmap's default block (px): the base layer's 8x8 grid
DEFAULT_BLOCK = 8
#: the encoder doubles the bitmap's block until the grid has at most this many blocks (decode stays fast)
TARGET_BLOCKS = 1 << 16

_PROB_BITS = 11  # probabilities of a 0 bit in 1/2048
_MOVE = 4  # adaptation rate: p moves 1/16 of the way to the observed bit
_TOP = 1 << 24


def grid(width: int, height: int, block: int) -> tuple[int, int]:
    """(gw, gh): blocks across and down."""
    return -(-width // block), -(-height // block)


def box_block(width: int, height: int) -> int:
    """The block of a box record: the finest power of two <= 8 px giving coordinates < 128 blocks (one varint
    byte each), 8 px for larger images."""
    b = 1
    while b < DEFAULT_BLOCK and max(grid(width, height, b)) > 128:
        b *= 2
    return b


def bitmap_block(width: int, height: int) -> int:
    """The block of a bitmap record: 8 px, doubled until the grid has at most :data:`TARGET_BLOCKS` blocks."""
    b = DEFAULT_BLOCK
    while grid(width, height, b)[0] * grid(width, height, b)[1] > TARGET_BLOCKS:
        b *= 2
    return b


# -- the binary range coder (LZMA's: 32-bit range, 11-bit adaptive probabilities; integers only, exact) -----


class BitEncoder:
    """Adaptive binary range encoder. The first output byte (always 0) and trailing zero bytes are left out:
    :class:`BitDecoder` reads zeros past the end."""

    def __init__(self, contexts: int) -> None:
        self.p = [1 << (_PROB_BITS - 1)] * contexts
        self.low, self.range, self.cache, self.cache_size = 0, 0xFFFFFFFF, 0, 1
        self.out = bytearray()

    def _shift_low(self) -> None:
        if self.low < 0xFF000000 or self.low > 0xFFFFFFFF:
            carry = self.low >> 32
            temp = self.cache
            while True:
                self.out.append((temp + carry) & 0xFF)
                temp = 0xFF
                self.cache_size -= 1
                if not self.cache_size:
                    break
            self.cache = (self.low >> 24) & 0xFF
        self.cache_size += 1
        self.low = (self.low & 0x00FFFFFF) << 8

    def bit(self, ctx: int, bit: int) -> None:
        p = self.p[ctx]
        bound = (self.range >> _PROB_BITS) * p
        if bit:
            self.low += bound
            self.range -= bound
            self.p[ctx] = p - (p >> _MOVE)
        else:
            self.range = bound
            self.p[ctx] = p + (((1 << _PROB_BITS) - p) >> _MOVE)
        while self.range < _TOP:
            self.range <<= 8
            self._shift_low()

    def finish(self) -> bytes:
        for _ in range(5):
            self._shift_low()
        return bytes(self.out[1:]).rstrip(b"\x00")


class BitDecoder:
    """Inverse of :class:`BitEncoder` over ``data`` (zeros past its end)."""

    def __init__(self, data: bytes, contexts: int) -> None:
        self.p = [1 << (_PROB_BITS - 1)] * contexts
        self.data, self.pos = data, 0
        self.range, self.code = 0xFFFFFFFF, 0
        for _ in range(4):
            self.code = (self.code << 8) | self._byte()

    def _byte(self) -> int:
        b = self.data[self.pos] if self.pos < len(self.data) else 0
        self.pos += 1
        return b

    def bit(self, ctx: int) -> int:
        p = self.p[ctx]
        bound = (self.range >> _PROB_BITS) * p
        if self.code < bound:
            self.range = bound
            self.p[ctx] = p + (((1 << _PROB_BITS) - p) >> _MOVE)
            bit = 0
        else:
            self.code -= bound
            self.range -= bound
            self.p[ctx] = p - (p >> _MOVE)
            bit = 1
        while self.range < _TOP:
            self.range <<= 8
            self.code = ((self.code << 8) | self._byte()) & 0xFFFFFFFF
        return bit


def _context(bits: list[int], i: int, x: int, gw: int) -> int:
    left = bits[i - 1] if x else 0
    if i < gw:
        return left
    up = bits[i - gw]
    ul = bits[i - gw - 1] if x else 0
    ur = bits[i - gw + 1] if x + 1 < gw else 0
    return left | ul << 1 | up << 2 | ur << 3


def encode_bitmap(bits: list[int], gw: int) -> bytes:
    """Range-code a raster-order list of 0/1 block bits of a grid ``gw`` wide."""
    enc = BitEncoder(16)
    for i, b in enumerate(bits):
        enc.bit(_context(bits, i, i % gw, gw), b)
    return enc.finish()


def decode_bitmap(data: bytes, gw: int, gh: int) -> list[int]:
    """Inverse of :func:`encode_bitmap`: ``gw * gh`` bits."""
    dec = BitDecoder(data, 16)
    bits: list[int] = []
    for i in range(gw * gh):
        bits.append(dec.bit(_context(bits, i, i % gw, gw)))
    return bits


# -- the record ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoiRecord:
    """A parsed ``ROIM`` record for a ``width`` x ``height`` image. ``boxes``: block-unit boxes (x0, y0, x1,
    y1 exclusive) of a box record; ``coded``: the range-coded bits of a bitmap record."""

    width: int
    height: int
    block: int
    boxes: tuple[tuple[int, int, int, int], ...] | None = None
    coded: bytes | None = None
    _bits: list[int] = field(default_factory=list, compare=False, repr=False)

    @property
    def kind(self) -> str:
        """``"boxes"`` or ``"map"``."""
        return "boxes" if self.boxes is not None else "map"

    def pixel_boxes(self) -> list[tuple[int, int, int, int]]:
        """A box record's boxes in pixels (x1, y1 exclusive, clipped to the image)."""
        b = self.block
        return [(x0 * b, y0 * b, min(x1 * b, self.width), min(y1 * b, self.height))
                for x0, y0, x1, y1 in self.boxes or ()]

    def block_bits(self) -> list[int]:
        """The (gh x gw) block bits in raster order (a bitmap is decoded on the first call).

        Raises:
            AgdlFormatError: a bitmap with no bit set.
        """
        if not self._bits:
            gw, gh = grid(self.width, self.height, self.block)
            if self.boxes is not None:
                bits = [0] * (gw * gh)
                for x0, y0, x1, y1 in self.boxes:
                    for y in range(y0, y1):
                        bits[y * gw + x0 : y * gw + x1] = [1] * (x1 - x0)
            else:
                bits = decode_bitmap(self.coded or b"", gw, gh)
                if not any(bits):
                    raise AgdlFormatError("corrupt AGDL file: the ROI bitmap has no block set")
            self._bits.extend(bits)
        return self._bits

    def pixel_map(self) -> Any:
        """(H, W) numpy bool: True inside the ROI (imports numpy on call)."""
        import numpy as np

        gw, gh = grid(self.width, self.height, self.block)
        blocks = np.asarray(self.block_bits(), dtype=bool).reshape(gh, gw)
        full = np.repeat(np.repeat(blocks, self.block, axis=0), self.block, axis=1)
        return np.ascontiguousarray(full[: self.height, : self.width])

    def summary(self) -> Any:
        """JSON-ready, without building the pixel map: a box record's pixel boxes as lists; a bitmap's
        ``{"map_pixels": n, "bbox": [x0, y0, x1, y1], "block": b}`` (pixels of the widened map, x1/y1 exclusive)."""
        if self.boxes is not None:
            return [list(b) for b in self.pixel_boxes()]
        gw, gh = grid(self.width, self.height, self.block)
        bits, b = self.block_bits(), self.block
        n, xs, ys = 0, [], []
        for i, v in enumerate(bits):
            if v:
                x, y = i % gw, i // gw
                n += (min((x + 1) * b, self.width) - x * b) * (min((y + 1) * b, self.height) - y * b)
                xs.append(x)
                ys.append(y)
        bbox = [min(xs) * b, min(ys) * b, min((max(xs) + 1) * b, self.width), min((max(ys) + 1) * b, self.height)]
        return {"map_pixels": n, "bbox": bbox, "block": b}

    def value(self) -> Any:
        """The public representation (``read_info().roi``, ``im.info["roi"]``): a box record's pixel boxes as a
        list of (x0, y0, x1, y1) tuples, a bitmap's (H, W) bool numpy array."""
        return self.pixel_boxes() if self.boxes is not None else self.pixel_map()


def pack_boxes(boxes: list[tuple[int, int, int, int]], width: int, height: int) -> bytes:
    """Pixel boxes (x1, y1 exclusive, inside the image) -> record payload; each is widened to whole blocks."""
    b = box_block(width, height)
    if not 0 < len(boxes) <= MAX_BOXES:
        raise ValueError(f"a ROI record holds 1 to {MAX_BOXES} boxes, got {len(boxes)}")
    out = bytearray([VERSION, BOXES | (b.bit_length() - 1) << 2]) + uvarint(len(boxes))
    for x0, y0, x1, y1 in boxes:
        bx0, by0 = x0 // b, y0 // b
        bx1, by1 = -(-x1 // b), -(-y1 // b)
        out += uvarint(bx0) + uvarint(by0) + uvarint(bx1 - bx0 - 1) + uvarint(by1 - by0 - 1)
    return bytes(out)


def pack_bitmap(bits: list[int], width: int, height: int, block: int) -> bytes:
    """Raster-order block bits of the ``block``-px grid -> record payload."""
    gw, gh = grid(width, height, block)
    if block & (block - 1) or not 1 <= block <= 256 or len(bits) != gw * gh or gw * gh > MAX_BLOCKS:
        raise ValueError(f"bad ROI bitmap: block {block}, {len(bits)} bits for a {gw}x{gh} grid")
    if not any(bits):
        raise ValueError("a ROI bitmap needs at least one block set")
    return bytes([VERSION, BITMAP | (block.bit_length() - 1) << 2]) + encode_bitmap(bits, gw)


def unpack(payload: bytes, width: int, height: int) -> RoiRecord:
    """Record payload of a ``width`` x ``height`` image -> :class:`RoiRecord` (a bitmap is not decoded yet).

    Raises:
        AgdlFormatError: an unknown version or kind, a block or grid out of range, boxes outside the grid.
    """
    r = Reader(payload, "ROI record")
    version, kb = r.take(">BB")
    if version != VERSION:
        raise AgdlFormatError(f"AGDL file has a ROI record of version {version}, unknown to this reader "
                              "(newer writer?)")
    kind, log_block = kb & 3, kb >> 2
    if kind not in (BOXES, BITMAP) or log_block > 8:
        raise AgdlFormatError(f"corrupt AGDL file: ROI record kind/block byte {kb:#04x}")
    block = 1 << log_block
    gw, gh = grid(width, height, block)
    if gw * gh > MAX_BLOCKS:
        raise AgdlFormatError(f"corrupt AGDL file: ROI grid of {gw}x{gh} blocks exceeds {MAX_BLOCKS}")
    if kind == BITMAP:
        return RoiRecord(width, height, block, coded=r.rest())
    n = r.uvarint(16, "box count")
    if not 0 < n <= MAX_BOXES:
        raise AgdlFormatError(f"corrupt AGDL file: ROI record with {n} boxes")
    boxes = []
    for _ in range(n):
        x0, y0 = r.uvarint(32, "box x0"), r.uvarint(32, "box y0")
        x1, y1 = x0 + r.uvarint(32, "box width") + 1, y0 + r.uvarint(32, "box height") + 1
        if x1 > gw or y1 > gh:
            raise AgdlFormatError(f"corrupt AGDL file: ROI box {(x0, y0, x1, y1)} (blocks) outside the {gw}x{gh} "
                                  "grid")
        boxes.append((x0, y0, x1, y1))
    if r.remaining:
        raise AgdlFormatError("corrupt AGDL file: bytes after the ROI boxes")
    return RoiRecord(width, height, block, boxes=tuple(boxes))
