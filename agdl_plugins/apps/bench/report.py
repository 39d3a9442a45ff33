"""Aggregates, Bjøntegaard table, stdout tables, CSV/JSON files and RD plots of a benchmark run."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from agdl_plugins.apps.bench.ratematch import bd_fit_degree, bd_psnr, bd_rate

ROW_COLUMNS = [
    "image", "width", "height", "pixels", "grid_shift", "roi_fraction", "point", "point_index", "codec",
    "knob_name", "knob", "target_bytes", "bytes", "bytes_ratio", "rate_ok", "match_evals", "bpp",
    "psnr_y", "psnr_rgb", "roi_psnr_y", "roi_psnr_rgb", "edge_psnr_y", "edge_psnr_rgb", "ssim", "ms_ssim",
    "ms_ssim_db", "roi_ms_ssim", "roi_ms_ssim_db", "enc_ms", "dec_ms", "enc_mps", "dec_mps", "enc_vs_jpeg",
    "dec_vs_jpeg", "dncnn_ms",
    "agdl_base", "agdl_quality", "agdl_step", "agdl_predictor", "agdl_restorer", "agdl_n_critical",
    "agdl_n_measurements", "agdl_base_bytes", "agdl_refinement_bytes", "agdl_roi_bytes", "error",
]
MEAN_METRICS = ("bpp", "bytes_ratio", "psnr_y", "psnr_rgb", "roi_psnr_y", "roi_psnr_rgb", "edge_psnr_y",
                "edge_psnr_rgb", "ssim", "ms_ssim", "ms_ssim_db", "roi_ms_ssim", "roi_ms_ssim_db")
BD_METRICS = ("psnr_y", "roi_psnr_y", "ms_ssim_db", "roi_ms_ssim_db")
ROI_METRICS = ("roi_psnr_y", "roi_ms_ssim_db")
PLOT_METRICS = (("roi_psnr_y", "ROI PSNR-Y (dB)"), ("psnr_y", "PSNR-Y (dB)"), ("ms_ssim_db", "MS-SSIM (dB)"),
                ("roi_ms_ssim_db", "ROI MS-SSIM (dB)"))


def _f(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v


def _nanmean(xs: list[float]) -> float:
    a = np.array([_f(x) for x in xs], np.float64)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else float("nan")


def aggregate(rows: list[dict], codecs: list[str], points: list[str]) -> list[dict]:
    """Per (point, codec): means over images (PSNR averaged in dB, as CompressAI does), rate misses, and
    throughput = total megapixels / total median time; x JPEG = total time / JPEG's total on the same
    images."""
    out = []
    for p in points:
        jpeg = {r["image"]: r for r in rows if r["point"] == p and r["codec"] == "jpeg" and not r["error"]}
        for c in codecs:
            rs = [r for r in rows if r["point"] == p and r["codec"] == c]
            ok = [r for r in rs if not r["error"]]
            a: dict[str, Any] = {"point": p, "codec": c, "n_images": len(ok), "n_errors": len(rs) - len(ok)}
            for m in MEAN_METRICS:
                a[m] = _nanmean([r.get(m) for r in ok])  # runs before a metric existed: NaN
            a["rate_misses"] = sum(1 for r in ok if not r["rate_ok"])
            a["max_rate_error"] = max((abs(r["bytes_ratio"] - 1) for r in ok), default=float("nan"))
            mp = sum(r["pixels"] for r in ok) / 1e6
            for k in ("enc", "dec"):
                t = sum(_f(r[f"{k}_ms"]) for r in ok) / 1000
                a[f"{k}_ms_median"] = float(np.median([_f(r[f"{k}_ms"]) for r in ok])) if ok else float("nan")
                a[f"{k}_mps"] = mp / t if t > 0 else float("nan")
                both = [r for r in ok if r["image"] in jpeg]
                tj = sum(_f(jpeg[r["image"]][f"{k}_ms"]) for r in both)
                a[f"{k}_vs_jpeg"] = sum(_f(r[f"{k}_ms"]) for r in both) / tj if both and tj > 0 else float("nan")
            out.append(a)
    return out


def speed_summary(rows: list[dict], codecs: list[str]) -> list[dict]:
    """Per codec over all points and images."""
    out = []
    jrows = {(r["image"], r["point"]): r for r in rows if r["codec"] == "jpeg" and not r["error"]}
    for c in codecs:
        ok = [r for r in rows if r["codec"] == c and not r["error"]]
        mp = sum(r["pixels"] for r in ok) / 1e6
        s: dict[str, Any] = {"codec": c, "n": len(ok)}
        for k in ("enc", "dec"):
            t = sum(_f(r[f"{k}_ms"]) for r in ok) / 1000
            s[f"{k}_ms_median"] = float(np.median([_f(r[f"{k}_ms"]) for r in ok])) if ok else float("nan")
            s[f"{k}_mps"] = mp / t if t > 0 else float("nan")
            both = [r for r in ok if (r["image"], r["point"]) in jrows]
            tj = sum(_f(jrows[(r["image"], r["point"])][f"{k}_ms"]) for r in both)
            s[f"{k}_vs_jpeg"] = sum(_f(r[f"{k}_ms"]) for r in both) / tj if both and tj > 0 else float("nan")
        out.append(s)
    return out


def bd_table(agg: list[dict], codecs: list[str], anchor: str = "jpeg") -> list[dict]:
    """BD-rate (%) and BD-PSNR (dB) of each codec against ``anchor`` on the mean curves over the points."""
    def curve(c: str, m: str) -> tuple[list[float], list[float]]:
        rs = [a for a in agg if a["codec"] == c]
        return [a["bpp"] for a in rs], [a[m] for a in rs]

    out = []
    if not any(a["codec"] == anchor for a in agg):
        return out
    for c in codecs:
        row: dict[str, Any] = {"codec": c, "anchor": anchor}
        for m in BD_METRICS:
            ra, da = curve(anchor, m)
            rt, dt = curve(c, m)
            row[f"bd_rate_{m}"] = bd_rate(ra, da, rt, dt)
            row[f"bd_psnr_{m}"] = bd_psnr(ra, da, rt, dt)
        row["fit_degree"] = bd_fit_degree(len({a["point"] for a in agg}))
        out.append(row)
    return out


def ms_ssim_notes(images: list[dict], rows: list[dict]) -> list[str]:
    """Say, instead of a bare "-", where MS-SSIM was not computed and why (short side < 161 px)."""
    from agdl_plugins.apps.bench.metrics import MS_SSIM_MIN_SIDE

    small = [im["image"] for im in images if min(im["width"], im["height"]) < MS_SSIM_MIN_SIDE]
    out = []
    if small:
        out.append(f"MS-SSIM: not computed on {len(small)} of {len(images)} images (short side < "
                   f"{MS_SSIM_MIN_SIDE} px, the minimum of its 5 scales): {', '.join(small[:5])}"
                   + (" ..." if len(small) > 5 else ""))
    ok = [r for r in rows if not r["error"]]
    if ok and not small and not any(math.isfinite(_f(r.get("ms_ssim"))) for r in ok):
        out.append("MS-SSIM: not computed")
    return out


# ------------------------------------------------------------------------------------------------ output
def _fmt(v: Any, nd: int = 2) -> str:
    if isinstance(v, str):
        return v
    v = _f(v)
    if math.isnan(v):
        return "-"
    if math.isinf(v):
        return "inf"
    return f"{v:.{nd}f}"


def _table(headers: list[str], body: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(headers, widths)))
    out = [line, "-" * len(line)]
    for r in body:
        out.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(out)


def format_report(meta: dict, agg: list[dict], bd: list[dict], speed: list[dict], images: list[dict],
                  notes: list[str]) -> str:
    has_roi = meta["has_masks"]
    s = [f"AGDL bench: {meta['n_images']} images from {meta['images']}; points {', '.join(meta['points'])}; "
         f"device {meta['device']}; repeats {meta['repeats']}; rate tolerance ±{100 * meta['tolerance']:.0f} %"]
    s += [f"  note: {n}" for n in notes]
    for p in meta["points"]:
        s.append(f"\n== {p}: every codec matched to the bytes of AGDL (default parts) on each image ==")
        hdr = ["codec", "bpp", "bytes%", "miss", "PSNR-Y", "PSNR-RGB"] + (["ROI-Y"] if has_roi else []) + [
            "Edge-Y", "SSIM", "MS-SSIM", "MS-SSIM dB"] + (["ROI MS-SSIM dB"] if has_roi else []) + [
            "enc MP/s", "dec MP/s", "enc xJPEG", "dec xJPEG"]
        body = []
        for a in (a for a in agg if a["point"] == p):
            body.append([a["codec"], _fmt(a["bpp"], 3), _fmt(100 * (a["bytes_ratio"] - 1), 1),
                         f"{a['rate_misses']}/{a['n_images']}", _fmt(a["psnr_y"]), _fmt(a["psnr_rgb"])]
                        + ([_fmt(a["roi_psnr_y"])] if has_roi else [])
                        + [_fmt(a["edge_psnr_y"]), _fmt(a["ssim"], 4), _fmt(a["ms_ssim"], 4),
                           _fmt(a["ms_ssim_db"])] + ([_fmt(a["roi_ms_ssim_db"])] if has_roi else [])
                        + [_fmt(a["enc_mps"]), _fmt(a["dec_mps"]), _fmt(a["enc_vs_jpeg"]), _fmt(a["dec_vs_jpeg"])])
        s.append(_table(hdr, body))
    if bd:
        s.append(f"\n== Bjøntegaard vs {bd[0]['anchor']} over the swept range (polynomial degree "
                 f"{bd[0]['fit_degree']}, mean curves; BD-rate < 0 = fewer bytes) ==")
        names = {"psnr_y": ("BD-rate PSNR-Y %", "BD-PSNR-Y dB"), "roi_psnr_y": ("BD-rate ROI-Y %", "BD-PSNR ROI-Y dB"),
                 "ms_ssim_db": ("BD-rate MS-SSIM %", "BD-MS-SSIM dB"),
                 "roi_ms_ssim_db": ("BD-rate ROI MS-SSIM %", "BD-ROI-MS-SSIM dB")}
        ms = [m for m in BD_METRICS if has_roi or m not in ROI_METRICS]
        hdr = ["codec"] + [h for m in ms for h in names[m]]
        body = [[b["codec"]] + [x for m in ms for x in (_fmt(b[f"bd_rate_{m}"]), _fmt(b[f"bd_psnr_{m}"], 3))]
                for b in bd]
        s.append(_table(hdr, body))
    if meta["repeats"] == 0:
        s.append("\n== Speed: not measured (--repeats 0) ==")
    else:
        s.append("\n== Speed over all points (median of repeats per image; MP/s = total MP / total time) ==")
        hdr = ["codec", "enc ms (median)", "dec ms (median)", "enc MP/s", "dec MP/s", "enc xJPEG", "dec xJPEG"]
        body = [[x["codec"], _fmt(x["enc_ms_median"], 1), _fmt(x["dec_ms_median"], 1), _fmt(x["enc_mps"]),
                 _fmt(x["dec_mps"]), _fmt(x["enc_vs_jpeg"]), _fmt(x["dec_vs_jpeg"])] for x in speed]
        s.append(_table(hdr, body))
    seen = set()
    for im in images:
        key = (im["width"], im["height"])
        if key in seen:
            continue
        seen.add(key)
        parts = []
        if "dncnn_ms" in im:
            parts.append(f"DnCNN-17 forward {im['dncnn_ms']:.0f} ms ({im['dncnn_mps']:.3f} MP/s)")
        if "peak_rss_mb" in im:
            parts.append(f"AGDL decode peak RSS {im['peak_rss_mb']:.0f} MiB "
                         f"(+{im['decode_rss_delta_mb']:.0f} MiB over imports; {im['rss_image']} {im['rss_point']})")
        if "rss_error" in im:
            parts.append(f"peak RSS failed: {im['rss_error']}")
        if parts:
            s.append(f"  {im['width']}x{im['height']}: " + "; ".join(parts))
    return "\n".join(s)


def _json_safe(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, np.generic):
        return _json_safe(x.item())
    return x


def write_files(out: Path, meta: dict, rows: list[dict], agg: list[dict], bd: list[dict], speed: list[dict],
                images: list[dict], notes: list[str], text: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    p = out / "rows.csv"
    with p.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=ROW_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in ROW_COLUMNS})
    paths.append(p)
    p = out / "aggregate.csv"
    if agg:
        with p.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(agg[0]))
            w.writeheader()
            w.writerows(agg)
        paths.append(p)
    p = out / "results.json"
    doc = {"meta": meta, "notes": notes, "aggregate": agg, "bd": bd, "speed": speed, "images": images,
           "rows": rows}
    p.write_text(json.dumps(_json_safe(doc), indent=1, allow_nan=False))
    paths.append(p)
    p = out / "report.txt"
    p.write_text(text + "\n")
    paths.append(p)
    return paths


def plot(out: Path, meta: dict, agg: list[dict], codecs: list[str]) -> tuple[list[Path], str | None]:
    """RD curves (ROI-PSNR first when masks exist, then PSNR-Y, MS-SSIM, ROI MS-SSIM): one PNG each plus a
    combined one."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return [], "plots skipped: matplotlib not installed (pip install matplotlib)"
    metrics = [(m, lab) for m, lab in PLOT_METRICS if m not in ROI_METRICS or meta["has_masks"]]
    metrics = [(m, lab) for m, lab in metrics if any(np.isfinite(_f(a[m])) for a in agg)]
    paths = []
    title = f"{Path(meta['images']).parent.name or meta['images']} ({meta['n_images']} images)"
    cmap = plt.get_cmap("tab20")
    markers = "os^vD<>pPX*h"
    styles = {c: dict(ls="-" if c.startswith("agdl") else "--", color="black" if c == "agdl" else cmap(i % 20),
                      marker=markers[i % len(markers)], lw=2.0 if c == "agdl" else 1.0, zorder=3 if c == "agdl" else 2)
              for i, c in enumerate(codecs)}

    def draw(ax, m, lab):
        for c in codecs:
            rs = [a for a in agg if a["codec"] == c]
            x = [a["bpp"] for a in rs]
            y = [a[m] for a in rs]
            if not any(np.isfinite(_f(v)) for v in y):
                continue
            ax.plot(x, y, ms=4, label=c, **styles[c])
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel(lab)
        ax.grid(True, alpha=0.3)

    for i, (m, lab) in enumerate(metrics, 1):
        fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=110)
        draw(ax, m, lab)
        ax.set_title(f"{lab} vs rate - {title}")
        ax.legend(fontsize=8)
        p = out / f"rd{i}_{m}.png"
        fig.tight_layout()
        fig.savefig(p)
        plt.close(fig)
        paths.append(p)
    if metrics:
        fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 4.4), dpi=100, squeeze=False)
        for ax, (m, lab) in zip(axes[0], metrics):
            draw(ax, m, lab)
            ax.set_title(lab)
        axes[0][0].legend(fontsize=7)
        fig.suptitle(title)
        fig.tight_layout()
        p = out / "rd_all.png"
        fig.savefig(p)
        plt.close(fig)
        paths.append(p)
    return paths, None
