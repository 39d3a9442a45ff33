"""The benchmark loop: images x rate points x codecs -> one row each (rate, quality, speed)."""

from __future__ import annotations

import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from agdl_plugins.apps.bench import metrics as M
from agdl_plugins.apps.bench.codecs import AgdlCodec, Codec, build_codecs
from agdl_plugins.apps.bench.ratematch import TOLERANCE, Match, match_bytes
from agdl_plugins.errors import RateUnreachableError

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm"}
GRID_SHIFT = 4  # rows and columns dropped at the top-left of JPEG sources


@dataclass
class Point:
    label: str
    quality: int | None = None
    bpp: float | None = None


@dataclass
class Config:
    images: Path
    masks: Path | None
    out: Path
    codecs: list[str]
    points: list[Point]
    limit: int | None = None
    repeats: int = 3
    device: str = "auto"
    agdl_options: dict[str, Any] = field(default_factory=dict)
    tolerance: float = TOLERANCE
    grid_shift: str = "auto"  # auto | always | never
    dncnn: bool = True
    rss: bool = True
    progress: bool = True
    #: "mask" / "box": every AGDL encode gets the image's ground-truth mask / its bounding box as roi= (issue 27)
    agdl_roi: str | None = None


def agdl_roi(roi: np.ndarray | None, kind: str | None) -> Any:
    """The ``roi=`` the AGDL encodes get for an image whose ground-truth mask is ``roi`` ((H, W) bool, after the
    grid shift): the mask, its bounding box as one box, or None (no ``kind``, no mask, or an empty mask)."""
    if kind is None or roi is None or not roi.any():
        return None
    if kind == "mask":
        return roi
    ys, xs = np.nonzero(roi)
    return [(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)]


@dataclass
class Result:
    rows: list[dict[str, Any]]
    images: list[dict[str, Any]]
    notes: list[str]
    codecs: list[Codec]
    errors: int = 0


def list_images(folder: Path, limit: int | None) -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS and p.is_file())
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(sorted(IMAGE_EXTS))}) in {folder}")
    return files[:limit] if limit else files


def find_mask(masks: Path | None, stem: str) -> Path | None:
    if masks is None:
        return None
    for ext in (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".webp"):
        p = masks / (stem + ext)
        if p.is_file():
            return p
    return None


def load_image(path: Path, mask_path: Path | None, grid_shift: str) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """(RGB uint8, ROI bool or None, facts). JPEG sources lose 4 rows and columns at the top-left (grid
    shift) so peers do not re-encode on the original 8x8 grid; the mask is cropped the same way."""
    notes = []
    with Image.open(path) as im:
        fmt = im.format
        rgb = np.asarray(im.convert("RGB"))
    shift = grid_shift == "always" or (grid_shift == "auto" and fmt == "JPEG")
    roi = None
    if mask_path is not None:
        with Image.open(mask_path) as mk:
            m = mk.convert("L")
            if m.size != (rgb.shape[1], rgb.shape[0]):
                notes.append(f"mask {m.size} resized (nearest) to {rgb.shape[1]}x{rgb.shape[0]}")
                m = m.resize((rgb.shape[1], rgb.shape[0]), Image.Resampling.NEAREST)
            roi = np.asarray(m) >= 128
    if shift:
        rgb = rgb[GRID_SHIFT:, GRID_SHIFT:]
        roi = roi[GRID_SHIFT:, GRID_SHIFT:] if roi is not None else None
    rgb = np.ascontiguousarray(rgb)
    facts = {"source_format": fmt, "grid_shift": GRID_SHIFT if shift else 0, "notes": notes}
    return rgb, roi, facts


def _median_ms(fn, repeats: int) -> float:
    """Median wall time in ms of ``repeats`` calls of ``fn``; NaN without calling it when ``repeats`` is 0
    (timing skipped: ``--repeats 0``)."""
    if repeats == 0:
        return float("nan")
    times = []
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def _nan_row_metrics() -> dict[str, float]:
    keys = ("psnr_y", "psnr_rgb", "roi_psnr_y", "roi_psnr_rgb", "edge_psnr_y", "edge_psnr_rgb", "ssim",
            "ms_ssim", "ms_ssim_db", "roi_ms_ssim", "roi_ms_ssim_db")
    return {k: float("nan") for k in keys}


def _agdl_facts(data: bytes) -> dict[str, Any]:
    import agdl_plugins as agdl

    i = agdl.read_info(data)
    return {"agdl_base": i.base_codec, "agdl_quality": i.quality, "agdl_step": i.step, "agdl_predictor": i.predictor,
            "agdl_restorer": i.restorer, "agdl_n_critical": i.n_critical, "agdl_n_measurements": i.n_measurements,
            "agdl_base_bytes": i.layer_bytes.get("base"), "agdl_refinement_bytes": i.layer_bytes.get("refinement"),
            "agdl_roi_bytes": i.layer_bytes.get("roi", 0)}


