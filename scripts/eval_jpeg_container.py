"""AGDL inside JPEG (``container="jpeg"``): what an AGDL decoder and a plain JPEG decoder get from one file.

For every image and target rate: encode with ``target_bpp`` (default parts and options) as a .agdl file and
wrap it as a JPEG (``jpeg_container.wrap``, exactly what ``encode(..., container="jpeg")`` writes); decode
that .jpg with AGDL (refined) and as a plain JPEG (Pillow; OpenCV checked to agree within +-2); and compare
with plain JPEG at equal bytes (fractional-quality bisection of ``agdl_plugins.apps.bench.codecs.JpegCodec`` to
the .jpg's size, ``ratematch.match_bytes``). PSNR-Y on the whole image, ROI-PSNR-Y where masks exist; size
overhead of the .jpg over the .agdl file. Means per dataset and target (rows whose JPEG match is off by more
than 2 % are counted and left out of the equal-bytes columns).

    python scripts/eval_jpeg_container.py --limit 30 --json bench_out/jpeg_container.json
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import agdl_plugins as agdl  # noqa: E402
from agdl_plugins.apps.bench.codecs import JpegCodec  # noqa: E402
from agdl_plugins.apps.bench.ratematch import match_bytes  # noqa: E402
from agdl_plugins.apps.bench.runner import find_mask, list_images, load_image  # noqa: E402
from agdl_plugins.apps.metrics import luma, psnr  # noqa: E402
from agdl_plugins.format import jpeg_container  # noqa: E402


def plain_decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data), formats=["JPEG"]) as im:
        return np.asarray(im.convert("RGB"))


def cv2_max_diff(data: bytes, ref: np.ndarray) -> float:
    try:
        import cv2
    except ImportError:
        return float("nan")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return float(np.abs(bgr[..., ::-1].astype(int) - ref).max())


def measure(rgb: np.ndarray, roi: np.ndarray | None, target: float, jpeg: JpegCodec, device: str) -> dict:
    px = rgb.shape[0] * rgb.shape[1]
    t0 = time.perf_counter()
    a = agdl.encode(rgb, target_bpp=target, device=device)
    t_enc = time.perf_counter() - t0
    j = jpeg_container.wrap(a)
    refined = agdl.decode(j, device=device).array
    plain = plain_decode(j)
    m = match_bytes(lambda q: jpeg.encode(rgb, q), len(j), 1, 100, integer=False)
    ref = plain_decode(m.data)
    y0 = luma(rgb)
    row = {"target_bpp": target, "bpp": 8 * len(j) / px, "agdl_bytes": len(a), "jpg_bytes": len(j),
           "overhead_bytes": len(j) - len(a), "overhead_pct": 100 * (len(j) - len(a)) / len(a),
           "jpeg_match_ratio": m.ratio, "jpeg_match_ok": m.ok, "cv2_vs_pillow_max": cv2_max_diff(j, plain),
           "encode_s": t_enc}
    info = agdl.read_info(j)
    row["n_critical"] = info.n_critical
    row["parts"] = f"{info.predictor}@{info.predictor_version}/{info.restorer}@{info.restorer_version}"
    for name, dec in (("agdl", refined), ("plain", plain), ("jpeg_eq", ref)):
        dy = luma(dec)
        row[f"psnr_y_{name}"] = psnr(y0, dy)
        row[f"roi_psnr_y_{name}"] = psnr(y0, dy, roi) if roi is not None and roi.any() else float("nan")
    return row


def summarise(rows: list[dict], dataset: str, targets: list[float]) -> list[str]:
    out = []
    for t in targets:
        rs = [r for r in rows if r["dataset"] == dataset and r["target_bpp"] == t]
        if not rs:
            continue
        ok = [r for r in rs if r["jpeg_match_ok"]]

        def mean(key, sel=rs):
            v = np.array([r[key] for r in sel], float)
            v = v[np.isfinite(v)]
            return float(v.mean()) if v.size else float("nan")

        line = {"dataset": dataset, "target_bpp": t, "n": len(rs), "n_jpeg_matched": len(ok),
                "bpp": mean("bpp"), "overhead_bytes": mean("overhead_bytes"), "overhead_pct": mean("overhead_pct"),
                "cv2_vs_pillow_max": max(r["cv2_vs_pillow_max"] for r in rs),
                "parts": sorted({r["parts"] for r in rs}),
                "refined_share": float(np.mean([r["n_critical"] > 0 for r in rs]))}
        for k in ("psnr_y", "roi_psnr_y"):
            line[f"{k}_agdl"] = mean(f"{k}_agdl")
            line[f"{k}_plain"] = mean(f"{k}_plain")
            line[f"{k}_agdl_eqset"] = mean(f"{k}_agdl", ok)
            line[f"{k}_jpeg_eq"] = mean(f"{k}_jpeg_eq", ok)
        out.append(json.dumps(line))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/datasets", help="folder holding the datasets")
    ap.add_argument("--datasets", default="duts-te,kodak24", help="comma-separated dataset folders")
    ap.add_argument("--limit", type=int, default=30, help="first N images of each dataset (Kodak24 has 24)")
    ap.add_argument("--bpp", default="0.3,0.5,0.75,1.0", help="target bits per pixel")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--json", default=None, help="write per-image rows and the summary here")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    targets = [float(x) for x in a.bpp.split(",")]
    jpeg = JpegCodec("jpeg", "plain JPEG (Pillow, optimised Huffman, 4:2:0)", integer=False)
    rows: list[dict] = []
    for ds in a.datasets.split(","):
        root = Path(a.data) / ds
        masks = root / "masks" if (root / "masks").is_dir() else None
        for path in list_images(root / "images", a.limit):
            rgb, roi, _ = load_image(path, find_mask(masks, path.stem), "auto")
            for t in targets:
                row = {"dataset": ds, "image": path.stem, **measure(rgb, roi, t, jpeg, a.device)}
                rows.append(row)
                print(f"{ds:8s} {path.stem:28s} {t:.2f}: {row['bpp']:.3f} bpp (+{row['overhead_bytes']} B) "
                      f"Y agdl {row['psnr_y_agdl']:.2f} plain {row['psnr_y_plain']:.2f} "
                      f"jpeg= {row['psnr_y_jpeg_eq']:.2f}  ROI {row['roi_psnr_y_agdl']:.2f} "
                      f"{row['roi_psnr_y_plain']:.2f} {row['roi_psnr_y_jpeg_eq']:.2f}", flush=True)
            if a.json:
                Path(a.json).write_text(json.dumps({"rows": rows}, indent=1))
    summary = [s for ds in a.datasets.split(",") for s in summarise(rows, ds, targets)]
    print("\n".join(summary))
    if a.json:
        Path(a.json).write_text(json.dumps({"rows": rows, "summary": [json.loads(s) for s in summary]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
