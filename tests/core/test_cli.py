"""The agdl command line: encode/decode/info/demo, globs, exit codes."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from agdl_plugins.cli import main


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
    assert main(["encode", str(src), "-o", str(out), "--quality", "35", "--predictor", "edge-sobel"]) == 0
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
    # a failed encode leaves no partial output
    assert main(["encode", str(bad), "-o", str(tmp_path / "o.agdl")]) == 1
    assert not (tmp_path / "o.agdl").exists()


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
