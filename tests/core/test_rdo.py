"""Encoder decisions by measured distortion (agdl_plugins.codec.rdo / rdo_search)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from skimage import data

import agdl_plugins as agdl
from agdl_plugins.apps.metrics import luma, psnr
from agdl_plugins.codec.rdo import pixel_weights
from agdl_plugins.codec.rdo_search import _Search
from agdl_plugins.options import validate_encode_options
from agdl_plugins.parts.registry import get_registry

BASELINE = {"base": "jpeg", "predictor": "edge-sobel", "restorer": "identity"}  # not the default base="auto"


def _px(a: np.ndarray) -> int:
    return a.shape[0] * a.shape[1]


def test_rate_control_lands_within_3_percent(photo):
    for bpp in (0.8, 1.5):
        out = agdl.encode(photo, target_bpp=bpp, **BASELINE)
        assert abs(len(out) * 8 / _px(photo) - bpp) <= 0.03 * bpp


def test_rate_control_without_refinement_fills_the_gap_between_base_qualities(photo):
    """G alone: integer JPEG qualities are ~5-10 % apart in size at low rates; a fractional base quality
    lands the file within 3 % (it used to land up to 8 % under the target)."""
    filled = 0
    for bpp in np.linspace(0.37, 0.55, 7):  # base q 3..9 on this crop: ~7 % apart
        out = agdl.encode(photo, target_bpp=bpp, critical_fraction=0, **BASELINE)
        assert 1 - 0.03 <= len(out) * 8 / _px(photo) / bpp <= 1.0, bpp
        assert agdl.read_info(out).n_critical == 0
        s = _Search(*_search_args(photo, bpp))
        q = s.to_rate()[0].quality
        assert s.fixed_bytes(q) <= len(out) < s.fixed_bytes(q + 1)  # between the two integer qualities
        filled += s.fixed_bytes(q) < 0.97 * bpp * _px(photo) / 8
    assert filled >= 2  # the targets did fall between integer qualities


def _search_args(photo: np.ndarray, bpp: float):
    from PIL import Image

    im = Image.fromarray(photo)
    opts = validate_encode_options(target_bpp=bpp, critical_fraction=0, **BASELINE)
    return im, im, None, opts, get_registry()


def test_target_counts_pixel_layers_not_metadata(photo):
    """EXIF/ICC/XMP ride on top of target_bpp (a 3 KB profile must not make a 0.8 bpp target fail)."""
    icc, xmp = bytes(range(256)) * 12, b"<x:xmpmeta>" + b"a" * 2000 + b"</x:xmpmeta>"
    plain = agdl.encode(photo, target_bpp=0.8, **BASELINE)
    meta = agdl.encode(photo, target_bpp=0.8, icc_profile=icc, xmp=xmp, **BASELINE)
    info = agdl.read_info(meta)
    assert info.icc_profile == icc and info.xmp == xmp
    pixel_layers = len(meta) - (len(icc) + len(xmp))
    assert abs(pixel_layers * 8 / _px(photo) - 0.8) <= 0.03 * 0.8 + 8 * 32 / _px(photo)  # + chunk framing
    assert abs(len(plain) - pixel_layers) <= 32


def test_impossible_target_names_the_cause_and_the_smallest_rate(photo):
    with pytest.raises(ValueError, match=r"smallest size of this image's pixel layers: \d+\.\d+ bpp") as e:
        agdl.encode(photo, target_bpp=0.01, **BASELINE)
    assert "critical_fraction" not in str(e.value) and "not counted" in str(e.value)


@pytest.mark.parametrize("quantiser", ["round", "rdo"])
def test_predicted_distortion_is_what_the_decoder_outputs(grey, quantiser):
    """The encoder's exact-distortion claim: D computed without decoding == D of the decoded file."""
    opts = validate_encode_options(quality=25, quantiser=quantiser, **BASELINE)
    from PIL import Image

    im = Image.fromarray(grey)
    s = _Search(im, im, None, opts, get_registry())
    ev = s.evaluator(25)
    for frac, step in ((0.05, 8.0), (0.2, 16.0), (0.1, 40.0)):
        c = ev.evaluate(frac, step)
        out = agdl.decode(s.file(25, frac, step, {})).array.astype(np.float64)
        d = float((s.weights() * (grey.astype(np.float64) - out) ** 2).sum())
        assert c.distortion == pytest.approx(d, rel=1e-9, abs=1e-9)
    assert ev.alone().distortion >= ev.evaluate(0.2, 16.0).distortion  # refinement never adds distortion


