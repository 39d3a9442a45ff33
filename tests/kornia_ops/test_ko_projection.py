"""CS projections: equality (eq. 10), box cell, image-level gather/scatter, CSProjection module."""

from __future__ import annotations

import pytest
import torch
from kornia.core.exceptions import BaseError
from torch import nn

from kornia_ops import (
    CSProjection,
    GaussianSensing,
    StructuredSensing,
    cs_project_box,
    cs_project_equality,
    cs_project_image,
)


def _tol(dtype: torch.dtype) -> float:
    return 1e-4 if dtype == torch.float32 else 1e-9


OPS = [
    pytest.param(lambda n, m: StructuredSensing(n, m, seed=21), id="structured"),
    pytest.param(lambda n, m: GaussianSensing(n, m, seed=21), id="gaussian"),
]


@pytest.mark.parametrize("make", OPS)
@pytest.mark.parametrize("n,m", [(1, 1), (7, 3), (64, 64), (50, 20)])
def test_equality_projection_is_min_norm(make, n: int, m: int) -> None:
    torch.manual_seed(n * 1000 + m)
    op = make(n, m)
    c_g = torch.randn(2, n, dtype=torch.float64)
    y = torch.randn(2, m, dtype=torch.float64)
    c = cs_project_equality(c_g, y, op)
    assert (op(c) - y).abs().max() < 1e-9
    h = op.matrix()
    # min-norm correction: delta = argmin ||d|| s.t. H d = y - H c_g  (lstsq on the underdetermined system)
    rhs = (y - c_g @ h.T).T
    delta_ref = (torch.linalg.pinv(h) @ rhs).T
    # (square Gaussian H is ill-conditioned: relative tolerance)
    torch.testing.assert_close(c - c_g, delta_ref, atol=1e-9, rtol=1e-6)
    delta_lstsq = torch.linalg.lstsq(h, rhs, driver="gelsd").solution.T
    torch.testing.assert_close(c - c_g, delta_lstsq, atol=1e-8, rtol=1e-6)
    # idempotent
    torch.testing.assert_close(cs_project_equality(c, y, op), c, atol=1e-8, rtol=0)


def test_equality_dtype_device(dtype: torch.dtype, device: torch.device) -> None:
    op = StructuredSensing(30, 12, seed=1).to(device)
    c_g = torch.randn(4, 30, dtype=dtype, device=device)
    y = torch.randn(4, 12, dtype=dtype, device=device)
    c = cs_project_equality(c_g, y, op)
    assert c.dtype == dtype and c.device.type == device.type and c.shape == c_g.shape
    assert (op(c) - y).abs().max() < _tol(dtype) * 10


@pytest.mark.parametrize("make", OPS)
def test_box_projection_inside_cell_and_idempotent(make, dtype: torch.dtype) -> None:
    n, m, step = 40, 25, 0.3
    op = make(n, m)
    y = torch.round(op(torch.randn(3, n, dtype=torch.float64)) / step) * step
    y = y.to(dtype)
    c_g = torch.randn(3, n, dtype=dtype) * 2
    c = cs_project_box(c_g, y, op, step)
    assert ((op(c) - y).abs() <= step / 2 + _tol(dtype) * 10).all()
    c2 = cs_project_box(c, y, op, step)
    torch.testing.assert_close(c2, c, atol=_tol(dtype) * 10, rtol=0)
    # already inside -> unchanged
    inside = c.clone()
    torch.testing.assert_close(
        cs_project_box(inside, y, op, torch.tensor(step)), inside, atol=_tol(dtype) * 10, rtol=0
    )


