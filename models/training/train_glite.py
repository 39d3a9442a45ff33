"""Train G-lite (``models.restorer_lite.LiteRestorer``) by distillation from G v2 (issue 29, item 2).

    PYTHONPATH=$PWD python -m models.training.train_glite --minutes 80 --threads 1        # JPEG bases
    PYTHONPATH=$PWD python -m models.training.train_glite --base-codec webp+avif --out runs/glite_wa ...

Phase 1 (once, cached under ``--out``; a restarted run reuses it): a pool of 128 px crops from DUTS-TR
(first 1,450 images; the last 50 are the held-out validation set) and ``duts-tr-extra`` (first
``--extra-images``), each with its base layer made exactly as the codec makes it (``models.training.data``:
Pillow JPEG at q drawn like G v2's training, 75 % in 10..60, else 61..90; or WebP/AVIF), and the teacher's
output on that base (G v2, or the WebP/AVIF restorer for lossy bases) stored as float16 residuals
``teacher - base``. Phase 2: the student only: loss = (1 - w_gt) * L1(student, teacher) + w_gt * L1(student,
ground truth), Adam, linear warm-up then cosine learning rate in wall-clock time, random 90° rotations.

Checkpoints (safetensors: model + Adam state, counters as JSON metadata; no pickle) every ``--ckpt-minutes``
to ``{out}/last.safetensors`` and a copy to ``--ckpt-copy``; one CSV row per checkpoint to ``{out}/log.csv``
(mirrored to ``--log-copy``). ``--resume`` continues from ``{out}/last.safetensors`` (schedule continues from
the elapsed time). At the end the weights are exported (float16 by default) with metadata and SHA256SUMS.
DUTS-TE is never read.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import weights as W
from ..macs import macs_per_pixel
from ..restorer import param_count
from ..restorer_lite import LiteRestorer
from . import data as D
from .runlog import append_log
from .train_restorer import make_val_pool, psnr, start_run

REPO = Path(__file__).resolve().parents[2]
LOG_FIELDS = ["utc", "step", "seen", "train_minutes", "lr", "loss_teacher", "loss_gt", "patches_per_s", "val"]
TEACHER = {"jpeg": "restorer_v2.safetensors", "webp+avif": "restorer_webp_avif_v1.safetensors"}


def extra_pairs(root: str, n: int) -> list[tuple[Path, Path]]:
    """The first ``n`` images of ``duts-tr-extra`` (sorted by name), as (image, mask) pairs like ``list_pairs``."""
    d = Path(root) / "duts-tr-extra"
    imgs = sorted((d / "images").glob("*.jpg"))[:n]
    return [(p, d / "masks" / (p.stem + ".png")) for p in imgs]


@torch.inference_mode()
def teacher_residual(teacher: torch.nn.Module, base: np.ndarray, qtable: np.ndarray, batch: int = 32) -> np.ndarray:
    """(P, h, w) float16 ``teacher(base) - base`` (luma in [0, 1]) for uint8 bases (P, h, w), tables (P, 64)."""
    out = np.empty(base.shape, dtype=np.float16)
    for i in range(0, len(base), batch):
        b = torch.from_numpy(base[i:i + batch]).float().div_(255.0)[:, None]
        q = torch.from_numpy(qtable[i:i + batch].astype(np.float32) / 255.0)
        out[i:i + batch] = (teacher(b, q) - b)[:, 0].numpy().astype(np.float16)
    return out


def pool_args(a) -> dict:
    """The arguments that decide the distillation pool's content (recorded in the cache and checked on reuse)."""
    return {k: getattr(a, k) for k in ("base_codec", "patch", "per_image", "extra_images", "max_images",
                                       "per_image_extra", "seed")}


