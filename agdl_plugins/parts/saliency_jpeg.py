"""Base codec ``jpeg-saliency``: a standard baseline JPEG whose bits follow saliency (issue 7).

Mechanism (chosen because it needs no JPEG internals and any decoder reads the result): before encoding,
pixels outside the salient region are blended towards a Gaussian-blurred copy,
``I' = w * I + (1 - w) * blur(I)`` with ``w`` the saliency map. Blurred background blocks lose their
high-frequency DCT coefficients, which then quantise to zero and cost almost nothing, so at equal total
size the global quality - and hence the salient region's quality - can be higher.

The saliency map comes from the project's trained network F (``agdl-f``; it predicts critical pixels,
which lie on salient edges), smoothed and dilated into a region. The decoder needs nothing: the output is
an ordinary JPEG (``JpegCodec.decode``).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

from .base_codecs import JpegCodec


def saliency_map(rgb: Image.Image, device: str = "cpu", registry=None) -> np.ndarray:
    """(H, W) float32 saliency in [0, 1] from network F's logits on a high-quality view of the image."""
    if registry is None:
        from ..registry import get_registry

        registry = get_registry()
    pred = registry.get("predictor", "agdl-f")
    grey = rgb.convert("L")
    buf = io.BytesIO()
    grey.save(buf, "JPEG", quality=90)
    im = Image.open(buf)
    qt = np.asarray(im.quantization[0], dtype=np.int32)
    logits = pred.scores(np.asarray(im), qt, device)
    p = 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))
    # spread sparse edge probabilities into a region: max-filter then blur, normalise
    pim = Image.fromarray(np.clip(p * 255 / max(p.max(), 1e-6), 0, 255).astype(np.uint8))
    side = max(rgb.size)
    pim = pim.filter(ImageFilter.MaxFilter(9)).filter(ImageFilter.GaussianBlur(max(4, side // 40)))
    s = np.asarray(pim).astype(np.float32) / 255.0
    return np.clip(s / max(float(s.max()), 1e-6) * 1.5, 0.0, 1.0)


class SaliencyJpegCodec(JpegCodec):
    """Saliency-aware JPEG: background blurred before encoding; decodes as plain JPEG."""

    id = "jpeg-saliency"
    version = 1
    blur_radius = 2.5

    def prefilter(self, image: Image.Image, saliency: np.ndarray) -> Image.Image:
        blurred = np.asarray(image.filter(ImageFilter.GaussianBlur(self.blur_radius))).astype(np.float32)
        orig = np.asarray(image).astype(np.float32)
        w = saliency if orig.ndim == 2 else saliency[..., None]
        out = w * orig + (1.0 - w) * blurred
        return Image.fromarray(np.clip(np.round(out), 0, 255).astype(np.uint8))

    def encode(self, image: Image.Image, quality: int) -> bytes:
        sal = saliency_map(image.convert("RGB"))
        return super().encode(self.prefilter(image, sal), quality)
