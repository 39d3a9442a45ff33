"""Minimal local eq.-1 target and structured CS projection used for training (fallback when
``kornia_ops`` does not provide critical_pixel_target / StructuredSensing / cs_project_image).

Operator: H = S_M . DCT_N . P . D (random signs D, permutation P from torch.Generator(seed),
orthonormal DCT-II of length N, keep the first M rows), so H H^T = I and the least-norm
projection is c + H^T (y - H c).
"""
import math

import torch
import torch.nn.functional as F

_DCT = {}


def _dct(n):
    if n not in _DCT:
        k = torch.arange(n, dtype=torch.float64)[:, None]
        i = torch.arange(n, dtype=torch.float64)[None, :]
        d = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
        d[0] /= math.sqrt(2.0)
        _DCT[n] = d.float()
        if len(_DCT) > 4096:
            _DCT.clear()
    return _DCT[n]


try:  # prefer the project's shared implementation
    from kornia_ops import StructuredSensing as _KSensing
    from kornia_ops import critical_pixel_target as _ktarget
    from kornia_ops import cs_project_image as _kproject
    IMPL = "kornia_ops"
except Exception:  # pragma: no cover - fallback when kornia_ops is unavailable
    _KSensing = _kproject = _ktarget = None
    IMPL = "models.cs_local"


def critical_target(orig, restored, roi, thr=8.0 / 255.0):
    """eq. 1 (kornia_ops.critical_pixel_target when available, else the local copy below)."""
    if _ktarget is not None:
        return _ktarget(orig, restored, roi, error_threshold=thr, dilate=1)
    return _critical_target_local(orig, restored, roi, thr)


def _critical_target_local(orig, restored, roi, thr=8.0 / 255.0):
    """eq. 1: dilate(canny(orig), 1) & roi & |restored - orig| > thr. orig/restored (B,1,H,W) [0,1]."""
    import kornia
    with torch.no_grad():
        _, edges = kornia.filters.canny(orig)
        sk = F.max_pool2d((edges > 0).float(), 3, stride=1, padding=1) > 0
        return sk & roi & ((restored - orig).abs() > thr)


def project(restored, orig, mask, ratio=1.0, step=12.0 / 255.0, seed=0):
    """Per image: y = round(H c_orig / step) * step, then c_hat = c_g + H^T (y - H c_g).
    Differentiable w.r.t. ``restored``. Returns the projected image.
    Uses kornia_ops.StructuredSensing + cs_project_image when available."""
    if _KSensing is not None:
        ys, ops = [], []
        for b in range(restored.shape[0]):
            idx = mask[b, 0].reshape(-1).nonzero().squeeze(1)
            n = idx.numel()
            m = max(1, int(round(ratio * n))) if n else 0
            op = _KSensing(n, m, seed + b)
            c_o = orig[b, 0].reshape(-1)[idx].detach()
            ys.append(torch.round(op(c_o) / step) * step if n else c_o[:0])
            ops.append(op)
        return _kproject(restored, mask, ys, ops, mode="equality")
    return _project_local(restored, orig, mask, ratio, step, seed)


def _project_local(restored, orig, mask, ratio=1.0, step=12.0 / 255.0, seed=0):
    out = []
    for b in range(restored.shape[0]):
        r = restored[b].reshape(-1)
        m = mask[b].reshape(-1)
        idx = m.nonzero().squeeze(1)
        n = idx.numel()
        if n == 0:
            out.append(restored[b])
            continue
        mm = max(1, int(round(ratio * n)))
        g = torch.Generator().manual_seed(seed + b)
        sign = (torch.randint(0, 2, (n,), generator=g) * 2 - 1).float()
        perm = torch.randperm(n, generator=g)
        Hm = torch.empty(mm, n)
        Hm[:, perm] = _dct(n)[:mm]          # (P D c)_i = sign[perm[i]] c[perm[i]]
        Hm = Hm * sign[None, :]
        c_o = orig[b].reshape(-1)[idx]
        c_g = r[idx]
        y = torch.round((Hm @ c_o) / step) * step
        c_hat = c_g + Hm.t() @ (y - Hm @ c_g)
        r2 = r.clone()
        r2 = r2.index_put((idx,), c_hat)
        out.append(r2.view_as(restored[b]))
    return torch.stack(out)
