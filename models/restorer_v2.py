"""Network G v2: multi-scale dual-domain JPEG artefact remover (most work at 1/8 resolution).

Interface (identical to :class:`models.restorer.DualDomainRestorer`, so the codec runs either)
---------------------------------------------------------------------------------------------
``MultiScaleRestorer()(x, cond) -> y``

* ``x``: (B, 1, H, W) float32 luminance in [0, 1]. H and W MUST be multiples of 8 and the 8x8 JPEG
  block grid must start at pixel (0, 0) (the caller pads bottom/right and crops back).
* ``cond``: (B, cond_in) float32 conditioning vector. For JPEG bases: the luminance quantisation
  table / 255 in Pillow's ``quantization[0]`` order (cond_in = 64), as for v1.
* returns (B, 1, H, W) float32 restored luminance, not clamped.

Architecture: pixel-unshuffle by 2, a three-level U-Net (H/2, H/4, H/8) whose coarsest level sits on
the JPEG block grid and also receives the blockwise 8x8 DCT coefficients of the input (the "DCT
branch" of the paper's G: coefficients + quantisation-table planes, merged by a 1x1 convolution), then
residual blocks at H/8 and pixel-shuffle upsampling with additive skips. Every level is FiLM-modulated
by an MLP of ``cond``. About half of v1's multiply-adds per pixel with a receptive field > 100 px.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .restorer import DetConv2d, FiLM, blockdct_filters, check_restorer_inputs


class _ResBlock(nn.Module):
    def __init__(self, c: int, cond_dim: int):
        super().__init__()
        self.c1 = nn.Conv2d(c, c, 3, padding=1)
        self.c2 = nn.Conv2d(c, c, 3, padding=1)
        self.film = FiLM(cond_dim, c)
        with torch.no_grad():
            self.c2.weight.mul_(0.2)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return x + self.c2(F.relu(self.film.conv(self.c1, x, cond)))


class MultiScaleRestorer(nn.Module):
    """G v2. ``c1``/``c2``/``c3``: channels at H/2, H/4, H/8; ``blocks``: residual blocks at H/8.

    ``tile``/``overlap``: how the codec tiles large planes for this network (receptive field ~120 px; the
    output 64 px inside a tile differs from the untiled one by <= 2e-4 grey levels). 1536: measured on a 6 MP
    mosaic, bigger tiles run faster per pixel (2048: 0.61x the time of 1024, 512: 1.84x, 256: 12.9x) but hold
    more memory (one 1536 tile: +424 MB peak RSS, 2048: +730 MB); BENCHMARKS.md §24.
    """

    tile = 1536
    overlap = 64

    def __init__(self, c1: int = 32, c2: int = 64, c3: int = 128, blocks: int = 4, cond_in: int = 64,
                 cond_dim: int = 64):
        super().__init__()
        self.hparams = dict(c1=c1, c2=c2, c3=c3, blocks=blocks, cond_in=cond_in, cond_dim=cond_dim)
        self.register_buffer("dct_w", blockdct_filters(), persistent=False)
        self.cond = nn.Sequential(nn.Linear(cond_in, cond_dim), nn.ReLU(inplace=True),
                                  nn.Linear(cond_dim, cond_dim), nn.ReLU(inplace=True))
        self.e1a = nn.Conv2d(4, c1, 3, padding=1)
        self.e1b = nn.Conv2d(c1, c1, 3, padding=1)
        self.f1 = FiLM(cond_dim, c1)
        self.down2 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)
        self.e2 = nn.Conv2d(c2, c2, 3, padding=1)
        self.f2 = FiLM(cond_dim, c2)
        self.down3 = nn.Conv2d(c2, c3, 3, stride=2, padding=1)
        self.dct_in = DetConv2d(128, c3, 1)  # 64 coefficients + 64 quantisation-table planes
        self.body = nn.ModuleList([_ResBlock(c3, cond_dim) for _ in range(blocks)])
        self.up3 = DetConv2d(c3, 4 * c2, 1)
        self.d2 = nn.Conv2d(c2, c2, 3, padding=1)
        self.fd2 = FiLM(cond_dim, c2)
        self.up2 = DetConv2d(c2, 4 * c1, 1)
        self.d1 = nn.Conv2d(c1, c1, 3, padding=1)
        self.fd1 = FiLM(cond_dim, c1)
        self.out = nn.Conv2d(c1, 4, 3, padding=1)
        with torch.no_grad():
            self.out.weight.mul_(0.1)
            self.out.bias.zero_()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        cond = check_restorer_inputs(x, cond, self.hparams["cond_in"])
        z = self.cond(cond)
        xc = x - 0.5
        h1 = F.relu(self.e1a(F.pixel_unshuffle(xc, 2)))
        h1 = F.relu(self.f1.conv(self.e1b, h1, z))
        h2 = F.relu(self.down2(h1))
        h2 = F.relu(self.f2.conv(self.e2, h2, z))
        coef = F.conv2d(xc, self.dct_w, stride=8)
        qmap = cond[:, :64, None, None].expand(-1, -1, coef.shape[2], coef.shape[3])
        h3 = F.relu(self.down3(h2) + self.dct_in(torch.cat([coef, qmap * 4.0], dim=1)))
        for blk in self.body:
            h3 = blk(h3, z)
        u2 = F.pixel_shuffle(self.up3(h3), 2) + h2
        u2 = F.relu(self.fd2.conv(self.d2, F.relu(u2), z))
        u1 = F.pixel_shuffle(self.up2(u2), 2) + h1
        u1 = F.relu(self.fd1.conv(self.d1, F.relu(u1), z))
        return x + F.pixel_shuffle(self.out(u1), 2)
