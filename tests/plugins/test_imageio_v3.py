"""imageio v3: imread/imwrite/improps/immeta/imiter through the registered AGDL plugin."""

from __future__ import annotations

import io
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from imageio.config import known_extensions, known_plugins
from PIL import Image

import agdl_plugins
import imageio_plugin
from agdl_plugins.format.container import MAGIC
from imageio_plugin.plugin import AgdlPlugin


def test_registered() -> None:
    assert known_plugins["AGDL"].plugin_class is AgdlPlugin
    assert any(fmt.priority[0] == "AGDL" for fmt in known_extensions[".agdl"])


def test_register_is_idempotent() -> None:
    imageio_plugin.register()
    imageio_plugin.register()
    assert list(known_plugins).count("AGDL") == 1
    assert sum("AGDL" in fmt.priority for fmt in known_extensions[".agdl"]) == 1
    assert "pillow" in known_plugins  # other plugins untouched


def test_import_registers(run_python) -> None:
    code = (
        "import imageio.config as c\nimport imageio_plugin\n"
        "assert c.known_plugins['AGDL'].module_name == 'imageio_plugin.plugin'\n"
        "assert c.known_extensions['.agdl'][0].priority == ['AGDL']\n"
    )
    res = run_python(code)
    assert res.returncode == 0, res.stderr


def test_write_read_path(tmp_path: Path, rgb_array: np.ndarray, psnr) -> None:
    path = tmp_path / "a.agdl"
    assert iio.imwrite(path, rgb_array, quality=50) is None
    assert path.read_bytes().startswith(MAGIC)
    out = iio.imread(path)
    assert out.shape == rgb_array.shape and out.dtype == np.uint8
    assert psnr(out, rgb_array) > 30  # measured 31.87 dB; a quality-5 encode: 24.35
    np.testing.assert_array_equal(out, agdl_plugins.decode(path).array)


def test_gray_and_squeezed_channel(tmp_path: Path, gray_array: np.ndarray) -> None:
    iio.imwrite(tmp_path / "g.agdl", gray_array)
    iio.imwrite(tmp_path / "g1.agdl", gray_array[..., None])
    a, b = iio.imread(tmp_path / "g.agdl"), iio.imread(tmp_path / "g1.agdl")
    assert a.shape == b.shape == gray_array.shape
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("channels", [2, 4])
def test_alpha_is_lossless(tmp_path: Path, rgba_array: np.ndarray, channels: int) -> None:
    arr = rgba_array if channels == 4 else np.ascontiguousarray(rgba_array[..., [0, 3]])
    iio.imwrite(tmp_path / "a.agdl", arr)
    out = iio.imread(tmp_path / "a.agdl")
    assert out.shape == arr.shape
    np.testing.assert_array_equal(out[..., -1], arr[..., -1])


def test_bytes_target_and_source(rgb_array: np.ndarray) -> None:
    data = iio.imwrite("<bytes>", rgb_array, extension=".agdl", quality=45, base="jpeg")
    assert isinstance(data, bytes) and data.startswith(MAGIC)
    assert agdl_plugins.read_info(data).quality == 45
    out = iio.imread(data)  # no extension: found by magic bytes
    with iio.imopen(data, "r") as f:  # ours, not imageio's pillow plugin (Pillow knows AGDL too here)
        assert isinstance(f, AgdlPlugin)
    assert out.shape == rgb_array.shape
    assert iio.imread(data, plugin="AGDL").shape == rgb_array.shape
    assert iio.imread(data, extension=".agdl").shape == rgb_array.shape


def test_file_objects(rgb_array: np.ndarray) -> None:
    buf = io.BytesIO()
    iio.imwrite(buf, rgb_array, extension=".agdl")
    buf.seek(0)
    assert iio.imread(buf).shape == rgb_array.shape
    embedded = io.BytesIO(b"header of some container" + buf.getvalue())
    embedded.seek(24)  # read from the current position, as imageio's plugins do
    assert iio.improps(embedded).shape == rgb_array.shape
    embedded.seek(24)
    assert iio.imread(embedded).shape == rgb_array.shape


def test_write_options_reach_core(tmp_path: Path, rgb_array: np.ndarray, count_calls) -> None:
    calls = count_calls("encode")
    options = dict(quality=35, critical_fraction=0.05, measurement_ratio=0.5, step=10.0, base="jpeg", device="cpu")
    iio.imwrite(tmp_path / "o.agdl", rgb_array, **options)
    assert {k: calls[0][k] for k in options} == options
    meta = iio.immeta(tmp_path / "o.agdl")
    assert meta["agdl_quality"] == 35 and meta["agdl_step"] == pytest.approx(10.0)


def test_target_bpp(rgb_array: np.ndarray, count_calls) -> None:
    calls = count_calls("encode")
    data = iio.imwrite("<bytes>", rgb_array, extension=".agdl", target_bpp=1.5)
    assert calls[0]["target_bpp"] == 1.5 and data.startswith(MAGIC)


