"""G-lite (``agdl-g-lite``, issue 29 item 2): MAC budget, weights (safetensors, sha256), part and round trip."""

import io

import numpy as np
import pytest
import torch
import torch.nn as nn
from agdl_models import weights as W
from agdl_models.macs import count_macs, macs_per_pixel
from agdl_models.restorer_lite import LiteRestorer
from PIL import Image
from skimage import data

import agdl_plugins as agdl
from agdl_plugins.format.header import PART_CODES
from agdl_plugins.parts.builtin import learned_versions
from agdl_plugins.parts.registry import get_registry
from agdl_plugins.parts.restorers import LITE_RESTORER_ID

#: every shipped G-lite version (files name theirs); the latest is what restorer="agdl-g-lite" writes
LITE_VERSIONS = learned_versions()["restorer_lite"]
LITES = [W.WEIGHTS_DIR / f"restorer_lite_v{v}.safetensors" for v in LITE_VERSIONS]
LITE = LITES[-1]
G_V2 = W.WEIGHTS_DIR / "restorer_v2.safetensors"


class _OneConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.lin = nn.Linear(64, 8)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.lin(cond)[:, :4, None, None]


def test_mac_counter_counts_convolutions_and_linears():
    m = _OneConv()
    # conv: 4 output channels x 16 x 16 positions x (1 input channel x 3 x 3); linear: 8 outputs x 64 inputs
    assert count_macs(m, torch.zeros(1, 1, 16, 16), torch.zeros(1, 64)) == 4 * 16 * 16 * 9 + 8 * 64


@pytest.mark.parametrize("path", LITES, ids=lambda p: p.stem)
def test_shipped_lite_is_under_a_quarter_of_g_v2_macs(path):
    lite, g2 = W.load_restorer(path), W.load_restorer(G_V2)
    assert type(lite).__name__ == "LiteRestorer" and type(g2).__name__ == "MultiScaleRestorer"
    m_lite, m_g2 = macs_per_pixel(lite), macs_per_pixel(g2)
    assert 40_000 < m_g2 < 42_000  # G v2 (blocks=6): 41,026 multiply-adds per pixel
    assert m_lite <= m_g2 / 4
    assert int(W.read_metadata(path)["macs_per_pixel"]) == round(m_lite)


@pytest.mark.parametrize("path", LITES, ids=lambda p: p.stem)
def test_weights_are_safetensors_float16_and_checked(tmp_path, path):
    raw = path.read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    assert raw[8:9] == b"{" and header_len < len(raw)  # safetensors: a JSON header, no pickle opcodes
    assert not raw.startswith(b"\x80") and b"PK\x03\x04" not in raw[:4]
    n_params = sum(v.numel() for v in W.load_state(path).values())
    assert path.stat().st_size <= 2 * n_params + 64_000  # float16: two bytes a weight plus the JSON header
    W.verify(path)  # the SHA256SUMS entry matches
    md = W.read_metadata(path)
    version = int(path.stem.rsplit("_v", 1)[1])
    assert (md["id"], md["weights_version"], md["dtype"]) == (LITE_RESTORER_ID, str(version), "float16")
    bad = tmp_path / path.name
    data_ = bytearray(raw)
    data_[-1] ^= 1
    bad.write_bytes(bytes(data_))
    (tmp_path / "SHA256SUMS").write_text((W.WEIGHTS_DIR / "SHA256SUMS").read_text())
    with pytest.raises(W.WeightsIntegrityError, match="sha256 mismatch"):
        W.load_restorer(bad)


def test_lite_has_g_v2_interface_and_rejects_bad_shapes():
    m = LiteRestorer().eval()
    x, q = torch.rand(2, 1, 64, 48), torch.rand(2, 64)
    with torch.inference_mode():
        assert m(x, q).shape == x.shape
    with pytest.raises(ValueError, match="multiples of 8"):
        m(torch.rand(1, 1, 60, 64), q[:1])
    with pytest.raises(ValueError, match="cond"):
        m(x, q[:, :32])


def _luma(a: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(a).convert("YCbCr"), dtype=np.float64)[..., 0]


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[96:224, 128:320])


def test_registered_with_its_own_part_code_and_not_the_default():
    reg = get_registry()
    assert reg.has("restorer", LITE_RESTORER_ID)
    assert PART_CODES.index(LITE_RESTORER_ID) == 13  # code 14, appended after roi-edge (13)
    assert PART_CODES[11:13] == ("agdl-g-webp-avif", "roi-edge")
    assert reg.get("restorer", "agdl-g").version == 2  # agdl-g's default version is unchanged


def test_round_trip_records_g_lite_and_restores(photo):
    d = agdl.encode(photo, quality=30, restorer=LITE_RESTORER_ID, critical_fraction=0.05, step=8.0)
    hdr = agdl.read_info(d).header
    assert (hdr.restorer, hdr.restorer_version) == (LITE_RESTORER_ID, LITE_VERSIONS[-1])
    out = agdl.decode(d).array
    assert out.shape == photo.shape and np.array_equal(out, agdl.decode(d).array)
    # G-lite alone (no refinement) brings the JPEG base closer to the original luminance
    d0 = agdl.encode(photo, quality=30, restorer=LITE_RESTORER_ID, critical_fraction=0)
    ref = _luma(photo)
    mse_g = np.mean((_luma(agdl.decode(d0).array) - ref) ** 2)
    mse_b = np.mean((_luma(agdl.decode(d0, base_only=True).array) - ref) ** 2)
    assert mse_g < 0.95 * mse_b


