"""Train F v5's saliency head (``models.saliency_v5.PyramidSaliencyNet``) from scratch on all of DUTS-TR.

Data: the 10,553 DUTS-TR pairs (``duts-tr``: 1,500 full-size pairs, downscaled here with Lanczos to the long
side 160 px like ``duts-tr-extra``'s 9,053) are read once and cached in ``runs/f5/`` as ``.npy`` files (not
committed). Each sample is made on the fly: a random crop (40-100 % of the area, aspect jittered), a
horizontal flip, colour jitter (brightness, contrast, saturation, 5 % greyscale), then a **simulated base
layer**: the crop is upscaled by 1.5-3x (DUTS-TR originals are 2.5x the cached size) and compressed the way
the codec writes its base (JPEG with ``models.data.sample_quality``'s qualities, 10 % WebP q 1-80 method 6,
5 % AVIF q 10-75 speed 6), decoded to Y, Cb, Cr and reduced to the network's ``side`` x ``side`` thumbnail
with ``models.saliency.thumbnail`` (what F sees in the codec). The mask is cropped and flipped alike.
Loss: BCE + soft IoU on the output and on the 4 deep-supervision outputs (weight ``--side-weight``).
AdamW, linear warm-up then cosine decay over ``--hours`` of training (wall clock, summed over resumes) or
``--total-steps``.

Validation (never trained on): DUTS-TE images 101-300 by sorted name, each compressed at JPEG q 10, 30, 60
with the codec's recipe; the logits are upsampled to full size and compared with the full-size mask
exactly as ``scripts/eval_saliency.py`` does (IoU at 0.5 per image and quality, then averaged; MAE).

Checkpoints are safetensors (no pickle): model + AdamW state as tensors, step/epoch/RNG/args as JSON
metadata; written atomically every ``--ckpt-min`` minutes, at the end and on SIGTERM/SIGINT. ``--resume``
continues from it bit for bit (same batches, same augmentation draws). The best validation IoU's model
(tensors only) is kept in ``--best``. Launch, resume, plot (``models/MODEL_CARD_predictor_v5.md``):

    PYTHONPATH=$PWD nice -n 5 python -m models.training.train_saliency_v5 --hours 8
    PYTHONPATH=$PWD nice -n 5 python -m models.training.train_saliency_v5 --resume          # next session
    python -m models.training.train_saliency_v5 --plot models/checkpoints/f5_log.csv --out runs/f5/curve.png
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import signal
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..saliency import thumbnail
from ..saliency_v5 import PyramidSaliencyNet
from . import data as D
from .runlog import append_log

REPO = Path(__file__).resolve().parents[2]  # the repository root (models/training/ → ../..)
LONG_SIDE = 160
VAL_QUALITIES = (10, 30, 60)
VAL_SLICE = (100, 300)  # DUTS-TE images 101-300 by sorted name
# arguments that define the run; on --resume they are taken from the checkpoint
RUN_KEYS = ("width", "side", "batch", "lr", "wd", "warmup", "seed", "side_weight", "crop_min", "p_webp", "p_avif",
            "hours", "total_steps", "p_crop", "mae_weight", "init")
# run arguments added after the first runs, with the values those runs used (their checkpoints lack them)
RUN_DEFAULTS = {"p_crop": 0.8, "mae_weight": 0.0, "init": ""}
LOG_FIELDS = ("utc", "step", "epoch", "seen", "train_hours", "cpu_hours", "lr", "train_loss", "img_per_s",
              "val_iou", "val_mae", "val_iou_q10", "val_iou_q60")


class CheckpointError(ValueError):
    """A training checkpoint is missing, malformed or does not match the run."""


# ----------------------------------------------------------------------------------------------- data
@dataclass
class PairCache:
    """Training images: ``img`` (N, L, L, 3) uint8 RGB top-left aligned, ``mask`` (N, L, L) uint8, ``hw`` (N, 2)
    int (height, width) of each image inside its L x L slot."""

    img: np.ndarray
    mask: np.ndarray
    hw: np.ndarray

    def __len__(self) -> int:
        return len(self.img)


def duts_tr_pairs(root: Path) -> list[tuple[Path, Path]]:
    """All DUTS-TR pairs: ``duts-tr`` (full size) then ``duts-tr-extra`` (long side 160), each sorted by name."""
    out = []
    for sub in ("duts-tr", "duts-tr-extra"):
        d = root / sub
        for p in sorted((d / "images").glob("*.jpg")):
            m = d / "masks" / (p.stem + ".png")
            if m.exists():
                out.append((p, m))
    return out


def build_pair_cache(pairs: list[tuple[Path, Path]], long_side: int = LONG_SIDE, log=print) -> PairCache:
    """Read ``pairs`` once: images resized (Lanczos) so the long side is ``long_side`` (smaller ones kept),
    masks resized (bilinear) to the image's size."""
    n = len(pairs)
    img = np.zeros((n, long_side, long_side, 3), np.uint8)
    mask = np.zeros((n, long_side, long_side), np.uint8)
    hw = np.zeros((n, 2), np.int32)
    for i, (ip, mp) in enumerate(pairs):
        im = Image.open(ip).convert("RGB")
        if max(im.size) > long_side:
            s = long_side / max(im.size)
            im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.LANCZOS)
        mk = Image.open(mp).convert("L")
        if mk.size != im.size:
            mk = mk.resize(im.size, Image.BILINEAR)
        w, h = im.size
        img[i, :h, :w] = np.asarray(im)
        mask[i, :h, :w] = np.asarray(mk)
        hw[i] = (h, w)
        if log and (i + 1) % 2000 == 0:
            log(f"cache: {i + 1}/{n} pairs")
    return PairCache(img, mask, hw)


