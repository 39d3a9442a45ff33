"""AGDL inside JPEG (``container="jpeg"``, agdl_plugins/format/jpeg_container.py, docs/FORMAT.md "AGDL inside JPEG").

A standard baseline JPEG that every decoder opens (checked with Pillow and OpenCV), whose APP11 segments
carry the rest of the .agdl file: refined pixels equal the .agdl decode of the same encode; metadata sits
where JPEG keeps it, once; stripped, re-encoded, edited or damaged files never decode to a wrong image.
"""

from __future__ import annotations

import io
import struct
import time
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms

import agdl_plugins as agdl
from agdl_plugins.apps.cli import main as cli_main
from agdl_plugins.errors import AgdlFallbackWarning, AgdlFormatError
from agdl_plugins.format import container as C
from agdl_plugins.format import jpeg_container as J

FAST = {"quality": 30, "critical_fraction": 0.08, "step": 8.0, "predictor": "edge-sobel", "restorer": "identity",
        "base": "jpeg"}
MAX_SECONDS = 2.0


def _exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "AGDL test camera"  # Make
    exif[0x0112] = 1  # Orientation
    return exif.tobytes()


ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'


@pytest.fixture(scope="module")
def agdl_meta(photo) -> bytes:
    """A .agdl file with refinement and EXIF/ICC/XMP (fast classical parts)."""
    return agdl.encode(photo, **FAST, exif=_exif(), icc_profile=ICC, xmp=XMP)


@pytest.fixture(scope="module")
def jpg_meta(agdl_meta) -> bytes:
    return J.wrap(agdl_meta)


@pytest.fixture(scope="module")
def agdl_plain(photo) -> bytes:
    return agdl.encode(photo, **FAST)


@pytest.fixture(scope="module")
def jpg_plain(agdl_plain) -> bytes:
    return J.wrap(agdl_plain)


@pytest.fixture(scope="module")
def refined(agdl_meta) -> np.ndarray:
    return agdl.decode(agdl_meta, device="cpu").array


def _base(agdl_bytes: bytes) -> bytes:
    return C.chunk_map(C.parse_container(agdl_bytes))[b"BASE"]


