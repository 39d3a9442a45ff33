"""F v2 (saliency x edges): shapes, whole-image contract, scores favour the salient region's edges."""

from __future__ import annotations

import pytest
import torch
from agdl_models.saliency import SIDE, SaliencyEdgePredictor, sobel_magnitude, thumbnail


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



def test_edge_pool_averages_the_sobel_magnitude_and_keeps_old_hparams():
    import torch.nn.functional as F

    torch.manual_seed(0)
    v3 = SaliencyEdgePredictor(ch=8, cin=3)
    v4 = SaliencyEdgePredictor(ch=8, cin=3, edge_pool=3)
    v4.load_state_dict(v3.state_dict())
    assert "edge_pool" not in v3.hparams and v4.hparams["edge_pool"] == 3
    x = torch.rand(1, 3, 40, 56)
    s3, l3 = v3.scores_and_logits(x)
    s4, l4 = v4.scores_and_logits(x)
    assert torch.equal(l3, l4)  # same U-Net, same saliency
    sob = sobel_magnitude(x[:, :1])
    mean3 = F.avg_pool2d(sob, 3, 1, 1, count_include_pad=False)
    assert torch.allclose(s4 - s3, torch.log(mean3 + 1e-3) - torch.log(sob + 1e-3), atol=1e-5)
    # an edge pixel's neighbours now score on the edge too; the border mean counts only real pixels
    step = torch.zeros(1, 3, 16, 16)
    step[..., 8:] = 1.0
    e1, e3 = v3.edge(step), v4.edge(step)
    assert e1[0, 0, 8, 5] == 0 and e3[0, 0, 8, 6] > 0
    assert torch.allclose(v4.edge(torch.ones(1, 3, 8, 8)), torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="edge_pool"):
        SaliencyEdgePredictor(edge_pool=2)


def test_shipped_v4_is_v3_with_a_pooled_edge_term():
    from agdl_models import weights as W

    v3 = W.load_predictor(W.WEIGHTS_DIR / "predictor_v3.safetensors")
    v4 = W.load_predictor(W.WEIGHTS_DIR / "predictor_v4.safetensors")
    assert v4.edge_pool == 3 and v3.edge_pool == 1 and v4.cin == 3
    for (k, a), (k2, b) in zip(v3.state_dict().items(), v4.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b)
    assert "derive_predictor" in v4.metadata["command"]