def load_or_build_cache(root: Path, cache_dir: Path, log=print) -> PairCache:
    """The DUTS-TR cache in ``cache_dir`` (three ``.npy`` files), built on first use."""
    files = [cache_dir / f"duts_tr_{k}_{LONG_SIDE}.npy" for k in ("img", "mask", "hw")]
    pairs = duts_tr_pairs(root)
    if all(f.exists() for f in files):
        c = PairCache(*(np.load(f) for f in files))
        if len(c) == len(pairs):
            return c
        log(f"cache holds {len(c)} pairs, data has {len(pairs)}: rebuilding")
    if not pairs:
        raise FileNotFoundError(f"no DUTS-TR pairs under {root}/duts-tr and {root}/duts-tr-extra")
    c = build_pair_cache(pairs, log=log)
    cache_dir.mkdir(parents=True, exist_ok=True)
    for f, a in zip(files, (c.img, c.mask, c.hw)):
        tmp = f.with_suffix(".tmp.npy")
        np.save(tmp, a)
        os.replace(tmp, f)
    return c


def _compress(rgb: Image.Image, codec: str, q: int) -> np.ndarray:
    """(H, W, 3) uint8 Y, Cb, Cr planes of ``rgb``'s base layer as the codec writes and decodes it."""
    if codec == "jpeg":
        return D.jpeg_base_planes(rgb, q)
    fmt, kw = D.LOSSY_SAVE[codec]
    buf = io.BytesIO()
    rgb.save(buf, fmt, quality=int(q), **kw)
    buf.seek(0)
    return np.asarray(Image.open(buf, formats=[fmt]).convert("RGB").convert("YCbCr"), dtype=np.uint8)


