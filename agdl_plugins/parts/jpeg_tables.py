"""libjpeg's quantisation tables (ITU-T T.81 Annex K scaled by ``jpeg_set_quality``), natural order."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


IJG_LUMA = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
            14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
            49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
IJG_CHROMA = (17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
              47, 66, 99, 99, 99, 99, 99, 99) + (99,) * 32


def ijg_tables(quality: float) -> list[list[int]]:
    """[luma, chroma] tables (64 ints each, row-major, clamped to 1..255) at a possibly fractional quality.

    Integer qualities reproduce libjpeg's own integer arithmetic, so ``save(qtables=ijg_tables(q))`` writes
    the same tables as ``save(quality=q)``.
    """
    q = min(100.0, max(1.0, float(quality)))
    scale = 5000.0 / q if q < 50 else 200.0 - 2.0 * q
    if q == int(q):
        scale = math.floor(scale)

    def one(base: tuple[int, ...]) -> list[int]:
        return [int(min(255, max(1, math.floor((v * scale + 50) / 100)))) for v in base]

    return [one(IJG_LUMA), one(IJG_CHROMA)]


def dct8_matrix() -> np.ndarray:
    """(8, 8) orthonormal DCT-II matrix C; JPEG's 2-D FDCT of a block B is ``C @ B @ C.T``."""
    import numpy as np

    k = np.arange(8)
    c = np.cos((2 * k[None, :] + 1) * k[:, None] * np.pi / 16) * np.sqrt(2 / 8)
    c[0] /= np.sqrt(2)
    return c
