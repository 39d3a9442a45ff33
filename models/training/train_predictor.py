"""Train network F (CriticalPixelPredictor) on eq.-1 labels computed with the trained G.

label = dilate(canny(orig luma), 1) & (salient mask >= 128) & (|G(base) - orig| > 8 grey levels)
(kornia.filters.canny on [0,1] images with default thresholds; G = models/weights/restorer_v1).

    python -m models.training.train_predictor --minutes 20 --threads 2
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from .. import weights as W
from ..predictor import CriticalPixelPredictor
from ..restorer import param_count
from . import data as D
from .cs import critical_target
from .train_restorer import VAL_QUALITIES, start_run


@torch.inference_mode()
def label_pool(pool, g, chunk=16):
    n = len(pool["base"])
    labels = np.zeros(pool["base"].shape, dtype=np.uint8)
    for s in range(0, n, chunk):
        idx = np.arange(s, min(n, s + chunk))
        b, o, qt, m = D.to_tensors(pool, idx)
        r = torch.round(g(b, qt).clamp(0, 1) * 255) / 255
        labels[idx] = critical_target(o, r, m)[:, 0].numpy().astype(np.uint8)
    pool["label"] = labels
    return pool


def topn_metrics(logits, labels, masks=None):
    """Per image: N = #label pixels; top-N by logit (ties by index). Returns mean P/R/F1 over images
    with N > 0 (P = R = F1 when N is the true count) and the fraction of top-N inside the ROI."""
    out = []
    for i in range(logits.shape[0]):
        lab = labels[i].reshape(-1).bool()
        n = int(lab.sum())
        if n == 0:
            continue
        s = logits[i].reshape(-1).double()
        order = torch.argsort(-s, stable=True)[:n]
        tp = int(lab[order].sum())
        p = tp / n
        roi = float(masks[i].reshape(-1)[order].float().mean()) if masks is not None else float("nan")
        out.append((p, roi))
    a = np.asarray(out)
    return {"topN_P=R=F1": float(a[:, 0].mean()), "topN_in_roi": float(a[:, 1].mean()), "n_images": len(out)}


@torch.inference_mode()
def validate(model, vpools):
    model.eval()
    res = {}
    for q, pool in vpools.items():
        b, o, qt, m = D.to_tensors(pool, np.arange(len(pool["base"])))
        lab = torch.from_numpy(pool["label"])[:, None]
        lg = model(b, qt)
        res[q] = topn_metrics(lg, lab, m)
        res[q]["label_frac"] = float(lab.float().mean())
    model.train()
    return res


@torch.inference_mode()
def baseline(vpools):
    """Classical reference: rank by Sobel gradient magnitude of the base layer (no saliency)."""
    import kornia
    res = {}
    for q, pool in vpools.items():
        b, o, qt, m = D.to_tensors(pool, np.arange(len(pool["base"])))
        lab = torch.from_numpy(pool["label"])[:, None]
        res[q] = topn_metrics(kornia.filters.sobel(b), lab, m)
    return res


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=D.DEFAULT_ROOT)
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--out", default="runs/predictor")
    ap.add_argument("--export", default=str(W.PREDICTOR_FILE))
    ap.add_argument("--restorer", default=str(W.RESTORER_FILE))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--patch", type=int, default=160)
    ap.add_argument("--per-image", type=int, default=2)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--pos-weight", type=float, default=8.0)
    ap.add_argument("--resume", default=None)
    ap.add_argument("--ckpt-minutes", type=float, default=4.0)
    ap.add_argument("--max-images", type=int, default=0)
    a = ap.parse_args(argv)

    out, log, cmd = start_run(a, "train_predictor", argv)
    g = W.load_restorer(a.restorer)
    model = CriticalPixelPredictor()
    log(f"params {param_count(model)} hparams {model.hparams}")
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    seen, elapsed0, step = 0, 0.0, 0
    if a.resume:
        ck = torch.load(a.resume, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        seen, elapsed0, step = ck["seen"], ck["elapsed"], ck["step"]

    pairs = D.list_pairs(a.data, "train")
    if a.max_images:
        pairs = pairs[:a.max_images]
    t0 = time.time()
    pool = D.make_pool(pairs, a.patch, a.per_image, a.seed + 77, with_mask=True, log=log)
    label_pool(pool, g)
    P = len(pool["base"])
    log(f"pool {P} patches of {a.patch}px labelled in {time.time() - t0:.0f}s; "
        f"label frac {pool['label'].mean():.4f}, roi frac {(pool['mask'] >= 128).mean():.3f}")
    vpools = {}
    vpairs = D.list_pairs(a.data, "val")[:24]
    for q in VAL_QUALITIES:
        vpools[q] = label_pool(D.make_pool(vpairs, 192, 1, 4321, qualities=[q], with_mask=True,
                                           flips=False), g)
    base_ref = baseline(vpools)
    log(f"baseline (sobel of base): {json.dumps(base_ref)}")

    budget = a.minutes * 60.0
    rng = np.random.default_rng(a.seed + step)
    tstart = time.time() - elapsed0
    last_ck = time.time()
    pw = torch.tensor([a.pos_weight])
    loss_acc, n_acc = 0.0, 0
    model.train()

    def save_ck():
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "seen": seen,
                    "elapsed": time.time() - tstart, "step": step}, out / "last.pt")

    while time.time() - tstart < budget:
        frac = (time.time() - tstart) / budget
        lr = 1e-6 + (a.lr - 1e-6) * 0.5 * (1 + math.cos(math.pi * frac))
        for gr in opt.param_groups:
            gr["lr"] = lr
        idx = rng.integers(0, P, a.batch)
        b, o, qt, m = D.to_tensors(pool, idx)
        lab = torch.from_numpy(pool["label"][idx]).float()[:, None]
        k = int(rng.integers(0, 4))
        if k:
            b, lab = torch.rot90(b, k, (2, 3)), torch.rot90(lab, k, (2, 3))
        lg = model(b, qt)
        loss = F.binary_cross_entropy_with_logits(lg, lab, pos_weight=pw)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seen += a.batch
        step += 1
        loss_acc += loss.item()
        n_acc += 1
        if step % 50 == 0:
            log(f"step {step} seen {seen} loss {loss_acc / n_acc:.4f} lr {lr:.2e}")
            loss_acc, n_acc = 0.0, 0
        if time.time() - last_ck > a.ckpt_minutes * 60:
            save_ck()
            last_ck = time.time()
            log(f"checkpoint; val {json.dumps(validate(model, vpools))}")
    save_ck()
    v = validate(model, vpools)
    minutes = (time.time() - tstart) / 60
    log(f"final val: {json.dumps(v)}")
    meta = {"id": W.PREDICTOR_ID, "weights_version": W.WEIGHTS_VERSION["predictor"],
            "command": cmd, "minutes": round(minutes, 2), "patches_seen": seen, "patch": a.patch,
            "restorer_for_labels": os.path.basename(a.restorer),
            "restorer_sha256": W.sha256_file(a.restorer),
            "val": v, "val_baseline_sobel": base_ref,
            "val_set": "24 crops 192px of last-50 duts-tr (held out), Pillow JPEG q10/20/30/50",
            "label": "dilate(kornia canny(orig),1) & mask>=128 & |G(base)-orig|>8/255",
            "input": ("x (B,1,H,W) float32 base luma/255 (any H,W); "
                      "qtable (B,64) = Pillow quantization[0] order / 255; output logits"),
            "torch": torch.__version__}
    W.export(model, a.export, meta)
    log(f"exported {a.export} ({os.path.getsize(a.export)} bytes) seen {seen} in {minutes:.1f} min")


if __name__ == "__main__":
    main()