def test_box_is_exact_projection_for_orthonormal_rows() -> None:
    # the projection onto the cell {c : |Hc - y| <= s/2} for H with H H^T = I
    torch.manual_seed(0)  # this draw has c_g outside the cell on measurements 0-3 and inside on 4
    n, m, step = 12, 5, 0.5
    op = StructuredSensing(n, m, seed=8)
    h = op.matrix()
    torch.testing.assert_close(h @ h.T, torch.eye(m, dtype=h.dtype), atol=1e-12, rtol=0)  # orthonormal rows
    y = torch.randn(m, dtype=torch.float64)
    c_g = torch.randn(n, dtype=torch.float64) * 3
    c = cs_project_box(c_g, y, op, step)
    res_g, res = h @ c_g - y, h @ c - y
    violated = res_g.abs() > step / 2
    assert violated.any() and (~violated).any()  # both kinds of constraint are exercised
    # feasible: inside the quantisation cell
    assert (res.abs() <= step / 2 + 1e-12).all()
    # exact (H H^T = I decouples the measurements): each residual is c_g's, clamped to the cell
    torch.testing.assert_close(res, res_g.clamp(-step / 2, step / 2), atol=1e-12, rtol=0)
    # the constraints c_g violated are active (on the cell's boundary, on c_g's side); the others keep c_g's value
    active = (res.abs() - step / 2).abs() < 1e-9
    assert torch.equal(active, violated)
    torch.testing.assert_close(torch.sign(res[active]), torch.sign(res_g[active]))
    torch.testing.assert_close(res[~active], res_g[~active], atol=1e-12, rtol=0)
    # optimality (KKT): c_g - c lies in the row space, multipliers zero on inactive constraints and strictly
    # positive (in the direction of the violation) on active ones
    lam = h @ (c_g - c)  # multipliers
    assert torch.allclose(h.T @ lam, c_g - c, atol=1e-12)
    assert (lam[~active].abs() < 1e-9).all()
    assert (lam[active] * torch.sign(res[active]) > 1e-9).all()
    # no feasible point is closer to c_g (random feasible points: c moved along the cell and the null space)
    null = torch.eye(n, dtype=torch.float64) - h.T @ h
    for _ in range(200):
        r = (torch.rand(m, dtype=torch.float64) - 0.5) * step  # a residual inside the cell
        other = c + h.T @ (r - res) + null @ torch.randn(n, dtype=torch.float64)
        assert ((h @ other - y).abs() <= step / 2 + 1e-12).all()
        assert (other - c_g).norm() >= (c - c_g).norm() - 1e-12
    # step=0 reduces to the equality projection; huge step leaves c_g alone
    torch.testing.assert_close(cs_project_box(c_g, y, op, 0.0), cs_project_equality(c_g, y, op))
    torch.testing.assert_close(cs_project_box(c_g, y, op, 1e9), c_g)
    # per-measurement steps
    steps = torch.linspace(0.1, 1.0, m, dtype=torch.float64)
    cb = cs_project_box(c_g, y, op, steps)
    assert ((h @ cb - y).abs() <= steps / 2 + 1e-12).all()
    torch.testing.assert_close(h @ cb - y, torch.maximum(torch.minimum(res_g, steps / 2), -steps / 2),
                               atol=1e-12, rtol=0)


