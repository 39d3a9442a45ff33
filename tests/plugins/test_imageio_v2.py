"""imageio legacy v2 API (imageio.imread/imwrite, get_reader, mimread) reaches the same AGDL plugin."""

from __future__ import annotations

from pathlib import Path

import imageio
import imageio.v2 as iio2
import numpy as np
import pytest

import agdl_plugins
from agdl_plugins.format.container import MAGIC
from imageio_plugin.plugin import AgdlPlugin


@pytest.fixture
def spy_plugin(monkeypatch: pytest.MonkeyPatch) -> list:
    """Record every AgdlPlugin read/write (proves the v2 call went through our v3 plugin)."""
    calls: list = []
    real_read, real_write = AgdlPlugin.read, AgdlPlugin.write

    def read(self, **kw):
        calls.append("read")
        return real_read(self, **kw)

    def write(self, ndimage, **kw):
        calls.append("write")
        return real_write(self, ndimage, **kw)

    monkeypatch.setattr(AgdlPlugin, "read", read)
    monkeypatch.setattr(AgdlPlugin, "write", write)
    return calls


def test_v2_imwrite_imread_path(tmp_path: Path, rgb_array: np.ndarray, spy_plugin: list, psnr) -> None:
    path = tmp_path / "v2.agdl"
    iio2.imwrite(path, rgb_array, quality=55, base="jpeg")  # quality is the header's on a JPEG base
    assert agdl_plugins.read_info(path).quality == 55
    out = iio2.imread(path)
    assert spy_plugin == ["write", "read"]
    assert out.shape == rgb_array.shape and out.dtype == np.uint8
    assert psnr(out, rgb_array) > 30  # measured 32.16 dB; a quality-5 encode: 24.35


def test_top_level_legacy_functions(tmp_path: Path, gray_array: np.ndarray, spy_plugin: list) -> None:
    path = str(tmp_path / "top.agdl")
    imageio.imwrite(path, gray_array)
    with pytest.warns(DeprecationWarning):
        out = imageio.imread(path)  # imageio's own v3-migration warning
    assert out.shape == gray_array.shape
    assert spy_plugin == ["write", "read"]


def test_v2_bytes_with_format(rgb_array: np.ndarray) -> None:
    data = iio2.imwrite("<bytes>", rgb_array, format=".agdl")
    assert isinstance(data, bytes) and data.startswith(MAGIC)
    assert iio2.imread(data).shape == rgb_array.shape
    assert iio2.imread(data, format="AGDL").shape == rgb_array.shape


def test_v2_format_name_on_paths(tmp_path: Path, rgb_array: np.ndarray) -> None:
    iio2.imwrite(tmp_path / "n.agdl", rgb_array, format="AGDL")
    assert iio2.imread(tmp_path / "n.agdl", format="AGDL").shape == rgb_array.shape


def test_v2_bytes_with_plugin_name_needs_extension(rgb_array: np.ndarray) -> None:
    # format="AGDL" selects the plugin but gives no extension; the plugin refuses to guess
    # (as a first-in-line plugin it must not claim extension-less writes), and says what to do.
    with pytest.raises(RuntimeError) as exc:
        iio2.imwrite("<bytes>", rgb_array, format="AGDL")
    assert ".agdl" in str(exc.value.__cause__)


def test_v2_reader_and_meta(agdl_file: Path) -> None:
    with iio2.get_reader(agdl_file) as reader:
        assert len(reader) == 1
        frame = reader.get_data(0)
        assert frame.shape == (96, 128, 3)
        assert frame.meta["agdl_format"] == "AGDL"
        assert reader.get_meta_data() == agdl_plugins.read_info(agdl_file).as_dict()
        assert [f.shape for f in reader] == [(96, 128, 3)]


def test_v2_mimread_and_mimwrite(tmp_path: Path, rgb_array: np.ndarray) -> None:
    path = tmp_path / "m.agdl"
    iio2.mimwrite(path, [rgb_array])
    frames = iio2.mimread(path)
    assert len(frames) == 1 and frames[0].shape == rgb_array.shape
    with pytest.raises(ValueError, match="one image"):
        iio2.mimwrite(tmp_path / "two.agdl", [rgb_array, rgb_array])


def test_v2_bad_dtype(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="uint8"):
        iio2.imwrite(tmp_path / "f.agdl", np.zeros((8, 8, 3), np.float64))
