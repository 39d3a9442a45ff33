"""AGDL's CS layer as the last layer of someone else's restoration network (issue 31).

A plain DnCNN (not AGDL's restorer G) learns to restore the luminance of AGDL base layers. Two copies are trained
identically on DUTS-TR crops, each encoded to a real ``.agdl`` file:

* ``plain``: ``out = net(base)``, trained with MSE against the original;
* ``cs``: ``out = CSProjection(net(base), mask, y, ops)`` — the file's transmitted measurements, read through the
  public API :func:`agdl_plugins.refinement`, imposed by :class:`kornia_ops.CSProjection` during training too.

Both are evaluated on DUTS-TE (first ``--n-test`` names) at equal bytes: every variant decodes the *same*
``.agdl`` files (the plain net simply ignores the refinement bytes). Reported: bpp, whole-image and ROI
(ground-truth mask) PSNR of the luminance, training time, and how well the CS output meets the measurements.

    python examples/cs_layer_restoration.py            # full run (BENCHMARKS.md), <= 10 min on 1 CPU thread
    python examples/cs_layer_restoration.py --quick    # tiny: what CI runs (<= 1 min)

The last line of stdout is ``RESULT <json>``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # a checkout, when agdl is not installed

import _common as C  # noqa: E402

import agdl_plugins as agdl  # noqa: E402
from kornia_ops import CSProjection  # noqa: E402


@dataclass
class Item:
    """One encoded image: what a decoder of the file has (base, mask, y, op) plus the ground truth."""

    base: torch.Tensor  # (1, 1, H, W) float32 in [0, 1]
    truth: np.ndarray  # (H, W) uint8 original luminance
    mask: torch.Tensor  # (1, 1, H, W) bool critical set
    y: torch.Tensor  # (M,) float32 measurements / 255
    op: object  # kornia_ops sensing operator
    step: float  # quantiser step / 255
    bits: int
    roi: np.ndarray | None = None
    agdl_y: np.ndarray | None = None  # AGDL's own decode (luminance), for reference


def encode_items(images: list[np.ndarray], folder: Path, opts: dict, rois: list | None = None,
                 with_decode: bool = False) -> list[Item]:
    """Encode each image to ``folder/<i>.agdl`` and read it back through the public API."""
    items = []
    for i, rgb in enumerate(images):
        path = folder / f"{i:04d}.agdl"
        path.write_bytes(agdl.encode(rgb, device="cpu", **opts))
        r = agdl.refinement(path, device="cpu")  # base layer, critical set, measurements, operator
        if r.operator is None:
            continue  # no refinement in this file (not with the fixed options used here)
        it = Item(
            base=torch.from_numpy(r.base.astype(np.float32) / 255.0)[None, None],
            truth=C.luma(rgb),
            mask=torch.from_numpy(r.mask)[None, None],
            y=(r.y / 255.0).float(),
            op=r.operator,
            step=r.step / 255.0,
            bits=8 * path.stat().st_size,
            roi=None if rois is None else rois[i],
        )
        if with_decode:
            it.agdl_y = C.luma(agdl.decode(path, device="cpu").array)
        items.append(it)
    return items


def train(net: torch.nn.Module, items: list[Item], project: CSProjection | None, steps: int, batch: int,
          seed: int) -> dict[str, float]:
    """MSE against the original; with ``project``, the CS layer is the last layer. Returns seconds."""
    truth = [torch.from_numpy(it.truth.astype(np.float32) / 255.0)[None, None] for it in items]

    def loss_of(idx: list[int]) -> torch.Tensor:
        out = net(torch.cat([items[i].base for i in idx]))
        if project is not None:
            out = project(out, torch.cat([items[i].mask for i in idx]), [items[i].y for i in idx],
                          [items[i].op for i in idx])
        return torch.nn.functional.mse_loss(out, torch.cat([truth[i] for i in idx]))

    return C.fit(net, loss_of, len(items), steps, batch, seed)


@torch.no_grad()
def evaluate(nets: dict[str, tuple[torch.nn.Module, bool]], items: list[Item], project: CSProjection) -> dict:
    """Whole-image and ROI PSNR of every variant; constraint residuals of the CS outputs (grey levels).

    ``nets``: name -> (network, trained with the CS layer as its last layer).
    """
    rows: dict[str, dict[str, list[float]]] = {}

    def add(name: str, out: np.ndarray, it: Item) -> None:
        r = rows.setdefault(name, {"psnr": [], "roi_psnr": []})
        r["psnr"].append(C.psnr(out, it.truth))
        if it.roi is not None and it.roi.any():
            r["roi_psnr"].append(C.psnr(out, it.truth, it.roi))

    worst_float = worst_u8 = 0.0
    outside = []
    for it in items:
        add("base layer (JPEG) alone", C.to_uint8(it.base), it)
        if it.agdl_y is not None:
            add("AGDL decoder (G + projection)", it.agdl_y, it)
        for name, (net, trained_with_layer) in nets.items():
            out = net(it.base)
            if not trained_with_layer:
                add(f"DnCNN {name}", C.to_uint8(out), it)
            proj = project(out.double(), it.mask, [it.y.double()], [it.op])
            u8 = C.to_uint8(proj)
            add(f"DnCNN {name}" if trained_with_layer else f"DnCNN {name} + CS layer (at test time only)", u8, it)
            c_float = proj[it.mask] * 255.0
            c_u8 = torch.from_numpy(u8[it.mask[0, 0].numpy()].astype(np.float64))
            y = it.y.double() * 255.0
            worst_float = max(worst_float, float((it.op(c_float) - y).abs().max()))
            dev_u8 = (it.op(c_u8) - y).abs()
            worst_u8 = max(worst_u8, float(dev_u8.max()))
            outside.append(float((dev_u8 > it.step * 255.0 / 2).double().mean()))
    table = {k: {"psnr": C.mean(v["psnr"]), "roi_psnr": C.mean(v["roi_psnr"])} for k, v in rows.items()}
    return {
        "variants": table,
        "constraint_max_abs_float": worst_float,  # |H c - y| of the CS output before 8-bit rounding
        "constraint_max_abs_uint8": worst_u8,  # ... after rounding to uint8 (rounding moves c by <= 0.5)
        "fraction_outside_cell_uint8": C.mean(outside),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny data and few steps (CI, <= 1 min)")
    p.add_argument("--n-train", type=int, default=200, help="DUTS-TR images (first, sorted)")
    p.add_argument("--crops", type=int, default=2, help="random crops per training image")
    p.add_argument("--crop", type=int, default=64, help="training crop side (each crop is its own .agdl file)")
    p.add_argument("--n-test", type=int, default=100, help="DUTS-TE images (first, sorted)")
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--quality", type=int, default=30, help="base-layer JPEG quality")
    p.add_argument("--critical-fraction", type=float, default=0.05)
    p.add_argument("--measurement-ratio", type=float, default=0.5, help="M/N (< 1: structured-DCT CS)")
    p.add_argument("--step", type=float, default=4.0, help="quantiser step, grey levels")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep", type=Path, default=None, help="keep the .agdl files in this folder")
    args = p.parse_args(argv)
    if args.quick:
        args.n_train, args.crops, args.n_test, args.steps, args.batch = 3, 4, 2, 30, 4
    torch.set_num_threads(args.threads)  # a script, not a library: it owns its process
    torch.manual_seed(args.seed)
    opts = {"quality": args.quality, "critical_fraction": args.critical_fraction,
            "measurement_ratio": args.measurement_ratio, "step": args.step}

    folder = Path(tempfile.mkdtemp(prefix="agdl_cs_example_")) if args.keep is None else args.keep
    (folder / "train").mkdir(parents=True, exist_ok=True)
    (folder / "test").mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        train_imgs = [rgb for _, rgb, _ in C.load_split("duts-tr", args.n_train)]
        train_items = encode_items(C.random_crops(train_imgs, args.crop, args.crops, args.seed), folder / "train", opts)
        test = C.load_split("duts-te", args.n_test)
        test_items = encode_items([rgb for _, rgb, _ in test], folder / "test", opts, [m for *_, m in test],
                                  with_decode=True)
        t_data = time.perf_counter() - t0

        project = CSProjection(mode="equality")
        torch.manual_seed(args.seed)
        plain = C.DnCNN()
        cs = C.DnCNN()
        cs.load_state_dict(plain.state_dict())  # identical start
        t_plain = train(plain, train_items, None, args.steps, args.batch, args.seed)
        t_cs = train(cs, train_items, project, args.steps, args.batch, args.seed)
        result = evaluate({"plain": (plain, False), "with CS layer (trained with it)": (cs, True)}, test_items, project)
        pixels = [it.truth.size for it in test_items]
        result.update({
            "data": "duts" if C.dataset_root() else "scikit-image fallback",
            "n_train_files": len(train_items), "n_test_files": len(test_items),
            "bpp": C.mean([it.bits / n for it, n in zip(test_items, pixels)]),
            "train_seconds": {"plain": t_plain, "cs": t_cs}, "data_seconds": t_data,
            "options": opts, "steps": args.steps, "batch": args.batch, "crop": args.crop,
            "threads": args.threads,
        })
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)

    print(f"{len(test_items)} test files, {result['bpp']:.3f} bpp (all variants decode these same files)")
    print(f"{'variant':44s} {'PSNR-Y':>8s} {'ROI-PSNR-Y':>11s}")
    for name, v in result["variants"].items():
        print(f"{name:44s} {v['psnr']:8.2f} {v['roi_psnr']:11.2f}")
    print(f"training: plain {t_plain['wall']:.0f} s ({t_plain['cpu']:.0f} s CPU), with CS layer "
          f"{t_cs['wall']:.0f} s ({t_cs['cpu']:.0f} s CPU); data {t_data:.0f} s")
    print(f"CS output vs measurements: max |Hc - y| {result['constraint_max_abs_float']:.2e} (float), "
          f"{result['constraint_max_abs_uint8']:.2f} after uint8 rounding (step {args.step})")
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
