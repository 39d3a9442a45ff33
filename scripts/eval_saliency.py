"""Saliency quality of F's weights versions on held-out images (IoU at threshold 0.5 and MAE).

Each image is JPEG-compressed at every ``--qualities`` value with the codec's exact base-layer recipe
(``models.data.jpeg_base_luma``); the network sees the decoded base luminance (as in the codec) and its
saliency logits, upsampled to full size, are compared with the full-resolution mask.
IoU = |p>0.5 & m>0.5| / |p>0.5 | m>0.5| per image and quality, then averaged; MAE = mean |sigmoid - mask|.

    python scripts/eval_saliency.py --versions 2 3                                   # DUTS-TR held-out 50
    python scripts/eval_saliency.py --versions 2 3 --data ../shared/datasets/duts-te --limit 40
    python scripts/eval_saliency.py --versions 4 --data ../shared/datasets/duts-te --skip 100   # images 101-300

``--data`` pointing at a ``duts-tr`` folder uses the held-out split of ``models.data.list_pairs`` (last 50
by name, never trained on); any other folder with ``images/`` and ``masks/`` uses its first ``--limit``
images sorted by name.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agdl_plugins.apps.bench.runner import find_mask, list_images  # noqa: E402
from models import weights as W  # noqa: E402
from models.training import data as D  # noqa: E402


def pairs_for(data: str, limit: int | None, skip: int = 0):
    d = Path(data)
    if d.name == "duts-tr":
        pairs = D.list_pairs(str(d.parent), "val")
    else:
        pairs = [(p, find_mask(d / "masks", p.stem)) for p in list_images(d / "images", None)]
        pairs = [pm for pm in pairs if pm[1] is not None]
    pairs = pairs[skip:]
    return pairs[:limit] if limit else pairs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--versions", type=int, nargs="*", default=[2],
                    help="weights versions: models/weights/predictor_v{N}.safetensors")
    ap.add_argument("--paths", nargs="*", default=[], help="extra .safetensors files (sha256 checked)")
    ap.add_argument("--data", default=str(Path(D.DEFAULT_ROOT) / "duts-tr"))
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--skip", type=int, default=0, help="leave out the first SKIP images (DUTS-TE 101-300: --skip 100)")
    ap.add_argument("--qualities", type=int, nargs="+", default=[10, 30, 60])
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    models = {f"v{v}": W.load_predictor(W.WEIGHTS_DIR / f"predictor_v{v}.safetensors") for v in a.versions}
    models.update({p: W.load_predictor(p) for p in a.paths})
    pairs = pairs_for(a.data, a.limit, a.skip)
    stats = {k: {q: [] for q in a.qualities} for k in models}
    for img_p, mask_p in pairs:
        rgb = Image.open(img_p).convert("RGB")
        m = torch.from_numpy(np.asarray(Image.open(mask_p).convert("L"), np.float32) / 255.0)
        if m.shape != (rgb.size[1], rgb.size[0]):
            raise ValueError(f"{mask_p}: mask size {tuple(m.shape)} != image size {rgb.size[::-1]}")
        mb = m > 0.5
        for q in a.qualities:
            x3 = torch.from_numpy(D.jpeg_base_planes(rgb, q).astype(np.float32) / 255.0).permute(2, 0, 1)[None]
            for k, model in models.items():
                x = x3 if getattr(model, "cin", 1) == 3 else x3[:, :1]  # v3 sees Y, Cb, Cr; v1/v2 Y only
                with torch.inference_mode():
                    p = torch.sigmoid(model.saliency_logits(x))[0, 0]
                pb = p > 0.5
                iou = float((pb & mb).sum()) / max(1, int((pb | mb).sum()))
                stats[k][q].append((iou, float((p - m).abs().mean())))
    print(f"data {a.data}: {len(pairs)} images x qualities {a.qualities}")
    nw = max(12, *(len(k) for k in stats))
    print(f"{'weights':<{nw}} " + " ".join(f"{'IoU q' + str(q):>9} {'MAE q' + str(q):>9}" for q in a.qualities)
          + f" {'IoU':>7} {'MAE':>7}")
    for k, per_q in stats.items():
        cols = []
        for q in a.qualities:
            arr = np.asarray(per_q[q])
            cols.append(f"{arr[:, 0].mean():9.3f} {arr[:, 1].mean():9.3f}")
        allv = np.concatenate([np.asarray(per_q[q]) for q in a.qualities])
        print(f"{k:<{nw}} " + " ".join(cols) + f" {allv[:, 0].mean():7.3f} {allv[:, 1].mean():7.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
