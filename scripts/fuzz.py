"""Long fuzzing run of the AGDL parser + decoder: random CRC-valid mutations of real seed files.

Usage: python scripts/fuzz.py --seconds 600 [--seed 0] [--learned]
Prints the number of inputs tried, outcome counts and the slowest input's decode time. Any exception
other than AgdlFormatError is saved to fuzz_crashes/ and reported.
"""

from __future__ import annotations

import argparse
import collections
import random
import struct
import time
import traceback
import zlib
from pathlib import Path

import numpy as np
from skimage import data

import agdl_plugins as agdl
from agdl_plugins.errors import AgdlFormatError
from agdl_plugins.format import container as C

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "golden"


def seeds(learned: bool = False) -> list[bytes]:
    """Seed files: baseline parts (fast), plus files written with the trained F and G when ``learned``; the
    committed golden files of format 1.0 (baseline ones only, unless ``learned``)."""
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
    pool += [p.read_bytes() for p in sorted(GOLDEN.glob("*.agdl")) if learned or "baseline" in p.name]  # 1.0 files
    return pool


def v1_file(chunks: list[C.Chunk]) -> bytes:
    """Format 1.0 framing with valid CRCs (the library writes 2.0 only; 1.0 seeds are the golden files)."""
    out = bytearray(C.MAGIC + b"\x01\x00")
    for ch in [*chunks, C.Chunk(b"AEND", b"")]:
        out += struct.pack(">4sI", ch.type, len(ch.data)) + ch.data + struct.pack(">I", zlib.crc32(ch.type + ch.data))
    return bytes(out)


def mutate_framing_v2(blob: bytes, rng: random.Random) -> bytes:
    """Overwrite/insert/delete bytes of a 2.x file after its version bytes, then recompute its one CRC."""
    b = bytearray(blob[:-4])
    lo = len(C.MAGIC) + 2
    for _ in range(rng.randint(1, 6)):
        pos = rng.randrange(lo, len(b))
        op = rng.random()
        if op < 0.5:
            b[pos] = rng.randrange(256)
        elif op < 0.7:
            b[pos:pos] = bytes([rng.randrange(256)])
        elif op < 0.85:
            del b[pos]
        else:  # long / overflowing varints
            b[pos : pos + 1] = b"\xff" * rng.randint(1, 11) + bytes([rng.randrange(128)])
    return bytes(b) + struct.pack(">I", zlib.crc32(b))


def mutate(blob: bytes, rng: random.Random) -> bytes:
    chunks = C.parse_container(blob)
    v1 = blob[len(C.MAGIC)] == 1
    if rng.random() < 0.2:  # raw byte-level mutation (CRC usually catches it)
        b = bytearray(blob)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b[: rng.randint(0, len(b))] if rng.random() < 0.2 else b)
    if not v1 and rng.random() < 0.4:
        return mutate_framing_v2(blob, rng)
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
    if v1:
        return v1_file(chunks)
    try:
        return C.write_container(chunks)
    except ValueError:  # the 2.x writer frames no HEAD/REFN a reader would refuse: attack the framing instead
        return mutate_framing_v2(blob, rng)


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
