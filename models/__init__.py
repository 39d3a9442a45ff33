"""AGDL neural networks (plain torch nn.Modules).

- ``models.restorer.DualDomainRestorer``  network G (JPEG artifact removal, qtable-conditioned)
- ``models.predictor.CriticalPixelPredictor`` network F (critical-pixel logits)
- ``models.weights.load_restorer / load_predictor`` safetensors loaders with sha256 check
- ``models.data.jpeg_base_luma`` the exact Pillow base-layer recipe used in training

Importing this package imports nothing heavier than torch (submodules are imported lazily).
"""
import importlib
from pathlib import Path

#: the shipped weights files (``*_v<N>.safetensors``, ``SHA256SUMS``)
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

__all__ = ["WEIGHTS_DIR", "DualDomainRestorer", "CriticalPixelPredictor", "load_restorer", "load_predictor",
           "WEIGHTS_VERSION"]

_LAZY = {
    "DualDomainRestorer": ".restorer",
    "CriticalPixelPredictor": ".predictor",
    "load_restorer": ".weights",
    "load_predictor": ".weights",
    "WEIGHTS_VERSION": ".weights",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(name)
