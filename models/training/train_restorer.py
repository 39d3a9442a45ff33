"""Train network G (DualDomainRestorer). Time-budgeted, L1, Adam + cosine LR (in wall-clock time).

    python -m models.training.train_restorer --minutes 30 --threads 2
    python -m models.training.train_restorer --finetune-projection \
        --init models/weights/restorer_v1.safetensors --minutes 8
    python -m models.training.train_restorer --base-codec webp+avif --arch v2 ... --export-dtype float16   (WebP/AVIF G)

Checkpoints go to --out (default runs/restorer); final weights to --export
(default models/weights/restorer_v1.safetensors) with metadata and SHA256SUMS.
"""
import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import weights as W
from ..restorer import DualDomainRestorer, param_count
from ..restorer_v2 import MultiScaleRestorer
from . import data as D

VAL_QUALITIES = (10, 20, 30, 50)
# WebP/AVIF validation: (codec, quality) spanning AGDL's 0.3-1.0 bpp (see models.data.LOSSY_QUALITY)
LOSSY_VAL = (("webp", 10), ("webp", 30), ("webp", 60), ("avif", 25), ("avif", 40), ("avif", 60))


def log_to(path):
    fh = open(path, "a")

    def log(msg):
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        fh.write(line + "\n")
        fh.flush()
    return log


def start_run(a, module: str, argv: list[str] | None):
    """A training program's start: torch threads and seed from ``a.threads``/``a.seed`` (a training script owns
    its process), ``a.out`` created, its ``train.log`` opened and the command line logged.
    Returns (out folder, log function, the command as ``python -m models.training.<module> ...``)."""
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    log = log_to(out / "train.log")
    cmd = f"python -m models.training.{module} " + " ".join(sys.argv[1:] if argv is None else argv)
    log(f"start: {cmd}")
    return out, log, cmd


def make_val_pool(root, n_img=24, patch=128, seed=1234, codec="jpeg"):
    pairs = D.list_pairs(root, "val")[:n_img]
    pools = {}
    if codec != "jpeg":
        for c, q in LOSSY_VAL:
            if c in codec.split("+"):
                pools[f"{c}{q}"] = D.make_pool(pairs, patch, 1, seed, qualities=[q], with_mask=True, flips=False,
                                               codec=c)
        return pools
    for q in VAL_QUALITIES:
        pools[q] = D.make_pool(pairs, patch, 1, seed, qualities=[q], with_mask=True, flips=False)
    return pools


def train_pool(a, seed, log):
    """The training patch pool; with ``--pool-cache`` built once and reloaded (npz, no pickle) on resume."""
    pairs = D.list_pairs(a.data, "train")
    if a.max_images:
        pairs = pairs[:a.max_images]
    cache = Path(a.pool_cache) if a.pool_cache else None
    if cache is not None and cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            log(f"pool from cache {cache}")
            return {k: z[k] for k in z.files}
    pool = D.make_pool(pairs, a.patch, a.per_image, seed, log=log, with_mask=a.finetune_projection,
                       codec=a.base_codec)
    if cache is not None:
        tmp = cache.with_name(cache.name + ".tmp.npz")
        np.savez(tmp, **pool)
        os.replace(tmp, cache)
    return pool


def psnr(a, b):
    mse = ((a - b) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-12)
    return 10 * torch.log10(1.0 / mse)


