"""The container: magic, chunks, CRC, truncation, unknown chunks, absurd headers."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

import agdl_plugins as agdl
from agdl_plugins import container as C
from agdl_plugins.errors import AgdlFormatError, DecompressionBombError
from agdl_plugins.header import Header


@pytest.fixture(scope="module")
def sample(grey) -> bytes:
    return agdl.encode(
        grey[:40, :56],
        quality=40,
        critical_fraction=0.05,
        predictor="edge-sobel",
        restorer="identity",
        exif=b"Exif\x00\x00MM-test",
    )


def _rechunk(data: bytes, fn) -> bytes:
    chunks = fn(C.parse_container(data))
    return C.write_container(chunks)


def test_magic_and_accept(sample):
    assert sample.startswith(C.MAGIC) and C.accept(sample[:16])
    assert not C.accept(b"\xff\xd8\xff\xe0" + b"\0" * 12)


def test_every_truncation_raises_format_error(sample):
    for cut in range(len(sample)):
        with pytest.raises(AgdlFormatError):
            agdl.read_info(sample[:cut])


def test_crc_mismatch_names_chunk(sample):
    bad = bytearray(sample)
    bad[40] ^= 0x01  # inside HEAD's data
    with pytest.raises(AgdlFormatError, match="CRC mismatch in chunk HEAD"):
        agdl.read_info(bytes(bad))


def test_unknown_critical_chunk_refused(sample):
    data = _rechunk(sample, lambda cs: cs + [C.Chunk(b"ZZZZ", b"x")])
    with pytest.raises(AgdlFormatError, match="ZZZZ"):
        agdl.read_info(data)


def test_unknown_ancillary_chunk_skipped(sample):
    data = _rechunk(sample, lambda cs: cs + [C.Chunk(b"zzzz", b"future")])
    a = agdl.decode(data, device="cpu").array
    b = agdl.decode(sample, device="cpu").array
    assert np.array_equal(a, b)


def test_wrong_major_version(sample):
    bad = bytearray(sample)
    bad[len(C.MAGIC)] = 9
    with pytest.raises(AgdlFormatError, match="version 9"):
        agdl.read_info(bytes(bad))


def test_absurd_size_refused_before_allocation(sample):
    cs = C.parse_container(sample)
    hdr = Header.unpack(cs[0].data)
    hdr.width = hdr.height = 60000  # 3.6 GP: must be refused by max_pixels, not allocated
    hdr.n_critical = hdr.n_measurements = 0
    data = C.write_container([C.Chunk(b"HEAD", hdr.pack())] + cs[1:])
    with pytest.raises(DecompressionBombError):
        agdl.decode(data, device="cpu")
    # without a pixel limit the base layer's real size disagrees with the header: still an error
    with pytest.raises(AgdlFormatError, match="header says"):
        agdl.decode(data, device="cpu", max_pixels=None)


def test_zero_size_and_bad_counts(sample):
    cs = C.parse_container(sample)
    raw = bytearray(cs[0].data)
    struct.pack_into(">I", raw, 0, 0)
    with pytest.raises(AgdlFormatError, match="absurd image size"):
        agdl.read_info(C.write_container([C.Chunk(b"HEAD", bytes(raw))] + cs[1:]))


def test_missing_chunks(sample):
    data = _rechunk(sample, lambda cs: [c for c in cs if c.type != b"REFN"])
    with pytest.raises(AgdlFormatError, match="missing BASE or REFN"):
        agdl.read_info(data)


def test_first_chunk_must_be_head(sample):
    data = _rechunk(sample, lambda cs: cs[1:] + cs[:1])
    with pytest.raises(AgdlFormatError, match="first chunk"):
        agdl.read_info(data)


def test_metadata_and_layer_sizes(sample):
    info = agdl.read_info(sample)
    assert info.exif == b"Exif\x00\x00MM-test" and info.icc_profile is None
    assert info.layer_bytes["total"] == len(sample)
    assert info.layer_bytes["base"] + info.layer_bytes["refinement"] < len(sample)
    assert info.as_dict()["agdl_base_codec"] == "jpeg"


def test_crc_is_zlib_crc32(sample):
    pos = len(C.MAGIC) + 2
    ctype, length = struct.unpack_from(">4sI", sample, pos)
    body = sample[pos + 8 : pos + 8 + length]
    assert struct.unpack_from(">I", sample, pos + 8 + length)[0] == zlib.crc32(ctype + body)
