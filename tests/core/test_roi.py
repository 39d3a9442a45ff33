"""The user's region of interest (issue 27): option, ROIM record, exact critical set inside it, reporting."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest
from PIL import Image

import agdl_plugins as agdl
from agdl_plugins.errors import AgdlFormatError, AgdlOptionWarning
from agdl_plugins.format import container as C
from agdl_plugins.format import roi as R

#: fixed decisions and integer-exact parts: no search, no network (fast, bit-exact everywhere)
FAST = {"quality": 30, "critical_fraction": 0.08, "step": 6.0, "restorer": "identity", "base": "jpeg"}
BOX = (24, 16, 104, 80)  # inside the 128x96 photo


def _box_mask(shape: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[box[1] : box[3], box[0] : box[2]] = True
    return m


def _disc(shape: tuple[int, int], cy: int, cx: int, r: int) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 < r * r


# -- the record ----------------------------------------------------------------------------------------------------


def test_one_box_costs_at_most_8_bytes_on_duts_sized_images() -> None:
    for w, h in ((400, 300), (300, 400), (640, 480), (1024, 768), (96, 128)):
        rec = R.pack_boxes([(17, 33, w - 5, h - 1)], w, h)
        assert len(rec) <= 8, (w, h, len(rec))
        back = R.unpack(rec, w, h)
        (x0, y0, x1, y1), = back.pixel_boxes()
        assert x0 <= 17 and y0 <= 33 and x1 >= w - 5 and y1 >= h - 1  # widened to whole blocks, never shrunk
        assert 17 - x0 < back.block and x1 <= w


def test_bit_coder_round_trips_any_density() -> None:
    rng = np.random.default_rng(0)
    for p in (0.0, 0.02, 0.5, 0.97, 1.0):
        for gw, gh in ((1, 1), (7, 3), (50, 38)):
            bits = (rng.random(gw * gh) < p).astype(int).tolist()
            assert R.decode_bitmap(R.encode_bitmap(bits, gw), gw, gh) == bits


def test_bitmap_record_rebuilds_the_block_map_and_is_compact() -> None:
    shape = (300, 400)
    mask = _disc(shape, 140, 210, 90) | _disc(shape, 60, 60, 30)
    from agdl_plugins.codec.roi import transmitted
    from agdl_plugins.roi import normalise_roi

    t = transmitted(normalise_roi(mask, (400, 300)), 400, 300)
    assert t.mask.shape == shape and (t.mask | ~mask).all()  # covers the mask
    blocks = np.pad(mask, ((0, 4), (0, 0))).reshape(38, 8, 50, 8).any(axis=(1, 3))
    assert np.array_equal(t.mask, np.kron(blocks, np.ones((8, 8), bool))[:300])
    assert len(t.record) <= 90  # ~2 % of a 0.3 bpp file of this size (4.5 kB); measured 33 bytes
    rec = R.unpack(t.record, 400, 300)
    assert rec.kind == "map" and rec.block == 8 and np.array_equal(rec.pixel_map(), t.mask)


@pytest.mark.parametrize("payload", [b"", b"\x02\x0c", b"\x01\x03", b"\x01\x24\x01\x00\x00\x00\x00",
                                     b"\x01\x08\x01\x00\x00\x80\x01\x00", b"\x01\x08\x01\x00\x00\x00\x00\x00"])
def test_bad_records_are_format_errors(payload: bytes) -> None:
    with pytest.raises(AgdlFormatError):
        R.unpack(payload, 128, 96).block_bits()


def test_an_empty_bitmap_is_corrupt() -> None:
    rec = bytes([R.VERSION, R.BITMAP | 3 << 2]) + R.encode_bitmap([0] * (16 * 12), 16)
    with pytest.raises(AgdlFormatError, match="no block"):
        R.unpack(rec, 128, 96).pixel_map()


# -- encode / decode ---------------------------------------------------------------------------------------------


def test_files_without_roi_are_unchanged(photo) -> None:
    """Bytes of main before issue 27 (sha256 measured there): no ROIM record, no new HEAD field. Since the
    packed BASE record (``BASZ``) the file stores its base header deflated; unpacked, it is those bytes."""
    data = agdl.encode(photo, **FAST, predictor="edge-sobel")
    unpacked = C.write_container(C.parse_container(data), pack_base=False)
    assert hashlib.sha256(unpacked).hexdigest() == "8cec885d308114a9bcaea041bc71f4c72ce8e5f16c6a3e8b9ae81fd41743f864"
    assert len(data) < len(unpacked)
    assert agdl.encode(photo, **FAST, predictor="edge-sobel", roi=None) == data
    assert b"ROIM" not in C.chunk_map(C.parse_container(data)) and agdl.read_info(data).roi is None


def test_box_roi_round_trip_and_critical_set_inside(photo) -> None:
    data = agdl.encode(photo, **FAST, roi=[BOX])
    info = agdl.read_info(data)
    assert info.roi == [BOX]  # multiples of the 1-px block of a 128x96 image: exact
    assert info.predictor == "roi-edge" and info.guard == 0.0 and info.layer_bytes["roi"] <= 8
    assert info.base_codec == "jpeg"  # measured: jpeg-saliency driven by the map loses (BENCHMARKS.md §23)
    res = agdl.analyze(data, outputs=("critical",))
    inside = _box_mask(photo.shape[:2], BOX)
    assert res.critical.sum() == info.n_critical and not (res.critical & ~inside).any()
    assert res.roi == [BOX] and res.summary()["roi"] == [list(BOX)]
    out = agdl.decode(data).array
    assert out.shape == photo.shape


def test_critical_set_ranks_pixels_as_f_v4_edge_term(photo) -> None:
    """Inside the ROI the scores order pixels as F v4's edge term (3x3 mean of the Sobel magnitude, padding
    not counted) does; every ROI pixel outranks every other."""
    import torch
    import torch.nn.functional as F
    from agdl_models.saliency import sobel_magnitude

    from agdl_plugins.parts.predictors import RoiEdgePredictor

    luma = np.asarray(Image.fromarray(photo).convert("L"))
    roi = _box_mask(luma.shape, BOX)
    s = RoiEdgePredictor().for_roi(roi).scores(luma, None, "cpu")
    assert np.array_equal(s, np.round(s)) and s.max() < 2.0**53
    assert s[roi].min() > s[~roi].max()
    x = torch.from_numpy(luma.astype(np.float64))[None, None]
    edge = F.avg_pool2d(sobel_magnitude(x), 3, stride=1, padding=1, count_include_pad=False)[0, 0].numpy()
    e36 = np.floor(s / 2.0**20) - 2.0**20 * roi  # the edge term, x 36
    assert np.allclose(e36, np.round(edge * 36))


def test_mask_roi_in_a_jpeg_container_and_through_the_pillow_and_imageio_front_ends(photo, tmp_path) -> None:
    import imageio.v2 as iio2
    import imageio.v3 as iio

    import imageio_plugin  # noqa: F401  (registers AGDL with imageio)
    import pillow_plugin  # noqa: F401  (registers AGDL with Pillow)

    mask = _disc(photo.shape[:2], 48, 64, 30)
    data = agdl.encode(photo, **FAST, roi=mask.astype(np.uint8) * 255)
    roi = agdl.read_info(data).roi
    assert roi.dtype == bool and roi.shape == mask.shape and (roi | ~mask).all()
    jpg = agdl.encode(photo, **FAST, roi=mask, container="jpeg")
    assert np.array_equal(agdl.read_info(jpg).roi, roi)
    assert np.array_equal(agdl.decode(jpg).array, agdl.decode(data).array)
    with Image.open(_write(tmp_path / "a.jpg", jpg)) as im:  # Pillow's JPEG plugin: the base layer, as any reader
        assert im.format == "JPEG"
    # Pillow: save(roi=PIL mask) -> open: info["roi"]
    p = tmp_path / "p.agdl"
    Image.fromarray(photo).save(p, format="AGDL", **FAST, roi=Image.fromarray(mask.astype(np.uint8) * 255))
    assert p.read_bytes() == data
    with Image.open(p) as im:
        assert "roi" not in im.info  # a map as large as the image: only after Pillow's size check, at load()
        im.load()
        assert np.array_equal(im.info["roi"], roi)
    Image.fromarray(photo).save(p, format="AGDL", **FAST, roi=[BOX])
    with Image.open(p) as im:
        assert im.info["roi"] == [BOX]  # boxes: from open
    # imageio v3 and legacy
    q = tmp_path / "q.agdl"
    iio.imwrite(q, photo, plugin="AGDL", **FAST, roi=mask)
    assert q.read_bytes() == data
    assert np.array_equal(iio.immeta(q, plugin="AGDL")["roi"], roi)
    with iio2.get_reader(q) as r:
        assert np.array_equal(r.get_meta_data()["roi"], roi)


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_a_file_naming_roi_edge_without_its_roi_is_a_format_error(photo) -> None:
    data = agdl.encode(photo, **FAST, roi=[BOX])
    stripped = C.write_container([c for c in C.parse_container(data) if c.type != b"ROIM"])
    with pytest.raises(AgdlFormatError, match="region of interest"):
        agdl.decode(stripped)
    with pytest.raises(AgdlFormatError, match="region of interest"):
        agdl.analyze(stripped, outputs=("critical",))


def test_roi_critical_set_is_exact_under_score_and_restorer_drift(photo) -> None:
    """The scores are integers (tau half-way between two of them, no guard band): any drift under 0.5 in any
    direction rebuilds the same set, and G's float drift moves pixels only within the pixel contract."""
    from agdl_plugins.codec.decoder import within_pixel_contract

    data = agdl.encode(photo, quality=30, critical_fraction=0.08, step=6.0, roi=[BOX])  # G v2 on the base
    info = agdl.read_info(data)
    got: dict = {}
    ref = agdl.decode(data, device="cpu", score_hook=lambda s: got.setdefault("s", s.copy())).array
    assert info.guard == 0.0 and np.abs(got["s"] - info.threshold).min() >= 0.5  # tau between two integers
    rng = np.random.default_rng(3)
    toward = lambda s: s - 0.49 * np.sign(s - info.threshold)  # noqa: E731
    noisy = lambda s: s + rng.uniform(-0.49, 0.49, s.shape)  # noqa: E731
    for hook in (toward, noisy):
        assert np.array_equal(agdl.decode(data, device="cpu", score_hook=hook).array, ref)
    drift = lambda y: y * (1 + 1e-6 * rng.uniform(-1, 1, y.shape))  # noqa: E731  (G on another ISA)
    out = agdl.decode(data, device="cpu", restorer_hook=drift).array
    assert within_pixel_contract(out, ref)


