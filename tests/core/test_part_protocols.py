"""The parts interface (agdl_plugins/parts/protocols.py): protocols, abilities, and the boundary check of every
part's output. A plugin part that returns garbage must stop the encode/decode with PartOutputError naming it."""

from __future__ import annotations

import numpy as np
import pytest

import agdl_plugins as agdl
from agdl_plugins import hookimpl
from agdl_plugins.errors import AgdlFormatError, PartInterfaceError, PartOutputError
from agdl_plugins.parts import protocols as P
from agdl_plugins.parts.base_codecs import BaseDecoded, JpegCodec, WebpCodec
from agdl_plugins.parts.predictors import LearnedPredictor, SobelEdgePredictor
from agdl_plugins.parts.registry import Registry, get_registry, register_plugin, unregister_plugin
from agdl_plugins.parts.restorers import IdentityRestorer, LearnedRestorer, LossyBaseRestorer
from agdl_plugins.parts.saliency_jpeg import SaliencyJpegCodec
from agdl_plugins.parts.sensing import GaussianSensingPart, IdentitySensingPart, StructuredSensingPart

#: what each test part returns: None = a correct output, else the name of a garbling (see the parts below)
MODE: dict[str, str | None] = {"base": None, "predictor": None, "saliency": None, "restorer": None, "sensing": None}