@pytest.mark.parametrize("bpp", [0.6, 1.2])
def test_never_worse_than_g_alone_on_the_objective(photo, bpp):
    """Budget 0 (G alone) is a candidate: the chosen file's objective is <= G alone's at <= its bytes."""
    full = agdl.encode(photo, target_bpp=bpp, **BASELINE)
    alone = agdl.encode(photo, target_bpp=bpp, critical_fraction=0, **BASELINE)
    assert len(alone) <= len(full) * 1.03
    from PIL import Image

    from agdl_plugins.imaging import luminance

    # the objective lives on the codec's Y plane (RGB output clips saturated colours, which moves RGB-luma)
    y = luminance(Image.fromarray(photo)).astype(np.float64)
    outs = [np.clip(np.round(agdl.decode(d, diagnostics=True).diagnostics["restored_float"]), 0, 255)
            for d in (full, alone)]
    mse = [float(np.mean((y - o) ** 2)) for o in outs]
    assert mse[0] <= mse[1] * (1 + 1e-9)  # classical predictor: no saliency head -> objective = MSE


def test_quality_means_quality():
    """Bytes and PSNR rise with quality (the refinement split is optimised at each quality)."""
    for img in (data.astronaut()[60:188, 150:310], data.coffee()[100:228, 200:360]):
        sizes, psnrs = [], []
        for q in (10, 20, 35, 50, 75):
            d = agdl.encode(img, quality=q)
            sizes.append(len(d))
            psnrs.append(psnr(luma(img), luma(agdl.decode(d).array)))
        assert all(b > a for a, b in zip(sizes, sizes[1:])), sizes
        assert all(b > a for a, b in zip(psnrs, psnrs[1:])), psnrs


def test_roi_weight_moves_bits_into_the_salient_region():
    # a crop where the two objectives pick different decisions with the default F (v5): the search's grid is
    # discrete, so on some images and budgets both objectives choose the same file (and the search is not
    # exhaustive: on astronaut[32:224, 128:384] at 0.75 bpp, since the packed BASE record, the MSE-only search
    # misses a file better on MSE; on chelsea the two files differ by 2x on each objective)
    img = data.chelsea()[:192, 50:306]
    files = [agdl.encode(img, target_bpp=1.0, roi_weight=w) for w in (0.0, 1.0)]
    infos = [agdl.read_info(f) for f in files]
    assert files[0] != files[1]
    assert all(i.layer_bytes["total"] * 8 / (192 * 256) == pytest.approx(1.0, rel=0.03) for i in infos)
    # at the same bytes the ROI-only objective is better on the salient region, the MSE-only one on the image
    from PIL import Image

    s = _Search(Image.fromarray(img), Image.fromarray(img), None, validate_encode_options(roi_weight=1.0),
                get_registry())
    w = s.weights()
    outs = [luma(agdl.decode(f).array).astype(np.float64) for f in files]
    d_roi = [float((w * (s.y - o) ** 2).sum()) for o in outs]
    d_all = [float(((s.y - o) ** 2).mean()) for o in outs]
    assert d_roi[1] < d_roi[0] and d_all[0] < d_all[1]


def test_explicit_choices_are_honoured(photo):
    i = agdl.read_info(agdl.encode(photo, quality=30, critical_fraction=0.05, step=12.0, **BASELINE))
    assert i.n_critical == round(0.05 * _px(photo)) and i.step == pytest.approx(12.0) and i.quality == 30
    none = agdl.read_info(agdl.encode(photo, quality=30, critical_fraction=0, **BASELINE))
    assert none.n_critical == 0 and none.layer_bytes["refinement"] <= 16
    with pytest.raises(ValueError, match="roi_weight"):
        agdl.encode(photo, roi_weight=1.5)


