"""``agdl demo``: encode and decode a real photo, compare with JPEG at the same size, save a side-by-side."""

from __future__ import annotations

import argparse
import time

import numpy as np
from PIL import Image, ImageDraw

from agdl_plugins import api
from agdl_plugins.apps.metrics import decode_jpeg, jpeg_at_bytes, luma, psnr


def load_photo(path: str | None) -> tuple[np.ndarray, str]:
    if path:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB")), path
    from skimage import data

    return data.astronaut(), "scikit-image astronaut (public domain, NASA)"


def run(a: argparse.Namespace) -> int:
    from agdl_plugins.apps.cli_args import encode_options

    img, name = load_photo(a.image)
    opts = encode_options(a)
    h, w = img.shape[:2]
    t0 = time.perf_counter()
    data = api.encode(img, **opts)
    t1 = time.perf_counter()
    dec = api.decode(data, device=a.device or "auto")
    t2 = time.perf_counter()
    info = dec.info
    q_j, jp = jpeg_at_bytes(img, len(data))
    jimg = decode_jpeg(jp)
    print(f"photo          : {name}, {w}x{h} RGB")
    kind = {"edge-sobel": " (classical baseline, not the trained F)", "identity": " (no restoration: baseline)"}
    print(
        f"parts          : base={info.base_codec} q{info.quality}, "
        f"predictor={info.predictor}@{info.predictor_version}{kind.get(info.predictor, '')}, "
        f"restorer={info.restorer}@{info.restorer_version}{kind.get(info.restorer, '')}, sensing={info.sensing}"
    )
    print(
        f"critical set   : N={info.n_critical} pixels ({100 * info.n_critical / (w * h):.2f} %), "
        f"M={info.n_measurements} measurements, step={info.step:g}"
    )
    lb = info.layer_bytes
    print(
        f"AGDL size      : {lb['total']} bytes = {8 * lb['total'] / (w * h):.3f} bpp "
        f"(base {lb['base']} B, refinement {lb['refinement']} B)"
    )
    print(
        f"AGDL quality   : PSNR-Y {psnr(luma(dec.array), luma(img)):.2f} dB, PSNR-RGB {psnr(dec.array, img):.2f} dB"
    )
    print(
        f"JPEG same size : q{q_j}, {len(jp)} bytes, PSNR-Y {psnr(luma(jimg), luma(img)):.2f} dB, "
        f"PSNR-RGB {psnr(jimg, img):.2f} dB"
    )
    print(f"time           : encode {t1 - t0:.2f} s, decode {t2 - t1:.2f} s (this machine, one run)")
    side = np.concatenate([img, jimg, dec.array], axis=1)
    canvas = Image.fromarray(side)
    draw = ImageDraw.Draw(canvas)
    for i, label in enumerate(("original", f"JPEG q{q_j} {len(jp)} B", f"AGDL {lb['total']} B")):
        draw.text((i * w + 6, 6), label, fill=(255, 255, 0))
    canvas.save(a.output)
    print(f"side-by-side   : {a.output} (original | JPEG at equal bytes | AGDL)")
    return 0