def _garble(kind: str, a: np.ndarray):
    how = MODE[kind]
    if how is None:
        return a
    if how == "nan":
        a = a.astype(np.float32)
        a[a.shape[0] // 2, a.shape[1] // 2] = np.nan
        return a
    if how == "inf":
        a = a.astype(np.float64)
        a[0, 0] = np.inf
        return a
    if how == "shape":
        return a[:-1]
    if how == "dtype":
        return a.astype(np.complex128)
    if how == "list":
        return a.tolist()
    if how == "range":
        return a + 2.0
    raise AssertionError(how)


class BadBase(JpegCodec):
    id = "test-base"

    def decode(self, payload, mode, size):
        out = super().decode(payload, mode, size)
        if MODE["base"] == "type":
            return out.planes
        if MODE["base"] == "uint16":
            return BaseDecoded(out.planes.astype(np.uint16), out.qtable, out.rgb)
        return BaseDecoded(_garble("base", out.planes), out.qtable, out.rgb)


class BadPredictor:
    id = "test-pred"
    version = 1
    exact = True

    def scores(self, luma, qtable, device):
        return _garble("predictor", SobelEdgePredictor().scores(luma, qtable, device))

    def saliency(self, luma, device):
        yy, xx = np.mgrid[: luma.shape[0], : luma.shape[1]]
        return _garble("saliency", (0.5 + 0.5 * np.sin(xx / 9.0) * np.cos(yy / 7.0)).astype(np.float32))


class BadRestorer:
    id = "test-rest"
    version = 1

    def restore(self, luma, qtable, device):
        return _garble("restorer", luma.astype(np.float32) + 0.25)


class _Op:
    """A StructuredSensing whose forward (``nan``) or pseudo-inverse (``pinv``) returns NaN."""

    def __init__(self, inner, how):
        self.inner, self.how, self.n, self.m = inner, how, inner.n, inner.m

    def __call__(self, c):
        y = self.inner(c)
        return y * float("nan") if self.how == "nan" else y

    def adjoint(self, y):
        return self.inner.adjoint(y)

    def pinv_apply(self, r):
        x = self.inner.pinv_apply(r)
        return x * float("nan") if self.how == "pinv" else x


class BadSensing:
    id = "test-sensing"
    version = 1

    def make(self, n, m, seed):
        from kornia_ops import StructuredSensing

        how = MODE["sensing"]
        if how == "size":
            return StructuredSensing(n, m - 1, seed)
        if how == "type":
            return object()
        op = StructuredSensing(n, m, seed)
        return op if how is None else _Op(op, how)


class _Plugin:
    @hookimpl
    def agdl_register_parts(self, registry):
        registry.add_base_codec(BadBase())
        registry.add_predictor(BadPredictor())
        registry.add_restorer(BadRestorer())
        registry.add_sensing(BadSensing())


PARTS = {"base": "test-base", "predictor": "test-pred", "restorer": "test-rest", "sensing": "test-sensing"}


@pytest.fixture(scope="module")
def bad_parts():
    register_plugin(_Plugin(), name="test-bad-parts")
    yield
    unregister_plugin("test-bad-parts")


@pytest.fixture
def clean():
    yield
    MODE.update(dict.fromkeys(MODE))


def _encode(photo):
    return agdl.encode(photo, quality=40, critical_fraction=0.05, step=8, measurement_ratio=0.5, **PARTS)


@pytest.fixture(scope="module")
def bad_file(bad_parts, photo):
    return _encode(photo)


def test_clean_plugin_parts_round_trip(bad_file, photo):
    info = agdl.read_info(bad_file)
    assert (info.base_codec, info.predictor, info.restorer, info.sensing) == tuple(PARTS.values())
    assert 0 < info.n_measurements < info.n_critical
    out = agdl.decode(bad_file, device="cpu", diagnostics=True)
    assert out.array.shape == photo.shape and out.diagnostics["constraint_max_abs_float"] < 1e-8
    assert agdl.analyze(bad_file, device="cpu").saliency is not None


GARBAGE = [
    ("base", "shape"), ("base", "type"), ("base", "uint16"), ("base", "dtype"),
    ("predictor", "nan"), ("predictor", "inf"), ("predictor", "shape"), ("predictor", "dtype"), ("predictor", "list"),
    ("restorer", "nan"), ("restorer", "shape"), ("restorer", "dtype"), ("restorer", "list"),
    ("sensing", "size"), ("sensing", "type"), ("sensing", "nan"), ("sensing", "pinv"),
]
WHAT = {"shape": "shape", "type": "type", "uint16": "uint8", "dtype": "dtype", "nan": "non-finite",
        "inf": "non-finite", "list": "type", "size": "m=", "pinv": "non-finite", "range": "expected within"}


@pytest.mark.parametrize("kind,how", GARBAGE)
def test_garbage_from_a_part_stops_the_decode(bad_file, clean, kind, how):
    MODE[kind] = how
    with pytest.raises(PartOutputError, match=WHAT[how]) as e:
        agdl.decode(bad_file, device="cpu")
    assert e.value.part == f"{PARTS[kind]}@1" and f"{PARTS[kind]}@1" in str(e.value)
    assert isinstance(e.value, AgdlFormatError)  # the CLI and Pillow report it as a file they cannot decode


@pytest.mark.parametrize("kind,how", [g for g in GARBAGE if g[1] != "pinv"])  # the encoder never projects
def test_garbage_from_a_part_stops_the_encode(bad_parts, clean, photo, kind, how):
    MODE[kind] = how
    with pytest.raises(PartOutputError, match=WHAT[how]) as e:
        _encode(photo)
    assert e.value.part == f"{PARTS[kind]}@1"


@pytest.mark.parametrize("how", ["nan", "shape", "dtype", "range", "list"])
def test_garbage_saliency_stops_analysis_and_encode(bad_file, clean, photo, how):
    MODE["saliency"] = how
    with pytest.raises(PartOutputError, match=WHAT[how]) as e:
        agdl.analyze(bad_file, device="cpu")
    assert e.value.part == "test-pred@1"
    with pytest.raises(PartOutputError, match="saliency"):
        agdl.encode(photo, quality=40, roi_weight=0.5, **PARTS)  # the objective's weights come from it
    assert agdl.decode(bad_file, device="cpu").array.shape == photo.shape  # the decoder never reads saliency


def test_registration_checks_the_protocol():
    class NoScores:
        id, version, exact = "test-noscores", 3, False

    class NoVersion:
        id = "test-noversion"

        def restore(self, luma, qtable, device):
            return luma

    reg = Registry()
    with pytest.raises(PartInterfaceError, match=r"predictor part test-noscores@3 .* lacks scores"):
        reg.add_predictor(NoScores())
    with pytest.raises(TypeError, match="lacks version"):
        reg.add_restorer(NoVersion())
    with pytest.raises(TypeError, match="lacks make"):
        reg.add_sensing(IdentityRestorer())
    assert reg.names("predictor") == [] and reg.names("restorer") == []


def test_builtin_parts_fit_their_protocols():
    reg = get_registry()
    for kind, proto in P.PROTOCOLS.items():
        for name in reg.names(kind):
            part_id, version = name.split("@")
            assert isinstance(reg.get(kind, part_id, int(version)), proto), name
    assert P._members(P.Predictor) == ["id", "version", "exact", "scores"]
    assert P._members(P.BaseCodec) == ["id", "version", "encode", "decode"]


def test_abilities_and_their_defaults(photo):
    w = np.linspace(0, 1, 7)
    assert P.measurement_weights(IdentitySensingPart(), w) is w
    for part in (StructuredSensingPart(), GaussianSensingPart(), BadSensing()):
        assert P.measurement_weights(part, w) is None
    assert P.fractional_quality(JpegCodec()) and P.fractional_quality(SaliencyJpegCodec())
    assert not P.fractional_quality(WebpCodec())
    assert P.wants_saliency(SaliencyJpegCodec()) and not P.wants_saliency(JpegCodec())
    assert isinstance(LearnedPredictor(2), P.JointSaliency) and isinstance(LearnedPredictor(2), P.ColourInput)
    assert not isinstance(SobelEdgePredictor(), P.SaliencyHead)
    planes = np.ascontiguousarray(photo[:40, :56])  # stands in for (H, W, 3) YCbCr planes
    assert P.predict_saliency(SobelEdgePredictor(), planes, "cpu") is None
    # bind: a restorer conditioned on the base is bound, any other runs as it is
    assert P.bind(LearnedRestorer(1), "jpeg", 50) is not None
    plain = IdentityRestorer()
    assert P.bind(plain, "webp", 50) is plain
    bound = P.bind(LossyBaseRestorer(1), "webp", 37)
    assert isinstance(bound, LossyBaseRestorer) and bound.base == ("webp", 37)
    with pytest.raises(ValueError, match="restores webp/avif"):
        P.bind(LossyBaseRestorer(1), "jpeg", 50)


def test_predictor_gets_the_planes_its_abilities_ask_for(photo):
    seen = []

    class Grey:
        id, version, exact = "g", 1, True

        def scores(self, planes, qtable, device):
            seen.append(planes.shape)
            return np.zeros(planes.shape[:2])

    class Colour(Grey):
        colour = True

    class NotColour(Grey):
        colour = False

    planes = np.ascontiguousarray(photo[:40, :56])
    for cls in (Grey, Colour, NotColour):
        assert P.predict_scores(cls(), planes, None, "cpu").shape == (40, 56)
        assert P.predict_scores(cls(), planes[..., 0], None, "cpu").shape == (40, 56)
    assert seen == [(40, 56), (40, 56), (40, 56, 3), (40, 56), (40, 56), (40, 56)]
    # the joint call of a predictor without one: scores and saliency, as two calls
    s, sal = P.predict_scores_and_saliency(Grey(), planes, None, "cpu")
    assert s.shape == (40, 56) and sal is None


def test_tensor_check_finds_non_finite_values_and_passes_a_sum_that_overflows():
    """The measurements' finiteness check sums first: a NaN/inf anywhere still fails, and finite values whose sum
    overflows (float32 near its max) fall through to the element-wise check and pass."""
    import torch

    from agdl_plugins.parts.protocols import _check_tensor

    big = torch.full((8,), 3e38, dtype=torch.float32)
    assert not torch.isfinite(big.sum())
    assert _check_tensor("sensing", StructuredSensingPart(), "measurements", big, (8,)) is big
    for bad in (float("nan"), float("inf"), -float("inf")):
        v = torch.zeros(1000, dtype=torch.float64)
        v[537] = bad
        with pytest.raises(PartOutputError, match="non-finite"):
            _check_tensor("sensing", StructuredSensingPart(), "measurements", v, (1000,))
