"""torch.compile smoke tests (aot_eager backend: fast, no C++ toolchain needed)."""

from __future__ import annotations

import pytest
import torch

from kornia_ops import StructuredSensing, cs_project_box, cs_project_equality, dct_ortho, idct_ortho


def _compile_available() -> bool:
    try:
        import torch._dynamo  # noqa: F401
    except Exception:
        return False
    return hasattr(torch, "compile")


pytestmark = pytest.mark.skipif(not _compile_available(), reason="torch.compile unavailable")


def test_compile_dct_and_projection() -> None:
    torch._dynamo.reset()
    op = StructuredSensing(33, 20, seed=4)
    x = torch.randn(2, 33, dtype=torch.float64)
    y = torch.randn(2, 20, dtype=torch.float64)

    dct_c = torch.compile(lambda v: idct_ortho(dct_ortho(v)), backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(dct_c(x), x)

    eq_c = torch.compile(lambda c, m: cs_project_equality(c, m, op), backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(eq_c(x, y), cs_project_equality(x, y, op))

    box_c = torch.compile(lambda c, m: cs_project_box(c, m, op, 0.1), backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(box_c(x, y), cs_project_box(x, y, op, 0.1))


def test_compile_fullgraph_mask_with_python_int_k() -> None:
    """Documented in critical_pixel_mask: a python int k traces with fullgraph=True (range checked in python)."""
    from kornia_ops import critical_pixel_mask

    torch._dynamo.reset()
    s = torch.rand(2, 1, 5, 5)
    f = torch.compile(lambda x: critical_pixel_mask(x, 7), backend="aot_eager", fullgraph=True)
    assert torch.equal(f(s), critical_pixel_mask(s, 7))


def test_compile_fullgraph_mask_with_tensor_k_is_refused() -> None:
    """Also documented: a tensor k is range-checked by reading it (data-dependent), which fullgraph refuses."""
    from kornia_ops import critical_pixel_mask

    torch._dynamo.reset()
    s = torch.rand(2, 1, 5, 5)
    f = torch.compile(lambda x, k: critical_pixel_mask(x, k), backend="aot_eager", fullgraph=True)
    with pytest.raises(torch._dynamo.exc.TorchDynamoException):
        f(s, torch.tensor(7))
    h = torch.compile(lambda x, k: critical_pixel_mask(x, k), backend="aot_eager")  # graph break: still works
    assert torch.equal(h(s, torch.tensor(7)), critical_pixel_mask(s, 7))
