"""Small, shared measurement helpers (PSNR on luminance/RGB, optional ROI) and JPEG rate matching."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB between uint8 arrays of equal shape; ``mask`` (H, W) bool restricts the pixels."""
    d = a.astype(np.float64) - b.astype(np.float64)
    if mask is not None:
        d = d[mask] if d.ndim == 2 else d[mask, :]
    mse = float(np.mean(d * d)) if d.size else 0.0
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def luma(arr: np.ndarray) -> np.ndarray:
    """(H, W) uint8 Y (Pillow BT.601) of an (H, W) or (H, W, 3|4) uint8 array."""
    from agdl_plugins.imaging import luminance

    if arr.ndim == 2:
        return arr
    return luminance(Image.fromarray(np.ascontiguousarray(arr[..., :3])))


def jpeg_bytes(arr: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=int(quality), optimize=True)
    return buf.getvalue()


def jpeg_at_bytes(arr: np.ndarray, target: int) -> tuple[int, bytes]:
    """Pillow JPEG whose size is closest to ``target`` bytes (bisection on quality 1..100)."""
    lo, hi = 1, 100
    best: tuple[int, bytes] | None = None
    while lo <= hi:
        q = (lo + hi) // 2
        data = jpeg_bytes(arr, q)
        if best is None or abs(len(data) - target) < abs(len(best[1]) - target):
            best = (q, data)
        if len(data) > target:
            hi = q - 1
        else:
            lo = q + 1
    assert best is not None
    return best


def decode_jpeg(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))
