"""Shared helpers of the examples: data (DUTS, or Pillow-free fallbacks from scikit-image), a plain DnCNN, PSNR.

Not part of the installed package: the examples are run from a checkout (``python examples/<name>.py``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

REPO = Path(__file__).resolve().parents[1]


def dataset_root() -> Path | None:
    """``$AGDL_DATASETS`` or ``<repo>/../shared/datasets`` when it holds DUTS, else None (use the fallback)."""
    root = Path(os.environ.get("AGDL_DATASETS", REPO.parent / "shared" / "datasets"))
    ok = (root / "duts-tr" / "images").is_dir() and (root / "duts-te" / "images").is_dir()
    return root if ok else None


def load_split(split: str, n: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """First ``n`` (sorted names) of a DUTS split: ``(stem, (H, W, 3) uint8 RGB, (H, W) bool mask)``.

    ``split`` is ``"duts-tr"`` (training) or ``"duts-te"`` (evaluation: never train on it). DUTS images are JPEGs
    already: 4 rows and columns are dropped at the top-left (as BENCHMARKS.md's harness does) so the base layer
    is not a re-encode on the source's 8x8 grid. Without the datasets,
    scikit-image's bundled photos stand in (``duts-tr``: the first half, ``duts-te``: the second half) with the
    centre half of the image as the "mask", so ``--quick`` runs anywhere.
    """
    root = dataset_root()
    if root is None:
        return _fallback(split, n)
    out = []
    for img_path in sorted((root / split / "images").glob("*.jpg"))[:n]:
        rgb = np.asarray(Image.open(img_path).convert("RGB"))
        mask = np.asarray(Image.open(root / split / "masks" / f"{img_path.stem}.png").convert("L")) >= 128
        out.append((img_path.stem, np.ascontiguousarray(rgb[4:, 4:]), np.ascontiguousarray(mask[4:, 4:])))
    return out


_FALLBACK = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "motorcycle_left")


def _fallback(split: str, n: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    from skimage import data

    names = _FALLBACK[:3] if split == "duts-tr" else _FALLBACK[3:]
    out = []
    for name in names[:n]:
        rgb = np.asarray(Image.fromarray(getattr(data, name)()[..., :3]).reduce(2))  # ~256 px: quick
        h, w = rgb.shape[:2]
        mask = np.zeros((h, w), bool)
        mask[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = True
        out.append((name, rgb, mask))
    return out


def random_crops(images: list[np.ndarray], size: int, per_image: int, seed: int) -> list[np.ndarray]:
    """``per_image`` random ``size`` x ``size`` crops of every image (smaller images are skipped)."""
    rng = np.random.default_rng(seed)
    crops = []
    for im in images:
        h, w = im.shape[:2]
        if h < size or w < size:
            continue
        for _ in range(per_image):
            y0, x0 = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
            crops.append(np.ascontiguousarray(im[y0: y0 + size, x0: x0 + size]))
    return crops


def luma(rgb: np.ndarray) -> np.ndarray:
    """(H, W) uint8 ITU-R BT.601 Y, as the codec measures it (Pillow's YCbCr)."""
    from agdl_plugins.apps.metrics import luma as _luma

    return _luma(rgb)


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR (dB) of uint8 arrays, over ``mask`` when given."""
    from agdl_plugins.apps.metrics import psnr as _psnr

    return _psnr(a, b, mask)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(1, 1, H, W) float in [0, 1] -> (H, W) uint8 (rounded, clipped)."""
    return np.clip(np.round(x.detach()[0, 0].double().numpy() * 255.0), 0, 255).astype(np.uint8)


class DnCNN(nn.Module):
    """A plain DnCNN (Zhang et al., 2017): conv-ReLU, ``depth - 2`` conv-BN-ReLU, conv; predicts the residual.

    Not AGDL's restorer: a stand-in for "someone else's network". Input and output :math:`(B, 1, H, W)` in
    [0, 1] (luminance); ``forward(x) = x - residual(x)``, the identity at initialisation (last layer zeroed).
    """

    def __init__(self, depth: int = 6, width: int = 24) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(1, width, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        last = nn.Conv2d(width, 1, 3, padding=1)
        nn.init.zeros_(last.weight)  # start as the identity: training moves away from the input, never
        nn.init.zeros_(last.bias)  # from a random image (short CPU budgets otherwise end below the input)
        self.body = nn.Sequential(*layers, last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.body(x)


def fit(net: nn.Module, loss_of: Callable[[list[int]], torch.Tensor], n_items: int, steps: int, batch: int,
        seed: int) -> dict[str, float]:
    """Adam (lr 1e-3, cosine schedule) on ``loss_of(batch indices)``; ``net`` is left in eval mode.

    Returns the seconds it took: ``wall`` (elapsed) and ``cpu`` (this process's CPU time, which the machine's
    other jobs do not inflate).
    """
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    net.train()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        loss = loss_of(torch.randint(n_items, (batch,), generator=gen).tolist())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    net.eval()
    return {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}


def mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")
