"""Drift-safe critical-set selection and the entropy coder."""

from __future__ import annotations

import numpy as np
import pytest

from agdl_plugins.codec.critical import mask_crc, pack_indices, rederive_critical, select_critical, unpack_indices
from agdl_plugins.codec.entropy import decode_symbols, empirical_entropy_bytes, encode_symbols
from agdl_plugins.errors import AgdlFormatError


@pytest.mark.parametrize("seed", range(5))
def test_guard_band_survives_relative_drift(seed):
    rng = np.random.default_rng(seed)
    s = rng.normal(0, 1, (120, 160)).cumsum(axis=1) / 10  # smooth-ish, continuous scores
    sel = select_critical(s, 1000, exact=False)
    assert abs(sel.n - 1000) <= 20
    for _ in range(5):
        drift = s * (1 + 1e-4 * rng.uniform(-1, 1, s.shape))
        m = rederive_critical(drift, sel.threshold, sel.guard, sel.explicit)
        assert np.array_equal(m, sel.mask)
    # without the explicit list the same drift would be unsafe only inside the band
    assert sel.explicit.size < 0.05 * sel.n + 50


def test_exact_scores_need_no_guard():
    s = np.arange(100, dtype=np.float64).reshape(10, 10)
    sel = select_critical(s, 10, exact=True)
    assert sel.guard == 0 and sel.explicit.size == 0 and sel.n == 10 and sel.mask[-1].all()


def test_empty_and_full_sets():
    s = np.ones((4, 4))
    assert select_critical(s, 0, exact=True).n == 0
    assert select_critical(s, 16, exact=True).n == 16


def test_index_packing_roundtrip_and_validation():
    idx = np.array([0, 5, 6, 1000, 123456], dtype=np.int64)
    raw = pack_indices(idx)
    assert np.array_equal(unpack_indices(raw, 5, 200000), idx)
    with pytest.raises(AgdlFormatError):
        unpack_indices(raw, 4, 200000)
    with pytest.raises(AgdlFormatError):
        unpack_indices(raw, 5, 1000)
    with pytest.raises(AgdlFormatError):
        unpack_indices(b"garbage", 5, 1000)


def test_mask_crc_sensitive():
    m = np.zeros((7, 9), bool)
    m[3, 4] = True
    m2 = m.copy()
    m2[3, 5] = True
    assert mask_crc(m) != mask_crc(m2)


@pytest.mark.parametrize("scale", [0.3, 1.5, 6.0])
def test_entropy_coder_roundtrip_near_entropy(scale):
    rng = np.random.default_rng(3)
    q = np.round(rng.laplace(0, scale, 50000)).astype(np.int32)
    data = encode_symbols(q)
    assert np.array_equal(decode_symbols(data, q.size), q)
    # within a few percent of the order-0 empirical entropy (+ 12 header bytes)
    assert len(data) <= 1.04 * empirical_entropy_bytes(q) + 16


def test_entropy_decoder_rejects_garbage():
    with pytest.raises(AgdlFormatError):
        decode_symbols(b"\x00" * 7, 10)
    with pytest.raises(AgdlFormatError):
        decode_symbols(np.array([np.nan], ">f4").tobytes() + b"\0" * 12, 10)


def test_entropy_model_tables_are_machine_independent():
    """The coded bytes of a fixed symbol sequence are pinned: the model (scale choice, fixed-point table) and
    the range coder are identical on every machine. CI reruns this file with oneDNN/ATen capped at AVX2."""
    import hashlib

    q = ((np.arange(4000) * 2654435761 % 97) % 23 - 11).astype(np.int32)
    data = encode_symbols(q)
    assert hashlib.sha256(data).hexdigest() == "e641eddd2157d2025dc4115da4825eac55a645d9431e1857b57c9755634193d6"
    assert np.array_equal(decode_symbols(data, q.size), q)


def test_snap_threshold_grid():
    from agdl_plugins.codec.critical import snap_threshold

    for t in (0.123456789, -0.5, 3.999, 1234.5678, 1e-9):
        s = snap_threshold(t)
        assert abs(s - t) <= 2.0 ** -15 * max(abs(t), 1.0)
        assert snap_threshold(s) == s
    assert snap_threshold(float("inf")) == float("inf")


