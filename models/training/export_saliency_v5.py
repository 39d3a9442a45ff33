"""Export an F v5 training checkpoint as a predictor weights file (``predictor_v{version}.safetensors``).

The file holds a ``models.saliency.SaliencyEdgePredictor(ch=width, cin=3, side=side, edge_pool=3,
net="pyramid")``: the score is ``log sigmoid(saliency) + log(mean_3x3 sobel(Y) + 1e-3)`` exactly as F v4's,
with v5's saliency network (``models.saliency_v5.PyramidSaliencyNet``) trained by
``models.training.train_saliency_v5``. ``--ckpt`` reads either the training checkpoint (``format`` agdl-f5-train-v1)
or the best-validation model file (agdl-f5-model-v1). Written to ``models/weights`` the file is registered
as ``agdl-f@{version}`` (``agdl_plugins.parts.builtin``) but does not become the default predictor unless
``DEFAULT_VERSIONS`` there says so. The command that wrote a file is in its metadata (``command``):

    python -m models.training.export_saliency_v5 --ckpt models/checkpoints/f5_train.safetensors --version 5
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from .. import weights as W
from ..saliency import SaliencyEdgePredictor

FORMATS = ("agdl-f5-train-v1", "agdl-f5-model-v1")


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict, dict]:
    """-> (the saliency network's state dict, the run's arguments, counters/validation metadata)."""
    from safetensors import safe_open
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    with safe_open(str(path), framework="pt") as fh:
        md = dict(fh.metadata() or {})
        if md.get("format") not in FORMATS:
            raise ValueError(f"{path} is not an F v5 checkpoint (format {md.get('format')!r})")
        if md["format"] == "agdl-f5-train-v1":
            sd = {k[6:]: fh.get_tensor(k) for k in fh.keys() if k.startswith("model.")}
            info = json.loads(md["counters"])
        else:
            sd = {k: fh.get_tensor(k) for k in fh.keys()}
            info = {k: json.loads(md[k]) for k in ("step", "val") if k in md}
    return sd, json.loads(md["run"]), info


def build(path: Path, edge_pool: int = 3) -> tuple[SaliencyEdgePredictor, dict, dict]:
    """The predictor (eval mode) holding the checkpoint's network, with the run's arguments and counters."""
    sd, run, info = read_checkpoint(path)
    net = SaliencyEdgePredictor(ch=run["width"], cin=3, side=run["side"], edge_pool=edge_pool, net="pyramid")
    net.saliency.load_state_dict(sd, strict=True)
    return net.eval(), run, info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ckpt", required=True, help="training checkpoint or best-model file (safetensors)")
    ap.add_argument("--version", type=int, required=True)
    ap.add_argument("--edge-pool", type=int, default=3, help="edge term's mean window (3 = as F v4)")
    ap.add_argument("--dtype", default="float16", choices=["float32", "float16"])
    ap.add_argument("--export", default=None, help="default: models/weights/predictor_v{version}.safetensors")
    a = ap.parse_args(argv)
    net, run, info = build(Path(a.ckpt), a.edge_pool)
    out = Path(a.export or W.WEIGHTS_DIR / f"predictor_v{a.version}.safetensors")
    cmd = (f"python -m models.training.export_saliency_v5 --ckpt {a.ckpt} --version {a.version} "
           f"--edge-pool {a.edge_pool} --dtype {a.dtype}")
    W.export(net, out, {"command": cmd, "version": a.version, "train_run": run, "train_state": info}, dtype=a.dtype)
    # what the cast costs: max |logit| change on seeded random thumbnails (the file loads back as float32)
    back = W.load_predictor(out)
    x = torch.rand(8, 3, run["side"], run["side"], generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        d = float((back.saliency(x) - net.saliency(x)).abs().max())
    print(f"exported {out} ({out.stat().st_size} bytes, {a.dtype}); max |logit change| on 8 random "
          f"thumbnails {d:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
