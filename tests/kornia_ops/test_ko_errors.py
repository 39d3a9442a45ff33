"""Typed, named errors and consistent dtypes across kornia_ops (issue 25, item 9): one test per finding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from kornia.core.exceptions import BaseError

from kornia_ops import (
    CriticalPixelMask,
    GaussianSensing,
    IdentitySensing,
    KorniaOpsTypeError,
    KorniaOpsValueError,
    SoftCriticalPixelMask,
    StructuredSensing,
    critical_pixel_mask,
    critical_pixel_target,
    critical_threshold,
    cs_project_box,
    cs_project_equality,
    cs_project_image,
    dct_ortho,
    idct_ortho,
    saliency_map,
    soft_critical_pixel_mask,
)

HALF = [torch.float16, torch.bfloat16]


class _Net(torch.nn.Module):
    def saliency_logits(self, x: torch.Tensor) -> torch.Tensor:
        return x - 0.5


def test_error_classes_are_standard_and_kornia() -> None:
    assert issubclass(KorniaOpsValueError, ValueError) and issubclass(KorniaOpsValueError, BaseError)
    assert issubclass(KorniaOpsTypeError, TypeError) and issubclass(KorniaOpsTypeError, BaseError)


@pytest.mark.parametrize(
    "call",
    [
        lambda: critical_pixel_mask(torch.ones(1, 1, 3, 3, dtype=torch.int64), 1),
        lambda: critical_pixel_mask(torch.rand(1, 1, 3, 3), torch.tensor([1.0])),
        lambda: StructuredSensing(5, 3, seed=0)(torch.ones(5, dtype=torch.int64)),
        lambda: dct_ortho(torch.arange(4)),
        lambda: idct_ortho(torch.ones(4, dtype=torch.complex64)),
        lambda: cs_project_image(torch.rand(1, 1, 4, 4), torch.ones(1, 1, 4, 4), torch.zeros(1, 1, 16),
                                 StructuredSensing(16, 16, 0)),
        lambda: cs_project_image(torch.zeros(1, 1, 4, 4, dtype=torch.int32), torch.ones(1, 1, 4, 4, dtype=torch.bool),
                                 torch.zeros(1, 1, 16), StructuredSensing(16, 16, 0)),
        lambda: critical_pixel_target(torch.zeros(1, 1, 8, 8, dtype=torch.uint8), torch.zeros(1, 1, 8, 8),
                                      torch.ones(1, 1, 8, 8)),
        lambda: saliency_map(torch.zeros(1, 1, 4, 4, dtype=torch.int64), _Net()),
    ],
)
def test_dtype_errors_are_type_errors(call) -> None:  # noqa: ANN001
    with pytest.raises(TypeError, match="must be"):
        call()


@pytest.mark.parametrize(
    ("call", "names"),
    [
        (lambda: critical_pixel_mask(torch.rand(1, 3, 3), 1), ("critical_pixel_mask", "scores")),
        (lambda: critical_threshold(torch.rand(3), 1), ("critical_threshold", "scores")),
        (lambda: StructuredSensing(5, 3, seed=0)(torch.randn(4)), ("StructuredSensing.forward", "c")),
        (lambda: StructuredSensing(5, 3, seed=0).adjoint(torch.randn(5)), ("StructuredSensing.adjoint", "y")),
        (lambda: cs_project_equality(torch.randn(5), torch.randn(2), StructuredSensing(5, 3, 0)),
         ("cs_project_equality", "y")),
        (lambda: cs_project_image(torch.rand(1, 4, 4), torch.ones(1, 1, 4, 4, dtype=torch.bool), [], None),
         ("cs_project_image", "image")),
        (lambda: critical_pixel_target(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8), torch.ones(1, 2, 8, 8)),
         ("critical_pixel_target", "roi")),
        (lambda: saliency_map(torch.rand(1, 2, 4, 4), _Net()), ("saliency_map", "x")),
        (lambda: dct_ortho(torch.tensor(1.0)), ("dct_ortho", "x")),
    ],
)
def test_shape_errors_are_value_errors_naming_function_and_argument(call, names) -> None:  # noqa: ANN001
    with pytest.raises(ValueError) as info:
        call()
    for name in names:
        assert name in str(info.value)


def test_nan_input_gives_a_clear_error() -> None:
    x = torch.rand(1, 1, 8, 8)
    x[0, 0, 2, 3] = float("nan")
    with pytest.raises(ValueError, match="contains NaN/inf"):
        saliency_map(x, _Net())
    good = torch.rand(1, 1, 8, 8)
    roi = torch.ones(1, 1, 8, 8)
    with pytest.raises(ValueError, match="original contains NaN/inf"):
        critical_pixel_target(x, good, roi)
    with pytest.raises(ValueError, match="restored contains NaN/inf"):
        critical_pixel_target(good, x.masked_fill(x.isnan(), float("inf")), roi)


@pytest.mark.parametrize("half", HALF)
def test_reduced_precision_accepted_everywhere_and_computed_in_float32(half: torch.dtype) -> None:
    torch.manual_seed(0)
    s = torch.rand(2, 1, 6, 6)
    assert torch.equal(critical_pixel_mask(s.to(half), 9), critical_pixel_mask(s.to(half).float(), 9))
    assert critical_threshold(s.to(half), 9).dtype == half
    soft = soft_critical_pixel_mask(s.to(half), 9)
    assert soft.dtype == half

    x = torch.randn(3, 17)
    for op in (StructuredSensing(17, 9, seed=2), GaussianSensing(17, 9, seed=2), IdentitySensing(17, 17)):
        xh = x.to(half)
        ref = op(xh.float())  # what "computed in float32" means: the same as casting up first
        out = op(xh)
        assert out.dtype == half
        torch.testing.assert_close(out, ref.to(half), rtol=0, atol=0)
        assert op.adjoint(out).dtype == half and op.pinv_apply(out).dtype == half

    xd = x.to(half)
    assert dct_ortho(xd).dtype == half
    torch.testing.assert_close(dct_ortho(xd), dct_ortho(xd.float()).to(half), rtol=0, atol=0)
    torch.testing.assert_close(idct_ortho(xd), idct_ortho(xd.float()).to(half), rtol=0, atol=0)

    op = StructuredSensing(17, 9, seed=1)
    y = op(torch.randn(17)).to(half)
    c = cs_project_equality(torch.zeros(17, dtype=half), y, op)
    assert c.dtype == half
    torch.testing.assert_close(c, cs_project_equality(torch.zeros(17), y.float(), op).to(half), rtol=0, atol=0)
    assert cs_project_box(torch.zeros(17, dtype=half), y, op, step=0.5).dtype == half

    img = torch.rand(1, 1, 5, 5)
    mask = torch.zeros(1, 1, 5, 5, dtype=torch.bool)
    mask[..., 1:4, 1:4] = True
    op9 = StructuredSensing(9, 6, seed=0)
    ym = op9(img[mask].reshape(1, 1, 9))
    out = cs_project_image(torch.zeros_like(img).to(half), mask, ym, op9)
    assert out.dtype == half
    ref = cs_project_image(torch.zeros_like(img), mask, ym, op9).to(half)
    torch.testing.assert_close(out, ref, rtol=0, atol=0)

    orig = torch.zeros(1, 1, 16, 16)
    orig[..., 8:] = 1.0
    rest = torch.full_like(orig, 0.5)
    roi = torch.ones(1, 1, 16, 16, dtype=torch.bool)
    assert torch.equal(critical_pixel_target(orig.to(half), rest.to(half), roi), critical_pixel_target(orig, rest, roi))


def test_mask_module_validates_k_at_construction() -> None:
    with pytest.raises(TypeError, match="CriticalPixelMask: k"):
        CriticalPixelMask("3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="CriticalPixelMask: k"):
        CriticalPixelMask(-1)
    with pytest.raises(TypeError, match="SoftCriticalPixelMask: k"):
        SoftCriticalPixelMask(2.5)  # type: ignore[arg-type]
    assert CriticalPixelMask(np.int64(3)).k == 3


@pytest.mark.parametrize("cls", [StructuredSensing, GaussianSensing, IdentitySensing])
def test_float_seed_is_refused_not_truncated(cls) -> None:  # noqa: ANN001
    with pytest.raises(TypeError, match="seed"):
        cls(6, 6, seed=1.5)
    op = cls(np.int64(6), np.int32(6), seed=np.int64(7))
    assert (op.n, op.m, op.seed) == (6, 6, 7) and type(op.seed) is int


def test_numpy_integer_k_accepted() -> None:
    s = torch.rand(2, 1, 4, 4)
    for k in (np.int64(5), np.int32(5), np.uint8(5)):
        assert torch.equal(critical_pixel_mask(s, k), critical_pixel_mask(s, 5))
        torch.testing.assert_close(critical_threshold(s, k), critical_threshold(s, 5))
    with pytest.raises(TypeError):
        critical_pixel_mask(s, np.float64(5.0))
    with pytest.raises(TypeError):
        critical_pixel_mask(s, True)


@pytest.mark.parametrize("size", [(1, 1), (2, 2), (2, 8), (8, 2)])
def test_target_too_small_is_a_value_error(size: tuple[int, int]) -> None:
    x = torch.rand(1, 1, *size)
    with pytest.raises(ValueError, match="at least 3x3"):
        critical_pixel_target(x, x, torch.ones(1, 1, *size))
    assert critical_pixel_target(torch.rand(1, 1, 3, 3), torch.rand(1, 1, 3, 3), torch.ones(1, 1, 3, 3)).shape == (
        1, 1, 3, 3)


def test_soft_mask_gradient_treats_tau_as_a_constant() -> None:
    """The documented behaviour: a diagonal Jacobian, sigma'((s - tau)/T)/T, the tau pixel included."""
    s0 = torch.tensor([[[[0.5, 0.9], [0.2, 0.1]]]], dtype=torch.float64)
    temp = 0.1
    jac = torch.autograd.functional.jacobian(lambda v: soft_critical_pixel_mask(v, 2, temperature=temp), s0)
    jac = jac.reshape(4, 4)
    sig = torch.sigmoid((s0.flatten() - 0.5) / temp)
    torch.testing.assert_close(jac, torch.diag(sig * (1 - sig) / temp))
    assert jac[0, 0].item() == pytest.approx(0.25 / temp)  # the pixel that is tau: not 0
    # ... so a finite-difference check disagrees in exactly that column (what the docstring says)
    s = s0.clone().requires_grad_()
    assert not torch.autograd.gradcheck(
        lambda v: soft_critical_pixel_mask(v, 2, temperature=temp), (s,), raise_exception=False
    )
