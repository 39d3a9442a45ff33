"""The ``agdl`` command line: encode, decode, info, analyze, demo, compare (and bench, see ``agdl bench --help``)."""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from pathlib import Path

from agdl_plugins.apps.batch import atomic_write
from agdl_plugins.apps.cli_args import add_encode_arguments, encode_options
from agdl_plugins.errors import AgdlFormatError

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def _expand(patterns: list[str]) -> list[Path]:
    out: list[Path] = []
    for p in patterns:
        hits = sorted(glob.glob(p, recursive=True)) if any(ch in p for ch in "*?[") else [p]
        if not hits:
            raise FileNotFoundError(f"no file matches {p!r}")
        out += [Path(h) for h in hits]
    return out


def _refuse_folders(files: list[Path], pattern: str) -> None:
    """``ValueError`` for a folder among the inputs, with the glob that would name the files in it."""
    for f in files:
        if f.is_dir():
            raise ValueError(f"{f} is a folder; to process the files in it pass a quoted glob such as "
                             f"'{f}/{pattern}' (or '{f}/**/{pattern}' for its sub-folders too)")


def _plan(files: list[Path], output: str | None, suffix: str) -> list[tuple[Path, Path]]:
    """(input, output) pairs, checked before any work: no input is a folder, no two inputs write one file.

    No ``-o``: each output sits next to its input. ``-o FOLDER`` (several inputs, an existing folder or a
    trailing separator): outputs keep the inputs' sub-folders below their common parent, so ``'in/*/x.png'``
    gives ``FOLDER/a/x.agdl``, ``FOLDER/b/x.agdl`` (never one overwriting the other). ``-o FILE``: one input.

    Raises:
        ValueError: a folder given as input, several inputs with a file name as ``-o``, a missing output
            folder, or two inputs that would write the same output (e.g. ``x.png`` and ``x.jpg``).
    """
    _refuse_folders(files, "*.png")
    if output is None:
        pairs = [(f, f.with_suffix(suffix)) for f in files]
    else:
        o = Path(output)
        if len(files) > 1 or o.is_dir() or output.endswith(("/", os.sep)):
            if o.exists() and not o.is_dir():
                raise ValueError(f"-o {output}: {len(files)} inputs need an output folder, and {output} is a file")
            if len(files) > 1 and not o.exists() and o.suffix:
                raise ValueError(f"-o {output}: {len(files)} inputs need an output folder, not a file name; "
                                 f"write '-o {o.with_suffix('')}/' (created if missing)")
            parents = [f.resolve().parent for f in files]
            root = Path(os.path.commonpath(parents))
            pairs = [(f, o / p.relative_to(root) / (f.stem + suffix)) for f, p in zip(files, parents, strict=True)]
        else:
            if not o.parent.is_dir():
                raise ValueError(f"-o {output}: the folder {o.parent} does not exist")
            pairs = [(files[0], o)]
    seen: dict[Path, Path] = {}
    for src, dst in pairs:
        key = dst.resolve()
        if key == src.resolve():
            raise ValueError(f"{src} would be overwritten by its own output; give -o")
        if key in seen:
            raise ValueError(f"{seen[key]} and {src} would both write {dst}; rename one, or give them separate "
                             "folders (outputs keep the inputs' sub-folders below -o)")
        seen[key] = src
    return pairs


def _make_folders(pairs: list[tuple[Path, Path]]) -> None:
    for parent in sorted({dst.parent for _, dst in pairs}):
        parent.mkdir(parents=True, exist_ok=True)


ENCODE_SUFFIXES = (".agdl", ".jpg", ".jpeg")


def _check_encode_output(pairs: list[tuple[Path, Path]], container: str) -> None:
    """Encode writes ``.agdl`` (AGDL files) or ``.jpg``/``.jpeg`` (a plain JPEG base layer, or AGDL inside
    JPEG with ``--container jpeg``): any other name would hold bytes its suffix does not describe."""
    for _, dst in pairs:
        sfx = dst.suffix.lower()
        if sfx not in ENCODE_SUFFIXES:
            raise ValueError(f"-o {dst}: encode writes .agdl files, or .jpg/.jpeg (a plain JPEG of the base layer; "
                             "AGDL inside JPEG with --container jpeg); decode to get a .png")
        if container == "jpeg" and sfx == ".agdl":
            raise ValueError(f"-o {dst}: --container jpeg writes a standard JPEG; name it .jpg or .jpeg (under a "
                             ".agdl name, Pillow and imageio would read it as something it is not)")


