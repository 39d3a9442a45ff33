"""Network G-lite: a light JPEG/WebP/AVIF artefact remover distilled from G v2 (issue 29, item 2).

Interface (identical to :class:`models.restorer_v2.MultiScaleRestorer`, so the codec runs either)
-------------------------------------------------------------------------------------------------
``LiteRestorer()(x, cond) -> y``

* ``x``: (B, 1, H, W) float32 luminance in [0, 1]. H and W MUST be multiples of 8 and the 8x8 JPEG
  block grid must start at pixel (0, 0) (the caller pads bottom/right and crops back).
* ``cond``: (B, cond_in) float32 conditioning vector: the luminance quantisation table / 255 in Pillow's
  ``quantization[0]`` order for JPEG bases, ``models.base_cond.base_cond(codec, q) / 255`` for WebP/AVIF.
* returns (B, 1, H, W) float32 restored luminance, not clamped.

Architecture (built for a few wide convolutions at reduced resolution on a CPU): pixel-unshuffle by 4
(16 channels at H/4) -> one 3x3 conv (``c4`` channels) -> 3x3 stride-2 conv to H/8 (``c8`` channels, on the
JPEG block grid) plus a 1x1 conv of the pixel-unshuffled-by-8 input (the 64 pixels of each 8x8 block) ->
``blocks`` residual blocks at H/8 -> 1x1 conv + pixel-shuffle back to H/4, added to the H/4 features ->
3x3 conv -> 3x3 conv to 16 channels, pixel-shuffle by 4, residual output. FiLM on the table at the H/8 entry,
in every residual block and at H/4. ReLU only, no normalisation layers. Receptive field ~140 px.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .restorer import FiLM, check_restorer_inputs


class _ResBlock(nn.Module):
    def __init__(self, c: int, cond_dim: int):
        super().__init__()
        self.c1 = nn.Conv2d(c, c, 3, padding=1)
        self.c2 = nn.Conv2d(c, c, 3, padding=1)
        self.film = FiLM(cond_dim, c)
        with torch.no_grad():
            self.c2.weight.mul_(0.2)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return x + self.c2(F.relu(self.film(self.c1(x), cond)))


class LiteRestorer(nn.Module):
    """G-lite. ``c4``: channels at H/4; ``c8``: channels at H/8; ``blocks``: residual blocks at H/8.

    ``tile``/``overlap``: how the codec tiles large planes for this network.
    """

    tile = 1024
    overlap = 64

    def __init__(self, c4: int = 48, c8: int = 64, blocks: int = 2, cond_in: int = 64, cond_dim: int = 32):
        super().__init__()
        self.hparams = dict(c4=c4, c8=c8, blocks=blocks, cond_in=cond_in, cond_dim=cond_dim)
        self.cond = nn.Sequential(nn.Linear(cond_in, cond_dim), nn.ReLU(inplace=True),
                                  nn.Linear(cond_dim, cond_dim), nn.ReLU(inplace=True))
        self.e4 = nn.Conv2d(16, c4, 3, padding=1)
        self.down8 = nn.Conv2d(c4, c8, 3, stride=2, padding=1)
        self.blk_in = nn.Conv2d(64, c8, 1)
        self.f8 = FiLM(cond_dim, c8)
        self.body = nn.ModuleList([_ResBlock(c8, cond_dim) for _ in range(blocks)])
        self.up4 = nn.Conv2d(c8, 4 * c4, 1)
        self.d4 = nn.Conv2d(c4, c4, 3, padding=1)
        self.fd4 = FiLM(cond_dim, c4)
        self.out = nn.Conv2d(c4, 16, 3, padding=1)
        with torch.no_grad():
            self.out.weight.mul_(0.1)
            self.out.bias.zero_()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x (B, 1, H, W) in [0, 1], H, W multiples of 8; cond (B, cond_in) -> (B, 1, H, W)."""
        cond = check_restorer_inputs(x, cond, self.hparams["cond_in"])
        z = self.cond(cond)
        xc = x - 0.5
        h4 = F.relu(self.e4(F.pixel_unshuffle(xc, 4)))
        h8 = F.relu(self.f8(self.down8(h4) + self.blk_in(F.pixel_unshuffle(xc, 8)), z))
        for blk in self.body:
            h8 = blk(h8, z)
        u4 = F.pixel_shuffle(self.up4(h8), 2) + h4
        u4 = F.relu(self.fd4(self.d4(F.relu(u4)), z))
        return x + F.pixel_shuffle(self.out(u4), 4)
