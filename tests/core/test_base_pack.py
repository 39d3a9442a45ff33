"""The packed BASE record (``BASZ``, record tag 5): the base codec's header deflated against a fixed dictionary."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, features

import agdl_plugins as agdl
from agdl_plugins.errors import AgdlFormatError
from agdl_plugins.format import base_pack as bp
from agdl_plugins.format import container as C
from agdl_plugins.parts.jpeg_tables import ijg_tables

# the dictionaries are part of the format: a file packed with them must unpack forever
PINNED = {
    bp.JPEG: "7a9c2e45413a8281cdcfcc83eb7d182116745dd7e020407f1c4ecc753caf4cd2",
    bp.WEBP: "b4314b900a3b95c93aa788635bb1d5d8b0d2e6e163b46cb1bf52e0f219391527",
    bp.AVIF: "e71233087bc7adeb6689a64d6584c4c7777cbb799f437e0b8d57f4c3669ab9b6",
}
needs_avif = pytest.mark.skipif(not features.check("avif"), reason="this Pillow has no AVIF")


def _photo(mode: str = "RGB", size: tuple[int, int] = (160, 120)) -> Image.Image:
    rng = np.random.default_rng(3)
    y, x = np.mgrid[: size[1], : size[0]]
    rgb = np.stack([(x * 1.5) % 256, (y * 2.0) % 256, (x + y) % 256], -1) + rng.normal(0, 6, (*size[::-1], 3))
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).convert(mode)


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("kind", sorted(PINNED))
def test_dictionaries_never_change(kind):
    assert hashlib.sha256(bp.dictionary(kind)).hexdigest() == PINNED[kind]


@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize(
    "fmt, kw, saves",
    [
        ("JPEG", {"qtables": ijg_tables(37.4)[:2], "optimize": True, "subsampling": "4:2:0"}, 50),
        ("JPEG", {"quality": 80}, 50),
        ("WEBP", {"quality": 30}, 8),
        pytest.param("AVIF", {"quality": 30, "speed": 6}, 200, marks=needs_avif),
    ],
)
def test_pack_is_exact_and_smaller(fmt, kw, saves, mode):
    kw = dict(kw)
    if mode == "L" and "qtables" in kw:
        kw["qtables"] = kw["qtables"][:1]
    data = _save(_photo(mode), fmt, **kw)
    packed = bp.pack(data)
    assert packed is not None and packed[0] == bp.kind_of(data)
    assert len(data) - len(packed) >= saves
    assert bp.unpack(packed) == data
    # the entropy-coded data is carried as is, after the deflated header
    assert packed.endswith(data[bp.header_span(data):])


def test_unknown_layouts_stay_plain():
    j2k = _save(_photo(), "JPEG2000", quality_mode="dB", quality_layers=[30.0], irreversible=True)
    assert bp.kind_of(j2k) is None and bp.pack(j2k) is None
    jpeg = _save(_photo(), "JPEG", quality=50)
    assert bp.header_span(jpeg[:100]) is None  # cut before its SOS
    assert bp.header_span(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 6 + b"\x12\x34") is None  # no marker
    assert bp.header_span(b"\x00\x00\x00\x18ftypavif" + b"\x00" * 12) is None  # no mdat box
    assert bp.header_span(b"\x00\x00\x00\x00ftypavif" + b"\x00" * 30) is None  # box size 0 before mdat


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x09abc", b"\x01", b"\x03\xff\xff\xff\xff", b"\x01" + zlib.compress(b"x" * 50)[2:-4][:-2]],
    ids=["empty", "unknown-kind", "no-stream", "garbage", "cut-off"],
)
def test_bad_payloads_are_format_errors(payload):
    with pytest.raises(AgdlFormatError, match="BASZ"):
        bp.unpack(payload)


def test_a_header_that_inflates_too_far_is_refused():
    z = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zdict=bp.dictionary(bp.AVIF))
    bomb = bytes([bp.AVIF]) + z.compress(bytes(bp.MAX_HEADER + 10)) + z.flush()
    assert len(bomb) < 200
    with pytest.raises(AgdlFormatError, match="longer than"):
        bp.unpack(bomb)


def _records(data: bytes) -> list[int]:
    """The record tags of a 2.0 file, in order."""
    head, records = C._frame_v2(data, "")
    return [tag for tag, _, _ in records]


@pytest.mark.parametrize("base", ["jpeg", "webp", pytest.param("avif", marks=needs_avif)])
def test_encoder_writes_the_packed_record_and_decodes_the_same(base):
    im = _photo()
    data = agdl.encode(im, quality=40, base=base)
    assert C.TAGS[C.PACKED_BASE] in _records(data) and C.TAGS[b"BASE"] not in _records(data)
    cont = C.read_container(data)
    base_bytes = C.chunk_map(cont.chunks)[b"BASE"]
    assert cont.stored[b"BASE"] < len(base_bytes)  # layer_bytes report what the file stores
    assert agdl.read_info(data).layer_bytes["base"] == cont.stored[b"BASE"]
    plain = C.write_container(cont.chunks, pack_base=False)
    assert C.TAGS[b"BASE"] in _records(plain) and len(plain) > len(data)
    a, b = agdl.decode(data), agdl.decode(plain)
    assert np.array_equal(np.asarray(a.to_pil()), np.asarray(b.to_pil()))


def test_the_jpeg_container_keeps_its_jpeg_whole():
    im = _photo()
    jpg = agdl.encode(im, quality=40, container="jpeg")
    assert Image.open(io.BytesIO(jpg)).format == "JPEG"
    back = agdl.decode(jpg)
    assert back.to_pil().size == im.size


def test_base_and_packed_base_together_are_refused():
    data = agdl.encode(_photo(), quality=40)
    cont = C.read_container(data)
    base = C.chunk_map(cont.chunks)[b"BASE"]
    body = bytearray(data[:-4])
    body += bytes([C.TAGS[b"BASE"]]) + bytes([len(base) & 0x7F | 0x80]) + bytes([len(base) >> 7]) + base
    bad = bytes(body) + struct.pack(">I", zlib.crc32(body))
    assert len(base) < 1 << 14
    with pytest.raises(AgdlFormatError, match="duplicate BASE"):
        C.read_container(bad)


def test_packed_base_type_is_not_a_chunk_callers_write():
    with pytest.raises(ValueError, match="BASZ"):
        C.write_container([C.read_container(agdl.encode(_photo(), quality=40)).chunks[0], C.Chunk(b"BASZ", b"\x01")])
