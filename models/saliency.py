"""Network F v2: a learned saliency map (global context, low resolution) times classical edge strength.

The paper's critical set is edges ∩ ROI ∩ large error (eq. 1). F v1 (a full-resolution U-Net trained on
eq. 1 labels for 18 CPU-minutes) did not learn the ROI part. v2 splits the job: a small U-Net sees the
whole base layer at 64x64 and predicts the salient region (trained on DUTS-TR masks, which is fast at
that size); the score of a pixel is ``log sigmoid(saliency) + log(edge + eps)`` with the Sobel magnitude of
the base luminance at full resolution. Ranking by this score keeps strong edges inside the salient region.

F v4 keeps v3's U-Net and replaces the edge term by the 3x3 mean of the Sobel magnitude (``edge_pool=3``):
it also ranks the pixels beside an edge (where JPEG ringing and G's misses sit) above isolated texture
pixels; measured +0.1 to +0.25 dB ROI at equal refinement bytes on the tuning sets (BENCHMARKS.md §18).
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
    """U-Net, 4 levels: (B, cin, S, S) in [0, 1] -> (B, 1, S, S) saliency logits (S a multiple of 8).

    ``cin`` = 1: base luminance (F v2); 3: base Y, Cb, Cr (F v3).
    """

    def __init__(self, ch: int = 16, cin: int = 1) -> None:
        super().__init__()
        self.e1, self.e2, self.e3, self.e4 = _block(cin, ch), _block(ch, 2 * ch), _block(2 * ch, 4 * ch), _block(
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


def thumbnail(x: torch.Tensor, side: int = SIDE) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, side, side) antialiased bilinear resize (the network's only view of the image)."""
    return F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=True)


def sobel_magnitude(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) -> (B, 1, H, W) |gx| + |gy| (replicate padding)."""
    k = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=x.dtype, device=x.device)
    w = torch.stack([k, k.t()])[:, None]
    g = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), w)
    return g.abs().sum(1, keepdim=True)


class SaliencyEdgePredictor(nn.Module):
    """F v2/v3: ``log sigmoid(upsampled saliency) + log(sobel(Y) + 1e-3)``; input (B, cin, H, W) in [0, 1].

    ``cin`` = 1 (v2): the base luminance; ``cin`` = 3 (v3): the base layer's Y, Cb, Cr planes (channel 0 is
    the luminance the edges are taken from; a grey image is given Cb = Cr = 128/255). ``side``: the
    thumbnail the saliency U-Net sees. ``edge_pool``: the edge term is the ``edge_pool`` x ``edge_pool`` mean of
    the Sobel magnitude (1 = the magnitude itself, v2/v3; 3 = v4; zero padding not counted).
    ``net``: the saliency network, ``"unet"`` (``SaliencyNet``, v2-v4) or ``"pyramid"``
    (``models.saliency_v5.PyramidSaliencyNet`` of width ``ch``, F v5; ``cin`` = 3, ``side`` a multiple of 16).
    ``qtable`` is accepted for interface compatibility and unused. Needs the whole image at once
    (``whole_image = True``: the codec does not tile it; memory is a few full-size float planes).
    """

    whole_image = True

    def __init__(self, ch: int = 16, cin: int = 1, side: int = SIDE, edge_pool: int = 1, net: str = "unet") -> None:
        super().__init__()
        if cin not in (1, 3) or side % 8:
            raise ValueError(f"cin must be 1 or 3 and side a multiple of 8, got cin={cin}, side={side}")
        if edge_pool not in (1, 3, 5):
            raise ValueError(f"edge_pool must be 1, 3 or 5, got {edge_pool}")
        if net not in ("unet", "pyramid") or (net == "pyramid" and (cin != 3 or side % 16)):
            raise ValueError(f"net must be 'unet' or 'pyramid' (cin 3, side a multiple of 16), got {net!r}, "
                             f"cin={cin}, side={side}")
        self.hparams = {"ch": ch} if (cin, side) == (1, SIDE) else {"ch": ch, "cin": cin, "side": side}
        if edge_pool != 1:  # v2/v3 metadata stays as it was
            self.hparams["edge_pool"] = edge_pool
        if net != "unet":  # v2-v4 metadata stays as it was
            self.hparams["net"] = net
        self.cin, self.side, self.edge_pool = cin, side, edge_pool
        if net == "pyramid":
            from .saliency_v5 import PyramidSaliencyNet
            self.saliency = PyramidSaliencyNet(cin, ch)
        else:
            self.saliency = SaliencyNet(ch, cin)

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.cin:
            raise ValueError(f"x must be (B, {self.cin}, H, W), got {tuple(x.shape)}")

    @property
    def edge_halo(self) -> int:
        """Rows (and columns) of context :meth:`edge` reads on each side of a pixel: 1 for the Sobel kernel plus
        ``edge_pool // 2`` for the pooling. An edge computed on rows ``[a, b)`` of the image is exact on rows
        ``[a + edge_halo, b - edge_halo)`` (and up to an image edge that is also a band edge)."""
        return 1 + self.edge_pool // 2

    def upsampled_logits(self, small: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """(B, 1, side, side) logits of :attr:`saliency` on the thumbnail -> (B, 1, H, W), bilinear."""
        return F.interpolate(small, size=size, mode="bilinear", align_corners=False)

    def saliency_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, cin, H, W) -> (B, 1, H, W) saliency logits, upsampled bilinearly from side x side."""
        self._check(x)
        return self.upsampled_logits(self.saliency(thumbnail(x, self.side)), x.shape[-2:])

    @staticmethod
    def combine(logits: torch.Tensor, edge: torch.Tensor) -> torch.Tensor:
        """The score ``log sigmoid(logits) + log(edge + 1e-3)``, elementwise (any matching shapes)."""
        return F.logsigmoid(logits) + torch.log(edge + 1e-3)

    def scores_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, cin, H, W) -> ((B, 1, H, W) scores, (B, 1, H, W) saliency logits) from one U-Net run.

        Holds several full-size float planes; the codec computes the same values row band by row band
        (``agdl_plugins.parts.learned``: :meth:`upsampled_logits`, :meth:`edge` with :attr:`edge_halo` rows of
        context, :meth:`combine`), bit-identical on CPU.
        """
        logits = self.saliency_logits(x)
        return self.combine(logits, self.edge(x)), logits

    def edge(self, x: torch.Tensor) -> torch.Tensor:
        """(B, cin, H, W) (or (B, 1, H, W): the luminance alone) -> (B, 1, H, W) edge strength of the
        luminance (channel 0)."""
        e = sobel_magnitude(x[:, :1])
        if self.edge_pool == 1:
            return e
        k = self.edge_pool
        return F.avg_pool2d(e, k, stride=1, padding=k // 2, count_include_pad=False)

    def forward(self, x: torch.Tensor, qtable: torch.Tensor | None = None) -> torch.Tensor:
        """(B, cin, H, W) -> (B, 1, H, W) scores."""
        return self.scores_and_logits(x)[0]