def build_cache(a, log) -> dict[str, np.ndarray]:
    """The distillation pool (npz under ``--out``, built once): base, orig, qtable, quality, teacher residual."""
    path = Path(a.out) / f"cache_{a.base_codec.replace('+', '_')}.npz"
    args = json.dumps(pool_args(a), sort_keys=True)
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            pool = {k: z[k] for k in z.files}
        stored = pool.pop("pool_args", None)
        if stored is None:  # caches written before the arguments were recorded (G-lite v1's)
            log(f"cache from {path} (its pool arguments were not recorded: make sure they match {args})")
        elif stored.tobytes().decode() != args:
            raise SystemExit(f"{path} was built with {stored.tobytes().decode()}, this run asks for {args}: "
                             "use another --out or the same pool arguments")
        else:
            log(f"cache from {path}")
        return pool
    t0 = time.time()
    tr = D.list_pairs(a.data, "train")[:a.max_images or None]
    pairs = tr + extra_pairs(a.data, a.extra_images)
    pool_a = D.make_pool(tr, a.patch, a.per_image, a.seed, log=log, codec=a.base_codec)
    pool_b = D.make_pool(pairs[len(tr):], a.patch, a.per_image_extra, a.seed + 1, log=log, codec=a.base_codec)
    pool = {k: np.concatenate([pool_a[k], pool_b[k]]) for k in pool_a}
    log(f"pool {len(pool['base'])} patches ({len(tr)} duts-tr + {len(pairs) - len(tr)} extra images) "
        f"in {time.time() - t0:.0f}s")
    teacher = W.load_restorer(W.WEIGHTS_DIR / TEACHER[a.base_codec])
    t1 = time.time()
    pool["teacher"] = teacher_residual(teacher, pool["base"], pool["qtable"])
    log(f"teacher outputs in {time.time() - t1:.0f}s")
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **pool, pool_args=np.frombuffer(args.encode(), dtype=np.uint8))
    os.replace(tmp, path)
    return pool


@torch.no_grad()
def validate(model: torch.nn.Module, vpools: dict, teacher: torch.nn.Module) -> dict:
    """PSNR-Y gain over the base (dB) of the student and the teacher on each validation pool (rounded output)."""
    model.eval()
    res = {}
    for q, pool in vpools.items():
        b, o, qt = D.to_tensors(pool, np.arange(len(pool["base"])))[:3]
        r = {"base_psnr": round(psnr(b, o).mean().item(), 3)}
        for name, net in (("student", model), ("teacher", teacher)):
            if net is None:
                continue
            y = torch.round(net(b, qt).clamp(0, 1) * 255) / 255
            r[f"{name}_gain"] = round((psnr(y, o) - psnr(b, o)).mean().item(), 3)
        res[str(q)] = r
    model.train()
    return res