def test_roi_weights_replace_saliency_and_move_bytes_into_the_roi(photo) -> None:
    """At equal target rate the ROI file has a higher PSNR inside the box than the file without ROI."""
    px = photo.shape[0] * photo.shape[1]
    inside = _box_mask(photo.shape[:2], (32, 24, 80, 72))
    y = lambda a: a.astype(np.float64) @ np.array([0.299, 0.587, 0.114])  # noqa: E731

    def roi_psnr(d: bytes) -> float:
        return float(10 * np.log10(255**2 / ((y(agdl.decode(d).array) - y(photo))[inside] ** 2).mean()))

    plain = agdl.encode(photo, target_bpp=1.0, predictor="edge-sobel", restorer="identity", base="jpeg")
    roi = agdl.encode(photo, target_bpp=1.0, restorer="identity", roi=[(32, 24, 80, 72)], base="jpeg")
    assert abs(len(roi) - len(plain)) <= 0.06 * len(plain) and len(roi) * 8 / px <= 1.0
    assert roi_psnr(roi) > roi_psnr(plain) + 0.3  # measured +0.55 dB (32.32 vs 31.77)


# -- bad input ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("roi", "error", "match"), [
    ("mask.png", TypeError, "roi must be"),
    (42, TypeError, "roi must be"),
    (np.zeros((96, 128), np.float32), TypeError, "bool or uint8"),
    (np.full((96, 128), np.nan), ValueError, "NaN"),
    (np.zeros((96, 128, 3), np.uint8), ValueError, "2-D"),
    (np.ones((95, 128), bool), ValueError, "the image 128x96"),
    (np.zeros((96, 128), bool), ValueError, "no ROI pixel"),
    ([], ValueError, "empty list"),
    ([(10, 10, 10, 20)], ValueError, "empty"),
    ([(0, 0, 129, 96)], ValueError, "outside"),
    ([(-1, 0, 10, 10)], ValueError, "outside"),
    ([(0, 0, 10.5, 10)], TypeError, "whole pixels"),
    ([(0, 0, float("nan"), 10)], ValueError, "non-finite"),
    ([(0, 0, 10)], TypeError, "a box is"),
    (Image.new("RGB", (128, 96)), TypeError, "mode"),
])
def test_bad_roi_is_a_typed_error_naming_the_option_and_nothing_is_written(photo, tmp_path, roi, error,
                                                                           match) -> None:
    import imageio.v3 as iio

    import imageio_plugin  # noqa: F401
    import pillow_plugin  # noqa: F401

    with pytest.raises(error, match=match) as e:
        agdl.encode(photo, **FAST, roi=roi)
    assert "roi" in str(e.value)
    p = tmp_path / "x.agdl"
    with pytest.raises(error):
        Image.fromarray(photo).save(p, format="AGDL", **FAST, roi=roi)
    q = tmp_path / "y.agdl"
    with pytest.raises(error):
        iio.imwrite(q, photo, plugin="AGDL", **FAST, roi=roi)
    assert not p.exists() and not q.exists()


