"""The container: magic, framing, CRC, truncation, unknown chunks, absurd headers - for the 2.0 format the
writer produces and for 1.0 files (the committed golden files), which must keep reading."""

from __future__ import annotations

import dataclasses
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from skimage import data as skdata

import agdl_plugins as agdl
from agdl_plugins.codec.critical import mask_crc
from agdl_plugins.codec.decoder import parsed_layers
from agdl_plugins.errors import AgdlFormatError, DecompressionBombError
from agdl_plugins.format import container as C
from agdl_plugins.format import refn as refn_layer
from agdl_plugins.format._wire import uvarint, zigzag
from agdl_plugins.format.header import PART_CODES, Header, crc32_of_zeros, empty_mask_crc
from agdl_plugins.format.parse import parse_file

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
V1_RGB = GOLDEN / "baseline_rgb_jpeg.agdl"  # written by the 1.0 writer (edge-sobel + identity: fast)

# what the 1.0 reader reported for the committed golden files when they were written (format 1.0)
V1_HEADERS = {
    "baseline_rgb_jpeg": (
        Header(128, 96, "RGB", 30, "jpeg", 1, "edge-sobel", 1, "identity", 1, "structured-dct", 1, 0, 614, 614,
               16.0, 351747223.5, 0.0, 171139587, 0, 0),
        {"base": 1502, "refinement": 164, "alpha": 0, "total": 1825},
    ),
    "learned_rgba_jpeg": (
        Header(128, 96, "RGBA", 20, "jpeg", 1, "agdl-f", 2, "agdl-g", 1, "structured-dct", 1, 0, 614, 614,
               16.0, -1.325165569782257, 0.001325165569782257, 4216589244, 0, 0),
        {"base": 878, "refinement": 120, "alpha": 217, "total": 1380},
    ),
}


@pytest.fixture(scope="module")
def sample(grey) -> bytes:
    return agdl.encode(
        grey[:40, :56],
        quality=40,
        critical_fraction=0.05,
        predictor="edge-sobel",
        restorer="identity",
        base="jpeg",
        exif=b"Exif\x00\x00MM-test",
    )


@pytest.fixture(scope="module")
def v1() -> bytes:
    return V1_RGB.read_bytes()


def _v1_file(chunks: list[C.Chunk]) -> bytes:
    """A 1.0 file (test helper: the library writes 2.0 only). HEAD first, AEND appended."""
    out = bytearray(C.MAGIC + b"\x01\x00")
    for ch in [*chunks, C.Chunk(b"AEND", b"")]:
        out += struct.pack(">4sI", ch.type, len(ch.data)) + ch.data + struct.pack(">I", zlib.crc32(ch.type + ch.data))
    return bytes(out)


def _v2_file(head: bytes, *records: bytes, minor: int = 0) -> bytes:
    """A 2.0 file from a raw compact HEAD and raw records, with a valid CRC (so only the parsing is tested)."""
    body = C.MAGIC + bytes([2, minor]) + uvarint(len(head)) + head + b"".join(records)
    return body + struct.pack(">I", zlib.crc32(body))


def _record(tag: int, payload: bytes) -> bytes:
    return bytes([tag]) + uvarint(len(payload)) + payload


def _rechunk(data: bytes, fn) -> bytes:
    return C.write_container(fn(C.parse_container(data)))


def _head_and_base(sample: bytes) -> tuple[Header, bytes]:
    cm = C.chunk_map(C.parse_container(sample))
    return Header.unpack(cm[b"HEAD"]), cm[b"BASE"]


# ---------------------------------------------------------------- byte diet (issue 12, item 5)


def test_overhead_without_refinement_at_most_48_bytes():
    """No metadata, empty refinement: the file is the base layer plus at most 48 bytes (1.0: ~160)."""
    img = np.ascontiguousarray(skdata.astronaut()[:96, :128])
    for parts in ({}, {"predictor": "edge-sobel", "restorer": "identity"}):
        blob = agdl.encode(img, quality=30, critical_fraction=0, **parts)
        info = agdl.read_info(blob)
        assert info.n_critical == 0 and info.format_version == "2.0"
        assert info.layer_bytes["refinement"] == 0 and info.layer_bytes["alpha"] == 0
        assert len(blob) - info.layer_bytes["base"] <= 48, len(blob) - info.layer_bytes["base"]
        assert agdl.decode(blob, device="cpu").array.shape == img.shape


