"""Pillow: EXIF / ICC / XMP carried byte for byte; AGDL facts in ``info`` before any decoding."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

XMP = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:format="image/x-agdl"/>'
    b'</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)


@pytest.fixture(scope="module")
def exif_bytes() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "AGDL test camera"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90 CW to view
    return exif.tobytes()


@pytest.fixture(scope="module")
def icc_bytes() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _save(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="AGDL", **kw)
    return buf.getvalue()


def test_exif_icc_xmp_byte_identical(rgb_array: np.ndarray, exif_bytes: bytes, icc_bytes: bytes) -> None:
    data = _save(Image.fromarray(rgb_array), exif=exif_bytes, icc_profile=icc_bytes, xmp=XMP)
    with Image.open(io.BytesIO(data)) as im:
        assert im.info["exif"] == exif_bytes
        assert im.info["icc_profile"] == icc_bytes
        assert im.info["xmp"] == XMP
        assert im.getexif()[0x010F] == "AGDL test camera"


def test_no_metadata_no_keys(rgb_array: np.ndarray) -> None:
    with Image.open(io.BytesIO(_save(Image.fromarray(rgb_array)))) as im:
        assert not {"exif", "icc_profile", "xmp"} & set(im.info)


def test_exif_object_and_xmp_str_accepted(rgb_array: np.ndarray, exif_bytes: bytes) -> None:
    exif = Image.Exif()
    exif.load(exif_bytes)
    data = _save(Image.fromarray(rgb_array), exif=exif, xmp=XMP.decode("utf-8"))
    with Image.open(io.BytesIO(data)) as im:
        assert im.getexif()[0x0112] == 6
        assert im.info["xmp"] == XMP


def test_metadata_falls_back_to_image_info(rgb_array: np.ndarray, exif_bytes: bytes, icc_bytes: bytes) -> None:
    jpeg = io.BytesIO()
    Image.fromarray(rgb_array).save(jpeg, "JPEG", exif=exif_bytes, icc_profile=icc_bytes, xmp=XMP)
    with Image.open(jpeg) as src:
        data = _save(src)  # no metadata arguments: taken from src.info, as Pillow's writers do
        expected = {k: src.info[k] for k in ("exif", "icc_profile", "xmp")}
    with Image.open(io.BytesIO(data)) as im:
        for key, value in expected.items():
            assert im.info[key] == value, key


def test_agdl_to_agdl_keeps_metadata(rgb_array: np.ndarray, exif_bytes: bytes, icc_bytes: bytes) -> None:
    first = _save(Image.fromarray(rgb_array), exif=exif_bytes, icc_profile=icc_bytes, xmp=XMP)
    with Image.open(io.BytesIO(first)) as im:
        second = _save(im, quality=60)
    with Image.open(io.BytesIO(second)) as im2:
        assert (im2.info["exif"], im2.info["icc_profile"], im2.info["xmp"]) == (exif_bytes, icc_bytes, XMP)


def test_encoderinfo_overrides_and_empty_drops(rgb_array: np.ndarray, exif_bytes: bytes, icc_bytes: bytes) -> None:
    first = _save(Image.fromarray(rgb_array), exif=exif_bytes, icc_profile=icc_bytes, xmp=XMP)
    new_exif = Image.Exif()
    new_exif[0x010F] = "other"
    with Image.open(io.BytesIO(first)) as im:
        second = _save(im, exif=new_exif.tobytes(), icc_profile=b"", xmp=None)
    with Image.open(io.BytesIO(second)) as im2:
        assert im2.info["exif"] == new_exif.tobytes()
        assert "icc_profile" not in im2.info
        assert "xmp" not in im2.info


def test_agdl_facts_in_info_before_decoding(agdl_file, count_calls) -> None:
    decode_calls = count_calls("decode")
    preview_calls = count_calls("decode_base_preview")
    with Image.open(agdl_file) as im:
        info = dict(im.info)
    assert decode_calls == [] and preview_calls == []
    assert info["agdl_format"] == "AGDL"
    assert isinstance(info["agdl_base_codec"], str) and info["agdl_base_codec"]
    assert info["agdl_quality"] == 40
    layers = info["agdl_layer_bytes"]
    assert layers["total"] == agdl_file.stat().st_size
    assert layers["base"] > 0 and "refinement" in layers
    assert info["agdl_n_critical"] >= info["agdl_n_measurements"] >= 0  # N and M
    for key in ("agdl_predictor", "agdl_restorer", "agdl_sensing", "agdl_step"):
        assert key in info


def test_exif_transpose_uses_orientation(rgb_array: np.ndarray, exif_bytes: bytes) -> None:
    data = _save(Image.fromarray(rgb_array), exif=exif_bytes)
    with Image.open(io.BytesIO(data)) as im:
        upright = ImageOps.exif_transpose(im)
        assert upright.size == (im.height, im.width)
        assert 0x0112 not in upright.getexif()
        np.testing.assert_array_equal(np.asarray(upright), np.asarray(im.transpose(Image.Transpose.ROTATE_270)))