def make_sample(img: np.ndarray, mask: np.ndarray, rng: np.random.Generator, side: int, crop_min: float = 0.4,
                p_webp: float = 0.1, p_avif: float = 0.05, p_crop: float = 0.8) -> tuple[torch.Tensor, torch.Tensor]:
    """One augmented sample: ``img`` (h, w, 3) uint8 RGB, ``mask`` (h, w) uint8 -> ((3, side, side) base Y, Cb,
    Cr in [0, 1], (1, side, side) mask in [0, 1]). Every random draw comes from ``rng``; with probability
    ``p_crop`` the sample is a random crop of ``crop_min``..1 of the area."""
    h, w = mask.shape
    if rng.random() < p_crop:  # random crop of crop_min..1 of the area
        a = rng.uniform(crop_min, 1.0)
        r = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        cw, ch = max(8, min(w, round(w * math.sqrt(a * r)))), max(8, min(h, round(h * math.sqrt(a / r))))
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        img, mask = img[y0:y0 + ch, x0:x0 + cw], mask[y0:y0 + ch, x0:x0 + cw]
    if rng.random() < 0.5:
        img, mask = img[:, ::-1], mask[:, ::-1]
    x = img.astype(np.float32)
    if rng.random() < 0.8:  # brightness, contrast, saturation
        grey = x @ np.array([0.299, 0.587, 0.114], np.float32)
        x = x * rng.uniform(0.75, 1.25)
        x = (x - grey.mean()) * rng.uniform(0.75, 1.25) + grey.mean()
        g = x @ np.array([0.299, 0.587, 0.114], np.float32)
        x = g[..., None] + (x - g[..., None]) * rng.uniform(0.6, 1.4)
    if rng.random() < 0.05:
        x = np.repeat((x @ np.array([0.299, 0.587, 0.114], np.float32))[..., None], 3, -1)
    pil = Image.fromarray(np.clip(x + 0.5, 0, 255).astype(np.uint8), "RGB")
    f = rng.uniform(1.5, 3.0)  # the base layer is written at the original's scale, not the cache's
    pil = pil.resize((max(8, round(pil.width * f)), max(8, round(pil.height * f))), Image.BICUBIC)
    u = rng.random()
    if u < p_webp:
        codec, q = "webp", int(rng.integers(*D.LOSSY_QUALITY["webp"], endpoint=True))
    elif u < p_webp + p_avif:
        codec, q = "avif", int(rng.integers(*D.LOSSY_QUALITY["avif"], endpoint=True))
    else:
        codec = "jpeg"
        q = int(rng.integers(10, 60, endpoint=True)) if rng.random() < 0.75 else int(rng.integers(61, 90,
                                                                                                  endpoint=True))
    planes = torch.from_numpy(_compress(pil, codec, q).astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    m = torch.from_numpy(np.ascontiguousarray(mask).astype(np.float32) / 255.0)[None, None]
    return thumbnail(planes, side)[0], thumbnail(m, side)[0].clamp(0, 1)


def make_batch(cache: PairCache, idx: np.ndarray, rng: np.random.Generator, side: int,
               **aug) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 3, side, side) inputs and (B, 1, side, side) masks for the cache rows ``idx``."""
    xs, ms = [], []
    for i in idx:
        h, w = cache.hw[i]
        x, m = make_sample(cache.img[i, :h, :w], cache.mask[i, :h, :w], rng, side, **aug)
        xs.append(x)
        ms.append(m)
    return torch.stack(xs), torch.stack(ms)


@dataclass
class ValSet:
    """DUTS-TE validation: ``x`` (K, 3, side, side) thumbnails of the base layers (K = images x qualities,
    image-major), ``q`` (K,) quality, ``masks`` the K // len(qualities) full-size (H, W) float masks in [0, 1]."""

    x: torch.Tensor
    q: np.ndarray
    masks: list[np.ndarray]


def build_val(root: Path, side: int, cache_dir: Path | None = None, qualities=VAL_QUALITIES,
              sl: tuple[int, int] = VAL_SLICE) -> ValSet:
    """DUTS-TE images ``sl`` (sorted by name, as ``scripts/eval_saliency.py`` lists them) at ``qualities``."""
    from agdl_plugins.apps.bench.runner import find_mask, list_images
    files = [cache_dir / f"val_{k}_s{side}_{sl[0]}_{sl[1]}.npy" for k in ("x", "q", "m", "hw")] if cache_dir else []
    if files and all(f.exists() for f in files):
        x, q, flat, hw = (np.load(f) for f in files)
        ends = np.cumsum([h * w for h, w in hw])
        masks = [flat[e - h * w:e].reshape(h, w).astype(np.float32) / 255.0 for e, (h, w) in zip(ends, hw)]
        return ValSet(torch.from_numpy(x.astype(np.float32)), q, masks)
    d = root / "duts-te"
    pairs = [(p, find_mask(d / "masks", p.stem)) for p in list_images(d / "images", None)]
    pairs = [pm for pm in pairs if pm[1] is not None][sl[0]:sl[1]]
    if not pairs:
        raise FileNotFoundError(f"no DUTS-TE pairs {sl[0]}..{sl[1]} under {d}")
    xs, qs, ms = [], [], []
    for ip, mp in pairs:
        rgb = Image.open(ip).convert("RGB")
        ms.append(np.asarray(Image.open(mp).convert("L"), np.uint8))
        if ms[-1].shape != (rgb.size[1], rgb.size[0]):
            raise ValueError(f"{mp}: mask size {ms[-1].shape} != image size {rgb.size[::-1]}")
        for q in qualities:
            t = torch.from_numpy(D.jpeg_base_planes(rgb, q).astype(np.float32) / 255.0).permute(2, 0, 1)[None]
            xs.append(thumbnail(t, side)[0])
            qs.append(q)
    x, q = torch.stack(xs), np.asarray(qs, np.int32)
    if cache_dir:
        cache_dir.mkdir(parents=True, exist_ok=True)
        hw = np.asarray([m.shape for m in ms], np.int32)
        for f, a in zip(files, (x.numpy(), q, np.concatenate([m.ravel() for m in ms]), hw)):
            np.save(f, a)
    return ValSet(x, q, [m.astype(np.float32) / 255.0 for m in ms])


