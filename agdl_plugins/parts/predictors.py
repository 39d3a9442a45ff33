"""Stage E2 of Algorithm 1: per-pixel critical scores computed from the decoded base layer.

A predictor (:class:`agdl_plugins.parts.protocols.Predictor`) has ``id``, ``version``, ``exact`` (True when
its scores are integers computed the same on every machine, so no guard band is needed) and
``scores(luma, qtable, device) -> (H, W) float64``. A predictor with ``colour = True``
(:class:`~agdl_plugins.parts.protocols.ColourInput`) is given the base layer's (H, W, 3) Y, Cb, Cr planes
instead of the (H, W) luminance when the image has colour (:func:`predictor_input`; F v3's saliency U-Net
sees colour). The pipeline runs a predictor through :func:`agdl_plugins.parts.protocols.predict_scores` /
``predict_saliency``, which pass it its input and check its output.
"""

from __future__ import annotations

import numpy as np

from agdl_plugins.parts.learned import run_network, run_saliency, run_scores_and_saliency
from agdl_plugins.parts.protocols import predictor_input

__all__ = ["LearnedPredictor", "RoiEdgePredictor", "SobelEdgePredictor", "predictor_input"]


def _index_hash(h: int, w: int) -> np.ndarray:
    """Deterministic 20-bit pseudo-random key per raster index (spreads ties spatially)."""
    idx = np.arange(h * w, dtype=np.uint64)
    x = (idx + np.uint64(0x9E3779B97F4A7C15)) * np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(31)
    return (x & np.uint64(0xFFFFF)).astype(np.float64).reshape(h, w)


class SobelEdgePredictor:
    """Classical baseline: integer Sobel gradient magnitude |gx| + |gy| of the base luminance.

    Exact integer arithmetic (ties broken by a fixed index hash), so encoder and decoder agree on any
    machine without a guard band. Kept as the named ablation baseline ``edge-sobel``; it has no idea
    of saliency, so it spreads the critical set over the whole image.
    """

    id = "edge-sobel"
    version = 1
    exact = True

    def scores(self, luma: np.ndarray, qtable: np.ndarray | None, device: str) -> np.ndarray:
        """(H, W) uint8 -> (H, W) float64 integer-valued scores."""
        return sobel_magnitude(luma).astype(np.float64) * float(1 << 20) + _index_hash(*luma.shape)


def sobel_magnitude(luma: np.ndarray) -> np.ndarray:
    """(H, W) uint8 -> (H, W) int32 integer Sobel |gx| + |gy| (edge padding: F's ``sobel_magnitude`` x 255)."""
    p = np.pad(luma.astype(np.int32), 1, mode="edge")
    gx = (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[1:-1, :-2] + p[2:, :-2])
    gy = (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[:-2, 1:-1] + p[:-2, 2:])
    return np.abs(gx) + np.abs(gy)


def mean3_times36(mag: np.ndarray) -> np.ndarray:
    """(H, W) int -> (H, W) int64: 36 x the 3x3 mean of ``mag`` with zero padding not counted (F v4's edge pool,
    ``avg_pool2d(3, count_include_pad=False)``), exactly: the 3x3 sum x 36 / count, count in {4, 6, 9}."""
    h, w = mag.shape
    p = np.pad(mag.astype(np.int64), 1)
    total = sum(p[i : i + h, j : j + w] for i in range(3) for j in range(3))
    cy = np.full(h, 3, np.int64)
    cx = np.full(w, 3, np.int64)
    cy[0] -= 1
    cy[-1] -= 1
    cx[0] -= 1
    cx[-1] -= 1
    count = np.maximum(cy[:, None] * cx[None, :], 1)  # 1-px-wide images: counts of 1 or 2 (36 // count exact)
    return total * (36 // count)


class RoiEdgePredictor:
    """Critical scores inside the user's region of interest (issue 27): integer-exact, so no guard band.

    score = roi x 2**40 + (36 x the 3x3 mean of the integer Sobel |gx| + |gy| of Y_b) x 2**20 + the fixed index
    hash of ``edge-sobel``. Every ROI pixel outranks every other; inside the ROI pixels rank exactly as F v4's
    edge term ranks them (the same Sobel, the same pooling, scaled by 36 to stay integer); ties go by the hash.
    All terms are integers below 2**42, exact in float64 on every machine.

    The scores depend on the file's ROI map: the part registered is unbound (``needs_roi``); the pipeline binds
    it to the map with :meth:`for_roi` (:func:`agdl_plugins.parts.protocols.bind_roi`), as conditioned restorers
    are bound to their base with ``for_base``.
    """

    id = "roi-edge"
    version = 1
    exact = True
    needs_roi = True

    def __init__(self, roi: np.ndarray | None = None) -> None:
        self.roi = roi

    def for_roi(self, roi: np.ndarray) -> RoiEdgePredictor:
        """This predictor bound to ``roi``, (H, W) bool."""
        return RoiEdgePredictor(np.asarray(roi, dtype=bool))

    def scores(self, luma: np.ndarray, qtable: np.ndarray | None, device: str) -> np.ndarray:
        """(H, W) uint8 -> (H, W) float64 integer-valued scores (see the class docstring).

        Raises:
            ValueError: not bound to a ROI (:meth:`for_roi`), or bound to one of another size.
        """
        if self.roi is None:
            raise ValueError("roi-edge scores pixels by the file's region of interest: bind it with for_roi()")
        if self.roi.shape != luma.shape:
            raise ValueError(f"roi-edge: ROI map of shape {self.roi.shape} for a base layer of {luma.shape}")
        edge = mean3_times36(sobel_magnitude(luma))
        return (self.roi.astype(np.float64) * float(1 << 40) + edge.astype(np.float64) * float(1 << 20)
                + _index_hash(*luma.shape))


class LearnedPredictor:
    """Network F (``models.CriticalPixelPredictor`` v1, ``models.SaliencyEdgePredictor`` v2-v4): scores of
    being a critical pixel of eq. 1. ``colour``: takes (H, W, 3) YCbCr planes; versions whose network reads
    only the luminance (v1, v2) use channel 0, so their scores are unchanged."""

    id = "agdl-f"
    exact = False
    colour = True

    def __init__(self, version: int) -> None:
        self.version = version

    def scores(self, planes: np.ndarray, qtable: np.ndarray | None, device: str) -> np.ndarray:
        """(H, W) or (H, W, 3) YCbCr uint8 -> (H, W) float64 scores."""
        return run_network("predictor", self.id, self.version, planes, qtable, device).astype(np.float64)

    def saliency(self, planes: np.ndarray, device: str) -> np.ndarray | None:
        """(H, W) or (H, W, 3) YCbCr uint8 -> (H, W) float32 salient-region probability, or None without a
        saliency head."""
        return run_saliency(self.id, self.version, planes, device)

    def scores_and_saliency(self, planes: np.ndarray, qtable: np.ndarray | None,
                            device: str) -> tuple[np.ndarray, np.ndarray | None]:
        """``(scores(planes), saliency(planes))`` with one network run where the network allows it (analysis)."""
        scores, sal = run_scores_and_saliency(self.id, self.version, planes, qtable, device)
        return scores.astype(np.float64), sal
