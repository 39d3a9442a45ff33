"""What a predictor reads from the base layer: luminance, or Y/Cb/Cr for a colour predictor (F v3)."""

from __future__ import annotations

import numpy as np
import pytest

from agdl_plugins.parts import learned
from agdl_plugins.parts.predictors import LearnedPredictor, SobelEdgePredictor, predictor_input
from agdl_plugins.parts.registry import get_registry


def _planes(h: int = 40, w: int = 56) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_predictor_input_luma_for_plain_predictors_planes_for_colour_ones():
    p = _planes()
    assert predictor_input(SobelEdgePredictor(), p).shape == (40, 56)
    assert np.array_equal(predictor_input(SobelEdgePredictor(), p), p[..., 0])
    assert predictor_input(LearnedPredictor(2), p) is p
    grey = p[..., 0]
    assert predictor_input(LearnedPredictor(2), grey) is grey
    assert predictor_input(SobelEdgePredictor(), grey) is grey


def test_luma_networks_ignore_the_chroma():
    """F v2 reads only the luminance: given the YCbCr planes its scores equal those of channel 0 alone."""
    reg = get_registry()
    pred = reg.get("predictor", "agdl-f", 2)
    p = _planes()
    assert np.array_equal(pred.scores(p, None, "cpu"), pred.scores(np.ascontiguousarray(p[..., 0]), None, "cpu"))


def test_colour_network_input_grey_gets_neutral_chroma():
    import torch
    from agdl_models.saliency import SaliencyEdgePredictor

    net = SaliencyEdgePredictor(ch=4, cin=3).eval()
    grey = _planes()[..., 0]
    x = learned._whole_input(net, grey, "cpu")
    assert x.shape == (1, 3, 40, 56)
    assert torch.equal(x[0, 0], torch.from_numpy(grey.astype(np.float32) / 255))
    assert torch.all(x[0, 1:] == np.float32(128) / np.float32(255))
    rgbish = _planes()
    x3 = learned._whole_input(net, rgbish, "cpu")
    assert torch.equal(x3[0].permute(1, 2, 0), torch.from_numpy(rgbish.astype(np.float32) / 255))
    luma_net = SaliencyEdgePredictor(ch=4).eval()
    assert learned._whole_input(luma_net, rgbish, "cpu").shape == (1, 1, 40, 56)


@pytest.mark.parametrize("version", [2, 3])
def test_saliency_head_accepts_planes(version):
    pred = get_registry().get("predictor", "agdl-f", version)
    p = _planes()
    s = pred.saliency(p, "cpu")
    assert s.shape == (40, 56) and s.dtype == np.float32 and 0 <= s.min() <= s.max() <= 1


@pytest.mark.parametrize("version", [3, 4])
def test_f_v3_v4_read_the_chroma_and_v4_is_the_default(version):
    """F v6 (v4's score, v5's pyramid saliency net fine-tuned) is the default predictor; v3's and v4's saliency
    (and so the critical set) depends on Cb/Cr, and a grey image is scored as Y with neutral chroma."""
    from skimage import data

    reg = get_registry()
    assert reg.get("predictor", "agdl-f").version == 6
    pred = reg.get("predictor", "agdl-f", version)
    from PIL import Image

    ycc = np.asarray(Image.fromarray(data.chelsea()[::2, ::2]).convert("YCbCr"))
    neutral = ycc.copy()
    neutral[..., 1:] = 128
    s_col, s_grey = pred.saliency(ycc, "cpu"), pred.saliency(np.ascontiguousarray(ycc[..., 0]), "cpu")
    assert np.array_equal(s_grey, pred.saliency(neutral, "cpu"))
    assert float(np.abs(s_col - s_grey).mean()) > 1e-3


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_scores_and_saliency_in_one_run_are_bit_identical(version):
    """analyze() gets F's scores and saliency from one U-Net run; they must equal the two separate calls
    bit for bit (the scores feed the critical set, which the file's CRC checks)."""
    pred = get_registry().get("predictor", "agdl-f", version)
    p = _planes(48, 64)
    x = predictor_input(pred, p)
    scores, sal = pred.scores_and_saliency(x, None, "cpu")
    assert scores.dtype == np.float64 and np.array_equal(scores, pred.scores(x, None, "cpu"))
    alone = pred.saliency(x, "cpu")
    if alone is None:  # F v1 has no saliency head
        assert sal is None
    else:
        assert np.array_equal(sal, alone)


def test_analyze_runs_the_saliency_network_once(monkeypatch):
    from skimage import data

    import agdl_plugins as agdl
    from agdl_plugins.parts import learned as L

    f = agdl.encode(data.chelsea()[:96, :128], quality=30, critical_fraction=0.1)
    assert agdl.read_info(f).n_critical > 0
    full = agdl.analyze(f)
    calls = {"joint": 0, "saliency": 0}
    joint, sal_only = L.run_scores_and_saliency, L.run_saliency

    def count(name, fn):
        def wrapped(*a, **k):
            calls[name] += 1
            return fn(*a, **k)
        return wrapped

    from agdl_plugins.parts import predictors as P

    monkeypatch.setattr(P, "run_scores_and_saliency", count("joint", joint))
    monkeypatch.setattr(P, "run_saliency", count("saliency", sal_only))
    again = agdl.analyze(f)
    assert calls == {"joint": 1, "saliency": 0}
    assert np.array_equal(again.critical, full.critical) and np.array_equal(again.saliency, full.saliency)
    pf = agdl.format.parse.parse_file(f)
    assert np.array_equal(again.critical, agdl.codec.decoder.critical_mask(pf, get_registry()))
