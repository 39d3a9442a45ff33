"""A map-style dataset for the spawn tests: imports Pillow only, never pillow_plugin (as a user's would)."""

from __future__ import annotations

import numpy as np
from PIL import Image


class AgdlFiles:
    """Opens each path with plain ``PIL.Image.open`` in whatever process indexes it."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        with Image.open(self.paths[i]) as im:
            return np.asarray(im.convert("RGB"))
