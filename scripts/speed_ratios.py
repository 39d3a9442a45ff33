"""Side-by-side speed ratios on one photo (medians, one process, fixed torch threads).

Encode with ``target_bpp`` vs encode at a fixed ``quality`` vs decode (default parts), and a
DnCNN-17 forward pass (random weights, the bench's yardstick) on the same image, plus JPEG encode/decode.
Read the ratios; absolute times depend on a shared machine.

    python scripts/speed_ratios.py --image ../shared/datasets/kodak24/images/kodim05.png --repeats 5
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time

import numpy as np


def _median_s(fn, repeats: int) -> float:
    fn()  # warm-up (model load, allocator)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", default="../shared/datasets/kodak24/images/kodim05.png")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quality", type=int, default=30)
    ap.add_argument("--bpp", type=float, default=0.5)
    a = ap.parse_args(argv)
    import torch
    from PIL import Image

    import agdl_plugins as agdl
    from agdl_plugins.apps.bench.metrics import build_dncnn, time_dncnn

    torch.set_num_threads(a.threads)
    im = Image.open(a.image).convert("RGB")
    w, h = im.size
    fixed = agdl.encode(im, quality=a.quality)
    rated = agdl.encode(im, target_bpp=a.bpp)
    res = {"image": a.image, "size": [w, h], "threads": a.threads, "repeats": a.repeats}
    res["encode_fixed_s"] = _median_s(lambda: agdl.encode(im, quality=a.quality), a.repeats)
    res["encode_target_s"] = _median_s(lambda: agdl.encode(im, target_bpp=a.bpp), a.repeats)
    res["decode_s"] = _median_s(lambda: agdl.decode(rated), a.repeats)
    res["decode_fixed_s"] = _median_s(lambda: agdl.decode(fixed), a.repeats)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=a.quality)
    jpeg = buf.getvalue()
    res["jpeg_encode_s"] = _median_s(lambda: im.save(io.BytesIO(), "JPEG", quality=a.quality), a.repeats)
    res["jpeg_decode_s"] = _median_s(lambda: np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")), a.repeats)
    res["dncnn17_s"] = time_dncnn(build_dncnn(), h, w, max(1, a.repeats // 2)) / 1000.0  # returns ms
    res["ratio_target_vs_fixed_encode"] = res["encode_target_s"] / res["encode_fixed_s"]
    res["ratio_decode_vs_dncnn"] = res["decode_s"] / res["dncnn17_s"]
    res["ratio_decode_vs_jpeg"] = res["decode_s"] / res["jpeg_decode_s"]
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
