"""Compressed-sensing measurement operators ``y = H c`` on vectors batched as :math:`(*, N) \\to (*, M)`."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor, nn

from kornia_ops._checks import KorniaOpsValueError, as_index, check_float, check_tensor, compute_dtype
from kornia_ops._hash import splitmix64_stream, stream_seed
from kornia_ops.dct import dct_ortho, idct_ortho

__all__ = ["GaussianSensing", "IdentitySensing", "StructuredSensing", "structured_permutation_and_signs"]

_GAUSSIAN_MAX_ENTRIES = 50_000_000
_PERM_STREAM = 0
_SIGN_STREAM = 1


def structured_permutation_and_signs(n: int, seed: int) -> tuple[Tensor, Tensor]:
    """Portable permutation and random signs of :class:`StructuredSensing`.

    ``perm`` is the stable ascending argsort of the top 63 bits of SplitMix64 stream 0 of ``seed``;
    ``signs[i]`` is ``-1`` when the most significant bit of output ``i`` of stream 1 is set, else ``+1``.
    Pure integer arithmetic (see :mod:`kornia_ops._hash`): bit-identical on every machine and torch version.

    Args:
        n: vector length, ``n >= 0``.
        seed: any python int.

    Returns:
        ``(perm, signs)``: CPU tensors of shape :math:`(n,)`, ``int64`` and ``int8``.

    Example:
        >>> perm, signs = structured_permutation_and_signs(4, seed=0)
        >>> sorted(perm.tolist())
        [0, 1, 2, 3]
    """
    hi, lo = splitmix64_stream(stream_seed(seed, _PERM_STREAM), n)
    key = (hi << 31) | (lo >> 1)  # top 63 bits, non-negative
    perm = torch.sort(key, stable=True).indices
    shi, _ = splitmix64_stream(stream_seed(seed, _SIGN_STREAM), n)
    signs = (1 - 2 * (shi >> 31)).to(torch.int8)
    return perm, signs


def _check_nms(n: object, m: object, seed: object, name: str) -> tuple[int, int, int]:
    """``(n, m, seed)`` as python ints (any integral: ``operator.index``; a float seed is refused, not truncated)."""
    ni, mi = as_index(n, name, "n"), as_index(m, name, "m")
    si = as_index(seed, name, "seed")
    if ni < 0 or not 0 <= mi <= ni:
        raise KorniaOpsValueError(f"{name}: need 0 <= m <= n, got n={ni}, m={mi}")
    return ni, mi, si


def _check_vec(x: Tensor, size: int, what: str, name: str) -> None:
    check_tensor(x, name, what)
    if x.dim() < 1 or x.shape[-1] != size:
        raise KorniaOpsValueError(f"{name}: {what} must have shape (..., {size}), got {tuple(x.shape)}")
    check_float(x, name, what)


class StructuredSensing(nn.Module):
    r"""Structured random sensing operator :math:`H = S_M \cdot \mathrm{DCT}_N \cdot P \cdot D`.

    :math:`D` multiplies by random :math:`\pm 1` signs, :math:`P` permutes (``(Px)_j = x_{perm_j}``),
    :math:`\mathrm{DCT}_N` is the orthonormal DCT-II (:func:`dct_ortho`, :math:`O(N \log N)`, any
    :math:`N`), and :math:`S_M` keeps the first :math:`M` coefficients. The rows are orthonormal,
    :math:`H H^\top = I_M`, so :meth:`pinv_apply` is :meth:`adjoint`. Signs and permutation come from a
    pure-integer SplitMix64 hash of ``seed`` (:func:`structured_permutation_and_signs`), bit-identical
    everywhere. Nothing is stored in the ``state_dict`` (the operator is rebuilt from ``(n, m, seed)``).
    Any device; float32 and float64, and float16/bfloat16 computed in float32 and returned in the input's dtype.

    Args:
        n: signal length :math:`N \ge 0` (any python integral).
        m: number of measurements, :math:`0 \le M \le N`.
        seed: any python integral (``int``, ``numpy.int64``); a ``float`` raises ``TypeError``.

    Shape:
        - forward: :math:`(*, N) \to (*, M)`
        - adjoint / pinv_apply: :math:`(*, M) \to (*, N)`

    Example:
        >>> op = StructuredSensing(n=10, m=4, seed=7)
        >>> c = torch.randn(2, 10, dtype=torch.float64)
        >>> op(c).shape
        torch.Size([2, 4])
        >>> H = op.matrix()
        >>> torch.allclose(H @ H.T, torch.eye(4, dtype=torch.float64))
        True
    """

    version: ClassVar[int] = 1
    orthonormal_rows: ClassVar[bool] = True

    perm: Tensor
    inv_perm: Tensor
    signs: Tensor

    def __init__(self, n: int, m: int, seed: int) -> None:
        super().__init__()
        self.n, self.m, self.seed = _check_nms(n, m, seed, "StructuredSensing")
        perm, signs = structured_permutation_and_signs(n, self.seed)
        inv_perm = torch.empty_like(perm)
        inv_perm[perm] = torch.arange(n, dtype=perm.dtype)
        self.register_buffer("perm", perm, persistent=False)
        self.register_buffer("inv_perm", inv_perm, persistent=False)
        self.register_buffer("signs", signs, persistent=False)

    def extra_repr(self) -> str:
        return f"n={self.n}, m={self.m}, seed={self.seed}"

    def _buffers_for(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return (
            self.perm.to(x.device),
            self.inv_perm.to(x.device),
            self.signs.to(device=x.device, dtype=x.dtype),
        )

    def forward(self, c: Tensor) -> Tensor:
        """Measure: ``y = H c``, :math:`(*, N) \\to (*, M)`."""
        _check_vec(c, self.n, "c", "StructuredSensing.forward")
        x = c.to(compute_dtype(c.dtype))
        perm, _, signs = self._buffers_for(x)
        z = (x * signs).index_select(-1, perm)
        return dct_ortho(z, dim=-1)[..., : self.m].to(c.dtype)

    def adjoint(self, y: Tensor) -> Tensor:
        """Adjoint: ``c = H^T y``, :math:`(*, M) \\to (*, N)`."""
        _check_vec(y, self.m, "y", "StructuredSensing.adjoint")
        x = y.to(compute_dtype(y.dtype))
        _, inv_perm, signs = self._buffers_for(x)
        full = torch.nn.functional.pad(x, (0, self.n - self.m))
        z = idct_ortho(full, dim=-1)
        return (z.index_select(-1, inv_perm) * signs).to(y.dtype)

    def pinv_apply(self, r: Tensor) -> Tensor:
        """Pseudo-inverse :math:`H^\\top (H H^\\top)^{-1} r = H^\\top r` (rows are orthonormal)."""
        return self.adjoint(r)

    def matrix(self, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> Tensor:
        """Dense :math:`(M, N)` matrix (for tests / small ``n`` only)."""
        if self.n > 8192:
            raise KorniaOpsValueError(f"StructuredSensing.matrix: n={self.n} too large for a dense matrix (max 8192)")
        eye = torch.eye(self.n, dtype=dtype, device=device)
        return self.forward(eye).T.contiguous()


class IdentitySensing(nn.Module):
    r"""Identity sampling :math:`H = I_N` (``y = c``, :math:`M = N`): every critical pixel measured directly.

    No mixing, so each measurement keeps its place in the image: an entropy model can condition on it, and a
    uniform quantiser on it is a dead-zone thresholder of the (heavy-tailed) residual, which at coarse steps
    costs about half the bytes of the mixed (:class:`StructuredSensing`) measurements for the same
    distortion (BENCHMARKS.md, refinement layer). Same interface as the other operators; ``seed`` is ignored.

    Args:
        n: signal length :math:`N \ge 0`.
        m: must equal ``n`` (identity sampling has no :math:`M < N` form).
        seed: ignored (kept for the common ``(n, m, seed)`` constructor).

    Shape:
        - forward / adjoint / pinv_apply: :math:`(*, N) \to (*, N)`

    Example:
        >>> op = IdentitySensing(n=5, m=5, seed=0)
        >>> c = torch.arange(5.0)
        >>> bool(torch.equal(op(c), c))
        True
    """

    version: ClassVar[int] = 1
    orthonormal_rows: ClassVar[bool] = True

    def __init__(self, n: int, m: int, seed: int = 0) -> None:
        super().__init__()
        n, m, seed = _check_nms(n, m, seed, "IdentitySensing")
        if m != n:
            raise KorniaOpsValueError(f"IdentitySensing: needs m == n (identity sampling), got n={n}, m={m}")
        self.n, self.m, self.seed = n, m, seed

    def extra_repr(self) -> str:
        return f"n={self.n}"

    def forward(self, c: Tensor) -> Tensor:
        """Measure: ``y = c``, :math:`(*, N) \to (*, N)`."""
        _check_vec(c, self.n, "c", "IdentitySensing.forward")
        return c.clone()

    def adjoint(self, y: Tensor) -> Tensor:
        """Adjoint: ``c = y``."""
        _check_vec(y, self.m, "y", "IdentitySensing.adjoint")
        return y.clone()

    def pinv_apply(self, r: Tensor) -> Tensor:
        """Pseudo-inverse (identity)."""
        return self.adjoint(r)

    def matrix(self, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> Tensor:
        """Dense :math:`(N, N)` identity (for tests / small ``n`` only)."""
        if self.n > 8192:
            raise KorniaOpsValueError(f"IdentitySensing.matrix: n={self.n} too large for a dense matrix (max 8192)")
        return torch.eye(self.n, dtype=dtype, device=device)


class GaussianSensing(nn.Module):
    r"""Dense i.i.d. Gaussian sensing matrix, :math:`H_{ij} \sim \mathcal{N}(0, 1/N)` (the paper's reference).

    The matrix is drawn in float64 on CPU from ``torch.Generator().manual_seed(seed)`` and kept as a
    non-persistent buffer. Unlike :class:`StructuredSensing`, ``torch.randn`` streams are not guaranteed to be
    identical across torch versions: use it as an experimental reference, not in a file format.
    :meth:`pinv_apply` computes :math:`H^\top (H H^\top)^{-1} r` with a cached Cholesky factor of
    :math:`H H^\top` (float64). Refuses :math:`N \cdot M > 5 \cdot 10^7` (memory).

    Args:
        n: signal length :math:`N \ge 0`.
        m: number of measurements, :math:`0 \le M \le N`.
        seed: non-negative python int.

    Shape:
        - forward: :math:`(*, N) \to (*, M)`
        - adjoint / pinv_apply: :math:`(*, M) \to (*, N)`

    Example:
        >>> op = GaussianSensing(n=20, m=5, seed=0)
        >>> c = torch.randn(3, 20, dtype=torch.float64)
        >>> r = torch.randn(3, 5, dtype=torch.float64)
        >>> torch.allclose(op(op.pinv_apply(r)), r)
        True
    """

    version: ClassVar[int] = 1
    orthonormal_rows: ClassVar[bool] = False

    weight: Tensor
    chol: Tensor

    def __init__(self, n: int, m: int, seed: int) -> None:
        super().__init__()
        n, m, seed = _check_nms(n, m, seed, "GaussianSensing")
        if n * m > _GAUSSIAN_MAX_ENTRIES:
            raise KorniaOpsValueError(
                f"GaussianSensing: n*m = {n * m} exceeds {_GAUSSIAN_MAX_ENTRIES} entries; "
                "use StructuredSensing"
            )
        self.n, self.m, self.seed = n, m, seed
        gen = torch.Generator(device="cpu").manual_seed(self.seed)
        weight = torch.randn(m, n, generator=gen, dtype=torch.float64) / math.sqrt(max(n, 1))
        chol = torch.linalg.cholesky(weight @ weight.T) if m > 0 else torch.zeros(0, 0, dtype=torch.float64)
        self.register_buffer("weight", weight, persistent=False)
        self.register_buffer("chol", chol, persistent=False)

    def extra_repr(self) -> str:
        return f"n={self.n}, m={self.m}, seed={self.seed}"

    def forward(self, c: Tensor) -> Tensor:
        """Measure: ``y = H c``, :math:`(*, N) \\to (*, M)`."""
        _check_vec(c, self.n, "c", "GaussianSensing.forward")
        cd = compute_dtype(c.dtype)
        return (c.to(cd) @ self.weight.to(device=c.device, dtype=cd).T).to(c.dtype)

    def adjoint(self, y: Tensor) -> Tensor:
        """Adjoint: ``c = H^T y``, :math:`(*, M) \\to (*, N)`."""
        _check_vec(y, self.m, "y", "GaussianSensing.adjoint")
        cd = compute_dtype(y.dtype)
        return (y.to(cd) @ self.weight.to(device=y.device, dtype=cd)).to(y.dtype)

    def pinv_apply(self, r: Tensor) -> Tensor:
        """Least-norm pre-image :math:`H^\\top (H H^\\top)^{-1} r`, :math:`(*, M) \\to (*, N)`."""
        _check_vec(r, self.m, "r", "GaussianSensing.pinv_apply")
        if self.m == 0:
            return r.new_zeros((*r.shape[:-1], self.n))
        cd = compute_dtype(r.dtype)
        chol = self.chol.to(device=r.device, dtype=cd)
        flat = r.to(cd).reshape(-1, self.m).T  # (M, K)
        u = torch.cholesky_solve(flat, chol).T.reshape(r.shape)
        return self.adjoint(u).to(r.dtype)

    def matrix(self, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> Tensor:
        """Dense :math:`(M, N)` matrix."""
        return self.weight.to(device=device, dtype=dtype).clone()
