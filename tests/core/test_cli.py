"""The agdl command line: encode/decode/info/demo, globs, exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agdl_plugins.apps.cli import main


def _write_pngs(tmp_path, photo, n=3):
    paths = []
    for i in range(n):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(np.roll(photo, 7 * i, axis=1)).save(p)
        paths.append(p)
    return paths


def test_encode_decode_info_roundtrip(tmp_path, photo, capsys):
    (src,) = _write_pngs(tmp_path, photo, 1)
    out = tmp_path / "x.agdl"
    args = ["encode", str(src), "-o", str(out), "--quality", "35", "--predictor", "edge-sobel", "--base", "jpeg"]
    assert main(args) == 0
    assert out.read_bytes()[:5] == b"\x89AGDL"
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["width"] == photo.shape[1] and info["agdl_quality"] == 35
    assert info["agdl_format_version"] == "2.0"  # the writer's format; 1.0 files report "1.0"
    png = tmp_path / "back.png"
    assert main(["decode", str(out), "-o", str(png)]) == 0
    assert np.asarray(Image.open(png)).shape == photo.shape


def test_batch_glob_to_folder(tmp_path, photo):
    _write_pngs(tmp_path, photo, 3)
    outdir = tmp_path / "enc"
    assert (
        main(["encode", str(tmp_path / "*.png"), "-o", str(outdir), "-q", "--predictor", "edge-sobel"]) == 0
    )
    assert sorted(p.name for p in outdir.iterdir()) == ["img0.agdl", "img1.agdl", "img2.agdl"]
    assert main(["decode", str(outdir / "*.agdl"), "-o", str(tmp_path / "dec"), "-q", "--base-only"]) == 0
    assert len(list((tmp_path / "dec").glob("*.png"))) == 3


def test_exit_codes(tmp_path, capsys):
    bad = tmp_path / "bad.agdl"
    bad.write_bytes(b"\x89AGDL\r\n\x1a\n\x01\x00trunc")
    assert main(["info", str(bad)]) == 1
    assert "truncated" in capsys.readouterr().err
    assert main(["decode", str(tmp_path / "missing*.agdl")]) == 1
    assert main(["encode", str(bad), "--quality", "0"]) == 2
    assert main(["encode", str(bad), "-o", str(tmp_path / "o.agdl")]) == 1  # unreadable input
    assert not (tmp_path / "o.agdl").exists()


def _fail_the_write(monkeypatch, how: str) -> None:
    """Make the CLI's output write (agdl_plugins.apps.batch.atomic_write: temp file + ``os.replace``) fail the way a
    full disk does; patched at the OS level, so any write path the CLI takes meets the failure."""
    if how == "replace":  # the temp file is complete, moving it into place fails
        def replace(src, dst):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "replace", replace)
    else:  # the temp file is cut short halfway through
        real = Path.write_bytes

        def write_bytes(self, data):
            real(self, bytes(data)[: len(data) // 2])
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(Path, "write_bytes", write_bytes)


@pytest.mark.parametrize("how", ["replace", "write"])
@pytest.mark.parametrize("cmd", ["encode", "decode"])
def test_failed_write_leaves_no_partial_output(tmp_path, photo, monkeypatch, capsys, cmd, how):
    """A write that fails: exit code 1, no output file, no temp file, and an existing output left as it was."""
    (src,) = _write_pngs(tmp_path, photo, 1)
    if cmd == "decode":
        agdl_file = tmp_path / "x.agdl"
        assert main(["encode", str(src), "-o", str(agdl_file), "-q", "--predictor", "edge-sobel",
                     "--restorer", "identity"]) == 0
        src = agdl_file
    args = ["--predictor", "edge-sobel", "--restorer", "identity"] if cmd == "encode" else ["--device", "cpu"]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    dst = out_dir / ("y.agdl" if cmd == "encode" else "y.png")
    _fail_the_write(monkeypatch, how)
    assert main([cmd, str(src), "-o", str(dst), *args]) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert list(out_dir.iterdir()) == []  # neither the output nor a partial temp file
    with open(dst, "wb") as f:  # an existing output survives a failed overwrite (Path.write_bytes may be patched)
        f.write(b"previous version")
    assert main([cmd, str(src), "-o", str(dst), *args]) == 1
    assert dst.read_bytes() == b"previous version" and list(out_dir.iterdir()) == [dst]


def test_demo_runs(tmp_path, capsys):
    out = tmp_path / "demo.png"
    assert main(["demo", "-o", str(out), "--predictor", "edge-sobel", "--restorer", "identity"]) == 0
    text = capsys.readouterr().out
    assert "bpp" in text and "PSNR-Y" in text and "JPEG same size" in text
    im = Image.open(out)
    assert im.size == (512 * 3, 512)


def test_cli_target_bpp_uses_the_automatic_budget(tmp_path, photo):
    """No --critical-fraction: the CLI leaves the budget to the encoder, as agdl_plugins.encode does."""
    import agdl_plugins as agdl

    (src,) = _write_pngs(tmp_path, photo, 1)
    px = photo.shape[0] * photo.shape[1]
    base = {"predictor": "edge-sobel", "restorer": "identity"}
    low = 1.15 * len(agdl.encode(photo, quality=10, critical_fraction=0.0, **base)) * 8 / px
    out = tmp_path / "low.agdl"
    assert main(["encode", str(src), "-o", str(out), "--target-bpp", f"{low:.4f}", "-q",
                 "--predictor", "edge-sobel", "--restorer", "identity"]) == 0
    api = agdl.encode(np.asarray(Image.open(src)), target_bpp=float(f"{low:.4f}"), **base)
    assert agdl.read_info(out.read_bytes()).n_critical == agdl.read_info(api).n_critical < round(0.2 * px)
