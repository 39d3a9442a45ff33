"""G-lite for WebP/AVIF bases (``agdl-g-lite-webp-avif``, issue 29 item 2): part code, MAC budget, conditioning,
weights, round trip and gain over the base layer."""

import numpy as np
import pytest
import torch
from agdl_models import weights as W
from agdl_models.macs import macs_per_pixel
from PIL import Image
from skimage import data

import agdl_plugins as agdl
from agdl_plugins.format.header import PART_CODES
from agdl_plugins.parts.builtin import learned_versions
from agdl_plugins.parts.registry import get_registry
from agdl_plugins.parts.restorers import LITE_LOSSY_RESTORER_ID, LOSSY_RESTORER_ID, bind

VERSIONS = learned_versions()["restorer_lite_webp_avif"]
WEIGHTS = W.WEIGHTS_DIR / f"restorer_lite_webp_avif_v{VERSIONS[-1]}.safetensors"


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[100:228, 150:278])


def _y(a: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(a).convert("YCbCr"), dtype=np.float64)[..., 0]


def test_shipped_registered_and_coded_15():
    assert VERSIONS == [1]
    assert get_registry().has("restorer", LITE_LOSSY_RESTORER_ID)
    assert PART_CODES.index(LITE_LOSSY_RESTORER_ID) == 14  # code 15, appended after agdl-g-lite


def test_under_a_quarter_of_the_teachers_multiply_adds():
    lite = W.load_restorer(WEIGHTS)
    teacher = W.load_restorer(W.WEIGHTS_DIR / "restorer_webp_avif_v1.safetensors")
    assert type(lite).__name__ == "LiteRestorer"
    assert macs_per_pixel(lite) <= 0.25 * macs_per_pixel(teacher)


def test_weights_fp16_with_their_training_record():
    from safetensors import safe_open

    with safe_open(str(WEIGHTS), framework="pt") as fh:
        assert {fh.get_slice(k).get_dtype() for k in fh.keys()} == {"F16"}
    md = W.read_metadata(WEIGHTS)
    assert md["id"] == LITE_LOSSY_RESTORER_ID and md["base_codec"] == "webp+avif"
    assert md["teacher"] == "restorer_webp_avif_v1.safetensors" and "train_glite" in md["command"]
    assert WEIGHTS.name in (W.WEIGHTS_DIR / "SHA256SUMS").read_text()
    assert {p.dtype for p in W.load_restorer(WEIGHTS).parameters()} == {torch.float32}


def test_bound_like_the_webp_avif_restorer(photo):
    g = get_registry().get("restorer", LITE_LOSSY_RESTORER_ID)
    teacher = get_registry().get("restorer", LOSSY_RESTORER_ID)
    with pytest.raises(ValueError, match="needs the base codec"):
        g.restore(photo[..., 0], None, "cpu")
    with pytest.raises(ValueError, match="not 'jpeg'"):
        bind(g, "jpeg", 30)
    a = bind(g, "avif", 35)
    assert type(a) is type(g) and np.array_equal(a.cond(), bind(teacher, "avif", 35).cond())


@pytest.mark.parametrize("base", ["webp", "avif"])
def test_named_it_is_written_decoded_and_beats_the_base_layer(photo, base):
    d = agdl.encode(photo, base=base, quality=35, critical_fraction=0, restorer=LITE_LOSSY_RESTORER_ID)
    hdr = agdl.read_info(d).header
    assert (hdr.restorer, hdr.restorer_version) == (LITE_LOSSY_RESTORER_ID, VERSIONS[-1])
    out, plain = agdl.decode(d).array, agdl.decode(d, base_only=True).array
    ref = _y(photo)
    assert np.mean((_y(out) - ref) ** 2) < np.mean((_y(plain) - ref) ** 2)
    assert np.array_equal(out, agdl.decode(d).array)


@pytest.mark.parametrize("base", ["webp", "avif"])
def test_the_default_for_images_above_lite_above(photo, base, monkeypatch):
    """AVIF bases get G-lite by default above LITE_ABOVE pixels, the full restorer below; WebP (G-lite missed the
    ROI bar there) and JPEG keep the full restorers."""
    from agdl_plugins.codec import encoder

    kw = dict(base=base, quality=35, critical_fraction=0)
    assert agdl.read_info(agdl.encode(photo, **kw)).header.restorer == LOSSY_RESTORER_ID
    monkeypatch.setattr(encoder, "LITE_ABOVE", photo.shape[0] * photo.shape[1] - 1)
    lite = LITE_LOSSY_RESTORER_ID if base == "avif" else LOSSY_RESTORER_ID
    assert agdl.read_info(agdl.encode(photo, **kw)).header.restorer == lite
    assert agdl.read_info(agdl.encode(photo, quality=35, critical_fraction=0)).header.restorer == "agdl-g"
    named = agdl.encode(photo, **kw, restorer=LOSSY_RESTORER_ID)
    assert agdl.read_info(named).header.restorer == LOSSY_RESTORER_ID


def test_a_sampled_search_decides_with_the_whole_images_restorer(monkeypatch):
    """The sample is below LITE_ABOVE, the image above: the sample's search runs the image's default (G-lite)."""
    from agdl_plugins.codec import encoder, rdo_search
    from agdl_plugins.codec import sampling as S

    im = np.ascontiguousarray(np.concatenate([data.astronaut()[:384, :512]] * 2, axis=1))  # 384 x 1024
    monkeypatch.setattr(S, "SAMPLE_ABOVE", 200_000)
    monkeypatch.setattr(S, "SAMPLE_TILES", 6)
    monkeypatch.setattr(encoder, "LITE_ABOVE", 300_000)
    used: list[str] = []
    analyse = rdo_search.analyse
    monkeypatch.setattr(rdo_search, "analyse", lambda *a: (lambda r: (used.append(r.restorer.id), r)[1])(analyse(*a)))
    d = agdl.encode(im, base="avif", target_bpp=0.6)
    assert agdl.read_info(d).header.restorer == LITE_LOSSY_RESTORER_ID
    assert set(used) == {LITE_LOSSY_RESTORER_ID}
