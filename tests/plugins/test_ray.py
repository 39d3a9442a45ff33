"""The Ray adapter (#16) on a local 2-CPU Ray instance: CLI --engine ray, Ray Data columns, write_images."""

from __future__ import annotations

import numpy as np
import pytest
import ray  # in the [test] extra: a missing Ray fails instead of skipping (as cv2 and SciPy do)
from PIL import Image

ENC = {"device": "cpu"}  # default networks F and G: the bytes then depend on the thread count (pinned to 1)


@pytest.fixture(scope="module")
def agdl_ray():
    """One local Ray instance for the module, with AGDL's worker setup hook."""
    import agdl_plugins.apps.ray as agdl_ray

    if ray.is_initialized():
        ray.shutdown()
    agdl_ray.init(num_cpus=2, include_dashboard=False, logging_level="warning")
    yield agdl_ray
    ray.shutdown()


@pytest.fixture
def one_thread():
    import torch

    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


def _images(rgb_array, n=3):
    return [np.ascontiguousarray(np.roll(rgb_array, 9 * i, axis=1)) for i in range(n)]


@pytest.mark.timeout(300)
def test_cli_engine_ray_writes_the_serial_bytes(tmp_path, rgb_array, agdl_ray, capsys):
    from agdl_plugins.apps.cli import main

    (tmp_path / "in").mkdir()
    for i, im in enumerate(_images(rgb_array)):
        Image.fromarray(im).save(tmp_path / "in" / f"i{i}.png")
    (tmp_path / "in" / "zbad.png").write_bytes(b"not a png")
    glob = str(tmp_path / "in" / "*.png")
    common = ["-q", "--threads", "1", "--device", "cpu"]
    assert main(["encode", glob, "-o", str(tmp_path / "s"), *common]) == 1
    assert main(["encode", glob, "-o", str(tmp_path / "r"), "--engine", "ray", *common]) == 1
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("agdl: ")]
    assert len(lines) == 2 and all("zbad.png" in ln for ln in lines)
    names = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert names == ["i0.agdl", "i1.agdl", "i2.agdl"] == sorted(p.name for p in (tmp_path / "r").iterdir())
    for n in names:
        assert (tmp_path / "s" / n).read_bytes() == (tmp_path / "r" / n).read_bytes(), n


@pytest.mark.timeout(300)
def test_dataset_encode_decode_columns(rgb_array, agdl_ray, one_thread):
    import agdl_plugins as agdl

    imgs = _images(rgb_array, 2)
    ds = ray.data.from_items([{"id": i, "image": im} for i, im in enumerate(imgs)])
    ds = agdl_ray.encode_dataset(ds, threads=1, concurrency=1, **ENC)
    ds = agdl_ray.decode_dataset(ds, output_column="decoded", threads=1, concurrency=1, device="cpu")
    rows = sorted(ds.take_all(), key=lambda r: r["id"])
    for r, im in zip(rows, imgs):
        data = agdl.encode(im, **ENC)
        assert bytes(r["agdl"]) == data
        assert np.array_equal(np.asarray(r["decoded"]), agdl.decode(data, device="cpu").array)


@pytest.mark.timeout(300)
def test_write_images_file_format_agdl_in_ray_workers(tmp_path, rgb_array, agdl_ray):
    """``ds.write_images(..., file_format="agdl")``: Pillow's AGDL saver exists in Ray's workers (setup hook)."""
    import agdl_plugins as agdl

    imgs = _images(rgb_array, 2)
    ds = ray.data.from_items([{"image": im} for im in imgs])
    ds.write_images(str(tmp_path / "w"), column="image", file_format="agdl")
    files = sorted((tmp_path / "w").glob("*.agdl"))
    assert len(files) == 2
    for f in files:
        with Image.open(f) as im:
            assert im.format == "AGDL" and im.size == (rgb_array.shape[1], rgb_array.shape[0])
    agdl_ray.write_agdl(ds, str(tmp_path / "s"), quality=60, predictor="edge-sobel", restorer="identity", base="jpeg")
    back = agdl_ray.read_agdl(str(tmp_path / "s"), restorer="identity").take_all()
    assert len(back) == 2 and all(np.asarray(r["image"]).shape == rgb_array.shape for r in back)
    assert all(agdl.read_info(f).quality == 60 for f in (tmp_path / "s").glob("*.agdl"))
