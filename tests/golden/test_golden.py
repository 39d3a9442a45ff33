"""Golden files: committed .agdl files must decode to their recorded pixels - under 1 and 2 threads,
with the predictor's scores perturbed by a relative 1e-4, and on CUDA when present.

If a change of weights or format breaks this test, bump the part's version (old files then fail with a
MissingPartError naming the part) - never let an old file silently decode to different pixels.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import agdl_plugins as agdl

HERE = Path(__file__).resolve().parent
MANIFEST = json.loads((HERE / "manifest.json").read_text())
NAMES = sorted(MANIFEST)


def _sha(arr: np.ndarray) -> str:
    return hashlib.sha256(arr.tobytes()).hexdigest()


@pytest.mark.parametrize("name", NAMES)
def test_golden_pixels(name):
    out = agdl.decode(HERE / f"{name}.agdl", device="cpu")
    assert list(out.array.shape) == MANIFEST[name]["shape"]
    assert _sha(out.array) == MANIFEST[name]["sha256_pixels"]


@pytest.mark.parametrize("name", NAMES)
def test_golden_with_score_drift(name):
    rng = np.random.default_rng(7)
    out = agdl.decode(HERE / f"{name}.agdl", device="cpu",
                      score_hook=lambda s: s * (1 + 1e-4 * rng.uniform(-1, 1, s.shape)))
    assert _sha(out.array) == MANIFEST[name]["sha256_pixels"]


@pytest.mark.parametrize("threads", [1, 2])
def test_golden_thread_counts(threads):
    code = (
        "import sys, json, hashlib, torch; torch.set_num_threads(int(sys.argv[1]));"
        "import agdl_plugins as a; from pathlib import Path; h = Path(sys.argv[2]);"
        "print(json.dumps({n: hashlib.sha256(a.decode(h / (n + '.agdl'), device='cpu').array.tobytes()).hexdigest()"
        " for n in sys.argv[3:]}))"
    )
    r = subprocess.run([sys.executable, "-c", code, str(threads), str(HERE), *NAMES], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got == {n: MANIFEST[n]["sha256_pixels"] for n in NAMES}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name", NAMES)
def test_golden_on_gpu(name):
    out = agdl.decode(HERE / f"{name}.agdl", device="cuda")
    assert _sha(out.array) == MANIFEST[name]["sha256_pixels"]