def _uses_auto_budget(codec: Codec) -> bool:
    """An AGDL variant whose refinement budget is left to the encoder (critical_fraction unset)."""
    return isinstance(codec, AgdlCodec) and codec.options.get("critical_fraction") is None


def match_peer(codec: Codec, rgb: np.ndarray, target: int, ref_quality: int | None,
               tolerance: float = TOLERANCE) -> Match:
    """``codec`` bisected on its knob to ``target`` bytes on the (H, W, 3) uint8 image ``rgb`` (the rate
    matching of every peer row; ``ref_quality`` = the AGDL file's base quality, a first guess for some)."""
    h, w = rgb.shape[:2]
    return match_bytes(lambda k: codec.encode(rgb, k), target, codec.lo, codec.hi, integer=codec.integer,
                       log=codec.log, guess=codec.guess(target, h * w, ref_quality), tolerance=tolerance)


def run(cfg: Config) -> Result:
    files = list_images(cfg.images, cfg.limit)
    agdl_opts = {k: v for k, v in cfg.agdl_options.items() if v is not None}
    codecs, notes = build_codecs(cfg.codecs, agdl_opts, cfg.device)
    if cfg.masks is None:
        notes.append("no masks: ROI-PSNR not measured")
    notes.append(f"SSIM/MS-SSIM: {M.ssim_backend()}")
    if cfg.repeats == 0:
        notes.append("timing skipped (--repeats 0): speed columns are not measured")
    ref_codec = codecs[0]
    assert isinstance(ref_codec, AgdlCodec) and ref_codec.name == "agdl"

    from tqdm import tqdm

    bar = tqdm(total=len(files) * len(cfg.points) * len(codecs), desc="agdl bench", unit="enc",
               file=sys.stderr, disable=not cfg.progress, dynamic_ncols=True)
    rows: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []
    dncnn_model = None
    dncnn_cache: dict[tuple[int, int], float] = {}
    rss_cache: dict[tuple[int, int], dict] = {}
    errors = 0
    for path in files:
        mask_path = find_mask(cfg.masks, path.stem)
        rgb, roi, facts = load_image(path, mask_path, cfg.grid_shift)
        h, w = rgb.shape[:2]
        px = h * w
        if cfg.masks is not None and mask_path is None:
            facts["notes"].append("no mask with this stem: ROI metrics NaN")
        ref = M.make_reference(rgb, roi)
        for c in codecs:
            if isinstance(c, AgdlCodec):
                c.roi = agdl_roi(roi, cfg.agdl_roi)
        img_rec: dict[str, Any] = {
            "image": path.name, "width": w, "height": h, "pixels": px, **{k: facts[k] for k in
                                                                        ("source_format", "grid_shift")},
            "roi_fraction": float(roi.mean()) if roi is not None else float("nan"),
            "edge_fraction": float(ref.edge.mean()), "notes": facts["notes"],
        }
        if cfg.dncnn:
            if (h, w) not in dncnn_cache:
                import torch

                if dncnn_model is None:
                    dncnn_model = M.build_dncnn()
                dev = "cuda" if cfg.device.startswith("cuda") or (cfg.device == "auto" and
                                                                   torch.cuda.is_available()) else "cpu"
                dncnn_cache[(h, w)] = M.time_dncnn(dncnn_model, h, w, cfg.repeats, dev)
            img_rec["dncnn_ms"] = dncnn_cache[(h, w)]
            img_rec["dncnn_mps"] = px / 1e6 / (dncnn_cache[(h, w)] / 1000)
        point_rows_all = []
        for pi, pt in enumerate(cfg.points):
            bar.set_postfix_str(f"{path.stem} {pt.label} agdl")
            # the reference: AGDL with default parts at this point
            if pt.bpp is not None:
                def ref_encode(pt=pt, x=rgb):
                    return ref_codec.encode(x, None, target_bpp=pt.bpp)
            else:
                def ref_encode(pt=pt, x=rgb):
                    return ref_codec.encode(x, pt.quality)
            try:
                ref_data = ref_encode()  # untimed: the first call pays lazy imports and model loading
            except Exception as e:  # this image cannot be coded at this point: skip it there, keep the run
                unreachable = isinstance(e, RateUnreachableError)
                errors += not unreachable
                msg = f"{pt.label} skipped ({'unreachable rate' if unreachable else 'AGDL failed'}): {e}"
                img_rec["notes"].append(msg)
                img_rec.setdefault("skipped_points", []).append(pt.label)
                print(f"agdl bench: {path.name} {msg}", file=sys.stderr)
                bar.update(len(codecs))
                continue
            ref_enc_ms = _median_ms(ref_encode, cfg.repeats)
            target = len(ref_data)
            ref_facts = _agdl_facts(ref_data)
            ref_q = ref_facts["agdl_quality"]
            point_rows = []
            for codec in codecs:
                bar.set_postfix_str(f"{path.stem} {pt.label} {codec.name}")
                row: dict[str, Any] = {
                    "image": path.name, "width": w, "height": h, "pixels": px, "point": pt.label,
                    "point_index": pi, "codec": codec.name, "knob_name": codec.knob, "target_bytes": target,
                    "grid_shift": facts["grid_shift"], "roi_fraction": img_rec["roi_fraction"], "error": "",
                }
                try:
                    if codec.name == "agdl" or codec.shares == "agdl":
                        data, knob, ratio, ok, evals, enc_ms = ref_data, ref_q, 1.0, True, 0, ref_enc_ms
                    elif pt.bpp is not None and _uses_auto_budget(codec):
                        # AGDL peers with a refinement layer: their own rate control (auto budget), as a user
                        # asking for these bytes would get; matching on quality alone would pin the budget
                        def peer(c=codec, x=rgb, tb=8 * target / px):
                            return c.encode(x, None, target_bpp=tb)

                        data = peer()
                        knob, ratio, evals = _agdl_facts(data)["agdl_quality"], len(data) / target, 1
                        ok = abs(ratio - 1) <= cfg.tolerance
                        enc_ms = _median_ms(peer, cfg.repeats)
                    else:
                        m = match_peer(codec, rgb, target, ref_q, cfg.tolerance)
                        data, knob, ratio, ok, evals = m.data, m.knob, m.ratio, m.ok, m.evals
                        enc_ms = _median_ms(lambda c=codec, k=knob, x=rgb: c.encode(x, k), cfg.repeats)
                    dec = codec.decode(data)  # untimed: warm-up + the image the metrics see
                    dec_ms = _median_ms(lambda c=codec, d=data: c.decode(d), cfg.repeats)
                    row.update({
                        "knob": float(knob), "bytes": len(data), "bytes_ratio": ratio, "rate_ok": bool(ok),
                        "match_evals": evals, "bpp": 8 * len(data) / px, **M.quality(ref, dec),
                        "enc_ms": enc_ms, "dec_ms": dec_ms, "enc_mps": px / 1e3 / enc_ms,
                        "dec_mps": px / 1e3 / dec_ms,
                    })
                    if codec.is_agdl:
                        row.update(_agdl_facts(data))
                except Exception as e:  # a failing codec must not sink the run
                    errors += 1
                    row.update({"knob": float("nan"), "bytes": 0, "bytes_ratio": float("nan"), "rate_ok": False,
                                "match_evals": 0, "bpp": float("nan"), **_nan_row_metrics(),
                                "enc_ms": float("nan"), "dec_ms": float("nan"), "enc_mps": float("nan"),
                                "dec_mps": float("nan"), "error": f"{type(e).__name__}: {e}"})
                    print(f"agdl bench: {path.name} {pt.label} {codec.name}: {row['error']}", file=sys.stderr)
                point_rows.append(row)
                bar.update(1)
            jpeg = next((r for r in point_rows if r["codec"] == "jpeg" and not r["error"]), None)
            for r in point_rows:
                for k in ("enc", "dec"):
                    r[f"{k}_vs_jpeg"] = (r[f"{k}_ms"] / jpeg[f"{k}_ms"]) if jpeg else float("nan")
                if cfg.dncnn:
                    r["dncnn_ms"] = img_rec["dncnn_ms"]
            point_rows_all.append(point_rows)
            rows.extend(point_rows)
        if cfg.rss and point_rows_all:
            # peak RSS of an AGDL decode, measured once per image size at the highest rate point
            if (h, w) not in rss_cache:
                last = point_rows_all[-1][0]
                try:
                    rss_cache[(h, w)] = {**M.decode_peak_rss(ref_data, cfg.device), "rss_point": last["point"],
                                         "rss_image": path.name}
                except Exception as e:
                    errors += 1
                    rss_cache[(h, w)] = {"rss_error": f"{type(e).__name__}: {e}"}
            img_rec.update(rss_cache[(h, w)])
        images.append(img_rec)
    bar.close()
    parts = {(r.get("agdl_predictor"), r.get("agdl_restorer")) for r in rows if r["codec"] == "agdl"}
    for pred, rest in sorted(parts, key=str):
        notes.append(f"AGDL parts of 'agdl' in this run: predictor {pred}, restorer {rest}")
        if rest == "identity" and pred == "edge-sobel":
            notes.append("'agdl' runs the baseline parts here (classical predictor, identity restorer): "
                         "agdl, agdl-identity and agdl-classical coincide")
    if cfg.dncnn and dncnn_cache:
        notes.append("DnCNN-17 (64 ch, 1-channel input, random weights) timed once per image size "
                     "(its cost does not depend on content)")
    if cfg.rss:
        notes.append("AGDL decode peak RSS measured in a fresh process once per image size, highest rate point")
    return Result(rows=rows, images=images, notes=notes, codecs=codecs, errors=errors)


def finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
