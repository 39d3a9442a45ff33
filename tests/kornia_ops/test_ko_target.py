"""Eq. 1 critical-pixel target: Canny edges (dilated) & ROI & |error| > threshold."""

from __future__ import annotations

import pytest
import torch
from kornia.color import rgb_to_grayscale
from kornia.core.exceptions import BaseError
from kornia.filters import canny
from kornia.morphology import dilation

from kornia_ops import CriticalPixelTarget, critical_pixel_target


def _scene(batch: int, ch: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    img = torch.full((batch, ch, 24, 24), 0.2, dtype=dtype, device=device)
    img[:, :, 6:18, 5:15] = 0.9  # bright rectangle -> clear edges
    img[:, :, 3:8, 16:22] = 0.55
    return img


def _edges(original: torch.Tensor, dilate: int) -> torch.Tensor:
    lum = rgb_to_grayscale(original) if original.shape[1] == 3 else original
    e = canny(lum)[1]
    if dilate:
        e = dilation(e, torch.ones(2 * dilate + 1, 2 * dilate + 1, dtype=e.dtype, device=e.device))
    return e > 0


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("ch", [1, 3])
@pytest.mark.parametrize("dilate", [0, 1, 2])
def test_target_is_intersection(
    batch: int, ch: int, dilate: int, dtype: torch.dtype, device: torch.device
) -> None:
    g = torch.Generator().manual_seed(batch * 10 + ch + dilate)
    original = _scene(batch, ch, dtype, device)
    edges = _edges(original, dilate)  # set 1, known independently
    assert edges.any() and not edges.all()
    roi = (torch.rand(batch, 1, 24, 24, generator=g) > 0.3).to(device)  # set 2
    err = (torch.rand(batch, 1, 24, 24, generator=g) > 0.5).to(device)  # set 3
    restored = original + 0.1 * err.to(dtype)  # luminance error 0.1 on err, 0 elsewhere
    restored = restored + 0.01 * (~err).to(dtype)  # below the 8/255 threshold: not an error
    t = critical_pixel_target(original, restored, roi, dilate=dilate)
    assert t.shape == (batch, 1, 24, 24) and t.dtype == torch.bool and t.device.type == device.type
    assert torch.equal(t, edges & roi & err)
    # each set alone: the other two all-True
    full = torch.ones_like(roi)
    assert torch.equal(critical_pixel_target(original, original + 0.1, full, dilate=dilate), edges)
    flat = torch.full_like(original, 0.5)
    assert not critical_pixel_target(flat, flat + 0.5, full, dilate=dilate).any()
    big_err = original + 0.5
    assert torch.equal(critical_pixel_target(original, big_err, roi, dilate=dilate), edges & roi)
    assert not critical_pixel_target(original, original, full, dilate=dilate).any()
    # module == functional; float roi thresholded at 0.5
    mod = CriticalPixelTarget(dilate=dilate)
    assert torch.equal(mod(original, restored, roi.to(dtype) * 0.6), t)


def test_target_dilation_grows_and_threshold_param() -> None:
    original = _scene(1, 1, torch.float32, torch.device("cpu"))
    roi = torch.ones(1, 1, 24, 24)
    restored = original + 0.05
    t0 = critical_pixel_target(original, restored, roi, dilate=0)
    t1 = critical_pixel_target(original, restored, roi, dilate=1)
    assert (t1 | t0).eq(t1).all() and t1.sum() > t0.sum()
    assert not critical_pixel_target(original, restored, roi, error_threshold=0.06).any()


def test_target_noncontiguous_and_no_grad() -> None:
    original = _scene(2, 3, torch.float64, torch.device("cpu")).requires_grad_()
    restored = (original.detach() + 0.1).transpose(2, 3).contiguous().transpose(2, 3)
    assert not restored.is_contiguous()
    roi = torch.ones(2, 1, 24, 24, dtype=torch.bool)
    t = critical_pixel_target(original, restored, roi)
    assert not t.requires_grad
    assert torch.equal(t, critical_pixel_target(original.detach(), restored.contiguous(), roi))


def test_target_errors() -> None:
    x = torch.rand(1, 3, 8, 8)
    roi = torch.ones(1, 1, 8, 8)
    with pytest.raises(BaseError):
        critical_pixel_target(x, x[:, :1], roi)
    with pytest.raises(BaseError):
        critical_pixel_target(torch.rand(1, 2, 8, 8), torch.rand(1, 2, 8, 8), roi)
    with pytest.raises(BaseError):
        critical_pixel_target(x, x, torch.ones(1, 3, 8, 8))
    with pytest.raises(BaseError):
        critical_pixel_target(x, x, torch.ones(1, 1, 4, 8))
    with pytest.raises(BaseError):
        critical_pixel_target(x[0], x[0], roi)
    with pytest.raises(ValueError):
        critical_pixel_target(x, x, roi, dilate=-1)
