"""(Re)write the golden files in tests/golden/: small .agdl files + the sha256 of their decoded pixels.

Existing golden files are never rewritten (they stand for files already written by users): new cases are
added. ``--force NAME`` rewrites one case, only when its format/part version changed on purpose.
Every case records, besides the sha256 of its decoded pixels on the machine that wrote it, the
machine-independent digests (parsed layers, critical set, base-layer pixels) and a lossless PNG of the
decoded pixels, which the tests compare within the cross-machine bound (docs/FORMAT.md, "Determinism").
``--refresh`` recomputes those for existing files without rewriting them (it refuses when the pixels
decoded here differ from the recorded sha256: run it on a machine that reproduces them).
Usage: python scripts/make_golden.py [--force NAME ...] [--refresh]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

import agdl_plugins as agdl

OUT = Path(__file__).resolve().parent.parent / "tests" / "golden"
sys.path.insert(0, str(OUT))
from digests import decode_digests, layer_digests  # noqa: E402

CASES = {
    "baseline_rgb_jpeg": (lambda: data.astronaut()[60:156, 180:308],
                          {"predictor": "edge-sobel", "restorer": "identity"}),
    "baseline_grey_webp": (lambda: data.camera()[100:180, 200:300], {"predictor": "edge-sobel", "restorer": "identity",
                                                                       "base": "webp", "measurement_ratio": 0.5}),
    "learned_rgb_jpeg": (lambda: data.astronaut()[40:168, 160:320], {}),
    "learned_rgba_jpeg": (lambda: np.dstack([data.coffee()[100:196, 200:328],
                                             np.tile(np.arange(128, dtype=np.uint8), (96, 1))]), {"quality": 20}),
    "learned_saliency_jpeg_base": (lambda: data.chelsea()[40:168, 120:280], {"base": "jpeg-saliency", "quality": 25}),
    # format 2.0 (varint header, one CRC), G v2, identity sensing, step chosen by the RDO encoder
    "v2_learned_rgb_jpeg": (lambda: data.coffee()[60:188, 250:410], {"quality": 35}),
    "v2_structured_grey_jpeg": (lambda: data.camera()[200:296, 120:248], {"quality": 30, "sensing": "structured-dct",
                                                                          "measurement_ratio": 0.6}),
    # F v3: the saliency U-Net sees the base layer's Y/Cb/Cr (a grey image: Y with neutral chroma)
    "v3_learned_rgb_jpeg": (lambda: data.chelsea()[60:188, 100:260], {"quality": 30}),
    "v3_learned_grey_jpeg": (lambda: data.camera()[60:188, 180:340], {"quality": 30}),
    # F v4: F v3's U-Net, edge term = 3x3 mean of the Sobel magnitude
    "v4_learned_rgb_jpeg": (lambda: data.astronaut()[20:148, 120:280], {"quality": 30}),
    "v4_learned_grey_jpeg": (lambda: data.camera()[120:248, 60:220], {"quality": 25}),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--force", nargs="*", default=[], choices=sorted(CASES), help="cases to rewrite")
    ap.add_argument("--refresh", action="store_true", help="recompute digests/PNGs of existing files")
    a = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    mf = OUT / "manifest.json"
    manifest = json.loads(mf.read_text()) if mf.exists() else {}
    for name, (make, opts) in CASES.items():
        path = OUT / f"{name}.agdl"
        exists = name in manifest and path.exists() and name not in a.force
        if exists and not a.refresh:
            continue
        if not exists:
            img = np.ascontiguousarray(make())
            path.write_bytes(agdl.encode(img, critical_fraction=0.05, **opts))
        arr, digests = decode_digests(path)
        pix = hashlib.sha256(arr.tobytes()).hexdigest()
        if exists and pix != manifest[name]["sha256_pixels"]:
            raise SystemExit(f"{name}: pixels decoded here differ from the recorded ones; not refreshing")
        info = agdl.read_info(path)
        manifest[name] = {
            "sha256_pixels": pix,
            "shape": list(arr.shape),
            "predictor": f"{info.predictor}@{info.predictor_version}",
            "restorer": f"{info.restorer}@{info.restorer_version}",
            "sha256_critical": digests["critical"],
            "sha256_base_pixels": digests["base_pixels"],
            "sha256_layers": layer_digests(path),
        }
        Image.fromarray(arr).save(OUT / f"{name}.png", optimize=True)
        print(name, manifest[name])
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