def test_threshold_and_list_do_not_follow_last_bit_drift():
    """The encoder's header fields (threshold, guard, explicit list) must not change when the scores drift
    in their last bits (what another thread count or ISA does to a float network): bytes identical across
    machines. Without the snap every one of these selections stores a different threshold."""
    rng = np.random.default_rng(123)
    same = 0
    for _ in range(40):
        s = rng.normal(0, 1, (96, 128)).cumsum(axis=1) / 10
        a = select_critical(s, 800, exact=False)
        b = select_critical(s * (1 + 1e-7 * rng.uniform(-1, 1, s.shape)), 800, exact=False)
        same += a.threshold == b.threshold and a.guard == b.guard and np.array_equal(a.explicit, b.explicit)
    assert same >= 38  # ~0.7 % flip chance per selection at 1e-7 (float32 rounding); measured 40 of 40


def _rdoq_data(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).laplace(0, 9.0, 4000)


@pytest.mark.parametrize("step", [4.0, 12.0, 30.0])
def test_rdo_quantiser_picks_between_rounding_and_zero_and_saves_bits(step):
    from agdl_plugins.codec.entropy import quantise, rdo_quantise
    from agdl_plugins.codec.rdo import estimated_symbol_bytes

    z = _rdoq_data()
    q0, q = quantise(z, step), rdo_quantise(z, step)
    assert q.dtype == np.int32 and q.shape == z.shape
    # every index lies between the rounded one and zero: never further from z than zeroing it
    assert np.all(np.abs(q) <= np.abs(q0)) and np.all(q * q0 >= 0)
    assert np.all(np.abs(z - step * q) <= np.abs(z) + 1e-12)
    b0, b = estimated_symbol_bytes(q0.astype(np.int64)), estimated_symbol_bytes(q.astype(np.int64))
    d0, d = float(np.mean((z - step * q0) ** 2)), float(np.mean((z - step * q) ** 2))
    assert b < (0.995 if step < 8 else 0.95) * b0 and d > d0  # it trades distortion for rate ...
    # ... at a better exchange rate than a coarser plain quantiser: at the RDO file's size, plain rounding
    # (bisected over its step) has a larger distortion
    lo, hi = step, 4 * step
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if estimated_symbol_bytes(quantise(z, mid).astype(np.int64)) > b else (lo, mid)
    assert float(np.mean((z - hi * quantise(z, hi)) ** 2)) > d


