"""Pillow: image modes on save/open, compared with what Pillow's own JPEG writer does."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from PIL import Image

from agdl_plugins.errors import AgdlConversionWarning

# Modes Pillow's JPEG writer accepts; AGDL also accepts those, plus alpha/palette modes.
JPEG_MODES = {"1", "L", "RGB", "RGBX", "CMYK", "YCbCr"}
AGDL_EXTRA_MODES = {"LA", "RGBA", "La", "RGBa", "P", "PA"}
REJECTED_BY_BOTH = ["I;16", "I;16B", "I", "F", "HSV", "LAB"]


def _roundtrip(im: Image.Image, **options) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, format="AGDL", **options)
    out = Image.open(io.BytesIO(buf.getvalue()))
    out.load()
    return out


def test_l_roundtrip(gray_array: np.ndarray, psnr) -> None:
    out = _roundtrip(Image.fromarray(gray_array))
    assert out.mode == "L"
    assert np.asarray(out).shape == gray_array.shape
    assert psnr(np.asarray(out), gray_array) > 29  # measured 32.18 dB; a quality-5 encode: 25.08


def test_rgb_roundtrip(rgb_array: np.ndarray, psnr) -> None:
    out = _roundtrip(Image.fromarray(rgb_array))
    assert out.mode == "RGB"
    assert psnr(np.asarray(out), rgb_array) > 28  # measured 30.42 dB; a quality-5 encode: 24.35


def test_rgba_alpha_is_lossless(rgba_array: np.ndarray, psnr) -> None:
    out = _roundtrip(Image.fromarray(rgba_array))
    assert out.mode == "RGBA"
    arr = np.asarray(out)
    np.testing.assert_array_equal(arr[..., 3], rgba_array[..., 3])
    assert psnr(arr[..., :3], rgba_array[..., :3]) > 28  # measured 29.90 dB; a quality-5 encode: 24.01


def test_la_alpha_is_lossless(rgba_array: np.ndarray) -> None:
    la = Image.fromarray(rgba_array).convert("LA")
    out = _roundtrip(la)
    assert out.mode == "LA"
    np.testing.assert_array_equal(np.asarray(out)[..., 1], np.asarray(la)[..., 1])


def test_mode_1_becomes_l_like_jpeg(gray_array: np.ndarray) -> None:
    bilevel = Image.fromarray(gray_array).convert("1")
    with pytest.warns(AgdlConversionWarning, match="mode 1") as rec:
        out = _roundtrip(bilevel)
    assert rec[0].filename == __file__  # the warning points at the im.save(...) line, not into Pillow
    jpeg = io.BytesIO()
    bilevel.save(jpeg, "JPEG")
    assert out.mode == Image.open(jpeg).mode == "L"
    ref = np.asarray(bilevel.convert("L")).astype(int)
    assert np.mean(np.abs(np.asarray(out).astype(int) - ref)) < 40  # 0/255 survives a lossy codec


@pytest.mark.parametrize("mode", ["RGBX", "YCbCr", "CMYK"])
def test_other_jpeg_modes_are_written_as_rgb(mode: str, rgb_array: np.ndarray, psnr) -> None:
    im = Image.fromarray(rgb_array).convert(mode)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = _roundtrip(im)
    said = [w for w in rec if issubclass(w.category, AgdlConversionWarning)]
    assert len(said) == (mode == "CMYK")  # CMYK reads back as RGB: said; RGBX/YCbCr lose nothing AGDL keeps
    assert out.mode == "RGB"
    assert psnr(np.asarray(out), np.asarray(im.convert("RGB"))) > 28  # measured 30.42-30.47; quality 5: 24.29-24.35


def test_palette_without_transparency_becomes_rgb(rgb_array: np.ndarray, psnr) -> None:
    pal = Image.fromarray(rgb_array).quantize(64)
    out = _roundtrip(pal)
    assert out.mode == "RGB"
    assert psnr(np.asarray(out), np.asarray(pal.convert("RGB"))) > 28  # measured 30.52 dB; quality 5: 24.42


def test_palette_with_transparency_becomes_rgba(rgb_array: np.ndarray) -> None:
    pal = Image.fromarray(rgb_array[:48, :64]).quantize(16)
    pal.info["transparency"] = 0
    out = _roundtrip(pal)
    assert out.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(out)[..., 3], np.asarray(pal.convert("RGBA"))[..., 3])


@pytest.mark.parametrize("mode", ["PA", "La", "RGBa"])
def test_other_alpha_modes(mode: str, rgba_array: np.ndarray) -> None:
    src = Image.fromarray(rgba_array)
    im = src.convert("P").convert("PA") if mode == "PA" else src.convert(mode)
    out = _roundtrip(im)
    assert out.mode == {"PA": "RGBA", "La": "LA", "RGBa": "RGBA"}[mode]
    # alpha is stored losslessly: the alpha Pillow's own conversion to the output mode gives
    np.testing.assert_array_equal(np.asarray(out)[..., -1], np.asarray(im.convert(out.mode))[..., -1])


@pytest.mark.parametrize("mode", REJECTED_BY_BOTH)
def test_modes_jpeg_rejects_are_rejected_the_same_way(mode: str, gray_array: np.ndarray) -> None:
    im = Image.new(mode, (16, 8))
    with pytest.raises(OSError, match=f"cannot write mode {mode} as JPEG"):
        im.save(io.BytesIO(), "JPEG")
    buf = io.BytesIO()
    with pytest.raises(OSError, match=f"cannot write mode {mode} as AGDL"):
        im.save(buf, "AGDL")
    assert buf.getvalue() == b""


def test_mode_coverage_matches_jpeg_plus_alpha() -> None:
    """Every mode JPEG writes, AGDL writes; beyond that only alpha/palette modes are added."""
    for mode in sorted(JPEG_MODES | AGDL_EXTRA_MODES | set(REJECTED_BY_BOTH)):
        im = Image.new(mode, (16, 8))
        try:
            im.save(io.BytesIO(), "JPEG")
            jpeg_ok = True
        except OSError:
            jpeg_ok = False
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", AgdlConversionWarning)  # 1 and CMYK: said, tested above
                im.save(io.BytesIO(), "AGDL")
            agdl_ok = True
        except OSError:
            agdl_ok = False
        assert jpeg_ok == (mode in JPEG_MODES), mode
        assert agdl_ok == (mode in JPEG_MODES | AGDL_EXTRA_MODES), mode
