"""Quantisation and entropy coding of the CS measurements (constriction range coder).

Symbols ``q`` (``round(z / step)``, or its rate-distortion optimised variant :func:`rdo_quantise`) are
coded with a quantised Laplace model whose scale is chosen per
file (a few candidates, the shortest wins) and stored with the symbol range, so the model - and thus
the code - is identical on every machine (constriction uses fixed-point probabilities).
"""

from __future__ import annotations

import math
import struct

import numpy as np

from agdl_plugins.errors import AgdlFormatError
from agdl_plugins.options import QUANTISERS

_HEAD = ">fii"

#: Lagrange multiplier of :func:`rdo_quantise`, in units of step^2 per bit: the high-rate slope of a uniform
#: quantiser's distortion-rate curve, -dD/dR = 2 ln2 * step^2 / 12 (0.1 measured best of 0.05 / 0.1 / 0.2 at a
#: fixed budget: BENCHMARKS.md section 18).
RDOQ_LAMBDA = math.log(2) / 6
RDOQ_PASSES = 2


def quantise(z: np.ndarray, step: float) -> np.ndarray:
    """Uniform mid-tread quantiser: (M,) float -> (M,) int32 indices."""
    return np.round(z / step).astype(np.int32)


def quantise_with(quantiser: str, z: np.ndarray, step: float, weights: np.ndarray | None = None) -> np.ndarray:
    """The encoder's quantiser by name: "round" (:func:`quantise`, the paper's and the default) or "rdo"
    (:func:`rdo_quantise`). ``weights``: (M,) objective weights of the measurements or None (ignored by "round")."""
    if quantiser == "round":
        return quantise(z, step)
    if quantiser == "rdo":
        return rdo_quantise(z, step, weights)
    raise ValueError(f"quantiser must be one of {QUANTISERS}, got {quantiser!r}")


def rdo_quantise(z: np.ndarray, step: float, weights: np.ndarray | None = None, lam: float = RDOQ_LAMBDA,
                 passes: int = RDOQ_PASSES) -> np.ndarray:
    """Rate-distortion optimised quantiser (encoder only: the decoder reads any indices): (M,) -> (M,) int32.

    Per symbol, among ``round(z / step)``, one index toward zero and zero, keep the one that minimises
    ``w * (z - step * q)^2 + lam * step^2 * bits(q)``, with ``bits`` the order-0 code lengths of the previous
    pass (``passes`` passes from plain rounding; add-half smoothing). ``weights``: (M,) objective weights of
    the measurements (e.g. the pixel weights of identity sensing), normalised here to mean 1; None = uniform.
    Never further from ``z`` than zeroing the symbol, so a refinement still never raises the distortion.
    """
    q = np.round(z / step).astype(np.int64)
    if q.size == 0 or lam <= 0:
        return q.astype(np.int32)
    w = np.ones(q.size) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != q.shape:
        raise ValueError(f"weights must have shape {q.shape}, got {w.shape}")
    mean = float(w.mean())
    w = w / mean if mean > 0 else np.ones(q.size)
    toward = q - np.sign(q)
    cands = np.stack([q, toward, np.zeros_like(q)])
    err = w * (z[None, :] - step * cands) ** 2
    lo, hi = min(int(q.min()), 0), max(int(q.max()), 0)  # every candidate lies between q and 0
    for _ in range(passes):
        counts = np.bincount(q - lo, minlength=hi - lo + 1) + 0.5
        bits = -np.log2(counts / counts.sum())
        cost = err + lam * step * step * bits[cands - lo]
        q = np.take_along_axis(cands, np.argmin(cost, axis=0)[None, :], axis=0)[0]
    return q.astype(np.int32)


def _model(scale: float, qmin: int, qmax: int):
    import constriction

    return constriction.stream.model.QuantizedLaplace(qmin, qmax, 0.0, float(scale))


def _encode(q: np.ndarray, scale: float, qmin: int, qmax: int) -> np.ndarray:
    import constriction

    enc = constriction.stream.queue.RangeEncoder()
    enc.encode(q, _model(scale, qmin, qmax))
    return enc.get_compressed()


def encode_symbols(q: np.ndarray) -> bytes:
    """(M,) int32 -> bytes (model parameters + range-coded words)."""
    if q.size == 0:
        return b""
    qmin, qmax = int(q.min()), int(q.max())
    if qmin == qmax:
        qmin, qmax = qmin - 1, qmax + 1
    b0 = max(float(np.mean(np.abs(q))), 0.05)
    best: tuple[int, float, np.ndarray] | None = None
    for f in (0.6, 0.8, 1.0, 1.25):
        scale = float(np.float32(b0 * f))
        words = _encode(q, scale, qmin, qmax)
        if best is None or words.size < best[0]:
            best = (words.size, scale, words)
    assert best is not None
    return struct.pack(_HEAD, best[1], qmin, qmax) + best[2].astype("<u4").tobytes()


def decode_symbols(data: bytes, count: int) -> np.ndarray:
    """Inverse of :func:`encode_symbols` for ``count`` symbols."""
    import constriction

    if count == 0:
        return np.zeros(0, np.int32)
    hs = struct.calcsize(_HEAD)
    if len(data) < hs or (len(data) - hs) % 4:
        raise AgdlFormatError("corrupt AGDL file: measurement stream has a bad length")
    scale, qmin, qmax = struct.unpack_from(_HEAD, data)
    if not (np.isfinite(scale) and 0 < scale < 1e9 and qmin < qmax and qmax - qmin < 1 << 24):
        raise AgdlFormatError("corrupt AGDL file: bad entropy-model parameters")
    words = np.frombuffer(data, dtype="<u4", offset=hs).astype(np.uint32)
    try:
        dec = constriction.stream.queue.RangeDecoder(words)
        return np.asarray(dec.decode(_model(scale, qmin, qmax), count), dtype=np.int32)
    except (ValueError, RuntimeError, AssertionError) as e:
        raise AgdlFormatError(f"corrupt AGDL file: measurement stream does not decode ({e})") from e


def empirical_entropy_bytes(q: np.ndarray) -> float:
    """Order-0 empirical entropy of the symbols, in bytes (the yardstick for the coder)."""
    if q.size == 0:
        return 0.0
    _, counts = np.unique(q, return_counts=True)
    p = counts / q.size
    return float(-(counts * np.log2(p)).sum() / 8.0)
