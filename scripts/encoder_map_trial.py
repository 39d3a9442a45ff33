"""Issue 27 item 4: would a map the encoder chooses itself (no user ROI) pay for its bytes?

For each image (JPEG sources shifted off their 8x8 grid as ``agdl bench`` does) and each ``--bpp``, encodes:

* ``norefine``: G alone (``critical_fraction=0``), the bytes on base quality;
* ``default``: AGDL as shipped (the decoder derives the critical set from F on the base layer);
* ``map-tT``: AGDL with ``roi=`` a map the *encoder* can compute — F's saliency on the original, thresholded at
  ``T`` (one ``--thresholds`` each) — carried in the file as the ROI record (its bytes count), with the
  default objective's ``roi_weight`` (0.25) unless ``--roi-weight`` is given;
* ``gerr`` (with ``--gerr``): the same, the map from G's error instead: the 8×8 blocks with the largest
  saliency-weighted squared error of G alone (the ``norefine`` file at the same bpp, decoded) against the
  original, as many blocks as F's map at the first threshold covers (equal area: only *which* blocks differs).

All at ``target_bpp`` (the encoder's rate control, ±3 %). Scores PSNR-Y on the whole image and inside the
ground-truth mask (never seen by the encoder), and prints per variant the BD-PSNR (whole, ROI) against
``norefine`` (the refinement's worth, issue 27 item 4's measure) and against ``default``.

    python scripts/encoder_map_trial.py --data ../shared/datasets/duts-te --limit 20 --json /tmp/map_trial.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402

import agdl_plugins as agdl  # noqa: E402
from agdl_plugins.apps.bench.ratematch import bd_psnr  # noqa: E402
from agdl_plugins.apps.bench.runner import find_mask, list_images, load_image  # noqa: E402
from agdl_plugins.apps.metrics import luma, psnr  # noqa: E402
from agdl_plugins.imaging import ycbcr_planes  # noqa: E402
from agdl_plugins.parts import protocols as P  # noqa: E402
from agdl_plugins.parts.registry import get_registry  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/datasets/duts-te")
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--bpp", default="0.3,0.5,0.75,1.0")
    ap.add_argument("--thresholds", default="0.5", help="saliency thresholds for the encoder's map")
    ap.add_argument("--roi-weight", type=float, default=0.25)
    ap.add_argument("--base", default="jpeg")
    ap.add_argument("--json", default=None)
    ap.add_argument("--gerr", action="store_true", help="also the map from G's error (variant gerr)")
    a = ap.parse_args()
    bpps = [float(x) for x in a.bpp.split(",")]
    ths = [float(x) for x in a.thresholds.split(",")]
    root = Path(a.data)
    reg = get_registry()
    pred = reg.get("predictor", "agdl-f")
    rows = []
    for path in list_images(root / "images", a.limit):
        rgb, roi, _ = load_image(path, find_mask(root / "masks", path.stem), "auto")
        if roi is None or not roi.any():
            continue
        sal = P.predict_saliency(pred, ycbcr_planes(Image.fromarray(rgb)), "cpu")
        y0 = luma(rgb)
        variants = {"norefine": {"critical_fraction": 0.0}, "default": {}}
        for t in ths:
            m = sal >= t
            if m.any() and not m.all():
                variants[f"map-t{t}"] = {"roi": m, "roi_weight": a.roi_weight}
        if a.gerr:
            variants["gerr"] = {"roi_weight": a.roi_weight}
        rec = {"image": path.stem, "roi_frac": float(roi.mean()), "pixels": int(y0.size)}
        alone: list[np.ndarray] = []  # G alone's decoded luminance per bpp (the norefine files)
        for name, extra in variants.items():
            pts = []
            for i, b in enumerate(bpps):
                if name == "gerr":
                    m = _gerr_map(y0, alone[i], sal, int((_blocks(sal) >= ths[0]).sum()))
                    if m is None:
                        break
                    extra = {**extra, "roi": m}
                blob = agdl.encode(rgb, base=a.base, target_bpp=b, **extra)
                dy = luma(agdl.decode(blob).array)
                if name == "norefine":
                    alone.append(dy)
                roi_bytes = agdl.read_info(blob).layer_bytes.get("roi", 0)
                pts.append((len(blob) * 8 / y0.size, psnr(y0, dy, roi), psnr(y0, dy), roi_bytes))
            if len(pts) == len(bpps):
                rec[name] = pts
        rows.append(rec)
        print(path.stem, {k: [round(p[1], 2) for p in v] for k, v in rec.items() if isinstance(v, list)},
              flush=True)
    names = sorted({k for r in rows for k in r if isinstance(r[k], list)})
    print(f"\n{len(rows)} images, base {a.base}, bpp {bpps}; BD-PSNR-Y (ROI / whole), mean over images")
    for name in names:
        for anchor in ("norefine", "default"):
            if name == anchor:
                continue
            roi_d, whole_d = [], []
            for r in rows:
                if name not in r:
                    continue
                an, te = np.array(r[anchor]), np.array(r[name])
                roi_d.append(bd_psnr(an[:, 0], an[:, 1], te[:, 0], te[:, 1]))
                whole_d.append(bd_psnr(an[:, 0], an[:, 2], te[:, 0], te[:, 2]))
            roi_v, whole_v = np.array(roi_d, float), np.array(whole_d, float)
            print(f"  {name:10s} vs {anchor:9s}: ROI {np.nanmean(roi_v):+.3f} dB  whole {np.nanmean(whole_v):+.3f} dB"
                  f"  (n={np.isfinite(roi_v).sum()})")
        if name.startswith("map") or name == "gerr":
            nb = [p[3] for r in rows if name in r for p in r[name]]
            share = [p[3] * 8 / (p[0] * r["pixels"]) for r in rows if name in r for p in r[name]]
            print(f"  {name:10s} map: mean {np.mean(nb):.1f} bytes, {100 * np.mean(share):.2f} % of the file "
                  f"(max {100 * np.max(share):.2f} %)")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    return 0


def _blocks(a: np.ndarray, b: int = 8) -> np.ndarray:
    """(ceil(H/b), ceil(W/b)) block means of an (H, W) array (edge blocks average what they hold)."""
    h, w = a.shape
    p = np.pad(a.astype(np.float64), ((0, -h % b), (0, -w % b)), mode="edge")
    return p.reshape(p.shape[0] // b, b, p.shape[1] // b, b).mean(axis=(1, 3))


def _gerr_map(y0: np.ndarray, g: np.ndarray, sal: np.ndarray, k: int) -> np.ndarray | None:
    """(H, W) bool: the ``k`` 8x8 blocks with the largest mean saliency x squared error of G alone."""
    score = _blocks(sal * (y0.astype(np.float64) - g) ** 2)
    if k <= 0 or k >= score.size:
        return None
    keep = np.zeros(score.size, bool)
    keep[np.argsort(-score, axis=None, kind="stable")[:k]] = True
    m = np.kron(keep.reshape(score.shape), np.ones((8, 8), bool))
    return m[: y0.shape[0], : y0.shape[1]]


if __name__ == "__main__":
    raise SystemExit(main())