def validate(net: PyramidSaliencyNet, val: ValSet, batch: int = 50) -> dict[str, float]:
    """IoU (threshold 0.5) and MAE of ``net`` on ``val``, averaged over images x qualities, overall and per
    quality (``iou_q10`` ...). Restores the network's train/eval mode."""
    was = net.training
    net.eval()
    nq = len(val.x) // len(val.masks)
    iou, mae = np.zeros(len(val.x)), np.zeros(len(val.x))
    with torch.inference_mode():
        for s in range(0, len(val.x), batch):
            logits = net(val.x[s:s + batch])
            for j in range(len(logits)):
                k = s + j
                m = torch.from_numpy(val.masks[k // nq])
                p = torch.sigmoid(F.interpolate(logits[j:j + 1], size=m.shape, mode="bilinear",
                                                align_corners=False))[0, 0]
                pb, mb = p > 0.5, m > 0.5
                iou[k] = float((pb & mb).sum()) / max(1, int((pb | mb).sum()))
                mae[k] = float((p - m).abs().mean())
    net.train(was)
    out = {"iou": float(iou.mean()), "mae": float(mae.mean())}
    for q in np.unique(val.q):
        out[f"iou_q{q}"] = float(iou[val.q == q].mean())
    return out


# ----------------------------------------------------------------------------------------------- training
def loss_fn(outs: list[torch.Tensor], m: torch.Tensor, side_weight: float, mae_weight: float = 0.0) -> torch.Tensor:
    """BCE + soft IoU of each (B, 1, S, S) logits in ``outs`` against ``m`` (B, 1, S, S); the last output has
    weight 1, the deep-supervision ones ``side_weight``. ``mae_weight`` adds that times the mean absolute error
    ``|sigmoid(o) - m|`` of the last output (MAE is minimised by confident maps; BCE alone calibrates them)."""
    total = outs[0].new_zeros(())
    for k, o in enumerate(outs):
        p = torch.sigmoid(o)
        inter = (p * m).sum((1, 2, 3))
        union = (p + m - p * m).sum((1, 2, 3))
        term = F.binary_cross_entropy_with_logits(o, m) + (1 - (inter + 1) / (union + 1)).mean()
        total = total + (1.0 if k == len(outs) - 1 else side_weight) * term
    if mae_weight:
        total = total + mae_weight * (torch.sigmoid(outs[-1]) - m).abs().mean()
    return total


def load_init(path: str) -> dict[str, torch.Tensor]:
    """The saliency network's float32 state dict from ``path``: an F v5 training checkpoint or best-model file
    (read by :func:`models.training.export_saliency_v5.read_checkpoint`) or a predictor weights file
    (``predictor_v5.safetensors``, read and sha256-checked by :func:`models.weights.load_predictor`)."""
    from .. import weights as W
    from .export_saliency_v5 import FORMATS, read_checkpoint
    if W.read_metadata(path).get("format") in FORMATS:
        sd = read_checkpoint(Path(path))[0]
    else:
        sd = W.load_predictor(path).saliency.state_dict()
    return {k: v.float() for k, v in sd.items()}


def lr_at(progress: float, lr: float, warmup: float) -> float:
    """Linear warm-up over the first ``warmup`` of the run, then cosine from ``lr`` to ``lr`` / 100."""
    if progress < warmup:
        return lr * max(progress / warmup, 0.01)
    t = min(1.0, (progress - warmup) / max(1e-9, 1 - warmup))
    return lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))


