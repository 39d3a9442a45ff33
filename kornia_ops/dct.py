"""Orthonormal DCT-II / DCT-III of any length via one N-point FFT (Makhoul, 1980)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from kornia_ops._checks import KorniaOpsValueError, check_float, compute_dtype

__all__ = ["dct_ortho", "idct_ortho"]


def _twiddle(n: int, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``cos``/``sin`` of ``pi k / (2N)`` and the orthonormal scale, computed in float64 then cast."""
    k = torch.arange(n, dtype=torch.float64, device=x.device)
    ang = k * (math.pi / (2 * n))
    scale = torch.full((n,), math.sqrt(2.0 / n), dtype=torch.float64, device=x.device)
    scale[0] = math.sqrt(1.0 / n)
    return ang.cos().to(x.dtype), ang.sin().to(x.dtype), scale.to(x.dtype)


def _check(x: Tensor, fname: str) -> None:
    check_float(x, fname, "x")
    if x.dim() < 1:
        raise KorniaOpsValueError(f"{fname}: x must have at least one dimension, got a 0-d tensor")


def dct_ortho(x: Tensor, dim: int = -1) -> Tensor:
    r"""Orthonormal DCT-II along ``dim`` (equal to ``scipy.fft.dct(x, type=2, norm="ortho")``).

    .. math::
        X_k = s_k \sum_{n=0}^{N-1} x_n \cos\frac{\pi k (2n + 1)}{2N},\qquad
        s_0 = \sqrt{1/N},\ s_{k>0} = \sqrt{2/N}.

    Implemented with Makhoul's algorithm: one complex FFT of length :math:`N` on the even/reversed-odd
    reordering of the input, :math:`O(N \log N)`, valid for every :math:`N \ge 0` (odd and :math:`N=1`
    included). The transform is orthogonal, so its adjoint and inverse are :func:`idct_ortho`. Differentiable.

    Args:
        x: real tensor of shape :math:`(*, N, *)`; float32 or float64, or float16/bfloat16 (computed in float32,
            returned in the input's dtype).
        dim: dimension to transform.

    Returns:
        tensor of the same shape, dtype and device as ``x``.

    Example:
        >>> x = torch.tensor([1.0, 2.0, 3.0])
        >>> torch.allclose(dct_ortho(x), torch.tensor([3.4641, -1.4142, 0.0]), atol=1e-4)
        True
        >>> torch.allclose(idct_ortho(dct_ortho(x)), x, atol=1e-6)
        True
    """
    _check(x, "dct_ortho")
    in_dtype = x.dtype
    x = x.to(compute_dtype(in_dtype)).movedim(dim, -1)
    n = x.shape[-1]
    if n == 0:
        return x.clone().movedim(-1, dim).to(in_dtype)
    v = torch.cat([x[..., 0::2], x[..., 1::2].flip(-1)], dim=-1)
    vf = torch.fft.fft(v, dim=-1)
    cos, sin, scale = _twiddle(n, x)
    # Re(V_k * exp(-i pi k / 2N))
    out = (vf.real * cos + vf.imag * sin) * scale
    return out.movedim(-1, dim).to(in_dtype)


def idct_ortho(x: Tensor, dim: int = -1) -> Tensor:
    r"""Orthonormal DCT-III along ``dim``: the inverse (and adjoint) of :func:`dct_ortho`.

    Equal to ``scipy.fft.idct(x, type=2, norm="ortho")``; one length-:math:`N` inverse real FFT,
    :math:`O(N \log N)`, any :math:`N \ge 0`. Differentiable.

    Args:
        x: real tensor of shape :math:`(*, N, *)`; float32 or float64, or float16/bfloat16 (computed in float32,
            returned in the input's dtype).
        dim: dimension to transform.

    Returns:
        tensor of the same shape, dtype and device as ``x``.

    Example:
        >>> X = dct_ortho(torch.arange(5.0))
        >>> torch.allclose(idct_ortho(X), torch.arange(5.0), atol=1e-5)
        True
    """
    _check(x, "idct_ortho")
    in_dtype = x.dtype
    x = x.to(compute_dtype(in_dtype)).movedim(dim, -1)
    n = x.shape[-1]
    if n == 0:
        return x.clone().movedim(-1, dim).to(in_dtype)
    cos, sin, scale = _twiddle(n, x)
    c = x / scale  # C_k = sum_n x_n cos(...) = Re(W_k V_k)
    c_rev = torch.cat([torch.zeros_like(c[..., :1]), c[..., 1:].flip(-1)], dim=-1)  # C_{N-k}, C_N := 0
    # W_k V_k = C_k - i C_{N-k}  =>  V_k = (C_k - i C_{N-k}) * exp(+i pi k / 2N)
    re = c * cos + c_rev * sin
    im = c * sin - c_rev * cos
    h = n // 2 + 1
    v = torch.fft.irfft(torch.complex(re[..., :h], im[..., :h]), n=n, dim=-1)
    ne = (n + 1) // 2  # number of even-indexed samples
    m = n // 2
    even, odd = v[..., :ne], v[..., ne:].flip(-1)
    out = torch.stack([even[..., :m], odd], dim=-1).flatten(-2)
    if n % 2:
        out = torch.cat([out, even[..., m:]], dim=-1)
    return out.movedim(-1, dim).to(in_dtype)
