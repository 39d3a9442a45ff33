from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from agdl_plugins import hookimpl
from agdl_plugins.parts.predictors import SobelEdgePredictor
from agdl_plugins.parts.registry import register_plugin, unregister_plugin


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A real photo crop, (96, 128, 3) uint8, off the 8x8 grid."""
    return np.ascontiguousarray(data.astronaut()[100:196, 150:278])


@pytest.fixture(scope="session")
def grey(photo) -> np.ndarray:
    return np.ascontiguousarray(data.camera()[200:280, 180:300])


class FloatPredictor:
    """A non-exact (float) predictor: smoothed Sobel + a smooth field, so scores are continuous."""

    id = "test-float"
    version = 1
    exact = False

    def scores(self, luma, qtable, device):
        s = SobelEdgePredictor().scores(luma, qtable, device) / float(1 << 20)
        yy, xx = np.mgrid[: luma.shape[0], : luma.shape[1]]
        return (s + 3.0 * np.sin(xx / 7.0) * np.cos(yy / 5.0)) / 50.0 + 0.123


class _Plugin:
    @hookimpl
    def agdl_register_parts(self, registry):
        registry.add_predictor(FloatPredictor())


@pytest.fixture(scope="session")
def float_predictor():
    register_plugin(_Plugin(), name="test-float-plugin")
    yield "test-float"
    unregister_plugin("test-float-plugin")
