"""One image, AGDL and its peers at AGDL's bytes: the decoded images, their metrics, AGDL's critical pixels
and saliency, and two crops worth looking at (what ``agdl compare`` and ``agdl bench --html`` show).

The rate matching is the benchmark's (:func:`agdl_plugins.apps.bench.runner.match_peer`), the metrics are the
benchmark's (:func:`agdl_plugins.apps.bench.metrics.quality`), so a page and a ``bench`` row of the same image
and rate agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agdl_plugins.apps.bench import metrics as M
from agdl_plugins.apps.bench.codecs import AgdlCodec, build_codecs
from agdl_plugins.apps.bench.runner import match_peer

DEFAULT_PEERS = ("jpeg", "webp", "avif")
CROP_MAX = 128  # crop side in pixels (smaller images: half their short side, at least 16)
CROP_STRIDE = 4


@dataclass
class Entry:
    """One decoded image on the page: ``rgb`` (H, W, 3) uint8; ``nbytes`` None for the original."""

    name: str
    description: str
    rgb: np.ndarray
    nbytes: int | None = None
    knob: float | None = None
    rate_ok: bool = True
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class Crop:
    """A square window ``[y0:y0+size, x0:x0+size]`` of the image and why it was chosen."""

    name: str
    x0: int
    y0: int
    size: int
    why: str

    def of(self, a: np.ndarray) -> np.ndarray:
        return a[self.y0:self.y0 + self.size, self.x0:self.x0 + self.size]


@dataclass
class Comparison:
    """Everything one page section shows about one image."""

    image: str
    entries: list[Entry]  # original first, then agdl, then the peers
    roi: np.ndarray | None  # (H, W) bool: the mask the metrics use (None: no mask given)
    crop_roi: np.ndarray  # (H, W) bool: the region the ROI crop covers (mask, else F's saliency >= 0.5)
    crop_roi_source: str
    saliency: np.ndarray | None  # (H, W) float32 in [0, 1], F's saliency from AGDL's base layer
    critical: np.ndarray  # (H, W) bool, AGDL's critical pixels (all False without refinement)
    crops: list[Crop]
    rate: str  # "0.5 bpp" or "q30"
    target_bytes: int
    agdl_facts: dict[str, Any]
    notes: list[str]

    @property
    def original(self) -> np.ndarray:
        return self.entries[0].rgb


def _window_sums(a: np.ndarray, size: int, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sums of ``a`` (H, W) over every ``size`` x ``size`` window at ``stride``: (sums, ys, xs)."""
    h, w = a.shape
    ii = np.zeros((h + 1, w + 1), np.float64)
    ii[1:, 1:] = np.cumsum(np.cumsum(a.astype(np.float64), 0), 1)
    ys = np.unique(np.r_[np.arange(0, h - size + 1, stride), h - size])
    xs = np.unique(np.r_[np.arange(0, w - size + 1, stride), w - size])
    y, x = np.meshgrid(ys, xs, indexing="ij")
    sums = ii[y + size, x + size] - ii[y, x + size] - ii[y + size, x] + ii[y, x]
    return sums, ys, xs