class Trainer:
    """The state of one training run: network, AdamW, data order and augmentation RNG, counters.

    ``run``: the run-defining arguments (``RUN_KEYS``). Batches: epoch ``e`` visits the cache in the order
    ``default_rng([seed, e]).permutation(N)``; augmentations draw from one ``numpy`` generator whose state is
    checkpointed, so a resumed run sees the batches an uninterrupted one would.
    """

    def __init__(self, run: dict, n_train: int, init: bool = True) -> None:
        self.run, self.n_train = {**RUN_DEFAULTS, **run}, n_train
        torch.manual_seed(run["seed"])
        self.net = PyramidSaliencyNet(3, run["width"])
        if init and run.get("init"):  # fine-tuning: the network starts from a trained one (a fresh optimizer)
            self.net.load_state_dict(load_init(run["init"]), strict=True)
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=run["lr"], weight_decay=run["wd"])
        self.rng = np.random.default_rng([run["seed"], 1])
        self.step = self.epoch = self.pos = self.seen = 0
        self.train_seconds = self.cpu_seconds = 0.0
        self.best_iou = -1.0
        self._order = self._perm()

    def _perm(self) -> np.ndarray:
        return np.random.default_rng([self.run["seed"], 2, self.epoch]).permutation(self.n_train)

    def progress(self) -> float:
        """Fraction of the run done: by steps with ``total_steps``, else by training wall-clock hours."""
        if self.run.get("total_steps"):
            return self.step / self.run["total_steps"]
        return self.train_seconds / (3600.0 * self.run["hours"])

    def next_indices(self) -> np.ndarray:
        """The next batch's cache rows (a batch never straddles two epochs)."""
        b = self.run["batch"]
        if self.pos + b > self.n_train:
            self.epoch, self.pos = self.epoch + 1, 0
            self._order = self._perm()
        idx = self._order[self.pos:self.pos + b]
        self.pos += b
        return idx

    def train_step(self, cache: PairCache) -> float:
        """One AdamW step on a fresh augmented batch; returns the loss."""
        lr = lr_at(self.progress(), self.run["lr"], self.run["warmup"])
        for g in self.opt.param_groups:
            g["lr"] = lr
        idx = self.next_indices()
        x, m = make_batch(cache, idx, self.rng, self.run["side"], crop_min=self.run["crop_min"],
                          p_webp=self.run["p_webp"], p_avif=self.run["p_avif"], p_crop=self.run["p_crop"])
        loss = loss_fn(self.net(x, side_outputs=True), m, self.run["side_weight"], self.run["mae_weight"])
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step += 1
        self.seen += len(idx)
        return float(loss.detach())

    # -- checkpoint (safetensors: tensors + JSON metadata, no pickle)
    def state_tensors(self) -> dict[str, torch.Tensor]:
        t = {f"model.{k}": v.detach().clone().contiguous() for k, v in self.net.state_dict().items()}
        for i, p in enumerate(self.net.parameters()):
            st = self.opt.state.get(p)
            if st:
                t[f"opt.{i}.exp_avg"] = st["exp_avg"].contiguous()
                t[f"opt.{i}.exp_avg_sq"] = st["exp_avg_sq"].contiguous()
                t[f"opt.{i}.step"] = torch.as_tensor(st["step"], dtype=torch.float32).reshape(1)
        t["torch_rng"] = torch.get_rng_state()
        return t

    def state_meta(self) -> dict[str, str]:
        counters = {"step": self.step, "epoch": self.epoch, "pos": self.pos, "seen": self.seen,
                    "train_seconds": self.train_seconds, "cpu_seconds": self.cpu_seconds,
                    "best_iou": self.best_iou, "n_train": self.n_train}
        return {"format": "agdl-f5-train-v1", "run": json.dumps(self.run), "counters": json.dumps(counters),
                "np_rng": json.dumps(self.rng.bit_generator.state)}

    def save(self, path: Path) -> None:
        """Write the checkpoint atomically (a temporary file in the same folder, then ``os.replace``)."""
        from safetensors.torch import save_file
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        save_file(self.state_tensors(), str(tmp), metadata=self.state_meta())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Trainer:
        """The trainer saved at ``path`` (raises ``CheckpointError`` on a missing or foreign file)."""
        from safetensors import safe_open
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"no checkpoint at {path}")
        with safe_open(str(path), framework="pt") as fh:
            md = dict(fh.metadata() or {})
            if md.get("format") != "agdl-f5-train-v1":
                raise CheckpointError(f"{path} is not an F v5 training checkpoint (format {md.get('format')!r})")
            t = {k: fh.get_tensor(k) for k in fh.keys()}
        counters = json.loads(md["counters"])
        tr = cls(json.loads(md["run"]), counters["n_train"], init=False)  # weights come next
        tr.net.load_state_dict({k[6:]: v for k, v in t.items() if k.startswith("model.")}, strict=True)
        params = list(tr.net.parameters())
        state = {}
        for i in range(len(params)):
            if f"opt.{i}.exp_avg" in t:
                state[i] = {"step": t[f"opt.{i}.step"].reshape(()), "exp_avg": t[f"opt.{i}.exp_avg"],
                            "exp_avg_sq": t[f"opt.{i}.exp_avg_sq"]}
        sd = tr.opt.state_dict()
        sd["state"] = state
        tr.opt.load_state_dict(sd)
        torch.set_rng_state(t["torch_rng"])
        tr.rng.bit_generator.state = json.loads(md["np_rng"])
        for k in ("step", "epoch", "pos", "seen", "train_seconds", "cpu_seconds", "best_iou"):
            setattr(tr, k, counters[k])
        tr._order = tr._perm()
        return tr


