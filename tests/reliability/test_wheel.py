"""The wheel users install (issue 26): no top-level ``models``, no training code, and a user's own ``models``
package imports unharmed beside AGDL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL = {"agdl_plugins", "pillow_plugin", "imageio_plugin", "kornia_ops", "agdl_models"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # build from a copy: setuptools leaves build/ in the source tree, whose stale files later wheels would keep
    src = out / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "build", "runs", "bench_out",
                                                             "*.egg-info", "__pycache__", ".pytest_cache"))
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    (whl,) = out.glob("agdl-*.whl")
    return whl


@pytest.mark.slow
def test_wheel_holds_the_codec_and_no_training_code(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == TOP_LEVEL
    assert not [n for n in names if "/train_" in n or "/training/" in n or n.startswith("models/")]
    assert "agdl_models/weights/SHA256SUMS" in names
    assert any(n.startswith("agdl_models/weights/predictor_v") for n in names)


@pytest.mark.slow
def test_users_own_models_package_imports_unharmed(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                        str(wheel)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    user = tmp_path / "project"
    (user / "models").mkdir(parents=True)
    (user / "models" / "__init__.py").write_text('NAME = "the user\'s models"\n')
    for name in ("predictor", "restorer", "weights", "saliency"):  # AGDL's module names: must never load
        (user / "models" / f"{name}.py").write_text(f'raise ImportError("AGDL imported the user\'s models.{name}")\n')
    code = (
        "import json, sys\n"
        "import models\n"
        "import numpy as np, agdl_plugins as agdl\n"
        "data = agdl.encode(np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1)), quality=40)\n"
        "out = agdl.decode(data).array\n"
        "import models as again\n"
        "print(json.dumps({'name': models.NAME, 'same': again is models, 'agdl': agdl.__file__,\n"
        "                  'nets': sys.modules['agdl_models'].__file__, 'shape': list(out.shape)}))\n"
    )
    # -S: no site-packages processing, so the repository's editable install (a .pth finder) stays out; the
    # dependencies (torch, numpy, ...) come from this interpreter's site-packages, after the wheel's files.
    paths = [str(user), str(target), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = os.pathsep.join(paths)
    r = subprocess.run([sys.executable, "-S", "-c", code], cwd=user, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["name"] == "the user's models" and got["same"]
    assert got["agdl"].startswith(str(target)) and got["nets"].startswith(str(target))
    assert got["shape"] == [48, 64]
