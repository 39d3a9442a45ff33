"""Training glue over :mod:`kornia_ops`: the eq.-1 critical-pixel target and the structured CS projection
(``python -m models.training.train_restorer --finetune-projection``). Calls the ops; implements none of them.

Operator: ``kornia_ops.StructuredSensing`` (H = S_M . DCT_N . P . D, H H^T = I), so the least-norm projection
is c + H^T (y - H c) (``kornia_ops.cs_project_image``, mode ``"equality"``).
"""

from __future__ import annotations

import torch

from kornia_ops import StructuredSensing, critical_pixel_target, cs_project_image


def critical_target(orig: torch.Tensor, restored: torch.Tensor, roi: torch.Tensor,
                    thr: float = 8.0 / 255.0) -> torch.Tensor:
    """eq. 1 on (B, 1, H, W) images in [0, 1] and a (B, 1, H, W) bool ROI -> (B, 1, H, W) bool."""
    return critical_pixel_target(orig, restored, roi, error_threshold=thr, dilate=1)


def project(restored: torch.Tensor, orig: torch.Tensor, mask: torch.Tensor, ratio: float = 1.0,
            step: float = 12.0 / 255.0, seed: int = 0) -> torch.Tensor:
    """Per image: y = round(H c_orig / step) * step, then c_hat = c_g + H^T (y - H c_g).

    (B, 1, H, W) ``restored``/``orig`` in [0, 1], (B, 1, H, W) bool ``mask``; differentiable w.r.t.
    ``restored``. Returns the projected (B, 1, H, W) image.
    """
    ys, ops = [], []
    for b in range(restored.shape[0]):
        idx = mask[b, 0].reshape(-1).nonzero().squeeze(1)
        n = idx.numel()
        m = max(1, int(round(ratio * n))) if n else 0
        op = StructuredSensing(n, m, seed + b)
        c_o = orig[b, 0].reshape(-1)[idx].detach()
        ys.append(torch.round(op(c_o) / step) * step if n else c_o[:0])
        ops.append(op)
    return cs_project_image(restored, mask, ys, ops, mode="equality")
