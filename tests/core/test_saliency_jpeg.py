"""``jpeg-saliency``: a plain baseline JPEG whose bits follow saliency (issue 7)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data

import agdl_plugins as agdl
from agdl_plugins.apps.metrics import luma, psnr
from agdl_plugins.parts.jpeg_tables import dct8_matrix, ijg_tables
from agdl_plugins.parts.saliency_jpeg import (
    SaliencyJpegCodec,
    SaliencyJpegCodecV3,
    block_weights,
    requantise_plane,
    saliency_map,
)


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    """(256, 256, 3) real photo with texture on both halves."""
    return np.ascontiguousarray(data.astronaut()[0:256, 128:384])


def _half_mask(shape) -> np.ndarray:
    m = np.zeros(shape[:2], np.float32)
    m[:, : shape[1] // 2] = 1.0
    return m


def _plain(img: Image.Image, q: float) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", qtables=ijg_tables(q), optimize=True, subsampling="4:2:0")
    return buf.getvalue()


def _dec(b: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(b)).convert("RGB"))


def test_ijg_tables_match_libjpeg_quality():
    im = Image.fromarray(data.astronaut()[:64, :64])
    for q in (5, 30, 75):
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=q)
        got = Image.open(buf).quantization
        assert list(got[0]) == ijg_tables(q)[0] and list(got[1]) == ijg_tables(q)[1]


def test_dct8_is_jpeg_orthonormal_dct():
    c = dct8_matrix()
    np.testing.assert_allclose(c @ c.T, np.eye(8), atol=1e-12)
    flat = np.full((8, 8), 10.0)
    np.testing.assert_allclose((c @ flat @ c.T)[0, 0], 80.0)  # JPEG DC of a flat block = 8 * level


def test_requantise_plane_background_coefficients_are_multiples_and_salient_untouched():
    rng = np.random.default_rng(0)
    plane = rng.uniform(0, 255, (16, 24))
    table = np.asarray(ijg_tables(50)[0], np.float64)
    steps = np.array([[1.0, 4.0, 2.5], [1.0, 1.0, 6.0]])
    out = requantise_plane(plane, table, steps)
    c = dct8_matrix()
    for by in range(2):
        for bx in range(3):
            blk = out[by * 8:(by + 1) * 8, bx * 8:(bx + 1) * 8]
            src = plane[by * 8:(by + 1) * 8, bx * 8:(bx + 1) * 8]
            if steps[by, bx] == 1.0:
                np.testing.assert_array_equal(blk, src)
                continue
            coef = c @ (blk - 128) @ c.T
            q = table.reshape(8, 8) * steps[by, bx]
            k = coef / q
            ac = np.ones((8, 8), bool)
            ac[0, 0] = False
            np.testing.assert_allclose(k[ac], np.round(k[ac]), atol=1e-9)
            np.testing.assert_allclose(coef[0, 0], (c @ (src - 128) @ c.T)[0, 0])  # DC kept


def test_block_weights_max_and_dilation():
    s = np.zeros((32, 32), np.float32)
    s[9, 9] = 0.7
    w0 = block_weights(s, 8, dilate=0)
    assert w0.shape == (4, 4) and w0[1, 1] == pytest.approx(0.7) and w0.sum() == pytest.approx(0.7)
    w1 = block_weights(s, 8, dilate=1)
    assert (w1[0:3, 0:3] == pytest.approx(0.7)) and w1[3, 3] == 0


def test_output_is_plain_baseline_jpeg(scene):
    codec = SaliencyJpegCodec()
    b = codec.encode(Image.fromarray(scene), 30, _half_mask(scene.shape))
    assert b[:3] == b"\xff\xd8\xff"
    assert b"\xff\xc0" in b and b"\xff\xc2" not in b  # SOF0 baseline, not progressive
    im = Image.open(io.BytesIO(b))
    assert im.format == "JPEG" and im.mode == "RGB" and im.size == (256, 256)
    assert list(im.quantization[0]) == ijg_tables(30)[0]


def test_bits_follow_saliency_at_equal_quality(scene):
    """Same tables: the salient half keeps plain JPEG's quality, the background gets coarser, file smaller."""
    img, sal = Image.fromarray(scene), _half_mask(scene.shape)
    codec = SaliencyJpegCodec()
    codec.dilate = 0
    s_bytes, p_bytes = codec.encode(img, 40, sal), _plain(img, 40)
    y0, ys, yp = luma(scene), luma(_dec(s_bytes)), luma(_dec(p_bytes))
    left = np.zeros(y0.shape, bool)
    left[:, :120] = True  # salient half minus the chroma-MCU border
    assert len(s_bytes) < 0.9 * len(p_bytes)
    assert psnr(y0, ys, left) > psnr(y0, yp, left) - 0.3
    assert psnr(y0, ys, ~left) < psnr(y0, yp, ~left) - 1.0


def test_roi_gains_at_equal_bytes(scene):
    """Rate-matched by fractional quality: the salient half is better than plain JPEG at the same size."""
    img, sal = Image.fromarray(scene), _half_mask(scene.shape)
    codec = SaliencyJpegCodec()
    target = len(_plain(img, 30))
    lo, hi = 30.0, 95.0
    for _ in range(25):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if len(codec.encode(img, mid, sal)) <= target else (lo, mid)
    s_bytes = codec.encode(img, lo, sal)
    assert 0.97 * target <= len(s_bytes) <= target
    y0 = luma(scene)
    roi = sal > 0.5
    gain = psnr(y0, luma(_dec(s_bytes)), roi) - psnr(y0, luma(_dec(_plain(img, 30))), roi)
    assert gain > 0.4  # half the image is salient here; DUTS-TE objects are smaller (BENCHMARKS.md §9)


