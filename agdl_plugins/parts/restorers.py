"""Stage D1 of Algorithm 1: the restorer G removes base-layer artefacts from the luminance.

A restorer has ``id``, ``version`` and ``restore(luma, qtable, device) -> (H, W) float32`` in grey
levels (0..255, not rounded).
"""

from __future__ import annotations

import numpy as np

from .learned import run_network


class IdentityRestorer:
    """Baseline: no restoration (the base layer as is). Named ablation ``identity``."""

    id = "identity"
    version = 1

    def restore(self, luma: np.ndarray, qtable: np.ndarray | None, device: str) -> np.ndarray:
        return luma.astype(np.float32)


class LearnedRestorer:
    """Network G (``models.DualDomainRestorer``), conditioned on the JPEG luminance table."""

    id = "agdl-g"

    def __init__(self, version: int) -> None:
        self.version = version

    def restore(self, luma: np.ndarray, qtable: np.ndarray | None, device: str) -> np.ndarray:
        return run_network("restorer", self.id, self.version, luma, qtable, device) * 255.0
