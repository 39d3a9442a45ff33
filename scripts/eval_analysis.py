"""Analysis from the compressed stream (issue 17): saliency from an AGDL file vs from the original image.

For the first ``--limit`` images (sorted by name) of each ``--sets`` folder under ``--data`` (``images/`` +
``masks/<stem>.png``), every image is encoded with ``agdl_plugins.encode(img, target_bpp=b)`` (default parts
and options) at each ``--bpp``. Compared with the ground-truth masks (binarised at 0.5):

* ``stream``: ``agdl_plugins.analyze(file).saliency`` (F's saliency head on the decoded base layer);
* ``original``: the same head on the uncompressed image (``run_saliency`` on Pillow's BT.601 Y, or Y/Cb/Cr
  for a colour predictor such as F v3).

Metrics: MAE = mean |saliency - mask|; max F-measure (beta^2 = 0.3): the saliency as an 8-bit map
(round(255 s)) is thresholded at every k = 0..255 (positive where >= k), precision and recall are averaged over
the images per threshold, F is taken per threshold and the maximum reported (the usual SOD protocol);
IoU = |s >= 0.5 & mask| / |s >= 0.5 | mask| per image, averaged. ``agree`` = mean |stream - original|;
``IoU vs original`` = the same IoU between the stream's map and the original's map (both at 0.5; issue 30).
Size: file bytes / bytes of the original saved as PNG (Pillow, default settings), averaged. Speed: per file,
``analyze()`` (default outputs: saliency + critical set) and a full ``decode()`` of the same bytes are timed
side by side in this process (torch threads = ``--threads``; models warmed up first, best of ``--repeats``);
the medians over files and the median of the per-file ratio are reported.

    python scripts/eval_analysis.py --limit 30                      # both sets, 0.3 / 0.5 / 1.0 bpp
    python scripts/eval_analysis.py --limit 100 --out bench_out/analysis100.csv
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import agdl_plugins as agdl  # noqa: E402
from agdl_plugins.apps.bench.runner import find_mask, list_images  # noqa: E402
from agdl_plugins.imaging import ycbcr_planes  # noqa: E402
from agdl_plugins.parts.learned import run_saliency  # noqa: E402

BETA2 = 0.3


def pr_counts(sal: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Per threshold k = 0..255 (positive where round(255 s) >= k): (true positives, predicted positives),
    and the number of ground-truth positives."""
    q = np.clip(np.round(sal * 255.0), 0, 255).astype(np.int64)
    pos = np.bincount(q[gt], minlength=256)
    allc = np.bincount(q.ravel(), minlength=256)
    tp = np.cumsum(pos[::-1])[::-1]  # pixels with q >= k among the ground truth
    pp = np.cumsum(allc[::-1])[::-1]
    return tp, pp, int(gt.sum())


def max_f(curves: list[tuple[np.ndarray, np.ndarray, int]]) -> float:
    eps = 1e-12
    prec = np.mean([tp / (pp + eps) for tp, pp, _ in curves], axis=0)
    rec = np.mean([tp / (g + eps) for tp, _, g in curves], axis=0)
    f = (1 + BETA2) * prec * rec / (BETA2 * prec + rec + eps)
    return float(f.max())


def iou(sal: np.ndarray, gt: np.ndarray) -> float:
    p = sal >= 0.5
    return float((p & gt).sum()) / max(1, int((p | gt).sum()))


def png_size(rgb: np.ndarray) -> int:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.tell()


