"""How the preset dictionaries of ``agdl_plugins/format/base_pack.py`` were made (run once; they never change).

Each dictionary is the codec headers (everything before the entropy-coded data) that Pillow wrote for DUTS-TR
images: no pixel data, only markers, tables, sizes and boxes. The files they pack must decode forever, so the
printed literals were pasted into ``base_pack.py`` and ``tests/core/test_base_pack.py`` pins their sha256.

    python scripts/make_base_dicts.py --data ../shared/datasets/duts-tr > /tmp/dicts.txt
"""

from __future__ import annotations

import argparse
import io
import textwrap
from pathlib import Path

from PIL import Image

from agdl_plugins.format.base_pack import header_span
from agdl_plugins.parts.jpeg_tables import ijg_tables


def _encode(im: Image.Image, fmt: str, q: float) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG":  # as agdl_plugins.parts.base_codecs.JpegCodec writes a fractional quality
        im.save(buf, "JPEG", qtables=ijg_tables(q)[: 1 if im.mode == "L" else 2], optimize=True, subsampling="4:2:0")
    elif fmt == "AVIF":
        im.save(buf, "AVIF", quality=int(q), speed=6)
    else:
        im.save(buf, "WEBP", quality=int(q), method=6)
    return buf.getvalue()


def headers(paths: list[Path], fmt: str, qualities: tuple[float, ...]) -> bytes:
    """A grey header of ``paths[-1]`` then colour headers of ``paths[:-1]`` at each quality."""
    grey = _encode(Image.open(paths[-1]).convert("L"), fmt, qualities[0])
    out = grey[: header_span(grey)]
    for p in paths[:-1]:
        rgb = Image.open(p).convert("RGB")
        for q in qualities:
            data = _encode(rgb, fmt, q)
            out += data[: header_span(data)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/datasets/duts-tr")
    args = ap.parse_args()
    paths = sorted((Path(args.data) / "images").glob("*.jpg"))[:3]
    for name, fmt, qs, n in (("JPEG", "JPEG", (30.0, 60.0), 3), ("WEBP", "WEBP", (30.0,), 2),
                             ("AVIF", "AVIF", (30.0,), 2)):
        lit = headers(paths[:n], fmt, qs).hex()
        print(f"_{name}_HEADERS = bytes.fromhex(")
        print("\n".join(f'    "{line}"' for line in textwrap.wrap(lit, 112)))
        print(")")


if __name__ == "__main__":
    main()
