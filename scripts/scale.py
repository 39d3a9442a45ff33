"""Scale check: encode + decode time and peak RSS at 1, 6 and 24 megapixels (each in a fresh process).

Usage: python scripts/scale.py [--mp 1 6 24] [--photo PATH] [--threads N]
The test photo is a tiled (mirrored) upscale of a real photo (default: scikit-image astronaut). The decode
child also times, in the same process after the AGDL decode, the base-only path (``base_only=True``) and a
Pillow decode of a plain JPEG of the same image at quality 30, for ratios that do not depend on the load.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import io, json, resource, sys, time
import numpy as np
import torch
import agdl_plugins as agdl
from PIL import Image
mp, photo, what = float(sys.argv[1]), sys.argv[2], sys.argv[3]
if int(sys.argv[4]) > 0:
    torch.set_num_threads(int(sys.argv[4]))
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
extra = {}
if what == "decode":
    t1 = time.perf_counter(); agdl.decode(path, base_only=True); extra["base_only_s"] = time.perf_counter() - t1
    buf = io.BytesIO(); Image.fromarray(img).save(buf, "JPEG", quality=30); jpg = buf.getvalue()
    t1 = time.perf_counter(); Image.open(io.BytesIO(jpg)).load(); extra["jpeg_s"] = time.perf_counter() - t1
print(json.dumps({"mp": img.shape[0] * img.shape[1] / 1e6, "what": what, "seconds": dt, "peak_rss_mb": rss_mb,
                  "threads": torch.get_num_threads(), **extra}))
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mp", type=float, nargs="+", default=[1, 6, 24])
    ap.add_argument("--photo", default="-")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's, = cores)")
    a = ap.parse_args()
    rows = []
    for mp in a.mp:
        for what in ("encode", "decode"):
            r = subprocess.run(
                [sys.executable, "-c", CHILD, str(mp), a.photo, what, str(a.threads)],
                capture_output=True,
                text=True,
                check=True,
            )
            rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
            r0 = rows[-1]
            more = (f", base-only {r0['base_only_s']:.3f} s, plain JPEG decode {r0['jpeg_s']:.3f} s "
                    f"(AGDL = {r0['seconds'] / r0['jpeg_s']:.0f}x JPEG)" if what == "decode" else "")
            print(f"{r0['mp']:6.1f} MP {what:6s}: {r0['seconds']:7.2f} s, peak RSS {r0['peak_rss_mb']:7.0f} MB, "
                  f"{r0['threads']} thread(s){more}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