def test_projection_gradcheck() -> None:
    op = StructuredSensing(8, 5, seed=2)
    gop = GaussianSensing(8, 5, seed=2)
    c = torch.randn(2, 8, dtype=torch.float64, requires_grad=True)
    y = torch.randn(2, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: cs_project_equality(a, b, op), (c, y))
    assert torch.autograd.gradcheck(lambda a, b: cs_project_equality(a, b, gop), (c, y))
    # box: keep away from the clamp kinks (gradcheck uses finite differences)
    yb = (op(c.detach()) + torch.tensor([0.5, -0.5, 0.01, 0.6, -0.02], dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: cs_project_box(a, b, op, 0.2), (c, yb))


def test_projection_errors() -> None:
    op = StructuredSensing(6, 3, seed=0)
    with pytest.raises(BaseError):
        cs_project_equality(torch.randn(5), torch.randn(3), op)
    with pytest.raises(BaseError):
        cs_project_equality(torch.randn(6), torch.randn(4), op)
    with pytest.raises(BaseError):
        cs_project_box(torch.randn(6), torch.randn(3), op, -1.0)


def _planes(image: torch.Tensor, mask: torch.Tensor) -> list[tuple[int, int, torch.Tensor]]:
    out = []
    for b in range(image.shape[0]):
        for c in range(image.shape[1]):
            mk = mask[b, c if mask.shape[1] > 1 else 0]
            out.append((b, c, image[b, c][mk]))
    return out


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("shared_mask", [True, False])
def test_cs_project_image_equality(
    batch: int, shared_mask: bool, dtype: torch.dtype, device: torch.device
) -> None:
    torch.manual_seed(0)
    ch, h, w = 3, 9, 11
    truth = torch.rand(batch, ch, h, w, dtype=dtype, device=device)
    mask = torch.rand(batch, 1 if shared_mask else ch, h, w, device=device) > 0.7
    restored = truth + 0.1 * torch.randn_like(truth)
    # per batch item, per channel ops and measurements (N differs per plane)
    ops, ys = [], []
    for b in range(batch):
        ops_b, ys_b = [], []
        for c in range(ch):
            vec = truth[b, c][mask[b, c if not shared_mask else 0]]
            op = StructuredSensing(vec.numel(), max(vec.numel() // 2, 0), seed=100 * b + c)
            ops_b.append(op)
            ys_b.append(op(vec))
        ops.append(ops_b)
        ys.append(ys_b)
    out = cs_project_image(restored, mask, ys, ops)
    assert out.shape == restored.shape and out.dtype == dtype and out.device.type == device.type
    full_mask = mask.expand_as(restored)
    torch.testing.assert_close(out[~full_mask], restored[~full_mask])  # non-critical untouched
    for b, c, vec in _planes(out, mask):
        assert (ops[b][c](vec) - ys[b][c]).abs().max() < _tol(dtype) * 10
    # module == functional
    torch.testing.assert_close(CSProjection()(restored, mask, ys, ops), out)
    # non-contiguous image gives the same result
    nc = restored.permute(0, 1, 3, 2).contiguous().permute(0, 1, 3, 2)
    assert not nc.is_contiguous()
    torch.testing.assert_close(cs_project_image(nc, mask, ys, ops), out)


def test_cs_project_image_full_measurements_recovers_truth() -> None:
    truth = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    mask = torch.rand(2, 1, 8, 8) > 0.5
    ops = [StructuredSensing(int(m.sum()), int(m.sum()), seed=b) for b, m in enumerate(mask)]
    ys = [op(truth[b, 0][mask[b, 0]]) for b, op in enumerate(ops)]  # 1-D y per item, C == 1
    out = cs_project_image(torch.zeros_like(truth), mask, ys, ops)
    torch.testing.assert_close(out[mask], truth[mask], atol=1e-12, rtol=0)
    assert (out[~mask] == 0).all()
    # factory form
    out2 = cs_project_image(torch.zeros_like(truth), mask, ys, lambda b, c, n: ops[b])
    torch.testing.assert_close(out2, out)


def test_cs_project_image_tensor_y_and_box() -> None:
    torch.manual_seed(1)
    b, ch, n_side = 2, 2, 6
    truth = torch.rand(b, ch, n_side, n_side, dtype=torch.float64)
    # same number of critical pixels everywhere -> (B, C, M) tensor y and one shared op
    mask = torch.zeros(b, 1, n_side, n_side, dtype=torch.bool)
    mask[:, :, 1:4, 2:5] = True
    op = StructuredSensing(9, 6, seed=5)
    step = 0.05
    y = torch.round(op(truth.masked_select(mask.expand_as(truth)).reshape(b, ch, 9)) / step) * step
    restored = truth + 0.2 * torch.randn_like(truth)
    out = cs_project_image(restored, mask, y, op, mode="box", step=step)
    vec = out.masked_select(mask.expand_as(out)).reshape(b, ch, 9)
    assert ((op(vec) - y).abs() <= step / 2 + 1e-12).all()
    torch.testing.assert_close(cs_project_image(out, mask, y, op, mode="box", step=step), out)  # idempotent
    torch.testing.assert_close(CSProjection(mode="box", step=step)(restored, mask, y, op), out)


def test_cs_project_image_empty_mask_and_gradcheck() -> None:
    img = torch.rand(1, 1, 4, 5, dtype=torch.float64, requires_grad=True)
    empty = torch.zeros(1, 1, 4, 5, dtype=torch.bool)
    out = cs_project_image(
        img, empty, [torch.zeros(0, dtype=torch.float64)], [StructuredSensing(0, 0, seed=0)]
    )
    torch.testing.assert_close(out, img)
    mask = torch.rand(1, 1, 4, 5) > 0.5
    n = int(mask.sum())
    op = StructuredSensing(n, max(n - 2, 0), seed=3)
    y = [op(torch.rand(n, dtype=torch.float64))]
    assert torch.autograd.gradcheck(lambda x: cs_project_image(x, mask, y, [op]), (img,))
    assert torch.autograd.gradcheck(
        lambda x: cs_project_image(x, mask, y, [op], mode="box", step=0.05), (img,)
    )


def test_cs_projection_inside_a_network() -> None:
    class Restorer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Conv2d(1, 1, 3, padding=1)
            self.project = CSProjection()

        def forward(self, base, mask, y, ops):
            return self.project(base + self.net(base), mask, y, ops)

    model = Restorer()
    base = torch.rand(2, 1, 8, 8)
    mask = torch.rand(2, 1, 8, 8) > 0.8
    ops = [StructuredSensing(int(m.sum()), int(m.sum()) // 2, seed=b) for b, m in enumerate(mask)]
    y = [op(torch.rand(op.n)) for op in ops]
    model(base, mask, y, ops).square().mean().backward()
    assert model.net.weight.grad is not None and torch.isfinite(model.net.weight.grad).all()


def test_cs_project_image_errors() -> None:
    img = torch.rand(2, 3, 4, 4)
    mask = torch.ones(2, 1, 4, 4, dtype=torch.bool)
    op = StructuredSensing(16, 4, seed=0)
    y = torch.zeros(2, 3, 4)
    with pytest.raises(BaseError):
        cs_project_image(img[0], mask, y, op)  # not 4-D
    with pytest.raises(BaseError):
        cs_project_image(img, mask.float(), y, op)  # mask not bool
    with pytest.raises(BaseError):
        cs_project_image(img, torch.ones(2, 2, 4, 4, dtype=torch.bool), y, op)  # bad mask channels
    with pytest.raises(BaseError):
        cs_project_image(img, mask, torch.zeros(2, 2, 4), op)  # bad y shape
    with pytest.raises(BaseError):
        cs_project_image(img, mask, [y[0]], op)  # y list of wrong length
    with pytest.raises(BaseError):
        cs_project_image(img, mask, y, StructuredSensing(15, 4, seed=0))  # op.n != N
    with pytest.raises(ValueError):
        cs_project_image(img, mask, y, op, mode="box")  # box without step
    with pytest.raises(ValueError):
        cs_project_image(img, mask, y, op, mode="nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        CSProjection(mode="box")