def test_v1_golden_files_parse_with_their_recorded_header_values():
    for name, (header, layers) in V1_HEADERS.items():
        info = agdl.read_info(GOLDEN / f"{name}.agdl")
        assert info.header == header
        assert info.layer_bytes == layers
        assert info.format_version == "1.0" and info.as_dict()["agdl_format_version"] == "1.0"


def test_v1_file_rewritten_as_v2_is_lossless_and_smaller():
    for name in V1_HEADERS:
        old = (GOLDEN / f"{name}.agdl").read_bytes()
        new = C.write_container(C.parse_container(old))
        assert new[len(C.MAGIC)] == 2 and len(new) < len(old) - 100
        a, b = parse_file(old), parse_file(new)
        assert a.header == b.header and a.info.format_version == "1.0" and b.info.format_version == "2.0"
        assert parsed_layers(a) == parsed_layers(b)
        assert C.parse_container(new) == C.parse_container(old)  # same logical chunks


# ---------------------------------------------------------------- both versions


@pytest.fixture(params=["2.0", "1.0"])
def either(request, sample, v1) -> bytes:
    return sample if request.param == "2.0" else v1


def test_magic_and_accept(sample):
    assert sample.startswith(C.MAGIC) and C.accept(sample[:16])
    assert sample[len(C.MAGIC) : len(C.MAGIC) + 2] == bytes([C.FORMAT_MAJOR, C.FORMAT_MINOR]) == b"\x02\x00"
    assert not C.accept(b"\xff\xd8\xff\xe0" + b"\0" * 12)


def test_every_truncation_raises_format_error(either):
    for cut in range(len(either)):
        with pytest.raises(AgdlFormatError):
            agdl.read_info(either[:cut])


