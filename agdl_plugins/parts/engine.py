"""Inference engine: device choice, inference mode, model cache and tiled processing.

Tiling geometry is a fixed function of the image size and the network's (tile, overlap) (never of the device,
thread count or free memory), so the same file gives the same network output tiles everywhere. The plane is cut
into the fewest tiles of at most ``tile`` pixels a side whose kept parts are as equal as 8-pixel alignment allows;
each tile carries ``overlap`` pixels of context beyond its kept part on every side that is not an image edge, and
only the kept part is used. Tile origins are multiples of 8 so the restorer's 8x8 DCT branch sees the JPEG grid.

Speed without process-global state: the engine runs networks under ``torch.inference_mode`` (thread-local), on
CPU in channels-last memory format (oneDNN's native layout: no reorder around each convolution), and uses
whatever intra-op thread count the caller's process has; it never sets thread counts, backend flags or warning
filters.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

#: side of a tile and context kept around it, for networks that do not set their own (``net.tile``/``overlap``).
#: Bigger tiles run faster per pixel on CPU (fewer overlapping pixels, larger oneDNN problems; G v2 on a 6 MP
#: mosaic: tile 512 takes 1.84x the time of 1024, 256 12.9x, BENCHMARKS.md §24); 1024 keeps a 32-channel
#: full-resolution network's tile under ~0.5 GB.
DEFAULT_TILE = 1024
DEFAULT_OVERLAP = 64

_cache: dict[tuple[str, str, bool], Any] = {}
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


def channels_last(device: str) -> bool:
    """Whether convolutional networks run in channels-last memory format on ``device`` (CPU: oneDNN's layout,
    G v2: 1.1x on a whole decode, 1.5x on one tile's forward, BENCHMARKS.md §24; other devices keep contiguous NCHW)."""
    return device == "cpu"


def cached_model(name: str, device: str, factory: Callable[[], Any], *, conv_layout: bool = False) -> Any:
    """Build a model once per (name, device, layout); models are used read-only under inference mode.

    ``conv_layout``: store the weights in the device's preferred convolution layout (:func:`channels_last`);
    for tiled convolutional networks (the restorers). The values are the same, only their order in memory.
    """
    fast = conv_layout and channels_last(device)
    key = (name, device, fast)
    with _cache_lock:
        if key not in _cache:
            import torch

            model = factory().to(device).eval()
            if fast:
                model = model.to(memory_format=torch.channels_last)
            _cache[key] = model
        return _cache[key]


def tiles(length: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """The tiling of one axis of ``length`` pixels (a multiple of 8): ``(start, end, keep0, keep1)`` per tile.

    The tile covers ``[start, end)`` and its output is kept on ``[keep0, keep1)``; the kept parts partition
    ``[0, length)`` in order. Every bound is a multiple of 8 (``overlap`` is rounded up to one), each tile is at
    most ``tile`` pixels (rounded down to a multiple of 8, at least ``2 * overlap + 8``), and a kept pixel is at
    least ``overlap`` pixels from every tile edge that is not an image edge. The tile count is the smallest that
    satisfies this, so the work is ``length + 2 * overlap * (n - 1)`` pixels, not up to twice ``length``.
    """
    ov = -(-overlap // 8) * 8
    tile = max(tile - tile % 8, 2 * ov + 8)
    if length <= tile:
        return [(0, length, 0, length)]
    # n tiles: the two end tiles keep up to tile - ov, the n - 2 inner ones up to tile - 2 ov
    inner = tile - 2 * ov
    n = 2 + max(0, -(-(length - 2 * (tile - ov)) // inner))
    while True:
        cuts = [0] + [8 * round(i * length / (8 * n)) for i in range(1, n)] + [length]
        spans = [(max(a - ov, 0), min(b + ov, length), a, b) for a, b in zip(cuts, cuts[1:])]
        if all(e - s <= tile for s, e, _, _ in spans) and all(b > a for _, _, a, b in spans):
            return spans
        n += 1  # an 8-pixel rounding pushed a tile over the limit: one more tile


def run_tiled(
    fn: Callable[[Any], Any],
    plane: np.ndarray,
    device: str,
    *,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    extra: Any = None,
    divide_by: float | None = None,
) -> np.ndarray:
    """Apply ``fn`` to a (H, W) plane tile by tile and stitch the kept parts (:func:`tiles`).

    Args:
        fn: maps a tensor (1, 1, h, w) (h, w multiples of 8, float32) to (1, 1, h, w).
        plane: (H, W) float32 array, or any real array with ``divide_by``.
        device: torch device string. On CPU the tile is handed over in channels-last format
            (:func:`channels_last`; for one channel the same memory as NCHW).
        tile, overlap: tile side and overlap (pixels); fixed so results are device independent.
        divide_by: when given, each tile is ``tile.astype(float32) / divide_by`` (e.g. a uint8 plane and 255:
            the same values as converting the whole plane first, without a full-size float copy of it).

    Returns:
        (H, W) float32 array (writable, owned by the caller). Peak memory is this output plus what one tile
        needs, not a multiple of the image size.
    """
    import torch

    h, w = plane.shape
    ph, pw = (-h) % 8, (-w) % 8
    padded = np.pad(plane, ((0, ph), (0, pw)), mode="edge") if (ph or pw) else plane
    hp, wp = padded.shape
    out = np.empty((hp, wp), dtype=np.float32)
    fmt = torch.channels_last if channels_last(device) else torch.contiguous_format
    columns = tiles(wp, tile, overlap)
    with torch.inference_mode():
        for y0, y1, ky0, ky1 in tiles(hp, tile, overlap):
            for x0, x1, kx0, kx1 in columns:
                if divide_by is None:
                    a = np.ascontiguousarray(padded[y0:y1, x0:x1])
                else:  # divided in place: the values of ``plane.astype(float32) / divide_by``
                    a = padded[y0:y1, x0:x1].astype(np.float32)
                    a /= np.float32(divide_by)
                t = torch.from_numpy(a)[None, None].to(device)
                res = fn(t.contiguous(memory_format=fmt))[0, 0].float().cpu().numpy()
                out[ky0:ky1, kx0:kx1] = res[ky0 - y0 : ky1 - y0, kx0 - x0 : kx1 - x0]
                del t, res  # before the next tile's forward: one tile's activations alive at a time
    return out[:h, :w]
