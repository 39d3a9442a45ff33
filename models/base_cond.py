"""Conditioning vector of the WebP/AVIF restorer (``agdl-g-webp-avif``), from (base codec, base quality).

The restorers G are FiLM-conditioned on a 64-value vector; for JPEG bases it is the file's own luminance
quantisation table. WebP and AVIF streams carry no such table, so the vector is derived deterministically
from what every AGDL file stores in its HEAD, the base codec id and the base quality (0..100):

    cond(codec, q) = libjpeg's luminance table at JPEG quality clamp(q, 1, 100)   (natural 8x8 order)
                     transposed (8x8) for "avif", as is for "webp"

The table shape makes the start from G v2's JPEG weights meaningful (a lower quality gives a coarser
table); the transposition tells the two codecs apart. Networks receive ``cond / 255`` as float32 (64,).
Pure numpy + Pillow, no torch, relative imports only (the codec loads this package under a private name).
"""
import functools
import io

import numpy as np

LOSSY_CODECS = ("webp", "avif")


@functools.cache
def _jpeg_luma_table(quality: int) -> tuple:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (8, 8)).save(buf, "JPEG", quality=int(quality))
    return tuple(Image.open(buf).quantization[0])


def base_cond(codec: str, quality: int) -> np.ndarray:
    """(64,) int64 conditioning table for a ``codec`` ("webp" | "avif") base at ``quality`` (0..100)."""
    if codec not in LOSSY_CODECS:
        raise ValueError(f"no base conditioning for codec {codec!r} (expected one of {LOSSY_CODECS})")
    q = min(100, max(1, int(quality)))
    t = np.asarray(_jpeg_luma_table(q), dtype=np.int64).reshape(8, 8)
    return (t.T if codec == "avif" else t).reshape(64).copy()
