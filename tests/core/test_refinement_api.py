"""agdl_plugins.refinement: the transmitted measurements through the public API (issue 31)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import agdl_plugins as agdl
from agdl_plugins.apps.metrics import luma
from kornia_ops import cs_project_box, cs_project_equality


@pytest.mark.parametrize("ratio", [1.0, 0.5])
def test_original_satisfies_the_measurements_and_decoder_agrees(photo: np.ndarray, ratio: float) -> None:
    data = agdl.encode(photo, critical_fraction=0.05, measurement_ratio=ratio, step=3.0, device="cpu")
    r = agdl.refinement(data, device="cpu")
    assert isinstance(r, agdl.Refinement)
    n = int(r.mask.sum())
    assert n > 0 and r.operator.n == n and r.y.shape == (r.operator.m,) and r.step == 3.0
    assert r.base.shape == r.mask.shape == photo.shape[:2] and r.base.dtype == np.uint8
    c_orig = torch.from_numpy(luma(photo)[r.mask].astype(np.float64))
    dev = (r.operator(c_orig) - r.y).abs()
    assert float(dev.max()) <= r.step / 2 + 1e-9  # the original lies in the quantisation cell
    assert float(dev.max()) > 0.05 * r.step  # ... and y is not trivially the original's measurement
    # the decoder's own projection is this projection of the reference (bit for bit)
    out = agdl.decode(data, device="cpu", diagnostics=True).diagnostics["restored_float"]
    c_hat = cs_project_equality(torch.from_numpy(r.reference[r.mask]), r.y, r.operator)
    assert np.array_equal(out[r.mask], c_hat.numpy())
    assert np.array_equal(out[~r.mask], r.reference[~r.mask])
    inside = cs_project_box(torch.from_numpy(r.reference[r.mask]), r.y, r.operator, r.step)
    assert float((r.operator(inside) - r.y).abs().max()) <= r.step / 2 + 1e-9


def test_no_refinement(photo: np.ndarray) -> None:
    r = agdl.refinement(agdl.encode(photo, critical_fraction=0.0, device="cpu"), device="cpu")
    assert r.operator is None and r.reference is None and r.y.numel() == 0 and not r.mask.any()
