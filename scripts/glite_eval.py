"""G-lite vs G v2 (issue 29, item 2): BD between two ``agdl bench`` runs, and restorer/decode speed side by side.

    # the two runs differ only in --restorer (both named explicitly, so both get the same encoder treatment)
    agdl bench DIR --codecs agdl --bpp 0.3,0.5,0.75,1.0 --repeats 0 --restorer agdl-g --out runs/b/v2
    agdl bench DIR --codecs agdl --bpp 0.3,0.5,0.75,1.0 --repeats 0 --restorer agdl-g-lite --out runs/b/lite
    python scripts/glite_eval.py bd runs/b/v2/results.json runs/b/lite/results.json [--limit 20]
    python scripts/glite_eval.py speed --tiles 4 --threads 1 --repeats 3

``bd``: BD-PSNR (dB) of run B's ``agdl`` against run A's on PSNR-Y and ROI-PSNR-Y, on the images present
(without error) at every point of both runs; mean PSNR per point. ``speed``: a ``tiles x tiles`` mosaic of
Kodak images (4x4 = 6.3 MP), in one process with fixed torch threads: median of ``--repeats`` runs of each
restorer part (interleaved) on the JPEG q30 base luminance, and of a full decode of the same image encoded at
``target_bpp`` with each restorer (restorer, F and projection included); a warm-up call first.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from pathlib import Path

import numpy as np

from agdl_plugins.apps.bench.ratematch import bd_psnr
from agdl_plugins.apps.bench.report import aggregate

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def _common_agg(runs: list[dict], limit: int = 0) -> list[list[dict]]:
    """Aggregates of the ``agdl`` rows of each run, restricted to images present at every point of every run
    (and, with ``limit``, to the first ``limit`` image names of the first run, sorted)."""
    keep = set(sorted({r["image"] for r in runs[0]["rows"]})[:limit]) if limit else None
    for doc in runs:
        for p in doc["meta"]["points"]:
            ok = {r["image"] for r in doc["rows"] if r["point"] == p and r["codec"] == "agdl" and not r["error"]}
            keep = ok if keep is None else keep & ok
    out = []
    for doc in runs:
        rows = [r for r in doc["rows"] if r["image"] in keep and r["codec"] == "agdl"]
        out.append(aggregate(rows, ["agdl"], doc["meta"]["points"]))
    print(f"{len(keep)} images present at every point of both runs")
    return out


def cmd_bd(a: argparse.Namespace) -> int:
    docs = [json.loads(Path(a.run_a).read_text())]
    parts = [json.loads(Path(p).read_text()) for p in a.run_b]  # runs on disjoint image sets: rows concatenated
    if any(d["meta"]["points"] != parts[0]["meta"]["points"] for d in parts):
        raise SystemExit("the test runs have different rate points")
    docs.append({"meta": parts[0]["meta"], "rows": [r for d in parts for r in d["rows"]]})
    agg_a, agg_b = _common_agg(docs, a.limit)
    for x, y in zip(agg_a, agg_b):
        print(f"{x['point']}: A {x['bpp']:.3f} bpp {x['psnr_y']:.3f} / {x['roi_psnr_y']:.3f}   "
              f"B {y['bpp']:.3f} bpp {y['psnr_y']:.3f} / {y['roi_psnr_y']:.3f}   (PSNR-Y / ROI-PSNR-Y dB)")
    res = {}
    for m in ("psnr_y", "roi_psnr_y"):
        res[m] = bd_psnr([x["bpp"] for x in agg_a], [x[m] for x in agg_a], [y["bpp"] for y in agg_b],
                         [y[m] for y in agg_b])
    print(f"BD-PSNR of B vs A: PSNR-Y {res['psnr_y']:+.3f} dB, ROI-PSNR-Y {res['roi_psnr_y']:+.3f} dB")
    return 0


def _medians_s(fns: dict, repeats: int) -> dict:
    """Median seconds of each callable in ``fns``, the calls interleaved (a, b, a, b, ...) so that a shared
    machine's load hits all of them alike; one untimed warm-up call each first (model load, allocator)."""
    for fn in fns.values():
        fn()
    ts: dict = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            ts[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in ts.items()}


