"""Quantisation and entropy coding of the CS measurements (constriction range coder).

Symbols ``q = round(z / step)`` are coded with a quantised Laplace model whose scale is chosen per
file (a few candidates, the shortest wins) and stored with the symbol range, so the model - and thus
the code - is identical on every machine (constriction uses fixed-point probabilities).
"""

from __future__ import annotations

import struct

import numpy as np

from .errors import AgdlFormatError

_HEAD = ">fii"


def quantise(z: np.ndarray, step: float) -> np.ndarray:
    """Uniform mid-tread quantiser: (M,) float -> (M,) int32 indices."""
    return np.round(z / step).astype(np.int32)


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
