"""A sample of a large image's tiles, on which the encoder's search decides (issue 29 item 3, coarse to fine in space).

A rate search sizes many base layers and runs F and G on several of them; on a 6 MP image it spent 50 of 90 s in
AVIF/WebP encodes of the whole image (BENCHMARKS.md §37). Above :data:`SAMPLE_ABOVE` pixels the search
(:mod:`agdl_plugins.codec.rdo_search`) runs instead on a mosaic of :data:`SAMPLE_TILES` tiles of
:data:`SAMPLE_TILE` px spread evenly over the image, at the same bits per pixel, and the whole image is then
encoded once with its decisions (base codec, quality, refinement budget), only the quality and the step being
corrected on the whole image to land on the byte budget (:func:`nearest_fit`).

Tiles start on multiples of :data:`ALIGN` (AVIF's 64 px superblock, a multiple of JPEG's 16 px MCU and WebP's
16 px macroblock), so each tile is coded on the same block grid as in the whole image.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: images with more pixels than this are decided on a sample (a 1.5 MP photo is still searched whole)
SAMPLE_ABOVE = 2_000_000
#: side of a sample tile (px)
SAMPLE_TILE = 128
#: tiles in a sample (at most; fewer when the image has fewer whole cells): 24 x 128^2 = 0.39 MP
SAMPLE_TILES = 24
#: tiles start on multiples of this (AVIF superblock; JPEG/WebP blocks divide it)
ALIGN = 64


def sampled(width: int, height: int) -> bool:
    """Whether a ``width`` x ``height`` image is decided on a sample: above :data:`SAMPLE_ABOVE` pixels, and at
    least one tile high and wide (a 30,000 x 100 strip is searched whole)."""
    return width * height > SAMPLE_ABOVE and min(width, height) >= SAMPLE_TILE


def tile_origins(height: int, width: int, n_tiles: int | None = None, tile: int | None = None
                 ) -> tuple[int, int, list[tuple[int, int]]]:
    """(rows, cols, [(y, x), ...] row-major): a rows x cols grid of ``tile`` px tiles, one at the centre of each
    cell of an even partition of the image, origins rounded down to :data:`ALIGN`. rows x cols <= ``n_tiles``,
    rows / cols close to ``height / width``. Defaults: :data:`SAMPLE_TILES`, :data:`SAMPLE_TILE`.

    Raises:
        ValueError: the image is smaller than one tile in either direction.
    """
    n_tiles = SAMPLE_TILES if n_tiles is None else n_tiles
    tile = SAMPLE_TILE if tile is None else tile
    if height < tile or width < tile:
        raise ValueError(f"a {width}x{height} image has no {tile} px tile")
    rows = max(1, min(height // tile, int(round(np.sqrt(n_tiles * height / width)))))
    cols = max(1, min(width // tile, n_tiles // rows))
    out = []
    for r in range(rows):
        for c in range(cols):
            y = int((r + 0.5) * height / rows - tile / 2) // ALIGN * ALIGN
            x = int((c + 0.5) * width / cols - tile / 2) // ALIGN * ALIGN
            out.append((min(max(y, 0), height - tile), min(max(x, 0), width - tile)))
    return rows, cols, out


def gather(a: np.ndarray, rows: int, cols: int, origins: list[tuple[int, int]], tile: int | None = None
           ) -> np.ndarray:
    """(rows * tile, cols * tile, ...) mosaic of ``a``'s (H, W, ...) tiles at ``origins`` (row-major), same dtype;
    ``tile`` defaults to :data:`SAMPLE_TILE`."""
    tile = SAMPLE_TILE if tile is None else tile
    if len(origins) != rows * cols:
        raise ValueError(f"{len(origins)} origins for a {rows}x{cols} mosaic")
    out = np.empty((rows * tile, cols * tile) + a.shape[2:], a.dtype)
    for i, (y, x) in enumerate(origins):
        r, c = divmod(i, cols)
        out[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile] = a[y:y + tile, x:x + tile]
    return out


def nearest_fit(size: Callable[[int], int], budget: float, q0: int, guide: Callable[[int], float],
                q_max: int = 95) -> int:
    """The largest quality in 1..``q_max`` whose ``size`` fits ``budget`` (sizes increasing in the quality), 1 when
    nothing fits, searched from the guess ``q0``.

    ``guide(q)``: a cheap stand-in for ``size(q)`` up to a factor (the sample's size, scaled to the image): each
    probe of ``size`` sets the factor, and the next quality probed is the largest the scaled guide puts within
    ``budget``. A quality that fits is taken without probing the next one when the scaled guide puts the next one
    over ``budget`` (what that leaves unspent the caller's step tuning gives to the refinement). After four probes
    without a quality bracketed on both sides, a bisection. Each ``size`` call is a base encode of the whole
    image: a good guide costs one or two.
    """
    q = int(min(max(q0, 1), q_max))
    lo, hi = 0, q_max + 1  # size(lo) <= budget < size(hi); 0 and q_max + 1 stand for "not probed"
    probes = 0
    while True:
        n = size(q)
        probes += 1
        factor = n / max(guide(q), 1e-9)
        if n <= budget:
            lo = q
        else:
            hi = q
        if hi - lo <= 1 or (lo == q and guide(q + 1) * factor > budget):
            return max(lo, 1)
        bracketed = lo > 0 and hi <= q_max
        q = (lo + hi) // 2 if probes >= 4 and bracketed else _largest_fit(guide, factor, budget, q, lo, hi)


def start_quality(guide: Callable[[int], float], budget: float, q0: int, ratio: float, q_max: int = 95) -> int:
    """The largest quality whose ``guide`` size times ``ratio`` fits ``budget``, scanned from ``q0`` (1 when none
    does): where :func:`nearest_fit` starts when the whole image's size relative to the sample's is estimated
    (``ratio``, from the base codec's fast encode of both, ``size_hint``) before any real whole-image encode."""
    return _largest_fit(guide, ratio, budget, q0, 0, q_max + 1)


def _largest_fit(guide: Callable[[int], float], factor: float, budget: float, q: int, lo: int, hi: int) -> int:
    """The largest quality in (``lo``, ``hi``) whose ``guide`` size times ``factor`` fits ``budget``, scanned from
    ``q`` (the guide rising with the quality); ``lo + 1`` when none does."""
    q = min(max(q, lo + 1), hi - 1)
    if guide(q) * factor <= budget:  # fits: up while the next one still does
        while q + 1 < hi and guide(q + 1) * factor <= budget:
            q += 1
        return q
    while q - 1 > lo and guide(q - 1) * factor > budget:  # too big: down to the first that fits
        q -= 1
    return max(q - 1, lo + 1)
