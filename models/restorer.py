"""Network G: dual-domain (pixel + 8x8 DCT) JPEG artifact remover, FiLM-conditioned on the qtable.

Interface
---------
``DualDomainRestorer()(x, qtable) -> y``

* ``x``: (B, 1, H, W) float32 luminance in [0, 1] (uint8 / 255). H and W MUST be multiples of 8 and
  the 8x8 JPEG block grid must be aligned to pixel (0, 0) -- the caller pads (e.g. replicate-pad at
  the bottom/right to a multiple of 8, then crops the output back).
* ``qtable``: (B, 64) float32 = JPEG luminance quantisation table / 255, in the order Pillow returns
  it from ``Image.open(jpeg).quantization[0]`` (the DQT order, i.e. zigzag). See models/data.py.
* returns (B, 1, H, W) float32 restored luminance (NOT clamped; the caller clamps/rounds).

Only plain convolutions, ReLU, pixel_shuffle and elementwise ops are used. The float output repeats
exactly for the same machine and thread count; other thread counts, CPU ISAs and GPUs agree to float
rounding only (measured <= 6.1e-5 grey levels, scripts/isa_drift.py), which the codec's contract allows for
(docs/FORMAT.md, "Determinism").
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def dct_matrix(n: int = 8) -> torch.Tensor:
    """Orthonormal DCT-II matrix D (n x n): coefficients = D @ x."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    d = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    d[0] /= math.sqrt(2.0)
    return d


def blockdct_filters() -> torch.Tensor:
    """(64, 1, 8, 8) conv filters: channel u*8+v = basis D[u]^T D[v] (natural order)."""
    d = dct_matrix(8)
    basis = torch.einsum("ui,vj->uvij", d, d).reshape(64, 1, 8, 8)
    return basis.float()


def check_restorer_inputs(x: torch.Tensor, cond: torch.Tensor, cond_in: int | None = None) -> torch.Tensor:
    """The restorers' input contract: ``x`` (B, 1, H, W) with H, W multiples of 8; ``cond`` (B, ``cond_in``)
    (any width when ``cond_in`` is None). Returns ``cond`` in ``x``'s dtype. ValueError otherwise."""
    if x.dim() != 4 or x.shape[1] != 1:
        raise ValueError("x must be (B, 1, H, W)")
    if x.shape[2] % 8 or x.shape[3] % 8:
        raise ValueError("H and W must be multiples of 8 (pad before calling)")
    cond = cond.to(x.dtype)
    if cond_in is not None and (cond.dim() != 2 or cond.shape[0] != x.shape[0] or cond.shape[1] != cond_in):
        raise ValueError(f"cond must be (B, {cond_in})")
    return cond


class DetConv2d(nn.Conv2d):
    """nn.Conv2d kept as its own class for the state-dict layout of shipped weights (same keys).

    Until wave 3 its eval-mode forward switched oneDNN off process-wide around each call
    (``torch._C._set_mkldnn_enabled``); a codec must not touch global PyTorch state (other threads'
    convolutions, the caller's models), so it now runs the ordinary convolution. The float drift this allows
    between thread counts and ISAs is what the pixel contract already covers (docs/FORMAT.md, "Determinism").
    """