def _check_decode_output(pairs: list[tuple[Path, Path]]) -> None:
    from PIL import Image

    exts = Image.registered_extensions()
    for _, dst in pairs:
        fmt = exts.get(dst.suffix.lower())
        if fmt is None or fmt not in Image.SAVE:
            writable = sorted(e.lstrip(".") for e, f in exts.items() if f in Image.SAVE and f != "AGDL")
            raise ValueError(f"{dst}: Pillow cannot write {dst.suffix or 'files without a suffix'!r}; "
                             f"use one of {', '.join(writable)}")


_atomic_write = atomic_write  # temporary file + os.replace (agdl_plugins.apps.batch)


def _progress(items, desc: str, quiet: bool):
    if quiet or len(items) < 2:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="img", file=sys.stderr)


def _add_batch_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("batch work (many inputs)")
    g.add_argument("--workers", type=int, default=1,
                   help="processes on this machine (default 1: one file after another in this process); with "
                   "--engine ray and no --address, the CPUs of the local Ray instance")
    g.add_argument("--threads", type=int, default=None,
                   help="torch threads per worker (default: CPUs // workers; torch's default with --workers 1; "
                   "1 on Ray). Encodes with equal --threads give identical bytes on any engine")
    g.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local (process pool, default) or ray (needs pip install 'agdl[ray]')")
    g.add_argument("--address", default=None,
                   help="Ray cluster address (default: start a local Ray instance); inputs and outputs must be "
                   "paths every node can reach")
    g.add_argument("--gpus-per-worker", dest="gpus_per_worker", type=float, default=1.0,
                   help="Ray: GPUs per actor when the cluster has GPUs (e.g. 0.5 puts two actors on a GPU)")


def _results(kind: str, a: argparse.Namespace, pairs: list[tuple[Path, Path]], opts: dict):
    """The per-file results of ``kind`` jobs on the engine the options name (serial, process pool, Ray)."""
    from agdl_plugins.apps import batch

    if a.workers < 1 or (a.threads is not None and a.threads < 1) or a.gpus_per_worker <= 0:
        raise ValueError("--workers and --threads must be >= 1 and --gpus-per-worker > 0")
    if a.engine == "ray":
        try:
            from agdl_plugins.apps import ray as agdl_ray
        except ImportError as e:
            raise ValueError(f"--engine ray needs Ray (pip install 'agdl[ray]'): {e}") from e
        local = {} if a.address else {"num_cpus": a.workers if a.workers > 1 else None, "include_dashboard": False}
        started = agdl_ray.init(a.address, logging_level="warning", **local) is not None
        try:
            yield from agdl_ray.run_files(kind, pairs, opts, threads=a.threads or 1,
                                          gpus_per_worker=a.gpus_per_worker)
        finally:
            if started:
                agdl_ray.ray.shutdown()
    elif a.workers > 1 and len(pairs) > 1:
        yield from batch.run_pool(kind, pairs, opts, a.workers, a.threads)
    else:
        yield from batch.run_serial(kind, pairs, opts, a.threads)


def _run(kind: str, a: argparse.Namespace, pairs: list[tuple[Path, Path]], opts: dict) -> int:
    """Run the batch; report failures per file on stderr; the progress bar counts files on every worker."""
    bar = None
    if not a.quiet and len(pairs) > 1:
        from tqdm import tqdm

        bar = tqdm(total=len(pairs), desc=kind, unit="img", file=sys.stderr)
    failures = 0
    for r in _results(kind, a, pairs, opts):
        if bar is not None:
            bar.update(1)
        if not r.ok:
            failures += 1
            msg = f"agdl: {r.src}: {r.error}"
            bar.write(msg, file=sys.stderr) if bar is not None else print(msg, file=sys.stderr)
        elif not a.quiet and len(pairs) == 1:
            if kind == "encode":
                print(f"{r.src} -> {r.dst}: {r.nbytes} bytes, {8 * r.nbytes / r.pixels:.3f} bpp")
            else:
                print(f"{r.src} -> {r.dst}: {r.width}x{r.height} {r.mode}")
    if bar is not None:
        bar.close()
    return EXIT_ERROR if failures else EXIT_OK


