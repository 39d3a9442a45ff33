"""G alone vs JPEG at the same quality on Kodak luminance (the artefact-removal gain, as DnCNN/QGAC/FBCNN
report it). Usage: python scripts/restorer_gain.py [--data ../shared/datasets/kodak24/images] [--limit 24]"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image

from agdl_plugins.apps.metrics import psnr
from agdl_plugins.parts.registry import get_registry


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/datasets/kodak24/images")
    ap.add_argument("--limit", type=int, default=24)
    ap.add_argument("--qualities", type=int, nargs="+", default=[10, 20, 30])
    ap.add_argument("--versions", type=int, nargs="+", default=None, help="G weight versions (default: latest)")
    a = ap.parse_args()
    for v in a.versions or [None]:
        g = get_registry().get("restorer", "agdl-g", v)
        print(f"agdl-g@{g.version}")
        run(g, a)
    return 0


def run(g, a: argparse.Namespace) -> None:
    for q in a.qualities:
        gains, base = [], []
        for p in sorted(Path(a.data).glob("*.png"))[: a.limit]:
            y = np.asarray(Image.open(p).convert("RGB").convert("YCbCr"))[..., 0]
            buf = io.BytesIO()
            Image.fromarray(y).save(buf, "JPEG", quality=q, optimize=True)
            im = Image.open(buf)
            yb = np.asarray(im)
            yg = np.clip(np.round(g.restore(yb, np.asarray(im.quantization[0]), "cpu")), 0, 255).astype(np.uint8)
            base.append(psnr(yb, y))
            gains.append(psnr(yg, y) - psnr(yb, y))
        print(f"q{q}: JPEG PSNR-Y {np.mean(base):.2f} dB, G gain {np.mean(gains):+.2f} dB ({len(gains)} images)")


if __name__ == "__main__":
    raise SystemExit(main())
