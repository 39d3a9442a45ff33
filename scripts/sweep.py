"""Sweep AGDL's refinement budget (critical fraction x step x measurement ratio) on a dataset with ROI masks.

For each image, base quality and config: AGDL bytes -> JPEG and "G alone" (AGDL with no refinement layer,
base quality raised to spend the same bytes) bisected to the same size; ROI-PSNR-Y gains are reported.
Usage: python scripts/sweep.py --data ../shared/datasets/duts-te --limit 20 --qualities 20 40 \
           --fractions 0.03 0.06 0.1 --steps 8 12 16 --ratios 1.0
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

import agdl_plugins as agdl
from agdl_plugins.apps.bench.codecs import JpegCodec
from agdl_plugins.apps.bench.ratematch import match_bytes
from agdl_plugins.apps.bench.runner import find_mask, list_images, load_image
from agdl_plugins.apps.metrics import luma, psnr


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/datasets/duts-te")
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--skip", type=int, default=0, help="skip the first K images (tune off the reported subset)")
    ap.add_argument("--qualities", type=int, nargs="+", default=[20, 40])
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.03, 0.06, 0.1])
    ap.add_argument("--steps", type=float, nargs="+", default=[8, 12, 16])
    ap.add_argument("--ratios", type=float, nargs="+", default=[1.0])
    ap.add_argument("--predictor", default=None)
    ap.add_argument("--restorer", default=None)
    ap.add_argument("--out", default="bench_out/sweep.json")
    a = ap.parse_args()
    root = Path(a.data)
    images = list_images(root / "images", a.skip + a.limit)[a.skip:]
    jpeg = JpegCodec("jpeg", "Pillow JPEG")
    parts = {k: v for k, v in (("predictor", a.predictor), ("restorer", a.restorer)) if v}
    rows = []
    for path in images:
        rgb, roi, _ = load_image(path, find_mask(root / "masks", path.stem), "auto")
        y = luma(rgb)
        for q, frac, step, ratio in itertools.product(a.qualities, a.fractions, a.steps, a.ratios):
            data = agdl.encode(rgb, quality=q, critical_fraction=frac, step=step, measurement_ratio=ratio, **parts)
            out = agdl.decode(data).array
            m = match_bytes(lambda k, im=rgb: jpeg.encode(im, k), len(data), 1, 100, integer=False, guess=q)
            jy = luma(jpeg.decode(m.data))
            g = match_bytes(lambda k, im=rgb: agdl.encode(im, quality=int(k), critical_fraction=0.0, **parts),
                            len(data), 1, 100, integer=True, guess=q)
            gy = luma(agdl.decode(g.data).array)
            row = {"image": path.stem, "q": q, "fraction": frac, "step": step, "ratio": ratio,
                   "bpp": 8 * len(data) / y.size, "roi_agdl": psnr(luma(out), y, roi), "roi_jpeg": psnr(jy, y, roi),
                   "roi_g": psnr(gy, y, roi), "psnr_agdl": psnr(luma(out), y), "psnr_jpeg": psnr(jy, y),
                   "g_ratio": len(g.data) / len(data)}
            rows.append(row)
        print(f"{path.stem}: done", flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(rows))
    head = ("q", "frac", "step", "ratio", "bpp", "ROI vs JPEG", "ROI vs G", "all vs JPEG")
    print(" ".join(f"{h:>11}" for h in head))
    for key, grp in itertools.groupby(sorted(rows, key=lambda r: (r["q"], r["fraction"], r["step"], r["ratio"])),
                                      key=lambda r: (r["q"], r["fraction"], r["step"], r["ratio"])):
        g = list(grp)
        mean = {k: float(np.mean([r[k] for r in g])) for k in g[0] if k != "image"}
        vals = [f"{v:>11}" for v in key] + [f"{mean['bpp']:11.3f}"]
        vals += [f"{mean['roi_agdl'] - mean['roi_jpeg']:+11.2f}", f"{mean['roi_agdl'] - mean['roi_g']:+11.2f}",
                 f"{mean['psnr_agdl'] - mean['psnr_jpeg']:+11.2f}"]
        print(" ".join(vals))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
