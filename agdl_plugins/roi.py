"""The user's region of interest (option ``roi``, issue 27): the one place a ``roi=`` value is checked and
normalised, whichever front end it came through (``agdl_plugins.encode``, Pillow ``save``, imageio ``imwrite``,
``agdl encode --roi/--roi-box/--roi-dir``).

Accepted (pixels, PIL's convention: ``x1``/``y1`` exclusive):

* a 2-D ``bool`` or ``uint8`` numpy array of the image's (H, W) (non-zero = ROI);
* a PIL image of mode ``1`` or ``L`` of the image's size (non-zero = ROI);
* a list or tuple of boxes ``(x0, y0, x1, y1)`` with ``0 <= x0 < x1 <= W``, ``0 <= y0 < y1 <= H``
  (integers; one box may be given bare as a 4-tuple).

Anything else is a ``TypeError``; a value of the right type that is wrong (size, NaN, a box outside the image
or empty, a mask with no ROI pixel) is a ``ValueError``; both name the option. A ROI covering the whole image
is allowed (it steers nothing) and said with :class:`agdl_plugins.errors.AgdlOptionWarning`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from agdl_plugins.errors import AgdlOptionWarning

Box = tuple[int, int, int, int]


@dataclass(frozen=True, eq=False)
class Roi:
    """A checked ROI: ``boxes`` (pixel boxes, x1/y1 exclusive) or ``mask`` ((H, W) bool), exactly one set."""

    boxes: tuple[Box, ...] | None = None
    mask: np.ndarray | None = None

    def pixel_mask(self, width: int, height: int) -> np.ndarray:
        """(H, W) bool: True inside the ROI."""
        if self.mask is not None:
            return self.mask
        m = np.zeros((height, width), bool)
        for x0, y0, x1, y1 in self.boxes or ():
            m[y0:y1, x0:x1] = True
        return m


def _is_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_)


def _boxes(value: Any) -> tuple[Box, ...]:
    items = list(value)
    if len(items) == 4 and all(isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in items):
        items = [tuple(items)]  # one bare box
    if not items:
        raise ValueError("roi: an empty list of boxes (give at least one box (x0, y0, x1, y1), or roi=None)")
    out = []
    for b in items:
        if isinstance(b, str | bytes) or not hasattr(b, "__len__") or len(b) != 4:
            raise TypeError(f"roi: a box is (x0, y0, x1, y1), got {b!r}")
        for v in b:
            if isinstance(v, float | np.floating) and not math.isfinite(v):
                raise ValueError(f"roi: box {tuple(b)!r} has a non-finite coordinate")
            if not _is_int(v) and not (isinstance(v, float | np.floating) and float(v).is_integer()):
                raise TypeError(f"roi: box coordinates are whole pixels, got {v!r} in {tuple(b)!r}")
        x0, y0, x1, y1 = (int(v) for v in b)
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"roi: box {(x0, y0, x1, y1)} is empty (x1 > x0 and y1 > y0 are needed; x1, y1 "
                             "exclusive)")
        out.append((x0, y0, x1, y1))
    return tuple(out)


def _mask(value: Any) -> np.ndarray:
    from PIL import Image

    if isinstance(value, Image.Image):
        if value.mode not in ("1", "L"):
            raise TypeError(f"roi: a mask image must have mode '1' or 'L', got mode {value.mode!r}")
        return np.asarray(value.convert("L")) > 0
    a = value
    if a.ndim != 2:
        raise ValueError(f"roi: a mask is a 2-D (H, W) array, got shape {a.shape}")
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise ValueError("roi: the mask contains NaN or infinite values")
        raise TypeError(f"roi: a mask array must be bool or uint8 (non-zero = ROI), got dtype {a.dtype}")
    if a.dtype != np.bool_ and a.dtype != np.uint8:
        raise TypeError(f"roi: a mask array must be bool or uint8 (non-zero = ROI), got dtype {a.dtype}")
    return np.ascontiguousarray(a != 0)


def normalise_roi(value: Any, size: tuple[int, int] | None = None) -> Roi | None:
    """``roi=`` as the user gave it -> :class:`Roi` (None for None).

    ``size``: the image's (W, H); None checks the type and the values that do not depend on it only
    (``validate_encode_options``). An already checked :class:`Roi` is checked against ``size`` again.

    Raises:
        TypeError: not one of the accepted types.
        ValueError: wrong size, NaN, a box outside the image or empty, no ROI pixel.
    """
    if value is None:
        return None
    if isinstance(value, Roi):
        roi = value
    else:
        from PIL import Image

        if isinstance(value, Image.Image | np.ndarray):
            roi = Roi(mask=_mask(value))
        elif isinstance(value, list | tuple):
            roi = Roi(boxes=_boxes(value))
        else:
            raise TypeError(f"roi must be a 2-D bool/uint8 mask (numpy array or PIL image of mode '1'/'L') or a "
                            f"list of boxes (x0, y0, x1, y1), got {type(value).__name__}")
    if roi.mask is not None and not roi.mask.any():
        raise ValueError("roi: the mask has no ROI pixel (all zero); pass roi=None for no ROI")
    if size is None:
        return roi
    w, h = size
    if roi.mask is not None and roi.mask.shape != (h, w):
        raise ValueError(f"roi: the mask is {roi.mask.shape[1]}x{roi.mask.shape[0]} (W x H), the image "
                         f"{w}x{h}")
    for x0, y0, x1, y1 in roi.boxes or ():
        if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
            raise ValueError(f"roi: box {(x0, y0, x1, y1)} lies outside the {w}x{h} image (0 <= x0 < x1 <= "
                             f"{w}, 0 <= y0 < y1 <= {h})")
    if roi.pixel_mask(w, h).all():
        warnings.warn("roi covers the whole image: it steers nothing (the file still records it)",
                      AgdlOptionWarning, stacklevel=3)
    return roi