def test_default_encode_still_names_g_v2(photo):
    d = agdl.encode(photo, quality=30, critical_fraction=0)
    hdr = agdl.read_info(d).header
    assert (hdr.restorer, hdr.restorer_version) == ("agdl-g", 2)


def test_lite_restores_a_jpeg_base_but_less_than_g_v2(photo):
    """On a q20 JPEG base of the astronaut crop, PSNR-Y gain over the base: G-lite +0.88 dB, G v2 +1.92 dB
    (measured with the shipped weights; on held-out DUTS-TR crops the gap is ~0.3 dB: MODEL_CARD_restorer_lite)."""
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, "JPEG", quality=20, optimize=True)
    im = Image.open(io.BytesIO(buf.getvalue()))
    qt = torch.tensor(list(im.quantization[0]), dtype=torch.float32)[None] / 255
    im.draft("YCbCr", im.size)
    x = torch.from_numpy(np.asarray(im, dtype=np.float32)[..., 0] / 255)[None, None]
    y = torch.from_numpy(_luma(photo).astype(np.float32) / 255)[None, None]

    def gain(net):
        with torch.inference_mode():
            out = torch.round(net(x, qt).clamp(0, 1) * 255) / 255
        return float(10 * torch.log10(((x - y) ** 2).mean() / ((out - y) ** 2).mean()))

    g_lite, g_v2 = gain(W.load_restorer(LITE)), gain(W.load_restorer(G_V2))
    assert 0.6 < g_lite < g_v2


def test_warm_start_makes_a_deeper_net_that_starts_as_the_shipped_one(tmp_path):
    """train_glite --init: blocks the weights file lacks start as the identity, so the deeper net's output equals
    the file's network exactly; widths that do not fit are refused."""
    from models.training.train_glite import warm_start

    first = W.WEIGHTS_DIR / f"restorer_lite_v{LITE_VERSIONS[0]}.safetensors"
    small = W.load_restorer(first).eval()
    deeper = LiteRestorer(**{**small.hparams, "blocks": small.hparams["blocks"] + 2}).eval()
    assert "new identity blocks" in warm_start(deeper, first)
    x, q = torch.rand(1, 1, 64, 64), torch.rand(1, 64)
    with torch.inference_mode():
        assert torch.equal(deeper(x, q), small(x, q))
    with pytest.raises(ValueError, match="does not fit"):
        warm_start(LiteRestorer(c4=32), first)


def test_distillation_cache_refuses_other_pool_arguments(tmp_path):
    """train_glite's cached pool records the arguments it was built with; a run asking for another pool stops
    instead of silently training on the cached one. A cache without the record (G-lite v1's) is still read."""
    import argparse
    import json

    from models.training.train_glite import build_cache, pool_args

    a = argparse.Namespace(out=str(tmp_path), base_codec="jpeg", patch=128, per_image=16, extra_images=9053,
                           max_images=0, per_image_extra=2, seed=0, data="unused")
    pool = {"base": np.zeros((2, 8, 8), np.uint8), "orig": np.ones((2, 8, 8), np.uint8)}
    path = tmp_path / "cache_jpeg.npz"
    np.savez(path, **pool)  # legacy: no record
    assert build_cache(a, lambda m: None)["orig"].sum() == 128
    recorded = json.dumps(pool_args(a), sort_keys=True).encode()
    np.savez(path, **pool, pool_args=np.frombuffer(recorded, dtype=np.uint8))
    assert set(build_cache(a, lambda m: None)) == {"base", "orig"}
    a.per_image = 4
    with pytest.raises(SystemExit, match="was built with"):
        build_cache(a, lambda m: None)


def test_training_checkpoint_round_trip_without_pickle(tmp_path):
    """train_glite's checkpoints (safetensors: model + Adam state + JSON counters) restore exactly."""
    from models.training.train_glite import load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    m = LiteRestorer(c4=8, c8=8, blocks=1, cond_dim=4)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    x, q = torch.rand(2, 1, 16, 16), torch.rand(2, 64)
    for _ in range(2):
        opt.zero_grad()
        (m(x, q) - x).abs().mean().backward()
        opt.step()
    p = tmp_path / "last.safetensors"
    save_checkpoint(p, m, opt, {"step": 2, "seen": 4, "elapsed": 1.5}, {"command": "test"})
    assert p.read_bytes()[8:9] == b"{"  # safetensors header, no pickle
    m2 = LiteRestorer(c4=8, c8=8, blocks=1, cond_dim=4)
    opt2 = torch.optim.Adam(m2.parameters(), lr=1e-3)
    counters, run = load_checkpoint(p, m2, opt2)
    assert counters == {"step": 2, "seen": 4, "elapsed": 1.5} and run == {"command": "test"}
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), m2.state_dict().values()))
    for opt_ in (opt, opt2):  # one more identical step from both: same parameters
        opt_.zero_grad()
    (m(x, q) - x).abs().mean().backward()
    (m2(x, q) - x).abs().mean().backward()
    opt.step()
    opt2.step()
    assert all(torch.equal(a, b) for a, b in zip(m.parameters(), m2.parameters()))
