"""MS-SSIM (whole image and ROI), crop choice, the ``agdl compare`` page rendered in headless Chromium, and
``agdl bench --html``."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from agdl_plugins.apps.bench import main as bench_main
from agdl_plugins.apps.bench.compare import choose_crops
from agdl_plugins.apps.bench.html import best_and_worst, browser_check, find_chromium
from agdl_plugins.apps.bench.metrics import ms_ssim, ms_ssim_db
from agdl_plugins.apps.bench.report import ms_ssim_notes
from agdl_plugins.apps.cli import main as cli_main

NO_CHROMIUM = "headless Chromium not installed (Debian: apt-get install chromium; .ci/run installs it)"


def _pair(h: int, w: int, sigma: float = 12.0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(np.ascontiguousarray(data.astronaut()[:h, :w].transpose(2, 0, 1)).astype(np.float32))[None]
    g = torch.Generator().manual_seed(seed)
    return x, (x + sigma * torch.randn(x.shape, generator=g)).clamp(0, 255).round()


def test_ms_ssim_matches_pytorch_msssim():
    pm = pytest.importorskip("pytorch_msssim", reason="pytorch-msssim (agdl[bench]) is the reference")
    for h, w in ((161, 170), (217, 333), (300, 256)):
        x, y = _pair(h, w)
        s, m = ms_ssim(x, y)
        assert s == pytest.approx(float(pm.ssim(x, y, data_range=255)), abs=1e-5)
        assert m == pytest.approx(float(pm.ms_ssim(x, y, data_range=255)), abs=1e-5)


def test_ms_ssim_edge_cases_and_roi():
    x, y = _pair(200, 240)
    s, m = ms_ssim(x, x)
    assert s == pytest.approx(1.0, abs=1e-5) and m == pytest.approx(1.0, abs=1e-5)
    # below 161 px: SSIM still defined, MS-SSIM NaN (no non-standard reduced variant)
    s2, m2 = ms_ssim(x[..., :160, :], y[..., :160, :])
    assert 0 < s2 < 1 and np.isnan(m2)
    # a whole-image mask is plain MS-SSIM; an empty mask is NaN
    assert ms_ssim(x, y, mask=torch.ones(1, 1, 200, 240))[1] == pytest.approx(ms_ssim(x, y)[1], abs=1e-5)
    assert np.isnan(ms_ssim(x, y, mask=torch.zeros(1, 1, 200, 240))[1])
    # distortion only outside the ROI: the ROI score stays near 1, the whole-image score drops
    z = x.clone()
    z[..., :, 140:] = y[..., :, 140:]
    roi = torch.zeros(1, 1, 200, 240)
    roi[..., :, :100] = 1
    whole, inside = ms_ssim(x, z)[1], ms_ssim(x, z, mask=roi)[1]
    assert inside > 0.999 and whole < 0.99
    assert ms_ssim_db(0.9) == pytest.approx(10.0) and np.isnan(ms_ssim_db(float("nan")))
    with pytest.raises(ValueError):
        ms_ssim(x, y[..., :100])


def test_ms_ssim_not_computed_is_said_in_the_report():
    imgs = [{"image": "small.png", "width": 128, "height": 128}, {"image": "big.png", "width": 200, "height": 180}]
    notes = ms_ssim_notes(imgs, [])
    assert len(notes) == 1 and "MS-SSIM: not computed on 1 of 2 images" in notes[0] and "small.png" in notes[0]
    assert ms_ssim_notes(imgs[1:], []) == []


def test_crops_find_the_roi_and_textured_background():
    rng = np.random.default_rng(0)
    rgb = np.full((160, 200, 3), 128, np.uint8)
    rgb[100:160, 0:60] = rng.integers(0, 256, (60, 60, 3))  # texture, outside the ROI
    region = np.zeros((160, 200), bool)
    region[20:80, 120:190] = True
    roi, bg = choose_crops(rgb, region, size=48)
    assert region[roi.y0:roi.y0 + 48, roi.x0:roi.x0 + 48].all()
    assert not region[bg.y0:bg.y0 + 48, bg.x0:bg.x0 + 48].any()
    assert bg.x0 <= 12 and bg.y0 >= 100  # inside the textured corner


@pytest.fixture(scope="module")
def compare_page(tmp_path_factory):
    """``agdl compare`` on a 176 x 176 photo crop (>= 161 px: MS-SSIM defined) at a fixed base quality."""
    root = tmp_path_factory.mktemp("compare")
    img = data.astronaut()[30:206, 150:326]
    Image.fromarray(np.ascontiguousarray(img)).save(root / "astro.png")
    m = np.zeros(img.shape[:2], np.uint8)
    m[20:150, 40:140] = 255
    Image.fromarray(m).save(root / "astro_mask.png")
    out = root / "page"
    rc = cli_main(["compare", str(root / "astro.png"), "--roi", str(root / "astro_mask.png"), "--quality", "30",
                   "--peers", "jpeg,webp", "--device", "cpu", "-o", str(out)])
    assert rc == 0
    return out / "index.html"


def test_compare_page_is_self_contained(compare_page):
    page = compare_page.read_text()
    for codec in ("original", "agdl", "jpeg", "webp"):
        assert f"data-codec='{codec}'" in page
    assert not re.search(r"""(src|href)=['"]?(https?:)?//""", page), "the page must not fetch anything"
    assert "<script src" not in page
    srcs = re.findall(r"<img [^>]*src='([^']*)'", page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "roi crop" in page and "background crop" in page and "MS-SSIM" in page
    assert "(no mask)" not in page and "short side" not in page  # ROI and MS-SSIM measured here


def test_compare_page_renders_in_chromium(compare_page):
    if find_chromium() is None:
        pytest.skip(NO_CHROMIUM)
    shot = compare_page.parent / "screenshot.png"
    res = browser_check(compare_page, shot, width=1000, height=900)
    # every <img> (4 images x 3 views, 5 in the overlay panel, the viewer's A and B) has a source and decoded
    assert res["images"] == compare_page.read_text().count("<img ") == 19, res
    assert res["images_ok"] == res["images"], res  # no broken image
    assert res["toggles_ok"], res  # the A/B toggle flips the viewer to B and back to A
    assert res["text_chars"] > 500, res
    px = np.asarray(Image.open(shot).convert("RGB"))
    assert px.shape[:2] == (900, 1000)
    assert px.std() > 20 and len(np.unique(px.reshape(-1, 3), axis=0)) > 1000  # not a blank page


def test_best_and_worst():
    rows = [{"image": i, "point": "q30", "codec": c, "error": "", "bpp": 0.5, "psnr_y": v}
            for i, vals in (("a", (30, 29, 31)), ("b", (30, 27, 28)), ("c", (25, 25, 30)))
            for c, v in zip(("agdl", "jpeg", "webp"), vals)]
    point, best, worst = best_and_worst(rows, "psnr_y")
    assert point == "q30" and best["image"] == "b" and best["gain"] == 2 and best["peer"] == "webp"
    assert worst["image"] == "c" and worst["gain"] == -5


def test_bench_html_and_no_timing(tmp_path):
    (tmp_path / "images").mkdir()
    for name, a in (("coffee", data.coffee()[100:268, 200:372]), ("chelsea", data.chelsea()[60:228, 100:272])):
        Image.fromarray(np.ascontiguousarray(a)).save(tmp_path / "images" / f"{name}.png")
    out = tmp_path / "out"
    rc = bench_main([str(tmp_path / "images"), "--agdl-points", "q=30", "--codecs", "agdl,jpeg", "--repeats", "0",
                     "--no-dncnn", "--no-rss", "--no-progress", "--device", "cpu", "--html", "--out", str(out)])
    assert rc == 0
    doc = json.loads((out / "results.json").read_text())
    assert all(r["enc_ms"] is None and r["ms_ssim"] > 0 for r in doc["rows"])  # --repeats 0: no timing
    assert any("timing skipped" in n for n in doc["notes"])
    assert "Speed: not measured (--repeats 0)" in (out / "report.txt").read_text()
    bd = {b["codec"]: b for b in doc["bd"]}
    assert "bd_psnr_ms_ssim_db" in bd["agdl"]
    page = (out / "index.html").read_text()
    assert "best image for AGDL at q30" in page and "worst image for AGDL at q30" in page
    assert page.count("class='plot'") >= 2  # the RD plots (PSNR-Y, MS-SSIM) inlined
    if find_chromium() is not None:
        res = browser_check(out / "index.html")
        assert res["images_ok"] == res["images"] > 0 and res["toggles_ok"], res


def test_browser_check_sees_a_broken_image_and_a_broken_toggle(compare_page, tmp_path):
    if find_chromium() is None:
        pytest.skip(NO_CHROMIUM)
    page = compare_page.read_text()
    bad = tmp_path / "index.html"
    bad.write_text(page.replace("src='data:image/png;base64,", "src='data:image/png;base64,AAAA", 1)
                   .replace("s.value=(+s.value>=100)?0:100;", "s.value=s.value;", 1))
    res = browser_check(bad)
    assert res["images_ok"] == res["images"] - 1 and not res["toggles_ok"], res


def test_compare_usage_errors(tmp_path):
    img = tmp_path / "x.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(img)
    assert cli_main(["compare", str(tmp_path / "missing.png"), "-o", str(tmp_path / "o")]) == 1
    assert cli_main(["compare", str(img), "--roi", str(tmp_path / "nomask.png"), "-o", str(tmp_path / "o")]) == 1
    assert cli_main(["compare", str(img), "--bpp", "0.5", "--quality", "30", "-o", str(tmp_path / "o")]) == 2
    assert cli_main(["compare", str(img), "--peers", "jpeg,agdl-norefine", "--quality", "30",
                     "-o", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()
