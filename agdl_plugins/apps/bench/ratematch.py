"""Rate matching (bisection on a codec's quality knob to a byte target) and Bjøntegaard deltas."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

TOLERANCE = 0.02  # a matched row must be within ±2 % of the target bytes
STOP = 0.01  # continuous knobs stop bisecting once within ±1 %
MAX_EVALS = 16


@dataclass
class Match:
    knob: float
    data: bytes
    ratio: float  # bytes / target
    ok: bool  # |ratio - 1| <= tolerance
    evals: int


def match_bytes(
    encode: Callable[[float], bytes],
    target: int,
    lo: float,
    hi: float,
    *,
    integer: bool,
    log: bool = False,
    guess: float | None = None,
    tolerance: float = TOLERANCE,
    stop: float = STOP,
    max_evals: int = MAX_EVALS,
) -> Match:
    """The knob in [lo, hi] whose encoding is closest to ``target`` bytes, assuming bytes grow with the knob.

    Integer knobs: binary search (ends on the bracketing pair, the closer one wins). Continuous knobs:
    bisection (in log space when ``log``) until within ``stop`` or ``max_evals``. ``guess`` is tried
    first and narrows the bracket. Deterministic: the path depends only on the codec, image and target.
    """
    if target <= 0:
        raise ValueError("target bytes must be positive")
    cache: dict[float, bytes] = {}
    best: tuple[float, float, bytes] | None = None  # (|ratio-1|, knob, data)

    def ev(k: float) -> int:
        nonlocal best
        if k not in cache:
            cache[k] = encode(k)
        d = cache[k]
        err = abs(len(d) / target - 1)
        if best is None or err < best[0] or (err == best[0] and k < best[1]):
            best = (err, k, d)
        return len(d)

    if integer:
        a, b = int(math.ceil(lo)), int(math.floor(hi))
        if guess is not None:
            g = int(min(b, max(a, round(guess))))
            n = ev(g)
            if n > target:
                b = g - 1
            elif n < target:
                a = g + 1
            else:
                a, b = g, g - 1
        while a <= b and len(cache) < max_evals:
            m = (a + b) // 2
            n = ev(m)
            if n > target:
                b = m - 1
            elif n < target:
                a = m + 1
            else:
                break
    else:
        f = (math.log if log else float)
        inv = (math.exp if log else float)
        a, b = f(lo), f(hi)
        if guess is not None and lo < guess < hi:
            n = ev(float(guess))
            if n > target:
                b = f(guess)
            else:
                a = f(guess)
        while best is None or (best[0] > stop and len(cache) < max_evals):
            m = inv((a + b) / 2)
            n = ev(m)
            if n > target:
                b = f(m)
            else:
                a = f(m)
            if b - a < 1e-6:
                break
    assert best is not None
    err, k, d = best
    return Match(knob=k, data=d, ratio=len(d) / target, ok=err <= tolerance, evals=len(cache))


def _clean(rate: Sequence[float], dist: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    r, d = np.asarray(rate, np.float64), np.asarray(dist, np.float64)
    keep = np.isfinite(r) & np.isfinite(d) & (r > 0)
    r, d = r[keep], d[keep]
    order = np.argsort(r, kind="stable")
    return r[order], d[order]


def _degree(*ns: int) -> int:
    return min(3, min(ns) - 1)


def bd_fit_degree(n_points: int) -> int:
    """Polynomial degree used with ``n_points`` rate points: cubic (the standard) from 4, else n-1."""
    return min(3, n_points - 1)


def bd_rate(rate_anchor: Sequence[float], dist_anchor: Sequence[float], rate_test: Sequence[float],
            dist_test: Sequence[float]) -> float:
    """Bjøntegaard delta rate in percent (VCEG-M33): log-rate fitted as a cubic in distortion (PSNR), both
    fits integrated over the overlapping distortion range. Negative = the test codec needs fewer bytes.
    Fewer than 4 points: the fit degree drops to n-1. NaN with < 2 points or no overlap."""
    ra, da = _clean(rate_anchor, dist_anchor)
    rt, dt = _clean(rate_test, dist_test)
    if len(ra) < 2 or len(rt) < 2:
        return float("nan")
    deg = _degree(len(ra), len(rt))
    pa = np.polyfit(da, np.log(ra), deg)
    pt = np.polyfit(dt, np.log(rt), deg)
    lo, hi = max(da.min(), dt.min()), min(da.max(), dt.max())
    if not hi > lo:
        return float("nan")
    ia, it = np.polyint(pa), np.polyint(pt)
    avg = ((np.polyval(it, hi) - np.polyval(it, lo)) - (np.polyval(ia, hi) - np.polyval(ia, lo))) / (hi - lo)
    return float((np.exp(avg) - 1) * 100)


def bd_psnr(rate_anchor: Sequence[float], dist_anchor: Sequence[float], rate_test: Sequence[float],
            dist_test: Sequence[float]) -> float:
    """Bjøntegaard delta PSNR in dB: distortion fitted as a cubic in log-rate, averaged over the overlapping
    log-rate range. Positive = the test codec is better at equal rate."""
    ra, da = _clean(rate_anchor, dist_anchor)
    rt, dt = _clean(rate_test, dist_test)
    if len(ra) < 2 or len(rt) < 2:
        return float("nan")
    deg = _degree(len(ra), len(rt))
    la, lt = np.log(ra), np.log(rt)
    pa = np.polyfit(la, da, deg)
    pt = np.polyfit(lt, dt, deg)
    lo, hi = max(la.min(), lt.min()), min(la.max(), lt.max())
    if not hi > lo:
        return float("nan")
    ia, it = np.polyint(pa), np.polyint(pt)
    avg = ((np.polyval(it, hi) - np.polyval(it, lo)) - (np.polyval(ia, hi) - np.polyval(ia, lo))) / (hi - lo)
    return float(avg)
