"""Batch-encode many files with the CLI and report peak RSS for 100 vs N files (flat memory check).

Usage: python scripts/batch_memory.py [--n 500] [--size 96]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

CHILD = (
    "import resource, sys; from agdl_plugins.apps.cli import main;"
    "rc = main(['encode', sys.argv[1], '-o', sys.argv[2], '-q']);"
    "print(rc, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)"
)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--size", type=int, default=96)
    a = ap.parse_args()
    src = data.astronaut()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        for i in range(a.n):
            y, x = rng.integers(0, 512 - a.size, 2)
            Image.fromarray(src[y : y + a.size, x : x + a.size]).save(d / f"im{i:04d}.png")
        for n in (100, a.n):
            glob = str(d / ("im00*.png" if n == 100 else "im*.png"))
            r = subprocess.run([sys.executable, "-c", CHILD, glob, str(d / f"out{n}")], capture_output=True,
                               text=True, check=True)
            rc, rss = r.stdout.split()
            files = len(list((d / f"out{n}").glob("*.agdl")))
            print(f"{files} files encoded (exit {rc}): peak RSS {rss} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