def test_crc_mismatch(sample, v1):
    bad = bytearray(v1)
    bad[40] ^= 0x01  # inside HEAD's data
    with pytest.raises(AgdlFormatError, match="CRC mismatch in chunk HEAD"):
        agdl.read_info(bytes(bad))
    for pos in (20, len(sample) // 2, len(sample) - 1):
        bad = bytearray(sample)
        bad[pos] ^= 0x01
        with pytest.raises(AgdlFormatError, match="CRC mismatch"):
            agdl.read_info(bytes(bad))


def test_truncation_names_the_cut_record(sample):
    with pytest.raises(AgdlFormatError, match=r"truncated .*CRC mismatch \(BAS[EZ] at byte \d+ declares \d+ bytes"):
        agdl.read_info(sample[: len(sample) // 2])


def test_crc_is_zlib_crc32(sample, v1):
    assert struct.unpack(">I", sample[-4:])[0] == zlib.crc32(sample[:-4])  # 2.x: one CRC over everything
    pos = len(C.MAGIC) + 2
    ctype, length = struct.unpack_from(">4sI", v1, pos)
    body = v1[pos + 8 : pos + 8 + length]
    assert struct.unpack_from(">I", v1, pos + 8 + length)[0] == zlib.crc32(ctype + body)


def test_unknown_critical_chunk_refused(sample, v1):
    for data in (_rechunk(sample, lambda cs: cs + [C.Chunk(b"ZZZZ", b"x")]),
                 _v1_file(C.parse_container(v1) + [C.Chunk(b"ZZZZ", b"x")])):
        with pytest.raises(AgdlFormatError, match="ZZZZ"):
            agdl.read_info(data)


def test_unknown_ancillary_chunk_skipped(sample):
    data = _rechunk(sample, lambda cs: cs + [C.Chunk(b"zzzz", b"future")])
    assert C.parse_container(data)[-1] == C.Chunk(b"zzzz", b"future")  # spelled out: tag 0 + type
    a = agdl.decode(data, device="cpu").array
    b = agdl.decode(sample, device="cpu").array
    assert np.array_equal(a, b)


def test_unknown_record_tags(sample):
    hdr, base = _head_and_base(sample)
    head = hdr.pack(major=2)
    ok = _v2_file(head, _record(1, base), _record(0xC7, b"new ancillary"), _record(2, b"\x00\x00"))
    assert agdl.read_info(ok).width == hdr.width  # ancillary tag skipped
    with pytest.raises(AgdlFormatError, match="record tag 0x07, unknown"):
        agdl.read_info(_v2_file(head, _record(1, base), _record(0x07, b"new critical")))


def test_wrong_major_version(either):
    bad = bytearray(either)
    bad[len(C.MAGIC)] = 9
    with pytest.raises(AgdlFormatError, match="version 9.0 .*reads 1.x, 2.x"):
        agdl.read_info(bytes(bad))


def test_newer_minor_version_accepted(sample):
    """Minor versions only add ancillary records: a 2.7 file reads (its CRC covers the version bytes)."""
    body = bytearray(sample[:-4])
    body[len(C.MAGIC) + 1] = 7
    info = agdl.read_info(bytes(body) + struct.pack(">I", zlib.crc32(body)))
    assert info.format_version == "2.7" and info.header == agdl.read_info(sample).header


def test_absurd_size_refused_before_allocation(sample, v1):
    for blob, write in ((sample, C.write_container), (v1, _v1_file)):
        cs = C.parse_container(blob)
        hdr = Header.unpack(cs[0].data)
        hdr.width = hdr.height = 60000  # 3.6 GP: must be refused by max_pixels, not allocated
        hdr.n_critical = hdr.n_measurements = 0
        data = write([C.Chunk(b"HEAD", hdr.pack())] + cs[1:])
        with pytest.raises(DecompressionBombError):
            agdl.decode(data, device="cpu")
        # without a pixel limit the base layer's real size disagrees with the header: still an error
        with pytest.raises(AgdlFormatError, match="header says"):
            agdl.decode(data, device="cpu", max_pixels=None)


def test_zero_size_and_bad_counts(sample, v1):
    cs = C.parse_container(v1)
    raw = bytearray(cs[0].data)
    struct.pack_into(">I", raw, 0, 0)
    bad_head = C.Chunk(b"HEAD", bytes(raw))
    with pytest.raises(AgdlFormatError, match="absurd image size"):
        agdl.read_info(_v1_file([bad_head] + cs[1:]))
    with pytest.raises(ValueError, match="absurd image size"):  # the writer never frames a bad HEAD
        C.write_container([bad_head] + cs[1:])
    hdr, base = _head_and_base(sample)
    for change, msg in (({"width": 0}, "absurd image size"), ({"n_measurements": hdr.n_critical + 1}, "impossible"),
                        ({"quant_scheme": 3}, "quantiser scheme 3"), ({"entropy_coder": 9}, "entropy coder 9")):
        head = dataclasses.replace(hdr, **change).pack(major=2)
        with pytest.raises(AgdlFormatError, match=msg):
            agdl.read_info(_v2_file(head, _record(1, base)))


def test_missing_chunks(sample, v1):
    with pytest.raises(AgdlFormatError, match="missing BASE or REFN"):
        agdl.read_info(_v1_file([c for c in C.parse_container(v1) if c.type != b"REFN"]))
    with pytest.raises(AgdlFormatError, match="missing BASE or REFN"):
        agdl.read_info(_rechunk(sample, lambda cs: [c for c in cs if c.type != b"BASE"]))
    # 2.x leaves an empty REFN out; a file that needs measurements and has none fails on decode
    no_refn = _rechunk(sample, lambda cs: [c for c in cs if c.type != b"REFN"])
    assert agdl.read_info(no_refn).layer_bytes["refinement"] == 0
    with pytest.raises(AgdlFormatError, match="measurement stream"):
        agdl.decode(no_refn, device="cpu")


def test_first_chunk_must_be_head(sample, v1):
    with pytest.raises(AgdlFormatError, match="first chunk"):
        agdl.read_info(_v1_file(C.parse_container(v1)[1:] + C.parse_container(v1)[:1]))
    with pytest.raises(ValueError, match="first chunk must be HEAD"):
        _rechunk(sample, lambda cs: cs[1:] + cs[:1])


def test_writer_refuses_what_no_reader_accepts(sample):
    cs = C.parse_container(sample)
    for bad in (cs + [cs[1]], cs + [C.Chunk(b"AEND", b"")], cs + [cs[0]], [cs[0], C.Chunk(b"BA E", b"")]):
        with pytest.raises(ValueError):
            C.write_container(bad)
    for refn in (b"\x00" * 7, struct.pack(">II", 0, 50) + b"x", struct.pack(">II", 0, 0) + b"\x00" * 11):
        with pytest.raises(ValueError, match="REFN"):
            C.write_container([c if c.type != b"REFN" else C.Chunk(b"REFN", refn) for c in cs])


def test_metadata_and_layer_sizes(sample):
    info = agdl.read_info(sample)
    assert info.exif == b"Exif\x00\x00MM-test" and info.icc_profile is None
    assert info.layer_bytes["total"] == len(sample)
    assert info.layer_bytes["base"] + info.layer_bytes["refinement"] < len(sample)
    assert info.as_dict()["agdl_base_codec"] == "jpeg"
    assert info.format_version == "2.0" and info.as_dict()["agdl_format_version"] == "2.0"


def test_refn_record_is_compact_and_exact(sample):
    refn = C.chunk_map(C.parse_container(sample))[b"REFN"]
    stored = refn_layer.to_stored(refn)
    assert refn_layer.from_stored(stored) == refn
    assert len(stored) <= len(refn) - 8 and agdl.read_info(sample).layer_bytes["refinement"] == len(stored)
    for logical in (C.EMPTY_REFN, struct.pack(">IIfii", 0, 0, 1.5, -(2**31), 2**31 - 1) + b"abcd",
                    struct.pack(">II", 3, 2) + b"zz" + struct.pack(">fii", float("nan"), 7, -7)):
        assert refn_layer.from_stored(refn_layer.to_stored(logical)) == logical


# ---------------------------------------------------------------- 2.x HEAD and varints


_HEADERS = [
    Header(128, 96, "RGB", 30, "jpeg", 1, "agdl-f", 2, "agdl-g", 2, "identity", 1, 0, 0, 0, 16.0, math.inf, 0.0,
           empty_mask_crc(128, 96)),
    Header(1, 1, "L", 0, "webp", 0, "edge-sobel", 65535, "identity", 1, "gaussian", 1, 2**64 - 1, 1, 1, 0.5,
           -math.inf, 0.0, 0),
    Header(65536, 65536, "RGBA", 255, "my-codec", 3, "x" * 64, 7, "agdl-g", 1, "structured-dct", 1, 12345,
           2**32 - 1, 2**31, 0.25, 0.125, 2.5e-4, 0xFFFFFFFF),
    Header(100, 80, "LA", 55, "jpeg-saliency", 2, "agdl-f", 2, "agdl-g", 1, "structured-dct", 1, 0, 400, 0, 16.0,
           410602577.5, -0.0, 5),
]


@pytest.mark.parametrize("hdr", _HEADERS)
def test_head_compact_roundtrip(hdr):
    compact = hdr.pack(major=2)
    back = Header.unpack(compact, major=2)
    assert back == hdr and back.pack() == hdr.pack()  # bit-exact, -0.0 included
    assert len(compact) < len(hdr.pack())


def test_head_of_an_empty_refinement_is_short():
    assert len(_HEADERS[0].pack(major=2)) <= 14  # flags, size, quality, four coded part ids


def test_empty_mask_crc_without_allocating():
    for n in (0, 1, 7, 8, 9, 1000, 12345):
        assert crc32_of_zeros(n) == zlib.crc32(bytes(n))
    assert empty_mask_crc(13, 5) == mask_crc(np.zeros((5, 13), bool))
    # 512 MiB and 143 MiB of zeros, computed in O(log n); the constants are zlib.crc32 of those zero bytes,
    # streamed in 16 MiB chunks (crc32(chunk, running) over (w*h+7)//8 bytes)
    assert empty_mask_crc(65536, 65536) == 0x6DB88320
    assert empty_mask_crc(40000, 30001) == 0xDE213D31


def test_head_varints_refused_when_malformed():
    good = _HEADERS[0].pack(major=2)
    cases = {
        b"\xff" * 6 + good[1:]: "flags in HEAD overflows 32 bits",
        b"\x81\x00" + good[1:]: "padded varint",
        good[:1] + b"\xff\xff\xff\xff\x7f" + good[3:]: "width in HEAD overflows",
        uvarint(good[0] | 1 << 11) + good[1:]: "fields unknown to this reader",
        good + b"\x00": "stray bytes",
        good[:-1]: "HEAD is too short",
        good[:5] + b"\x63" + good[6:]: "part-id code 99",
        good[:5] + b"\x00\x02\xff\xfe" + good[6:]: "non-ASCII part id",
    }
    for raw, msg in cases.items():
        with pytest.raises(AgdlFormatError, match=msg):
            Header.unpack(raw, major=2)
    with pytest.raises(AgdlFormatError, match="seed in HEAD overflows 64 bits"):
        Header.unpack(bytes([good[0] | 4]) + good[1:] + b"\xff" * 9 + b"\x02", major=2)


def test_framing_varints_refused_when_malformed(sample):
    hdr, base = _head_and_base(sample)
    head = hdr.pack(major=2)
    body = C.MAGIC + b"\x02\x00" + b"\xff" * 5 + head
    cases = {
        body + struct.pack(">I", zlib.crc32(body)): "HEAD length in record list overflows",
        _v2_file(head, b"\x01" + b"\xff" * 5 + base): "length of BASE .* overflows",
        _v2_file(head, _record(1, base), b"\x02\x80\x80\x80\x80\x10"): "length of REFN .* overflows",
        _v2_file(head, _record(1, base), b"\x02\x05\x00\x00"): "REFN at byte \\d+ declares 5 bytes, only 2 remain",
        _v2_file(head, _record(1, base), _record(2, b"\xff\xff\xff\xff\x7f\x00")): "guard-band count in REFN",
        _v2_file(head, _record(1, base), _record(2, b"\x00\x00abcd" + b"\xff" * 5)): "qmin in REFN record overflows",
        _v2_file(head, _record(1, base), _record(2, b"\x00\x00abc")): "REFN record is too short",
        _v2_file(head, _record(1, base), b"\x00BA!E\x00"): "invalid chunk type",
        _v2_file(head, _record(1, base), _record(1, base)): "duplicate BASE",
        _v2_file(head, _record(1, base), b"\x00AEND\x00"): "AEND record",
        _v2_file(head, _record(1, base), b"\x00HEAD\x00"): "duplicate HEAD",
        _v2_file(b"", _record(1, base)): "HEAD is too short",
        C.MAGIC + b"\x02\x00\x00": "truncated",
    }
    for blob, msg in cases.items():
        with pytest.raises(AgdlFormatError, match=msg):
            agdl.read_info(blob)
    zz = uvarint(zigzag(-5)) + uvarint(zigzag(2**31 - 1))
    refn = refn_layer.from_stored(b"\x00\x00" + struct.pack(">f", 2.0) + zz + b"wxyz")
    assert refn == struct.pack(">IIfii", 0, 0, 2.0, -5, 2**31 - 1) + b"wxyz"


def test_part_codes_are_append_only():
    """Codes are in every 2.x file: never reorder or drop one (docs/FORMAT.md)."""
    assert PART_CODES[:14] == ("jpeg", "webp", "avif", "jpeg2000", "jpeg-saliency", "agdl-f", "edge-sobel",
                               "agdl-g", "identity", "structured-dct", "gaussian", "agdl-g-webp-avif", "roi-edge",
                               "agdl-g-lite")
    assert C.TAGS == {b"BASE": 1, b"REFN": 2, b"ALPH": 3, b"ROIM": 4, b"BASZ": 5,
                      b"eXIf": 0x81, b"iCCP": 0x82, b"xmPP": 0x83}
