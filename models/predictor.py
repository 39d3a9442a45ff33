"""Network F: small BASNet-spirit U-Net predicting critical-pixel LOGITS from the base luminance.

Interface
---------
``CriticalPixelPredictor()(x, qtable) -> logits``

* ``x``: (B, 1, H, W) float32 decoded base-layer luminance in [0, 1] (uint8 / 255). Any H, W >= 1:
  the network replicate-pads internally to a multiple of 8 and crops back.
* ``qtable``: (B, 64) float32 = luminance quantisation table / 255 in Pillow's
  ``quantization[0]`` order (same convention as the restorer), or None (then a q50 table is assumed).
* returns (B, 1, H, W) float32 logits; larger = more likely critical. The codec ranks by the logit
  (sigmoid optional); ties must be broken explicitly by the caller.

4 levels (H, H/2, H/4, H/8), 16 base channels, residual blocks, no batch-norm, nearest upsampling,
plus a global-context vector (global average pool) and qtable FiLM at the bottleneck.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .restorer import DetConv2d, FiLM


class ResBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = None if (cin == cout and stride == 1) else DetConv2d(cin, cout, 1, stride=stride)

    def forward(self, x):
        s = x if self.skip is None else self.skip(x)
        return F.relu(s + self.c2(F.relu(self.c1(x))))


class CriticalPixelPredictor(nn.Module):
    def __init__(self, base: int = 16, levels: int = 4, cond_dim: int = 32):
        super().__init__()
        self.hparams = dict(base=base, levels=levels, cond_dim=cond_dim)
        self.levels = levels
        chans = [base * 2 ** i for i in range(levels)]
        self.chans = chans
        self.inp = nn.Conv2d(2, base, 3, padding=1)
        self.enc = nn.ModuleList()
        for i, c in enumerate(chans):
            cin = base if i == 0 else chans[i - 1]
            self.enc.append(ResBlock(cin, c, stride=1 if i == 0 else 2))
        cb = chans[-1]
        self.bott = nn.Sequential(nn.Conv2d(cb, cb, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(cb, cb, 3, padding=1), nn.ReLU(inplace=True))
        self.glob = nn.Sequential(nn.Linear(cb, cb), nn.ReLU(inplace=True), nn.Linear(cb, cb))
        self.cond = nn.Sequential(nn.Linear(64, cond_dim), nn.ReLU(inplace=True))
        self.film = FiLM(cond_dim, cb)
        self.dec = nn.ModuleList()
        for i in range(levels - 2, -1, -1):
            self.dec.append(ResBlock(chans[i + 1] + chans[i], chans[i]))
        self.out = nn.Conv2d(base, 1, 3, padding=1)
        nn.init.constant_(self.out.bias, -3.0)
        q50 = torch.tensor([16, 11, 12, 14, 12, 10, 16, 14, 13, 14, 18, 17, 16, 19, 24, 40, 26, 24, 22,
                            22, 24, 49, 35, 37, 29, 40, 58, 51, 61, 60, 57, 51, 56, 55, 64, 72, 92, 78,
                            64, 68, 87, 69, 55, 56, 80, 109, 81, 87, 95, 98, 103, 104, 103, 62, 77, 113,
                            121, 112, 100, 120, 92, 101, 103, 99], dtype=torch.float32) / 255.0
        self.register_buffer("q50", q50, persistent=False)

    def forward(self, x: torch.Tensor, qtable: torch.Tensor = None) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError("x must be (B, 1, H, W)")
        B, _, H, W = x.shape
        m = 2 ** (self.levels - 1)
        ph, pw = (-H) % m, (-W) % m
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        if qtable is None:
            qtable = self.q50[None].expand(B, -1)
        qtable = qtable.to(x.dtype)
        qmean = qtable.mean(dim=1)[:, None, None, None].expand(-1, 1, x.shape[2], x.shape[3])
        h = F.relu(self.inp(torch.cat([x - 0.5, qmean * 4.0], dim=1)))
        skips = []
        for blk in self.enc:
            h = blk(h)
            skips.append(h)
        h = self.bott(h) + h
        g = self.glob(h.mean(dim=(2, 3)))
        h = F.relu(self.film(h, self.cond(qtable)) + g[:, :, None, None])
        for j, blk in enumerate(self.dec):
            skip = skips[-2 - j]
            h = F.interpolate(h, size=skip.shape[2:], mode="nearest")
            h = blk(torch.cat([h, skip], dim=1))
        out = self.out(h)
        return out[:, :, :H, :W]