def test_pixel_weights_blend():
    sal = np.zeros((4, 5))
    sal[1:3, 1:3] = 1.0
    w = pixel_weights(sal, sal.shape, 0.75)
    assert w.sum() == pytest.approx(1.0)
    assert w[1, 1] == pytest.approx(0.75 / 4 + 0.25 / 20) and w[0, 0] == pytest.approx(0.25 / 20)
    assert np.allclose(pixel_weights(None, (4, 5), 0.75), 1 / 20)
    assert np.allclose(pixel_weights(np.zeros((4, 5)), (4, 5), 1.0), 1 / 20)


def test_info_shows_the_decision(tmp_path, photo):
    from agdl_plugins.apps.cli import main

    p = tmp_path / "x.agdl"
    p.write_bytes(agdl.encode(photo, target_bpp=1.0, **BASELINE))
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["info", "--json", str(p)]) == 0
    d = json.loads(buf.getvalue())
    assert d["decision"].startswith(f"base quality {d['agdl_quality']}, refinement on ")


@pytest.mark.parametrize("kw", [{"quality": 40}, {"target_bpp": 1.0}, {"target_bpp": 1.0, "critical_fraction": 0}])
def test_a_restorer_that_hurts_is_not_written(photo, monkeypatch, kw):
    """The encoder judges the default restorer on each base: when its output is further from the original
    than the base layer (on the objective), the file names ``identity`` and decodes to the base + refinement.
    A restorer the user names is kept as asked."""
    from agdl_plugins.parts.restorers import LossyBaseRestorer

    def harmful(self, luma, qtable, device):
        return luma.astype(np.float32) + 12.0

    monkeypatch.setattr(LossyBaseRestorer, "restore", harmful)
    d = agdl.encode(photo, base="webp", **kw)
    assert agdl.read_info(d).header.restorer == "identity"
    if kw.get("critical_fraction") == 0:
        assert np.array_equal(agdl.decode(d).array, agdl.decode(d, base_only=True).array)
    named = agdl.encode(photo, base="webp", quality=40, restorer="agdl-g-webp-avif")
    assert agdl.read_info(named).header.restorer == "agdl-g-webp-avif"


def test_a_restorer_that_helps_is_kept(photo):
    for kw in ({"quality": 40}, {"target_bpp": 1.0, "critical_fraction": 0}):
        assert agdl.read_info(agdl.encode(photo, base="webp", **kw)).header.restorer == "agdl-g-webp-avif"
        assert agdl.read_info(agdl.encode(photo, base="jpeg", **kw)).header.restorer == "agdl-g"


def test_rdo_quantiser_is_smaller_at_a_fixed_decision_and_decodes_with_any_decoder(photo):
    """Fixed quality, budget and step: quantiser="rdo" writes fewer refinement bytes than plain
    rounding, the file keeps the same header decisions, and the decoder needs nothing new."""
    kw = dict(quality=30, critical_fraction=0.1, step=24.0, **BASELINE)
    files = {qz: agdl.encode(photo, quantiser=qz, **kw) for qz in ("round", "rdo")}
    infos = {k: agdl.read_info(v) for k, v in files.items()}
    assert infos["rdo"].n_critical == infos["round"].n_critical
    assert infos["rdo"].layer_bytes["refinement"] < 0.95 * infos["round"].layer_bytes["refinement"]
    y = luma(photo)
    outs = {k: luma(agdl.decode(v).array) for k, v in files.items()}
    base = luma(agdl.decode(files["rdo"], base_only=True).array)
    assert psnr(outs["rdo"], y) > psnr(base, y) + 0.3  # still a real refinement
    assert psnr(outs["rdo"], y) > psnr(outs["round"], y) - 0.5
    with pytest.raises(ValueError, match="quantiser"):
        agdl.encode(photo, quantiser="floor")


# --- the search's cost (issue 29 item 3): fewer base encodes and F runs, the same decisions --------------------------

def _bisected_alone(s: _Search, target: float) -> int:
    """The plain bisection of 2..95 the search used before (the reference answer)."""
    lo, hi, q_alone = 2, 95, 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if s.fixed_bytes(mid) <= target:
            q_alone, lo = mid, mid + 1
        else:
            hi = mid - 1
    return q_alone


