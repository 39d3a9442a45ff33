"""Train F's saliency U-Net on DUTS-TR masks (64x64 thumbnails of JPEG base layers) and export
``models/weights/predictor_v{version}.safetensors``.

Command used for the shipped v2 weights (2-core CPU):
    python -m models.training.train_saliency --minutes 12 --threads 2 --seed 0 --batch 32

and for the shipped v3 weights (the U-Net sees the base's Y, Cb, Cr; ``MODEL_CARD_predictor_v3.md``):
    python -m models.training.train_saliency --minutes 12 --threads 1 --seed 0 --batch 32 --colour --version 3 \
        --dtype float16

Options added after v2 (all off by default, so the v2 command above means exactly what it did):
``--colour`` (Y, Cb, Cr thumbnails), ``--side`` (thumbnail side), ``--dtype`` (export precision),
``--per-image N`` JPEG base layers per training image (v2: 2), ``--crop-min A`` random crops of A..1 of the
image area before the thumbnail (variant 0 of each image stays the whole image), ``--aug`` per-sample
horizontal flips and brightness/contrast jitter of the luminance (``--jitter``), ``--ch`` U-Net width
(recorded in hparams, so ``models.weights.load_predictor`` rebuilds it), ``--version`` (export metadata
and default export file name).

Tried (luminance only) and NOT shipped (beat v2 on the held-out DUTS-TR 50, IoU .557 vs .501, but lost on
DUTS-TE first 40, IoU .430 vs .453 / MAE .173 vs .154; ``scripts/eval_saliency.py``):
    python -m models.training.train_saliency --minutes 30 --threads 1 --seed 0 --batch 32 --per-image 6 \
        --crop-min 0.7 --aug --ch 16 --version 3 --export runs/f_luma_aug.safetensors
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .. import weights as W
from ..saliency import SaliencyEdgePredictor, thumbnail
from . import data as D


def _crop_box(rng: random.Random, w: int, h: int, area_min: float):
    """Random box covering area_min..1 of the image, aspect ratio jittered within [3/4, 4/3] of the image's."""
    a = rng.uniform(area_min, 1.0)
    r = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
    cw = max(8, min(w, round(w * math.sqrt(a * r))))
    ch = max(8, min(h, round(h * math.sqrt(a / r))))
    x0, y0 = rng.randint(0, w - cw), rng.randint(0, h - ch)
    return x0, y0, cw, ch


def build(pairs, qualities_per_image: int, rng: random.Random, crop_min: float = 1.0, log=None,
          colour: bool = False, side: int = 64):
    """64x64 thumbnails of base luminance and mask; ``qualities_per_image`` JPEG base layers per image.

    With ``crop_min < 1`` every variant but the first is a random crop (crop_min..1 of the area) of the
    decoded base layer and its mask before the thumbnail; with ``crop_min >= 1`` no random number is
    drawn for cropping (identical to the v2 recipe).
    """
    xs, ms = [], []
    for k, (img_p, mask_p) in enumerate(pairs):
        rgb = Image.open(img_p).convert("RGB")
        mask = torch.from_numpy(np.asarray(Image.open(mask_p).convert("L"), np.float32) / 255.0)[None, None]
        m_full = thumbnail(mask, side)
        for j in range(qualities_per_image):
            q = D.sample_quality(rng)
            if colour:
                x = torch.from_numpy(D.jpeg_base_planes(rgb, q).astype(np.float32) / 255.0).permute(2, 0, 1)[None]
            else:
                y_base, _, _ = D.jpeg_base_luma(rgb, q)
                x = torch.from_numpy(y_base.astype(np.float32) / 255.0)[None, None]
            if crop_min < 1.0 and j > 0:
                h, w = x.shape[-2:]
                x0, y0, cw, ch = _crop_box(rng, w, h, crop_min)
                xs.append(thumbnail(x[..., y0:y0 + ch, x0:x0 + cw], side))
                ms.append(thumbnail(mask[..., y0:y0 + ch, x0:x0 + cw], side))
            else:
                xs.append(thumbnail(x, side))
                ms.append(m_full)
        if log and (k + 1) % 500 == 0:
            log(f"build: {k + 1}/{len(pairs)} images, {len(xs)} thumbnails")
    return torch.cat(xs), torch.cat(ms).clamp(0, 1)


