"""Network F v2: a learned saliency map (global context, low resolution) times classical edge strength.

The paper's critical set is edges ∩ ROI ∩ large error (eq. 1). F v1 (a full-resolution U-Net trained on
eq. 1 labels for 18 CPU-minutes) did not learn the ROI part. v2 splits the job: a small U-Net sees the
whole base layer at 64x64 and predicts the salient region (trained on DUTS-TR masks, which is fast at
that size); the score of a pixel is ``log sigmoid(saliency) + log(edge + eps)`` with the Sobel magnitude of
the base luminance at full resolution. Ranking by this score keeps strong edges inside the salient region.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

SIDE = 64


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU(inplace=True))


class SaliencyNet(nn.Module):
    """U-Net, 4 levels: (B, 1, 64, 64) luminance in [0, 1] -> (B, 1, 64, 64) saliency logits."""

    def __init__(self, ch: int = 16) -> None:
        super().__init__()
        self.e1, self.e2, self.e3, self.e4 = _block(1, ch), _block(ch, 2 * ch), _block(2 * ch, 4 * ch), _block(
            4 * ch, 8 * ch)
        self.d3, self.d2, self.d1 = _block(12 * ch, 4 * ch), _block(6 * ch, 2 * ch), _block(3 * ch, ch)
        self.out = nn.Conv2d(ch, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.e1(x - 0.5)
        e2 = self.e2(F.max_pool2d(e1, 2))
        e3 = self.e3(F.max_pool2d(e2, 2))
        e4 = self.e4(F.max_pool2d(e3, 2))
        up = lambda t: F.interpolate(t, scale_factor=2.0, mode="nearest")  # noqa: E731
        d3 = self.d3(torch.cat([up(e4), e3], 1))
        d2 = self.d2(torch.cat([up(d3), e2], 1))
        d1 = self.d1(torch.cat([up(d2), e1], 1))
        return self.out(d1)


def thumbnail(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) -> (B, 1, 64, 64) antialiased bilinear resize (the network's only view of the image)."""
    return F.interpolate(x, size=(SIDE, SIDE), mode="bilinear", align_corners=False, antialias=True)


def sobel_magnitude(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) -> (B, 1, H, W) |gx| + |gy| (replicate padding)."""
    k = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=x.dtype, device=x.device)
    w = torch.stack([k, k.t()])[:, None]
    g = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), w)
    return g.abs().sum(1, keepdim=True)


class SaliencyEdgePredictor(nn.Module):
    """F v2: ``log sigmoid(upsampled saliency) + log(sobel + 1e-3)``; input (B, 1, H, W) in [0, 1].

    ``qtable`` is accepted for interface compatibility and unused. Needs the whole image at once
    (``whole_image = True``: the codec does not tile it; memory is a few full-size float planes).
    """

    whole_image = True

    def __init__(self, ch: int = 16) -> None:
        super().__init__()
        self.hparams = {"ch": ch}
        self.saliency = SaliencyNet(ch)

    def saliency_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) -> (B, 1, H, W) saliency logits, upsampled bilinearly from 64x64."""
        s = self.saliency(thumbnail(x))
        return F.interpolate(s, size=x.shape[-2:], mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor, qtable: torch.Tensor | None = None) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError("x must be (B, 1, H, W)")
        return F.logsigmoid(self.saliency_logits(x)) + torch.log(sobel_magnitude(x) + 1e-3)
