"""Saliency-aware JPEG (``jpeg-saliency``) vs plain JPEG: rate-distortion on a masked dataset.

For each image both codecs are run over the same fractional-quality grid (same libjpeg tables, optimised
Huffman, 4:2:0); per image we report BD-PSNR (ROI and whole image, luminance) over the overlapping rate
range, and ROI/whole PSNR at fixed bits per pixel by interpolation in log-rate. The saliency map comes from
network F (the ROI masks are used only for scoring).

    python scripts/eval_saliency_jpeg.py --data ../shared/datasets/duts-te --limit 20 --max-step 4
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agdl_plugins.apps.bench.codecs import JpegCodec  # noqa: E402
from agdl_plugins.apps.bench.ratematch import bd_psnr  # noqa: E402
from agdl_plugins.apps.bench.runner import find_mask, list_images, load_image  # noqa: E402
from agdl_plugins.apps.metrics import luma, psnr  # noqa: E402
from agdl_plugins.parts.registry import get_registry  # noqa: E402
from agdl_plugins.parts.saliency_jpeg import (  # noqa: E402
    SALIENCY_PREDICTOR_VERSION,
    SaliencyJpegCodec,
    saliency_map,
)

QUALITIES = (5, 8, 12, 17, 25, 35, 50, 65, 80, 90)


def at_bpp(bpp: np.ndarray, val: np.ndarray, target: float) -> float:
    """Value at ``target`` bpp, linear in log-rate; NaN outside the measured range."""
    order = np.argsort(bpp)
    lb, v = np.log(bpp[order]), val[order]
    t = np.log(target)
    return float(np.interp(t, lb, v)) if lb[0] <= t <= lb[-1] else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/datasets/duts-te")
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--max-step", type=float, default=SaliencyJpegCodec.max_step)
    ap.add_argument("--dilate", type=int, default=SaliencyJpegCodec.dilate)
    ap.add_argument("--bpp", default="0.3,0.5,0.75,1.0")
    ap.add_argument("--oracle", action="store_true", help="use the ground-truth mask as the saliency map "
                    "(upper bound of the mechanism; not a codec result)")
    ap.add_argument("--predictor-version", type=int, default=SALIENCY_PREDICTOR_VERSION,
                    help="the agdl-f whose saliency head drives the coefficient control")
    ap.add_argument("--json", default=None, help="write per-image results here")
    a = ap.parse_args()
    codec, jpeg = SaliencyJpegCodec(), JpegCodec("jpeg", "plain JPEG", integer=False)
    codec.max_step, codec.dilate = a.max_step, a.dilate
    targets = [float(x) for x in a.bpp.split(",")]
    root = Path(a.data)
    rows = []
    for path in list_images(root / "images", a.limit):
        rgb, roi, _ = load_image(path, find_mask(root / "masks", path.stem), "auto")
        if roi is None or not roi.any():
            continue
        img = Image.fromarray(rgb)
        sal = roi.astype(np.float32) if a.oracle else saliency_map(img, "cpu", get_registry(), a.predictor_version)
        y0 = luma(rgb)
        curves = {}
        for name in ("jpeg", "sal"):
            pts = []
            for q in QUALITIES:
                data = jpeg.encode(rgb, q) if name == "jpeg" else codec.encode(img, q, sal)
                dec = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
                dy = luma(dec)
                pts.append((len(data) * 8 / y0.size, psnr(y0, dy, roi), psnr(y0, dy)))
            curves[name] = np.array(pts)
        j, s = curves["jpeg"], curves["sal"]
        row = {"image": path.stem, "roi_frac": float(roi.mean()),
               "bd_roi": bd_psnr(j[:, 0], j[:, 1], s[:, 0], s[:, 1]),
               "bd_whole": bd_psnr(j[:, 0], j[:, 2], s[:, 0], s[:, 2])}
        for t in targets:
            row[f"roi_gain@{t}"] = at_bpp(s[:, 0], s[:, 1], t) - at_bpp(j[:, 0], j[:, 1], t)
            row[f"whole_gain@{t}"] = at_bpp(s[:, 0], s[:, 2], t) - at_bpp(j[:, 0], j[:, 2], t)
        rows.append(row)
        print(f"{path.stem:28s} roi {row['roi_frac']:.2f}  BD-PSNR ROI {row['bd_roi']:+.2f}  "
              f"whole {row['bd_whole']:+.2f}", flush=True)
    keys = ["bd_roi", "bd_whole"] + [f"{k}@{t}" for t in targets for k in ("roi_gain", "whole_gain")]
    tag = " ORACLE saliency" if a.oracle else ""
    print(f"\n{len(rows)} images, agdl-f@{a.predictor_version}, max_step {a.max_step}, dilate {a.dilate}{tag} "
          "(mean over images with a value)")
    for k in keys:
        v = np.array([r[k] for r in rows], dtype=float)
        v = v[np.isfinite(v)]
        print(f"  {k:18s} {v.mean():+.2f} dB  (n={v.size}, median {np.median(v):+.2f})")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
