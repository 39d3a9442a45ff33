"""Would a context-conditioned Laplace scale shrink the refinement layer? (issue 13, measured, not built)

Identity sensing codes q = round(r / step) of the residual r = Y - G(base) on the critical set. Today one
Laplace scale per file codes every q. Here the scale is b0 x table[context], with ``table`` fitted on DUTS-TR
(mean |q| per context bin / mean |q|) and b0 chosen per file as today, for contexts both sides know exactly
or nearly: ``sob`` the base layer's Sobel bin (exact integers), ``g`` the bin of |G(base) - base| (G's
correction), ``rk`` the quartile of F's score within the set, and ``sob*g``. Prints the ideal code length
relative to the single scale on DUTS-TE (base q20, budget 0.1).

    python scripts/context_scales.py --limit 25
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from refinement_variants import _sobel_bins

from agdl_plugins.codec.critical import select_critical
from agdl_plugins.codec.rdo_search import _Search
from agdl_plugins.options import validate_encode_options
from agdl_plugins.parts.registry import get_registry

torch.set_num_threads(1)
ap = argparse.ArgumentParser()
ap.add_argument("--data", default="../shared/datasets")
ap.add_argument("--limit", type=int, default=25)
A = ap.parse_args()
D = Path(A.data)


def collect(files: list[Path], q: int = 20, frac: float = 0.1) -> list[dict]:
    out = []
    for f in files:
        im = Image.open(f).convert("RGB")
        im = im.crop((4, 4, im.width, im.height))
        s = _Search(im, im, None, validate_encode_options(quality=q), get_registry())
        an = s.analysis(q)
        ref, y, sc = an.reference(), s.y, an.scores()
        m = select_critical(sc, int(frac * y.size), exact=False).mask
        gcorr = np.abs(ref - an.base.luma)[m]
        d = {"r": (y - ref)[m], "sob": _sobel_bins(an.base.luma)[m],
             "g": np.clip(np.log2(1 + gcorr).astype(int), 0, 4),
             "rk": np.argsort(np.argsort(-sc[m])) * 4 // max(1, int(m.sum()))}
        d["sg"] = d["sob"] * 5 + d["g"]
        out.append(d)
    return out


def lap_bits(qs: np.ndarray, scale) -> float:
    """Ideal code length (bits) of integers ``qs`` under a zero-mean Laplace of ``scale``, unit bins."""
    b = np.maximum(scale, 1e-3)

    def cdf(x):
        return np.where(x < 0, 0.5 * np.exp(x / b), 1 - 0.5 * np.exp(-x / b))

    return float(-np.log2(np.maximum(cdf(qs + 0.5) - cdf(qs - 0.5), 1e-12)).sum())


def coded(d: dict, st: float, mult) -> float:
    """Bits with the per-file scale search of agdl_plugins.codec.entropy (4 candidates) times ``mult``."""
    q = np.round(d["r"] / st)
    b0 = max(float(np.mean(np.abs(q))), 0.05)
    return min(lap_bits(q, np.maximum(b0 * f * mult, 0.02)) for f in (0.6, 0.8, 1.0, 1.25))


def fit_table(data: list[dict], key: str, nb: int, st: float) -> np.ndarray:
    num, cnt = np.zeros(nb), np.zeros(nb)
    for d in data:
        q = np.round(d["r"] / st)
        a = np.abs(q).mean() + 1e-6
        for b in range(nb):
            sel = d[key] == b
            num[b] += (np.abs(q[sel]) / a).sum()
            cnt[b] += sel.sum()
    return num / np.maximum(cnt, 1)


tr = collect(sorted((D / "duts-tr" / "images").glob("*.jpg"))[: A.limit])
te = collect(sorted((D / "duts-te" / "images").glob("*.jpg"))[: A.limit])
for st in (6.0, 10.0, 16.0, 24.0, 36.0):
    g = sum(coded(d, st, 1.0) for d in te)
    row = [f"step {st}: one scale {g / 8 / len(te):.0f} B/img"]
    for key, nb in (("sob", 6), ("g", 5), ("rk", 4), ("sg", 30)):
        tab = fit_table(tr, key, nb, st)
        row.append(f"{key} {sum(coded(d, st, tab[d[key]]) for d in te) / g:.3f}")
    print(" | ".join(row), flush=True)