def cmd_encode(a: argparse.Namespace) -> int:
    from agdl_plugins.codec.encoder import check_parts
    from agdl_plugins.options import validate_encode_options
    from agdl_plugins.parts.registry import get_registry

    opts = encode_options(a)
    valid = validate_encode_options(**opts)
    check_parts(valid, get_registry())  # one usage error before any file
    if a.roi_dir is not None:
        if not Path(a.roi_dir).is_dir():
            raise ValueError(f"--roi-dir {a.roi_dir}: not a folder")
        opts["roi_dir"] = a.roi_dir  # batch.encode_file reads the mask named after each input
    files = _expand(a.inputs)
    suffix = ".jpg" if valid.container == "jpeg" else ".agdl"
    pairs = _plan(files, a.output, suffix)
    _check_encode_output(pairs, valid.container)
    _make_folders(pairs)
    return _run("encode", a, pairs, opts)


def cmd_decode(a: argparse.Namespace) -> int:
    from agdl_plugins.options import validate_projection
    from agdl_plugins.parts.engine import resolve_device

    resolve_device(a.device)
    validate_projection(a.projection)
    files = _expand(a.inputs)
    suffix = "." + a.format.lower().lstrip(".")
    pairs = _plan(files, a.output, suffix)
    _check_decode_output(pairs)
    _make_folders(pairs)
    return _run("decode", a, pairs, {"device": a.device, "projection": a.projection, "base_only": a.base_only})


def cmd_info(a: argparse.Namespace) -> int:
    from agdl_plugins import api

    status = EXIT_OK
    files = _expand(a.inputs)
    _refuse_folders(files, "*.agdl")
    for src in files:
        try:
            info = api.read_info(src, max_pixels=None)
        except OSError as e:
            print(f"agdl: {src}: {e}", file=sys.stderr)
            status = EXIT_ERROR
            continue
        d = info.as_dict(roi_map=False)
        d = {k: (f"<{len(v)} bytes>" if isinstance(v, bytes) else v) for k, v in d.items()}
        if info.roi_record is not None:  # boxes as lists, a map as its pixel count and bounding box
            d["roi"] = info.roi_record.summary()
        d = {"file": str(src), "width": info.width, "height": info.height, "mode": info.mode, **d}
        px = info.width * info.height
        d["total_bpp"] = round(8 * info.layer_bytes["total"] / px, 4)
        # the encoder's decision (rate-distortion optimised unless the user fixed it)
        d["decision"] = (f"base quality {info.quality}, refinement on {info.n_critical / px:.2%} of pixels "
                         f"(N={info.n_critical}, M={info.n_measurements}, step {info.step:.3g}); "
                         f"base {info.layer_bytes['base']} B + refinement {info.layer_bytes['refinement']} B")
        if a.json:
            print(json.dumps(d))
        else:
            for k, v in d.items():
                print(f"{k:>24}: {v}")
            print()
    return status


def cmd_analyze(a: argparse.Namespace) -> int:
    """NAME.saliency.png (8-bit), NAME.critical.png (0/255) and NAME.boxes.json per file; G never runs."""
    import io

    import numpy as np
    from PIL import Image

    from agdl_plugins import api
    from agdl_plugins.parts.engine import resolve_device

    resolve_device(a.device)
    files = _expand(a.inputs)
    _refuse_folders(files, "*.agdl")
    outdir = Path(a.output) if a.output else None
    if outdir is not None:
        outdir.mkdir(parents=True, exist_ok=True)
    failures = 0
    for src in _progress(files, "analyze", a.quiet):
        try:
            res = api.analyze(src, device=a.device)
            stem = (outdir if outdir is not None else src.parent) / src.stem
            written = []
            if res.saliency is not None:
                buf = io.BytesIO()
                Image.fromarray(np.round(res.saliency * 255.0).astype(np.uint8), "L").save(buf, format="PNG")
                _atomic_write(Path(f"{stem}.saliency.png"), buf.getvalue())
                written.append(f"{stem}.saliency.png")
            buf = io.BytesIO()
            Image.fromarray(res.critical.astype(np.uint8) * 255, "L").save(buf, format="PNG")
            _atomic_write(Path(f"{stem}.critical.png"), buf.getvalue())
            written.append(f"{stem}.critical.png")
            summary = {"file": str(src), **res.summary()}
            _atomic_write(Path(f"{stem}.boxes.json"), (json.dumps(summary, indent=1) + "\n").encode())
            written.append(f"{stem}.boxes.json")
            if not a.quiet and len(files) == 1:
                print(f"{src} -> {', '.join(written)}")
                for note in res.notes:
                    print(f"  note: {note}")
        except (OSError, ValueError) as e:
            failures += 1
            print(f"agdl: {src}: {e}", file=sys.stderr)
    return EXIT_ERROR if failures else EXIT_OK


