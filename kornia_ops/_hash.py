"""Portable integer hashing (SplitMix64) in pure ``torch.int64`` arithmetic.

The sensing operators derive their random signs and permutation from these hashes, so the values must be
bit-identical on every machine and every torch version. ``torch.Generator`` streams are not guaranteed to be
stable across versions and signed ``int64`` overflow is undefined behaviour in C++, so the 64-bit SplitMix64
state is carried as two ``int64`` tensors holding the high and low 32-bit halves. Every intermediate
value stays below ``2**50``: no operation ever overflows, and shifts are only applied to non-negative
numbers, so the result is exact integer arithmetic and is the same everywhere.

Reference: S. Vigna, SplitMix64 (``java.util.SplittableRandom``).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["MASK64", "splitmix64_mix", "splitmix64_stream", "splitmix64_stream_scalar", "stream_seed"]

MASK64 = (1 << 64) - 1
_MASK32 = 0xFFFFFFFF
_MASK16 = 0xFFFF
_GAMMA = 0x9E3779B97F4A7C15
_C1 = 0xBF58476D1CE4E5B9
_C2 = 0x94D049BB133111EB


def splitmix64_mix(x: int) -> int:
    """SplitMix64 finaliser on a python int (the reference the tensor code is tested against)."""
    z = x & MASK64
    z = ((z ^ (z >> 30)) * _C1) & MASK64
    z = ((z ^ (z >> 27)) * _C2) & MASK64
    return z ^ (z >> 31)


def splitmix64_stream_scalar(seed: int, index: int) -> int:
    """Output number ``index`` (0-based) of the SplitMix64 generator seeded with ``seed`` (python ints)."""
    return splitmix64_mix((seed + (index + 1) * _GAMMA) & MASK64)


def stream_seed(seed: int, stream: int) -> int:
    """Derive an independent 64-bit seed for sub-stream ``stream`` of a user seed (any python int)."""
    return splitmix64_mix(
        splitmix64_mix(seed & MASK64) ^ splitmix64_mix((stream + 0x5851F42D4C957F2D) & MASK64)
    )


def _mul_lo32(a: Tensor, c: int) -> Tensor:
    """``(a * c) mod 2**32`` for ``0 <= a, c < 2**32`` without overflow."""
    a0 = a & _MASK16
    a1 = a >> 16
    return (a0 * c + (((a1 * c) & _MASK16) << 16)) & _MASK32


def _mul64(hi: Tensor, lo: Tensor, c: int) -> tuple[Tensor, Tensor]:
    """``(hi:lo) * c mod 2**64`` on 32-bit limbs."""
    ch, cl = (c >> 32) & _MASK32, c & _MASK32
    p0 = (lo & _MASK16) * cl  # < 2**48
    p1 = (lo >> 16) * cl  # < 2**48
    t = p0 + ((p1 & _MASK16) << 16)  # < 2**49
    new_lo = t & _MASK32
    carry = (t >> 32) + (p1 >> 16)
    new_hi = (carry + _mul_lo32(hi, cl) + _mul_lo32(lo, ch)) & _MASK32
    return new_hi, new_lo


def _xorshr64(hi: Tensor, lo: Tensor, s: int) -> tuple[Tensor, Tensor]:
    """``z ^ (z >>> s)`` for ``0 < s < 32`` on 32-bit limbs."""
    shifted_lo = ((lo >> s) | (hi << (32 - s))) & _MASK32
    return hi ^ (hi >> s), lo ^ shifted_lo


def _add64(hi: Tensor, lo: Tensor, c: int) -> tuple[Tensor, Tensor]:
    """``(hi:lo) + c mod 2**64`` on 32-bit limbs."""
    ch, cl = (c >> 32) & _MASK32, c & _MASK32
    s = lo + cl
    return (hi + ch + (s >> 32)) & _MASK32, s & _MASK32


def splitmix64_stream(seed: int, n: int) -> tuple[Tensor, Tensor]:
    """First ``n`` outputs of the SplitMix64 generator seeded with ``seed``, as 32-bit limbs.

    Output ``i`` equals ``splitmix64_stream_scalar(seed, i)`` exactly.

    Args:
        seed: any python int (reduced modulo ``2**64``).
        n: number of outputs, ``0 <= n < 2**32 - 1``.

    Returns:
        ``(hi, lo)``: two CPU ``int64`` tensors of shape :math:`(n,)` with values in ``[0, 2**32)``.
    """
    if not 0 <= n < _MASK32:
        raise ValueError(f"splitmix64_stream: n must be in [0, 2**32 - 1), got {n}")
    idx = torch.arange(1, n + 1, dtype=torch.int64, device="cpu")
    hi, lo = _mul64(torch.zeros_like(idx), idx, _GAMMA)
    hi, lo = _add64(hi, lo, seed & MASK64)
    hi, lo = _xorshr64(hi, lo, 30)
    hi, lo = _mul64(hi, lo, _C1)
    hi, lo = _xorshr64(hi, lo, 27)
    hi, lo = _mul64(hi, lo, _C2)
    return _xorshr64(hi, lo, 31)
