"""Pillow: EXIF / ICC / XMP carried byte for byte; AGDL facts in ``info`` before any decoding."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

import agdl_plugins

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


def test_only_the_icc_profile_comes_from_image_info(rgb_array: np.ndarray, exif_bytes: bytes, icc_bytes: bytes) -> None:
    """As Pillow's own writers (JPEG, PNG, WebP): EXIF and XMP are written only when passed; the ICC profile,
    which stays right whatever is done to the pixels, is kept from ``im.info`` as Pillow's PNG writer keeps it."""
    jpeg = io.BytesIO()
    Image.fromarray(rgb_array).save(jpeg, "JPEG", exif=exif_bytes, icc_profile=icc_bytes, xmp=XMP)
    with Image.open(jpeg) as src:
        data = _save(src)
        kept = _save(src, exif=src.info["exif"], xmp=src.info["xmp"])
        expected = {k: src.info[k] for k in ("exif", "icc_profile", "xmp")}
    with Image.open(io.BytesIO(data)) as im:
        assert im.info["icc_profile"] == expected["icc_profile"]
        assert "exif" not in im.info and "xmp" not in im.info
    with Image.open(io.BytesIO(kept)) as im:
        for key, value in expected.items():
            assert im.info[key] == value, key


def test_rotated_image_does_not_carry_the_old_orientation(rgb_array: np.ndarray, exif_bytes: bytes) -> None:
    """Issue 25 item 4: after rotating by hand, the saved file must not tell viewers to rotate again."""
    first = _save(Image.fromarray(rgb_array), exif=exif_bytes)  # orientation 6
    with Image.open(io.BytesIO(first)) as im:
        assert im.getexif()[0x0112] == 6
        rotated = im.rotate(-90, expand=True)
    with Image.open(io.BytesIO(_save(rotated))) as back:
        assert back.size == rotated.size
        assert 0x0112 not in back.getexif()
        assert ImageOps.exif_transpose(back).size == rotated.size  # not turned back


def test_agdl_to_agdl_keeps_metadata_when_passed(rgb_array: np.ndarray, exif_bytes: bytes, icc_bytes: bytes) -> None:
    first = _save(Image.fromarray(rgb_array), exif=exif_bytes, icc_profile=icc_bytes, xmp=XMP)
    with Image.open(io.BytesIO(first)) as im:
        second = _save(im, quality=60, exif=im.getexif(), xmp=im.info["xmp"])
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
    assert info["agdl_quality"] == agdl_plugins.read_info(agdl_file).quality  # the header's, before decoding
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
