"""Derive a predictor version from a shipped one by changing a training-free hyper-parameter.

F v4 is F v3's saliency U-Net (the same tensors) with the edge term averaged over 3x3 (``edge_pool=3``,
``models.saliency.SaliencyEdgePredictor``). A derived file written into ``models/weights`` stores no
tensors of its own: it names the source's tensor file (``predictor_v3.safetensors``) in ``tensor_files``,
and ``models.weights.export_reference`` checks the tensors are the same. The exact command that wrote
``predictor_v4.safetensors``:

    python -m models.training.derive_predictor --source 3 --version 4 --edge-pool 3 --dtype float16
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .. import weights as W
from ..saliency import SaliencyEdgePredictor


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=int, required=True, help="shipped predictor version to start from")
    ap.add_argument("--version", type=int, required=True, help="version of the derived weights")
    ap.add_argument("--edge-pool", type=int, required=True, help="SaliencyEdgePredictor edge_pool (1, 3, 5)")
    ap.add_argument("--dtype", default="float16", choices=["float32", "float16"])
    ap.add_argument("--export", default=None, help="default: models/weights/predictor_v{version}.safetensors")
    a = ap.parse_args(argv)
    src_file = W.WEIGHTS_DIR / f"predictor_v{a.source}.safetensors"
    src = W.load_predictor(src_file)
    if not isinstance(src, SaliencyEdgePredictor):
        raise SystemExit(f"predictor v{a.source} is not a SaliencyEdgePredictor")
    hp = dict(json.loads(src.metadata["hparams"]), edge_pool=a.edge_pool)
    net = SaliencyEdgePredictor(**hp)
    net.load_state_dict(src.state_dict(), strict=True)
    net.eval()
    md = {k: src.metadata[k] for k in ("minutes", "seen", "val") if k in src.metadata}
    cmd = (f"python -m models.training.derive_predictor --source {a.source} --version {a.version} "
           f"--edge-pool {a.edge_pool} --dtype {a.dtype}")
    md.update(command=cmd, version=a.version, derived_from=f"predictor_v{a.source}.safetensors "
              f"({src.metadata.get('command', '')})")
    out = a.export or str(W.WEIGHTS_DIR / f"predictor_v{a.version}.safetensors")
    if Path(out).resolve().parent == W.WEIGHTS_DIR and src.metadata.get("dtype") == a.dtype:
        # same tensors: the derived file names the source's tensor files instead of a second copy
        tensor_files = json.loads(src.metadata.get("tensor_files", "[]")) or [src_file.name]
        W.export_reference(net, out, md, tensor_files, dtype=a.dtype)
    else:
        W.export(net, out, md, dtype=a.dtype)
    print(f"exported {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