def augment(x: torch.Tensor, m: torch.Tensor, jitter: float, gen: torch.Generator):
    """Per-sample horizontal flip and luminance brightness/contrast jitter (masks only flipped)."""
    b = x.shape[0]
    flip = torch.rand(b, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    m = torch.where(flip[:, None, None, None], m.flip(-1), m)
    if jitter > 0:
        c = 1 + (torch.rand(b, 1, 1, 1, generator=gen) * 2 - 1) * jitter
        br = (torch.rand(b, 1, 1, 1, generator=gen) * 2 - 1) * (jitter / 2)
        mu = x.mean((1, 2, 3), keepdim=True)
        x = ((x - mu) * c + mu + br).clamp(0, 1)
    return x, m


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
    ap.add_argument("--per-image", type=int, default=2, help="JPEG base layers (qualities) per training image")
    ap.add_argument("--crop-min", type=float, default=1.0,
                    help="random crops of this..1 of the image area for variants 1.. of each image (1 = off)")
    ap.add_argument("--aug", action="store_true",
                    help="per-sample flips + brightness/contrast jitter (default: v2's per-batch flip)")
    ap.add_argument("--jitter", type=float, default=0.15, help="contrast +-j, brightness +-j/2 (with --aug)")
    ap.add_argument("--ch", type=int, default=16, help="U-Net base width (16 = v2)")
    ap.add_argument("--colour", action="store_true", help="the U-Net sees the base's Y, Cb, Cr (v3) instead of Y")
    ap.add_argument("--side", type=int, default=64, help="thumbnail side the U-Net sees (64 = v2)")
    ap.add_argument("--version", type=int, default=2, help="weights version recorded in the export metadata")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16"], help="export precision")
    ap.add_argument("--export", default=None, help="default: models/weights/predictor_v{version}.safetensors")
    a = ap.parse_args()
    if a.export is None:
        a.export = str(W.WEIGHTS_DIR / f"predictor_v{a.version}.safetensors")
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    gen = torch.Generator().manual_seed(a.seed + 1)
    t0 = time.time()
    xtr, mtr = build(D.list_pairs(a.data, "train"), a.per_image, rng, a.crop_min,
                     log=lambda s: print(s, flush=True), colour=a.colour, side=a.side)
    xva, mva = build(D.list_pairs(a.data, "val"), 1, rng, colour=a.colour, side=a.side)
    print(f"data: {len(xtr)} train / {len(xva)} val thumbnails in {time.time() - t0:.0f} s", flush=True)
    model = SaliencyEdgePredictor(ch=a.ch, cin=3 if a.colour else 1, side=a.side)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: ch={a.ch}, {n_params} parameters ({4 * n_params / 1e6:.2f} MB float32)", flush=True)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    budget = a.minutes * 60
    t_start, step, seen = time.time(), 0, 0
    while time.time() - t_start < budget:
        frac = (time.time() - t_start) / budget
        for g in opt.param_groups:
            g["lr"] = a.lr * 0.5 * (1 + np.cos(np.pi * frac))
        idx = torch.randint(0, len(xtr), (a.batch,))
        x, m = xtr[idx], mtr[idx]
        if a.aug:
            x, m = augment(x, m, a.jitter, gen)
        elif rng.random() < 0.5:
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
            el = (time.time() - t_start) / 60
            print(f"step {step} seen {seen} t {el:.1f} min loss {loss.item():.4f} "
                  f"val {evaluate(model, xva, mva)}", flush=True)
    model.eval()
    val = evaluate(model, xva, mva)
    minutes = (time.time() - t_start) / 60
    print(f"final val {val} after {minutes:.1f} min, {seen} thumbnails", flush=True)
    defaults = {"per_image": 2, "crop_min": 1.0, "aug": False, "jitter": 0.15, "ch": 16, "version": 2,
                "colour": False, "side": 64, "dtype": "float32"}

    def flag(k, v):
        return f"--{k.replace('_', '-')}" if isinstance(v, bool) else f"--{k.replace('_', '-')} {v}"

    W.export(model, a.export, {
        "command": "python -m models.training.train_saliency " + " ".join(
            flag(k, v) for k, v in vars(a).items()
            if k not in ("data", "export") and not (k in defaults and v == defaults[k])
            and not (k == "jitter" and not a.aug)),
        "minutes": minutes, "seen": seen, "val": json.dumps(val), "version": a.version,
    }, dtype=a.dtype)
    print(f"exported {a.export}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