def save_model_only(net: PyramidSaliencyNet, path: Path, meta: dict) -> None:
    """The network's tensors (float32) + JSON metadata, written atomically (the best model so far)."""
    from safetensors.torch import save_file
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}, str(tmp),
              metadata={"format": "agdl-f5-model-v1", **{k: json.dumps(v) for k, v in meta.items()}})
    os.replace(tmp, path)


def plot_log(csv_path: Path, out: Path, ref: tuple[float, float] | None = None) -> str:
    """Plot validation IoU/MAE and training loss against training hours to ``out`` (PNG); ``ref``: a
    reference (IoU, MAE) drawn as dashed lines (F v4 on the same images). Returns a summary line with the
    CPU-hours so far."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{csv_path} holds no rows")
    hours = [float(r["train_hours"]) for r in rows]
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].plot(hours, [float(r["val_iou"]) for r in rows], label="val IoU (DUTS-TE 101-300)")
    ax[0].plot(hours, [float(r["val_mae"]) for r in rows], label="val MAE")
    if ref is not None:
        ax[0].axhline(ref[0], ls="--", c="C0", lw=0.8, label=f"reference IoU {ref[0]:.3f}")
        ax[0].axhline(ref[1], ls="--", c="C1", lw=0.8, label=f"reference MAE {ref[1]:.3f}")
    ax[0].set_xlabel("training hours (wall)")
    ax[0].legend()
    ax[0].grid(alpha=0.3)
    lh = [(h, float(r["train_loss"])) for h, r in zip(hours, rows) if r["train_loss"]]
    if lh:
        ax[1].plot(*zip(*lh))
    ax[1].set_xlabel("training hours (wall)")
    ax[1].set_ylabel("train loss (running mean)")
    ax[1].grid(alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    last = rows[-1]
    best = max(rows, key=lambda r: float(r["val_iou"]))
    return (f"{len(rows)} validations; last: step {last['step']}, epoch {last['epoch']}, "
            f"{float(last['train_hours']):.2f} h wall, {float(last['cpu_hours']):.2f} CPU-hours, "
            f"IoU {float(last['val_iou']):.3f} MAE {float(last['val_mae']):.3f}; "
            f"best IoU {float(best['val_iou']):.3f} at step {best['step']}")


def prior_report(cache: PairCache, val: ValSet, side: int, model: Path | None = None, n_aug: int = 400,
                 seed: int = 0) -> dict[str, float]:
    """The salient-area prior: mean foreground fraction (mask >= 0.5) of the cached training pairs, of
    ``n_aug`` augmented samples (seeded), and of the validation masks; with ``model`` (a best-model file) the
    network's mean probability on validation background and foreground pixels (first quality of each image)."""
    fr = np.array([(cache.mask[i, :h, :w] >= 128).mean() for i, (h, w) in enumerate(cache.hw)])
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(cache), min(n_aug, len(cache)), replace=False)
    _, m = make_batch(cache, idx, rng, side)
    out = {"train_fg": float(fr.mean()), "augmented_fg": float((m >= 0.5).float().mean()),
           "val_fg": float(np.mean([(v >= 0.5).mean() for v in val.masks]))}
    if model is not None:
        from safetensors.torch import load_file
        sd = load_file(str(model))
        net = PyramidSaliencyNet(3, sd["stem.0.weight"].shape[0] * 2)
        net.load_state_dict(sd)
        net.eval()
        nq = len(val.x) // len(val.masks)
        bg, fg = [], []
        with torch.inference_mode():
            logits = net(val.x[::nq])
        for j, v in enumerate(val.masks):
            p = torch.sigmoid(F.interpolate(logits[j:j + 1], size=v.shape, mode="bilinear",
                                            align_corners=False))[0, 0].numpy()
            bg.append(p[v < 0.5].mean() if (v < 0.5).any() else np.nan)
            fg.append(p[v >= 0.5].mean() if (v >= 0.5).any() else np.nan)
        out.update(p_background=float(np.nanmean(bg)), p_foreground=float(np.nanmean(fg)))
    return out


