"""Does ``base="auto"`` pick the best base? Its file against every single-base file at the same budget (issue 28).

For each image and bpp, encodes with ``base="auto"`` and with each base ``auto`` can use (JPEG, WebP, AVIF) at
the same ``target_bpp``, decodes all four and evaluates the encoder's own objective on each decoded image: the
weighted luminance MSE ``D = sum(w * e^2)`` with ``w`` = :func:`agdl_plugins.codec.rdo.pixel_weights` of the
default predictor's saliency on the *original* (the weights the search itself uses, identical for every base).
An image-point counts as "below the best single base" when auto's D exceeds the best single base's D by more
than ``--tol`` (relative; 0 = strictly). Also prints PSNR-Y and bytes per file.

    python scripts/auto_vs_single.py --data ../shared/datasets/duts-te --limit 20 --bpp 0.3 0.5 0.75 1.0 \
        --csv /tmp/auto_vs_single.csv
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import agdl_plugins as agdl  # noqa: E402
from agdl_plugins.codec.rdo import pixel_weights  # noqa: E402
from agdl_plugins.codec.rdo_search import AUTO_BASES, auto_bases  # noqa: E402
from agdl_plugins.errors import RateUnreachableError  # noqa: E402
from agdl_plugins.imaging import luminance, ycbcr_planes  # noqa: E402
from agdl_plugins.options import validate_encode_options  # noqa: E402
from agdl_plugins.parts import protocols as P  # noqa: E402
from agdl_plugins.parts.registry import get_registry  # noqa: E402


def objective_weights(rgb: Image.Image) -> np.ndarray:
    """(H, W) weights of the encoder's objective for the default options (saliency of the original)."""
    reg = get_registry()
    opts = validate_encode_options()
    pred = reg.get("predictor", "agdl-f")
    sal = P.predict_saliency(pred, ycbcr_planes(rgb), "cpu")
    return pixel_weights(sal, (rgb.height, rgb.width), opts.roi_weight)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/datasets/duts-te"))
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--skip", type=int, default=0)
    ap.add_argument("--bpp", type=float, nargs="+", default=[0.3, 0.5, 0.75, 1.0])
    ap.add_argument("--tol", type=float, default=0.01, help="relative objective tolerance (default 1 %%)")
    ap.add_argument("--csv", type=Path, default=None)
    a = ap.parse_args()
    folder = a.data / "images" if (a.data / "images").is_dir() else a.data
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png"))[a.skip: a.skip + a.limit]
    bases = auto_bases(get_registry())
    print(f"bases auto can use here: {bases} (of {list(AUTO_BASES)})")
    rows, below, strict, n = [], 0, 0, 0
    for f in files:
        rgb = Image.open(f).convert("RGB")
        y = luminance(rgb).astype(np.float64)
        w = objective_weights(rgb)
        px = rgb.width * rgb.height
        for bpp in a.bpp:
            res: dict = {}
            secs: dict[str, float] = {}
            for base in [*bases, "auto"]:
                try:
                    t0 = time.perf_counter()
                    blob = agdl.encode(rgb, base=base, target_bpp=bpp)
                    secs[base] = time.perf_counter() - t0
                except RateUnreachableError:  # this base cannot get this small: not a candidate at this point
                    continue
                out = luminance(Image.fromarray(agdl.decode(blob).array)).astype(np.float64)
                e2 = (y - out) ** 2
                info = agdl.read_info(blob)
                res[base] = (float((w * e2).sum()), 10 * math.log10(255 ** 2 / max(float(e2.mean()), 1e-12)),
                             len(blob) * 8 / px, info.base_codec)
                if base == "auto":
                    choice = info.base_choice or {}
            if "auto" not in res or not set(bases) & set(res):
                print(f"{f.name} {bpp}: out of reach ({sorted(res)})", flush=True)
                continue
            best_single = min((b for b in bases if b in res), key=lambda b: res[b][0])
            d_auto, d_best = res["auto"][0], res[best_single][0]
            n += 1
            strict += d_auto > d_best * (1 + 1e-9)
            below += d_auto > d_best * (1 + a.tol)
            row = {"image": f.name, "bpp": bpp, "auto_chose": res["auto"][3], "best_single": best_single,
                   "auto_over_best": d_auto / d_best}
            for b in [*bases, "auto"]:
                d, psnr, real_bpp, _ = res.get(b, (math.nan,) * 4)
                row.update({f"D_{b}": d, f"psnr_{b}": psnr, f"bpp_{b}": real_bpp, f"sec_{b}": secs.get(b, math.nan)})
            for b in bases:  # auto's objective per base per pixel as written in the file (probe or full search)
                v = choice.get(b)
                row[f"auto_note_{b}"] = math.nan if v is None else v * px
            rows.append(row)
            print(f"{f.name} {bpp}: auto chose {res['auto'][3]} (D {d_auto:.3f}), best single {best_single} "
                  f"(D {d_best:.3f}), ratio {d_auto / d_best:.4f}; PSNR-Y "
                  + ", ".join(f"{b} {res[b][1]:.2f}" for b in res), flush=True)
    ratio = [r["sec_auto"] / r["sec_jpeg"] for r in rows if math.isfinite(r.get("sec_jpeg", math.nan))]
    chosen = [r["sec_auto"] / r[f"sec_{r['auto_chose']}"] for r in rows if f"sec_{r['auto_chose']}" in r]
    if ratio:
        print(f"encode time auto / jpeg: median x{np.median(ratio):.2f}; auto / the chosen base alone: median "
              f"x{np.median(chosen):.2f} (same process, consecutive encodes)")
    print(f"image-points: {n}; auto worse than the best single base by > {a.tol:.1%}: {below} "
          f"({below / max(n, 1):.1%}); strictly worse: {strict} ({strict / max(n, 1):.1%})")
    if a.csv and rows:
        with open(a.csv, "w", newline="") as fh:
            wr = csv.DictWriter(fh, fieldnames=list(rows[0]))
            wr.writeheader()
            wr.writerows(rows)


if __name__ == "__main__":
    main()