@torch.no_grad()
def validate(model, vpools, projection=False, ratio=0.75):
    model.eval()
    res = {}
    for q, pool in vpools.items():
        b, o, qt, m = D.to_tensors(pool, np.arange(len(pool["base"])))
        out = model(b, qt)
        outq = torch.round(out.clamp(0, 1) * 255) / 255
        r = {"jpeg_psnr": psnr(b, o).mean().item(), "gain_db": (psnr(outq, o) - psnr(b, o)).mean().item()}
        if projection:
            from .cs import critical_target, project
            c = critical_target(o, out.clamp(0, 1), m)
            pj = project(out, o, c, ratio=ratio).clamp(0, 1)
            pj = torch.round(pj * 255) / 255
            r[f"gain_db_proj{ratio:.2f}"] = (psnr(pj, o) - psnr(b, o)).mean().item()
        res[q] = r
    model.train()
    return res


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=D.DEFAULT_ROOT)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--out", default="runs/restorer")
    ap.add_argument("--export", default=str(W.RESTORER_FILE))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=80)
    ap.add_argument("--per-image", type=int, default=24)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--resume", default=None, help="checkpoint .pt in --out to resume from")
    ap.add_argument("--init", default=None, help="safetensors weights to start from")
    ap.add_argument("--ckpt-minutes", type=float, default=4.0)
    ap.add_argument("--finetune-projection", action="store_true")
    ap.add_argument("--step", type=float, default=12.0, help="measurement quantiser step, grey levels")
    ap.add_argument("--max-images", type=int, default=0)
    ap.add_argument("--arch", choices=("v1", "v2"), default="v1",
                    help="v1 = DualDomainRestorer (full-res), v2 = MultiScaleRestorer (U-Net, 1/8-res body)")
    ap.add_argument("--hparams", default="{}", help="JSON constructor arguments for the architecture")
    ap.add_argument("--weights-version", type=int, default=W.WEIGHTS_VERSION["restorer"],
                    help="version recorded in the metadata (the file name restorer_vN is what the codec reads)")
    ap.add_argument("--base-codec", choices=("jpeg", "webp", "avif", "webp+avif"), default="jpeg",
                    help="base layer of the training pairs; webp/avif condition on models.base_cond")
    ap.add_argument("--pool-cache", default=None, help="npz file: build the training pool once, reuse it")
    ap.add_argument("--export-dtype", choices=("float32", "float16"), default="float32",
                    help="storage dtype of the exported weights (loaded back as float32)")
    ap.add_argument("--part-id", default=None,
                    help="part id in the metadata (default agdl-g, or agdl-g-webp-avif for webp/avif bases)")
    a = ap.parse_args(argv)

    out, log, cmd = start_run(a, "train_restorer", argv)

    arch = {"v1": DualDomainRestorer, "v2": MultiScaleRestorer}[a.arch]
    model = arch(**json.loads(a.hparams))
    if a.init:
        model.load_state_dict(W.load_state(a.init, check=False))  # shipped shards/references included
        log(f"init from {a.init}")
    log(f"params {param_count(model)} hparams {model.hparams}")
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    seen, elapsed0, step = 0, 0.0, 0
    if a.resume:
        ck = torch.load(a.resume, weights_only=True)  # tensors and numbers only: no pickle code
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        seen, elapsed0, step = ck["seen"], ck["elapsed"], ck["step"]
        log(f"resumed {a.resume}: seen {seen} elapsed {elapsed0:.0f}s")

    t0 = time.time()
    pool = train_pool(a, a.seed + step, log)
    P = len(pool["base"])
    log(f"pool {P} patches of {a.patch}px in {time.time() - t0:.0f}s")
    vpools = make_val_pool(a.data, codec=a.base_codec)
    v = validate(model, vpools, projection=a.finetune_projection)
    log(f"val at start: {json.dumps(v)}")

    budget = a.minutes * 60.0
    rng = np.random.default_rng(a.seed + step)
    tstart = time.time() - elapsed0
    last_ck = time.time()
    loss_acc, n_acc = 0.0, 0
    model.train()

    def save_ck():
        tmp = out / "last.pt.tmp"  # atomic: a session that ends mid-save keeps the previous checkpoint
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "seen": seen,
                    "elapsed": time.time() - tstart, "step": step}, tmp)
        os.replace(tmp, out / "last.pt")

    while True:
        el = time.time() - tstart
        if el >= budget:
            break
        frac = el / budget
        lr = 1e-6 + (a.lr - 1e-6) * 0.5 * (1 + math.cos(math.pi * frac))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = rng.integers(0, P, a.batch)
        t = D.to_tensors(pool, idx)
        b, o, qt = t[0], t[1], t[2]
        # random 90-degree rotation (square patches; keeps the 8x8 grid aligned)
        k = int(rng.integers(0, 4))
        if k:
            b, o = torch.rot90(b, k, (2, 3)), torch.rot90(o, k, (2, 3))
        y = model(b, qt)
        if a.finetune_projection:
            from .cs import critical_target, project
            m = t[3]
            if k:
                m = torch.rot90(m, k, (2, 3))
            c = critical_target(o, y.detach().clamp(0, 1), m)
            ratio = float(rng.choice([0.5, 0.75, 1.0]))
            y = project(y, o, c, ratio=ratio, step=a.step / 255.0, seed=step * 1000)
        loss = F.l1_loss(y, o)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seen += a.batch
        step += 1
        loss_acc += loss.item()
        n_acc += 1
        if step % 100 == 0:
            log(f"step {step} seen {seen} loss {loss_acc / n_acc * 255:.3f} (grey) lr {lr:.2e} "
                f"{seen / max(1, time.time() - tstart - elapsed0 * 0):.1f} patches/s")
            loss_acc, n_acc = 0.0, 0
        if time.time() - last_ck > a.ckpt_minutes * 60:
            save_ck()
            last_ck = time.time()
            log(f"checkpoint; val {json.dumps(validate(model, vpools))}")

    save_ck()
    minutes = (time.time() - tstart) / 60
    if a.export_dtype == "float16":  # validate what is stored: weights rounded to float16, run in float32
        with torch.no_grad():
            for t in model.state_dict().values():
                if t.is_floating_point():
                    t.copy_(t.half().float())
    v = validate(model, vpools, projection=True)
    log(f"final val: {json.dumps(v)}")
    lossy = a.base_codec != "jpeg"
    part_id = a.part_id or ("agdl-g-webp-avif" if lossy else W.RESTORER_ID)
    val_set = ("24 crops 128px of last-50 duts-tr (held out), "
               + (f"Pillow {'/'.join(f'{c} q{q}' for c, q in LOSSY_VAL)}" if lossy else "Pillow JPEG q10/20/30/50"))
    meta = {"id": part_id, "weights_version": a.weights_version, "base_codec": a.base_codec,
            "command": cmd, "minutes": round(minutes, 2), "patches_seen": seen, "patch": a.patch,
            "finetune_projection": a.finetune_projection,
            "val": v, "val_set": val_set,
            "input": ("x (B,1,H,W) float32 luma/255, H,W multiple of 8 grid at (0,0); "
                      + ("cond (B,64) = models.base_cond.base_cond(codec, quality) / 255" if lossy else
                         "qtable (B,64) = Pillow quantization[0] order / 255")),
            "torch": torch.__version__}
    W.export(model, a.export, meta, dtype=a.export_dtype)
    log(f"exported {a.export} ({os.path.getsize(a.export)} bytes) seen {seen} in {minutes:.1f} min")


if __name__ == "__main__":
    main()
