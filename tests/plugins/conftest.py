"""Shared fixtures for the Pillow and imageio plugin tests (small crops so the suite stays fast)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if importlib.util.find_spec("pillow_plugin") is None:  # running pytest without the repo on sys.path
    sys.path.insert(0, str(ROOT))

import agdl_plugins  # noqa: E402
import imageio_plugin  # noqa: E402,F401  (registers with imageio)
import pillow_plugin  # noqa: E402,F401  (registers with Pillow)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    err = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if err == 0 else 10 * np.log10(255.0**2 / err)


def _run_python(code_or_script: str | Path, *args: str, cwd: Path | None = None, timeout: float = 300):
    """Run Python in a fresh interpreter with the repository importable (after any PYTHONPATH)."""
    env = dict(os.environ)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([*paths, str(ROOT)])
    if isinstance(code_or_script, Path):
        cmd = [sys.executable, str(code_or_script)]
    else:
        cmd = [sys.executable, "-c", code_or_script]
    return subprocess.run([*cmd, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="session")
def psnr():
    """``psnr(a, b)`` in dB for uint8 images."""
    return _psnr


@pytest.fixture(scope="session")
def run_python():
    """``run_python(code | script_path, *args, cwd=None)`` -> CompletedProcess (repo importable)."""
    return _run_python


@pytest.fixture(scope="session")
def rgb_array() -> np.ndarray:
    """96 x 128 RGB crop of skimage's astronaut (face and helmet edges)."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[40:136, 150:278])


@pytest.fixture(scope="session")
def gray_array(rgb_array: np.ndarray) -> np.ndarray:
    """48 x 64 grey crop."""
    from PIL import Image

    return np.asarray(Image.fromarray(rgb_array[24:72, 32:96]).convert("L"))


@pytest.fixture(scope="session")
def rgba_array(rgb_array: np.ndarray) -> np.ndarray:
    """48 x 64 RGBA with a gradient alpha channel (to check alpha is stored losslessly)."""
    rgb = rgb_array[:48, :64]
    alpha = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (48, 1))
    return np.ascontiguousarray(np.dstack([rgb, alpha]))


@pytest.fixture(scope="session")
def agdl_bytes(rgb_array: np.ndarray) -> bytes:
    """The RGB crop encoded once with the core API."""
    return agdl_plugins.encode(rgb_array, quality=40)


@pytest.fixture(scope="session")
def gray_agdl_bytes(gray_array: np.ndarray) -> bytes:
    return agdl_plugins.encode(gray_array, quality=40)


@pytest.fixture
def agdl_file(tmp_path: Path, agdl_bytes: bytes) -> Path:
    """A temporary .agdl file holding :func:`agdl_bytes`."""
    path = tmp_path / "astronaut.agdl"
    path.write_bytes(agdl_bytes)
    return path


@pytest.fixture
def count_calls(monkeypatch: pytest.MonkeyPatch):
    """Wrap ``agdl_plugins.<name>`` so calls are counted (the real function still runs)."""

    def wrap(name: str) -> list:
        calls: list = []
        real = getattr(agdl_plugins, name)

        def spy(*args, **kwargs):
            calls.append(kwargs)
            return real(*args, **kwargs)

        monkeypatch.setattr(agdl_plugins, name, spy)
        return calls

    return wrap
