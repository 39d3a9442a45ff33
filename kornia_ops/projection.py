"""Compressed-sensing projection of critical pixels onto their measurements (decoder module R)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from kornia_ops._checks import (
    KorniaOpsTypeError,
    KorniaOpsValueError,
    check_float,
    check_shape,
    check_tensor,
    compute_dtype,
)

__all__ = [
    "CSProjection",
    "SensingOperator",
    "cs_project_box",
    "cs_project_equality",
    "cs_project_image",
]

ProjectionMode = Literal["equality", "box"]


@runtime_checkable
class SensingOperator(Protocol):
    """What the projections need from an operator (``StructuredSensing`` and ``GaussianSensing`` fit)."""

    n: int
    m: int

    def __call__(self, c: Tensor) -> Tensor: ...  # forward, (*, N) -> (*, M)

    def adjoint(self, y: Tensor) -> Tensor: ...

    def pinv_apply(self, r: Tensor) -> Tensor: ...


def _check_pair(c_g: Tensor, y: Tensor, op: Any, fname: str) -> None:
    check_shape(c_g, ["*", "N"], fname, "c_g")
    check_shape(y, ["*", "M"], fname, "y")
    check_float(c_g, fname, "c_g")
    check_float(y, fname, "y")
    if c_g.shape[-1] != op.n or y.shape[-1] != op.m:
        raise KorniaOpsValueError(
            f"{fname}: expected c_g (..., {op.n}) and y (..., {op.m}) for the operator's (n, m), "
            f"got {tuple(c_g.shape)}, {tuple(y.shape)}"
        )


def cs_project_equality(c_g: Tensor, y: Tensor, op: SensingOperator) -> Tensor:
    r"""Least-norm correction onto :math:`\{c : H c = y\}` (paper eq. 10).

    .. math:: \hat c = c_g + H^\top (H H^\top)^{-1} (y - H c_g)

    This is the Euclidean projection of :math:`c_g` onto the affine set. Differentiable w.r.t. ``c_g`` (and
    ``y``).

    Args:
        c_g: restored critical values, shape :math:`(*, N)`.
        y: measurements, shape :math:`(*, M)` (broadcastable with ``op(c_g)``).
        op: sensing operator with ``n == N``, ``m == M`` (``forward`` and ``pinv_apply``).

    Returns:
        projected vector :math:`(*, N)`.

    Example:
        >>> from kornia_ops import StructuredSensing
        >>> op = StructuredSensing(8, 5, seed=3)
        >>> c = torch.randn(8, dtype=torch.float64)
        >>> y = op(torch.randn(8, dtype=torch.float64))
        >>> torch.allclose(op(cs_project_equality(c, y, op)), y)
        True
    """
    _check_pair(c_g, y, op, "cs_project_equality")
    cd = compute_dtype(c_g.dtype)
    c = c_g.to(cd)
    return (c + op.pinv_apply(y.to(cd) - op(c))).to(c_g.dtype)


def cs_project_box(c_g: Tensor, y: Tensor, op: SensingOperator, step: float | Tensor) -> Tensor:
    r"""Correction onto the quantisation cell :math:`\{c : |H c - y| \le \mathrm{step}/2\}` (componentwise).

    .. math:: z = H c_g,\quad \hat c = c_g + H^\top (H H^\top)^{-1}\big(\mathrm{clamp}(z, y - \tfrac{step}{2},
        y + \tfrac{step}{2}) - z\big)

    For operators with orthonormal rows (:class:`StructuredSensing`, :math:`H H^\top = I`) this is the exact
    Euclidean projection onto the cell. For other operators (:class:`GaussianSensing`) the result is always
    inside the cell and is the least-norm correction reaching the clamped measurement, but it is not the exact
    projection (that would need a QP since :math:`H H^\top \ne I`). Points already inside the cell are
    returned unchanged (idempotent). Differentiable (almost everywhere) w.r.t. ``c_g``.

    Args:
        c_g: restored critical values, shape :math:`(*, N)`.
        y: (de-quantised) measurements, shape :math:`(*, M)`.
        op: sensing operator with ``n == N``, ``m == M``.
        step: quantiser step, a non-negative float or a tensor broadcastable to ``y``.

    Returns:
        projected vector :math:`(*, N)`.

    Example:
        >>> from kornia_ops import StructuredSensing
        >>> op = StructuredSensing(8, 8, seed=3)
        >>> y = torch.round(op(torch.randn(8, dtype=torch.float64)) / 0.5) * 0.5
        >>> c = cs_project_box(torch.zeros(8, dtype=torch.float64), y, op, step=0.5)
        >>> bool(((op(c) - y).abs() <= 0.25 + 1e-12).all())
        True
    """
    _check_pair(c_g, y, op, "cs_project_box")
    cd = compute_dtype(c_g.dtype)
    yc = y.to(cd)
    if isinstance(step, Tensor):
        step_t = step.to(device=y.device, dtype=cd)
    else:
        step_t = torch.as_tensor(float(step), device=y.device, dtype=cd)
    if not bool((step_t >= 0).all()):
        raise KorniaOpsValueError("cs_project_box: step must be non-negative")
    half = step_t / 2
    c = c_g.to(cd)
    z = op(c)
    target = torch.maximum(torch.minimum(z, yc + half), yc - half)
    return (c + op.pinv_apply(target - z)).to(c_g.dtype)


OpsArg = Any  # op | Sequence[op | Sequence[op]] | Callable[[int, int, int], op]
YArg = Tensor | Sequence[Any]


def _is_seq(x: Any) -> bool:
    return isinstance(x, (list, tuple, nn.ModuleList))


def _plane_op(ops: OpsArg, b: int, c: int, ch: int, n: int) -> Any:
    if _is_seq(ops):
        item = ops[b]
        if _is_seq(item):
            if len(item) != ch:
                raise KorniaOpsValueError(f"cs_project_image: ops[{b}] must have {ch} operators, got {len(item)}")
            return item[c]
        return item
    if hasattr(ops, "pinv_apply"):
        return ops
    if callable(ops):
        return ops(b, c, n)
    raise KorniaOpsTypeError(f"cs_project_image: unsupported ops of type {type(ops).__name__}")


def _plane_y(y: YArg, b: int, c: int, bsz: int, ch: int) -> Tensor:
    if isinstance(y, Tensor):
        if not (y.dim() == 3 and y.shape[0] == bsz and y.shape[1] == ch):
            raise KorniaOpsValueError(f"cs_project_image: tensor y must be ({bsz}, {ch}, M), got {tuple(y.shape)}")
        return y[b, c]
    item = y[b]
    if isinstance(item, Tensor):
        if item.dim() == 1 and ch == 1:
            return item
        if not (item.dim() == 2 and item.shape[0] == ch):
            raise KorniaOpsValueError(
                f"cs_project_image: y[{b}] must be ({ch}, M) or a list of {ch} tensors, got {tuple(item.shape)}"
            )
        return item[c]
    if len(item) != ch:
        raise KorniaOpsValueError(f"cs_project_image: y[{b}] must have {ch} tensors, got {len(item)}")
    return item[c]


def cs_project_image(
    image: Tensor,
    mask: Tensor,
    y: YArg,
    ops: OpsArg,
    mode: ProjectionMode = "equality",
    step: float | Tensor | None = None,
) -> Tensor:
    r"""Project the critical pixels of every plane of an image onto their CS measurements.

    For every batch item ``b`` and channel ``c`` the critical pixels ``mask[b, c]`` (or ``mask[b, 0]``) are
    gathered in raster order (``mask.flatten().nonzero()``) into :math:`c_g \in \mathbb{R}^N`, projected with
    :func:`cs_project_equality` or :func:`cs_project_box`, and scattered back; other pixels are untouched.
    Differentiable w.r.t. ``image``. Planes with :math:`N = 0` are left as they are.

    Args:
        image: restored image :math:`(B, C, H, W)`; float32 or float64, or float16/bfloat16 (projected in
            float32 and returned in the input's dtype, so the constraint then holds only to that dtype's
            rounding).
        mask: bool critical mask :math:`(B, C, H, W)` or :math:`(B, 1, H, W)` (shared by all channels).
        y: measurements per plane, cast to ``image``'s dtype and device. Either a tensor :math:`(B, C, M)`
            (all planes share :math:`M`) or a sequence of length :math:`B` whose item ``b`` is a tensor
            :math:`(C, M_b)`, a tensor :math:`(M_b,)` (only when :math:`C = 1`), or a sequence of :math:`C`
            tensors :math:`(M_{bc},)`.
        ops: sensing operators, with ``op.n`` equal to the plane's :math:`N`. Either one operator for every
            plane, a sequence of length :math:`B` whose item is an operator (shared by the channels of item
            ``b``) or a sequence of :math:`C` operators, or a factory ``ops(b, c, n) -> op``.
        mode: ``"equality"`` (eq. 10) or ``"box"`` (quantisation cell, needs ``step``).
        step: quantiser step for ``mode="box"`` (float, or tensor broadcastable to the plane's ``y``).

    Returns:
        projected image :math:`(B, C, H, W)`.

    Example:
        >>> from kornia_ops import StructuredSensing
        >>> img = torch.rand(1, 1, 4, 4, dtype=torch.float64)
        >>> mask = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
        >>> mask[..., 1:3, 1:3] = True
        >>> op = StructuredSensing(4, 4, seed=0)
        >>> y = op(img[mask].reshape(1, 1, 4))
        >>> out = cs_project_image(torch.zeros_like(img), mask, y, op)
        >>> torch.allclose(out[mask], img[mask])
        True
    """
    fn = "cs_project_image"
    check_shape(image, ["B", "C", "H", "W"], fn, "image")
    check_shape(mask, ["B", "C", "H", "W"], fn, "mask")
    if mask.dtype != torch.bool:
        raise KorniaOpsTypeError(f"{fn}: mask must be a bool tensor, got {mask.dtype}")
    check_float(image, fn, "image")
    bsz, ch, h, w = image.shape
    if not (mask.shape[0] == bsz and mask.shape[1] in (1, ch) and mask.shape[2:] == image.shape[2:]):
        raise KorniaOpsValueError(f"{fn}: mask {tuple(mask.shape)} incompatible with image {tuple(image.shape)}")
    if mode not in ("equality", "box"):
        raise KorniaOpsValueError(f"{fn}: mode must be 'equality' or 'box', got {mode!r}")
    if mode == "box" and step is None:
        raise KorniaOpsValueError(f"{fn}: mode='box' needs a step")
    if not isinstance(y, Tensor) and len(y) != bsz:
        raise KorniaOpsValueError(f"{fn}: y must have {bsz} items (one per batch item), got {len(y)}")
    if _is_seq(ops) and len(ops) != bsz:
        raise KorniaOpsValueError(f"{fn}: ops must have {bsz} items (one per batch item), got {len(ops)}")
    cd = compute_dtype(image.dtype)
    in_dtype = image.dtype
    image = image.to(cd)

    flat_mask = mask.reshape(bsz, mask.shape[1], h * w).to(image.device)
    plane_size = h * w
    idx_list: list[Tensor] = []
    val_list: list[Tensor] = []
    flat_img = image.reshape(-1)
    for b in range(bsz):
        for c in range(ch):
            idx = flat_mask[b, c if mask.shape[1] > 1 else 0].nonzero().squeeze(1)
            n = idx.numel()
            if n == 0:
                continue
            gidx = idx + (b * ch + c) * plane_size
            op = _plane_op(ops, b, c, ch, n)
            y_p = _plane_y(y, b, c, bsz, ch)
            check_tensor(y_p, fn, f"y (batch {b}, channel {c})")
            y_p = y_p.to(device=image.device, dtype=cd)
            c_g = flat_img.index_select(0, gidx)
            if mode == "equality":
                c_hat = cs_project_equality(c_g, y_p, op)
            else:
                assert step is not None
                c_hat = cs_project_box(c_g, y_p, op, step)
            idx_list.append(gidx)
            val_list.append(c_hat)
    if not idx_list:
        return image.to(in_dtype, copy=True)
    out = flat_img.index_copy(0, torch.cat(idx_list), torch.cat(val_list)).reshape(image.shape)
    return out.to(in_dtype)


class CSProjection(nn.Module):
    r"""Module wrapper of :func:`cs_project_image` (decoder module R), usable inside any restoration network.

    Args:
        mode: ``"equality"`` (eq. 10) or ``"box"``.
        step: quantiser step for ``mode="box"``.

    Shape:
        - image: :math:`(B, C, H, W)`, mask: :math:`(B, 1 \text{ or } C, H, W)` bool
        - output: :math:`(B, C, H, W)`

    Example:
        >>> from kornia_ops import StructuredSensing
        >>> class Restorer(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.net = nn.Conv2d(1, 1, 3, padding=1)
        ...         self.project = CSProjection(mode="equality")
        ...     def forward(self, base, mask, y, ops):
        ...         return self.project(base + self.net(base), mask, y, ops)
        >>> base = torch.rand(2, 1, 8, 8)
        >>> mask = torch.rand(2, 1, 8, 8) > 0.8
        >>> ops = [StructuredSensing(int(m.sum()), int(m.sum()) // 2, seed=b) for b, m in enumerate(mask)]
        >>> y = [op(torch.rand(op.n)) for op in ops]
        >>> out = Restorer()(base, mask, y, ops)
        >>> out.shape
        torch.Size([2, 1, 8, 8])
        >>> out.sum().backward()  # gradients flow through the projection
    """

    def __init__(self, mode: ProjectionMode = "equality", step: float | Tensor | None = None) -> None:
        super().__init__()
        if mode not in ("equality", "box"):
            raise KorniaOpsValueError(f"CSProjection: mode must be 'equality' or 'box', got {mode!r}")
        if mode == "box" and step is None:
            raise KorniaOpsValueError("CSProjection: mode='box' needs a step")
        self.mode: ProjectionMode = mode
        self.step = step

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, step={self.step}"

    def forward(self, image: Tensor, mask: Tensor, y: YArg, ops: OpsArg) -> Tensor:
        return cs_project_image(image, mask, y, ops, mode=self.mode, step=self.step)
