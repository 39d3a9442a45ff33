"""The examples/ scripts in --quick mode (issue 31): they run, and what they print holds up."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(name: str, env_extra: dict[str, str] | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env_extra or {})}
    proc = subprocess.run([sys.executable, str(REPO / "examples" / name), "--quick"], capture_output=True,
                          text=True, timeout=240, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT "), proc.stdout[-2000:]
    return json.loads(last[len("RESULT "):])


def _sensible(v: float) -> bool:
    return math.isfinite(v) and 15.0 < v < 60.0


@pytest.mark.slow
def test_cs_layer_example() -> None:
    r = _run("cs_layer_restoration.py")
    v = r["variants"]
    assert r["n_test_files"] >= 2 and r["n_train_files"] >= 8
    assert all(_sensible(x["psnr"]) and _sensible(x["roi_psnr"]) for x in v.values()), v
    # the CS layer's output meets the transmitted measurements: exactly before rounding (equality projection,
    # grey levels); after rounding to 8 bits (and clipping to 0..255) most measurements stay in their quantisation
    # cell (the full run: 1.5 % outside, BENCHMARKS.md section 21)
    assert r["constraint_max_abs_float"] < 1e-6
    assert r["fraction_outside_cell_uint8"] < 0.1
    # the measurements carry information the network does not have: the layer helps even a net trained without it
    plain, plain_cs = v["DnCNN plain"], v["DnCNN plain + CS layer (at test time only)"]
    assert plain_cs["psnr"] > plain["psnr"] and plain_cs["roi_psnr"] > plain["roi_psnr"]
    assert "DnCNN with CS layer (trained with it)" in v and "AGDL decoder (G + projection)" in v
    assert 0.1 < r["bpp"] < 4.0


@pytest.mark.slow
def test_attention_loss_example_without_datasets() -> None:
    r = _run("attention_loss.py", {"AGDL_DATASETS": str(REPO / "no-such-datasets")})
    assert r["data"] == "scikit-image fallback"
    v = r["variants"]
    assert set(v) == {"JPEG alone", "DnCNN, plain MSE", "DnCNN, attention-weighted MSE"}
    assert all(_sensible(x["psnr"]) and _sensible(x["roi_psnr"]) for x in v.values()), v
    # the weight is 1 + a * saliency + b * critical mask: >= 1, <= 1 + a + b, and not constant
    assert 1.0 <= r["weight_min"] < r["weight_mean"] < r["weight_max"] <= 1.0 + r["a"] + r["b"] + 1e-6
