"""Issue 27: sweep the user-ROI encoder knobs (roi_weight, the JPEG base's coefficient control, the WebP/AVIF
background pre-filter) on DUTS-TE images OUTSIDE the benchmark's first 20 (sorted 21..), ground-truth masks,
JPEG sources shifted 4 px as ``agdl bench`` does; AVIF (speed 6) bisected to each file's bytes as the yardstick.

    PYTHONPATH=. python scripts/roi_sweep.py --first 20 --count 6 --bpp 0.5
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import agdl_plugins as agdl
from agdl_plugins.apps.bench.codecs import build_codecs
from agdl_plugins.apps.bench.metrics import make_reference, quality
from agdl_plugins.apps.bench.ratematch import match_bytes
from agdl_plugins.apps.bench.runner import find_mask, list_images, load_image
from agdl_plugins.codec import encoder
from agdl_plugins.codec import roi as codec_roi

VARIANTS = {  # name: (encode options, ROI_JPEG_BASE, background sigma for webp/avif)
    "jpeg rw0.25": ({"base": "jpeg", "roi_weight": 0.25}, "jpeg-saliency", 0.0),
    "jpeg rw0.5": ({"base": "jpeg", "roi_weight": 0.5}, "jpeg-saliency", 0.0),
    "jpeg rw0.8": ({"base": "jpeg", "roi_weight": 0.8}, "jpeg-saliency", 0.0),
    "jpeg rw0.5 plain": ({"base": "jpeg", "roi_weight": 0.5}, "jpeg", 0.0),
    "avif rw0.5 s0": ({"base": "avif", "roi_weight": 0.5}, "jpeg-saliency", 0.0),
    "avif rw0.5 s1": ({"base": "avif", "roi_weight": 0.5}, "jpeg-saliency", 1.0),
    "avif rw0.5 s2": ({"base": "avif", "roi_weight": 0.5}, "jpeg-saliency", 2.0),
    "jpeg rw0.1 plain": ({"base": "jpeg", "roi_weight": 0.1}, "jpeg", 0.0),
    "jpeg rw0.25 plain": ({"base": "jpeg", "roi_weight": 0.25}, "jpeg", 0.0),
    "avif rw0.1 s0": ({"base": "avif", "roi_weight": 0.1}, "jpeg-saliency", 0.0),
    "avif rw0.25 s0": ({"base": "avif", "roi_weight": 0.25}, "jpeg-saliency", 0.0),
    "avif rw0.25 s0.5": ({"base": "avif", "roi_weight": 0.25}, "jpeg-saliency", 0.5),
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--root", type=Path, default=Path("../shared/datasets/duts-te"))
    p.add_argument("--first", type=int, default=20)
    p.add_argument("--count", type=int, default=6)
    p.add_argument("--bpp", type=float, default=0.5)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--out", type=Path, default=Path("/tmp/roi_sweep.jsonl"))
    a = p.parse_args()
    files = list_images(a.root / "images", a.first + a.count)[a.first:]
    avif = [c for c in build_codecs(["agdl", "avif"], {}, "cpu")[0] if c.name == "avif"][0]
    with a.out.open("a") as log:
        for path in files:
            rgb, roi, _ = load_image(path, find_mask(a.root / "masks", path.stem), "auto")
            ref = make_reference(rgb, roi)
            for name in a.variants.split(","):
                opts, jbase, sigma = VARIANTS[name]
                encoder.ROI_JPEG_BASE = jbase
                codec_roi.BACKGROUND_SIGMA.update(webp=sigma, avif=sigma)
                data = agdl.encode(rgb, target_bpp=a.bpp, roi=roi, device="cpu", **opts)
                q = quality(ref, agdl.decode(data).array[..., :3])
                m = match_bytes(lambda k, x=rgb: avif.encode(x, k), len(data), avif.lo, avif.hi, integer=avif.integer)
                qa = quality(ref, avif.decode(m.data))
                rec = {"image": path.name, "variant": name, "bpp": a.bpp, "bytes": len(data),
                       "roi_bytes": agdl.read_info(data).layer_bytes.get("roi", 0),
                       "roi_psnr_y": q["roi_psnr_y"], "psnr_y": q["psnr_y"], "avif_bytes": len(m.data),
                       "avif_roi_psnr_y": qa["roi_psnr_y"], "avif_psnr_y": qa["psnr_y"]}
                print(json.dumps(rec), flush=True)
                log.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
