"""saliency_map / SaliencyMap: shapes, checks, values, gradients through a tiny stand-in for network F."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from kornia.core.exceptions import BaseError
from torch import nn

from kornia_ops import SaliencyMap, saliency_map


class TinySaliencyNet(nn.Module):
    """Stand-in for F's saliency head: a downscale -> conv -> upscale path (as F: thumbnail, U-Net, resize)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)

    def saliency_logits(self, x: torch.Tensor) -> torch.Tensor:
        t = F.interpolate(x - 0.5, scale_factor=0.5, mode="bilinear", align_corners=False)
        return F.interpolate(self.conv(t), size=x.shape[-2:], mode="bilinear", align_corners=False)


def _net(dtype: torch.dtype, device: torch.device) -> TinySaliencyNet:
    torch.manual_seed(0)
    return TinySaliencyNet().to(device=device, dtype=dtype)


@pytest.mark.parametrize("batch", [0, 1, 3])
def test_smoke_shape_range(batch: int, dtype: torch.dtype, device: torch.device) -> None:
    net = _net(dtype, device)
    x = torch.rand(batch, 1, 8, 10, dtype=dtype, device=device)
    s = saliency_map(x, net)
    assert s.shape == x.shape and s.dtype == dtype and s.device.type == device.type
    if batch:
        assert 0 <= float(s.detach().min()) and float(s.detach().max()) <= 1
        torch.testing.assert_close(s, torch.sigmoid(net.saliency_logits(x)))
    m = SaliencyMap(net)
    torch.testing.assert_close(m(x), s)
    assert "check_range=True" in repr(m) and any(p is net.conv.weight for p in m.parameters())


def test_checks() -> None:
    net = _net(torch.float32, torch.device("cpu"))
    with pytest.raises(BaseError):
        saliency_map(torch.rand(1, 3, 8, 8), net)  # not one channel
    with pytest.raises(BaseError):
        saliency_map(torch.rand(8, 8), net)  # not (B, 1, H, W)
    with pytest.raises(BaseError):
        saliency_map(torch.randint(0, 255, (1, 1, 8, 8), dtype=torch.uint8), net)  # not floating point
    with pytest.raises(BaseError, match=r"\[0, 1\]"):
        saliency_map(torch.full((1, 1, 8, 8), 2.0), net)  # uint8 scale
    saliency_map(torch.full((1, 1, 8, 8), 2.0), net, check_range=False)  # the check can be turned off
    with pytest.raises(BaseError, match="saliency_logits"):
        saliency_map(torch.rand(1, 1, 8, 8), nn.Conv2d(1, 1, 1))
    with pytest.raises(BaseError, match="saliency_logits"):
        SaliencyMap(nn.Identity())

    class WrongShape(nn.Module):
        def saliency_logits(self, x: torch.Tensor) -> torch.Tensor:
            return x[..., ::2, ::2]

    with pytest.raises(BaseError, match="shape"):
        saliency_map(torch.rand(1, 1, 8, 8), WrongShape())


class TinyColourNet(nn.Module):
    """Stand-in for F v3: reads ``cin = 3`` planes (Y, Cb, Cr), returns one logit plane."""

    cin = 3

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 3, padding=1)

    def saliency_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x - 0.5)


def test_colour_networks_take_their_cin_planes(device: torch.device) -> None:
    torch.manual_seed(0)
    net = TinyColourNet().to(device)
    x = torch.rand(2, 3, 8, 10, device=device)
    s = saliency_map(x, net)
    assert s.shape == (2, 1, 8, 10)
    torch.testing.assert_close(SaliencyMap(net)(x), s)
    with pytest.raises(BaseError):
        saliency_map(torch.rand(2, 1, 8, 10, device=device), net)  # F v3 needs Y, Cb, Cr
    xd = torch.rand(1, 3, 5, 6, dtype=torch.float64).clamp(0.05, 0.95).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: saliency_map(v, net.cpu().double()), (xd,))


def test_gradcheck() -> None:
    net = _net(torch.float64, torch.device("cpu"))
    x = torch.rand(2, 1, 6, 8, dtype=torch.float64).clamp(0.05, 0.95).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: saliency_map(v, net), (x,))
    # and through the network's parameters (training on top of F), via the Module
    m = SaliencyMap(net)
    params = {k: v.detach().clone().requires_grad_() for k, v in m.named_parameters()}

    def f(weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(m, {"net.conv.weight": weight, "net.conv.bias": bias}, (x.detach(),))

    assert torch.autograd.gradcheck(f, (params["net.conv.weight"], params["net.conv.bias"]))
    m(x).sum().backward()
    assert net.conv.weight.grad is not None and net.conv.weight.grad.abs().sum() > 0
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_kornia_ops_never_imports_the_codec() -> None:
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, kornia_ops; kornia_ops.saliency_map; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('agdl_plugins', 'models')]; assert not bad, bad")
    root = Path(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
