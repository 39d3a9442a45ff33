"""Encode time of base="auto" vs a single-base encode of the same image, side by side in one process (issue 28).

Alternates the two encodes per image (so machine load hits both alike) and prints the per-image ratio and the
median over the images; also which base auto chose and its objective per base.

    python scripts/auto_timing.py --data ../shared/datasets/duts-te --limit 8 --bpp 0.5 --base jpeg
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import agdl_plugins as agdl  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/datasets/duts-te"))
    ap.add_argument("--limit", type=int, default=8)
    ap.add_argument("--bpp", type=float, default=0.5)
    ap.add_argument("--base", default="jpeg", help="the single base to compare with (default jpeg)")
    a = ap.parse_args()
    files = sorted((a.data / "images").iterdir())[: a.limit]
    ratios = []
    agdl.encode(np.full((64, 64, 3), 128, np.uint8), target_bpp=1.0)  # load the networks before timing
    for f in files:
        rgb = np.asarray(Image.open(f).convert("RGB"))
        t0 = time.perf_counter()
        agdl.encode(rgb, base=a.base, target_bpp=a.bpp)
        t1 = time.perf_counter()
        blob = agdl.encode(rgb, base="auto", target_bpp=a.bpp)
        t2 = time.perf_counter()
        info = agdl.read_info(blob)
        ratios.append((t2 - t1) / (t1 - t0))
        choice = {k: (None if v is None else round(v, 6)) for k, v in info.base_choice.items()}
        print(f"{f.name}: {a.base} {t1 - t0:.2f} s, auto {t2 - t1:.2f} s (x{ratios[-1]:.2f}), chose "
              f"{info.base_codec} {choice}")
    print(f"median auto / {a.base} encode time over {len(ratios)} images: x{statistics.median(ratios):.2f} "
          f"(max x{max(ratios):.2f})")


if __name__ == "__main__":
    main()