def choose_crops(rgb: np.ndarray, region: np.ndarray, weight: np.ndarray | None = None,
                 size: int | None = None, stride: int = CROP_STRIDE) -> list[Crop]:
    """The ROI crop (the window with the largest share of ``region``, ties broken by ``weight``, e.g. the
    saliency) and the background crop (among the windows with the least ``region``, the one with the most
    texture = mean absolute luminance gradient of the original).

    Args:
        rgb: (H, W, 3) uint8 original.
        region: (H, W) bool, the region of interest.
        weight: optional (H, W) float tie-breaker for the ROI crop.
        size: crop side (default min(128, max(16, short side // 2))).
    """
    from agdl_plugins.apps.bench.metrics import luma

    h, w = rgb.shape[:2]
    if size is None:
        size = min(CROP_MAX, max(16, min(h, w) // 2))
    size = min(size, h, w)
    cover, ys, xs = _window_sums(region, size, stride)
    score = cover.copy()
    if weight is not None:
        score = score + 1e-3 * _window_sums(weight, size, stride)[0]
    i, j = np.unravel_index(int(np.argmax(score)), score.shape)
    share = cover[i, j] / size**2
    roi = Crop("roi", int(xs[j]), int(ys[i]), size,
               f"largest ROI share: {100 * share:.0f} % of the crop" if share > 0 else "no ROI: most salient")
    y = luma(rgb).astype(np.float64)
    grad = np.zeros_like(y)
    grad[:, 1:] += np.abs(np.diff(y, axis=1))
    grad[1:, :] += np.abs(np.diff(y, axis=0))
    texture = _window_sums(grad, size, stride)[0] / size**2
    least = cover <= cover.min() + 0.05 * size**2  # within 5 % of the least ROI coverage
    t = np.where(least, texture, -np.inf)
    i, j = np.unravel_index(int(np.argmax(t)), t.shape)
    bg = Crop("background", int(xs[j]), int(ys[i]), size,
              f"most texture ({texture[i, j]:.1f} grey levels/px) with {100 * cover[i, j] / size**2:.0f} % ROI")
    return [roi, bg]


def compare_image(rgb: np.ndarray, roi: np.ndarray | None = None, *, bpp: float | None = 0.5,
                  quality: int | None = None, peers: tuple[str, ...] | list[str] = DEFAULT_PEERS,
                  device: str = "auto", agdl_options: dict[str, Any] | None = None, name: str = "image",
                  tolerance: float | None = None) -> Comparison:
    """Encode ``rgb`` with AGDL (at ``bpp`` with its rate control, or at base ``quality``), match each peer
    to AGDL's bytes as ``agdl bench`` does, decode all, measure, and analyse AGDL's file.

    Args:
        rgb: (H, W, 3) uint8.
        roi: (H, W) bool mask for the ROI metrics, or None.
        peers: non-AGDL codec names of :data:`agdl_plugins.apps.bench.codecs.ALL_CODECS` (missing libraries are
            skipped with a note).

    Raises:
        ValueError: bad shapes, an AGDL variant among the peers, neither or both of bpp/quality, or a rate
            AGDL cannot reach on this image.
    """
    import agdl_plugins as agdl
    from agdl_plugins.apps.bench.ratematch import TOLERANCE

    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"compare needs an (H, W, 3) uint8 image, got {rgb.shape} {rgb.dtype}")
    if roi is not None and roi.shape != rgb.shape[:2]:
        raise ValueError(f"ROI mask {roi.shape} does not match the image {rgb.shape[:2]}")
    if (bpp is None) == (quality is None):
        raise ValueError("give exactly one of bpp and quality")
    bad = [p for p in peers if p.startswith("agdl")]
    if bad:
        raise ValueError(f"peers are other codecs, not AGDL variants: {', '.join(bad)}")
    codecs, notes = build_codecs(["agdl", *peers], dict(agdl_options or {}), device)
    ref_codec = codecs[0]
    assert isinstance(ref_codec, AgdlCodec)
    data = ref_codec.encode(rgb, None, target_bpp=bpp) if bpp is not None else ref_codec.encode(rgb, quality)
    info = agdl.read_info(data)
    ref = M.make_reference(rgb, roi)
    h, w = rgb.shape[:2]
    entries = [Entry("original", "the image being coded", rgb)]
    for codec in codecs:
        if codec is ref_codec:
            enc, knob, ok = data, float(info.quality), True
        else:
            m = match_peer(codec, rgb, len(data), info.quality, tolerance or TOLERANCE)
            enc, knob, ok = m.data, m.knob, m.ok
            if not ok:
                notes.append(f"{codec.name}: closest size {len(enc)} B is {100 * (m.ratio - 1):+.1f} % off AGDL's")
        dec = codec.decode(enc)
        q = M.quality(ref, dec)
        entries.append(Entry(codec.name, codec.description, dec, len(enc), knob, ok,
                             {**q, "bpp": 8 * len(enc) / (h * w)}))
    an = agdl.analyze(data, device=device)
    crit = np.asarray(an.critical, bool)
    sal = None if an.saliency is None else np.asarray(an.saliency, np.float32)
    if roi is not None and roi.any():
        region, src = roi, "the ROI mask"
    elif sal is not None and (sal >= 0.5).any():
        region, src = sal >= 0.5, "AGDL's saliency >= 0.5 (no mask given)"
    else:
        region, src = crit, "AGDL's critical pixels (no mask, no salient region)"
    if roi is None:
        notes.append("no ROI mask: ROI metrics not measured")
    crops = choose_crops(rgb, region, sal)
    facts = {"base_quality": info.quality, "base_bytes": info.layer_bytes.get("base"),
             "refinement_bytes": info.layer_bytes.get("refinement"), "n_critical": info.n_critical,
             "predictor": info.predictor, "restorer": info.restorer}
    rate = f"{bpp:g} bpp" if bpp is not None else f"q{quality}"
    return Comparison(name, entries, roi, region, src, sal, crit, crops, rate, len(data), facts, notes)
