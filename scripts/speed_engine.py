"""What each inference-engine change buys: decode one .agdl file with the engine's changes switched on one by one.

    python scripts/speed_engine.py FILE.agdl [--threads 2] [--repeats 3] [--tiles 1024,768,512]

Variants, cumulative, interleaved round by round in one process (so a loaded machine slows them alike):

* ``before``: the engine before issue 29: fixed-stride tiles (stride ``tile - 2 overlap`` from 0, last tile
  flush with the end: G v2's 1024/64 computes 2.0x a 6 MP mosaic's pixels), contiguous NCHW, FiLM as its own pass;
* ``+tiling``: balanced tiles (:func:`agdl_plugins.parts.engine.tiles`: the fewest tiles, kept parts equal);
* ``+channels_last``: the restorer's weights and each tile in channels-last layout (oneDNN's own);
* ``+film_fold``: FiLM's per-channel scale and shift folded into the convolution before it;
* ``+tile 1536 (shipped)``: the network's own tile side (G v2: 1536) instead of 1024 (the rows above use 1024).

Each variant's decoded pixels are compared with ``before`` under the format's pixel contract
(``decoder.within_pixel_contract``), and the critical set must be identical. ``--tiles`` also times the
shipped engine with other tile sides (overlap as the network sets it). The switches are this script's
monkeypatches: the library has no such global switches.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path


def _fixed_stride_tiles(length: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """The tiling before issue 29, in :func:`engine.tiles`'s (start, end, keep0, keep1) form."""
    if length <= tile:
        return [(0, length, 0, length)]
    step = tile - 2 * overlap
    starts = sorted({s - s % 8 for s in list(range(0, length - tile, step)) + [length - tile]})
    keep0 = [0 if s == 0 else s + overlap for s in starts]
    return [(s, s + tile, k0, k1) for s, k0, k1 in zip(starts, keep0, keep0[1:] + [length])]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tiles", default="", help="comma-separated tile sides to time with the shipped engine")
    a = ap.parse_args(argv)
    import numpy as np
    import torch

    torch.set_num_threads(a.threads)  # a script may; the library never does
    import agdl_models.restorer as restorer_mod

    import agdl_plugins as agdl
    from agdl_plugins.codec import decoder
    from agdl_plugins.parts import engine

    data = Path(a.file).read_bytes()
    real = {"tiles": engine.tiles, "channels_last": engine.channels_last, "conv": restorer_mod.FiLM.conv}

    def unfolded(self, conv, x, cond):
        return self(conv(x), cond)

    def setup(tiling: bool, layout: bool, fold: bool, tile: int | None = None) -> None:
        base = real["tiles"] if tiling else _fixed_stride_tiles
        engine.tiles = (lambda n, t, o: base(n, tile, o)) if tile else base
        engine.channels_last = real["channels_last"] if layout else (lambda device: False)
        restorer_mod.FiLM.conv = real["conv"] if fold else unfolded

    variants = {"before": (False, False, False, 1024), "+tiling": (True, False, False, 1024),
                "+channels_last": (True, True, False, 1024), "+film_fold": (True, True, True, 1024),
                "+tile 1536 (shipped)": (True, True, True, None)}
    variants.update({f"shipped, tile {t}": (True, True, True, int(t)) for t in a.tiles.split(",") if t})
    times: dict[str, list[float]] = {k: [] for k in variants}
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        for k, v in variants.items():  # warm-up: model loads, allocator; keeps each variant's output
            setup(*v)
            img = agdl.decode(data, diagnostics=True)
            out[k] = (img.array, img.diagnostics.get("critical_mask"))
        for _ in range(a.repeats):
            for k, v in variants.items():
                setup(*v)
                t = time.perf_counter()
                agdl.decode(data)
                times[k].append(time.perf_counter() - t)
    finally:
        setup(True, True, True, None)
    ref = statistics.median(times["before"])
    prev = ref
    print(f"{a.file}: {a.threads} thread(s), medians of {a.repeats} interleaved rounds")
    print("| variant | decode s (median) | x before | x previous row | pixels vs before |")
    print("|---|---|---|---|---|")
    for k in variants:
        m = statistics.median(times[k])
        same = decoder.within_pixel_contract(out[k][0], out["before"][0])
        diff = int(np.abs(out[k][0].astype(np.int16) - out["before"][0].astype(np.int16)).max())
        crit = out[k][1] is None or np.array_equal(out[k][1], out["before"][1])
        print(f"| {k} | {m:.2f} | {ref / m:.2f} | {prev / m:.2f} | "
              f"{'within contract' if same else 'OUTSIDE CONTRACT'} (max {diff}, critical set "
              f"{'identical' if crit else 'DIFFERENT'}) |")
        if not k.startswith("shipped"):
            prev = m
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
