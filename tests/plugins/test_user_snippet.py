"""Ordinary user code (only the registration import is AGDL-specific) run in a fresh interpreter,
also from a user's project that has its own top-level ``models`` package."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agdl_plugins.codec.decoder import within_pixel_contract

USER_SNIPPET = """\
import sys
from pathlib import Path

from PIL import Image, ImageOps

import pillow_plugin  # noqa: F401  (the only AGDL-specific line)
{user_import}
src, out = Path(sys.argv[1]), Path(sys.argv[2])

with Image.open(src) as im:
    print("opened", im.format, im.size, im.mode)
    im.save(out / "decoded.png")
    upright = ImageOps.exif_transpose(im)
    upright.save(out / "upright.agdl", quality=50)
    upright.convert("L").save(out / "grey.agdl")

with Image.open(src) as im:
    im.thumbnail((48, 48))
    im.save(out / "thumb.png")

with Image.open(out / "upright.agdl") as im2:
    print("reopened", im2.format, im2.size, im2.mode)
    im2.copy().save(out / "upright.png")
{user_use}"""

USER_MODELS = {
    "__init__.py": '"""The user\'s own models package (nothing to do with AGDL)."""\n',
    "classifier.py": 'NAME = "user classifier"\n',
    # same module names as AGDL's models package: importing them by mistake must fail loudly
    "predictor.py": 'raise ImportError("AGDL imported the USER\'s models.predictor")\n',
    "restorer.py": 'raise ImportError("AGDL imported the USER\'s models.restorer")\n',
    "weights.py": 'raise ImportError("AGDL imported the USER\'s models.weights")\n',
}


@pytest.fixture
def source(tmp_path: Path, rgb_array: np.ndarray) -> Path:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways, like a phone photo
    path = tmp_path / "src" / "photo.agdl"
    path.parent.mkdir()
    Image.fromarray(rgb_array).save(path, exif=exif.tobytes())
    return path


def _run_snippet(folder: Path, source: Path, run_python, *, user_models: bool) -> Path:
    folder.mkdir()
    out = folder / "out"
    out.mkdir()
    if user_models:
        (folder / "models").mkdir()
        for name, text in USER_MODELS.items():
            (folder / "models" / name).write_text(text)
        code = USER_SNIPPET.format(
            user_import="from models import classifier\n", user_use='print("user model:", classifier.NAME)\n'
        )
    else:
        code = USER_SNIPPET.format(user_import="", user_use="")
    script = folder / "make_thumbnails.py"
    script.write_text(textwrap.dedent(code))
    res = run_python(script, str(source), str(out), cwd=folder)  # sys.path[0] is the user's folder
    assert res.returncode == 0, res.stdout + res.stderr
    assert "opened AGDL (128, 96) RGB" in res.stdout
    assert "reopened AGDL (96, 128) RGB" in res.stdout
    if user_models:
        assert "user model: user classifier" in res.stdout
    return out


def _check_outputs(out: Path, source: Path) -> None:
    with Image.open(source) as im:
        reference = np.asarray(im)
    with Image.open(out / "decoded.png") as png:
        decoded = np.asarray(png)
    # The other interpreter may run G with another torch thread count: the pixels keep the cross-machine
    # contract (docs/FORMAT.md "Determinism": |diff| <= PIXEL_TOLERANCE on <= PIXEL_TOLERANCE_SHARE of the
    # values), not bit equality.
    diff = np.abs(decoded.astype(np.int16) - reference.astype(np.int16)) if decoded.shape == reference.shape else None
    assert within_pixel_contract(decoded, reference), (
        f"shape {decoded.shape} vs {reference.shape}" if diff is None
        else f"max |diff| {diff.max()}, share of differing values {(diff > 0).mean():.2e}"
    )
    with Image.open(out / "upright.agdl") as up:
        assert up.format == "AGDL" and up.size == (96, 128)
    with Image.open(out / "grey.agdl") as grey:
        assert grey.mode == "L" and grey.size == (96, 128)
    with Image.open(out / "thumb.png") as thumb:
        assert thumb.size == (48, 36)
    assert Image.open(io.BytesIO((out / "upright.png").read_bytes())).size == (96, 128)


@pytest.mark.slow
def test_user_snippet(tmp_path: Path, source: Path, run_python) -> None:
    out = _run_snippet(tmp_path / "plain_project", source, run_python, user_models=False)
    _check_outputs(out, source)


@pytest.mark.slow
def test_user_snippet_in_project_with_own_models_package(tmp_path: Path, source: Path, run_python) -> None:
    out = _run_snippet(tmp_path / "user_project", source, run_python, user_models=True)
    _check_outputs(out, source)
