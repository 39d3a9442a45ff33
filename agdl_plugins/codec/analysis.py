"""Analysis from the compressed stream: saliency and critical pixels without decoding the image (issue 17).

Everything here comes from the decoded *base layer* and network F (the file's predictor part); the restorer
G — the expensive part of a decode — never runs:

* ``saliency``: F's saliency head on the base luminance, (H, W) float32 in [0, 1] (None for predictors
  without one, e.g. the classical ``edge-sobel``);
* ``critical``: the critical set exactly as the decoder derives it (:func:`agdl_plugins.codec.decoder.critical_mask`);
* ``boxes``: one :class:`RoiBox` per connected salient region (saliency >= :data:`SALIENT`, 8-connectivity).

The public entry point is :func:`agdl_plugins.analyze` (``api.py``); :func:`analyze_parsed` works on a parsed file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from agdl_plugins.format.header import AgdlInfo
from agdl_plugins.format.parse import Parsed
from agdl_plugins.parts import protocols as P
from agdl_plugins.parts.registry import Registry

#: What :func:`agdl_plugins.analyze` can compute (``outputs=``).
OUTPUTS = ("saliency", "critical")
#: A pixel is salient when its saliency is at least this (the threshold F's head was trained and evaluated at).
SALIENT = 0.5


class RoiBox(NamedTuple):
    """A connected salient region: bounding box in PIL's convention (``x1``, ``y1`` exclusive, so
    ``im.crop(box[:4])`` is the region), ``area`` = its salient pixels, ``mean_saliency`` over those pixels."""

    x0: int
    y0: int
    x1: int
    y1: int
    area: int
    mean_saliency: float

    def as_dict(self) -> dict[str, Any]:
        return self._asdict()


@dataclass
class Analysis:
    """What :func:`agdl_plugins.analyze` returns.

    ``saliency``: (H, W) float32 in [0, 1], or None (not asked for, or the file's predictor has no saliency
    head: see ``notes``). ``critical``: (H, W) bool, or None when not asked for (all False for a file without
    refinement). ``boxes``: salient regions, largest first (None without a saliency map). ``info``: the header.
    ``roi``: the file's transmitted region of interest (None without one).
    """

    saliency: np.ndarray | None
    critical: np.ndarray | None
    boxes: list[RoiBox] | None
    info: AgdlInfo
    notes: list[str] = field(default_factory=list)
    #: the region of interest the file transmits (:attr:`agdl_plugins.AgdlInfo.roi`: pixel boxes or an (H, W)
    #: bool map), None without one
    roi: Any = None

    def summary(self) -> dict[str, Any]:
        """A JSON-ready dict: size, boxes, critical-pixel count, notes (what ``agdl analyze`` writes)."""
        return {
            "width": self.info.width,
            "height": self.info.height,
            "predictor": f"{self.info.predictor}@{self.info.predictor_version}",
            "salient_threshold": SALIENT,
            "boxes": None if self.boxes is None else [b.as_dict() for b in self.boxes],
            "n_critical": None if self.critical is None else int(self.critical.sum()),
            "roi": None if self.info.roi_record is None else self.info.roi_record.summary(),
            "notes": list(self.notes),
        }


def validate_outputs(outputs: Any) -> tuple[str, ...]:
    """``outputs`` -> a tuple of names from :data:`OUTPUTS` (a single string is one name); ValueError otherwise."""
    if isinstance(outputs, str):
        outputs = (outputs,)
    try:
        out = tuple(dict.fromkeys(outputs))
    except TypeError:
        raise ValueError(f"outputs must be a sequence of {list(OUTPUTS)}, got {outputs!r}") from None
    bad = [o for o in out if o not in OUTPUTS]
    if bad or not out:
        raise ValueError(f"outputs must name one or more of {list(OUTPUTS)}, got {list(outputs)!r}")
    return out


def analyze_parsed(pf: Parsed, reg: Registry, *, outputs: tuple[str, ...] = OUTPUTS,
                 device: str = "auto") -> Analysis:
    """:func:`agdl_plugins.analyze` on a parsed file: base layer + F only, never the restorer."""
    from agdl_plugins.codec.decoder import critical_mask, decode_base, file_predictor
    from agdl_plugins.parts.engine import resolve_device

    outputs = validate_outputs(outputs)
    hdr = pf.header
    dev = resolve_device(device)
    base = decode_base(pf, reg)
    notes: list[str] = []
    fallback = pf.info.fallback  # AGDL-in-JPEG whose AGDL segments are unusable
    if fallback:
        notes.append(f"AGDL segments unusable ({fallback}): analysed the JPEG as it is")
    saliency = boxes = scores = None
    if "saliency" in outputs:
        part = file_predictor(pf, reg)
        if "critical" in outputs and hdr.n_critical:  # one network run for both outputs where F allows it
            scores, sal = P.predict_scores_and_saliency(part, base.planes, base.qtable, dev)
        else:
            sal = P.predict_saliency(part, base.planes, dev)
        if sal is None:
            notes.append(f"no saliency: the file's predictor {hdr.predictor}@{hdr.predictor_version} has no "
                         "saliency head (the default predictor, agdl-f v2 or later, has one)")
        else:  # checked: (H, W) float in [0, 1]
            saliency = np.asarray(sal, dtype=np.float32)
            boxes = roi_boxes(saliency)
    critical = None
    if "critical" in outputs:
        critical = critical_mask(pf, reg, base, device=dev, scores=scores)
        if not hdr.n_critical:
            notes.append("no refinement layer: the critical set is empty")
    return Analysis(saliency, critical, boxes, pf.info, notes, roi=pf.info.roi)


# -- connected salient regions ---------------------------------------------------------------------------


def label_regions(binary: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected components of a (H, W) bool array -> (int32 labels, 0 = background; count).

    ``scipy.ndimage.label`` when scipy is installed, else :func:`_label_runs` (same partition; label numbers
    may differ, callers only use the partition).
    """
    binary = np.asarray(binary, dtype=bool)
    if binary.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {binary.shape}")
    try:
        from scipy import ndimage
    except ImportError:
        return _label_runs(binary)
    labels, n = ndimage.label(binary, structure=np.ones((3, 3), dtype=bool))
    return labels.astype(np.int32, copy=False), int(n)


