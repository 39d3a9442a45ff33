"""Top-N precision/recall/F1 of the critical-pixel predictors against eq. 1 labels on DUTS-TE crops.

Labels: dilate(canny(original Y), 1) ∩ (mask >= 128) ∩ (|G(base) - Y| > 8), G = shipped restorer.
N = number of label pixels per crop, so P = R = F1. Compares F v1, F v2 and the classical Sobel ranking.
Usage: python scripts/eval_predictor.py [--data ../shared/datasets] [--n 40]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # models.training runs from the checkout

from agdl_models import weights as W  # noqa: E402

from models.training import data as D  # noqa: E402
from models.training.train_predictor import baseline, label_pool, validate  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=D.DEFAULT_ROOT)
    ap.add_argument("--n", type=int, default=40)
    a = ap.parse_args()
    te = Path(a.data) / "duts-te"
    pairs = [(p, te / "masks" / (p.stem + ".png")) for p in sorted((te / "images").glob("*.jpg"))][: a.n]
    g = W.load_restorer()
    pools = {q: label_pool(D.make_pool(pairs, 192, 1, 4321, qualities=[q], with_mask=True, flips=False), g)
             for q in (10, 30, 50)}
    res = {"edge-sobel": baseline(pools)}
    for v in (1, 2):
        model = W.load_predictor(W.WEIGHTS_DIR / f"predictor_v{v}.safetensors")
        res[f"agdl-f@{v}"] = validate(model, pools)
    for name, r in res.items():
        row = "  ".join(f"q{q}: F1 {m['topN_P=R=F1']:.3f} in-ROI {m['topN_in_roi']:.2f}" for q, m in r.items())
        print(f"{name:>11}: {row}")
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    torch.set_num_threads(1)
    np.random.seed(0)
    raise SystemExit(main())
