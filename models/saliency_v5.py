"""F v5's saliency head: a small pyramid U-Net for 96-128 px thumbnails, trained from scratch on DUTS-TR.

F v2-v4 read a 64x64 thumbnail with a 4-level plain U-Net (width 16). v5 keeps the interface (the
thumbnail of the base layer's Y, Cb, Cr in [0, 1] -> saliency logits of the same size, consumed by
``models.saliency.SaliencyEdgePredictor``) and changes the network for global context at a larger side:

* a stride-2 encoder (side S -> S/2 -> S/4 -> S/8 -> S/16) of residual blocks; the two deepest stages use
  dilated 3x3 convolutions, and a pyramid pooling module (average pools to 1x1, 2x2, 4x4) on the deepest
  stage gives every position the whole image's context;
* a U-Net decoder (concatenated skips) back to side S, with the input planes fed again at full resolution
  so that the mask can follow the image's edges;
* deep supervision: ``forward(x, side_outputs=True)`` also returns the logits of every decoder stage
  (upsampled to S) for the training loss; inference uses the last one only.

BatchNorm everywhere (folded in eval mode by ``torch``'s inference path; weights are small: see
``n_params``). Nothing here changes process-global state.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def _cbr(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """3x3 conv + BatchNorm + ReLU: (B, cin, H, W) -> (B, cout, H / stride, W / stride)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ResBlock(nn.Module):
    """Two 3x3 conv-BN layers with a residual connection: (B, cin, H, W) -> (B, cout, H, W).

    ``dilation``: of the second convolution (the first uses ``dilation`` // 2 or 1).
    """

    def __init__(self, cin: int, cout: int, dilation: int = 1) -> None:
        super().__init__()
        d1 = max(1, dilation // 2)
        self.c1 = _cbr(cin, cout, dilation=d1)
        self.c2 = nn.Sequential(nn.Conv2d(cout, cout, 3, padding=dilation, dilation=dilation, bias=False),
                                nn.BatchNorm2d(cout))
        self.skip = nn.Identity() if cin == cout else nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False),
                                                                    nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.c2(self.c1(x)) + self.skip(x))


class PyramidPooling(nn.Module):
    """PSPNet-style context: (B, c, H, W) -> (B, c, H, W); average pools to 1, 2, 4 cells, 1x1 conv each
    to c // 4 channels, upsampled bilinearly, concatenated with the input and fused by a 1x1 conv."""

    def __init__(self, c: int, bins: tuple[int, ...] = (1, 2, 4)) -> None:
        super().__init__()
        self.bins = bins
        self.reduce = nn.ModuleList(nn.Sequential(nn.Conv2d(c, c // 4, 1, bias=False), nn.ReLU(inplace=True))
                                    for _ in bins)
        self.fuse = nn.Sequential(nn.Conv2d(c + len(bins) * (c // 4), c, 1, bias=False), nn.BatchNorm2d(c),
                                  nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ctx = [F.interpolate(r(F.adaptive_avg_pool2d(x, b)), size=(h, w), mode="bilinear", align_corners=False)
               for b, r in zip(self.bins, self.reduce)]
        return self.fuse(torch.cat([x, *ctx], 1))


class PyramidSaliencyNet(nn.Module):
    """(B, cin, S, S) in [0, 1] -> (B, 1, S, S) saliency logits; S a multiple of 16.

    ``width``: channels of the first encoder stage; the stages have ``width`` x (1, 2, 4, 6) channels at
    S/2, S/4, S/8, S/16 and the decoder mirrors them, ending with ``width`` // 2 + ... at side S.
    """

    def __init__(self, cin: int = 3, width: int = 16) -> None:
        super().__init__()
        w1, w2, w3, w4 = width, 2 * width, 4 * width, 6 * width
        self.cin, self.width = cin, width
        self.stem = _cbr(cin, w1 // 2)                                       # S
        self.e1 = nn.Sequential(_cbr(w1 // 2, w1, stride=2), ResBlock(w1, w1))   # S/2
        self.e2 = nn.Sequential(_cbr(w1, w2, stride=2), ResBlock(w2, w2))         # S/4
        self.e3 = nn.Sequential(_cbr(w2, w3, stride=2), ResBlock(w3, w3, 2))      # S/8
        self.e4 = nn.Sequential(_cbr(w3, w4, stride=2), ResBlock(w4, w4, 2))      # S/16
        self.ppm = PyramidPooling(w4)
        self.d3 = ResBlock(w4 + w3, w3)                                       # S/8
        self.d2 = ResBlock(w3 + w2, w2)                                       # S/4
        self.d1 = ResBlock(w2 + w1, w1)                                       # S/2
        self.d0 = ResBlock(w1 + w1 // 2 + cin, w1 // 2)                       # S
        self.heads = nn.ModuleList(nn.Conv2d(c, 1, 1) for c in (w4, w3, w2, w1, w1 // 2))

    def forward(self, x: torch.Tensor, side_outputs: bool = False) -> torch.Tensor | list[torch.Tensor]:
        """(B, cin, S, S) -> (B, 1, S, S) logits; with ``side_outputs`` a list of 5 such tensors, coarse
        (the context stage) to fine, the last being the output."""
        if x.dim() != 4 or x.shape[1] != self.cin or x.shape[-1] % 16 or x.shape[-2] % 16:
            raise ValueError(f"x must be (B, {self.cin}, H, W) with H, W multiples of 16, got {tuple(x.shape)}")
        xc = x - 0.5
        s0 = self.stem(xc)
        e1 = self.e1(s0)
        e2 = self.e2(e1)
        e3 = self.e3(e2)
        e4 = self.ppm(self.e4(e3))

        def up(t: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
            return F.interpolate(t, size=ref.shape[-2:], mode="bilinear", align_corners=False)

        d3 = self.d3(torch.cat([up(e4, e3), e3], 1))
        d2 = self.d2(torch.cat([up(d3, e2), e2], 1))
        d1 = self.d1(torch.cat([up(d2, e1), e1], 1))
        d0 = self.d0(torch.cat([up(d1, s0), s0, xc], 1))
        if not side_outputs:
            return self.heads[-1](d0)
        return [up(h(t), x) if t is not d0 else h(t) for h, t in zip(self.heads, (e4, d3, d2, d1, d0))]


def conv_macs(net: nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of the convolutions of one forward pass of ``net`` on ``x`` (B, C, H, W)."""
    total = [0]

    def hook(m: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        total[0] += out.numel() * k

    hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.inference_mode():
            net(x)
    finally:
        for h in hs:
            h.remove()
    return total[0]
