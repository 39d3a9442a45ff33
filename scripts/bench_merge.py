"""Merge ``agdl bench`` runs over disjoint image shards (``rows.csv`` of each ``--out``) and print the mean-curve
BD table against an anchor, as ``agdl bench`` prints it for one run, plus AGDL's ROI record share of the file.

    python scripts/bench_merge.py --anchor avif /tmp/bench/mask_avif_a /tmp/bench/mask_avif_b
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from agdl_plugins.apps.bench.report import _f, aggregate, bd_table


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--anchor", default="avif")
    a = p.parse_args()
    rows = []
    for run in a.runs:
        with (run / "rows.csv").open() as f:
            for r in csv.DictReader(f):
                ok = r["rate_ok"] == "True"
                r = {k: (v if k in ("image", "point", "codec", "error", "knob_name") else _f(v)) for k, v in r.items()}
                rows.append({**r, "rate_ok": ok})
    codecs = list(dict.fromkeys(r["codec"] for r in rows))
    points = list(dict.fromkeys(r["point"] for r in rows))
    agg = aggregate(rows, codecs, points)
    images = len({r["image"] for r in rows})
    print(f"{images} images, points {points}")
    for x in agg:
        print(f"  {x['point']:>8} {x['codec']:<6} n={x['n_images']} bpp {x['bpp']:.3f} PSNR-Y {x['psnr_y']:.2f} "
              f"ROI-Y {x['roi_psnr_y']:.2f}")
    for b in bd_table(agg, codecs, a.anchor):
        print(f"BD vs {a.anchor}: {b['codec']}: BD-PSNR ROI-Y {b['bd_psnr_roi_psnr_y']:+.2f} dB, "
              f"BD-PSNR-Y {b['bd_psnr_psnr_y']:+.2f} dB, BD-rate ROI-Y {b['bd_rate_roi_psnr_y']:+.1f} %, "
              f"BD-rate Y {b['bd_rate_psnr_y']:+.1f} % (fit degree {b['fit_degree']})")
    for pt in points:
        share = [r["agdl_roi_bytes"] / r["bytes"] for r in rows
                 if r["codec"] == "agdl" and r["point"] == pt and not r["error"] and r["bytes"] > 0]
        if share:
            print(f"ROI record at {pt}: mean {100 * np.mean(share):.2f} % of the file, max {100 * np.max(share):.2f} %")


if __name__ == "__main__":
    main()
