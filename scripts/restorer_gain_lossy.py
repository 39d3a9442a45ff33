"""The WebP/AVIF restorer (agdl-g-webp-avif) alone vs its base layer at the same quality: PSNR-Y gain on
held-out photos. The base layer is made exactly as the codec makes it (RGB through the base codec part, luma
of its YCbCr decode); the restorer is bound to (codec, quality) as the decoder binds it from the HEAD.
JPEG sources (DUTS-TE) lose 4 rows/columns at the top-left as in ``agdl bench`` (``--grid-shift auto``): on
the source's own 8x8 grid the restorer would also remove the source's JPEG blocking, which the reference keeps.

    python scripts/restorer_gain_lossy.py --data ../shared/datasets/kodak24/images --limit 24
    python scripts/restorer_gain_lossy.py --data ../shared/datasets/duts-te/images --limit 30
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from agdl_plugins.apps.bench.runner import load_image
from agdl_plugins.apps.metrics import psnr
from agdl_plugins.parts.registry import get_registry
from agdl_plugins.parts.restorers import LOSSY_RESTORER_ID, bind

QUALITIES = {"webp": (10, 30, 60), "avif": (25, 40, 60)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/datasets/kodak24/images")
    ap.add_argument("--limit", type=int, default=24)
    ap.add_argument("--codecs", nargs="+", default=["webp", "avif"], choices=sorted(QUALITIES))
    ap.add_argument("--version", type=int, default=None, help="weights version (default: latest)")
    ap.add_argument("--grid-shift", choices=["auto", "always", "never"], default="auto",
                    help="drop 4 rows/cols at top-left: auto = JPEG sources only (as agdl bench)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    reg = get_registry()
    g = reg.get("restorer", LOSSY_RESTORER_ID, a.version)
    paths = sorted(p for p in Path(a.data).iterdir() if p.suffix.lower() in (".png", ".jpg"))[: a.limit]
    print(f"{LOSSY_RESTORER_ID}@{g.version} on {len(paths)} images of {a.data} (grid shift {a.grid_shift})")
    for codec in a.codecs:
        part = reg.get("base_codec", codec)
        for q in QUALITIES[codec]:
            gains, base, bpp = [], [], []
            for p in paths:
                rgb = Image.fromarray(load_image(p, None, a.grid_shift)[0])
                y = np.asarray(rgb.convert("YCbCr"))[..., 0]
                data = part.encode(rgb, q)
                yb = part.decode(data, "RGB", rgb.size).luma
                yg = np.clip(np.round(bind(g, codec, q).restore(yb, None, "cpu")), 0, 255).astype(np.uint8)
                base.append(psnr(yb, y))
                gains.append(psnr(yg, y) - psnr(yb, y))
                bpp.append(8 * len(data) / (rgb.width * rgb.height))
            print(f"{codec} q{q}: {np.mean(bpp):.3f} bpp, base PSNR-Y {np.mean(base):.2f} dB, "
                  f"G gain {np.mean(gains):+.3f} dB (min {np.min(gains):+.3f}, {len(gains)} images)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
