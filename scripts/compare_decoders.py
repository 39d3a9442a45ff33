"""Decoder variants on the same files: equality (eq. 10) vs box projection, single pass vs unrolled G<->R,
and how far 8-bit rounding moves the measurements (|H c - y| after rounding vs the cell half-width).

Usage: python scripts/compare_decoders.py [--data ../shared/datasets/duts-te] [--limit 10] [--quality 30]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import agdl_plugins as agdl
from agdl_plugins.apps.bench.runner import find_mask, list_images, load_image
from agdl_plugins.apps.metrics import luma, psnr

VARIANTS = {"equality x1": {"projection": "equality"}, "box x1": {"projection": "box"},
            "equality x2 (unrolled)": {"projection": "equality", "iterations": 2}}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/datasets/duts-te")
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--quality", type=int, default=30)
    a = ap.parse_args()
    root = Path(a.data)
    res: dict[str, list[tuple[float, float]]] = {k: [] for k in VARIANTS}
    outside, max_dev, half = [], [], None
    for path in list_images(root / "images", a.limit):
        rgb, roi, _ = load_image(path, find_mask(root / "masks", path.stem), "auto")
        y = luma(rgb)
        data = agdl.encode(rgb, quality=a.quality)
        for name, kw in VARIANTS.items():
            out = agdl.decode(data, diagnostics=True, **kw)
            res[name].append((psnr(luma(out.array), y), psnr(luma(out.array), y, roi)))
            if name == "equality x1":
                outside.append(out.diagnostics["fraction_outside_cell_uint8"])
                max_dev.append(out.diagnostics["constraint_max_abs_uint8"])
                half = out.info.step / 2
    print(f"{len(outside)} images, base q{a.quality}, default options")
    for name, v in res.items():
        m = np.mean(v, axis=0)
        print(f"{name:>24}: PSNR-Y {m[0]:.3f} dB, ROI-PSNR-Y {m[1]:.3f} dB")
    print(f"after 8-bit rounding (equality): max |H c - y| {max(max_dev):.2f} (cell half-width {half:g}); "
          f"measurements outside the cell: mean {100 * np.mean(outside):.3f} %, max {100 * max(outside):.3f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
