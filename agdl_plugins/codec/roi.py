"""The user's region of interest in the pipeline (issue 27): what the encoder transmits and how it spends bits by it.

* :func:`transmitted` turns a checked :class:`agdl_plugins.roi.Roi` into the ``ROIM`` record
  (:mod:`agdl_plugins.format.roi`: boxes, or the block bitmap of a mask) and the (H, W) map the decoder will
  rebuild from it -- the encoder uses that map, never the user's, so both sides agree exactly;
* :func:`file_roi` is the decoder's side: the file's map, or None;
* :func:`background_prefilter` is the WebP/AVIF base layer's lever: a Gaussian blur of the background outside a
  feathered ROI before the base codec runs (the JPEG bases use ``jpeg-saliency``'s coefficient control with the
  map instead, :func:`agdl_plugins.codec.encoder.encode_base`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from agdl_plugins.format import roi as R
from agdl_plugins.format.parse import Parsed
from agdl_plugins.roi import Roi

#: Gaussian sigma (px) of the background pre-filter per base codec (0: off). Measured in BENCHMARKS.md §23.
BACKGROUND_SIGMA: dict[str, float] = {"webp": 0.0, "avif": 0.0}  # sigma 1 and 2 lost on ROI and whole


@dataclass(frozen=True, eq=False)
class TransmittedRoi:
    """What a file carries: ``record`` (the ``ROIM`` payload) and ``mask``, the (H, W) bool map the decoder
    rebuilds from it (the user's ROI widened to whole blocks)."""

    record: bytes
    mask: np.ndarray


def transmitted(roi: Roi, width: int, height: int) -> TransmittedRoi:
    """The record and decoder-side map of a checked ROI of a ``width`` x ``height`` image.

    Boxes are sent as boxes (:func:`agdl_plugins.format.roi.pack_boxes`: a few bytes each); a mask as a
    bitmap of :func:`agdl_plugins.format.roi.bitmap_block` blocks (a block is in when any of its pixels is).
    """
    if roi.boxes is not None:
        record = R.pack_boxes(list(roi.boxes), width, height)
    else:
        b = R.bitmap_block(width, height)
        gw, gh = R.grid(width, height, b)
        m = np.zeros((gh * b, gw * b), bool)
        m[:height, :width] = roi.pixel_mask(width, height)
        blocks = m.reshape(gh, b, gw, b).any(axis=(1, 3))
        record = R.pack_bitmap(blocks.reshape(-1).astype(np.uint8).tolist(), width, height, b)
    return TransmittedRoi(record, R.unpack(record, width, height).pixel_map())


def file_roi(pf: Parsed) -> np.ndarray | None:
    """The (H, W) bool ROI map a file carries, or None (no ``ROIM`` record)."""
    rec = pf.info.roi_record
    return None if rec is None else rec.pixel_map()


def background_prefilter(color: Image.Image, mask: np.ndarray, sigma: float) -> Image.Image:
    """``color`` (L or RGB) with the background blurred: ``a * color + (1 - a) * blur_sigma(color)``, ``a`` the
    ROI map feathered by a Gaussian of ``sigma`` (1 inside the ROI's core, 0 far outside). ``sigma <= 0``:
    ``color`` itself."""
    if sigma <= 0:
        return color
    blurred = np.asarray(color.filter(ImageFilter.GaussianBlur(sigma)), dtype=np.float64)
    a_img = Image.fromarray(mask.astype(np.uint8) * 255).filter(ImageFilter.GaussianBlur(sigma))
    a = np.maximum(np.asarray(a_img, dtype=np.float64) / 255.0, mask)
    a = a[..., None] if blurred.ndim == 3 else a
    out = a * np.asarray(color, dtype=np.float64) + (1.0 - a) * blurred
    return Image.fromarray(np.clip(np.round(out), 0, 255).astype(np.uint8), color.mode)