def test_an_all_roi_mask_is_allowed_and_said(photo) -> None:
    with pytest.warns(AgdlOptionWarning, match="whole image"):
        data = agdl.encode(photo, **FAST, roi=np.ones(photo.shape[:2], bool))
    assert agdl.read_info(data).roi.all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        agdl.encode(photo, **FAST, roi=[BOX])  # a partial ROI says nothing


# -- the command line ----------------------------------------------------------------------------------------------


def test_cli_roi_box_mask_and_dir(photo, tmp_path, capsys) -> None:
    import json

    from agdl_plugins.apps.cli import main

    src = tmp_path / "in" / "photo.png"
    src.parent.mkdir()
    Image.fromarray(photo).save(src)
    args = [x for k, v in FAST.items() for x in (f"--{k.replace('_', '-')}", str(v))]
    api = agdl.encode(photo, **FAST, roi=[BOX])
    assert main(["encode", str(src), "-o", str(tmp_path / "b.agdl"), "-q", "--roi-box", ",".join(map(str, BOX)),
                 *args]) == 0
    assert (tmp_path / "b.agdl").read_bytes() == api
    mask = _disc(photo.shape[:2], 48, 64, 30)
    masks = tmp_path / "masks"
    masks.mkdir()
    Image.fromarray(mask.astype(np.uint8) * 255).save(masks / "photo.png")
    api_mask = agdl.encode(photo, **FAST, roi=mask)
    assert main(["encode", str(src), "-o", str(tmp_path / "m.agdl"), "-q", "--roi", str(masks / "photo.png"),
                 *args]) == 0
    assert (tmp_path / "m.agdl").read_bytes() == api_mask
    out = tmp_path / "out"
    assert main(["encode", str(src.parent / "*.png"), "-o", f"{out}/", "-q", "--roi-dir", str(masks), *args]) == 0
    assert (out / "photo.agdl").read_bytes() == api_mask
    capsys.readouterr()
    assert main(["info", "--json", str(tmp_path / "b.agdl")]) == 0
    assert json.loads(capsys.readouterr().out)["roi"] == [list(BOX)]
    assert main(["info", "--json", str(tmp_path / "m.agdl")]) == 0
    m_roi = agdl.read_info(api_mask).roi
    summary = json.loads(capsys.readouterr().out)["roi"]
    assert summary["map_pixels"] == int(m_roi.sum()) >= int(mask.sum()) and summary["block"] == 8
    ys, xs = np.nonzero(m_roi)
    assert summary["bbox"] == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    # two ROI sources, a missing mask: usage errors, nothing written
    assert main(["encode", str(src), "-o", str(tmp_path / "x.agdl"), "-q", "--roi-box", "0,0,8,8", "--roi",
                 str(masks / "photo.png"), *args]) != 0
    (masks / "photo.png").rename(masks / "other.png")
    assert main(["encode", str(src), "-o", str(tmp_path / "y.agdl"), "-q", "--roi-dir", str(masks), *args]) != 0
    assert main(["encode", str(src), "-o", str(tmp_path / "z.agdl"), "-q", "--roi-box", "0,0,999,8", *args]) != 0
    assert not any((tmp_path / n).exists() for n in ("x.agdl", "y.agdl", "z.agdl"))


def test_background_prefilter_blurs_outside_the_roi_only(photo) -> None:
    """The WebP/AVIF lever (off by default: sigma 1 and 2 lost on ROI and whole-image PSNR, BENCHMARKS.md §23)."""
    from agdl_plugins.codec.roi import BACKGROUND_SIGMA, background_prefilter

    im = Image.fromarray(photo)
    roi = _box_mask(photo.shape[:2], BOX)
    assert background_prefilter(im, roi, 0.0) is im and set(BACKGROUND_SIGMA.values()) == {0.0}
    out = np.asarray(background_prefilter(im, roi, 2.0)).astype(int)
    assert np.array_equal(out[roi], photo[roi])  # the ROI itself is kept
    far = np.ones(roi.shape, bool)
    far[BOX[1] - 8 : BOX[3] + 8, BOX[0] - 8 : BOX[2] + 8] = False
    grad = lambda a: np.abs(np.diff(a.astype(int), axis=1))[far[:, 1:]].mean()  # noqa: E731
    assert grad(out) < 0.6 * grad(photo)  # the background is smoothed
