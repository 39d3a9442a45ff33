"""Per image: is AGDL below G alone (agdl-norefine) at equal bytes on the encoder's objective?

Reads the per-image rows of ``agdl bench`` (rows.csv) and, for every image and rate point where G alone was
matched to AGDL's bytes (rate_ok), compares D = w * MSE_ROI + (1 - w) * MSE_whole on the luminance (ROI = the
ground-truth mask; without masks D = MSE_whole). Prints the share of image-points where AGDL's D is larger.

    python scripts/objective_share.py bench_out/duts100/rows.csv --roi-weight 0.75
"""

from __future__ import annotations

import argparse
import csv
import math
from collections import defaultdict


def _mse(psnr: str) -> float:
    return 255.0**2 / 10 ** (float(psnr) / 10) if psnr not in ("", "nan", "inf") else 0.0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rows", nargs="+", help="rows.csv files of agdl bench runs")
    ap.add_argument("--roi-weight", type=float, default=0.75)
    ap.add_argument("--codec", default="agdl")
    ap.add_argument("--reference", default="agdl-norefine")
    a = ap.parse_args(argv)
    by: dict[tuple[str, str, str], dict[str, dict]] = defaultdict(dict)
    for path in a.rows:
        with open(path, newline="") as fh:
            for r in csv.DictReader(fh):
                by[(path, r["image"], r["point"])][r["codec"]] = r
    worse = matched = 0
    deltas = []
    for rows in by.values():
        if a.codec not in rows or a.reference not in rows or rows[a.reference]["rate_ok"] != "True":
            continue
        d = {}
        for name in (a.codec, a.reference):
            r = rows[name]
            roi = r["roi_psnr_y"]
            has_roi = roi not in ("", "nan") and not math.isnan(float(roi))
            w = a.roi_weight if has_roi else 0.0
            d[name] = w * (_mse(roi) if has_roi else 0.0) + (1 - w) * _mse(r["psnr_y"])
        matched += 1
        worse += d[a.codec] > d[a.reference]
        deltas.append(10 * math.log10(d[a.reference] / d[a.codec]))
    if not matched:
        raise SystemExit("no image-point with both codecs matched at equal bytes")
    deltas.sort()
    print(f"{matched} image-points at equal bytes: {a.codec} below {a.reference} on the objective "
          f"(roi_weight {a.roi_weight}) in {worse} ({100 * worse / matched:.1f} %); "
          f"objective gain median {deltas[len(deltas) // 2]:+.2f} dB, worst {deltas[0]:+.2f} dB")


if __name__ == "__main__":
    main()
