"""MS-SSIM on R, G, B (what ``agdl bench`` reports) next to MS-SSIM on luminance Y alone, for AGDL and its peers
at AGDL's bytes: does AGDL's MS-SSIM deficit come from colour (its refinement corrects luminance only, chroma
is the base layer's)?

    python scripts/msssim_luma.py --data ../shared/datasets/duts-te --limit 20 --bpp 0.5

Same images, grid shift, rate matching and metrics as ``agdl bench`` (first N images by name).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from agdl_plugins.apps.bench import metrics as M
from agdl_plugins.apps.bench.codecs import build_codecs
from agdl_plugins.apps.bench.runner import find_mask, list_images, load_image, match_peer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="data set folder with images/ and masks/")
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--bpp", type=float, default=0.5)
    ap.add_argument("--codecs", default="jpeg,webp,avif")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    codecs, _ = build_codecs(["agdl", *a.codecs.split(",")], {}, "cpu")
    keys = ("ms_ssim_db", "roi_ms_ssim_db", "y_ms_ssim_db", "y_roi_ms_ssim_db")
    acc: dict[str, dict[str, list[float]]] = {c.name: {k: [] for k in keys} for c in codecs}
    for path in list_images(a.data / "images", a.limit):
        rgb, roi, _ = load_image(path, find_mask(a.data / "masks", path.stem), "auto")
        ref = M.make_reference(rgb, roi)
        data = codecs[0].encode(rgb, None, target_bpp=a.bpp)
        import agdl_plugins as agdl

        q = agdl.read_info(data).quality
        y = torch.from_numpy(ref.y.astype(np.float32))[None, None]
        mask = torch.from_numpy(roi.astype(np.float32))[None, None] if roi is not None else None
        for c in codecs:
            enc = data if c is codecs[0] else match_peer(c, rgb, len(data), q).data
            dec = c.decode(enc)
            m = M.quality(ref, dec)
            dy = torch.from_numpy(M.luma(dec).astype(np.float32))[None, None]
            with torch.inference_mode():
                ym = M.ms_ssim(y, dy)[1]
                yr = M.ms_ssim(y, dy, mask=mask)[1] if mask is not None else float("nan")
            for k, v in zip(keys, (m["ms_ssim_db"], m["roi_ms_ssim_db"], M.ms_ssim_db(ym), M.ms_ssim_db(yr))):
                acc[c.name][k].append(v)
    n = len(acc[codecs[0].name][keys[0]])
    print(f"{n} images, AGDL at {a.bpp} bpp, peers at its bytes; mean MS-SSIM in dB (-10 log10(1 - MS-SSIM))")
    print(f"{'codec':8s} {'RGB':>7s} {'RGB ROI':>8s} {'Y':>7s} {'Y ROI':>7s}")
    for name, d in acc.items():
        print(f"{name:8s} " + " ".join(f"{np.nanmean(d[k]):7.2f}" for k in keys))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
