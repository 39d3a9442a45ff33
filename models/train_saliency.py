"""Train F v2's saliency U-Net on DUTS-TR masks (64x64 thumbnails of JPEG base layers) and export
``models/weights/predictor_v2.safetensors``.

Command used for the shipped weights (2-core CPU):
    python -m models.train_saliency --minutes 12 --threads 2 --seed 0 --batch 32
"""

from __future__ import annotations

import argparse
import json
import random
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from . import data as D
from . import weights as W
from .saliency import SaliencyEdgePredictor, thumbnail


def build(pairs, qualities_per_image: int, rng: random.Random):
    xs, ms = [], []
    for img_p, mask_p in pairs:
        rgb = Image.open(img_p).convert("RGB")
        mask = torch.from_numpy(np.asarray(Image.open(mask_p).convert("L"), np.float32) / 255.0)[None, None]
        m128 = thumbnail(mask)
        for _ in range(qualities_per_image):
            y_base, _, _ = D.jpeg_base_luma(rgb, D.sample_quality(rng))
            x = torch.from_numpy(y_base.astype(np.float32) / 255.0)[None, None]
            xs.append(thumbnail(x))
            ms.append(m128)
    return torch.cat(xs), torch.cat(ms).clamp(0, 1)


def evaluate(model, x, m) -> dict:
    with torch.inference_mode():
        p = torch.sigmoid(model.saliency(x))
    mae = float((p - m).abs().mean())
    pb, mb = p > 0.5, m > 0.5
    iou = float(((pb & mb).sum((1, 2, 3)) / ((pb | mb).sum((1, 2, 3)).clamp(min=1))).mean())
    return {"mae": mae, "iou": iou}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=D.DEFAULT_ROOT)
    ap.add_argument("--minutes", type=float, default=14.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--export", default=str(W.WEIGHTS_DIR / "predictor_v2.safetensors"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    t0 = time.time()
    xtr, mtr = build(D.list_pairs(a.data, "train"), 2, rng)
    xva, mva = build(D.list_pairs(a.data, "val"), 1, rng)
    print(f"data: {len(xtr)} train / {len(xva)} val thumbnails in {time.time() - t0:.0f} s", flush=True)
    model = SaliencyEdgePredictor()
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    budget = a.minutes * 60
    t_start, step, seen = time.time(), 0, 0
    while time.time() - t_start < budget:
        frac = (time.time() - t_start) / budget
        for g in opt.param_groups:
            g["lr"] = a.lr * 0.5 * (1 + np.cos(np.pi * frac))
        idx = torch.randint(0, len(xtr), (a.batch,))
        x, m = xtr[idx], mtr[idx]
        if rng.random() < 0.5:
            x, m = x.flip(-1), m.flip(-1)
        logit = model.saliency(x)
        p = torch.sigmoid(logit)
        dice = 1 - (2 * (p * m).sum((1, 2, 3)) + 1) / (p.sum((1, 2, 3)) + m.sum((1, 2, 3)) + 1)
        loss = F.binary_cross_entropy_with_logits(logit, m) + dice.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        seen += len(idx)
        if step % 200 == 0:
            print(f"step {step} seen {seen} loss {loss.item():.4f} val {evaluate(model, xva, mva)}", flush=True)
    model.eval()
    val = evaluate(model, xva, mva)
    minutes = (time.time() - t_start) / 60
    print(f"final val {val} after {minutes:.1f} min, {seen} thumbnails", flush=True)
    W.export(model, a.export, {
        "command": "python -m models.train_saliency " + " ".join(f"--{k} {v}" for k, v in vars(a).items()
                                                              if k not in ("data", "export")),
        "minutes": minutes, "seen": seen, "val": json.dumps(val), "version": 2,
    })
    print(f"exported {a.export}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