class FiLM(nn.Module):
    """Per-channel scale/shift from a conditioning vector: x * (1 + g) + b (identity at init)."""

    def __init__(self, cond_dim: int, channels: int):
        super().__init__()
        self.lin = nn.Linear(cond_dim, 2 * channels)
        nn.init.zeros_(self.lin.weight)
        nn.init.zeros_(self.lin.bias)

    def forward(self, x, cond):
        g, b = self.lin(cond).chunk(2, dim=1)
        return x * (1.0 + g[:, :, None, None]) + b[:, :, None, None]

    def conv(self, conv: nn.Conv2d, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """``self(conv(x), cond)``: (B, Cin, H, W) -> (B, C, H', W').

        At inference with one condition vector for the batch (``cond`` (1, cond_dim), autograd off: how the codec
        runs its restorers) the scale and shift are folded into the convolution's weight and bias, so the
        activations are written once instead of three times; equal to the unfolded form to float rounding.
        Otherwise (training, or several conditions) exactly ``self(conv(x), cond)``.
        """
        if cond.shape[0] != 1 or torch.is_grad_enabled() or conv.bias is None:
            return self(conv(x), cond)
        g, b = self.lin(cond).chunk(2, dim=1)
        s = 1.0 + g[0]
        return F.conv2d(x, conv.weight * s[:, None, None, None], conv.bias * s + b[0], conv.stride, conv.padding,
                        conv.dilation, conv.groups)


class DualDomainRestorer(nn.Module):
    def __init__(self, channels: int = 32, pixel_layers: int = 8, dct_channels: int = 64,
                 dct_layers: int = 4, cond_dim: int = 64):
        super().__init__()
        self.hparams = dict(channels=channels, pixel_layers=pixel_layers, dct_channels=dct_channels,
                            dct_layers=dct_layers, cond_dim=cond_dim)
        self.register_buffer("dct_w", blockdct_filters(), persistent=False)
        self.cond = nn.Sequential(nn.Linear(64, cond_dim), nn.ReLU(inplace=True),
                                  nn.Linear(cond_dim, cond_dim), nn.ReLU(inplace=True))
        # pixel branch
        c = channels
        self.p_in = nn.Conv2d(1, c, 3, padding=1)
        self.p_body = nn.ModuleList([nn.Conv2d(c, c, 3, padding=1) for _ in range(pixel_layers - 2)])
        self.p_film = nn.ModuleList([FiLM(cond_dim, c) for _ in range(pixel_layers - 2)])
        # DCT branch (on the H/8 x W/8 coefficient map; input = coefs + qtable planes)
        cd = dct_channels
        self.d_in = DetConv2d(128, cd, 1)
        self.d_body = nn.ModuleList([nn.Conv2d(cd, cd, 3, padding=1) for _ in range(dct_layers)])
        self.d_film = nn.ModuleList([FiLM(cond_dim, cd) for _ in range(dct_layers)])
        self.d_out = DetConv2d(cd, 64, 1)
        with torch.no_grad():  # small (not zero) init so gradients reach the branch from step 0
            self.d_out.weight.mul_(0.1)
            self.d_out.bias.zero_()
        # fusion
        self.f_in = nn.Conv2d(c + 2, c, 3, padding=1)
        self.f_film = FiLM(cond_dim, c)
        self.f_out = nn.Conv2d(c, 1, 3, padding=1)
        with torch.no_grad():
            self.f_out.weight.mul_(0.1)
            self.f_out.bias.zero_()

    def forward(self, x: torch.Tensor, qtable: torch.Tensor) -> torch.Tensor:
        qtable = check_restorer_inputs(x, qtable)
        cond = self.cond(qtable)
        # pixel branch
        h = F.relu(self.p_in(x - 0.5))
        for conv, film in zip(self.p_body, self.p_film):
            h = F.relu(film.conv(conv, h, cond))
        # DCT branch: orthonormal blockwise DCT (scale 8 -> coefs of [0,1] pixels in ~[-4, 4])
        coef = F.conv2d(x - 0.5, self.dct_w, stride=8)
        qmap = qtable[:, :, None, None].expand(-1, -1, coef.shape[2], coef.shape[3])
        d = F.relu(self.d_in(torch.cat([coef, qmap * 4.0], dim=1)))
        for conv, film in zip(self.d_body, self.d_film):
            d = F.relu(film.conv(conv, d, cond)) + d
        dres = self.d_out(d)
        # inverse DCT of the corrected coefficients and of the correction alone
        dct_img = F.conv_transpose2d(coef + dres, self.dct_w, stride=8) + 0.5
        dres_img = F.conv_transpose2d(dres, self.dct_w, stride=8)
        # fusion -> residual
        f = F.relu(self.f_film.conv(self.f_in, torch.cat([h, dct_img - x, dres_img], dim=1), cond))
        return x + dres_img + self.f_out(f)



def param_count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
