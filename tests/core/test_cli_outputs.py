"""The CLI never loses or misnames an output, and says what is wrong once, before any work (issue 25 items 2, 3, 8)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from agdl_plugins.apps.cli import EXIT_OK, EXIT_USAGE, main

FAST = ["--quality", "40", "--critical-fraction", "0"]


@pytest.fixture()
def img() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)


def _save(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_same_names_in_different_folders_keep_their_folders(tmp_path, img):
    a = _save(tmp_path / "in/a/x.png", img)
    b = _save(tmp_path / "in/b/x.jpg", img[::-1])
    out = tmp_path / "out"
    assert main(["encode", str(a), str(b), "-o", f"{out}/", "-q", *FAST]) == EXIT_OK
    assert _files(out) == ["a/x.agdl", "b/x.agdl"]
    assert (out / "a/x.agdl").read_bytes() != (out / "b/x.agdl").read_bytes()


def test_recursive_glob_keeps_sub_folders(tmp_path, img):
    for sub in ("p", "q", "r"):
        _save(tmp_path / "in" / sub / "x.png", img)
    out = tmp_path / "out"
    assert main(["encode", str(tmp_path / "in/*/x.png"), "-o", str(out), "-q", *FAST]) == EXIT_OK
    assert _files(out) == ["p/x.agdl", "q/x.agdl", "r/x.agdl"]


def test_two_inputs_that_would_write_one_file_are_refused_before_any_work(tmp_path, img, capsys):
    a = _save(tmp_path / "in/x.png", img)
    b = _save(tmp_path / "in/x.jpg", img)
    out = tmp_path / "out"
    assert main(["encode", str(a), str(b), "-o", str(out), *FAST]) == EXIT_USAGE
    assert "would both write" in capsys.readouterr().err
    assert not out.exists()
    assert main(["encode", str(a), str(b), *FAST]) == EXIT_USAGE  # next to the inputs: same clash
    assert _files(tmp_path / "in") == ["x.jpg", "x.png"]


def test_several_inputs_and_a_file_name_as_output(tmp_path, img, capsys):
    a, b = _save(tmp_path / "a.png", img), _save(tmp_path / "b.png", img)
    single = tmp_path / "single.agdl"
    assert main(["encode", str(a), str(b), "-o", str(single), *FAST]) == EXIT_USAGE
    assert "need an output folder" in capsys.readouterr().err
    assert not single.exists()


def test_missing_output_folder_is_named(tmp_path, img, capsys):
    a = _save(tmp_path / "a.png", img)
    assert main(["encode", str(a), "-o", str(tmp_path / "nope/out.agdl"), *FAST]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "nope" in err and "does not exist" in err and ".tmp" not in err


def test_folder_as_input_suggests_a_glob(tmp_path, img, capsys):
    _save(tmp_path / "in/a.png", img)
    assert main(["encode", str(tmp_path / "in"), *FAST]) == EXIT_USAGE
    assert "in/*.png" in capsys.readouterr().err
    assert main(["info", str(tmp_path / "in")]) == EXIT_USAGE


def test_unknown_base_is_one_usage_error(tmp_path, img, capsys):
    files = [str(_save(tmp_path / f"{i}.png", img)) for i in range(3)]
    assert main(["encode", *files, "--base", "png", *FAST]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("error") == 1 and "base='png'" in err and "jpeg" in err and "needs the" not in err
    assert not list(tmp_path.glob("*.agdl"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only machine's answer to --device cuda")
def test_cuda_on_a_cpu_only_machine_is_one_usage_error(tmp_path, img, capsys):
    files = [str(_save(tmp_path / f"{i}.png", img)) for i in range(2)]
    assert main(["encode", *files, "--device", "cuda", *FAST]) == EXIT_USAGE
    assert capsys.readouterr().err.count("CUDA is not available") == 1
    agdl = tmp_path / "x.agdl"
    assert main(["encode", files[0], "-o", str(agdl), *FAST]) == EXIT_OK
    assert main(["decode", str(agdl), "--device", "cuda"]) == EXIT_USAGE
    assert not (tmp_path / "x.png").exists()


def test_output_names_must_match_what_is_written(tmp_path, img, capsys):
    a = _save(tmp_path / "a.png", img)
    assert main(["encode", str(a), "-o", str(tmp_path / "x.png"), *FAST]) == EXIT_USAGE
    assert main(["encode", str(a), "-o", str(tmp_path / "x.agdl"), "--container", "jpeg", *FAST]) == EXIT_USAGE
    assert "name it .jpg" in capsys.readouterr().err
    assert _files(tmp_path) == ["a.png"]
    agdl = tmp_path / "a.agdl"
    assert main(["encode", str(a), "-q", *FAST]) == EXIT_OK
    assert main(["decode", str(agdl), "--format", "xyz"]) == EXIT_USAGE
    assert "cannot write '.xyz'" in capsys.readouterr().err
    assert main(["decode", str(agdl), "-o", str(tmp_path / "b.tif"), "-q"]) == EXIT_OK
    assert Image.open(tmp_path / "b.tif").format == "TIFF"
