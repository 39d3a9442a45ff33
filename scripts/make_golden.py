"""(Re)write the golden files in tests/golden/: small .agdl files + the sha256 of their decoded pixels.

Existing golden files are never rewritten (they stand for files already written by users): new cases are
added. ``--force NAME`` rewrites one case, only when its format/part version changed on purpose.
Usage: python scripts/make_golden.py [--force NAME ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
from skimage import data

import agdl_plugins as agdl

OUT = Path(__file__).resolve().parent.parent / "tests" / "golden"

CASES = {
    "baseline_rgb_jpeg": (lambda: data.astronaut()[60:156, 180:308],
                          {"predictor": "edge-sobel", "restorer": "identity"}),
    "baseline_grey_webp": (lambda: data.camera()[100:180, 200:300], {"predictor": "edge-sobel", "restorer": "identity",
                                                                       "base": "webp", "measurement_ratio": 0.5}),
    "learned_rgb_jpeg": (lambda: data.astronaut()[40:168, 160:320], {}),
    "learned_rgba_jpeg": (lambda: np.dstack([data.coffee()[100:196, 200:328],
                                             np.tile(np.arange(128, dtype=np.uint8), (96, 1))]), {"quality": 20}),
    "learned_saliency_jpeg_base": (lambda: data.chelsea()[40:168, 120:280], {"base": "jpeg-saliency", "quality": 25}),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--force", nargs="*", default=[], choices=sorted(CASES), help="cases to rewrite")
    a = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    mf = OUT / "manifest.json"
    manifest = json.loads(mf.read_text()) if mf.exists() else {}
    for name, (make, opts) in CASES.items():
        if name in manifest and (OUT / f"{name}.agdl").exists() and name not in a.force:
            continue
        img = np.ascontiguousarray(make())
        blob = agdl.encode(img, critical_fraction=0.05, **opts)
        (OUT / f"{name}.agdl").write_bytes(blob)
        out = agdl.decode(blob, device="cpu")
        info = out.info
        manifest[name] = {
            "sha256_pixels": hashlib.sha256(out.array.tobytes()).hexdigest(),
            "shape": list(out.array.shape),
            "predictor": f"{info.predictor}@{info.predictor_version}",
            "restorer": f"{info.restorer}@{info.restorer_version}",
        }
        print(name, manifest[name])
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