def save_checkpoint(path: Path, model, opt, counters: dict, run: dict) -> None:
    """Model + Adam state as safetensors with JSON counters, written atomically."""
    from safetensors.torch import save_file
    t = {f"model.{k}": v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    for i, p in enumerate(model.parameters()):
        st = opt.state.get(p)
        if st:
            t[f"opt.{i}.exp_avg"] = st["exp_avg"].contiguous()
            t[f"opt.{i}.exp_avg_sq"] = st["exp_avg_sq"].contiguous()
            t[f"opt.{i}.step"] = torch.as_tensor(st["step"], dtype=torch.float32).reshape(1)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(t, str(tmp), metadata={"format": "agdl-glite-train-v1", "counters": json.dumps(counters),
                                     "run": json.dumps(run), "hparams": json.dumps(model.hparams)})
    os.replace(tmp, path)


def load_checkpoint(path: Path, model, opt) -> tuple[dict, dict]:
    """Restore model and Adam state from ``path``; returns (counters, run: the training command and data)."""
    from safetensors import safe_open
    with safe_open(str(path), framework="pt") as fh:
        md = dict(fh.metadata() or {})
        if md.get("format") != "agdl-glite-train-v1":
            raise ValueError(f"{path} is not a G-lite training checkpoint")
        t = {k: fh.get_tensor(k) for k in fh.keys()}
    model.load_state_dict({k[6:]: v for k, v in t.items() if k.startswith("model.")}, strict=True)
    params = list(model.parameters())
    state = {i: {"step": t[f"opt.{i}.step"].reshape(()), "exp_avg": t[f"opt.{i}.exp_avg"],
                 "exp_avg_sq": t[f"opt.{i}.exp_avg_sq"]} for i in range(len(params)) if f"opt.{i}.exp_avg" in t}
    sd = opt.state_dict()
    sd["state"] = state
    opt.load_state_dict(sd)
    return json.loads(md["counters"]), json.loads(md["run"])


@torch.no_grad()
def warm_start(model: LiteRestorer, path: Path) -> str:
    """Load exported G-lite weights into ``model`` (same widths, as many or more residual blocks).

    The blocks the file lacks keep their fresh first conv and get a zero second conv, so each is the identity and
    the deeper network starts as exactly the network in ``path``. Any other mismatch raises ``ValueError``.
    """
    from safetensors.torch import load_file
    sd = {k: v.float() for k, v in load_file(str(path)).items()}
    own = model.state_dict()
    wrong = [k for k, v in sd.items() if k in own and own[k].shape != v.shape]
    if wrong:
        raise ValueError(f"--init {path}: does not fit LiteRestorer{model.hparams}: shapes of {wrong[:5]}")
    missing, unexpected = model.load_state_dict(sd, strict=False)
    new_blocks = sorted({int(k.split(".")[1]) for k in missing if k.startswith("body.")})
    bad = [k for k in missing if not k.startswith("body.")] + list(unexpected)
    if bad:
        raise ValueError(f"--init {path}: does not fit LiteRestorer{model.hparams}: {bad[:5]}")
    for i in new_blocks:
        model.body[i].c2.weight.zero_()
        model.body[i].c2.bias.zero_()
    return f"{len(sd)} tensors loaded; new identity blocks {new_blocks}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=D.DEFAULT_ROOT)
    ap.add_argument("--base-codec", choices=("jpeg", "webp+avif"), default="jpeg")
    ap.add_argument("--minutes", type=float, default=80.0, help="training-loop budget (wall clock)")
    ap.add_argument("--out", default="runs/glite")
    ap.add_argument("--export", default=str(W.WEIGHTS_DIR / "restorer_lite_v1.safetensors"))
    ap.add_argument("--export-dtype", choices=("float32", "float16"), default="float16")
    ap.add_argument("--part-id", default="agdl-g-lite")
    ap.add_argument("--weights-version", type=int, default=1)
    ap.add_argument("--ckpt-copy", default=str(REPO / "models" / "checkpoints" / "glite_train.safetensors"))
    ap.add_argument("--log-copy", default=str(REPO / "models" / "checkpoints" / "glite_log.csv"))
    ap.add_argument("--hparams", default="{}", help="JSON LiteRestorer arguments")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=128)
    ap.add_argument("--per-image", type=int, default=4, help="crops per DUTS-TR image")
    ap.add_argument("--extra-images", type=int, default=3000, help="first N images of duts-tr-extra")
    ap.add_argument("--max-images", type=int, default=0, help="use only the first N DUTS-TR images (0: all)")
    ap.add_argument("--per-image-extra", type=int, default=2)
    ap.add_argument("--lr", type=float, default=3e-4, help="peak learning rate (1e-3 killed every ReLU)")
    ap.add_argument("--warmup-minutes", type=float, default=1.0)
    ap.add_argument("--w-gt", type=float, default=0.3, help="weight of the ground-truth L1 (teacher: 1 - w_gt)")
    ap.add_argument("--ckpt-minutes", type=float, default=5.0)
    ap.add_argument("--resume", action="store_true", help="continue from {out}/last.safetensors")
    ap.add_argument("--init", default="",
                    help="start from these exported G-lite weights (e.g. restorer_lite_v1.safetensors); residual "
                         "blocks the file lacks (a deeper --hparams) start as the identity (zero second conv)")
    ap.add_argument("--export-only", action="store_true",
                    help="export the weights of {out}/last.safetensors (e.g. of a stopped run) and exit")
    a = ap.parse_args(argv)

    out, log, cmd = start_run(a, "train_glite", argv)
    model = LiteRestorer(**json.loads(a.hparams))
    teacher = W.load_restorer(W.WEIGHTS_DIR / TEACHER[a.base_codec])
    mac_s, mac_t = macs_per_pixel(model), macs_per_pixel(teacher)
    log(f"student params {param_count(model)} hparams {model.hparams} MACs/px {mac_s:.0f}; "
        f"teacher MACs/px {mac_t:.0f} (ratio {mac_s / mac_t:.3f})")
    if a.init and not a.resume:
        log(f"init from {a.init}: {warm_start(model, Path(a.init))}")
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    counters = {"step": 0, "seen": 0, "elapsed": 0.0}
    ck = out / "last.safetensors"
    if (a.resume or a.export_only) and ck.exists():
        counters, run0 = load_checkpoint(ck, model, opt)
        log(f"resumed {ck}: {counters}")
        if a.export_only:  # the weights of the last checkpoint, with the command that trained them
            export(model, a, counters, run0["command"], make_val_pool(a.data, codec=a.base_codec), teacher,
                   (mac_s, mac_t), log)
            return
    elif a.export_only:
        raise SystemExit(f"--export-only: no checkpoint at {ck}")

    pool = build_cache(a, log)
    P = len(pool["base"])
    base = torch.from_numpy(pool["base"])
    orig = torch.from_numpy(pool["orig"])
    tres = torch.from_numpy(pool["teacher"])
    qtab = torch.from_numpy(pool["qtable"].astype(np.float32) / 255.0)
    vpools = make_val_pool(a.data, codec=a.base_codec)
    log(f"val at start: {json.dumps(validate(model, vpools, teacher))}")

    budget = a.minutes * 60.0
    rng = np.random.default_rng(a.seed + counters["step"])
    tstart = time.time() - counters["elapsed"]
    seen0, last_ck = counters["seen"], time.time()
    lt_acc = lg_acc = 0.0
    n_acc = 0
    run = {"command": cmd, "base_codec": a.base_codec, "pool": P}
    model.train()

    def checkpoint(final: bool = False) -> None:
        counters["elapsed"] = time.time() - tstart
        v = validate(model, vpools, None)
        save_checkpoint(ck, model, opt, counters, run)
        if a.ckpt_copy:
            shutil.copyfile(ck, a.ckpt_copy)
        append_log(out / "log.csv", {
            "utc": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), "step": counters["step"],
            "seen": counters["seen"], "train_minutes": round(counters["elapsed"] / 60, 2), "lr": f"{lr:.2e}",
            "loss_teacher": round(lt_acc / max(1, n_acc) * 255, 4), "loss_gt": round(lg_acc / max(1, n_acc) * 255, 4),
            "patches_per_s": round((counters["seen"] - seen0) / max(1e-6, time.time() - t_loop), 2),
            "val": json.dumps({q: r["student_gain"] for q, r in v.items()})}, tuple(LOG_FIELDS),
            Path(a.log_copy) if a.log_copy else None)
        log(f"{'final' if final else 'checkpoint'} step {counters['step']} val {json.dumps(v)}")

    lr = a.lr
    t_loop = time.time()
    while True:
        el = time.time() - tstart
        if el >= budget:
            break
        lr = 1e-6 + (a.lr - 1e-6) * 0.5 * (1 + math.cos(math.pi * el / budget))
        if el < a.warmup_minutes * 60:  # linear warm-up: at 1e-3 from the first step the ReLUs died (all zero)
            lr *= el / (a.warmup_minutes * 60)
        for g in opt.param_groups:
            g["lr"] = lr
        idx = torch.from_numpy(rng.integers(0, P, a.batch))
        b = base[idx].float().div_(255.0)[:, None]
        o = orig[idx].float().div_(255.0)[:, None]
        t = b + tres[idx].float()[:, None]
        k = int(rng.integers(0, 4))
        if k:  # square patches: rotations keep the 8x8 grid at (0, 0)
            b, o, t = (torch.rot90(z, k, (2, 3)) for z in (b, o, t))
        y = model(b, qtab[idx])
        lt, lg = F.l1_loss(y, t), F.l1_loss(y, o)
        loss = (1 - a.w_gt) * lt + a.w_gt * lg
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        counters["step"] += 1
        counters["seen"] += a.batch
        lt_acc += lt.item()
        lg_acc += lg.item()
        n_acc += 1
        if counters["step"] % 200 == 0:
            log(f"step {counters['step']} seen {counters['seen']} L1 teacher {lt_acc / n_acc * 255:.3f} "
                f"gt {lg_acc / n_acc * 255:.3f} (grey) lr {lr:.2e} "
                f"{(counters['seen'] - seen0) / (time.time() - t_loop):.1f} patches/s")
        if time.time() - last_ck > a.ckpt_minutes * 60:
            checkpoint()
            lt_acc = lg_acc = 0.0
            n_acc = 0
            last_ck = time.time()

    checkpoint(final=True)
    export(model, a, counters, cmd, vpools, teacher, (mac_s, mac_t), log)