def test_metadata_write_and_immeta_matches_pillow_info(tmp_path: Path, rgb_array: np.ndarray) -> None:
    exif = Image.Exif()
    exif[0x010F] = "cam"
    path = tmp_path / "m.agdl"
    iio.imwrite(path, rgb_array, exif=exif.tobytes(), icc_profile=b"icc-bytes", xmp=b"<x/>")
    meta = iio.immeta(path)
    assert (meta["exif"], meta["icc_profile"], meta["xmp"]) == (exif.tobytes(), b"icc-bytes", b"<x/>")
    with Image.open(path) as im:
        assert meta == im.info
    assert iio.immeta(path, index=...) == meta
    assert iio.immeta(path, exclude_applied=False) == meta


def test_improps_without_decoding(agdl_file: Path, count_calls) -> None:
    decode_calls = count_calls("decode")
    props = iio.improps(agdl_file)
    assert props.shape == (96, 128, 3) and props.dtype == np.uint8
    assert props.n_images is None and props.is_batch is False
    batch = iio.improps(agdl_file, index=...)
    assert batch.shape == (1, 96, 128, 3) and batch.n_images == 1 and batch.is_batch
    iio.immeta(agdl_file)
    assert decode_calls == []


def test_improps_gray(gray_agdl_bytes: bytes) -> None:
    assert iio.improps(gray_agdl_bytes).shape == (48, 64)


def test_index_and_iter(agdl_file: Path) -> None:
    single = iio.imread(agdl_file)
    np.testing.assert_array_equal(iio.imread(agdl_file, index=0), single)
    batch = iio.imread(agdl_file, index=...)
    assert batch.shape == (1, *single.shape)
    frames = list(iio.imiter(agdl_file))
    assert len(frames) == 1
    np.testing.assert_array_equal(frames[0], single)
    with pytest.raises(ValueError, match="out of bounds"):
        iio.imread(agdl_file, index=1)


def test_read_options(agdl_file: Path, count_calls) -> None:
    decode_calls = count_calls("decode")
    iio.imread(agdl_file, device="cpu", projection="box")
    assert decode_calls == [{"device": "cpu", "projection": "box"}]
    base = iio.imread(agdl_file, base_only=True)
    np.testing.assert_array_equal(base, agdl_plugins.decode_base_preview(agdl_file).array)


def test_imopen_context(agdl_file: Path) -> None:
    with iio.imopen(agdl_file, "r") as f:
        assert isinstance(f, AgdlPlugin)
        assert f.properties().shape == f.read().shape


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.zeros((8, 8, 3), np.float32), "uint8"),
        (np.zeros((8, 8), np.uint16), "uint8"),
        (np.zeros((8, 8, 5), np.uint8), "shape"),
        (np.zeros((8,), np.uint8), "shape"),
        (np.zeros((2, 8, 8, 3), np.uint8), "shape"),
        (np.zeros((0, 8), np.uint8), "empty"),
    ],
    ids=["float32", "uint16", "5-channels", "1d", "4d", "empty"],
)
def test_bad_arrays_raise_clear_value_error(tmp_path: Path, array: np.ndarray, match: str) -> None:
    path = tmp_path / "bad.agdl"
    with pytest.raises(ValueError, match=match):
        iio.imwrite(path, array)
    assert not path.exists()


def test_batches(tmp_path: Path, rgb_array: np.ndarray) -> None:
    iio.imwrite(tmp_path / "b.agdl", rgb_array[None], is_batch=True)
    assert iio.improps(tmp_path / "b.agdl").shape == rgb_array.shape
    iio.imwrite(tmp_path / "l.agdl", [rgb_array])
    with pytest.raises(ValueError, match="one image"):
        iio.imwrite(tmp_path / "c.agdl", np.stack([rgb_array, rgb_array]), is_batch=True)
    with pytest.raises(ValueError, match="one image"):
        iio.imwrite(tmp_path / "d.agdl", [rgb_array, rgb_array])


def test_invalid_option_value(tmp_path: Path, rgb_array: np.ndarray) -> None:
    with pytest.raises(ValueError, match="quality"):
        iio.imwrite(tmp_path / "q.agdl", rgb_array, quality=0)
    assert not (tmp_path / "q.agdl").exists()
    with pytest.raises(TypeError):
        iio.imwrite(tmp_path / "q.agdl", rgb_array, no_such_option=1)


def test_other_formats_still_work(tmp_path: Path, rgb_array: np.ndarray) -> None:
    png = iio.imwrite("<bytes>", rgb_array, extension=".png")
    np.testing.assert_array_equal(iio.imread(png), rgb_array)  # AGDL declines, Pillow reads it
    iio.imwrite(tmp_path / "x.png", rgb_array)
    np.testing.assert_array_equal(iio.imread(tmp_path / "x.png"), rgb_array)
    with pytest.raises(OSError):
        iio.imread(b"not an image at all", plugin="AGDL")


def test_bytes_without_extension_cannot_be_written(rgb_array: np.ndarray) -> None:
    with pytest.raises(OSError):
        iio.imwrite("<bytes>", rgb_array, plugin="AGDL")


def test_failed_write_leaves_existing_file_untouched(tmp_path: Path, rgb_array: np.ndarray) -> None:
    path = tmp_path / "keep.agdl"
    iio.imwrite(path, rgb_array, quality=30)
    before = path.read_bytes()
    with pytest.raises(ValueError):
        iio.imwrite(path, rgb_array, quality=0)
    with pytest.raises(ValueError):
        iio.imwrite(path, rgb_array.astype(np.float32))
    assert path.read_bytes() == before
