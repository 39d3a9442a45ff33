"""Stage E3 of Algorithm 1: the drift-safe critical set (top-N of the predictor's scores).

Encoder and decoder compute the scores independently, from the same base layer, but a network's float
output may drift slightly between machines (thread count, CPU vs GPU). The set is therefore
``{p : s_p > tau}`` with a *guard band*: the decoder treats every pixel with ``|s'_p - tau| <= g`` as
ambiguous and resolves it from an explicit list of in-set pixels that the encoder sends for the wider
band ``|s_p - tau| <= 2 g``. As long as ``|s - s'| < g`` the decoder rebuilds exactly the encoder's set:

* outside its band, ``|s' - tau| > g`` and the drift cannot change the sign of ``s - tau``;
* inside its band, ``|s - tau| < 2 g``, so the pixel is covered by the explicit list.

``tau`` is placed in the widest/least-populated gap of the sorted scores near rank N, which keeps the
explicit list short. Integer-exact predictors use ``g = 0`` (no list at all). A CRC of the set is
stored; a mismatch is an error, never a wrong image.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from agdl_plugins.errors import AgdlFormatError, CriticalSelectionError, CriticalSetMismatchError

DEFAULT_GUARD = 1e-3  # relative to max(|tau|, 1); 10x the 1e-4 drift the tests inject
SNAP_BITS = 15  # float thresholds are stored on a grid of 2**-15 relative (snap_threshold)


@dataclass
class Selection:
    """A critical set. ``mask``: (H, W) bool; ``explicit``: sorted raster indices (int64)."""

    mask: np.ndarray
    threshold: float
    guard: float
    explicit: np.ndarray

    @property
    def n(self) -> int:
        return int(self.mask.sum())


def guard_width(threshold: float, guard_rel: float) -> float:
    """Absolute guard half-width g for a threshold."""
    return guard_rel * max(abs(threshold), 1.0) if np.isfinite(threshold) else 0.0


def select_critical(
    scores: np.ndarray, n_target: int, *, exact: bool, guard_rel: float = DEFAULT_GUARD,
    desc: np.ndarray | None = None,
) -> Selection:
    """Choose about ``n_target`` highest-scoring pixels (within +-2 %) with a drift-safe threshold.

    Args:
        scores: (H, W) float64 scores, higher = more critical.
        n_target: wanted set size, 0 <= n_target <= H*W.
        exact: scores are bit-identical on every machine (then no guard band).
        desc: the scores sorted in descending order, when the caller selects several budgets from one map
            (:func:`sorted_scores`); computed here otherwise.

    Raises:
        CriticalSelectionError: (a ``ValueError``) the scores contain NaN, the threshold at the cut is not
            finite (±inf scores there), or the set misses ``n_target`` ± 2 % (scores tied across the cut,
            e.g. a constant map). Without it a plugin predictor's bad scores gave an empty or wrong-sized set
            and the encoder wrote a file without (the asked) refinement, silently.
    """
    h, w = scores.shape
    total = h * w
    flat = scores.reshape(-1)
    if n_target <= 0:
        return Selection(np.zeros((h, w), bool), float("inf"), 0.0, np.zeros(0, np.int64))
    if n_target >= total:
        return Selection(np.ones((h, w), bool), float("-inf"), 0.0, np.zeros(0, np.int64))
    n_nan = int(np.isnan(flat).sum())
    if n_nan:
        raise CriticalSelectionError(f"the predictor's scores contain {n_nan} NaN values (of {total}); "
                                     "a critical set needs comparable scores")
    if desc is None:
        desc = sorted_scores(scores)
    half = max(1, n_target // 50)
    lo, hi = max(1, n_target - half), min(total - 1, n_target + half)
    cut = desc[lo - 1 : hi + 1]  # every score a candidate threshold lies between
    if not np.isfinite(cut).all():
        raise CriticalSelectionError(
            f"the predictor's scores are infinite around rank {n_target} (ranks {lo}..{hi + 1}: "
            f"{int(np.isinf(cut).sum())} of {cut.size} are ±inf); a drift-safe threshold needs finite scores")
    cands = np.unique(np.linspace(lo, hi, num=min(hi - lo + 1, 401)).round().astype(np.int64))
    gaps = desc[cands - 1] - desc[cands]
    taus = (desc[cands - 1] + desc[cands]) / 2.0
    if exact:
        ok = gaps > 0
        if not ok.any():
            raise CriticalSelectionError("all candidate scores are tied; an exact predictor must break ties")
        dist = np.abs(cands - n_target).astype(np.float64)
        best = int(np.argmin(np.where(ok, dist, np.inf)))
        tau = float(taus[best])
        return _checked(Selection(scores > tau, tau, 0.0, np.zeros(0, np.int64)), n_target, lo, hi)
    asc = desc[::-1]
    g = np.array([guard_width(t, guard_rel) for t in taus])
    band = np.searchsorted(asc, taus + 2 * g, side="right") - np.searchsorted(asc, taus - 2 * g, side="left")
    # the snap moves tau by up to 2**-15 relative, which crosses scores where they are denser than that (a flat
    # 64x64 image under F v4: 3 pixels off a 121..125 window): prefer candidates whose snapped cut still lands
    # in the window, then a real gap cut unsnapped; ties everywhere in the window are left to _checked
    snapped = np.array([snap_threshold(float(t)) for t in taus])
    n_snapped = total - np.searchsorted(asc, snapped, side="right")  # scores > snapped tau
    fits = (n_snapped >= lo) & (n_snapped <= hi)
    best = int(np.lexsort((np.abs(cands - n_target), band, gaps <= 0, ~fits))[0])
    tau = float(snapped[best] if fits[best] else taus[best])
    g0 = guard_width(tau, guard_rel)
    mask = scores > tau
    explicit = np.flatnonzero(mask.reshape(-1) & (np.abs(flat - tau) <= 2 * g0)).astype(np.int64)
    return _checked(Selection(mask, tau, g0, explicit), n_target, lo, hi)


def _checked(sel: Selection, n_target: int, lo: int, hi: int) -> Selection:
    """``sel`` when its threshold is finite and its size lies in ``[lo, hi]`` (``n_target`` ± 2 %), else
    :class:`CriticalSelectionError` naming what the scores did."""
    if not np.isfinite(sel.threshold):
        raise CriticalSelectionError(
            f"the critical-set threshold is {sel.threshold} (the predictor's scores overflow around rank "
            f"{n_target}); a drift-safe set needs a finite threshold")
    if not lo <= sel.n <= hi:
        raise CriticalSelectionError(
            f"the predictor's scores give a critical set of {sel.n} pixels where {n_target} (± 2 %: {lo}..{hi}) "
            f"were asked at threshold {sel.threshold!r}: too many scores are tied around that rank")
    return sel


def snap_threshold(tau: float, bits: int = SNAP_BITS) -> float:
    """``tau`` rounded to a grid of ``2**(e - bits)``, ``e`` the binary exponent of ``max(|tau|, 1)``.

    A float predictor's scores drift in their last bits between thread counts, ISAs and devices, and a
    threshold taken as the midpoint of two of them drifts with them: the encoder would write different
    header bytes for the same image on two machines (the set itself is guard-banded either way). On this
    grid (spacing 2**-15 to 2**-14 of ``max(|tau|, 1)``, 1/30 to 1/15 of the default guard) a drift of ``d``
    changes the stored threshold only when the midpoint lies within ``d`` of a grid midpoint: probability
    ``~ 2 d * 2**15`` (``~ 7e-3`` for a 1e-7 relative drift). Any threshold is correct (module docstring); the
    snap moves it by at most ``2**-15`` relative, inside the guard band, so the explicit list stays short.
    """
    if not np.isfinite(tau):
        return tau
    _, e = math.frexp(max(abs(tau), 1.0))
    q = math.ldexp(1.0, e - bits)
    return float(round(tau / q) * q)


def sorted_scores(scores: np.ndarray) -> np.ndarray:
    """(H*W,) the scores in descending order (one sort serves every budget of :func:`select_critical`).

    ``-sort(-scores)``, negated and sorted in place: one array of the scores' size instead of three (the values,
    ties and signed zeros included, are those of ``-np.sort(-scores)``)."""
    out = np.negative(scores.reshape(-1))
    out.sort()
    return np.negative(out, out=out)


def rederive_critical(scores: np.ndarray, threshold: float, guard: float, explicit: np.ndarray) -> np.ndarray:
    """Decoder side: rebuild the encoder's set from (possibly drifted) scores. Returns (H, W) bool."""
    mask = scores > threshold
    if guard > 0:
        flat, s = mask.reshape(-1), scores.reshape(-1)
        # |s - tau| <= g on chunks of the scores: a few MB of temporaries, not two full-size float planes
        amb = np.concatenate([np.flatnonzero(np.abs(s[i : i + _CHUNK] - threshold) <= guard) + i
                              for i in range(0, s.size, _CHUNK)] or [np.zeros(0, np.int64)])
        flat[amb] = np.isin(amb, explicit, assume_unique=True)
    return mask


