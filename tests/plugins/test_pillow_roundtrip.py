"""Pillow: registration, open/save by path and file object, lazy open, load once."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

import agdl_plugins
import pillow_plugin
from agdl_plugins.format.container import MAGIC
from pillow_plugin import AgdlImagePlugin


def test_registered_extension_mime_and_handlers() -> None:
    assert Image.registered_extensions()[".agdl"] == "AGDL"
    assert Image.MIME["AGDL"] == "image/x-agdl"
    assert "AGDL" in Image.OPEN and "AGDL" in Image.SAVE


def test_register_agdl_opener_is_idempotent() -> None:
    before = list(Image.ID)
    pillow_plugin.register_agdl_opener()
    pillow_plugin.register_agdl_opener()
    assert Image.ID == before
    assert Image.ID.count("AGDL") == 1
    assert Image.OPEN["AGDL"][0] is pillow_plugin.AgdlImageFile
    assert pillow_plugin.DECODE_OPTIONS is AgdlImagePlugin.DECODE_OPTIONS


def test_register_agdl_opener_rejects_unknown_decode_option() -> None:
    with pytest.raises(TypeError, match="quality"):
        pillow_plugin.register_agdl_opener(quality=3)


@pytest.mark.parametrize("statement", ["import pillow_plugin", "from pillow_plugin import AgdlImagePlugin"])
def test_import_registers(statement: str, run_python) -> None:
    code = (
        f"{statement}\nfrom PIL import Image\n"
        "assert Image.registered_extensions()['.agdl'] == 'AGDL'\n"
        "assert Image.MIME['AGDL'] == 'image/x-agdl' and 'AGDL' in Image.SAVE\n"
    )
    res = run_python(code)
    assert res.returncode == 0, res.stderr


def test_save_by_path_then_open_by_path(tmp_path: Path, rgb_array: np.ndarray, psnr) -> None:
    path = tmp_path / "out.agdl"
    Image.fromarray(rgb_array).save(path)  # format from the extension
    assert path.read_bytes().startswith(MAGIC)
    with Image.open(path) as im:
        assert im.format == "AGDL"
        assert im.get_format_mimetype() == "image/x-agdl"
        assert im.size == (rgb_array.shape[1], rgb_array.shape[0])
        assert im.mode == "RGB"
        out = np.asarray(im)
    assert out.shape == rgb_array.shape and out.dtype == np.uint8
    assert psnr(out, rgb_array) > 28  # default quality: measured 30.42 dB; a quality-5 encode: 24.35


def test_str_path_and_extension_case(tmp_path: Path, rgb_array: np.ndarray) -> None:
    path = str(tmp_path / "OUT.AGDL")
    Image.fromarray(rgb_array).save(path)
    with Image.open(path) as im:
        assert im.format == "AGDL"


def test_save_to_file_object_with_format(rgb_array: np.ndarray, psnr) -> None:
    buf = io.BytesIO()
    Image.fromarray(rgb_array).save(buf, format="AGDL", quality=50, base="jpeg")
    buf.seek(0)
    with Image.open(buf) as im:
        assert im.format == "AGDL" and im.info["agdl_quality"] == 50
        assert psnr(np.asarray(im), rgb_array) > 30  # measured 31.87 dB; a quality-5 encode: 24.35
    assert not buf.closed  # Pillow leaves caller-owned file objects open


def test_open_file_object_with_other_extension_and_formats_arg(tmp_path: Path, agdl_bytes: bytes) -> None:
    # Pillow identifies by magic bytes, not by extension
    path = tmp_path / "misnamed.jpg"
    path.write_bytes(agdl_bytes)
    with Image.open(path) as im:
        assert im.format == "AGDL"
    with Image.open(io.BytesIO(agdl_bytes), formats=["AGDL"]) as im:
        assert im.format == "AGDL"


def test_pixels_equal_core_decode(agdl_file: Path) -> None:
    ref = agdl_plugins.decode(
        agdl_file.read_bytes(), **{k: v for k, v in pillow_plugin.DECODE_OPTIONS.items() if v is not None}
    ).array
    with Image.open(agdl_file) as im:
        np.testing.assert_array_equal(np.asarray(im), ref)


def test_open_is_lazy_and_load_decodes_once(agdl_file: Path, count_calls) -> None:
    decode_calls = count_calls("decode")
    with Image.open(agdl_file) as im:
        assert (im.size, im.mode, im.format) == ((128, 96), "RGB", "AGDL")
        assert "agdl_base_codec" in im.info
        assert decode_calls == []
        im.load()
        im.load()
        np.asarray(im)
        im.copy()
        assert len(decode_calls) == 1
    assert im.fp is None  # Pillow-opened file closed after load


def test_open_does_not_import_torch(agdl_file: Path, run_python) -> None:
    code = (
        "import sys\nimport pillow_plugin\nfrom PIL import Image\n"
        f"im = Image.open({str(agdl_file)!r})\n"
        "assert im.size == (128, 96) and im.mode == 'RGB', (im.size, im.mode)\n"
        "assert im.info['agdl_layer_bytes']['total'] > 0\n"
        "assert 'torch' not in sys.modules, 'Image.open imported torch'\n"
    )
    res = run_python(code)
    assert res.returncode == 0, res.stderr


def test_decode_options_reach_core(agdl_file: Path, count_calls, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(AgdlImagePlugin, "DECODE_OPTIONS", dict(AgdlImagePlugin.DECODE_OPTIONS))
    decode_calls = count_calls("decode")
    pillow_plugin.register_agdl_opener(device="cpu", projection="box")
    assert AgdlImagePlugin.DECODE_OPTIONS == {"device": "cpu", "projection": "box"}
    with Image.open(agdl_file) as im:
        im.load()
    assert decode_calls == [{"device": "cpu", "projection": "box"}]


def test_default_decode_options() -> None:
    assert pillow_plugin.DECODE_OPTIONS == {"device": "auto", "projection": None}


def test_usual_image_operations(agdl_file: Path) -> None:
    with Image.open(agdl_file) as im:
        copy = im.copy()
        assert copy.size == im.size and copy.tobytes() == im.tobytes()
        grey = im.convert("L")
        assert grey.mode == "L" and grey.size == im.size
        same = ImageOps.exif_transpose(im)  # no orientation tag: unchanged
        assert same.size == im.size
        im.thumbnail((32, 32))
        assert max(im.size) == 32 and im.mode == "RGB"


def test_resave_opened_agdl_to_png_and_agdl(tmp_path: Path, agdl_file: Path, psnr) -> None:
    with Image.open(agdl_file) as im:
        im.save(tmp_path / "x.png")
        im.save(tmp_path / "y.agdl", quality=60, base="jpeg")
        ref = np.asarray(im)
    with Image.open(tmp_path / "x.png") as png:
        np.testing.assert_array_equal(np.asarray(png), ref)
    with Image.open(tmp_path / "y.agdl") as again:
        assert again.info["agdl_quality"] == 60
        assert psnr(np.asarray(again), ref) > 36  # measured 39.53 dB; re-saved at quality 5: 25.01


def test_pickle_roundtrip(agdl_file: Path) -> None:
    with Image.open(agdl_file) as im:
        clone = pickle.loads(pickle.dumps(im))
        np.testing.assert_array_equal(np.asarray(clone), np.asarray(im))
    clone.load()


def test_registration_after_pillow_init(agdl_file: Path, run_python) -> None:
    # registered after every built-in plugin (some have no magic check): AGDL files still open as AGDL
    code = (
        "from PIL import Image\nImage.init()\nimport pillow_plugin\n"
        "assert Image.ID[-1] == 'AGDL'\n"
        f"assert Image.open({str(agdl_file)!r}).format == 'AGDL'\n"
    )
    res = run_python(code)
    assert res.returncode == 0, res.stderr
