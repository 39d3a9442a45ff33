"""Pillow: save options arrive through encoderinfo with the core API's names; bad values fail early."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import agdl_plugins


@pytest.fixture
def rgb_image(rgb_array: np.ndarray) -> Image.Image:
    return Image.fromarray(rgb_array)


def _save(im: Image.Image, **options) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="AGDL", **options)
    return buf.getvalue()


def test_options_are_passed_to_encode(rgb_image: Image.Image, count_calls) -> None:
    calls = count_calls("encode")
    options = dict(quality=55, critical_fraction=0.05, measurement_ratio=0.5, step=8.0, base="jpeg", device="cpu")
    _save(rgb_image, **options)
    assert len(calls) == 1
    assert {k: calls[0][k] for k in options} == options


def test_target_bpp_is_passed(rgb_image: Image.Image, count_calls) -> None:
    calls = count_calls("encode")
    data = _save(rgb_image, target_bpp=1.5)
    assert calls[0]["target_bpp"] == 1.5
    assert Image.open(io.BytesIO(data)).format == "AGDL"


def test_options_show_in_header(rgb_image: Image.Image) -> None:
    data = _save(rgb_image, quality=70, step=6.0, critical_fraction=0.05)
    with Image.open(io.BytesIO(data)) as im:
        assert im.info["agdl_quality"] == 70
        assert im.info["agdl_step"] == pytest.approx(6.0)
        assert im.info["agdl_n_critical"] > 0


def test_quality_changes_size(rgb_image: Image.Image) -> None:
    assert len(_save(rgb_image, quality=15)) < len(_save(rgb_image, quality=85))


def test_defaults_are_the_core_defaults(rgb_image: Image.Image, rgb_array: np.ndarray) -> None:
    assert _save(rgb_image) == agdl_plugins.encode(rgb_array)


def test_unrelated_pillow_options_are_ignored(rgb_image: Image.Image) -> None:
    # generic Pillow/other-format options are ignored, as other Pillow writers do
    data = _save(rgb_image, optimize=True, dpi=(72, 72), subsampling=0)
    assert data == _save(rgb_image)


@pytest.mark.parametrize(
    "options",
    [
        {"quality": 0},
        {"quality": 101},
        {"quality": "high"},
        {"quality": 50.5},
        {"target_bpp": -1.0},
        {"target_bpp": 0},
        {"critical_fraction": 1.5},
        {"measurement_ratio": -0.1},
        {"step": 0},
        {"device": "tpu"},
        {"base": ""},
        {"exif": 123},
        {"icc_profile": "not bytes"},
    ],
    ids=lambda o: "-".join(f"{k}={v!r}" for k, v in o.items()),
)
def test_invalid_option_raises_value_error_before_writing(
    rgb_image: Image.Image, tmp_path: Path, count_calls, options: dict
) -> None:
    calls = count_calls("encode")
    buf = io.BytesIO()
    with pytest.raises(ValueError):
        rgb_image.save(buf, format="AGDL", **options)
    assert buf.getvalue() == b""
    path = tmp_path / "never.agdl"
    with pytest.raises(ValueError):
        rgb_image.save(path, **options)
    assert not path.exists()
    assert calls == []  # rejected before the (expensive) encoder runs


def test_unknown_base_codec_fails_without_writing(rgb_image: Image.Image) -> None:
    buf = io.BytesIO()
    with pytest.raises((ValueError, agdl_plugins.MissingPartError)):
        rgb_image.save(buf, format="AGDL", base="no-such-codec")
    assert buf.getvalue() == b""


def test_failed_save_over_existing_file_never_leaves_partial_agdl(rgb_image: Image.Image, tmp_path: Path) -> None:
    """Pillow truncates the destination before the plugin runs (its behaviour for every format); the AGDL
    writer then writes nothing, so what remains is empty -- never a truncated AGDL stream."""
    path = tmp_path / "old.agdl"
    rgb_image.save(path, quality=30)
    with pytest.raises(ValueError):
        rgb_image.save(path, quality=0)
    assert path.read_bytes() == b""
    with pytest.raises(OSError):
        rgb_image.convert("I;16").save(path)
    assert path.read_bytes() == b""
