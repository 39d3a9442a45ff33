"""StructuredSensing / GaussianSensing: orthonormality, adjointness, determinism, errors."""

from __future__ import annotations

import pytest
import torch
from kornia.core.exceptions import BaseError

from kornia_ops import GaussianSensing, StructuredSensing


def _tol(dtype: torch.dtype) -> float:
    return 1e-5 if dtype == torch.float32 else 1e-12


@pytest.mark.parametrize("n", [1, 7, 64, 1000])
def test_structured_rows_orthonormal(n: int) -> None:
    for m in sorted({1, n // 2 or 1, n}):
        op = StructuredSensing(n, m, seed=11)
        h = op.matrix(dtype=torch.float64)
        assert h.shape == (m, n)
        torch.testing.assert_close(h @ h.T, torch.eye(m, dtype=torch.float64), atol=1e-12, rtol=0)


def test_structured_is_signed_permuted_dct() -> None:
    import scipy.fft

    n, m = 9, 4
    op = StructuredSensing(n, m, seed=5)
    d = torch.diag(op.signs.double())
    p = torch.eye(n, dtype=torch.float64)[op.perm]  # (P x)_j = x[perm[j]]
    dct = torch.from_numpy(scipy.fft.dct(torch.eye(n).double().numpy(), norm="ortho", axis=0))
    torch.testing.assert_close(op.matrix(), (dct @ p @ d)[:m], atol=1e-12, rtol=0)


@pytest.mark.parametrize("shape", [(), (1,), (2,), (2, 3)])
def test_structured_forward_adjoint(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> None:
    n, m = 37, 20
    op = StructuredSensing(n, m, seed=3).to(device)
    c = torch.randn(*shape, n, dtype=dtype, device=device)
    y = torch.randn(*shape, m, dtype=dtype, device=device)
    hc = op(c)
    hty = op.adjoint(y)
    assert hc.shape == (*shape, m) and hty.shape == (*shape, n)
    assert hc.dtype == dtype and hty.device.type == device.type
    h = op.matrix(dtype=dtype, device=device)
    torch.testing.assert_close(hc, c @ h.T, atol=_tol(dtype) * 10, rtol=0)
    torch.testing.assert_close(hty, y @ h, atol=_tol(dtype) * 10, rtol=0)
    # <Hc, y> == <c, H^T y>
    torch.testing.assert_close((hc * y).sum(), (c * hty).sum(), atol=_tol(dtype) * 100, rtol=0)
    torch.testing.assert_close(op.pinv_apply(y), hty)


def test_structured_non_contiguous(dtype: torch.dtype) -> None:
    op = StructuredSensing(10, 6, seed=1)
    c = torch.randn(10, 4, dtype=dtype).T
    assert not c.is_contiguous()
    torch.testing.assert_close(op(c), op(c.contiguous()))
    y = torch.randn(6, 3, dtype=dtype).T
    torch.testing.assert_close(op.adjoint(y), op.adjoint(y.contiguous()))


def test_structured_deterministic_and_not_in_state_dict() -> None:
    a, b = StructuredSensing(100, 50, seed=99), StructuredSensing(100, 50, seed=99)
    assert torch.equal(a.perm, b.perm) and torch.equal(a.signs, b.signs)
    assert not torch.equal(a.perm, StructuredSensing(100, 50, seed=98).perm)
    assert a.state_dict() == {}
    assert "seed=99" in repr(a)
    # module dtype conversion does not corrupt the integer buffers
    a.double()
    assert a.perm.dtype == torch.int64 and a.signs.dtype == torch.int8


def test_structured_edge_sizes() -> None:
    op = StructuredSensing(0, 0, seed=0)
    assert op(torch.zeros(2, 0)).shape == (2, 0)
    assert op.adjoint(torch.zeros(2, 0)).shape == (2, 0)
    op = StructuredSensing(5, 0, seed=0)
    assert op(torch.randn(5)).shape == (0,)
    assert torch.equal(op.adjoint(torch.zeros(0)), torch.zeros(5))
    op = StructuredSensing(1, 1, seed=0)
    assert op.matrix().abs().item() == 1.0


def test_sensing_errors() -> None:
    with pytest.raises(ValueError):
        StructuredSensing(5, 6, seed=0)
    with pytest.raises(ValueError):
        StructuredSensing(-1, 0, seed=0)
    with pytest.raises(TypeError):
        StructuredSensing(5.0, 2, seed=0)  # type: ignore[arg-type]
    op = StructuredSensing(5, 3, seed=0)
    with pytest.raises(BaseError):
        op(torch.randn(4))
    with pytest.raises(BaseError):
        op.adjoint(torch.randn(5))
    with pytest.raises(BaseError):
        op(torch.ones(5, dtype=torch.int64))
    with pytest.raises(ValueError):
        GaussianSensing(10_000, 10_000, seed=0)
    with pytest.raises(ValueError):
        GaussianSensing(3, 4, seed=0)
    with pytest.raises(BaseError):
        GaussianSensing(6, 3, seed=0).pinv_apply(torch.randn(6))


def test_gaussian_operator(dtype: torch.dtype, device: torch.device) -> None:
    n, m = 40, 15
    op = GaussianSensing(n, m, seed=4).to(device)
    h = op.matrix(dtype=torch.float64)
    assert h.shape == (m, n)
    torch.testing.assert_close(h, GaussianSensing(n, m, seed=4).matrix())  # reproducible
    assert abs(float(h.var()) - 1 / n) < 0.5 / n
    c = torch.randn(3, n, dtype=dtype, device=device)
    r = torch.randn(3, m, dtype=dtype, device=device)
    hd = h.to(device=device, dtype=dtype)
    torch.testing.assert_close(op(c), c @ hd.T, atol=_tol(dtype) * 10, rtol=0)
    torch.testing.assert_close(op.adjoint(r), r @ hd, atol=_tol(dtype) * 10, rtol=0)
    ref = r.double().cpu() @ torch.linalg.pinv(h).T
    torch.testing.assert_close(op.pinv_apply(r).double().cpu(), ref, atol=_tol(dtype) * 100, rtol=0)
    assert op.state_dict() == {}


def test_sensing_gradcheck() -> None:
    for op in (StructuredSensing(9, 5, seed=2), GaussianSensing(9, 5, seed=2)):
        c = torch.randn(2, 9, dtype=torch.float64, requires_grad=True)
        y = torch.randn(2, 5, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(op, (c,))
        assert torch.autograd.gradcheck(op.adjoint, (y,))
        assert torch.autograd.gradcheck(op.pinv_apply, (y,))


def test_identity_sensing(dtype: torch.dtype, device: torch.device) -> None:
    from kornia_ops import IdentitySensing

    op = IdentitySensing(7, 7, seed=3).to(device)
    c = torch.randn(2, 7, dtype=dtype, device=device, requires_grad=True)
    y = op(c)
    assert torch.equal(y, c) and y.data_ptr() != c.data_ptr()  # a copy: callers may write into it
    assert torch.equal(op.adjoint(y), c) and torch.equal(op.pinv_apply(y), c)
    torch.testing.assert_close(op.matrix(dtype=dtype, device=device), torch.eye(7, dtype=dtype, device=device))
    y.sum().backward()
    assert torch.equal(c.grad, torch.ones_like(c))
    with pytest.raises(ValueError, match="m == n"):
        IdentitySensing(7, 3, seed=0)
    with pytest.raises(BaseError):
        op(torch.randn(6, dtype=dtype, device=device))


def test_identity_projection_is_the_measurement() -> None:
    """Equality projection with identity sampling sets each critical pixel to its measurement."""
    from kornia_ops import IdentitySensing, cs_project_equality

    op = IdentitySensing(5, 5)
    c_g, y = torch.randn(5, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    torch.testing.assert_close(cs_project_equality(c_g, y, op), y)
    assert torch.autograd.gradcheck(lambda a, b: cs_project_equality(a, b, op),
                                    (c_g.clone().requires_grad_(), y.clone().requires_grad_()))
