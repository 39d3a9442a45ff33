"""Pillow: draft()/thumbnail use the base-layer-only preview (no networks, no torch)."""

from __future__ import annotations

import numpy as np
from PIL import Image

import agdl_plugins


def test_draft_switches_to_base_preview(agdl_file, count_calls) -> None:
    decode_calls = count_calls("decode")
    preview_calls = count_calls("decode_base_preview")
    with Image.open(agdl_file) as im:
        w, h = im.size
        assert im.draft(None, (w // 2, h // 2)) == ("RGB", (0, 0, w, h))
        assert im.size == (w, h)  # the preview is full size (no DCT scaling): box is the whole image
        arr = np.asarray(im)
    assert decode_calls == [] and len(preview_calls) == 1
    np.testing.assert_array_equal(arr, agdl_plugins.decode_base_preview(agdl_file.read_bytes()).array)


def test_preview_is_the_base_layer_not_the_full_decode(agdl_file, psnr, rgb_array) -> None:
    data = agdl_file.read_bytes()
    base = agdl_plugins.decode_base_preview(data).array
    with Image.open(agdl_file) as im:
        im.draft(None, (32, 24))
        preview = np.asarray(im)
    np.testing.assert_array_equal(preview, base)
    assert psnr(preview, rgb_array) > 27  # measured 30.37 dB; the base of a quality-5 encode: 23.63


def test_thumbnail_from_the_preview_matches_the_full_decode(agdl_file, psnr) -> None:
    """The draft path is a preview of *this* file: its thumbnail is close to the thumbnail of the full decode
    (measured 49.46 dB; the same thumbnail of a quality-5 encode of the image: 27.64 dB)."""
    with Image.open(agdl_file) as im:
        im.thumbnail((32, 32))
        thumb = np.asarray(im)
    full = Image.fromarray(agdl_plugins.decode(agdl_file.read_bytes()).array)
    full.thumbnail((32, 32))
    assert thumb.shape == np.asarray(full).shape == (24, 32, 3)
    assert psnr(thumb, np.asarray(full)) > 45


def test_draft_without_reduction_changes_nothing(agdl_file, count_calls) -> None:
    decode_calls = count_calls("decode")
    with Image.open(agdl_file) as im:
        w, h = im.size
        assert im.draft(None, None) is None
        assert im.draft(None, (w, h)) is None
        assert im.draft("L", (w - 10, h - 10)) is None  # less than 2x: full decode still wanted
        assert im.draft(None, (w // 2 + 1, h)) is None
        im.load()
    assert len(decode_calls) == 1


def test_draft_with_one_side_halved_uses_preview(agdl_file) -> None:
    # thumbnail-style bounding box: the image fits after a 2x reduction of its limiting side
    with Image.open(agdl_file) as im:
        w, h = im.size
        assert im.draft(None, (w, h // 2)) == ("RGB", (0, 0, w, h))


def test_draft_after_load_and_second_call_do_nothing(agdl_file) -> None:
    with Image.open(agdl_file) as im:
        im.load()
        assert im.draft(None, (8, 8)) is None
    with Image.open(agdl_file) as im:
        assert im.draft(None, (8, 8)) is not None
        assert im.draft(None, (8, 8)) is None


def test_draft_keeps_mode(gray_agdl_bytes, tmp_path) -> None:
    path = tmp_path / "g.agdl"
    path.write_bytes(gray_agdl_bytes)
    with Image.open(path) as im:
        mode, _ = im.draft("RGB", (8, 8))
        assert mode == "L" and im.mode == "L"
        assert np.asarray(im).ndim == 2


def test_thumbnail_uses_preview(agdl_file, count_calls) -> None:
    decode_calls = count_calls("decode")
    preview_calls = count_calls("decode_base_preview")
    with Image.open(agdl_file) as im:
        im.thumbnail((32, 32))
        assert im.size == (32, 24)
    assert decode_calls == [] and len(preview_calls) == 1


def test_thumbnail_does_not_import_torch(agdl_file, run_python) -> None:
    code = (
        "import sys\nimport pillow_plugin\nfrom PIL import Image\n"
        f"im = Image.open({str(agdl_file)!r})\n"
        "im.thumbnail((32, 32))\n"  # a >= 2x reduction (draft box 64x48): the preview path
        "assert im.size == (32, 24), im.size\n"
        "assert 'torch' not in sys.modules, 'the base-layer preview imported torch'\n"
    )
    res = run_python(code)
    assert res.returncode == 0, res.stderr
