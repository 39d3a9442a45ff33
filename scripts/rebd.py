"""Bjøntegaard numbers of a finished ``agdl bench`` run against another anchor, optionally on the images that
every rate point kept (a run with ``--bpp`` skips an image at a point it cannot reach, so the mean curves of
different points may average different images; ``--common`` restricts every point to the same images).

    python scripts/rebd.py bench_out/webp_duts-te/results.json --anchor webp-m6 --common
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from agdl_plugins.apps.bench.report import aggregate, bd_table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path, help="results.json of an agdl bench run")
    ap.add_argument("--anchor", default="jpeg", help="anchor codec (default jpeg)")
    ap.add_argument("--common", action="store_true", help="only images present (without error) at every point")
    a = ap.parse_args(argv)
    doc = json.loads(a.results.read_text())
    rows, points = doc["rows"], doc["meta"]["points"]
    codecs = list(dict.fromkeys(r["codec"] for r in rows))
    if a.common:
        keep = None
        for p in points:
            ok = {r["image"] for r in rows if r["point"] == p and r["codec"] == "agdl" and not r["error"]}
            keep = ok if keep is None else keep & ok
        rows = [r for r in rows if r["image"] in keep]
        print(f"{len(keep)} images present at every point")
    agg = aggregate(rows, codecs, points)
    for p in points:
        print(f"{p}: " + "  ".join(f"{x['codec']} {x['psnr_y']:.2f}/{x['roi_psnr_y']:.2f}"
                                   for x in agg if x["point"] == p) + "   (PSNR-Y / ROI-Y, mean dB)")
    print(f"BD vs {a.anchor}: codec, BD-PSNR-Y dB, BD-PSNR ROI-Y dB, BD-rate PSNR-Y %, BD-rate ROI-Y %; "
          "BD-MS-SSIM dB, BD-ROI-MS-SSIM dB, BD-rate MS-SSIM %, BD-rate ROI MS-SSIM % (MS-SSIM in dB, NaN in "
          "runs made before it was measured)")
    for b in bd_table(agg, codecs, a.anchor):
        print(f"  {b['codec']:14s} {b['bd_psnr_psnr_y']:+.3f}  {b['bd_psnr_roi_psnr_y']:+.3f}  "
              f"{b['bd_rate_psnr_y']:+.2f}  {b['bd_rate_roi_psnr_y']:+.2f};  {b['bd_psnr_ms_ssim_db']:+.3f}  "
              f"{b['bd_psnr_roi_ms_ssim_db']:+.3f}  {b['bd_rate_ms_ssim_db']:+.2f}  {b['bd_rate_roi_ms_ssim_db']:+.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
