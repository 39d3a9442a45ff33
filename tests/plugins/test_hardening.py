"""Issue 25 items 3, 5, 6, 7: what a new user of the Pillow and imageio plugins ran into."""

from __future__ import annotations

import inspect
import io
import warnings
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image, UnidentifiedImageError

import agdl_plugins
from agdl_plugins.errors import AgdlConversionWarning, AgdlOptionWarning
from agdl_plugins.options import ENCODE_OPTION_NAMES
from imageio_plugin.plugin import AgdlPlugin

FAST = {"quality": 40, "critical_fraction": 0.0}


# -- item 3: AGDL inside JPEG under a .agdl name ----------------------------------------------------------------


def test_jpeg_container_under_agdl_name_is_refused_by_both_writers(tmp_path: Path, rgba_array) -> None:
    with pytest.raises(ValueError, match="name it .jpg"):
        iio.imwrite(tmp_path / "x.agdl", rgba_array[..., :3], container="jpeg")
    with pytest.raises(ValueError, match="name it .jpg"):
        Image.fromarray(rgba_array[..., :3]).save(tmp_path / "y.agdl", container="jpeg")
    assert not list(tmp_path.iterdir())


def test_jpeg_container_already_named_agdl_reads_refined_with_alpha(tmp_path: Path, rgba_array) -> None:
    jpg = tmp_path / "x.jpg"
    iio.imwrite(jpg, rgba_array, plugin="AGDL", container="jpeg", quality=40)
    refined = agdl_plugins.decode(jpg.read_bytes()).array
    legacy = tmp_path / "old.agdl"  # written under that name before the writers refused it
    legacy.write_bytes(jpg.read_bytes())
    got = iio.imread(legacy)
    assert got.shape == rgba_array.shape
    np.testing.assert_array_equal(got, refined)
    assert iio.improps(legacy).shape == rgba_array.shape


# -- item 5: misspelt and missing options ------------------------------------------------------------------------


@pytest.mark.parametrize(("typo", "meant"), [("qualty", "quality"), ("target_bp", "target_bpp"),
                                             ("roi_wieght", "roi_weight")])
def test_misspelt_pillow_option_warns_with_the_right_name(rgb_array, typo: str, meant: str) -> None:
    with pytest.warns(AgdlOptionWarning, match=f"did you mean '{meant}'"):
        Image.fromarray(rgb_array).save(io.BytesIO(), format="AGDL", **{typo: 10}, **FAST)


def test_other_pillow_writer_options_are_ignored_quietly(rgb_array) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Image.fromarray(rgb_array).save(io.BytesIO(), format="AGDL", optimize=True, dpi=(72, 72), speed=6,
                                        subsampling="4:2:0", **FAST)


def test_imageio_writer_takes_every_encode_option() -> None:
    params = set(inspect.signature(AgdlPlugin.write).parameters)
    assert ENCODE_OPTION_NAMES <= params, ENCODE_OPTION_NAMES - params


def test_imageio_options_reach_the_encoder(rgb_array) -> None:
    kw = {"roi_weight": 1.0, "seed": 3, "sensing": "identity", "quantiser": "rdo", "critical_fraction": 0.05,
          "quality": 40}
    via_iio = iio.imwrite("<bytes>", rgb_array, extension=".agdl", **kw)
    assert via_iio == agdl_plugins.encode(rgb_array, **kw)
    assert agdl_plugins.read_info(via_iio).seed == 3


# -- item 6: modes that cannot come back as they went in ---------------------------------------------------------


@pytest.mark.parametrize(("mode", "back"), [("1", "L"), ("CMYK", "RGB")])
def test_lossy_mode_conversions_are_said(rgb_array, mode: str, back: str) -> None:
    im = Image.fromarray(rgb_array).convert(mode)
    buf = io.BytesIO()
    with pytest.warns(AgdlConversionWarning, match=f"mode {mode}"):
        im.save(buf, format="AGDL", **FAST)
    assert Image.open(buf).mode == back


def test_native_modes_convert_silently(rgb_array) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for mode in ("L", "RGB", "RGBA", "LA", "P"):
            Image.fromarray(rgb_array).convert(mode).save(io.BytesIO(), format="AGDL", **FAST)


# -- item 7: a damaged file says what is wrong ------------------------------------------------------------------


def test_bit_flip_names_the_crc_and_chains_the_cause(agdl_bytes: bytes, tmp_path: Path) -> None:
    data = bytearray(agdl_bytes)
    data[len(data) // 2] ^= 0xFF
    path = tmp_path / "flipped.agdl"
    path.write_bytes(bytes(data))
    with pytest.raises(UnidentifiedImageError, match="CRC") as ei:
        Image.open(path)
    assert "flipped.agdl" in str(ei.value)
    assert isinstance(ei.value.__cause__, agdl_plugins.AgdlFormatError)


def test_truncation_is_named(agdl_bytes: bytes) -> None:
    with pytest.raises(UnidentifiedImageError, match="truncat") as ei:
        Image.open(io.BytesIO(agdl_bytes[: len(agdl_bytes) // 2]))
    assert isinstance(ei.value.__cause__, agdl_plugins.AgdlFormatError)
