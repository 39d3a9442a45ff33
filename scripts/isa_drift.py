"""Measure what a file written here decodes to under other CPU instruction sets (and thread counts).

Encodes images once (this process, native ISA), then decodes every file in subprocesses with oneDNN/ATen
capped (``ONEDNN_MAX_CPU_ISA`` / ``ATEN_CPU_CAPABILITY``) and with 1 or 2 torch threads, and compares
against the native 2-thread decode: critical set (must be identical), restorer float drift (grey levels),
and the share of 8-bit output values that differ (and by how much).

    python scripts/isa_drift.py --data ../shared/datasets --limit 40
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CONFIGS = {
    "native-2t": ({}, 2),
    "native-1t": ({}, 1),
    "avx2-2t": ({"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}, 2),
    "sse41-1t": ({"ONEDNN_MAX_CPU_ISA": "SSE41", "ATEN_CPU_CAPABILITY": "default"}, 1),
}

_WORKER = """
import sys, numpy as np, torch
torch.set_num_threads(int(sys.argv[1]))
import agdl_plugins as a
out = {}
for i, p in enumerate(sys.argv[3:]):
    d = a.decode(p, device="cpu", diagnostics=True)
    out[f"px{i}"] = d.array
    out[f"mask{i}"] = d.diagnostics["critical_mask"]
    out[f"float{i}"] = d.diagnostics["restored_float"].astype(np.float64)
np.savez(sys.argv[2], **out)
"""


def _images(root: Path, limit: int) -> list[Path]:
    duts = sorted((root / "duts-te" / "images").glob("*.jpg"))[: limit // 2]
    kodak = sorted((root / "kodak24" / "images").glob("*.png"))[: limit - len(duts)]
    return duts + kodak


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/datasets")
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--qualities", type=int, nargs="+", default=[10, 30])
    a = ap.parse_args(argv)
    from PIL import Image

    import agdl_plugins as agdl

    tmp = Path(tempfile.mkdtemp(prefix="agdl_isa_"))
    files = []
    for k, p in enumerate(_images(Path(a.data), a.limit)):
        im = Image.open(p).convert("RGB")
        im = im.crop((4, 4, im.width, im.height))  # off the source JPEG grid
        q = a.qualities[k % len(a.qualities)]
        f = tmp / f"{k:03d}.agdl"
        f.write_bytes(agdl.encode(im, quality=q))
        files.append(str(f))
    res: dict[str, dict] = {}
    for name, (env, threads) in CONFIGS.items():
        out = tmp / f"{name}.npz"
        subprocess.run([sys.executable, "-c", _WORKER, str(threads), str(out), *files], check=True,
                       env={**os.environ, **env})
        res[name] = dict(np.load(out))
    ref = res["native-2t"]
    n_vals = sum(ref[f"px{i}"].size for i in range(len(files)))
    report = {"files": len(files), "values": n_vals}
    for name in CONFIGS:
        r = res[name]
        diff = [np.abs(r[f"px{i}"].astype(int) - ref[f"px{i}"].astype(int)) for i in range(len(files))]
        masks_equal = all(np.array_equal(r[f"mask{i}"], ref[f"mask{i}"]) for i in range(len(files)))
        fdrift = max(float(np.abs(r[f"float{i}"] - ref[f"float{i}"]).max()) for i in range(len(files)))
        n_diff = sum(int((d > 0).sum()) for d in diff)
        per_file = max(float((d > 0).mean()) for d in diff)
        report[name] = {"critical_sets_identical": masks_equal, "restorer_float_drift_max": fdrift,
                        "values_differing": n_diff, "share_differing": n_diff / n_vals,
                        "worst_file_share": per_file, "max_abs_diff": int(max(int(d.max()) for d in diff))}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
