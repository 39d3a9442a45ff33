"""AGDL's saliency and critical pixels as an attention weight in someone else's training loss (issue 31).

A plain DnCNN restores the luminance of JPEG images. Two copies are trained identically on DUTS-TR crops; one
with plain MSE, one with an attention-weighted MSE whose per-pixel weight comes from ``kornia_ops``:

.. math:: w = 1 + a \\cdot \\mathrm{saliency\\_map}(x, F) + b \\cdot \\mathrm{critical\\_pixel\\_mask}(F(x), k)

where ``x`` is the decoded JPEG luminance and ``F`` is AGDL's network F v2 (shipped weights, its
``saliency_logits`` head and its critical-pixel scores), so the weight is what a receiver can compute from the
compressed image alone. Evaluated on DUTS-TE (first ``--n-test`` names): ROI PSNR on the ground-truth mask and
whole-image PSNR. The weights are computed on the whole image, then cropped with it.

    python examples/attention_loss.py            # full run, <= 10 min on 1 CPU thread
    python examples/attention_loss.py --quick    # tiny: what CI runs (<= 1 min)

The last line of stdout is ``RESULT <json>``.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import _common as C  # noqa: E402

from kornia_ops import critical_pixel_mask, saliency_map  # noqa: E402


def load_f() -> torch.nn.Module:
    """AGDL's network F v2 (luminance input, saliency head), from the shipped safetensors weights."""
    from models.weights import WEIGHTS_DIR, load_predictor

    return load_predictor(WEIGHTS_DIR / "predictor_v2.safetensors")  # eval mode, requires_grad off


def jpeg_luma(rgb: np.ndarray, quality: int) -> tuple[np.ndarray, int]:
    """Decoded JPEG luminance (H, W) uint8 and the JPEG's size in bytes."""
    buf = io.BytesIO()
    Image.fromarray(C.luma(rgb)).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue()))), len(buf.getvalue())


@torch.no_grad()
def attention(base: torch.Tensor, f: torch.nn.Module, a: float, b: float, fraction: float) -> torch.Tensor:
    """(1, 1, H, W) base in [0, 1] -> (1, 1, H, W) loss weight ``1 + a * saliency + b * critical``."""
    sal = saliency_map(base, f)  # (1, 1, H, W) in [0, 1]
    k = int(round(fraction * base.shape[-1] * base.shape[-2]))
    crit = critical_pixel_mask(f(base), k)  # (1, 1, H, W) bool: the top-k of F's scores
    return 1.0 + a * sal + b * crit.to(base.dtype)


def crops(arrays: list[np.ndarray], size: int, n: int, rng: np.random.Generator) -> list[list[np.ndarray]]:
    """``n`` random aligned ``size`` crops of arrays sharing (H, W)."""
    h, w = arrays[0].shape[-2:]
    out = []
    for _ in range(n if h >= size and w >= size else 0):
        y0, x0 = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        out.append([arr[..., y0: y0 + size, x0: x0 + size] for arr in arrays])
    return out


def train(net: torch.nn.Module, data: list[list[torch.Tensor]], weighted: bool, steps: int, batch: int,
          seed: int) -> dict[str, float]:
    """Adam on the MSE, or on the attention-weighted MSE ``sum(w * err) / sum(w)``; returns seconds."""

    def loss_of(idx: list[int]) -> torch.Tensor:
        base, truth, w = (torch.stack([data[i][j] for i in idx]) for j in range(3))
        err = (net(base) - truth) ** 2
        return (w * err).sum() / w.sum() if weighted else err.mean()

    return C.fit(net, loss_of, len(data), steps, batch, seed)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny data and few steps (CI, <= 1 min)")
    p.add_argument("--n-train", type=int, default=200)
    p.add_argument("--crops", type=int, default=2)
    p.add_argument("--crop", type=int, default=64)
    p.add_argument("--n-test", type=int, default=100)
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--quality", type=int, default=20, help="JPEG quality of the inputs")
    p.add_argument("--a", type=float, default=4.0, help="weight of the saliency term")
    p.add_argument("--b", type=float, default=4.0, help="weight of the critical-pixel term")
    p.add_argument("--critical-fraction", type=float, default=0.05)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.quick:
        args.n_train, args.crops, args.n_test, args.steps, args.batch = 3, 4, 2, 30, 4
    torch.set_num_threads(args.threads)  # a script: it owns its process
    f = load_f()

    def prepare(rgb: np.ndarray) -> tuple[torch.Tensor, np.ndarray, torch.Tensor, int]:
        y, nbytes = jpeg_luma(rgb, args.quality)
        base = torch.from_numpy(y.astype(np.float32) / 255.0)[None, None]
        return base, C.luma(rgb), attention(base, f, args.a, args.b, args.critical_fraction), nbytes

    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    data: list[list[torch.Tensor]] = []
    for _, rgb, _ in C.load_split("duts-tr", args.n_train):
        base, truth, w, _ = prepare(rgb)
        t = torch.from_numpy(truth.astype(np.float32) / 255.0)[None]
        data += [list(c) for c in crops([base[0], t, w[0]], args.crop, args.crops, rng)]
    test = [(prepare(rgb), mask) for _, rgb, mask in C.load_split("duts-te", args.n_test)]
    t_data = time.perf_counter() - t0

    torch.manual_seed(args.seed)
    plain, attn = C.DnCNN(), C.DnCNN()
    attn.load_state_dict(plain.state_dict())
    seconds = {"plain MSE": train(plain, data, False, args.steps, args.batch, args.seed),
               "attention-weighted MSE": train(attn, data, True, args.steps, args.batch, args.seed)}

    rows: dict[str, dict[str, list[float]]] = {}
    with torch.no_grad():
        for (base, truth, _w, _), mask in test:
            outs = {"JPEG alone": C.to_uint8(base), "DnCNN, plain MSE": C.to_uint8(plain(base)),
                    "DnCNN, attention-weighted MSE": C.to_uint8(attn(base))}
            for name, out in outs.items():
                r = rows.setdefault(name, {"psnr": [], "roi_psnr": []})
                r["psnr"].append(C.psnr(out, truth))
                if mask.any():
                    r["roi_psnr"].append(C.psnr(out, truth, mask))
    weights = torch.cat([w.flatten() for (_, _, w, _), _ in test])
    result = {
        "variants": {k: {"psnr": C.mean(v["psnr"]), "roi_psnr": C.mean(v["roi_psnr"])} for k, v in rows.items()},
        "weight_min": float(weights.min()), "weight_max": float(weights.max()), "weight_mean": float(weights.mean()),
        "bpp": C.mean([8 * nb / tr.size for (_, tr, _, nb), _ in test]),
        "data": "duts" if C.dataset_root() else "scikit-image fallback",
        "n_train_crops": len(data), "n_test": len(test), "train_seconds": seconds, "data_seconds": t_data,
        "steps": args.steps, "batch": args.batch, "crop": args.crop, "a": args.a, "b": args.b,
        "quality": args.quality, "threads": args.threads,
    }
    print(f"{len(test)} test images, JPEG q{args.quality}, {result['bpp']:.3f} bpp")
    print(f"{'variant':34s} {'PSNR-Y':>8s} {'ROI-PSNR-Y':>11s}")
    for name, v in result["variants"].items():
        print(f"{name:34s} {v['psnr']:8.2f} {v['roi_psnr']:11.2f}")
    print("training seconds: " + ", ".join(f"{k} {v['wall']:.0f} ({v['cpu']:.0f} CPU)" for k, v in seconds.items())
          + f"; data {t_data:.0f} s")
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
