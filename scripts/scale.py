"""Scale check: AGDL encode and decode time as ratios to AVIF, WebP and JPEG at equal bytes, and peak RSS.

Usage:
    python scripts/scale.py [--mp 0.1 6 24] [--kodak ../shared/datasets/kodak24] [--threads 2]
                            [--target-bpp 0.5] [--repeats 3] [--json OUT] [--restorer agdl-g-lite] [--base jpeg]
                            [--sample-above 1000000000000]

Test images are mosaics of Kodak24 photos (no upscaling, real photo statistics at every size): 6 MP is the
4 x 4 mosaic of kodim01..16 (portrait photos turned), 24 MP the 8 x 8 mosaic (kodim01..24 repeated, every other
copy mirrored), 0.1 MP kodim01..24's first photo downscaled to 384 x 256. Each (size, encode | decode) runs in a
fresh process, so peak RSS (``ru_maxrss``) is that step's alone: the decode child reads the .agdl file, decodes
it and reads its peak RSS before anything else runs in it.

Encode: AGDL ``target_bpp``; then AVIF (Pillow, speed 6), WebP (method 4) and JPEG (libjpeg-turbo, optimised) at
the quality whose bytes are closest to AGDL's file (rate-matched with the benchmark's ``match_bytes``, not timed),
each timed at that quality. Decode: the same files. Times are medians of ``--repeats`` runs after a first, cold
one (AGDL at 24 MP: the cold run alone), measured side by side in one process, so the ratios hold on a loaded
machine where the absolute times do not.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import io, json, resource, statistics, sys, time
from pathlib import Path
import numpy as np
import torch
mp, kodak, what, threads, bpp, reps, tmp, restorer, base, sample_above = sys.argv[1:11]
mp, threads, bpp, reps, tmp = float(mp), int(threads), float(bpp), int(reps), Path(tmp)
opts = {"target_bpp": bpp, **({"restorer": restorer} if restorer else {}), **({"base": base} if base else {})}
if threads > 0:
    torch.set_num_threads(threads)  # a script may; the library never does
from PIL import Image
import agdl_plugins as agdl
if sample_above:  # the encoder's whole-image search above this many pixels instead of the sampled one
    from agdl_plugins.codec import sampling
    sampling.SAMPLE_ABOVE = int(sample_above)

def med(fn, n):
    ts = []
    for _ in range(n):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return statistics.median(ts)

stem = tmp / f"scale_{mp:g}"
agdl_reps = 1 if mp > 12 else reps
if what == "decode":
    data = Path(f"{stem}.agdl").read_bytes()
    t = time.perf_counter(); agdl.decode(data); first = time.perf_counter() - t
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the AGDL decode's own peak
    # warm (model loaded) median when repeated; the first, cold run when run once (24 MP)
    res = {"agdl_s": med(lambda: agdl.decode(data), agdl_reps) if agdl_reps > 1 else first, "agdl_first_s": first}
    for name in ("avif", "webp", "jpeg"):
        raw = Path(f"{stem}.{name}").read_bytes()
        res[f"{name}_s"] = med(lambda: np.asarray(Image.open(io.BytesIO(raw)).convert("RGB")), max(reps, 3))
else:
    def mosaic(n):
        ps = sorted(Path(kodak, "images").glob("kodim*.png"))
        ims = [np.asarray(Image.open(p).convert("RGB")) for p in ps]
        ims = [a if a.shape[0] == 512 else np.ascontiguousarray(np.rot90(a)) for a in ims]
        tiles = [ims[i % len(ims)] if (i // len(ims)) % 2 == 0 else ims[i % len(ims)][:, ::-1] for i in range(n * n)]
        return np.ascontiguousarray(np.concatenate(
            [np.concatenate(tiles[r * n:(r + 1) * n], axis=1) for r in range(n)], axis=0))
    if mp < 1:
        p = sorted(Path(kodak, "images").glob("kodim*.png"))[0]
        img = np.asarray(Image.open(p).convert("RGB").resize((384, 256), Image.LANCZOS))
    else:
        img = mosaic(4 if mp < 12 else 8)
    from agdl_plugins.apps.bench.ratematch import match_bytes
    t = time.perf_counter(); data = agdl.encode(img, **opts); first = time.perf_counter() - t
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(f"{stem}.agdl").write_bytes(data)
    res = {"agdl_s": med(lambda: agdl.encode(img, **opts), agdl_reps) if agdl_reps > 1 else first,
           "agdl_first_s": first}
    pil = Image.fromarray(img)
    def saver(fmt, **kw):
        def enc(q):
            buf = io.BytesIO(); pil.save(buf, fmt, quality=int(q), **kw); return buf.getvalue()
        return enc
    peers = {"avif": saver("AVIF", speed=6), "webp": saver("WEBP", method=4),
             "jpeg": saver("JPEG", optimize=True)}
    for name, enc in peers.items():
        m = match_bytes(enc, len(data), 1, 100, integer=True)
        Path(f"{stem}.{name}").write_bytes(m.data)
        res[f"{name}_s"] = med(lambda: enc(m.knob), reps)
        res[f"{name}_quality"], res[f"{name}_bytes"] = m.knob, len(m.data)
print(json.dumps({"mp": None if what == "decode" else img.shape[0] * img.shape[1] / 1e6, "what": what,
                  "bytes": len(data), "peak_rss_mb": rss_mb, "threads": torch.get_num_threads(), **res}))
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mp", type=float, nargs="+", default=[0.1, 6, 24], help="sizes: < 1 -> 0.1 MP, < 12 -> 6 MP, "
                    "else 24 MP")
    ap.add_argument("--kodak", default=str(Path(__file__).resolve().parents[2] / "shared/datasets/kodak24"),
                    help="Kodak24 folder (with images/kodim*.png)")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (0: torch's default)")
    ap.add_argument("--target-bpp", type=float, default=0.5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--what", nargs="+", default=["encode", "decode"], choices=["encode", "decode"])
    ap.add_argument("--tmp", default="/tmp", help="folder for the encoded files")
    ap.add_argument("--json", default=None, help="also write the rows as JSON here")
    ap.add_argument("--restorer", default="", help="encode with this restorer (e.g. agdl-g-lite; default: the "
                    "encoder's own); the decode uses what the file names")
    ap.add_argument("--base", default="", help="encode with this base (e.g. jpeg; default: the encoder's, auto)")
    ap.add_argument("--sample-above", type=int, default=None, help="decide images above this many pixels on a "
                    "sample (default: the encoder's sampling.SAMPLE_ABOVE; 10**12: always search the whole image)")
    a = ap.parse_args(argv)
    rows = []
    for mp in a.mp:
        enc_row = None
        for what in ("encode", "decode"):
            if what not in a.what:
                continue
            r = subprocess.run([sys.executable, "-c", CHILD, str(mp), a.kodak, what, str(a.threads),
                                str(a.target_bpp), str(a.repeats), a.tmp, a.restorer, a.base,
                                "" if a.sample_above is None else str(a.sample_above)], capture_output=True,
                               text=True)
            if r.returncode:
                sys.stderr.write(r.stderr)
                if r.returncode < 0:  # e.g. SIGKILL from the kernel's OOM killer: say so instead of nothing
                    sys.stderr.write(f"{mp:g} MP {what}: child killed by signal {-r.returncode} "
                                     "(9: probably out of memory)\n")
                return 1
            row = json.loads(r.stdout.strip().splitlines()[-1])
            if what == "encode":
                enc_row = row
            elif enc_row is not None:
                row["mp"] = enc_row["mp"]
            rows.append(row)
            ratios = ", ".join(f"{row['agdl_s'] / row[f'{p}_s']:.1f}x {p.upper()}" for p in ("avif", "webp", "jpeg"))
            mp_s = f"{row['mp']:5.2f} MP" if row.get("mp") else f"{mp:5g} MP"
            print(f"{mp_s} {what:6s}: AGDL {row['agdl_s']:7.2f} s ({row['bytes']} B) = {ratios}; "
                  f"AVIF {row['avif_s']:.3f} s, WebP {row['webp_s']:.3f} s, JPEG {row['jpeg_s']:.3f} s; "
                  f"peak RSS {row['peak_rss_mb']:.0f} MB, {row['threads']} thread(s)", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
