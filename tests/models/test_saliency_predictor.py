"""F v2 (saliency x edges): shapes, whole-image contract, scores favour the salient region's edges."""

from __future__ import annotations

import pytest
import torch

from models.saliency import SIDE, SaliencyEdgePredictor, sobel_magnitude, thumbnail


def test_shapes_and_thumbnail():
    net = SaliencyEdgePredictor().eval()
    x = torch.rand(2, 1, 75, 133)
    assert thumbnail(x).shape == (2, 1, SIDE, SIDE)
    with torch.inference_mode():
        assert net(x).shape == (2, 1, 75, 133)
    assert SaliencyEdgePredictor.whole_image


def test_bad_input_shape():
    with pytest.raises(ValueError):
        SaliencyEdgePredictor()(torch.rand(1, 3, 16, 16))


def test_sobel_is_zero_on_flat_and_large_on_edges():
    x = torch.zeros(1, 1, 16, 16)
    assert float(sobel_magnitude(x).abs().max()) == 0.0
    x[..., 8:] = 1.0
    g = sobel_magnitude(x)
    assert float(g[0, 0, 5, 7]) == pytest.approx(4.0) and float(g[0, 0, 5, 2]) == 0.0


def test_score_is_log_saliency_plus_log_edge():
    torch.manual_seed(0)
    net = SaliencyEdgePredictor().eval()
    x = torch.rand(1, 1, 40, 48)
    with torch.inference_mode():
        s = net(x)
        expect = torch.nn.functional.logsigmoid(net.saliency_logits(x)) + torch.log(sobel_magnitude(x) + 1e-3)
    assert torch.allclose(s, expect)
