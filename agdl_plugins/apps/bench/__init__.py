"""``agdl bench``: rate-distortion, speed and memory of AGDL against the codecs users would pick instead.

Usage::

    agdl bench IMAGES_DIR [--masks DIR | --no-masks] [--limit N] [--quick] [--out DIR]
               [--codecs agdl,agdl-norefine,agdl-identity,agdl-classical,agdl-box,jpeg,jpegli,webp,avif,jpeg2000,jxl]
               [--agdl-points q=10,20,30,50 | --bpp 0.3,0.5,0.75,1.0] [--repeats 3] [--device auto]
               [--critical-fraction F] [--measurement-ratio R] [--step S] [--tolerance 0.02]
               [--threads N] [--grid-shift auto|always|never] [--no-dncnn] [--no-rss] [--no-progress] [--html]
    python -m agdl_plugins.apps.bench ...   # the same

Examples::

    agdl bench ../shared/datasets/kodak24/images --limit 8 --out bench_out/kodak
    agdl bench ../shared/datasets/duts-te/images --out bench_out/duts      # masks: ../masks found
    agdl bench imgs/ --quick --codecs agdl,jpeg,webp                       # 3 images, 2 points, 1 repeat

What it does, per image (sorted by name; ``--limit`` keeps the first N):

1. Load as RGB. JPEG sources (DUTS, SOD, PASCAL-S, BSDS) lose 4 rows and 4 columns at the top-left (and so
   does the mask) so nobody re-encodes on the source's 8x8 grid, which breaks JPEG's rate-quality curve
   (``--grid-shift``). PNG sources (Kodak24) are used as they are. ROI = mask >= 128, with masks from
   ``--masks`` (default ``IMAGES_DIR/../masks`` when it exists), matched by file stem.
2. For each rate point, encode AGDL with default parts (``--agdl-points``: base quality q; ``--bpp``: the
   encoder's own rate control). Its total bytes are the target of that point for this image.
3. Every other codec is bisected on its quality knob to the same total bytes (±2 %, ``--tolerance``); the
   achieved ratio is recorded and rows that miss are counted (``miss`` column, ``rate_ok`` in the CSV).
   AGDL variants: ``agdl-norefine`` = critical_fraction 0 (base layer + restorer, all bytes on base quality),
   ``agdl-identity`` = identity restorer, ``agdl-classical`` = edge-sobel predictor (bisected on base
   quality), ``agdl-box`` = AGDL's own bytes decoded with the box projection instead of equality.
4. Metrics (see :mod:`agdl_plugins.apps.bench.metrics`): total bpp = bytes x 8 / pixels; PSNR on Y (BT.601) and
   RGB over the image, in the ROI and on the edge band (dilated Canny of the original Y); SSIM, MS-SSIM
   over the image and in the ROI (computed with torch alone; NaN below 161 px short side, which the report
   counts).
5. Speed: encode (at the matched knob) and decode, median of ``--repeats`` runs each, MP/s and ratio to
   JPEG on the same image and point; the bisection's encodes and one untimed decode warm up each codec.
   ``--repeats 0`` skips timing (half the encodes and decodes of AGDL; speed columns empty).
   Yardsticks: forward time of DnCNN-17 (64 channels, random weights, 1-channel input, inference mode) on
   the image size, and peak RSS of an AGDL decode in a fresh process (both once per image size).

BD-rate and BD-PSNR (Bjøntegaard: cubic fit in log-rate, integrated over the overlapping range; degree n-1
with fewer than 4 points) of every codec against JPEG, on the mean curves over the images, for PSNR-Y,
ROI-PSNR-Y, MS-SSIM (dB) and ROI MS-SSIM (dB) (BD-MS-SSIM = the mean MS-SSIM-dB gain at equal rate).

Outputs in ``--out`` (default ``bench_out/``): ``rows.csv`` (one row per image x point x codec),
``aggregate.csv``, ``results.json`` (meta, notes, aggregate, bd, speed, images, rows), ``report.txt`` (the
stdout tables) and RD plots ``rd1_roi_psnr_y.png`` (with masks), ``rd*_psnr_y.png``, ``rd*_ms_ssim_db.png``,
``rd*_roi_ms_ssim_db.png``, ``rd_all.png``; with ``--html``, ``index.html``: the plots and side-by-side
crops of the run's best and worst image for AGDL (:mod:`agdl_plugins.apps.bench.html`). Missing peers
(pyjpegli, pillow-jxl-plugin) or matplotlib are skipped with a note.
``--quick``: 3 images, points q=20,40, 1 repeat (explicit options win). Same inputs give the same numbers
except times. Exit code 0, 1 when a codec failed on some image (outputs still written), 2 on usage errors.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

from agdl_plugins.apps.bench.codecs import ALL_CODECS
from agdl_plugins.apps.cli_args import add_encode_arguments, encode_options

RATE_OPTIONS = ("quality", "target_bpp")  # the bench's rate points set these (--agdl-points, --bpp)

DEFAULT_POINTS = "q=10,20,30,50"
QUICK_POINTS = "q=20,40"
QUICK_IMAGES = 3


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="agdl bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Details: python -c 'import agdl_plugins.apps.bench as b; help(b)'")
    p.add_argument("images", type=Path, help="folder of images")
    m = p.add_mutually_exclusive_group()
    m.add_argument("--masks", type=Path, help="folder of ROI masks, same stems (default IMAGES/../masks)")
    m.add_argument("--no-masks", action="store_true", help="ignore masks even if ../masks exists")
    p.add_argument("--limit", type=int, help="first N images (sorted by name)")
    p.add_argument("--quick", action="store_true", help="3 images, 2 rate points, 1 repeat")
    p.add_argument("--out", type=Path, default=Path("bench_out"), help="output folder (default bench_out/)")
    p.add_argument("--codecs", default=",".join(ALL_CODECS), help=f"comma list from {','.join(ALL_CODECS)}")
    r = p.add_mutually_exclusive_group()
    r.add_argument("--agdl-points", dest="points", help=f"AGDL base qualities, e.g. {DEFAULT_POINTS}")
    r.add_argument("--bpp", help="AGDL target bits per pixel, e.g. 0.3,0.5,0.75,1.0")
    p.add_argument("--repeats", type=int,
                   help="timing repeats, median taken (default 3, --quick 1; 0 = no timing, quality only)")
    # every encoder option but the rate points' (quality, target_bpp), generated from EncodeOptions
    add_encode_arguments(p, exclude=RATE_OPTIONS + ("roi",))
    p.add_argument("--roi", choices=["mask", "box"], default=None,
                   help="give every AGDL encode the image's ground-truth mask (mask) or its bounding box (box) as "
                   "roi= (issue 27; needs masks); the peers get nothing")
    p.add_argument("--anchor", default="jpeg", help="BD-rate/BD-PSNR anchor codec (default jpeg; e.g. avif)")
    p.add_argument("--threads", type=int, help="torch threads for AGDL and DnCNN (default: torch's, = cores)")
    p.add_argument("--tolerance", type=float, default=0.02, help="rate-match tolerance (default 0.02)")
    p.add_argument("--grid-shift", choices=["auto", "always", "never"], default="auto",
                   help="drop 4 rows/cols at top-left: auto = JPEG sources only")
    p.add_argument("--no-dncnn", dest="dncnn", action="store_false", help="skip the DnCNN-17 yardstick")
    p.add_argument("--no-rss", dest="rss", action="store_false", help="skip the decode peak-RSS subprocess")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument("--html", action="store_true",
                   help="also write OUT/index.html: the plots and side-by-side crops of the best and worst image")
    return p


def _points(a: argparse.Namespace):
    from agdl_plugins.apps.bench.runner import Point

    if a.bpp:
        vals = sorted({float(v) for v in a.bpp.split(",") if v.strip()})
        if not vals or any(not 0 < v <= 24 for v in vals):
            raise ValueError(f"--bpp values must be in (0, 24], got {a.bpp!r}")
        return [Point(f"{v:g}bpp", bpp=v) for v in vals]
    spec = a.points or (QUICK_POINTS if a.quick else DEFAULT_POINTS)
    spec = spec.split("=", 1)[1] if spec.strip().lower().startswith("q=") else spec
    vals = sorted({int(v) for v in spec.split(",") if v.strip()})
    if not vals or any(not 1 <= v <= 100 for v in vals):
        raise ValueError(f"--agdl-points qualities must be integers in 1..100, got {a.points!r}")
    return [Point(f"q{v}", quality=v) for v in vals]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit code (0 ok, 1 a codec failed somewhere, 2 usage error)."""
    try:
        a = _parser().parse_args(argv)
    except SystemExit as e:  # --help (0) or an argparse usage error (2): return it, do not raise
        return int(e.code or 0) if isinstance(e.code, int | None) else 2
    try:
        from agdl_plugins.apps.bench import report
        from agdl_plugins.apps.bench.runner import Config, run
        from agdl_plugins.options import validate_encode_options

        points = _points(a)
        agdl_options = encode_options(a, exclude=RATE_OPTIONS + ("device", "roi"))
        a.device = a.device or "auto"
        validate_encode_options(**agdl_options, device=a.device)
        if a.no_masks:
            masks = None
        elif a.masks is not None:
            if not a.masks.is_dir():
                raise FileNotFoundError(f"--masks {a.masks} is not a folder")
            masks = a.masks
        else:
            guess = a.images.resolve().parent / "masks"
            masks = guess if guess.is_dir() else None
        if a.roi is not None and masks is None:
            raise ValueError("--roi mask/box gives AGDL the ground-truth mask: it needs masks (--masks DIR)")
        limit = a.limit if a.limit is not None else (QUICK_IMAGES if a.quick else None)
        if limit is not None and limit < 1:
            raise ValueError("--limit must be >= 1")
        repeats = a.repeats if a.repeats is not None else (1 if a.quick else 3)
        if repeats < 0:
            raise ValueError("--repeats must be >= 0")
        if not 0 < a.tolerance < 1:
            raise ValueError("--tolerance must be in (0, 1)")
        codecs = [c.strip() for c in a.codecs.split(",") if c.strip()]
        if a.threads is not None:
            if a.threads < 1:
                raise ValueError("--threads must be >= 1")
            import torch

            torch.set_num_threads(a.threads)
        cfg = Config(images=a.images, masks=masks, out=a.out, codecs=codecs, points=points, limit=limit,
                     repeats=repeats, device=a.device, agdl_options=agdl_options, tolerance=a.tolerance,
                     grid_shift=a.grid_shift, dncnn=a.dncnn, rss=a.rss, progress=a.progress, agdl_roi=a.roi)
        res = run(cfg)
    except (ValueError, FileNotFoundError) as e:
        print(f"agdl bench: error: {e}", file=sys.stderr)
        return 2

    import torch

    import agdl_plugins

    names = [c.name for c in res.codecs]
    labels = [p.label for p in points]
    meta = {
        "command": "agdl bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "images": str(a.images), "masks": str(masks) if masks else None, "has_masks": masks is not None,
        "n_images": len(res.images), "points": labels, "codecs": names,
        "codec_descriptions": {c.name: c.description for c in res.codecs},
        "agdl_options": {k: v for k, v in agdl_options.items() if v is not None},
        "device": a.device, "agdl_roi": a.roi, "repeats": repeats, "tolerance": a.tolerance, "grid_shift": a.grid_shift,
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "cuda": torch.cuda.is_available()},
        "versions": _versions(), "agdl_version": agdl_plugins.__version__,
    }
    agg = report.aggregate(res.rows, names, labels)
    bd = report.bd_table(agg, names, anchor=a.anchor) if a.anchor in names else []
    speed = report.speed_summary(res.rows, names)
    notes = list(res.notes)
    if len(labels) < 4:
        notes.append(f"BD fit with {len(labels)} points: polynomial degree {max(0, min(3, len(labels) - 1))} "
                     "(the standard cubic needs 4)")
    notes += report.ms_ssim_notes(res.images, res.rows)
    nan_bd = [b["codec"] for b in bd if any(v != v for k, v in b.items() if k.startswith("bd_rate_psnr"))]
    if nan_bd:
        notes.append(f"BD-rate undefined for {', '.join(nan_bd)}: its PSNR-Y range does not overlap JPEG's "
                     "(sweep more/wider points); BD-PSNR still applies")
    a.out.mkdir(parents=True, exist_ok=True)
    plots, why = report.plot(a.out, meta, agg, names) if agg else ([], "no rows to plot")
    if why:
        notes.append(why)
    text = report.format_report(meta, agg, bd, speed, res.images, notes)
    files = report.write_files(a.out, meta, res.rows, agg, bd, speed, res.images, notes, text)
    if a.html:
        from agdl_plugins.apps.bench.html import bench_page

        files.append(bench_page(a.out, meta, res.rows, plots, text, images=a.images, masks=masks,
                                grid_shift=a.grid_shift, points=points,
                                agdl_options={k: v for k, v in agdl_options.items() if v is not None},
                                device=a.device))
    print(text)
    print("\nwrote " + ", ".join(str(p) for p in files + plots))
    return 1 if res.errors else 0


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for d in ("pillow", "numpy", "torch", "kornia", "pytorch-msssim", "pyjpegli", "pillow-jxl-plugin",
              "matplotlib"):
        try:
            out[d] = metadata.version(d)
        except metadata.PackageNotFoundError:
            out[d] = "missing"
    from PIL import features

    for f in ("libjpeg_turbo", "webp", "avif", "jpg_2000"):
        try:
            out[f"pillow:{f}"] = str(features.version(f))
        except Exception:  # noqa: BLE001 - feature probing differs across Pillow versions
            out[f"pillow:{f}"] = "?"
    return out


__all__ = ["main"]
