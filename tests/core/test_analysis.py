"""Issue 17: saliency, critical pixels and ROI boxes from the compressed stream (agdl.analyze, agdl analyze)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import agdl_plugins as agdl
from agdl_plugins.apps.cli import main
from agdl_plugins.codec import analysis as A
from agdl_plugins.parts import predictors as P
from agdl_plugins.parts import restorers as R

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def refined(photo) -> bytes:
    """Default parts (F v2 with a saliency head, G), a 5 % critical set."""
    data = agdl.encode(photo, quality=30, critical_fraction=0.05, step=16)
    assert agdl.read_info(data).n_critical > 0
    return data


@pytest.fixture(scope="module")
def sobel(photo) -> bytes:
    """Classical predictor (no saliency head), with refinement."""
    return agdl.encode(photo, quality=30, critical_fraction=0.05, step=16, predictor="edge-sobel", restorer="identity")


@pytest.fixture(scope="module")
def norefine(grey) -> bytes:
    data = agdl.encode(grey, quality=30, critical_fraction=0)
    assert agdl.read_info(data).n_critical == 0
    return data


def _decoder_mask(data: bytes) -> np.ndarray:
    return agdl.decode(data, diagnostics=True, device="cpu").diagnostics["critical_mask"]


# -- the critical set is the decoder's ------------------------------------------------------------------


def test_critical_equals_decoder(refined, sobel, norefine):
    for data in (refined, sobel, norefine):
        res = agdl.analyze(data, device="cpu")
        ref = _decoder_mask(data)
        assert res.critical.dtype == bool and res.critical.shape == ref.shape
        assert np.array_equal(res.critical, ref)
        assert int(res.critical.sum()) == agdl.read_info(data).n_critical


def test_critical_equals_decoder_with_guard_band(photo, float_predictor):
    """A float (non-exact) predictor: the guard-band list takes part in the set, as in the decoder."""
    data = agdl.encode(photo, quality=30, critical_fraction=0.08, step=16, predictor=float_predictor,
                       restorer="identity")
    res = agdl.analyze(data, outputs=("critical",), device="cpu")
    assert np.array_equal(res.critical, _decoder_mask(data))
    assert res.saliency is None  # that predictor has no saliency head


def test_no_refinement_gives_empty_mask(norefine):
    res = agdl.analyze(norefine)
    assert res.critical.shape == (80, 120) and not res.critical.any()
    assert any("no refinement" in n for n in res.notes)
    assert res.saliency is not None  # the header still names F v2


# -- saliency -------------------------------------------------------------------------------------------


def test_saliency_is_F_on_the_base_layer(refined):
    from agdl_plugins.codec.decoder import decode_base
    from agdl_plugins.format.parse import parse_file
    from agdl_plugins.parts.learned import _network
    from agdl_plugins.parts.registry import get_registry
    from kornia_ops import saliency_map

    res = agdl.analyze(refined, device="cpu")
    pf = parse_file(refined)
    info = pf.info
    assert res.saliency.dtype == np.float32 and res.saliency.shape == (info.height, info.width)
    assert 0.0 <= res.saliency.min() and res.saliency.max() <= 1.0
    planes = decode_base(pf, get_registry()).planes
    part = get_registry().get("predictor", info.predictor, info.predictor_version)
    assert info.predictor_version >= 3  # the default F reads the base's Y, Cb, Cr
    np.testing.assert_array_equal(res.saliency, part.saliency(planes, "cpu"))
    # the Kornia-style op gives the same map through the same network
    net = _network("predictor", info.predictor, info.predictor_version, "cpu")
    x = torch.from_numpy(planes.astype(np.float32).transpose(2, 0, 1) / 255.0)[None]
    with torch.no_grad():
        np.testing.assert_allclose(saliency_map(x, net)[0, 0].numpy(), res.saliency, atol=1e-6)
    # the boxes are the map's salient regions
    assert res.boxes == A.roi_boxes(res.saliency)
    assert res.boxes and sum(b.area for b in res.boxes) == int((res.saliency >= 0.5).sum())


def test_classical_predictor_has_no_saliency(sobel):
    res = agdl.analyze(sobel)
    assert res.saliency is None and res.boxes is None
    assert any("edge-sobel" in n and "no saliency head" in n for n in res.notes)
    assert res.summary()["boxes"] is None


def test_outputs_selection(refined):
    only_crit = agdl.analyze(refined, outputs=("critical",))
    assert only_crit.saliency is None and only_crit.boxes is None and only_crit.critical is not None
    assert not only_crit.notes
    only_sal = agdl.analyze(refined, outputs="saliency")
    assert only_sal.critical is None and only_sal.saliency is not None
    for bad in ((), ("saliency", "edges"), 3, "image"):
        with pytest.raises(ValueError, match="outputs"):
            agdl.analyze(refined, outputs=bad)


def test_restorer_never_runs(refined, sobel, monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("the restorer ran")

    real = P.run_network

    def no_restorer(kind, *args, **kwargs):
        if kind == "restorer":
            boom()
        return real(kind, *args, **kwargs)

    monkeypatch.setattr(R.LearnedRestorer, "restore", boom)
    monkeypatch.setattr(R.IdentityRestorer, "restore", boom)
    monkeypatch.setattr(R, "run_network", no_restorer)
    monkeypatch.setattr(P, "run_network", no_restorer)
    with pytest.raises(AssertionError, match="the restorer ran"):  # the patch is effective: decode needs G
        agdl.decode(refined)
    for data in (refined, sobel):
        res = agdl.analyze(data)
        assert res.critical.sum() == agdl.read_info(data).n_critical


# -- sources and errors ---------------------------------------------------------------------------------


def test_sources(refined, tmp_path):
    p = tmp_path / "x.agdl"
    p.write_bytes(refined)
    ref = agdl.analyze(refined, outputs="critical").critical
    for src in (p, str(p), open(p, "rb"), bytearray(refined), memoryview(refined)):  # noqa: SIM115
        assert np.array_equal(agdl.analyze(src, outputs="critical").critical, ref)


def test_bad_input(refined, tmp_path):
    with pytest.raises(agdl.AgdlFormatError):
        agdl.analyze(b"not an agdl file at all")
    with pytest.raises(agdl.AgdlFormatError):
        agdl.analyze(refined[: len(refined) // 2])
    corrupt = bytearray(refined)
    corrupt[len(corrupt) // 2] ^= 0xFF
    with pytest.raises(agdl.AgdlFormatError):
        agdl.analyze(bytes(corrupt))
    with pytest.raises(OSError):
        agdl.analyze(tmp_path / "missing.agdl")
    with pytest.raises(agdl.DecompressionBombError):
        agdl.analyze(refined, max_pixels=100)
    with pytest.raises(TypeError):
        agdl.analyze(12345)
    with pytest.raises(ValueError, match="device"):
        agdl.analyze(refined, device="tpu")


def test_import_stays_lazy():
    code = ("import sys, agdl_plugins as a; a.analyze; a.Analysis; a.RoiBox; "
            "assert 'torch' not in sys.modules, 'importing the analysis API imported torch'")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


# -- ROI boxes on a synthetic map -----------------------------------------------------------------------


def _synthetic() -> np.ndarray:
    s = np.zeros((12, 16), np.float32)
    s[1:4, 1:5] = 0.9  # region A: 12 px
    s[4, 5] = 0.5  # touches A diagonally (8-connectivity) and sits exactly on the threshold: part of A
    s[8:11, 10:15] = 0.7  # region B: 15 px
    s[10, 2] = 0.6  # a single pixel
    s[6, 8] = 0.4999  # below the threshold
    return s


EXPECTED = [
    A.RoiBox(10, 8, 15, 11, 15, 0.7),
    A.RoiBox(1, 1, 6, 5, 13, round((12 * 0.9 + 0.5) / 13, 6)),
    A.RoiBox(2, 10, 3, 11, 1, 0.6),
]


def _approx_boxes(got, want):
    assert [b[:5] for b in got] == [b[:5] for b in want]
    np.testing.assert_allclose([b.mean_saliency for b in got], [b.mean_saliency for b in want], atol=1e-6)


def test_boxes_synthetic():
    _approx_boxes(A.roi_boxes(_synthetic()), EXPECTED)
    assert A.roi_boxes(np.zeros((5, 5), np.float32)) == []
    full = A.roi_boxes(np.ones((3, 4), np.float32))
    assert full == [A.RoiBox(0, 0, 4, 3, 12, 1.0)]


def test_boxes_without_scipy(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy", None)  # `from scipy import ndimage` raises ImportError
    _approx_boxes(A.roi_boxes(_synthetic()), EXPECTED)


@pytest.mark.parametrize("seed", range(4))
def test_union_find_matches_scipy(seed):
    from scipy import ndimage  # in the [test] extra: a missing SciPy fails instead of skipping

    rng = np.random.default_rng(seed)
    mask = rng.random((37, 53)) < (0.3 + 0.1 * seed)
    mask[5] = True  # a long run joining many components
    mine, n = A._label_runs(mask)
    ref, n_ref = ndimage.label(mask, structure=np.ones((3, 3), bool))
    assert n == n_ref
    assert np.array_equal(mine > 0, mask)
    # same partition: a one-to-one map between label numbers
    pairs = set(zip(mine[mask].tolist(), ref[mask].tolist()))
    assert len(pairs) == n == len({a for a, _ in pairs}) == len({b for _, b in pairs})


# -- CLI -------------------------------------------------------------------------------------------------


def test_cli_writes_the_files(tmp_path, refined, sobel, capsys):
    (tmp_path / "a.agdl").write_bytes(refined)
    (tmp_path / "b.agdl").write_bytes(sobel)
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "*.agdl"), "-o", str(out), "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "a.boxes.json", "a.critical.png", "a.saliency.png", "b.boxes.json", "b.critical.png"]
    res = agdl.analyze(refined)
    with Image.open(out / "a.saliency.png") as im:
        assert im.mode == "L" and im.size == (res.saliency.shape[1], res.saliency.shape[0])
        assert np.abs(np.asarray(im, np.float32) / 255 - res.saliency).max() <= 0.5 / 255 + 1e-6
    with Image.open(out / "a.critical.png") as im:
        crit = np.asarray(im)
    assert set(np.unique(crit).tolist()) <= {0, 255} and np.array_equal(crit == 255, _decoder_mask(refined))
    js = json.loads((out / "a.boxes.json").read_text())
    assert js["file"].endswith("a.agdl") and js["n_critical"] == int(res.critical.sum())
    assert [tuple(b.values()) for b in js["boxes"]] == [tuple(b) for b in res.boxes]
    jb = json.loads((out / "b.boxes.json").read_text())
    assert jb["boxes"] is None and any("no saliency head" in n for n in jb["notes"])


def test_cli_errors_name_the_file(tmp_path, refined, capsys):
    good, bad = tmp_path / "good.agdl", tmp_path / "bad.agdl"
    good.write_bytes(refined)
    bad.write_bytes(refined[:40])
    out = tmp_path / "out"
    assert main(["analyze", str(good), str(bad), "-o", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert "bad.agdl" in err and "good.agdl" not in err
    assert (out / "good.critical.png").exists() and not (out / "bad.critical.png").exists()
    assert main(["analyze", str(tmp_path / "nothing*.agdl")]) == 1
    # default output folder: next to the input; one file prints what it wrote
    assert main(["analyze", str(good)]) == 0
    assert "good.saliency.png" in capsys.readouterr().out
    assert (tmp_path / "good.boxes.json").exists()
