"""Stage D1 of Algorithm 1: the restorer G removes base-layer artefacts from the luminance.

A restorer has ``id``, ``version`` and ``restore(luma, qtable, device) -> (H, W) float32`` in grey
levels (0..255, not rounded).
"""

from __future__ import annotations

import numpy as np

from .._models import MODELS_DIR, models_submodule
from ..engine import cached_model, run_tiled
from .predictors import qtable_tensor


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
        weights = models_submodule("weights")
        path = MODELS_DIR / "weights" / f"restorer_v{self.version}.safetensors"
        net = cached_model(f"{self.id}@{self.version}", device, lambda: weights.load_restorer(path))
        q = qtable_tensor(qtable, device)
        plane = luma.astype(np.float32) / 255.0
        out = run_tiled(lambda t: net(t, q.expand(t.shape[0], -1)), plane, device)
        return out * 255.0
