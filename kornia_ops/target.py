"""Critical-pixel training label (paper eq. 1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from kornia.color import rgb_to_grayscale
from kornia.filters import canny
from torch import Tensor, nn

from kornia_ops._checks import KorniaOpsValueError, check_finite, check_float, check_shape, compute_dtype

__all__ = ["CriticalPixelTarget", "critical_pixel_target"]

_MIN_SIDE = 3  # kornia's Canny pads by 2 (reflect): smaller sides cannot be padded


def _luminance(x: Tensor) -> Tensor:
    return rgb_to_grayscale(x) if x.shape[1] == 3 else x


def critical_pixel_target(
    original: Tensor,
    restored: Tensor,
    roi: Tensor,
    *,
    error_threshold: float = 8 / 255,
    dilate: int = 1,
    low_threshold: float = 0.1,
    high_threshold: float = 0.2,
    hysteresis: bool = True,
) -> Tensor:
    r"""Critical-pixel label of the paper's eq. 1.

    .. math:: T = \mathrm{dilate}_d\big(\mathrm{Canny}(Y_{orig})\big) \cap \mathrm{ROI}
        \cap \{|Y_{rest} - Y_{orig}| > \epsilon\}

    where :math:`Y` is the luminance (``kornia.color.rgb_to_grayscale`` for 3 channels, the image itself for
    one), Canny is ``kornia.filters.canny`` with the given thresholds, and the dilation is a
    :math:`(2d+1) \times (2d+1)` square max filter (``dilate=0``: no dilation). Images are expected in
    :math:`[0, 1]`. This is a label: it is computed under ``torch.no_grad`` and is not differentiable.

    Args:
        original: original image :math:`(B, C, H, W)`, :math:`C \in \{1, 3\}`, :math:`H, W \ge 3`, float16,
            bfloat16, float32 or float64 (reduced precision is computed in float32), finite.
        restored: restored (or base-layer) image, same shape as ``original``.
        roi: region of interest :math:`(B, 1, H, W)`, bool or float (``>= 0.5`` counts as inside).
        error_threshold: :math:`\epsilon`, on luminance, in image units (default 8/255).
        dilate: dilation radius :math:`d \ge 0` in pixels.
        low_threshold: Canny low hysteresis threshold.
        high_threshold: Canny high hysteresis threshold.
        hysteresis: run Canny's hysteresis step.

    Returns:
        bool target :math:`(B, 1, H, W)`.

    Raises:
        TypeError: non-float images. ValueError: bad shapes, sides below 3 pixels, a NaN/inf in the images.

    Example:
        >>> orig = torch.zeros(1, 1, 16, 16)
        >>> orig[..., 8:] = 1.0  # vertical step edge between columns 7 and 8
        >>> rest = torch.full_like(orig, 0.5)
        >>> roi = torch.ones(1, 1, 16, 16, dtype=torch.bool)
        >>> t = critical_pixel_target(orig, rest, roi, dilate=1)
        >>> t.shape, t.dtype, t[0, 0, 4].nonzero().flatten().tolist()
        (torch.Size([1, 1, 16, 16]), torch.bool, [6, 7, 8])
    """
    fn = "critical_pixel_target"
    check_shape(original, ["B", "C", "H", "W"], fn, "original")
    check_shape(restored, ["B", "C", "H", "W"], fn, "restored")
    check_shape(roi, ["B", "1", "H", "W"], fn, "roi")
    if original.shape != restored.shape:
        raise KorniaOpsValueError(
            f"{fn}: original and restored shapes differ: {tuple(original.shape)} vs {tuple(restored.shape)}"
        )
    if original.shape[1] not in (1, 3):
        raise KorniaOpsValueError(f"{fn}: original must have 1 or 3 channels, got {original.shape[1]}")
    if roi.shape[0] != original.shape[0] or roi.shape[2:] != original.shape[2:]:
        raise KorniaOpsValueError(
            f"{fn}: roi must be (B, 1, H, W) matching the images {tuple(original.shape)}, got {tuple(roi.shape)}"
        )
    check_float(original, fn, "original")
    check_float(restored, fn, "restored")
    if min(original.shape[2:]) < _MIN_SIDE:
        raise KorniaOpsValueError(
            f"{fn}: images must be at least {_MIN_SIDE}x{_MIN_SIDE} pixels (Canny's 5x5 smoothing), "
            f"got {original.shape[2]}x{original.shape[3]}"
        )
    if isinstance(dilate, bool) or not isinstance(dilate, int) or dilate < 0:
        raise KorniaOpsValueError(f"{fn}: dilate must be a non-negative int, got {dilate!r}")
    check_finite(original, fn, "original")
    check_finite(restored, fn, "restored")
    with torch.no_grad():
        cd = compute_dtype(original.dtype)
        y_orig = _luminance(original.to(cd))
        y_rest = _luminance(restored.to(cd))
        edges = canny(y_orig, low_threshold, high_threshold, hysteresis=hysteresis)[1] > 0
        if dilate > 0:
            edges = F.max_pool2d(edges.to(y_orig.dtype), 2 * dilate + 1, stride=1, padding=dilate) > 0
        inside = roi if roi.dtype == torch.bool else roi >= 0.5
        error = (y_rest - y_orig).abs() > error_threshold
        return edges & inside.to(edges.device) & error


class CriticalPixelTarget(nn.Module):
    r"""Module of :func:`critical_pixel_target` (not differentiable: it produces labels).

    Args:
        error_threshold: luminance error threshold (images in :math:`[0, 1]`).
        dilate: edge dilation radius in pixels.
        low_threshold: Canny low threshold.
        high_threshold: Canny high threshold.
        hysteresis: run Canny's hysteresis step.

    Shape:
        - original, restored: :math:`(B, C, H, W)`, roi: :math:`(B, 1, H, W)`
        - Output: :math:`(B, 1, H, W)` bool

    Example:
        >>> x = torch.rand(2, 3, 16, 16)
        >>> CriticalPixelTarget()(x, x, torch.ones(2, 1, 16, 16)).any().item()
        False
    """

    def __init__(
        self,
        error_threshold: float = 8 / 255,
        dilate: int = 1,
        low_threshold: float = 0.1,
        high_threshold: float = 0.2,
        hysteresis: bool = True,
    ) -> None:
        super().__init__()
        self.error_threshold = error_threshold
        self.dilate = dilate
        self.low_threshold = low_threshold
        self.high_threshold = high_threshold
        self.hysteresis = hysteresis

    def extra_repr(self) -> str:
        return (
            f"error_threshold={self.error_threshold}, dilate={self.dilate}, "
            f"low_threshold={self.low_threshold}, "
            f"high_threshold={self.high_threshold}, hysteresis={self.hysteresis}"
        )

    def forward(self, original: Tensor, restored: Tensor, roi: Tensor) -> Tensor:
        return critical_pixel_target(
            original,
            restored,
            roi,
            error_threshold=self.error_threshold,
            dilate=self.dilate,
            low_threshold=self.low_threshold,
            high_threshold=self.high_threshold,
            hysteresis=self.hysteresis,
        )
