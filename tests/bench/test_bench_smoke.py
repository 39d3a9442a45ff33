"""Smoke test of ``agdl bench --quick`` on a tiny folder, plus units of the Bjøntegaard and rate matching."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest
from PIL import Image
from skimage import data

from agdl_plugins.apps.bench import main
from agdl_plugins.apps.bench.codecs import JpegCodec, ijg_tables
from agdl_plugins.apps.bench.ratematch import bd_psnr, bd_rate, match_bytes
from agdl_plugins.apps.bench.report import ROW_COLUMNS

SMOKE_CODECS = "agdl,agdl-box,jpeg,webp"


def _make_folder(root):
    """3 photo crops (168 x 172, >= 161 px so MS-SSIM has its 5 scales) with a masks/ folder."""
    (root / "images").mkdir()
    (root / "masks").mkdir()
    crops = {"astronaut": data.astronaut()[40:208, 120:292], "coffee": data.coffee()[100:268, 200:372],
             "chelsea": data.chelsea()[60:228, 100:272]}
    for name, a in crops.items():
        Image.fromarray(np.ascontiguousarray(a)).save(root / "images" / f"{name}.png")
        m = np.zeros(a.shape[:2], np.uint8)
        m[40:130, 50:120] = 255
        Image.fromarray(m).save(root / "masks" / f"{name}.png")
    return root / "images"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    images = _make_folder(root)
    out = root / "out"
    rc = main([str(images), "--quick", "--codecs", SMOKE_CODECS, "--out", str(out), "--no-progress"])
    return rc, out


def test_quick_run_writes_outputs(quick_run):
    rc, out = quick_run
    assert rc == 0
    for name in ("rows.csv", "aggregate.csv", "results.json", "report.txt"):
        assert (out / name).is_file(), name
    assert (out / "rd1_roi_psnr_y.png").is_file()  # masks found in ../masks: ROI plot comes first


def test_csv_json_columns_and_rows(quick_run):
    _, out = quick_run
    with (out / "rows.csv").open() as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ROW_COLUMNS
        rows = list(reader)
    assert len(rows) == 3 * 2 * 4  # images x points x codecs
    assert {r["codec"] for r in rows} == set(SMOKE_CODECS.split(","))
    assert not any(r["error"] for r in rows)
    doc = json.loads((out / "results.json").read_text())
    assert set(doc) >= {"meta", "notes", "aggregate", "bd", "speed", "images", "rows"}
    assert doc["meta"]["has_masks"] and doc["meta"]["n_images"] == 3 and doc["meta"]["points"] == ["q20", "q40"]
    for r in doc["rows"]:
        for k in ("bpp", "psnr_y", "psnr_rgb", "roi_psnr_y", "edge_psnr_y", "ssim", "ms_ssim", "roi_ms_ssim",
                  "ms_ssim_db", "roi_ms_ssim_db", "enc_ms", "dec_ms"):
            assert isinstance(r[k], float) and math.isfinite(r[k]), (r["codec"], k, r[k])
        assert r["bpp"] == pytest.approx(8 * r["bytes"] / r["pixels"])
    assert all("dncnn_ms" in im and "peak_rss_mb" in im for im in doc["images"])


def test_jpeg_matched_within_2_percent(quick_run):
    _, out = quick_run
    doc = json.loads((out / "results.json").read_text())
    jpeg = [r for r in doc["rows"] if r["codec"] == "jpeg"]
    assert len(jpeg) == 6
    for r in jpeg:
        assert abs(r["bytes"] / r["target_bytes"] - 1) <= 0.02 and r["rate_ok"], r
    agdl = {(r["image"], r["point"]): r["bytes"] for r in doc["rows"] if r["codec"] == "agdl"}
    for r in doc["rows"]:
        assert r["target_bytes"] == agdl[(r["image"], r["point"])]
        if r["codec"] == "agdl-box":
            assert r["bytes"] == r["target_bytes"]


def test_bd_of_jpeg_against_itself_is_zero(quick_run):
    _, out = quick_run
    doc = json.loads((out / "results.json").read_text())
    bd = {b["codec"]: b for b in doc["bd"]}
    assert bd["jpeg"]["bd_rate_psnr_y"] == 0.0 and bd["jpeg"]["bd_psnr_psnr_y"] == 0.0
    assert bd["jpeg"]["bd_rate_roi_psnr_y"] == 0.0
    # rate-matched rows share the rate axis, so BD-PSNR always has an overlap; BD-rate needs overlapping
    # PSNR ranges and is null (NaN) when a codec is better everywhere than JPEG's best point
    assert all(isinstance(b["bd_psnr_psnr_y"], float) for b in doc["bd"])


def test_deterministic_except_times(tmp_path):
    images = _make_folder(tmp_path)
    args = [str(images), "--limit", "1", "--agdl-points", "q=30", "--codecs", "agdl,jpeg,webp", "--repeats", "1",
            "--no-dncnn", "--no-rss", "--no-progress"]
    runs = []
    for i in range(2):
        assert main([*args, "--out", str(tmp_path / f"o{i}")]) == 0
        rows = json.loads((tmp_path / f"o{i}" / "results.json").read_text())["rows"]
        runs.append([{k: v for k, v in r.items() if "_ms" not in k and "mps" not in k and "_vs_" not in k}
                     for r in rows])
    assert runs[0] == runs[1]


def test_usage_errors_return_2(tmp_path):
    assert main([str(tmp_path / "missing")]) == 2
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty")]) == 2
    assert main([str(tmp_path / "empty"), "--codecs", "nope"]) == 2
    assert main(["--bogus-option"]) == 2
    assert main(["--help"]) == 0


# ------------------------------------------------------------------------------------------------ units
def test_bd_rate_half_bytes_is_minus_50_percent():
    psnr = [28.0, 31.0, 34.0, 37.0]
    rate = [0.25, 0.5, 1.0, 2.0]
    assert bd_rate(rate, psnr, [r / 2 for r in rate], psnr) == pytest.approx(-50.0, abs=1e-9)
    assert bd_rate(rate, psnr, [r * 2 for r in rate], psnr) == pytest.approx(100.0, abs=1e-9)
    assert bd_rate(rate, psnr, rate, psnr) == 0.0
    # a codec 1 dB better everywhere has BD-PSNR +1
    assert bd_psnr(rate, psnr, rate, [p + 1 for p in psnr]) == pytest.approx(1.0, abs=1e-9)
    # no overlap -> NaN
    assert math.isnan(bd_rate(rate, psnr, rate, [p + 20 for p in psnr]))


def test_bd_rate_on_a_curved_rd_function():
    """Cubic fit on a non-polynomial curve: half the bytes still reads close to -50 %."""
    rate = np.array([0.2, 0.4, 0.7, 1.1, 1.6])
    psnr = 25 + 6 * np.log2(1 + 4 * rate)
    assert bd_rate(rate, psnr, rate / 2, psnr) == pytest.approx(-50.0, abs=1e-6)


def test_match_bytes_integer_and_continuous():
    size = lambda k: int(1000 + 37.5 * k)  # noqa: E731
    m = match_bytes(lambda k: b"x" * size(k), 2500, 1, 100, integer=True)
    assert m.knob == 40 and m.ok and m.ratio == 1.0
    m = match_bytes(lambda k: b"x" * size(k), 2513, 0, 100, integer=False)
    assert abs(m.ratio - 1) <= 0.01 and m.ok
    m = match_bytes(lambda k: b"x" * size(k), 10**6, 1, 100, integer=True)  # unreachable: best effort, flagged
    assert m.knob == 100 and not m.ok


def test_fractional_jpeg_equals_pillow_at_integer_quality():
    a = np.ascontiguousarray(data.astronaut()[:64, :80])
    c = JpegCodec("jpeg", "")
    for q in (5, 30, 50, 75):
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, "JPEG", qtables=ijg_tables(q), optimize=True, subsampling="4:2:0")
        assert buf.getvalue() == c.encode(a, q)
    assert len(c.encode(a, 30)) < len(c.encode(a, 30.5)) < len(c.encode(a, 31))


def test_unreachable_rate_skips_that_image_point_only(tmp_path):
    """An image that cannot reach a --bpp point (AGDL's smallest file is larger) is skipped at that point,
    noted, and the run goes on with rc 0: one hard image must not sink a 100-image benchmark."""
    (tmp_path / "images").mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "images" / "a_noise.png")
    Image.fromarray(np.full((512, 512, 3), 128, np.uint8)).save(tmp_path / "images" / "b_flat.png")
    out = tmp_path / "out"
    rc = main([str(tmp_path / "images"), "--no-masks", "--bpp", "0.1,4", "--codecs", "agdl,jpeg", "--repeats", "1",
               "--predictor", "edge-sobel", "--restorer", "identity", "--no-dncnn", "--no-rss", "--no-progress",
               "--out", str(out)])
    assert rc == 0
    doc = json.loads((out / "results.json").read_text())
    got = {(r["image"], r["point"], r["codec"]) for r in doc["rows"] if not r["error"]}
    assert ("a_noise.png", "0.1bpp", "agdl") not in got and ("a_noise.png", "4bpp", "agdl") in got
    assert {("b_flat.png", p, c) for p in ("0.1bpp", "4bpp") for c in ("agdl", "jpeg")} <= got
    noise = next(i for i in doc["images"] if i["image"] == "a_noise.png")
    assert noise["skipped_points"] == ["0.1bpp"] and any("unreachable rate" in n for n in noise["notes"])
