"""AGDL neural networks (plain torch nn.Modules).

- ``models.restorer.DualDomainRestorer``  network G (JPEG artifact removal, qtable-conditioned)
- ``models.predictor.CriticalPixelPredictor`` network F (critical-pixel logits)
- ``models.weights.load_restorer / load_predictor`` safetensors loaders with sha256 check
- ``models.data.jpeg_base_luma`` the exact Pillow base-layer recipe used in training

Importing this package imports nothing heavier than torch (submodules are imported lazily).
"""
import importlib

__all__ = ["DualDomainRestorer", "CriticalPixelPredictor", "load_restorer", "load_predictor",
           "WEIGHTS_VERSION"]

_LAZY = {
    "DualDomainRestorer": "models.restorer",
    "CriticalPixelPredictor": "models.predictor",
    "load_restorer": "models.weights",
    "load_predictor": "models.weights",
    "WEIGHTS_VERSION": "models.weights",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
