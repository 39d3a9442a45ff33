"""Cost of F's saliency head, v4's 64-px U-Net vs v5's pyramid net at 96 and 128 px (untrained weights: the
cost does not depend on them): parameters, conv MACs per thumbnail, and wall time of the head on a thumbnail and of
``scores_and_logits`` on whole images (1 torch thread; median and minimum of ``--reps`` runs).

    python scripts/time_saliency_head.py --reps 40
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agdl_models.saliency import SaliencyEdgePredictor  # noqa: E402
from agdl_models.saliency_v5 import conv_macs  # noqa: E402


def _times(fn, arg: torch.Tensor, reps: int) -> list[float]:
    fn(arg)
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn(arg)
        out.append(time.perf_counter() - t)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    nets = {"v4 unet 64px": SaliencyEdgePredictor(16, 3, 64, 3),
            "v5 pyramid w16 96px": SaliencyEdgePredictor(16, 3, 96, 3, net="pyramid"),
            "v5 pyramid w16 128px": SaliencyEdgePredictor(16, 3, 128, 3, net="pyramid")}
    fmt = lambda v: f"{1e3 * statistics.median(v):6.1f} / {1e3 * min(v):6.1f}"  # noqa: E731
    print("times in ms, median / min")
    for name, net in nets.items():
        net.eval()
        th = torch.rand(1, 3, net.side, net.side)
        n = sum(p.numel() for p in net.parameters())
        with torch.inference_mode():
            cols = [f"head {fmt(_times(net.saliency, th, a.reps))}"]
            for h, w in ((300, 400), (512, 768)):
                x = torch.rand(1, 3, h, w)
                cols.append(f"{w}x{h} {fmt(_times(net.scores_and_logits, x, a.reps))}")
        print(f"{name}: {n} params, {conv_macs(net.saliency, th) / 1e6:.0f} M MACs; " + "; ".join(cols))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
