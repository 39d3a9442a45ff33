"""Machine-independent digests of a golden file: what must be bit-identical on every machine.

Shared by ``tests/golden/test_golden.py`` and ``scripts/make_golden.py``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

import agdl_plugins as agdl
from agdl_plugins.codec.decoder import parsed_layers
from agdl_plugins.format.parse import parse_file


def sha(data: bytes | np.ndarray) -> str:
    return hashlib.sha256(data.tobytes() if isinstance(data, np.ndarray) else data).hexdigest()


def layer_digests(path: Path) -> dict[str, str]:
    """sha256 of each parsed layer (base bytes, guard list, entropy-decoded symbols, alpha plane)."""
    info = parse_file(Path(path).read_bytes())
    return {k: sha(v) for k, v in parsed_layers(info).items()}


def decode_digests(path: Path, **kw) -> tuple[np.ndarray, dict[str, str]]:
    """(decoded pixels, {"critical": sha of the packed critical mask, "base_pixels": sha of the base-only decode})."""
    out = agdl.decode(path, device=kw.pop("device", "cpu"), diagnostics=True, **kw)
    mask = out.diagnostics["critical_mask"]
    base = agdl.decode(path, base_only=True).array
    return out.array, {"critical": sha(np.packbits(mask.reshape(-1))), "base_pixels": sha(base)}