def test_grey_and_odd_sizes(scene):
    codec = SaliencyJpegCodec()
    for h, w in ((37, 53), (8, 8), (1, 17)):
        a = scene[:h, :w]
        for img in (Image.fromarray(a), Image.fromarray(a).convert("L")):
            b = codec.encode(img, 50, np.zeros((h, w), np.float32))
            im = Image.open(io.BytesIO(b))
            assert im.size == (w, h) and im.mode == img.mode


def test_saliency_shape_mismatch_is_value_error(scene):
    with pytest.raises(ValueError, match="saliency map"):
        SaliencyJpegCodec().encode(Image.fromarray(scene), 50, np.zeros((3, 3), np.float32))


def test_network_saliency_and_end_to_end(scene, tmp_path):
    """F's saliency head gives a map in [0, 1]; the part works alone (plain .jpg) and as AGDL's base."""
    from agdl_plugins.parts.registry import get_registry

    sal = saliency_map(Image.fromarray(scene), "cpu", get_registry())
    assert sal.shape == scene.shape[:2] and sal.dtype == np.float32 and 0 <= sal.min() <= sal.max() <= 1
    jpg = agdl.encode_base_layer(scene, base="jpeg-saliency", quality=30)
    assert Image.open(io.BytesIO(jpg)).format == "JPEG"
    blob = agdl.encode(scene, base="jpeg-saliency", quality=30)
    info = agdl.read_info(blob)
    latest = max(v for (i, v) in get_registry()._parts["base_codec"] if i == "jpeg-saliency")
    assert info.base_codec == "jpeg-saliency" and info.base_codec_version == latest == SaliencyJpegCodecV3.version
    out = agdl.decode(blob).array
    assert out.shape == scene.shape and psnr(luma(scene), luma(out)) > 25


def test_saliency_is_pinned_to_the_tuned_predictor(scene):
    """jpeg-saliency@2 was tuned with F v2's map: it keeps using it when a later F is the default."""
    from agdl_plugins.parts.registry import get_registry
    from agdl_plugins.parts.saliency_jpeg import SALIENCY_PREDICTOR_VERSION

    reg = get_registry()
    assert reg.get("predictor", "agdl-f").version > SALIENCY_PREDICTOR_VERSION == 2
    planes = np.asarray(Image.fromarray(scene).convert("YCbCr"))
    v2 = reg.get("predictor", "agdl-f", 2).saliency(planes, "cpu")
    assert np.array_equal(saliency_map(Image.fromarray(scene), "cpu", reg), v2)


def test_each_version_encodes_with_its_own_map(scene, monkeypatch):
    """The encoder hands each jpeg-saliency version the map of the F it was made for: @2 F v2, @3 F v5; a
    version's bytes do not change when the default F does."""
    from agdl_plugins.codec.encoder import encode_base
    from agdl_plugins.parts.registry import get_registry

    reg = get_registry()
    img = Image.fromarray(scene)
    planes = np.asarray(img.convert("YCbCr"))
    for version, f_version in ((2, 2), (3, 5)):
        codec = reg.get("base_codec", "jpeg-saliency", version)
        assert codec.saliency_predictor == f_version
        own = reg.get("predictor", "agdl-f", f_version).saliency(planes, "cpu")
        assert encode_base(img, codec, reg, 30, "cpu") == codec.encode(img, 30, own)
    v2_map = reg.get("predictor", "agdl-f", 2).saliency(planes, "cpu")
    v3 = reg.get("base_codec", "jpeg-saliency", 3)
    assert encode_base(img, v3, reg, 30, "cpu") != v3.encode(img, 30, v2_map)  # the map matters


def test_encoder_gives_the_part_its_own_registry_and_device(scene, monkeypatch):
    """Issue 25 item 10: the saliency comes from the registry and device the encode was given, not globals."""
    from agdl_plugins.codec.rdo_search import encode_image
    from agdl_plugins.options import validate_encode_options
    from agdl_plugins.parts.registry import Registry, get_registry

    calls = []

    class Spy:
        id, version = "agdl-f", SaliencyJpegCodecV3.saliency_predictor

        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def saliency(self, planes, device):
            calls.append(device)
            return np.full(planes.shape[:2], 0.5, np.float32)

    glob = get_registry()
    reg = Registry()
    for kind in ("base_codec", "predictor", "restorer", "sensing"):
        for (pid, ver), part in glob._parts[kind].items():
            spied = ("predictor", "agdl-f", SaliencyJpegCodecV3.saliency_predictor)
            reg._parts[kind][(pid, ver)] = Spy(part) if (kind, pid, ver) == spied else part
    class CallersDevice(str):
        """The device string the encoder resolved for this call (a CPU, tagged so the test can tell)."""

    monkeypatch.setattr("agdl_plugins.codec.encoder.resolve_device", lambda d: CallersDevice("cpu"))
    opts = validate_encode_options(base="jpeg-saliency", quality=30, critical_fraction=0)
    blob = encode_image(Image.fromarray(scene), opts, reg, {})
    assert agdl.read_info(blob).base_codec == "jpeg-saliency"
    assert len(calls) == 1 and type(calls[0]) is CallersDevice


def test_codec_refuses_to_encode_without_a_map(scene):
    with pytest.raises(ValueError, match="saliency map"):
        SaliencyJpegCodec().encode(Image.fromarray(scene), 50)