def _pil(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "JPEG"
        return np.asarray(im.convert("RGB"))


def _header_segments(data: bytes) -> list[tuple[int | None, bytes]]:
    """(marker, whole segment bytes) up to the first SOS."""
    out = []
    for s in J._walk(data):
        if s.marker == J.SOS:
            break
        out.append((s.marker, data[s.start : s.end]))
    return out


def _without(data: bytes, drop) -> bytes:
    """``data`` without the header segments (before the first SOS) for which ``drop(marker, body)`` is true."""
    sos, out = _sos(data), bytearray()
    for s in J._walk(data):
        if s.marker not in (None, 0xD8) and s.start < sos and drop(s.marker, data[s.body : s.end]):
            continue
        out += data[s.start : s.end]
    return bytes(out)


def _sos(data: bytes) -> int:
    return next(s.start for s in J._walk(data) if s.marker == J.SOS)


def _is_agdl(marker: int, body: bytes) -> bool:
    return marker == J.APP11 and body.startswith(J.IDENT)


def _agdl_bodies(data: bytes) -> list[bytes]:
    return [seg[4:] for m, seg in _header_segments(data) if m == J.APP11 and seg[4:].startswith(J.IDENT)]


def _with_agdl_segments(data: bytes, segments: bytes) -> bytes:
    """``data`` with its AGDL APP11 segments replaced by ``segments`` (raw bytes), right after SOI/APP0."""
    stripped = _without(data, _is_agdl)
    first = _header_segments(stripped)[1]
    at = 2 + (len(first[1]) if first[0] == J.APP0 else 0)
    return stripped[:at] + segments + stripped[at:]


def _app11(body: bytes) -> bytes:
    return b"\xff\xeb" + struct.pack(">H", len(body) + 2) + body


def _decode_warns(data: bytes) -> agdl.DecodedImage:
    with pytest.warns(AgdlFallbackWarning):
        return agdl.decode(data, device="cpu")


# -- writing ---------------------------------------------------------------------------------------------------


def test_encode_option_writes_the_wrapped_agdl_file(photo, agdl_plain):
    data = agdl.encode(photo, **FAST, container="jpeg")
    assert data == J.wrap(agdl_plain)
    assert data[:4] == b"\xff\xd8\xff\xe0"  # SOI, APP0 JFIF: a baseline JPEG as libjpeg wrote it
    markers = [m for m, _ in _header_segments(data)]
    assert markers[:3] == [0xD8, J.APP0, J.APP11]  # the AGDL segments come before DQT
    assert 0xDB in markers and markers.index(0xDB) > markers.index(J.APP11)


def test_base_layer_is_kept_byte_for_byte(jpg_meta, agdl_meta):
    base = _base(agdl_meta)
    assert J.split(jpg_meta).base == base
    stripped = _without(jpg_meta, lambda m, b: m in (J.APP1, J.APP2, J.APP11))
    assert stripped == base


def test_unwrap_gives_back_the_agdl_file(jpg_meta, agdl_meta, jpg_plain, agdl_plain):
    assert J.unwrap(jpg_meta).agdl == agdl_meta
    assert J.unwrap(jpg_plain).agdl == agdl_plain


def test_refined_pixels_equal_the_agdl_decode(jpg_meta, agdl_meta, refined):
    out = agdl.decode(jpg_meta, device="cpu")
    np.testing.assert_array_equal(out.array, refined)
    assert out.mode == "RGB" and out.info.container == "jpeg" and not out.info.fallback
    info = agdl.read_info(jpg_meta)
    assert info.layer_bytes["total"] == len(jpg_meta)
    assert info.layer_bytes["base"] == len(_base(agdl_meta))
    assert info.as_dict()["agdl_container"] == "jpeg" and info.format_version == "2.0"
    assert "agdl_container" not in agdl.read_info(agdl_meta).as_dict()


def test_refined_pixels_with_the_trained_networks(photo):
    """Default parts (F and G): the JPEG decodes exactly as the .agdl file of the same encode."""
    opts = {"quality": 25, "critical_fraction": 0.05, "step": 8.0, "device": "cpu"}
    a = agdl.encode(photo, **opts)
    j = agdl.encode(photo, **opts, container="jpeg")
    assert J.unwrap(j).agdl == a
    np.testing.assert_array_equal(agdl.decode(j, device="cpu").array, agdl.decode(a, device="cpu").array)


def test_jpeg_saliency_base_and_alpha(photo):
    rgba = np.dstack([photo, np.tile(np.arange(photo.shape[1], dtype=np.uint8), (photo.shape[0], 1))])
    a = agdl.encode(rgba, **{**FAST, "base": "jpeg-saliency"})
    j = J.wrap(a)
    out = agdl.decode(j, device="cpu")
    assert out.mode == "RGBA"
    np.testing.assert_array_equal(out.array, agdl.decode(a, device="cpu").array)
    assert _pil(j).shape == photo.shape  # plain readers: the colour, without alpha


def _unpacked(agdl_bytes: bytes) -> bytes:
    """The same .agdl file with its base layer in a plain BASE record (as the .jpg holds it)."""
    return C.write_container(C.parse_container(agdl_bytes), pack_base=False)


def test_size_at_most_one_percent_plus_64_bytes(jpg_plain, agdl_plain, jpg_meta, agdl_meta):
    for j, a in ((jpg_plain, agdl_plain), (jpg_meta, agdl_meta)):
        assert len(j) <= 1.01 * len(_unpacked(a)) + 64, (len(j), len(a))
        # the .agdl file packs the JPEG's header (BASZ); the .jpg cannot
        assert len(a) < len(_unpacked(a)) - 100
    assert len(jpg_plain) - len(_unpacked(agdl_plain)) <= 32  # APP11 frame 18 + hash 8 - BASE record frame


def test_large_payload_is_split_into_segments(rng_alpha_image):
    a = agdl.encode(rng_alpha_image, **FAST)
    j = J.wrap(a)
    bodies = _agdl_bodies(j)
    assert len(bodies) >= 2
    assert all(len(b) <= J.MAX_SEGMENT_BODY for b in bodies)
    assert [struct.unpack_from(">H", b, 6)[0] for b in bodies] == list(range(1, len(bodies) + 1))
    np.testing.assert_array_equal(agdl.decode(j, device="cpu").array, agdl.decode(a, device="cpu").array)
    np.testing.assert_array_equal(_pil(j), _pil(_base(a)))
    assert len(j) <= 1.01 * len(_unpacked(a)) + 64


@pytest.fixture(scope="module")
def rng_alpha_image() -> np.ndarray:
    """RGBA with a noise alpha plane: an ALPH record over 64 KB, so the payload needs several segments."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:300, :320]
    rgb = np.dstack([(xx * 255 // 320), (yy * 255 // 300), ((xx + yy) % 256)]).astype(np.uint8)
    return np.dstack([rgb, rng.integers(0, 256, (300, 320), dtype=np.uint8)])


# -- any decoder reads it ------------------------------------------------------------------------------------------


def test_pillow_reads_the_base_layer(jpg_meta, agdl_meta):
    with Image.open(io.BytesIO(jpg_meta)) as im:
        assert im.format == "JPEG" and im.size == (128, 96)
        px = np.asarray(im)
    np.testing.assert_array_equal(px, _pil(_base(agdl_meta)))
    base_only = agdl.decode(jpg_meta, base_only=True).array  # AGDL's base path: YCbCr -> RGB by Pillow
    assert np.abs(px.astype(int) - base_only).max() <= 2


def test_opencv_reads_it_as_pillow_does(jpg_meta, agdl_meta):
    """An independent JPEG decoder (OpenCV's own libjpeg build) sees the base layer, as Pillow does."""
    import cv2  # in the [test] extra: a missing OpenCV fails instead of skipping

    cv2.setNumThreads(1)
    bgr = cv2.imdecode(np.frombuffer(jpg_meta, np.uint8), cv2.IMREAD_COLOR)
    assert bgr is not None and bgr.shape == (96, 128, 3)
    rgb = bgr[..., ::-1].astype(int)
    assert np.abs(rgb - _pil(jpg_meta)).max() <= 2  # IDCT / upsampling implementations may differ by 1-2
    base_cv = cv2.imdecode(np.frombuffer(_base(agdl_meta), np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(bgr, base_cv)  # the APP segments change nothing for it
    assert np.abs(rgb - agdl.decode(jpg_meta, base_only=True).array).max() <= 2


def test_base_only_and_preview_read_the_base(jpg_meta, agdl_meta):
    np.testing.assert_array_equal(
        agdl.decode_base_preview(jpg_meta).array, agdl.decode_base_preview(agdl_meta).array
    )
    with Image.open(io.BytesIO(jpg_meta)) as im:  # the plain-JPEG path: Pillow's DCT-scaled draft
        im.draft("RGB", (64, 48))
        assert im.size == (64, 48)
        im.load()


# -- metadata ----------------------------------------------------------------------------------------------------


def test_metadata_where_jpeg_keeps_it_once(jpg_meta):
    with Image.open(io.BytesIO(jpg_meta)) as im:
        assert im.info["exif"] == _exif()
        assert im.info["icc_profile"] == ICC
        assert im.info["xmp"] == XMP
        assert im.getexif()[0x010F] == "AGDL test camera"
    assert jpg_meta.count(ICC) == 1 and jpg_meta.count(XMP) == 1 and jpg_meta.count(_exif()[6:]) == 1
    payload = b"".join(b[J._SEG.size :] for b in _agdl_bodies(jpg_meta))
    types = {c.type for c in C.parse_container(payload[J.HASH_BYTES :])}
    assert not types & {C.EXIF, C.ICC, C.XMP, b"BASE"}
    info = agdl.read_info(jpg_meta)
    assert (info.exif, info.icc_profile, info.xmp) == (_exif(), ICC, XMP)


def test_exif_without_prefix_gets_the_jpeg_one(photo):
    raw = _exif()[6:]  # TIFF bytes only
    j = agdl.encode(photo, **FAST, exif=raw, container="jpeg")
    with Image.open(io.BytesIO(j)) as im:
        assert im.info["exif"] == b"Exif\0\0" + raw
    assert agdl.read_info(j).exif == b"Exif\0\0" + raw


def test_large_icc_profile_in_several_app2_chunks(photo):
    icc = ICC + bytes(200_000)  # not a valid profile, but JPEG and AGDL carry it byte for byte
    a = agdl.encode(photo, **FAST, icc_profile=icc)
    j = J.wrap(a)
    assert sum(1 for m, s in _header_segments(j) if m == J.APP2) == 4
    with Image.open(io.BytesIO(j)) as im:
        assert im.info["icc_profile"] == icc
    assert J.unwrap(j).agdl == a
    assert len(j) <= 1.01 * len(a) + 64


def test_metadata_edits_keep_the_refinement(jpg_meta, refined):
    """EXIF/XMP/ICC are outside the base hash: a tool that rewrites or drops them keeps the refinement."""
    new_exif = Image.Exif()
    new_exif[0x010F] = "edited"
    edited = _without(jpg_meta, lambda m, b: m in (J.APP1, J.APP2))
    at = len(_header_segments(edited)[1][1]) + 2
    app1 = b"\xff\xe1" + struct.pack(">H", len(new_exif.tobytes()) + 2) + new_exif.tobytes()
    edited = edited[:at] + app1 + edited[at:]
    edited = edited[:2] + b"\xff\xfe\x00\x07hello" + edited[2:]  # and a COM segment
    with warnings.catch_warnings():
        warnings.simplefilter("error", AgdlFallbackWarning)
        out = agdl.decode(edited, device="cpu")
    np.testing.assert_array_equal(out.array, refined)
    assert out.info.exif == new_exif.tobytes() and out.info.icc_profile is None and out.info.xmp is None


# -- stripping, tampering, damage ----------------------------------------------------------------------------------


def test_stripped_app11_is_a_plain_jpeg(jpg_meta, agdl_meta):
    stripped = _without(jpg_meta, _is_agdl)
    np.testing.assert_array_equal(_pil(stripped), _pil(_base(agdl_meta)))
    with pytest.raises(AgdlFormatError, match="plain JPEG without AGDL"):
        agdl.read_info(stripped)
    with pytest.raises(AgdlFormatError, match="plain JPEG without AGDL"):
        agdl.decode(stripped)
    everything = _without(jpg_meta, lambda m, b: 0xE0 <= m <= 0xEF)  # jpegtran -copy none / exiftool -all=
    assert _pil(everything).shape == (96, 128, 3)
    with pytest.raises(AgdlFormatError):
        agdl.decode(everything)
    with pytest.raises(AgdlFormatError, match="plain JPEG"):
        agdl.decode(_base(agdl_meta))
    assert not J.has_segments(stripped) and J.has_segments(jpg_meta)


def test_reencoded_base_falls_back_to_the_jpeg(jpg_meta, refined):
    """A tool that re-encodes the pixels but keeps the APP segments: the base hash catches it."""
    with Image.open(io.BytesIO(jpg_meta)) as im:
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=90)
    reencoded = _with_agdl_segments(buf.getvalue(), b"".join(_app11(b) for b in _agdl_bodies(jpg_meta)))
    assert J.has_segments(reencoded)
    out = _decode_warns(reencoded)
    assert "re-encoded or edited" in out.info.fallback and out.info.as_dict()["agdl_fallback"]
    assert np.abs(out.array.astype(int) - _pil(reencoded)).max() <= 2  # the JPEG as every decoder shows it
    assert not np.array_equal(out.array, refined)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AgdlFallbackWarning)  # strict callers: the fallback is an error
        with pytest.raises(AgdlFallbackWarning):
            agdl.decode(reencoded)


def test_edited_image_data_falls_back(jpg_meta, refined):
    ecs = next(s for s in J._walk(jpg_meta) if s.marker is None)  # entropy-coded data
    bad = bytearray(jpg_meta)
    pos = next(p for p in range((ecs.start + ecs.end) // 2, ecs.end) if bad[p - 1] != 0xFF and bad[p] < 0xFE)
    bad[pos] ^= 0x01  # neither makes nor breaks an FF marker or its stuffing
    out = _decode_warns(bytes(bad))
    assert "re-encoded or edited" in out.info.fallback
    assert out.array.shape == refined.shape and out.mode == "RGB"


def _resegment(bodies: list[bytes], **changes) -> list[bytes]:
    out = []
    for i, b in enumerate(bodies):
        ident, ver, seq, count, crc = J._SEG.unpack_from(b)
        vals = {"ver": ver, "seq": seq, "count": count, "crc": crc}
        vals.update({k: v(i, vals[k]) if callable(v) else v for k, v in changes.items()})
        out.append(J._SEG.pack(ident, vals["ver"], vals["seq"], vals["count"], vals["crc"]) + b[J._SEG.size :])
    return out


@pytest.fixture(scope="module")
def two_segment_jpg(rng_alpha_image) -> bytes:
    return J.wrap(agdl.encode(rng_alpha_image, **FAST))


DAMAGE = {  # name: (damage to the list of APP11 bodies, the reason reported)
    "crc-mismatch": (lambda bs: [bs[0][:-1] + bytes([bs[0][-1] ^ 1]), *bs[1:]], "CRC mismatch"),
    "missing-segment": (lambda bs: bs[:-1], "incomplete"),
    "duplicate-segment": (lambda bs: [*bs, bs[-1]], "duplicate"),
    "wrong-count": (lambda bs: _resegment(bs, count=lambda i, c: c + 1), "incomplete"),
    "seq-zero": (lambda bs: _resegment(bs, seq=lambda i, s: s - 1), "incomplete"),
    "seq-swapped-labels": (lambda bs: _resegment(bs, seq=lambda i, s: len(bs) - i), "CRC mismatch"),
    "cut-segment": (lambda bs: [bs[0][:9], *bs[1:]], "cut short"),
    "newer-version": (lambda bs: _resegment(bs, ver=2), "version 2"),
    "crc-field-disagrees": (lambda bs: _resegment(bs, crc=lambda i, c: c ^ i), "disagree"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_segments_fall_back_to_the_base_layer(two_segment_jpg, damage):
    bodies = _agdl_bodies(two_segment_jpg)
    assert len(bodies) >= 2
    mangle, reason = DAMAGE[damage]
    bad = _with_agdl_segments(two_segment_jpg, b"".join(_app11(b) for b in mangle(bodies)))
    out = _decode_warns(bad)
    assert reason in out.info.fallback and out.info.container == "jpeg"
    np.testing.assert_array_equal(out.array, agdl.decode(two_segment_jpg, base_only=True).array[..., :3])
    with pytest.warns(AgdlFallbackWarning, match=reason):
        assert agdl.read_info(bad).fallback


def test_segments_out_of_order_are_fine(two_segment_jpg):
    bodies = _agdl_bodies(two_segment_jpg)
    swapped = _with_agdl_segments(two_segment_jpg, b"".join(_app11(b) for b in bodies[::-1]))
    with warnings.catch_warnings():
        warnings.simplefilter("error", AgdlFallbackWarning)
        assert agdl.read_info(swapped).mode == "RGBA"


def test_segments_of_another_file_fall_back(jpg_meta, jpg_plain, photo):
    other = agdl.encode(np.ascontiguousarray(photo[:, ::-1]), **FAST, container="jpeg")
    grafted = _with_agdl_segments(jpg_plain, b"".join(_app11(b) for b in _agdl_bodies(other)))
    assert "re-encoded or edited" in _decode_warns(grafted).info.fallback


def test_forged_payload_with_recomputed_crc_is_checked_by_the_container(jpg_plain):
    payload = b"".join(b[J._SEG.size :] for b in _agdl_bodies(jpg_plain))
    bad = bytearray(payload)
    bad[J.HASH_BYTES + 14] ^= 0x20  # inside the container: its own CRC catches it
    forged = _with_agdl_segments(jpg_plain, J.agdl_segments(bytes(bad)))
    assert "payload unreadable" in _decode_warns(forged).info.fallback


def test_missing_part_falls_back(jpg_plain):
    """A payload naming a part this reader lacks (a plugin restorer): the JPEG, not an error."""
    payload = b"".join(b[J._SEG.size :] for b in _agdl_bodies(jpg_plain))
    chunks = C.parse_container(payload[J.HASH_BYTES :])
    from agdl_plugins.format.header import Header

    h = Header.unpack(chunks[0].data)
    h.restorer = "no-such-restorer"
    chunks[0] = C.Chunk(b"HEAD", h.pack())
    forged = _with_agdl_segments(jpg_plain, J.agdl_segments(payload[: J.HASH_BYTES] + C.write_container(chunks)))
    assert "no-such-restorer" in _decode_warns(forged).info.fallback


# -- errors --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("base", ["webp", "jpeg2000"])
def test_non_jpeg_bases_are_refused(photo, base):
    with pytest.raises(ValueError, match="needs a JPEG base layer"):
        agdl.validate_encode_options(base=base, container="jpeg")
    with pytest.raises(ValueError, match="needs a JPEG base layer"):
        agdl.encode(photo, base=base, container="jpeg")
    with pytest.raises(ValueError, match="container must be"):
        agdl.validate_encode_options(container="png")
    with pytest.raises(ValueError, match="JPEG base layer"):
        J.wrap(agdl.encode(photo, **{**FAST, "base": "webp"}))


def test_metadata_too_long_for_jpeg_is_refused_before_encoding(photo, monkeypatch):
    import agdl_plugins.codec.rdo_search as enc

    monkeypatch.setattr(enc, "encode_image", lambda *a, **k: pytest.fail("encoded before checking metadata"))
    with pytest.raises(ValueError, match="EXIF data is too long"):
        agdl.encode(photo, **FAST, exif=b"Exif\0\0" + bytes(70_000), container="jpeg")
    with pytest.raises(ValueError, match="XMP data is too long"):
        agdl.encode(photo, **FAST, xmp=bytes(70_000), container="jpeg")


# -- fuzzing -------------------------------------------------------------------------------------------------------


def _decode_checked(blob: bytes, refined_px: np.ndarray) -> None:
    """An image of the declared size (the refined one unless a fallback was announced) or a documented error.

    The only documented error for bad bytes is ``AgdlFormatError`` (jpeg_container.parse_info, docs/FORMAT.md);
    anything else (a bare ValueError, struct.error, IndexError, ...) propagates and fails the test.
    """
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = agdl.decode(blob, device="cpu", max_pixels=1 << 22)
        except AgdlFormatError:
            out = None
    assert time.perf_counter() - t0 < MAX_SECONDS  # bounded time, whether it decoded or raised
    if out is None:
        return
    assert out.array.shape[:2] == (out.info.height, out.info.width)
    fell_back = any(issubclass(w.category, AgdlFallbackWarning) for w in caught)
    assert fell_back == bool(out.info.fallback)
    if not fell_back:  # never a wrong refined image
        np.testing.assert_array_equal(out.array, refined_px)


def test_every_truncation_is_an_error(jpg_meta):
    for cut in range(0, len(jpg_meta), 5):
        with pytest.raises(AgdlFormatError):
            agdl.read_info(jpg_meta[:cut])


def test_every_single_byte_flip_in_the_agdl_segments(jpg_plain, plain_refined):
    """Every byte of the APP11 segment flipped, the tampered file decoded: never the refined image.

    As documented (jpeg_container module docstring, docs/FORMAT.md "AGDL inside JPEG"): once the segment is
    still recognised as AGDL (version, seq, count, CRC or payload damaged), the decode falls back to the JPEG as
    it is, base layer only, with an ``AgdlFallbackWarning``; damage to the JPEG framing (marker, length) or to
    the "AGDL\\0" identifier leaves no usable AGDL segment: ``AgdlFormatError`` or the same fallback.
    """
    seg = next(s for s in J._walk(jpg_plain) if s.marker == J.APP11)
    base_px = agdl.decode(jpg_plain, base_only=True).array
    assert not np.array_equal(base_px, plain_refined)  # else a fallback could not be told from a refined decode
    ident = range(seg.body, seg.body + len(J.IDENT))  # marker and length come before it
    rng = np.random.default_rng(1)
    fallbacks = errors = 0
    for pos in range(seg.start, seg.end):
        bad = bytearray(jpg_plain)
        bad[pos] ^= int(rng.integers(1, 256))
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                out = agdl.decode(bytes(bad), device="cpu")
            except AgdlFormatError as e:
                out, err = None, str(e)
        assert time.perf_counter() - t0 < MAX_SECONDS
        if out is None:
            assert pos < seg.body + len(J.IDENT), f"byte {pos} (a recognised AGDL segment) flipped: error {err!r}"
            if pos in ident:
                assert "not an AGDL file" in err
            errors += 1
            continue
        warned = [w for w in caught if issubclass(w.category, AgdlFallbackWarning)]
        assert warned and out.info.fallback, f"byte {pos} flipped and still refined, without a fallback warning"
        assert out.info.fallback in str(warned[0].message)
        np.testing.assert_array_equal(out.array, base_px, err_msg=f"byte {pos}: fallback is not the base layer")
        fallbacks += 1
    assert fallbacks >= seg.end - seg.body - len(J.IDENT) and errors >= len(J.IDENT)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_file_mutations(jpg_plain, plain_refined, draw):
    """Overwrite, insert or delete bytes anywhere in the file (header segments, APP11, image data)."""
    body = bytearray(jpg_plain)
    sos = _sos(jpg_plain)
    for _ in range(draw.draw(st.integers(1, 4))):
        hi = sos + 40 if draw.draw(st.booleans()) else len(body) - 1  # mostly the header segments
        pos = draw.draw(st.integers(2, min(hi, len(body) - 1)))
        op = draw.draw(st.sampled_from(["set", "insert", "delete"]))
        if op == "set":
            body[pos] = draw.draw(st.integers(0, 255))
        elif op == "insert":
            body[pos:pos] = bytes([draw.draw(st.integers(0, 255))])
        elif len(body) > 4:
            del body[pos]
    if draw.draw(st.booleans()):
        body = body[: draw.draw(st.integers(0, len(body)))]
    _decode_checked(bytes(body), plain_refined)


@pytest.fixture(scope="module")
def plain_refined(jpg_plain) -> np.ndarray:
    return agdl.decode(jpg_plain, device="cpu").array


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_segment_field_mutations(two_segment_jpg, draw):
    """The APP11 framing under attack, CRC recomputed or not: identifiers, versions, seq/count, lengths."""
    bodies = [bytearray(b) for b in _agdl_bodies(two_segment_jpg)]
    for _ in range(draw.draw(st.integers(1, 4))):
        i = draw.draw(st.integers(0, len(bodies) - 1))
        pos = draw.draw(st.integers(0, min(len(bodies[i]) - 1, 40)))
        bodies[i][pos] = draw.draw(st.integers(0, 255))
    if draw.draw(st.booleans()):
        bodies = [bodies[j] for j in draw.draw(st.permutations(range(len(bodies))))][: draw.draw(st.integers(0, 3))]
    blob = _with_agdl_segments(two_segment_jpg, b"".join(_app11(bytes(b)) for b in bodies))
    t0 = time.perf_counter()
    info = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AgdlFallbackWarning)
        try:
            info = agdl.read_info(blob)
        except AgdlFormatError:  # the documented error; anything else fails the test
            pass
    assert time.perf_counter() - t0 < MAX_SECONDS  # bounded time whether it parsed, fell back or raised
    if info is None:
        return
    if not info.fallback:  # only mutations that left the payload intact (e.g. a permutation) stay refined
        assert J.unwrap(blob).agdl == J.unwrap(two_segment_jpg).agdl


def test_segment_parser_never_raises_other_exceptions():
    """Raw garbage and near-JPEGs through every entry point of the module."""
    rng = np.random.default_rng(2)
    seeds = [b"", b"\xff", b"\xff\xd8", b"\xff\xd8\xff", b"\xff\xd8\xff\xeb\x00\x02", b"\xff\xd8\xff\xd9",
             b"\xff\xd8\xff\xda\x00\x02\xff\xd9", b"\xff\xd8\xff\xeb\x00\x10AGDL\0\x01\x00\x01\x00\x01\0\0\0\0"
             b"\xff\xda\x00\x02\xff\xd9"]
    seeds += [b"\xff\xd8" + rng.integers(0, 256, int(rng.integers(0, 200)), dtype=np.uint8).tobytes()
              for _ in range(300)]
    for blob in seeds:
        assert J.has_segments(blob) in (True, False)
        for fn in (J.split, J.unwrap, agdl.read_info):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", AgdlFallbackWarning)
                try:
                    fn(blob)
                except AgdlFormatError:  # documented for all three; a ValueError/IndexError/... fails the test
                    pass


# -- CLI -----------------------------------------------------------------------------------------------------------


def test_cli_encode_info_decode(tmp_path, photo, capsys):
    src = tmp_path / "in.png"
    Image.fromarray(photo).save(src)
    args = ["--quality", "30", "--critical-fraction", "0.08", "--step", "8", "--predictor", "edge-sobel",
            "--restorer", "identity"]
    assert cli_main(["encode", str(src), "--container", "jpeg", *args]) == 0
    out = tmp_path / "in.jpg"  # the default suffix follows the container
    assert out.read_bytes()[:2] == b"\xff\xd8" and J.has_segments(out.read_bytes())
    capsys.readouterr()
    assert cli_main(["info", str(out), "--json"]) == 0
    assert '"agdl_container": "jpeg"' in capsys.readouterr().out
    png = tmp_path / "back.png"
    assert cli_main(["decode", str(out), "-o", str(png)]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(png)), agdl.decode(out, device="cpu").array)
    plain = tmp_path / "plain.jpg"  # without --container: the base layer alone, as before
    assert cli_main(["encode", str(src), "-o", str(plain), "--quality", "30"]) == 0
    assert not J.has_segments(plain.read_bytes())
    assert cli_main(["decode", str(plain), "-o", str(tmp_path / "p.png")]) == 1
    assert "plain JPEG" in capsys.readouterr().err
    assert cli_main(["encode", str(src), "--container", "jpeg", "--base", "webp"]) == 2