@pytest.mark.parametrize("base", ["jpeg", "webp"])
def test_largest_alone_is_the_bisection_answer_with_fewer_base_encodes(photo, base):
    from PIL import Image

    im = Image.fromarray(photo)
    probes = []
    for bpp in (0.4, 0.8, 1.5, 3.0, 6.0):
        s = _Search(im, im, None, validate_encode_options(target_bpp=bpp, **{**BASELINE, "base": base}), get_registry())
        target = s.target_bytes()
        q = s.largest_alone(target)
        probes.append(len(s.fixed) - 1)  # base encodes besides quality 1 (which to_rate sizes anyway)
        assert q == _bisected_alone(s, target)
        assert s.fixed_bytes(q) <= target and (q == 95 or s.fixed_bytes(q + 1) > target)
    assert sum(probes) < 6.5 * len(probes)  # a bisection of 2..95 probes 6-7 qualities


def test_search_runs_f_on_at_most_three_bases_and_lands_on_the_rate(photo, monkeypatch):
    """Default parts (F, G): F's scores run once for the coarse ranking of every proxy quality, and again only on
    the fine ranking's finalists (PROXY_FINALISTS besides q_alone); the file still lands within 3 %."""
    from agdl_plugins.codec import encoder, rdo_search

    runs = []
    real = encoder.P.predict_scores

    def counted(pred, planes, qtable, device):
        runs.append(planes.shape)
        return real(pred, planes, qtable, device)

    monkeypatch.setattr(encoder.P, "predict_scores", counted)
    img = np.ascontiguousarray(data.astronaut()[40:232, 120:376])
    for bpp in (0.5, 1.0):
        runs.clear()
        out = agdl.encode(img, target_bpp=bpp, base="jpeg")  # one base's search (auto runs several)
        assert abs(len(out) * 8 / _px(img) - bpp) <= 0.03 * bpp
        assert 1 <= len(runs) <= 1 + rdo_search.PROXY_FINALISTS < 1 + len(rdo_search.PROXY_QUALITY_FACTORS)


def test_shared_critical_sets_evaluate_as_an_evaluator_of_its_own(grey):
    """A proxy on another quality's critical sets is the same computation as an evaluator built on those scores,
    and an evaluator on its own quality's shared sets is the one built alone (the sets are only cached)."""
    from PIL import Image

    from agdl_plugins.codec.rdo import QualityEvaluator

    im = Image.fromarray(grey)
    s = _Search(im, im, None, validate_encode_options(target_bpp=1.0, **BASELINE), get_registry())
    a20 = s.analysis(20)
    shared = s.evaluator(10, proxy=True, scores_at=20)
    alone = QualityEvaluator(10, s.y, s.analysis(10).base.luma.astype(np.float64), a20.scores(), a20.predictor.exact,
                             s.weights(), s.reg.get("sensing", s.opts.sensing), s.opts.seed,
                             s.opts.measurement_ratio, s.fixed_bytes(10))
    own = s.evaluator(10, proxy=True)
    for frac, step in ((0.03, 8.0), (0.1, 16.0), (0.3, 32.0)):
        assert shared.evaluate(frac, step) == alone.evaluate(frac, step)
        assert own.evaluate(frac, step).rate > 0
    assert s.critical_sets(20) is shared.sets and s.critical_sets(10) is own.sets


def test_step_tuning_reuses_the_measurements_and_writes_the_same_file(photo):
    """finish() senses a prepared set once (tune_step codes it at many steps): each step's file is byte-identical
    to one written from a freshly prepared set."""
    from PIL import Image

    from agdl_plugins.codec.encoder import finish, prepare

    im = Image.fromarray(photo)
    opts = validate_encode_options(quality=30, **BASELINE)
    reg = get_registry()
    prep = prepare(im, opts, reg, 30, 0.1)
    cached = [finish(prep, im, None, "RGB", opts, reg, st, {}) for st in (6.0, 12.0, 24.0)]
    assert prep.sensed is not None
    fresh = [finish(prepare(im, opts, reg, 30, 0.1), im, None, "RGB", opts, reg, st, {}) for st in (6.0, 12.0, 24.0)]
    assert cached == fresh and len(set(cached)) == 3