def train(tr: Trainer, cache: PairCache, val: ValSet | None, a: argparse.Namespace, log=print) -> Trainer:
    """Train until the run's schedule ends, ``a.max_steps`` is reached or SIGTERM/SIGINT; checkpoint every
    ``a.ckpt_min`` minutes and at the end; validate every ``a.val_min`` minutes (and first, on a new run)."""
    stop = {"flag": False}

    def on_signal(signum, _frame):
        stop["flag"] = True
        log(f"signal {signum}: checkpointing and stopping")

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    ckpt, logp = Path(a.ckpt), Path(a.log)
    loss_ema = None
    t_last, c_last = time.time(), time.process_time()
    t_ckpt = t_val = time.time()
    rate_mark = (time.time(), tr.seen)

    def tick() -> None:
        nonlocal t_last, c_last
        now, c = time.time(), time.process_time()
        tr.train_seconds += now - t_last
        tr.cpu_seconds += c - c_last
        t_last, c_last = now, c

    def do_val() -> None:
        nonlocal rate_mark
        if val is None:
            return
        v = validate(tr.net, val)
        tick()
        now = time.time()
        ips = (tr.seen - rate_mark[1]) / max(1e-9, now - rate_mark[0])
        rate_mark = (now, tr.seen)
        row = {"utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "step": tr.step,
               "epoch": f"{tr.epoch + tr.pos / tr.n_train:.3f}", "seen": tr.seen,
               "train_hours": f"{tr.train_seconds / 3600:.4f}", "cpu_hours": f"{tr.cpu_seconds / 3600:.4f}",
               "lr": f"{tr.opt.param_groups[0]['lr']:.3g}",
               "train_loss": "" if loss_ema is None else f"{loss_ema:.4f}", "img_per_s": f"{ips:.2f}",
               "val_iou": f"{v['iou']:.4f}", "val_mae": f"{v['mae']:.4f}",
               "val_iou_q10": f"{v.get('iou_q10', float('nan')):.4f}",
               "val_iou_q60": f"{v.get('iou_q60', float('nan')):.4f}"}
        append_log(logp, row, LOG_FIELDS, Path(a.log_copy) if a.log_copy else None)
        log("val " + json.dumps(row))
        if v["iou"] > tr.best_iou:
            tr.best_iou = v["iou"]
            if a.best:
                save_model_only(tr.net, Path(a.best), {"run": tr.run, "step": tr.step, "val": v})

    try:
        if tr.step == 0:
            do_val()
        while not stop["flag"] and tr.progress() < 1.0 and (a.max_steps is None or tr.step < a.max_steps):
            loss = tr.train_step(cache)
            loss_ema = loss if loss_ema is None else 0.98 * loss_ema + 0.02 * loss
            tick()
            if tr.step % a.print_every == 0:
                log(f"step {tr.step} epoch {tr.epoch} pos {tr.pos} loss {loss_ema:.4f} "
                    f"lr {tr.opt.param_groups[0]['lr']:.3g} train_h {tr.train_seconds / 3600:.3f}")
            if time.time() - t_val >= 60 * a.val_min:
                do_val()
                t_val = time.time()
            if time.time() - t_ckpt >= 60 * a.ckpt_min:
                tr.save(ckpt)
                t_ckpt = time.time()
        do_val()
        tr.save(ckpt)
        log(f"stopped at step {tr.step} (progress {tr.progress():.3f}); checkpoint {ckpt}")
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return tr


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, set[str]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=D.DEFAULT_ROOT, help="folder holding duts-tr, duts-tr-extra, duts-te")
    ap.add_argument("--cache-dir", default=str(REPO / "runs" / "f5"))
    ap.add_argument("--ckpt", default=str(REPO / "models" / "checkpoints" / "f5_train.safetensors"))
    ap.add_argument("--best", default=str(REPO / "runs" / "f5" / "best.safetensors"),
                    help="model-only file of the best validation IoU ('' = none)")
    ap.add_argument("--log", default=str(REPO / "runs" / "f5" / "log.csv"))
    ap.add_argument("--log-copy", default=str(REPO / "models" / "checkpoints" / "f5_log.csv"))
    ap.add_argument("--resume", action="store_true", help="continue the run saved at --ckpt")
    ap.add_argument("--hours", type=float, default=8.0, help="length of the LR schedule, training wall-clock hours")
    ap.add_argument("--total-steps", type=int, default=0, help="schedule by steps instead of hours (0 = hours)")
    ap.add_argument("--max-steps", type=int, default=None, help="stop (and checkpoint) after this many steps")
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--side", type=int, default=96, help="thumbnail side (a multiple of 16)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--wd", type=float, default=1e-4)
    ap.add_argument("--warmup", type=float, default=0.02, help="warm-up fraction of the schedule")
    ap.add_argument("--side-weight", type=float, default=0.4, help="loss weight of each deep-supervision output")
    ap.add_argument("--crop-min", type=float, default=0.4)
    ap.add_argument("--p-webp", type=float, default=0.1)
    ap.add_argument("--p-avif", type=float, default=0.05)
    ap.add_argument("--p-crop", type=float, default=0.8, help="probability of the random crop")
    ap.add_argument("--mae-weight", type=float, default=0.0, help="weight of an MAE term on the output")
    ap.add_argument("--init", default="", help="start the network from this file (training checkpoint, best-model "
                    "or predictor weights file): fine-tuning with a fresh optimizer")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ckpt-min", type=float, default=5.0)
    ap.add_argument("--val-min", type=float, default=15.0)
    ap.add_argument("--print-every", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--val-range", type=int, nargs=2, default=list(VAL_SLICE), metavar=("FIRST", "END"),
                    help="DUTS-TE images [FIRST, END) by sorted name (default: 101-300)")
    ap.add_argument("--plot", default=None, help="plot this log CSV to --out and exit")
    ap.add_argument("--prior", action="store_true",
                    help="print the salient-area prior of the training/validation data (and of --prior-model) and exit")
    ap.add_argument("--prior-model", default=None, help="best-model file for --prior")
    ap.add_argument("--out", default=str(REPO / "runs" / "f5" / "curve.png"))
    ap.add_argument("--ref", type=float, nargs=2, default=None, metavar=("IOU", "MAE"),
                    help="reference lines on the plot (F v4 on DUTS-TE 101-300: 0.391 0.163, scripts/eval_saliency.py)")
    a = ap.parse_args(argv)
    given = {k.lstrip("-").split("=")[0].replace("-", "_") for k in (argv or []) if k.startswith("--")}
    return a, given


