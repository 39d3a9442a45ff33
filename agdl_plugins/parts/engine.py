"""Inference engine: device choice, inference mode, model cache and tiled processing.

Tiling geometry is a fixed function of the image size (never of the device or free memory), so the
same file gives the same network output tiles everywhere. Tiles overlap by ``overlap`` pixels on each
side; only the central part of each tile is kept, and tile origins are multiples of 8 so the
restorer's 8x8 DCT branch sees the JPEG grid.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

DEFAULT_TILE = 512
DEFAULT_OVERLAP = 32

_cache: dict[tuple[str, str], Any] = {}
_cache_lock = threading.Lock()


def resolve_device(device: str | None = "auto") -> str:
    """``"auto"`` -> ``"cuda"`` when available, else ``"cpu"``; validates explicit names."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    dev = str(device)
    if dev.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} requested but CUDA is not available")
    if not (dev == "cpu" or dev.startswith("cuda") or dev == "mps"):
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda[:N]'")
    return dev


def cached_model(name: str, device: str, factory: Callable[[], Any]) -> Any:
    """Build a model once per (name, device); models are used read-only under inference mode."""
    key = (name, device)
    with _cache_lock:
        if key not in _cache:
            _cache[key] = factory().to(device).eval()
        return _cache[key]


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    step = tile - 2 * overlap
    starts = list(range(0, length - tile, step)) + [length - tile]
    return sorted({s - s % 8 for s in starts})


def run_tiled(
    fn: Callable[[Any], Any],
    plane: np.ndarray,
    device: str,
    *,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    extra: Any = None,
) -> np.ndarray:
    """Apply ``fn`` to a (H, W) float plane tile by tile and stitch the centres.

    Args:
        fn: maps a tensor (1, 1, h, w) (h, w multiples of 8, values as given) to (1, 1, h, w).
        plane: (H, W) float32 array.
        device: torch device string.
        tile, overlap: tile side and overlap (pixels); fixed so results are device independent.

    Returns:
        (H, W) float32 array. Peak memory is bounded by the tile size, not the image size.
    """
    import torch

    h, w = plane.shape
    ph, pw = (-h) % 8, (-w) % 8
    padded = np.pad(plane, ((0, ph), (0, pw)), mode="edge") if (ph or pw) else plane
    hp, wp = padded.shape
    out = np.empty((hp, wp), dtype=np.float32)
    ys, xs = _starts(hp, tile, overlap), _starts(wp, tile, overlap)
    with torch.inference_mode():
        for y0 in ys:
            y1 = min(y0 + tile, hp)
            for x0 in xs:
                x1 = min(x0 + tile, wp)
                t = torch.from_numpy(np.ascontiguousarray(padded[y0:y1, x0:x1]))[None, None].to(device)
                res = fn(t)[0, 0].float().cpu().numpy()
                # keep the centre: trim `overlap` except at image borders
                ty0 = 0 if y0 == 0 else overlap
                tx0 = 0 if x0 == 0 else overlap
                out[y0 + ty0 : y1, x0 + tx0 : x1] = res[ty0:, tx0:]
    return out[:h, :w]