def mosaic(tiles: int, folder: Path) -> np.ndarray:
    """(512 * tiles, 768 * tiles, 3) uint8: Kodak images (landscape ones, sorted) tiled row by row."""
    from PIL import Image

    ims = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*.png"))]
    ims = [im for im in ims if im.shape[:2] == (512, 768)]
    rows = [np.concatenate([ims[(r * tiles + c) % len(ims)] for c in range(tiles)], axis=1) for r in range(tiles)]
    return np.ascontiguousarray(np.concatenate(rows, axis=0))


def cmd_speed(a: argparse.Namespace) -> int:
    import torch
    from PIL import Image

    import agdl_plugins as agdl
    from agdl_plugins.parts.registry import get_registry

    torch.set_num_threads(a.threads)  # a script owns its process
    rgb = mosaic(a.tiles, Path(a.kodak))
    h, w = rgb.shape[:2]
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=30, optimize=True)
    im = Image.open(io.BytesIO(buf.getvalue()))
    qt = np.asarray(list(im.quantization[0]))
    im.draft("YCbCr", im.size)
    luma = np.asarray(im, dtype=np.uint8)[..., 0].copy()
    reg = get_registry()
    names = a.restorers.split(",")
    res = {"image": f"{w}x{h} Kodak mosaic ({w * h / 1e6:.2f} MP)", "threads": a.threads, "repeats": a.repeats}
    parts = {n: reg.get("restorer", n) for n in names}
    t = _medians_s({n: (lambda p=p: p.restore(luma, qt, "cpu")) for n, p in parts.items()}, a.repeats)
    res.update({f"restore_s[{n}]": v for n, v in t.items()})
    files = {}
    for n in names:
        data = files[n] = agdl.encode(rgb, target_bpp=a.bpp, restorer=n)
        hdr = agdl.read_info(data).header
        res[f"file[{n}]"] = (f"{hdr.restorer}@{hdr.restorer_version}, base q{hdr.quality}, "
                             f"{hdr.n_critical} critical, {hdr.n_measurements} measurements")
        res[f"bpp[{n}]"] = len(data) * 8 / (w * h)
    t = _medians_s({n: (lambda d=d: agdl.decode(d)) for n, d in files.items()}, a.repeats)
    res.update({f"decode_s[{n}]": v for n, v in t.items()})
    print(json.dumps(res, indent=1))
    if len(names) == 2:
        for k in ("restore_s", "decode_s"):
            print(f"{k}: {names[1]} / {names[0]} = {res[f'{k}[{names[1]}]'] / res[f'{k}[{names[0]}]']:.3f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bd", help="BD-PSNR of bench run B's agdl against run A's")
    b.add_argument("run_a", help="results.json of the reference run (G v2)")
    b.add_argument("run_b", nargs="+", help="results.json of the test run (G-lite); several runs on disjoint "
                   "image sets (e.g. DUTS-TE 1-20 and 21-100) are taken together")
    b.add_argument("--limit", type=int, default=0, help="only the first N images (sorted by name)")
    s = sub.add_parser("speed", help="restorer and decode time, side by side in one process")
    s.add_argument("--kodak", default=str(DATA / "kodak24" / "images"))
    s.add_argument("--tiles", type=int, default=4)
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--repeats", type=int, default=3)
    s.add_argument("--bpp", type=float, default=0.5)
    s.add_argument("--restorers", default="agdl-g,agdl-g-lite")
    a = ap.parse_args(argv)
    return cmd_bd(a) if a.cmd == "bd" else cmd_speed(a)


if __name__ == "__main__":
    raise SystemExit(main())
