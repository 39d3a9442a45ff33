"""Hard / soft top-k critical-pixel masks."""

from __future__ import annotations

import pytest
import torch
from kornia.core.exceptions import BaseError

from kornia_ops import (
    CriticalPixelMask,
    SoftCriticalPixelMask,
    critical_pixel_mask,
    critical_threshold,
    soft_critical_pixel_mask,
)


@pytest.mark.parametrize("batch", [0, 1, 2])
def test_mask_smoke_and_cardinality(batch: int, dtype: torch.dtype, device: torch.device) -> None:
    scores = torch.rand(batch, 3, 5, 7, dtype=dtype, device=device)
    for k in (0, 1, 17, 35):
        m = critical_pixel_mask(scores, k)
        assert m.shape == scores.shape and m.dtype == torch.bool and m.device.type == device.type
        assert (m.sum(dim=(2, 3)) == k).all()
        if batch and 0 < k < 35:
            tau = critical_threshold(scores, k)
            assert tau.shape == (batch, 3) and tau.dtype == dtype
            sel = scores.masked_fill(~m, float("inf")).amin(dim=(2, 3))
            unsel = scores.masked_fill(m, -float("inf")).amax(dim=(2, 3))
            torch.testing.assert_close(sel, tau)
            assert (unsel <= tau).all()
            # agrees with topk when there are no ties
            top = scores.flatten(2).topk(k, dim=-1).indices
            ref = torch.zeros_like(m.flatten(2)).scatter_(-1, top, True).reshape_as(m)
            assert torch.equal(m, ref)


def test_tie_break_prefers_lower_raster_index() -> None:
    scores = torch.zeros(1, 1, 4, 4)
    scores[0, 0, 3, 3] = 1.0  # one clear winner
    m = critical_pixel_mask(scores, 4)
    # winner + the 3 lowest raster indices among the tied zeros
    assert m.flatten().nonzero().flatten().tolist() == [0, 1, 2, 15]
    s2 = torch.tensor([[[[0.5, 0.2, 0.5], [0.2, 0.5, 0.2]]]])
    assert critical_pixel_mask(s2, 2).flatten().nonzero().flatten().tolist() == [0, 2]
    assert critical_pixel_mask(s2, 4).flatten().nonzero().flatten().tolist() == [0, 1, 2, 4]
    # large plane of constant scores: exactly the first k pixels (topk would not guarantee it)
    big = torch.full((2, 1, 64, 64), 0.25)
    m = critical_pixel_mask(big, 1000)
    assert torch.equal(m.flatten(1)[:, :1000].all(dim=1), torch.tensor([True, True]))
    assert m.flatten(1)[:, 1000:].sum() == 0


def test_nan_scores_rank_last() -> None:
    s = torch.tensor([[[[float("nan"), 0.1, 0.3, float("nan")]]]])
    assert critical_pixel_mask(s, 2).flatten().tolist() == [False, True, True, False]
    assert critical_pixel_mask(s, 3).flatten().tolist() == [True, True, True, False]


def test_per_item_k_and_threshold() -> None:
    scores = torch.rand(3, 2, 4, 4, dtype=torch.float64)
    k = torch.tensor([0, 5, 16])
    m = critical_pixel_mask(scores, k)
    assert m.sum(dim=(2, 3)).tolist() == [[0, 0], [5, 5], [16, 16]]
    tau = critical_threshold(scores, k)
    assert torch.isinf(tau[0]).all()
    torch.testing.assert_close(tau[2], scores[2].flatten(1).amin(1))
    kc = torch.tensor([[1, 2], [3, 4], [0, 16]])
    assert torch.equal(critical_pixel_mask(scores, kc).sum(dim=(2, 3)), kc)
    assert torch.equal(critical_pixel_mask(scores, torch.tensor(3)), critical_pixel_mask(scores, 3))


def test_mask_noncontiguous_and_module() -> None:
    scores = torch.rand(2, 3, 6, 5).transpose(2, 3)
    assert not scores.is_contiguous()
    torch.testing.assert_close(critical_pixel_mask(scores, 7), critical_pixel_mask(scores.contiguous(), 7))
    assert torch.equal(CriticalPixelMask(7)(scores), critical_pixel_mask(scores, 7))
    assert torch.equal(CriticalPixelMask(7)(scores, k=3), critical_pixel_mask(scores, 3))
    soft = SoftCriticalPixelMask(7, temperature=0.2, straight_through=True)
    torch.testing.assert_close(soft(scores), soft_critical_pixel_mask(scores, 7, 0.2, True))


def test_mask_errors() -> None:
    s = torch.rand(1, 1, 3, 3)
    with pytest.raises(ValueError):
        critical_pixel_mask(s, 10)
    with pytest.raises(ValueError):
        critical_pixel_mask(s, -1)
    with pytest.raises(TypeError):
        critical_pixel_mask(s, 1.5)  # type: ignore[arg-type]
    with pytest.raises(BaseError):
        critical_pixel_mask(s[0], 1)
    with pytest.raises(BaseError):
        critical_pixel_mask(s.to(torch.int64), 1)
    with pytest.raises(BaseError):
        critical_pixel_mask(s, torch.tensor([1, 2]))  # wrong batch
    with pytest.raises(BaseError):
        critical_pixel_mask(s, torch.tensor([1.0]))
    with pytest.raises(ValueError):
        soft_critical_pixel_mask(s, 1, temperature=0.0)
    with pytest.raises(ValueError):
        SoftCriticalPixelMask(1, temperature=-1.0)


def test_soft_mask_values_and_straight_through(dtype: torch.dtype, device: torch.device) -> None:
    scores = torch.rand(2, 1, 6, 6, dtype=dtype, device=device, requires_grad=True)
    k = 9
    soft = soft_critical_pixel_mask(scores, k, temperature=0.05)
    assert soft.shape == scores.shape and soft.dtype == dtype
    assert ((soft >= 0) & (soft <= 1)).all()
    hard = critical_pixel_mask(scores.detach(), k)
    # ranks agree with the hard mask: selected pixels have soft >= 0.5 > unselected (no ties in rand)
    assert (soft[hard] >= 0.5).all() and (soft[~hard] < 0.5).all()
    st = soft_critical_pixel_mask(scores, k, temperature=0.05, straight_through=True)
    assert torch.equal(st.detach(), hard.to(dtype))
    g_st = torch.autograd.grad(st.sum(), scores)[0]
    g_soft = torch.autograd.grad(soft_critical_pixel_mask(scores, k, temperature=0.05).sum(), scores)[0]
    torch.testing.assert_close(g_st, g_soft)
    # k == 0 -> all zeros
    assert soft_critical_pixel_mask(scores, 0).abs().max() == 0


def test_soft_mask_gradcheck() -> None:
    # tau is detached by design, so the k-th pixel (which defines tau) is held fixed; gradcheck runs over
    # all other pixels. (The straight-through variant is an estimator, not a derivative: its gradient is
    # compared with the soft one in test_soft_mask_values_and_straight_through.)
    torch.manual_seed(0)
    k = 4
    s0 = torch.rand(1, 2, 3, 3, dtype=torch.float64)
    tau = critical_threshold(s0, k)[..., None, None]
    free = s0 != tau
    x = s0[free].clone().requires_grad_()

    def f(v: torch.Tensor) -> torch.Tensor:
        return soft_critical_pixel_mask(s0.masked_scatter(free, v), k, temperature=0.3)

    assert torch.autograd.gradcheck(f, (x,))