def export(model, a, counters: dict, cmd: str, vpools: dict, teacher, macs: tuple[float, float], log) -> None:
    """Validate the weights as stored (float16-rounded with ``--export-dtype float16``) and write ``--export``
    with metadata (training command, minutes, patches, MACs/px of student and teacher, validation)."""
    minutes = counters["elapsed"] / 60
    if a.export_dtype == "float16":  # validate what is shipped: weights rounded to float16, run in float32
        with torch.no_grad():
            for v in model.state_dict().values():
                if v.is_floating_point():
                    v.copy_(v.half().float())
    v = validate(model, vpools, teacher)
    log(f"final val ({a.export_dtype} weights): {json.dumps(v)}")
    meta = {"id": a.part_id, "weights_version": a.weights_version, "base_codec": a.base_codec, "command": cmd,
            "minutes": round(minutes, 2), "patches_seen": counters["seen"], "steps": counters["step"],
            "patch": a.patch, "teacher": TEACHER[a.base_codec], "w_gt": a.w_gt, "macs_per_pixel": round(macs[0]),
            "teacher_macs_per_pixel": round(macs[1]), "val": v,
            "val_set": "24 crops 128px of last-50 duts-tr (held out)",
            "input": "x (B,1,H,W) float32 luma/255, H,W multiple of 8 grid at (0,0); cond (B,64) table / 255",
            "torch": torch.__version__}
    W.export(model, a.export, meta, dtype=a.export_dtype)
    log(f"exported {a.export} ({os.path.getsize(a.export)} bytes) seen {counters['seen']} in {minutes:.1f} min")

if __name__ == "__main__":
    main()
