"""Long fuzzing run of the AGDL parser + decoder: random CRC-valid mutations of real seed files.

Usage: python scripts/fuzz.py --seconds 600 [--seed 0] [--learned]
Prints the number of inputs tried, outcome counts and the slowest input's decode time. Any exception
other than AgdlFormatError is saved to fuzz_crashes/ and reported.
"""

from __future__ import annotations

import argparse
import collections
import random
import time
import traceback
from pathlib import Path

import numpy as np
from skimage import data

import agdl_plugins as agdl
from agdl_plugins import container as C
from agdl_plugins.errors import AgdlFormatError


def seeds(learned: bool = False) -> list[bytes]:
    """Seed files: baseline parts (fast), plus files written with the trained F and G when ``learned``."""
    a = np.ascontiguousarray(data.astronaut()[100:164, 180:260])
    g = np.ascontiguousarray(data.camera()[200:248, 180:244])
    rgba = np.dstack([a, np.full(a.shape[:2], 200, np.uint8)])
    base = {"predictor": "edge-sobel", "restorer": "identity"}
    pool = [
        agdl.encode(a, quality=30, critical_fraction=0.08, exif=b"Exif\0\0II*\0", **base),
        agdl.encode(g, quality=60, critical_fraction=0.2, measurement_ratio=0.5, **base),
        agdl.encode(rgba, quality=20, base="webp", **base),
    ]
    if learned:  # default parts: F (float scores, guard band + explicit list) and G
        pool += [
            agdl.encode(a, quality=20, device="cpu"),
            agdl.encode(rgba, quality=40, device="cpu", xmp=b"<x:xmpmeta/>"),
            agdl.encode(a, quality=25, base="jpeg-saliency", device="cpu"),
            agdl.encode(g, quality=50, critical_fraction=0.3, predictor="agdl-f", device="cpu"),
        ]
    return pool


def mutate(blob: bytes, rng: random.Random) -> bytes:
    chunks = C.parse_container(blob)
    if rng.random() < 0.2:  # raw byte-level mutation (CRC usually catches it)
        b = bytearray(blob)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b[: rng.randint(0, len(b))] if rng.random() < 0.2 else b)
    i = rng.randrange(len(chunks))
    body = bytearray(chunks[i].data)
    for _ in range(rng.randint(1, 6)):
        if body:
            op = rng.random()
            pos = rng.randrange(len(body))
            if op < 0.6:
                body[pos] = rng.randrange(256)
            elif op < 0.8:
                body[pos : pos + 4] = rng.choice([b"\xff\xff\xff\xff", b"\0\0\0\0", b"\x7f\xff\xff\xff"])
            else:
                del body[pos : pos + rng.randint(1, 16)]
    chunks[i] = C.Chunk(chunks[i].type, bytes(body))
    return C.write_container(chunks)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--learned", action="store_true", help="also seed with files written by the trained F and G")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    pool = seeds(a.learned)
    outcomes: collections.Counter[str] = collections.Counter()
    slowest, n, crashes = 0.0, 0, 0
    out = Path("fuzz_crashes")
    t_end = time.time() + a.seconds
    while time.time() < t_end:
        blob = mutate(rng.choice(pool), rng)
        n += 1
        t0 = time.perf_counter()
        try:
            agdl.decode(blob, device="cpu", max_pixels=1 << 22)
            outcomes["decoded"] += 1
        except AgdlFormatError as e:
            outcomes[type(e).__name__] += 1
        except Exception:  # noqa: BLE001 - a finding
            crashes += 1
            out.mkdir(exist_ok=True)
            (out / f"crash{crashes}.agdl").write_bytes(blob)
            traceback.print_exc()
        slowest = max(slowest, time.perf_counter() - t0)
    print(
        f"inputs tried: {n}; outcomes: {dict(outcomes)}; crashes: {crashes}; slowest decode: {slowest:.3f} s"
    )
    return 1 if crashes else 0


if __name__ == "__main__":
    raise SystemExit(main())
