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


def test_colour_variant_shapes_and_hparams():
    net = SaliencyEdgePredictor(ch=8, cin=3, side=96).eval()
    assert net.hparams == {"ch": 8, "cin": 3, "side": 96}
    assert SaliencyEdgePredictor(ch=16).hparams == {"ch": 16}  # v2's metadata (and so its file) is unchanged
    x = torch.rand(2, 3, 50, 70)
    with torch.inference_mode():
        assert net(x).shape == (2, 1, 50, 70)
        assert net.saliency_logits(x).shape == (2, 1, 50, 70)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        net(torch.rand(1, 1, 16, 16))
    with pytest.raises(ValueError):
        SaliencyEdgePredictor(cin=2)
    with pytest.raises(ValueError):
        SaliencyEdgePredictor(side=60)


def test_colour_variant_edges_come_from_luma_and_chroma_moves_saliency():
    torch.manual_seed(0)
    net = SaliencyEdgePredictor(ch=8, cin=3).eval()
    x = torch.rand(1, 3, 40, 48)
    with torch.inference_mode():
        s = net(x)
        expect = torch.nn.functional.logsigmoid(net.saliency_logits(x)) + torch.log(sobel_magnitude(x[:, :1]) + 1e-3)
        y = x.clone()
        y[:, 1:] = 1 - y[:, 1:]
        moved = net.saliency_logits(y)
    assert torch.allclose(s, expect)
    assert not torch.allclose(moved, net.saliency_logits(x))  # the chroma planes do reach the U-Net

