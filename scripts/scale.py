"""Scale check: encode + decode time and peak RSS at 1, 6 and 24 megapixels (each in a fresh process).

Usage: python scripts/scale.py [--mp 1 6 24] [--photo PATH]
The test photo is a tiled (mirrored) upscale of a real photo (default: scikit-image astronaut).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import numpy as np
import agdl_plugins as agdl
from PIL import Image
mp, photo, what = float(sys.argv[1]), sys.argv[2], sys.argv[3]
if photo == "-":
    from skimage import data
    src = data.astronaut()
else:
    src = np.asarray(Image.open(photo).convert("RGB"))
side_w = int((mp * 1e6 * 3 / 2) ** 0.5); side_h = int(side_w * 2 / 3)
reps = (side_h // src.shape[0] + 1, side_w // src.shape[1] + 1, 1)
img = np.ascontiguousarray(np.tile(np.concatenate([src, src[:, ::-1]], axis=1), reps)[:side_h, :side_w])
path = f"/tmp/agdl_scale_{mp}.agdl"
t0 = time.perf_counter()
if what == "encode":
    data = agdl.encode(img, quality=30)
    open(path, "wb").write(data)
else:
    agdl.decode(path)
dt = time.perf_counter() - t0
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"mp": img.shape[0] * img.shape[1] / 1e6, "what": what, "seconds": dt, "peak_rss_mb": rss_mb}))
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mp", type=float, nargs="+", default=[1, 6, 24])
    ap.add_argument("--photo", default="-")
    a = ap.parse_args()
    rows = []
    for mp in a.mp:
        for what in ("encode", "decode"):
            r = subprocess.run(
                [sys.executable, "-c", CHILD, str(mp), a.photo, what],
                capture_output=True,
                text=True,
                check=True,
            )
            rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
            print(
                f"{rows[-1]['mp']:6.1f} MP {what:6s}: {rows[-1]['seconds']:7.2f} s, "
                f"peak RSS {rows[-1]['peak_rss_mb']:7.0f} MB",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
