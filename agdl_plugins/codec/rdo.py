"""Encoder decisions by measured distortion (rate-distortion optimisation of base quality, budget and step).

The objective the user sets is a per-pixel weighted squared error on the luminance,

    D = roi_weight * sum(w * e^2) / sum(w)  +  (1 - roi_weight) * mean(e^2),

with ``w`` the salient-region probability of F's saliency head on the *original* (the encoder has it;
uniform when the predictor has none). Everything the decoder will output is known exactly to the encoder:
outside the critical set C the decoded luminance is round(G(base)); on C, with M <= N orthonormal rows and
the equality projection, it is ``G(base)[C] + H^T (step * q)`` with ``q = Q(H r / step)``, Q the encoder's
quantiser (plain rounding by default; ``quantiser="rdo"``: :func:`agdl_plugins.codec.entropy.rdo_quantise`). So the
distortion of every candidate (base quality, budget N, step) is computed exactly from one G run per base
quality, without decoding; rates come from the entropy coder's size (estimated from the order-0 entropy
during the search, exact for the final file). A refinement never raises D (rounding to the nearest multiple
of the step never moves a coefficient further than zeroing it), so "no refinement" (G alone) is always a
candidate and the chosen file is never worse than it on the objective at its bytes; the rate-distortion
optimised quantiser only ever picks an index between the rounded one and zero, which keeps that true.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from agdl_plugins.codec.critical import Selection, pack_indices, select_critical, sorted_scores
from agdl_plugins.codec.encoder import quantised, sense
from agdl_plugins.format import refn

FRACTIONS = (0.015, 0.03, 0.06, 0.1, 0.15, 0.2, 0.3, 0.45, 0.6)
STEPS = tuple(float(6.0 * 2 ** (k / 2)) for k in range(7))  # 6 .. 48 grey levels, factor sqrt(2)
CODER_OVERHEAD = 1.03  # range coder with a per-file Laplace model vs the order-0 empirical entropy


@dataclass(frozen=True)
class Candidate:
    """One encoder decision and what it costs/buys. ``rate``: estimated total bytes of the pixel layers."""

    quality: int
    fraction: float
    step: float
    rate: float
    distortion: float


def pixel_weights(saliency: np.ndarray | None, shape: tuple[int, int], roi_weight: float) -> np.ndarray:
    """(H, W) float64 weights p with sum(p * e^2) = the objective D (see module docstring)."""
    h, w = shape
    uniform = np.full((h, w), 1.0 / (h * w))
    if saliency is None or roi_weight == 0:
        return uniform
    s = np.asarray(saliency, dtype=np.float64)
    total = float(s.sum())
    if total <= 1e-9 * s.size:  # nothing salient: the ROI term degenerates to the whole image
        return uniform
    return roi_weight * s / total + (1.0 - roi_weight) * uniform


def estimated_symbol_bytes(q: np.ndarray) -> float:
    """Bytes the entropy coder will take for ``q`` (order-0 entropy x coder overhead + its 12-byte header)."""
    if q.size == 0:
        return 0.0
    counts = np.bincount((q - q.min()).astype(np.int64))
    counts = counts[counts > 0]
    p = counts / q.size
    return float(-(counts * np.log2(p)).sum() / 8.0) * CODER_OVERHEAD + 12.0


def rounded_8bit(v: np.ndarray) -> np.ndarray:
    """``v`` rounded and clipped to 0..255 (``v``'s dtype; float64 for float64): what the decoder outputs for a
    luminance estimate."""
    return np.clip(np.round(v), 0, 255)


class CriticalSets:
    """The critical sets one score map gives at every budget asked for, each selected once (one sort of the
    scores serves them all). Several evaluators may share one: the RDO search's proxy evaluators rank base
    qualities with one F run's scores (:meth:`agdl_plugins.codec.rdo_search._Search.evaluator`).

    Args:
        scores: (H, W) float64 predictor scores.
        exact: the predictor's scores are integer-exact (no guard band).
        desc: returns ``scores`` sorted in descending order (shared with the encoder's other users of that base
            quality: ``Analysis.sorted_scores``); None: sorted here on first use.
    """

    def __init__(self, scores: np.ndarray, exact: bool, desc: Callable[[], np.ndarray] | None = None) -> None:
        self.scores, self.exact = scores, exact
        self._desc_fn = desc if desc is not None else (lambda: sorted_scores(scores))
        self._desc: np.ndarray | None = None
        self._sets: dict[float, tuple[Selection, int]] = {}

    def get(self, fraction: float) -> tuple[Selection, int]:
        """(the set of ``round(fraction * H * W)`` pixels, REFN's side bytes for its guard-band list)."""
        if fraction not in self._sets:
            h, w = self.scores.shape
            if self._desc is None:
                self._desc = self._desc_fn()
            sel = select_critical(self.scores, int(round(fraction * h * w)), exact=self.exact, desc=self._desc)
            self._sets[fraction] = (sel, refn.side_bytes(pack_indices(sel.explicit) if sel.explicit.size else b""))
        return self._sets[fraction]


def weighted_err2(weights: np.ndarray, y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """(H, W) float64 ``weights * (y - rounded_8bit(ref)) ** 2``, the per-pixel objective of G's output alone,
    computed in place (one full-size float64 temporary instead of three). ``ref``: any real dtype (promoted
    exactly against the float64 ``y``); an integer one (a proxy's decoded base) is its own rounded output."""
    e = y - (ref if ref.dtype.kind in "ui" else rounded_8bit(ref))
    np.square(e, out=e)
    e *= weights
    return e


class QualityEvaluator:
    """Exact distortion / estimated rate of every (budget, step) at one base quality.

    Args:
        y: (H, W) float64 original luminance.
        ref: (H, W) restorer output on this quality's decoded base (float32 as the restorer gives it), or a
            proxy for it (the decoded base's uint8 luminance); taken to float64 (exactly) where it is used, so
            no full-size float64 copy is made.
        scores: (H, W) predictor scores on the decoded base.
        exact: the predictor's scores are integer-exact (no guard band).
        weights: (H, W) float64 objective weights (:func:`pixel_weights`).
        sensing: the file's sensing part (``make(n, m, seed)``; whether the quantiser weighs measurements).
        seed: the sensing operator's seed.
        measurement_ratio: M / N.
        fixed_bytes: bytes of the file that do not depend on the refinement (base, header, alpha, container).
        quantiser: the encoder's quantiser (:data:`agdl_plugins.options.QUANTISERS`).
        sets: the critical sets of ``scores`` (shared with other evaluators on the same scores); built here
            when None.

    Sensing and quantising are the encoder's own steps (:func:`agdl_plugins.codec.encoder.sense`,
    :func:`~agdl_plugins.codec.encoder.quantised`), so every candidate is measured exactly as the file would be.
    """

    def __init__(self, quality: int, y: np.ndarray, ref: np.ndarray, scores: np.ndarray, exact: bool,
                 weights: np.ndarray, sensing: Any, seed: int, measurement_ratio: float, fixed_bytes: int,
                 quantiser: str = "round", sets: CriticalSets | None = None) -> None:
        self.quality, self.y, self.ref = quality, y, ref
        self.sets = sets if sets is not None else CriticalSets(scores, exact)
        self.weights, self.seed, self.ratio, self.fixed = weights, seed, measurement_ratio, fixed_bytes
        self.quantiser, self.sensing = quantiser, sensing
        self.err2 = weighted_err2(weights, y, ref)
        self.d_alone = float(self.err2.sum())
        self._sets: dict[float, tuple] = {}

    def alone(self) -> Candidate:
        return Candidate(self.quality, 0.0, 0.0, float(self.fixed), self.d_alone)

    def _set(self, fraction: float):
        if fraction not in self._sets:
            sel, side = self.sets.get(fraction)
            mask = sel.mask
            # (N,) each, raster order, kept for every step tried: the original's integer luminance as float32 and
            # the reference in its own dtype (both exact; every use below promotes them to float64)
            y_c, ref_c, w_c = self.y[mask].astype(np.float32), self.ref[mask], self.weights[mask]
            op, z = sense(self.sensing, y_c.size, self.ratio, self.seed, np.subtract(y_c, ref_c, dtype=np.float64))
            d_out = self.d_alone - float(self.err2[mask].sum())
            self._sets[fraction] = (sel, y_c, ref_c, w_c, op, z, d_out, side)
        return self._sets[fraction]

    def evaluate(self, fraction: float, step: float, exact_rate: bool = False) -> Candidate:
        import torch

        from agdl_plugins.codec.entropy import encode_symbols

        sel, y_c, ref_c, w_c, op, z, d_out, side = self._set(fraction)
        if op is None:
            return self.alone()
        q = quantised(self.quantiser, z, step, self.sensing, w_c)
        corr = op.adjoint(torch.from_numpy(step * q.astype(np.float64))).numpy()
        out = rounded_8bit(ref_c + corr)  # corr is float64: the sum is exact float64
        d = d_out + float((w_c * (y_c - out) ** 2).sum())
        bits = len(encode_symbols(q)) if exact_rate else estimated_symbol_bytes(q)
        return Candidate(self.quality, fraction, step, float(self.fixed + side + bits), d)

    def grid(self, fractions=FRACTIONS, steps=STEPS, alone: bool = True) -> list[Candidate]:
        """Every (fraction, step) candidate (+ no refinement)."""
        return ([self.alone()] if alone else []) + [self.evaluate(f, s) for f in fractions for s in steps]

    def fitting(self, target: float, fractions=FRACTIONS, steps=STEPS, alone: bool = True) -> list[Candidate]:
        """Per fraction, the finest step of ``steps`` whose rate fits ``target`` (rate falls as the step grows,
        so a bisection over the sorted steps finds it in ~log2(len(steps)) evaluations); + no refinement."""
        out = [self.alone()] if alone and self.fixed <= target else []
        steps = sorted(steps)
        for f in fractions:
            lo, hi, found = 0, len(steps) - 1, None
            while lo <= hi:
                mid = (lo + hi) // 2
                c = self.evaluate(f, steps[mid])
                if c.rate <= target:
                    found, hi = c, mid - 1
                else:
                    lo = mid + 1
            if found is not None:
                out.append(found)
        return out


def best_for_lambda(cands: list[Candidate], lam: float) -> Candidate:
    """argmin D + lam * R (lam in distortion per byte)."""
    return min(cands, key=lambda c: c.distortion + lam * c.rate)


def best_under_rate(cands: list[Candidate], target: float) -> Candidate | None:
    """Lowest distortion among candidates whose rate fits ``target`` (None when none fits)."""
    fit = [c for c in cands if c.rate <= target]
    return min(fit, key=lambda c: c.distortion) if fit else None