def cmd_options(a: argparse.Namespace) -> int:
    """Print the encoder options: ``--markdown`` gives docs/OPTIONS.md, else one line each."""
    from dataclasses import fields

    from agdl_plugins.apps.cli_args import flag
    from agdl_plugins.options import EncodeOptions, options_markdown

    if a.markdown:
        print(options_markdown(), end="")
        return EXIT_OK
    for f in fields(EncodeOptions):
        print(f"{f.name:<18} {flag(f.name):<20} default {f.default!r:<8} {f.metadata['help']}")
    return EXIT_OK


def cmd_compare(a: argparse.Namespace) -> int:
    """AGDL and its peers at AGDL's bytes on one image: DIR/index.html (agdl_plugins.apps.bench.html)."""
    from agdl_plugins.apps.bench.compare import compare_image
    from agdl_plugins.apps.bench.html import browser_check, write_page
    from agdl_plugins.apps.bench.runner import load_image

    src = Path(a.image)
    if not src.is_file():
        raise FileNotFoundError(f"{src} is not a file")
    if a.roi is not None and not Path(a.roi).is_file():
        raise FileNotFoundError(f"--roi {a.roi} is not a file")
    if a.bpp is not None and a.quality is not None:
        raise ValueError("give --bpp or --quality, not both")
    bpp = a.bpp if a.bpp is not None or a.quality is not None else 0.5
    rgb, roi, facts = load_image(src, Path(a.roi) if a.roi else None, a.grid_shift)
    peers = [p.strip() for p in a.peers.split(",") if p.strip()]
    c = compare_image(rgb, roi, bpp=bpp, quality=a.quality, peers=peers, device=a.device, name=src.name)
    c.notes[:0] = facts["notes"] + ([f"grid shift: the first {facts['grid_shift']} rows and columns dropped (JPEG "
                                     "source, as agdl bench does)"] if facts["grid_shift"] else [])
    out = Path(a.output)
    page = write_page(out, [(c, f"{src.name} at {c.rate}")], f"AGDL vs {', '.join(peers)}: {src.name}")
    print(f"{src} -> {page}")
    for e in c.entries[1:]:
        m = e.metrics
        print(f"  {e.name:6s} {e.nbytes:8d} B  {m['bpp']:.3f} bpp  PSNR-Y {m['psnr_y']:.2f}  ROI-Y "
              f"{m['roi_psnr_y']:.2f}  MS-SSIM {m['ms_ssim']:.4f}  ROI MS-SSIM {m['roi_ms_ssim']:.4f}")
    if a.screenshot:
        res = browser_check(page, out / "screenshot.png")
        print(f"  {out / 'screenshot.png'}: {res['selftest']}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["bench"]:  # the benchmark has its own parser (options may precede the folder)
        from agdl_plugins.apps.bench import main as bench_main

        return int(bench_main(args[1:]) or 0)
    p = argparse.ArgumentParser(prog="agdl", description="AGDL attention-guided dual-layer image codec")
    sub = p.add_subparsers(dest="cmd", required=True)

    e = sub.add_parser("encode", help="encode images (files or globs) to .agdl")
    e.add_argument("inputs", nargs="+", help="input images or globs (quote globs)")
    e.add_argument("-o", "--output", help="output file (one input) or folder")
    e.add_argument("-q", "--quiet", action="store_true")
    add_encode_arguments(e, roi_dir=True)
    _add_batch_options(e)
    e.set_defaults(func=cmd_encode)

    d = sub.add_parser("decode", help="decode .agdl files (and .jpg files with AGDL segments) to PNG (or --format)")
    d.add_argument("inputs", nargs="+")
    d.add_argument("-o", "--output", help="output file (one input) or folder")
    d.add_argument("--format", default="png", help="output extension: png, tiff, bmp, ... (default png)")
    d.add_argument("--projection", choices=["equality", "box"], help="CS projection (default equality)")
    d.add_argument(
        "--base-only", dest="base_only", action="store_true", help="base layer only (fast preview)"
    )
    d.add_argument("--device", default="auto")
    d.add_argument("-q", "--quiet", action="store_true")
    _add_batch_options(d)
    d.set_defaults(func=cmd_decode)

    i = sub.add_parser("info", help="print the header and each layer's size")
    i.add_argument("inputs", nargs="+")
    i.add_argument("--json", action="store_true", help="one JSON object per file")
    i.set_defaults(func=cmd_info)

    n = sub.add_parser(
        "analyze",
        help="saliency map, critical pixels and ROI boxes from the compressed stream (no full decode)",
        description="Writes NAME.saliency.png (8-bit; absent when the file's predictor has no saliency head), "
        "NAME.critical.png (0/255) and NAME.boxes.json (connected regions with saliency >= 0.5: x0, y0, "
        "x1, y1 exclusive, area, mean_saliency) per file. Only the base layer and network F run.",
    )
    n.add_argument("inputs", nargs="+", help=".agdl files or globs (quote globs)")
    n.add_argument("-o", "--output", help="output folder (default: next to each input)")
    n.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    n.add_argument("-q", "--quiet", action="store_true")
    n.set_defaults(func=cmd_analyze)

    m = sub.add_parser(
        "demo", help="encode + decode a real photo, print sizes/bpp/PSNR, write a side-by-side PNG"
    )
    m.add_argument("--image", help="input photo (default: scikit-image's public-domain 'astronaut')")
    m.add_argument("-o", "--output", default="agdl_demo.png", help="side-by-side PNG (default agdl_demo.png)")
    add_encode_arguments(m)
    m.set_defaults(func=lambda a: __import__("agdl_plugins.apps.demo", fromlist=["run"]).run(a))

    o = sub.add_parser("options", help="list the encoder options (name, default, meaning)")
    o.add_argument("--markdown", action="store_true", help="as the Markdown table of docs/OPTIONS.md")
    o.set_defaults(func=cmd_options)

    c = sub.add_parser(
        "compare", help="AGDL next to JPEG/WebP/AVIF at AGDL's bytes on one image: a self-contained HTML page",
        description="Encodes IMAGE with AGDL (rate control to --bpp, or base --quality), bisects each peer to "
        "AGDL's bytes as agdl bench does, and writes DIR/index.html: crops of the ROI and of the background "
        "(chosen automatically), the whole image, AGDL's critical pixels and ROI as overlays, bytes / PSNR / "
        "ROI-PSNR / MS-SSIM under each, and a viewer to flick between two codecs. No network fetches.",
    )
    c.add_argument("image", help="input image")
    c.add_argument("-o", "--output", required=True, help="output folder (index.html is written there)")
    c.add_argument("--bpp", type=float, help="AGDL target bits per pixel (default 0.5)")
    c.add_argument("--quality", type=int, help="AGDL base quality instead of --bpp")
    c.add_argument("--roi", help="ROI mask (white = ROI, >= 128), same size as the image: ROI metrics, ROI crop")
    c.add_argument("--peers", default="jpeg,webp,avif", help="codecs matched to AGDL's bytes (default jpeg,webp,avif)")
    c.add_argument("--grid-shift", choices=["auto", "always", "never"], default="auto",
                   help="drop 4 rows/cols at the top-left: auto = JPEG sources only (as agdl bench)")
    c.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    c.add_argument("--screenshot", action="store_true",
                   help="also render the page in headless Chromium: DIR/screenshot.png and a self-check")
    c.set_defaults(func=cmd_compare)

    b = sub.add_parser(
        "bench", help="rate-distortion/speed benchmark (see agdl bench --help)", add_help=False
    )
    b.add_argument("rest", nargs=argparse.REMAINDER)
    b.set_defaults(func=lambda a: __import__("agdl_plugins.apps.bench", fromlist=["main"]).main(a.rest))

    a = p.parse_args(args)
    try:
        return int(a.func(a) or 0)
    except (FileNotFoundError, AgdlFormatError, ValueError) as ex:
        print(f"agdl: error: {ex}", file=sys.stderr)
        return EXIT_USAGE if isinstance(ex, ValueError) else EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
