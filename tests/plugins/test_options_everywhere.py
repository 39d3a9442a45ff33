"""One option list (issue 26): every encoder option is accepted, with the same meaning, by ``agdl.encode``,
Pillow ``save``, imageio ``imwrite`` and ``agdl encode`` -- the same bytes from all four."""

from __future__ import annotations

import io
from dataclasses import fields
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

import agdl_plugins as agdl
from agdl_plugins.apps.cli import main
from agdl_plugins.apps.cli_args import flag
from agdl_plugins.options import ENCODE_OPTION_NAMES, EncodeOptions, options_markdown

ROOT = Path(__file__).resolve().parents[2]
BASE = {"quality": 40, "critical_fraction": 0.05, "step": 6.0}  # fixed decisions: fast, no search
# a non-default value for every option (each run alone on top of BASE)
VALUES = {
    "quality": 55, "target_bpp": 2.0, "critical_fraction": 0.1, "measurement_ratio": 0.5, "step": 3.0,
    "roi_weight": 1.0, "base": "webp", "predictor": "edge-sobel", "restorer": "identity",
    "sensing": "gaussian", "device": "cpu", "seed": 7, "quantiser": "rdo", "container": "jpeg",
    "roi": [(24, 16, 104, 80)],
}


def _cli_args(name: str, value) -> list[str]:
    """``--name value``; the ROI's boxes as ``--roi-box x0,y0,x1,y1`` (``--roi`` takes a mask file)."""
    if name == "roi":
        return [x for box in value for x in ("--roi-box", ",".join(map(str, box)))]
    return [flag(name), str(value)]


def test_every_option_has_a_test_value() -> None:
    assert set(VALUES) == ENCODE_OPTION_NAMES


@pytest.mark.parametrize("name", sorted(VALUES))
def test_same_bytes_from_every_front_end(name: str, tmp_path: Path) -> None:
    arr = np.ascontiguousarray(np.asarray(Image.open(ROOT / "tests/golden/learned_rgb_jpeg.png").convert("RGB")))
    opts = {**BASE, name: VALUES[name]}
    if name in ("target_bpp", "roi_weight"):  # they steer the rate-distortion search: let it run
        # roi_weight: a quality where it changes the search's decision on this image with the default F (v5)
        opts = {"quality": 60, name: VALUES[name]} if name == "roi_weight" else {name: VALUES[name]}
    if name == "measurement_ratio":
        opts["sensing"] = "structured-dct"
    suffix = ".jpg" if opts.get("container") == "jpeg" else ".agdl"

    api = agdl.encode(arr, **opts)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="AGDL", **opts)
    via_iio = iio.imwrite("<bytes>", arr, extension=suffix, plugin="AGDL", **opts)
    src = tmp_path / "in.png"
    Image.fromarray(arr).save(src)
    out = tmp_path / f"out{suffix}"
    args = [x for k, v in opts.items() for x in _cli_args(k, v)]
    assert main(["encode", str(src), "-o", str(out), "-q", *args]) == 0
    assert buf.getvalue() == api
    assert via_iio == api
    assert out.read_bytes() == api
    changed = agdl.encode(arr, **{k: v for k, v in opts.items() if k != name})  # the option did something
    assert changed != api or name == "device"


def test_options_doc_is_current() -> None:
    assert (ROOT / "docs/OPTIONS.md").read_text() == options_markdown()


def test_cli_help_lists_every_option(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["encode", "--help"])
    out = capsys.readouterr().out
    for f in fields(EncodeOptions):
        assert flag(f.name) in out


def test_bench_takes_every_option_but_its_rate_points(capsys) -> None:
    from agdl_plugins.apps.bench import RATE_OPTIONS
    from agdl_plugins.apps.bench import main as bench_main

    assert bench_main(["--help"]) == 0
    out = capsys.readouterr().out
    for f in fields(EncodeOptions):
        assert (flag(f.name) in out) == (f.name not in RATE_OPTIONS), f.name