_CHUNK = 1 << 16  # elements per chunk of the guard-band test in rederive_critical (0.5 MB of float64)


def mask_crc(mask: np.ndarray) -> int:
    """CRC-32 of the packed (H, W) bool mask, raster order."""
    return zlib.crc32(np.packbits(mask.reshape(-1)).tobytes()) & 0xFFFFFFFF


def check_mask(mask: np.ndarray, n_expected: int, crc_expected: int) -> None:
    """Raise :class:`CriticalSetMismatchError` when the re-derived set is not the encoder's."""
    n = int(mask.sum())
    if n != n_expected or mask_crc(mask) != crc_expected:
        raise CriticalSetMismatchError(
            f"critical set mismatch: decoder derived {n} pixels (checksum {mask_crc(mask):08x}), "
            f"file says {n_expected} (checksum {crc_expected:08x}); the predictor output differs beyond "
            f"the guard band on this machine, or the predictor weights differ from the encoder's"
        )


def pack_indices(idx: np.ndarray) -> bytes:
    """Sorted int64 indices -> LEB128 varints of their gaps (zlib-compressed)."""
    gaps = np.diff(np.concatenate([[-1], idx])).astype(np.uint64) - np.uint64(1)
    out = bytearray()
    for v in gaps.tolist():
        while True:
            b = v & 0x7F
            v >>= 7
            out.append(b | (0x80 if v else 0))
            if not v:
                break
    return zlib.compress(bytes(out), 9)


def unpack_indices(data: bytes, count: int, limit: int) -> np.ndarray:
    """Inverse of :func:`pack_indices`; validates ``count`` and that indices stay below ``limit``."""
    try:
        raw = zlib.decompressobj().decompress(data, 10 * count + 16)
    except zlib.error as e:
        raise AgdlFormatError(f"corrupt AGDL file: guard-band list ({e})") from e
    vals: list[int] = []
    cur, shift, prev = 0, 0, -1
    for b in raw:
        cur |= (b & 0x7F) << shift
        shift += 7
        if shift > 63:
            raise AgdlFormatError("corrupt AGDL file: guard-band list varint overflow")
        if not b & 0x80:
            prev = prev + cur + 1
            vals.append(prev)
            cur, shift = 0, 0
    if len(vals) != count or (vals and vals[-1] >= limit):
        raise AgdlFormatError("corrupt AGDL file: guard-band list does not match the header")
    return np.asarray(vals, dtype=np.int64)
