"""How much a better critical set would buy: ROI-PSNR at equal refinement bytes for other score maps.

At a fixed JPEG base (``--quality``), identity sensing and plain rounding, every score map picks the top-N
pixels for N in FRACTIONS and steps 6..48; per image, the best ROI-PSNR-Y (ROI = ground-truth mask > 0.5)
reachable within 0.05 / 0.1 / 0.2 / 0.3 bpp of refinement (order-0 estimate, guard-band list not counted) is taken,
and the means are compared with F's own scores. Score maps: ``F`` (the default predictor), edge terms the
decoder can derive (``sobavg3``/``sobavg5``: mean of the base's Sobel magnitude; ``sobmax3``: max), and
oracles no decoder has (``gt_sal``: the mask in place of F's saliency; ``F_sal*err``: the true restorer
error in place of the edge term; ``gt*err``: both).

    python scripts/critical_oracle.py --set duts-tr --start -50 --stop -20 --quality 20
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

FRACTIONS = (0.015, 0.03, 0.06, 0.1, 0.15, 0.2, 0.3)
TARGETS = (0.05, 0.1, 0.2, 0.3)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/datasets")
    ap.add_argument("--set", default="duts-tr")
    ap.add_argument("--start", type=int, default=-50, help="first image (by name; negative = from the end)")
    ap.add_argument("--stop", type=int, default=-20)
    ap.add_argument("--quality", type=int, default=20)
    a = ap.parse_args(argv)
    import torch
    import torch.nn.functional as F
    from agdl_models.saliency import sobel_magnitude
    from PIL import Image

    from agdl_plugins.codec.critical import select_critical
    from agdl_plugins.codec.rdo import estimated_symbol_bytes, rounded_8bit
    from agdl_plugins.codec.rdo_search import _Search
    from agdl_plugins.options import validate_encode_options
    from agdl_plugins.parts.registry import get_registry

    torch.set_num_threads(1)
    d = Path(a.data) / a.set
    files = sorted((d / "images").glob("*.jpg"))[a.start:a.stop]
    steps = [6.0 * 2 ** (k / 2) for k in range(8)]
    res: dict[str, list[list[float]]] = {}

    def pool(x: np.ndarray, k: int, kind: str) -> np.ndarray:
        t = torch.from_numpy(x)[None, None]
        if kind == "max":
            return F.max_pool2d(t, k, 1, k // 2)[0, 0].numpy()
        return F.avg_pool2d(t, k, 1, k // 2, count_include_pad=False)[0, 0].numpy()

    for f in files:
        im = Image.open(f).convert("RGB")
        gt = np.asarray(Image.open(d / "masks" / (f.stem + ".png")).convert("L"), np.float64) / 255
        s = _Search(im, im, None, validate_encode_options(quality=a.quality), get_registry())
        an = s.analysis(a.quality)
        ref, y = an.reference(), s.y
        roi = gt > 0.5
        if roi.sum() < 100:
            continue
        sc = an.scores()
        sob = sobel_magnitude(torch.from_numpy(an.base.luma / 255.0)[None, None].float())[0, 0].numpy()
        sob = sob.astype(np.float64)
        f_edge = pool(sob, 3, "avg") if getattr(an.predictor, "version", 0) >= 4 else sob  # F v4: 3x3 mean
        lsal = sc - np.log(f_edge + 1e-3)  # log sigmoid(saliency) of F: its score minus its edge term
        err, g = np.abs(y - ref), np.clip(gt, 0.01, 0.99)
        variants = {"F": sc, "sobavg3": lsal + np.log(pool(sob, 3, "avg") + 1e-3),
                    "sobavg5": lsal + np.log(pool(sob, 5, "avg") + 1e-3),
                    "sobmax3": lsal + np.log(pool(sob, 3, "max") + 1e-3),
                    "gt_sal": np.log(g) + np.log(sob + 1e-3), "F_sal*err": lsal + np.log(err + 1e-3),
                    "gt*err": np.log(g) + np.log(err + 1e-3)}
        e0 = (y - rounded_8bit(ref)) ** 2
        for name, scores in variants.items():
            pts = [(0.0, float(e0[roi].mean()))]
            for fc in FRACTIONS:
                m = select_critical(scores.astype(np.float64), int(fc * y.size), exact=False).mask
                r = (y - ref)[m]
                for st in steps:
                    q = np.round(r / st)
                    out = e0.copy()
                    out[m] = (y[m] - rounded_8bit(ref[m] + st * q)) ** 2
                    pts.append((estimated_symbol_bytes(q.astype(np.int64)) * 8 / y.size, float(out[roi].mean())))
            res.setdefault(name, []).append(
                [10 * np.log10(255**2 / min(e for b, e in pts if b <= t)) for t in TARGETS])
    print(f"{a.set} [{a.start}:{a.stop}], base q{a.quality}, {len(res['F'])} images; ROI-PSNR-Y at refinement "
          f"bpp {', '.join(map(str, TARGETS))}, and vs F")
    base = np.asarray(res["F"])
    for k, v in res.items():
        v = np.asarray(v)
        print(f"{k:>10} " + " ".join(f"{x:6.2f}" for x in v.mean(0)) + "   vs F: "
              + " ".join(f"{x:+.2f}" for x in (v - base).mean(0)))


if __name__ == "__main__":
    main()
