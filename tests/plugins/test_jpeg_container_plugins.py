"""AGDL inside JPEG through Pillow and imageio: plain JPEG by default, refined on opt-in.

Pillow: ``img.save(path, format="AGDL", container="jpeg")`` writes it; ``Image.open`` reads it as a plain JPEG
unless ``pillow_plugin.register_agdl_opener(jpeg=True)``. imageio: ``iio.imwrite(path, arr, plugin="AGDL",
container="jpeg")``; ``iio.imread(path, plugin="AGDL", jpeg=True)`` for the refined image.
"""

from __future__ import annotations

import io
import warnings

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

import agdl_plugins
import pillow_plugin
from agdl_plugins.errors import AgdlFallbackWarning
from agdl_plugins.format import jpeg_container as J

FAST = {"quality": 30, "critical_fraction": 0.08, "step": 8.0, "predictor": "edge-sobel", "restorer": "identity"}


@pytest.fixture(scope="module")
def jpg_bytes(rgb_array) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "plugin test"
    return agdl_plugins.encode(rgb_array, **FAST, exif=exif.tobytes(), container="jpeg")


@pytest.fixture
def jpg_file(tmp_path, jpg_bytes):
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpg_bytes)
    return path


@pytest.fixture
def opt_in():
    """register_agdl_opener(jpeg=True) for one test, undone afterwards."""
    ids = list(Image.ID)
    pillow_plugin.register_agdl_opener(jpeg=True)
    yield
    pillow_plugin.register_agdl_opener(jpeg=False)
    assert Image.ID == ids and pillow_plugin.JPEG_OPENER_ID not in Image.OPEN


def _plain_jpeg(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=80)
    return buf.getvalue()


def _damaged(data: bytes) -> bytes:
    seg = next(s for s in J._walk(data) if s.marker == J.APP11)
    bad = bytearray(data)
    bad[seg.end - 1] ^= 0x40  # a payload byte: the segment CRC no longer matches
    return bytes(bad)


# -- Pillow ------------------------------------------------------------------------------------------------------


def test_pillow_default_opens_a_plain_jpeg(jpg_file):
    with Image.open(jpg_file) as im:
        assert im.format == "JPEG"
        assert im.getexif()[0x010F] == "plugin test"
        px = np.asarray(im)
    base = agdl_plugins.decode(jpg_file, base_only=True).array
    assert np.abs(px.astype(int) - base).max() <= 2


def test_pillow_save_with_container_option(tmp_path, rgb_array):
    path = tmp_path / "saved.jpg"
    Image.fromarray(rgb_array).save(path, format="AGDL", container="jpeg", **FAST)
    data = path.read_bytes()
    assert J.is_jpeg(data) and J.has_segments(data)
    assert data == agdl_plugins.encode(rgb_array, **FAST, container="jpeg")
    with pytest.raises(ValueError, match="JPEG base layer"):
        Image.fromarray(rgb_array).save(tmp_path / "x.jpg", format="AGDL", container="jpeg", base="webp")


def test_opt_in_opens_the_refined_image(opt_in, jpg_file, count_calls):
    decode_calls = count_calls("decode")
    with Image.open(jpg_file) as im:
        assert im.format == "AGDL" and im.info["agdl_container"] == "jpeg"
        assert im.info["exif"].startswith(b"Exif\0\0")
        px = np.asarray(im)
    assert len(decode_calls) == 1
    np.testing.assert_array_equal(px, agdl_plugins.decode(jpg_file).array)
    with Image.open(jpg_file, formats=["JPEG"]) as im:  # asking for JPEG still gets JPEG
        assert im.format == "JPEG"


def test_opt_in_leaves_every_other_jpeg_to_pillow(opt_in, rgb_array, jpg_bytes, tmp_path):
    with Image.open(io.BytesIO(_plain_jpeg(rgb_array))) as im:
        assert im.format == "JPEG"
        im.load()
    stripped = b"".join(jpg_bytes[s.start : s.end] for s in J._walk(jpg_bytes) if s.marker != J.APP11)
    with Image.open(io.BytesIO(stripped)) as im:
        assert im.format == "JPEG"
    png = tmp_path / "x.png"
    Image.fromarray(rgb_array).save(png)
    with Image.open(png) as im:
        assert im.format == "PNG"