def timed(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


class Acc:
    """Per-(set, source) metric accumulator."""

    def __init__(self) -> None:
        self.mae: list[float] = []
        self.iou: list[float] = []
        self.curves: list = []
        self.agree: list[float] = []
        self.iou_orig: list[float] = []
        self.size: list[float] = []
        self.t_an: list[float] = []
        self.t_dec: list[float] = []
        self.ratio: list[float] = []

    def add(self, sal: np.ndarray, gt_f: np.ndarray, gt: np.ndarray) -> None:
        self.mae.append(float(np.abs(sal - gt_f).mean()))
        self.iou.append(iou(sal, gt))
        self.curves.append(pr_counts(sal, gt))

    def row(self) -> dict:
        med = lambda v: statistics.median(v) if v else float("nan")  # noqa: E731
        mean = lambda v: float(np.mean(v)) if v else float("nan")  # noqa: E731
        return {"n": len(self.mae), "MAE": mean(self.mae), "maxF": max_f(self.curves) if self.curves else float("nan"),
                "IoU@0.5": mean(self.iou), "agree_MAE": mean(self.agree),
                "IoU_vs_original": mean(self.iou_orig), "bytes/PNG": mean(self.size),
                "analyze_s": med(self.t_an), "decode_s": med(self.t_dec), "analyze/decode": med(self.ratio)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/datasets", help="datasets root (default ../shared/datasets)")
    ap.add_argument("--sets", nargs="+", default=["duts-te", "sod"], help="folders under --data with images/, masks/")
    ap.add_argument("--limit", type=int, default=100, help="first N images of each set by name (default 100)")
    ap.add_argument("--bpp", type=float, nargs="+", default=[0.3, 0.5, 1.0], help="target_bpp values")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--repeats", type=int, default=1, help="timing repeats per file, best kept (default 1)")
    ap.add_argument("--out", help="CSV of per-image rows (optional)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    rows: list[dict] = []
    results: dict[tuple[str, str], Acc] = {}
    skipped: list[str] = []
    warm = False
    for name in a.sets:
        root = Path(a.data) / name
        images = list_images(root / "images", a.limit)
        for k, img_p in enumerate(images, 1):
            mask_p = find_mask(root / "masks", img_p.stem)
            with Image.open(img_p) as im:
                rgb = np.asarray(im.convert("RGB"))
            if mask_p is None:
                skipped.append(f"{name}/{img_p.name}: no mask")
                continue
            with Image.open(mask_p) as m:
                gt_f = np.asarray(m.convert("L"), np.float32) / 255.0
            if gt_f.shape != rgb.shape[:2]:
                skipped.append(f"{name}/{img_p.name}: mask {gt_f.shape} != image {rgb.shape[:2]}")
                continue
            gt = gt_f >= 0.5
            png = png_size(rgb)
            orig_sal = None
            for b in a.bpp:
                t0 = time.perf_counter()
                data = agdl.encode(rgb, target_bpp=b)
                t_enc = time.perf_counter() - t0
                info = agdl.read_info(data)
                if orig_sal is None:  # the head the files name (the default predictor: the same for every rate)
                    planes = ycbcr_planes(Image.fromarray(rgb))
                    orig_sal = run_saliency(info.predictor, info.predictor_version, planes, "cpu")
                    results.setdefault((name, "original"), Acc()).add(orig_sal, gt_f, gt)
                if not warm:  # load and cache every network before timing
                    agdl.analyze(data)
                    agdl.decode(data)
                    warm = True
                res = agdl.analyze(data)
                # side by side, alternating the order so neither always runs right after the encode
                pair = [("an", lambda d=data: agdl.analyze(d)), ("dec", lambda d=data: agdl.decode(d))]
                t = {key: timed(fn, a.repeats) for key, fn in (pair if k % 2 else pair[::-1])}
                acc = results.setdefault((name, f"stream {b:g}"), Acc())
                acc.add(res.saliency, gt_f, gt)
                acc.agree.append(float(np.abs(res.saliency - orig_sal).mean()))
                acc.iou_orig.append(iou(res.saliency, orig_sal >= 0.5))
                acc.size.append(len(data) / png)
                acc.t_an.append(t["an"])
                acc.t_dec.append(t["dec"])
                acc.ratio.append(t["an"] / t["dec"])
                rows.append({"set": name, "image": img_p.name, "bpp_target": b,
                             "bpp": 8 * len(data) / (rgb.shape[0] * rgb.shape[1]), "bytes": len(data),
                             "png_bytes": png, "n_critical": info.n_critical, "mae": acc.mae[-1],
                             "iou": acc.iou[-1], "agree": acc.agree[-1], "iou_vs_original": acc.iou_orig[-1],
                             "analyze_s": t["an"],
                             "decode_s": t["dec"], "encode_s": t_enc})
            print(f"{name} {k}/{len(images)} {img_p.name}", file=sys.stderr, flush=True)

    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        with open(a.out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    print(f"torch {torch.__version__}, {a.threads} thread(s); sets {a.sets}, first {a.limit} each; bpp {a.bpp}")
    print("| set | saliency from | n | MAE | max F (β²=0.3) | IoU@0.5 | MAE vs original's | IoU vs original's "
          "| bytes / PNG | analyze (s) | decode (s) | analyze / decode |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (name, src), acc in results.items():
        r = acc.row()
        fmt = lambda v, s: "–" if v != v else format(v, s)  # noqa: E731
        print(f"| {name} | {src} | {r['n']} | {r['MAE']:.3f} | {r['maxF']:.3f} | {r['IoU@0.5']:.3f} "
              f"| {fmt(r['agree_MAE'], '.3f')} | {fmt(r['IoU_vs_original'], '.3f')} "
              f"| {fmt(r['bytes/PNG'], '.3f')} | {fmt(r['analyze_s'], '.3f')} "
              f"| {fmt(r['decode_s'], '.3f')} | {fmt(r['analyze/decode'], '.3f')} |")
    for s in skipped:
        print(f"skipped: {s}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