def test_rdo_quantiser_follows_the_weights_and_checks_them():
    from agdl_plugins.codec.entropy import quantise, quantise_with, rdo_quantise

    z = _rdoq_data(1)
    w = np.where(np.arange(z.size) < z.size // 2, 10.0, 0.1)
    q = rdo_quantise(z, 12.0, w)
    q0 = quantise(z, 12.0)
    heavy, light = slice(0, z.size // 2), slice(z.size // 2, None)
    changed = q != q0
    assert changed[light].mean() > 4 * changed[heavy].mean()  # light pixels are coarsened far more often
    assert np.array_equal(rdo_quantise(z, 12.0, lam=0.0), q0)
    assert np.array_equal(quantise_with("round", z, 12.0, w), q0)
    assert np.array_equal(rdo_quantise(z, 12.0, np.full(z.size, 3.0)), rdo_quantise(z, 12.0))  # scale-free
    with pytest.raises(ValueError, match="shape"):
        rdo_quantise(z, 12.0, w[:10])
    with pytest.raises(ValueError, match="quantiser"):
        quantise_with("floor", z, 12.0)
    assert rdo_quantise(np.zeros(0), 8.0).size == 0
    assert np.array_equal(rdo_quantise(np.full(5, 100.0), 8.0), np.full(5, 12, np.int32))  # all positive


def _bad_scores(kind: str) -> np.ndarray:
    """(40, 50) scores a broken plugin predictor could return, for a 200-pixel set (rank 200 of 2000)."""
    s = np.random.default_rng(5).random((40, 50))
    top = np.arange(2000).reshape(40, 50) < 300  # covers the cut at rank 200 ± 2 %
    return {
        "constant": np.full((40, 50), 0.3),
        "all-nan": np.full((40, 50), np.nan),
        "one-nan": np.where(np.arange(2000).reshape(40, 50) == 7, np.nan, s),
        "+inf-at-cut": np.where(top, np.inf, s),
        "-inf-at-cut": np.where(np.arange(2000).reshape(40, 50) < 100, s, -np.inf),
        "tied-at-cut": np.where((s > 0.85) & (s < 0.95), 0.9, s),  # 10 % of the scores share rank 200's value
    }[kind]


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("kind", ["constant", "all-nan", "one-nan", "+inf-at-cut", "-inf-at-cut", "tied-at-cut"])
def test_bad_scores_raise_instead_of_a_wrong_set(kind, exact):
    """Ties, NaN or ±inf at the cut: a typed error (a ValueError), never an empty or wrong-sized set. Before:
    constant -> 2000 of 200 pixels, all NaN -> 0 pixels at threshold NaN, +inf -> 0 pixels at threshold inf."""
    from agdl_plugins.errors import CriticalSelectionError

    with pytest.raises(CriticalSelectionError, match="NaN|infinite|tied") as e:
        select_critical(_bad_scores(kind), 200, exact=exact)
    assert isinstance(e.value, ValueError)


@pytest.mark.parametrize("exact", [False, True])
def test_infinite_scores_away_from_the_cut_are_fine(exact):
    """±inf far from rank N (a predictor marking a few pixels as certain) still gives the asked set."""
    s = np.random.default_rng(6).random((40, 50))
    s.reshape(-1)[:20], s.reshape(-1)[-20:] = np.inf, -np.inf
    sel = select_critical(s, 200, exact=exact)
    assert abs(sel.n - 200) <= 4 and np.isfinite(sel.threshold) and sel.mask.reshape(-1)[:20].all()


#: The drift the critical set must survive (docs/FORMAT.md, "Determinism"): g = 1e-3 * max(|tau|, 1).
#: Stated here, not imported, so that loosening or shrinking the code's guard turns these tests red.
GUARD_REL = 1e-3


def toward_threshold(s: np.ndarray, tau: float, d: float) -> np.ndarray:
    """Every score moved by ``d`` toward ``tau`` (across it where it lies within ``d``): for a drift bounded
    by ``d`` this is the worst case of the guard band (each pixel moves the way that could flip it)."""
    return s - d * np.sign(s - tau)


@pytest.mark.parametrize("seed", range(3))
def test_guard_band_holds_at_0_9_guard_and_breaks_at_1_1(seed):
    """Dense scores (~6 per 1e-4 around tau): a worst-case drift of 0.9 g must give the same set although
    hundreds of pixels cross tau; 1.1 g must not (the band is no wider than it says). A guard band turned
    off, or narrower than GUARD_REL, fails the first half."""
    rng = np.random.default_rng(seed)
    s = rng.permutation(120 * 160).reshape(120, 160) / (120 * 160) * 0.3 + 0.4 + rng.uniform(0, 1e-6, (120, 160))
    sel = select_critical(s, 1500, exact=False)
    g = GUARD_REL * max(abs(sel.threshold), 1.0)
    crossing = int((np.abs(s - sel.threshold) < 0.9 * g).sum())
    assert crossing > 100  # measured 115 (seeds 0-2; 128 explicit): the test reaches the threshold
    near = toward_threshold(s, sel.threshold, 0.9 * g)
    assert int(((near > sel.threshold) != sel.mask).sum()) == crossing  # ... and they do cross it
    assert np.array_equal(rederive_critical(near, sel.threshold, sel.guard, sel.explicit), sel.mask)
    far = toward_threshold(s, sel.threshold, 1.1 * g)
    assert not np.array_equal(rederive_critical(far, sel.threshold, sel.guard, sel.explicit), sel.mask)


@pytest.mark.parametrize("seed,n", [(0, 60), (6, 123)])
def test_snapped_threshold_stays_within_the_size_window(seed, n):
    """Scores denser than the snap grid (2.6e-4 apart at |s| ~ 10, grid 4.9e-4; F v4 on a flat 64x64 image
    looks like this): the snap used to move the cut across scores, a set of 58 for 60 (120 for 123), outside
    the documented +-2 %; now a candidate whose snapped cut stays inside is chosen (found by a seed search)."""
    rng = np.random.default_rng(seed)
    s = (-10 - np.cumsum(rng.exponential(2.6e-4, 4096)))[rng.permutation(4096)].reshape(64, 64)
    sel = select_critical(s, n, exact=False)
    assert abs(sel.n - n) <= max(1, n // 50) and sel.n == int((s > sel.threshold).sum())
    for _ in range(3):  # still drift-safe
        drift = s * (1 + 1e-4 * rng.uniform(-1, 1, s.shape))
        assert np.array_equal(rederive_critical(drift, sel.threshold, sel.guard, sel.explicit), sel.mask)