def main(argv: list[str] | None = None) -> int:
    import sys
    argv = sys.argv[1:] if argv is None else argv
    a, given = parse_args(argv)
    if a.plot:
        print(plot_log(Path(a.plot), Path(a.out), tuple(a.ref) if a.ref else None))
        return 0
    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(a.threads)
    except RuntimeError:  # already set, or torch already ran parallel work in this process (tests)
        pass
    log = lambda s: print(f"[{datetime.now(UTC).strftime('%H:%M:%S')}] {s}", flush=True)  # noqa: E731
    if a.prior:
        cache = load_or_build_cache(Path(a.data), Path(a.cache_dir), log=log)
        val = build_val(Path(a.data), a.side, Path(a.cache_dir), sl=(a.val_range[0], a.val_range[1]))
        r = prior_report(cache, val, a.side, Path(a.prior_model) if a.prior_model else None)
        print(json.dumps({k: round(v, 4) for k, v in r.items()}))
        return 0
    ckpt = Path(a.ckpt)
    if a.resume:
        tr = Trainer.load(ckpt)
        for k in ("hours", "total_steps"):  # the only run arguments a resume may change
            if k in given and getattr(a, k) != tr.run[k]:
                log(f"resume: {k} {tr.run[k]} -> {getattr(a, k)}")
                tr.run[k] = getattr(a, k)
        ignored = sorted(k for k in given & set(RUN_KEYS) - {"hours", "total_steps"} if getattr(a, k) != tr.run[k])
        if ignored:
            raise SystemExit(f"--resume keeps the run's {ignored} (saved: {[tr.run[k] for k in ignored]})")
        log(f"resumed {ckpt}: step {tr.step}, epoch {tr.epoch}, {tr.train_seconds / 3600:.3f} h")
    else:
        if ckpt.exists():
            raise SystemExit(f"{ckpt} exists: pass --resume to continue it, or another --ckpt")
        tr = None
    t0 = time.time()
    cache = load_or_build_cache(Path(a.data), Path(a.cache_dir), log=log)

    run = tr.run if tr else {k: getattr(a, k) for k in RUN_KEYS}
    val = build_val(Path(a.data), run["side"], Path(a.cache_dir), sl=(a.val_range[0], a.val_range[1]))
    log(f"data: {len(cache)} training pairs, {len(val.x)} validation thumbnails ({len(val.masks)} images) in "
        f"{time.time() - t0:.0f} s")
    if tr is None:
        tr = Trainer(run, len(cache))
    elif tr.n_train != len(cache):
        raise SystemExit(f"checkpoint was trained on {tr.n_train} pairs, the cache holds {len(cache)}")
    n = sum(p.numel() for p in tr.net.parameters())
    log(f"model: PyramidSaliencyNet width {run['width']}, side {run['side']}, {n} parameters; run {json.dumps(run)}")
    a.best = a.best or None
    a.log_copy = a.log_copy or None
    train(tr, cache, val, a, log=log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
