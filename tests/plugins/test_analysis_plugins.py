"""Issue 17 in the adapters: Pillow ``register_agdl_opener(saliency=True)`` and imageio ``immeta(saliency=True)``."""

from __future__ import annotations

import io

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

import agdl_plugins
import pillow_plugin


@pytest.fixture(scope="module")
def refined(rgb_array: np.ndarray) -> bytes:
    return agdl_plugins.encode(rgb_array, quality=30, critical_fraction=0.05, step=16)


@pytest.fixture(scope="module")
def sobel(rgb_array: np.ndarray) -> bytes:
    return agdl_plugins.encode(rgb_array, quality=30, predictor="edge-sobel", restorer="identity")


@pytest.fixture
def saliency_opt_in():
    pillow_plugin.register_agdl_opener(saliency=True)
    yield
    pillow_plugin.register_agdl_opener(saliency=False)


# -- Pillow -----------------------------------------------------------------------------------------------


def test_pillow_default_unchanged(refined: bytes, count_calls) -> None:
    calls = count_calls("analyze")
    assert pillow_plugin.ANALYSIS_OPTIONS == {"saliency": False}
    with Image.open(io.BytesIO(refined)) as im:
        im.load()
        assert "agdl_saliency" not in im.info
    assert calls == []


def test_pillow_saliency_opt_in(refined: bytes, saliency_opt_in, count_calls) -> None:
    calls = count_calls("analyze")
    with Image.open(io.BytesIO(refined)) as im:
        assert "agdl_saliency" not in im.info  # computed by load(), not by open()
        ref = agdl_plugins.decode(refined).array
        assert np.array_equal(np.asarray(im), ref)  # pixels unchanged
        sal = im.info["agdl_saliency"]
    assert len(calls) == 1
    want = agdl_plugins.analyze(refined, outputs="saliency").saliency
    assert sal.dtype == np.float32 and sal.shape == (im.height, im.width)
    np.testing.assert_array_equal(sal, want)
    # the base-layer preview (Image.thumbnail -> draft) gets it too
    with Image.open(io.BytesIO(refined)) as im:
        im.thumbnail((20, 20))
        np.testing.assert_array_equal(im.info["agdl_saliency"], want)


def test_pillow_saliency_none_without_head(sobel: bytes, saliency_opt_in) -> None:
    with Image.open(io.BytesIO(sobel)) as im:
        im.load()
        assert im.info["agdl_saliency"] is None


def test_pillow_register_keeps_other_settings(saliency_opt_in) -> None:
    before = dict(pillow_plugin.DECODE_OPTIONS)
    pillow_plugin.register_agdl_opener()  # no argument: leaves the opt-in as it is
    assert pillow_plugin.ANALYSIS_OPTIONS["saliency"] is True
    assert pillow_plugin.DECODE_OPTIONS == before
    with pytest.raises(TypeError):
        pillow_plugin.register_agdl_opener(salience=True)


# -- imageio ----------------------------------------------------------------------------------------------


def test_imageio_metadata_default_unchanged(refined: bytes, count_calls) -> None:
    calls = count_calls("analyze")
    meta = iio.immeta(refined, plugin="AGDL")
    assert not any(k in meta for k in ("agdl_saliency", "agdl_critical", "agdl_roi_boxes"))
    assert meta == agdl_plugins.read_info(refined).as_dict()
    assert calls == []


def test_imageio_metadata_saliency(refined: bytes, tmp_path) -> None:
    path = tmp_path / "x.agdl"
    path.write_bytes(refined)
    want = agdl_plugins.analyze(refined)
    meta = iio.immeta(path, saliency=True)
    np.testing.assert_array_equal(meta["agdl_saliency"], want.saliency)
    assert meta["agdl_roi_boxes"] == [b.as_dict() for b in want.boxes]
    assert "agdl_critical" not in meta and meta["agdl_quality"] == 30
    meta = iio.immeta(refined, plugin="AGDL", saliency=True, critical=True, device="cpu")
    assert np.array_equal(meta["agdl_critical"], want.critical)
    assert np.array_equal(meta["agdl_critical"], agdl_plugins.decode(refined, diagnostics=True)
                          .diagnostics["critical_mask"])
    with iio.imopen(path, "r", plugin="AGDL") as f:
        meta = f.metadata(critical=True)
        assert meta["agdl_critical"].sum() == agdl_plugins.read_info(refined).n_critical
        assert "agdl_saliency" not in meta


def test_imageio_metadata_saliency_none_without_head(sobel: bytes) -> None:
    meta = iio.immeta(sobel, plugin="AGDL", saliency=True)
    assert meta["agdl_saliency"] is None and meta["agdl_roi_boxes"] is None
    assert any("no saliency head" in n for n in meta["agdl_analysis_notes"])