def test_opt_in_damaged_segments_warn_and_open_as_jpeg(opt_in, jpg_bytes):
    with pytest.warns(AgdlFallbackWarning, match="CRC mismatch"):
        im = Image.open(io.BytesIO(_damaged(jpg_bytes)))
    assert im.format == "JPEG"
    im.load()


def test_opt_in_thumbnail_reads_the_base_layer_only(opt_in, jpg_file, count_calls):
    decode_calls = count_calls("decode")
    preview_calls = count_calls("decode_base_preview")
    with Image.open(jpg_file) as im:
        im.thumbnail((32, 32))
        assert max(im.size) <= 32
    assert decode_calls == [] and len(preview_calls) == 1


def test_register_is_idempotent_and_sits_before_jpeg(opt_in):
    pillow_plugin.register_agdl_opener(jpeg=True)
    pillow_plugin.register_agdl_opener()  # None: keeps the setting
    assert Image.ID.count(pillow_plugin.JPEG_OPENER_ID) == 1
    assert Image.ID.index(pillow_plugin.JPEG_OPENER_ID) == Image.ID.index("JPEG") - 1


# -- imageio -----------------------------------------------------------------------------------------------------


def test_imageio_default_reads_a_plain_jpeg(jpg_file, jpg_bytes):
    plain = iio.imread(jpg_file)
    with Image.open(jpg_file) as im:
        np.testing.assert_array_equal(plain, np.asarray(im))
    np.testing.assert_array_equal(iio.imread(jpg_bytes), plain)  # bytes: the AGDL plugin is asked first
    np.testing.assert_array_equal(iio.imread(jpg_file, plugin="AGDL"), plain)
    assert iio.improps(jpg_bytes).shape == plain.shape
    assert "agdl_container" not in iio.immeta(jpg_bytes)


def test_imageio_jpeg_kwarg_reads_the_refined_image(jpg_file):
    refined = iio.imread(jpg_file, plugin="AGDL", jpeg=True)
    np.testing.assert_array_equal(refined, agdl_plugins.decode(jpg_file).array)
    assert iio.immeta(jpg_file, plugin="AGDL", jpeg=True)["agdl_container"] == "jpeg"
    assert iio.improps(jpg_file, plugin="AGDL", jpeg=True).shape == refined.shape
    batch = iio.imread(jpg_file, plugin="AGDL", jpeg=True, index=...)
    assert batch.shape == (1, *refined.shape)


def test_imageio_write_container_jpeg(tmp_path, rgb_array):
    path = tmp_path / "w.jpg"
    iio.imwrite(path, rgb_array, plugin="AGDL", container="jpeg", **FAST)
    assert path.read_bytes() == agdl_plugins.encode(rgb_array, **FAST, container="jpeg")
    data = iio.imwrite("<bytes>", rgb_array, plugin="AGDL", extension=".jpg", container="jpeg", **FAST)
    assert data == path.read_bytes()
    with pytest.raises(ValueError, match="container='jpeg'"):
        iio.imwrite(tmp_path / "n.jpg", rgb_array, plugin="AGDL", **FAST)
    assert not (tmp_path / "n.jpg").exists()
    iio.imwrite(tmp_path / "plain.jpg", rgb_array)  # no plugin: Pillow's plain JPEG writer, as ever
    assert not J.has_segments((tmp_path / "plain.jpg").read_bytes())


def test_imageio_plain_jpegs_are_not_claimed(rgb_array):
    with pytest.raises(OSError, match="can not handle"):  # the plugin declines it at initialisation
        iio.imread(_plain_jpeg(rgb_array), plugin="AGDL")


def test_imageio_damaged_segments_fall_back(jpg_bytes):
    bad = _damaged(jpg_bytes)
    with pytest.warns(AgdlFallbackWarning):
        out = iio.imread(bad, plugin="AGDL", jpeg=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AgdlFallbackWarning)
        np.testing.assert_array_equal(out, agdl_plugins.decode(jpg_bytes, base_only=True).array)