def _label_runs(binary: np.ndarray) -> tuple[np.ndarray, int]:
    """Pure-numpy fallback: union-find over the horizontal runs of each row (8-connectivity: a run touches a
    run of the row above when their column ranges, widened by one, overlap). Labels in raster order."""
    h, w = binary.shape
    parent: list[int] = []

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    runs: list[tuple[int, int, int, int]] = []  # (row, start, end exclusive, run id)
    prev: list[tuple[int, int, int]] = []
    for y in range(h):
        d = np.diff(np.concatenate(([0], binary[y].view(np.int8), [0])))
        starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
        cur: list[tuple[int, int, int]] = []
        j = 0
        for s, e in zip(starts.tolist(), ends.tolist()):
            rid = len(parent)
            parent.append(rid)
            while j < len(prev) and prev[j][1] < s:  # last column < s - 1: cannot touch
                j += 1
            k = j
            while k < len(prev) and prev[k][0] <= e:  # starts at or before column e (diagonal neighbour)
                a, b = find(rid), find(prev[k][2])
                if a != b:
                    parent[max(a, b)] = min(a, b)
                k += 1
            cur.append((s, e, rid))
            runs.append((y, s, e, rid))
        prev = cur
    labels = np.zeros((h, w), np.int32)
    number: dict[int, int] = {}
    for y, s, e, rid in runs:  # runs are in raster order: a root is numbered at its first pixel
        labels[y, s:e] = number.setdefault(find(rid), len(number) + 1)
    return labels, len(number)


def roi_boxes(saliency: np.ndarray, threshold: float = SALIENT) -> list[RoiBox]:
    """Connected regions of ``saliency >= threshold`` (8-connectivity) as :class:`RoiBox`, largest first
    (ties: top-most, then left-most)."""
    sal = np.asarray(saliency, dtype=np.float32)
    labels, n = label_regions(sal >= threshold)
    if n == 0:
        return []
    ys, xs = np.nonzero(labels)
    lab = labels[ys, xs]
    big = np.iinfo(np.int64).max
    x0, y0 = np.full(n + 1, big, np.int64), np.full(n + 1, big, np.int64)
    x1, y1 = np.full(n + 1, -1, np.int64), np.full(n + 1, -1, np.int64)
    np.minimum.at(x0, lab, xs)
    np.minimum.at(y0, lab, ys)
    np.maximum.at(x1, lab, xs)
    np.maximum.at(y1, lab, ys)
    area = np.bincount(lab, minlength=n + 1)
    total = np.bincount(lab, weights=sal[ys, xs].astype(np.float64), minlength=n + 1)
    boxes = [RoiBox(int(x0[i]), int(y0[i]), int(x1[i]) + 1, int(y1[i]) + 1, int(area[i]),
                    round(float(total[i] / area[i]), 6)) for i in range(1, n + 1)]
    return sorted(boxes, key=lambda b: (-b.area, b.y0, b.x0))
