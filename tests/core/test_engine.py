"""Inference engine: device choice, tiling, model cache; plugin host; cross-thread determinism."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import agdl_plugins as agdl
from agdl_plugins.engine import _starts, cached_model, resolve_device, run_tiled
from agdl_plugins.registry import get_registry


def test_resolve_device():
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError):
        resolve_device("quantum")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_tiles_cover_and_align():
    for length in (8, 100, 512, 513, 1500, 4000):
        starts = _starts(length + (-length) % 8, 512, 32)
        assert all(s % 8 == 0 for s in starts)
        assert starts[0] == 0 and starts[-1] + min(512, length) >= length


def test_tiled_equals_whole_for_local_op():
    torch.manual_seed(0)
    conv = torch.nn.Sequential(*[torch.nn.Conv2d(1, 1, 3, padding=1) for _ in range(5)]).double()
    plane = np.random.default_rng(0).random((300, 700))
    whole = conv(torch.from_numpy(np.pad(plane, ((0, 4), (0, 4)), mode="edge"))[None, None])[0, 0, :300, :700]
    with torch.inference_mode():
        tiled = run_tiled(lambda t: conv(t.double()), plane, "cpu", tile=128, overlap=16)
    # receptive field 5 < overlap: tiles stitch to the same result
    assert np.allclose(tiled, whole.detach().numpy(), atol=1e-5)


def test_model_cache_builds_once():
    calls = []

    def factory():
        calls.append(1)
        return torch.nn.Identity()

    a = cached_model("test-id", "cpu", factory)
    b = cached_model("test-id", "cpu", factory)
    assert a is b and len(calls) == 1


def test_builtin_parts_registered():
    reg = get_registry()
    for kind, name in [
        ("base_codec", "jpeg"),
        ("base_codec", "webp"),
        ("base_codec", "avif"),
        ("base_codec", "jpeg2000"),
        ("predictor", "edge-sobel"),
        ("restorer", "identity"),
        ("sensing", "structured-dct"),
        ("sensing", "gaussian"),
    ]:
        assert reg.has(kind, name), (kind, name)


SNIPPET = textwrap.dedent(
    """
    import sys, numpy as np, torch
    torch.set_num_threads(int(sys.argv[1]))
    import agdl_plugins as agdl
    out = agdl.decode(sys.argv[2], device="cpu", diagnostics=True)
    np.savez(sys.argv[3], px=out.array, mask=out.diagnostics["critical_mask"])
    """
)


def test_thread_counts_keep_the_contract(tmp_path, photo):
    """Default parts (trained networks): 1 and 2 torch threads derive the identical critical set, and pixels
    within the cross-machine contract (docs/FORMAT.md "Determinism"); the same thread count repeats exactly."""
    from agdl_plugins.decoder import within_pixel_contract

    p = tmp_path / "t.agdl"
    p.write_bytes(agdl.encode(photo, quality=25, critical_fraction=0.05))
    runs = []
    for i, n in enumerate((1, 2, 2)):
        out = tmp_path / f"{i}.npz"
        subprocess.run([sys.executable, "-c", SNIPPET, str(n), str(p), str(out)], check=True, capture_output=True)
        runs.append(np.load(out))
    here = agdl.decode(p, device="cpu", diagnostics=True)
    assert here.diagnostics["critical_mask"].sum() > 0
    for r in runs:
        assert np.array_equal(r["mask"], here.diagnostics["critical_mask"])
        assert within_pixel_contract(r["px"], here.array)
    assert np.array_equal(runs[1]["px"], runs[2]["px"])


def test_decode_from_folder_with_foreign_models_package(tmp_path, photo):
    """A user's own top-level ``models`` package must not shadow ours."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "__init__.py").write_text("raise ImportError('the user models package')\n")
    p = tmp_path / "x.agdl"
    p.write_bytes(agdl.encode(photo, quality=25))
    code = "import agdl_plugins as a, sys; print(a.decode(sys.argv[1]).array.shape)"
    r = subprocess.run([sys.executable, "-c", code, str(p)], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(photo.shape)
