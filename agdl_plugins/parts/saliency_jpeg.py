"""Base codec ``jpeg-saliency``: a standard baseline JPEG whose bits follow saliency (issue 7).

Mechanism: **per-block coefficient control before encoding**. JPEG's encoder quantises every 8x8 block
with one table Q. We first take the same block DCT ourselves (on the exact JPEG grid: luma 8x8 blocks,
chroma 8x8 blocks of the 4:2:0-subsampled planes) and re-quantise the AC coefficients of each block with a
coarser step ``Q * s_b``, where ``s_b`` grows from 1 (salient block) to ``max_step`` (background);
the DC term is left alone so no block boundaries appear. The inverse DCT of those coefficients is written
back as pixels and the image is encoded as a normal YCbCr JPEG with table Q. The libjpeg encoder then finds
background coefficients that are (up to pixel rounding) multiples of ``s_b`` -- mostly zero -- which cost
almost nothing, so at equal total size the rate control can afford a finer Q, i.e. a higher quality for the
salient region. Unlike blurring, the background keeps its strongest coefficients (its main edges and
textures), so the whole-image cost is small. The result is an ordinary baseline JPEG: any decoder
(Pillow, libjpeg-turbo, browsers) reads it; AGDL decodes it with :class:`JpegCodec`'s path.

Saliency: the salient-region head of the project's network F (``agdl-f`` v2, pinned: see
:data:`SALIENCY_PREDICTOR_VERSION`; a U-Net trained on DUTS-TR masks), computed on the image itself
(encoder side only; the decoder needs nothing).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from agdl_plugins.errors import MissingPartError
from agdl_plugins.imaging import ycbcr_planes
from agdl_plugins.parts.base_codecs import JpegCodec
from agdl_plugins.parts.jpeg_tables import dct8_matrix, ijg_tables
from agdl_plugins.parts.protocols import predict_saliency

_C = dct8_matrix()


#: The F whose saliency head drives ``jpeg-saliency@2``: the one its max_step/dilate were tuned with (F v3,
#: the codec's default predictor since, was measured here and not adopted: BENCHMARKS.md §9, §17).
#: ``jpeg-saliency@3`` (the default since BENCHMARKS.md §30) is the same coefficient control on F v5's map.
SALIENCY_PREDICTOR_VERSION = 2


def saliency_map(rgb: Image.Image, device: str, registry: Any,
                 version: int = SALIENCY_PREDICTOR_VERSION) -> np.ndarray:
    """(H, W) float32 salient-region probability in [0, 1] from network F ``version``'s saliency head.

    Pinned to :data:`SALIENCY_PREDICTOR_VERSION` (``version`` is for measuring others) so that
    ``jpeg-saliency@2`` writes the same JPEG whichever
    F is the codec's default; the latest ``agdl-f`` is used only where that version is not installed.
    ``registry`` (the caller's :class:`agdl_plugins.parts.registry.Registry`) provides F and ``device`` runs it:
    a part never reaches for the global registry or picks a device itself.

    Raises:
        ValueError: that ``agdl-f`` has no saliency head (e.g. only F v1 installed).
    """
    try:
        pred = registry.get("predictor", "agdl-f", version)
    except MissingPartError:
        pred = registry.get("predictor", "agdl-f")
    planes = ycbcr_planes(rgb if rgb.mode in ("L", "RGB") else rgb.convert("RGB"))
    sal = predict_saliency(pred, planes, device)
    if sal is None:
        raise ValueError(f"jpeg-saliency needs a predictor with a saliency head; agdl-f@{pred.version} has none")
    return sal.astype(np.float32)


def block_weights(saliency: np.ndarray, block: int, dilate: int = 1) -> np.ndarray:
    """(H, W) saliency -> (ceil(H/block), ceil(W/block)) per-block weight: block max, then a
    (2*dilate+1)^2 max filter so the salient region's border blocks keep full quality."""
    h, w = saliency.shape
    bh, bw = -(-h // block), -(-w // block)
    p = np.pad(saliency, ((0, bh * block - h), (0, bw * block - w)), mode="edge")
    m = p.reshape(bh, block, bw, block).max(axis=(1, 3))
    if dilate > 0:
        q = np.pad(m, dilate, mode="edge")
        m = np.max([q[i:i + bh, j:j + bw] for i in range(2 * dilate + 1) for j in range(2 * dilate + 1)], axis=0)
    return m


def requantise_plane(plane: np.ndarray, table: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Re-quantise the AC terms of each 8x8 block of ``plane`` with step ``table * steps[block]``.

    Args:
        plane: (H, W) float, H and W multiples of 8, values in 0..255.
        table: (64,) quantisation table, natural order.
        steps: (H/8, W/8) multipliers >= 1; blocks with multiplier 1 are returned unchanged.
    Returns:
        (H, W) float64 plane (not rounded).
    """
    h, w = plane.shape
    orig = plane.reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3)
    coef = _C @ (orig - 128.0) @ _C.T
    q = table.reshape(8, 8)[None, None] * steps[..., None, None]
    dc = coef[..., 0, 0].copy()
    coef = np.round(coef / q) * q
    coef[..., 0, 0] = dc  # DC untouched: no visible block boundaries
    out = _C.T @ coef @ _C + 128.0
    keep = steps <= 1.0
    out[keep] = orig[keep]
    return out.transpose(0, 2, 1, 3).reshape(h, w)


class SaliencyJpegCodec(JpegCodec):
    """Saliency-aware baseline JPEG: background AC coefficients pre-quantised coarser; decodes as JPEG.

    ``quality`` may be fractional (libjpeg's table scaling), so rate control can match a byte budget.
    """

    id = "jpeg-saliency"
    version = 2
    #: the ``agdl-f`` version whose saliency head the encoder passes to :meth:`encode` (:func:`saliency_map`)
    saliency_predictor = SALIENCY_PREDICTOR_VERSION
    max_step = 8.0  # AC step multiplier for a block of zero saliency
    dilate = 2  # blocks around the salient region kept at full quality

    def steps(self, weights: np.ndarray) -> np.ndarray:
        """Per-block step multiplier from per-block saliency weight in [0, 1]."""
        return 1.0 + (self.max_step - 1.0) * np.clip(1.0 - weights, 0.0, 1.0) ** 2

    def shape(self, image: Image.Image, saliency: np.ndarray, quality: float) -> Image.Image:
        """Return the ``L`` or ``YCbCr`` image whose JPEG at ``quality`` spends its bits by saliency."""
        luma_t, chroma_t = (np.asarray(t, dtype=np.float64) for t in ijg_tables(quality))
        w, h = image.size
        ph, pw = -(-h // 16) * 16, -(-w // 16) * 16
        src = image.convert("L" if image.mode == "L" else "YCbCr")
        a = np.asarray(src, dtype=np.float64)
        a = a[..., None] if a.ndim == 2 else a
        a = np.pad(a, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")
        saliency = np.pad(saliency, ((0, ph - h), (0, pw - w)), mode="edge")
        y = requantise_plane(a[..., 0], luma_t, self.steps(block_weights(saliency, 8, self.dilate)))
        planes = [y]
        if a.shape[2] == 3:  # chroma: 4:2:0 as libjpeg does it (2x2 mean), blocks of 16x16 source pixels
            st = self.steps(block_weights(saliency, 16, self.dilate))
            bg = np.kron(st > 1.0, np.ones((16, 16), dtype=bool))
            for c in (1, 2):
                sub = a[..., c].reshape(ph // 2, 2, pw // 2, 2).mean(axis=(1, 3))
                up = np.kron(requantise_plane(sub, chroma_t, st), np.ones((2, 2)))
                planes.append(np.where(bg, up, a[..., c]))  # salient chroma untouched
        out = [Image.fromarray(np.clip(np.round(p[:h, :w]), 0, 255).astype(np.uint8)) for p in planes]
        return out[0] if len(out) == 1 else Image.merge("YCbCr", out)

    #: the encoder hands :meth:`encode` F's saliency map (:func:`saliency_map`, its registry and device)
    needs_saliency = True

    def encode(self, image: Image.Image, quality: float, saliency: np.ndarray | None = None) -> bytes:
        """Encode an ``L`` or ``RGB`` image; ``saliency``: (H, W) in [0, 1], e.g. :func:`saliency_map`.

        Raises:
            ValueError: no saliency map given, or one of another size than the image.
        """
        if saliency is None:
            raise ValueError("jpeg-saliency encodes with a saliency map: pass saliency=saliency_map(image, "
                             "device, registry)")
        if saliency.shape != (image.size[1], image.size[0]):
            raise ValueError(f"saliency map is {saliency.shape}, image is {image.size[::-1]}")
        buf = io.BytesIO()
        shaped = self.shape(image, saliency, quality)
        shaped.save(buf, "JPEG", qtables=ijg_tables(quality)[: 1 if shaped.mode == "L" else 2], optimize=True,
                    subsampling="4:2:0")
        return buf.getvalue()


class SaliencyJpegCodecV3(SaliencyJpegCodec):
    """``jpeg-saliency@3``: @2's coefficient control (same ``max_step``/``dilate``) on F v5's saliency map, which
    won on SOD and human-seg (BENCHMARKS.md §30). The latest version, so ``base="jpeg-saliency"`` writes it."""

    version = 3
    saliency_predictor = 5


class SaliencyJpegCodecV1(JpegCodec):
    """``jpeg-saliency@1`` (background pre-blurred): its files are plain JPEGs and decode; no longer encodes."""

    id = "jpeg-saliency"
    version = 1

    def encode(self, image: Image.Image, quality: float) -> bytes:
        raise ValueError("jpeg-saliency@1 is superseded by @2 and only decodes")
