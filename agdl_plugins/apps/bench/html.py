"""Self-contained HTML pages of :class:`~agdl_plugins.apps.bench.compare.Comparison` s (``agdl compare``,
``agdl bench --html``) and a headless-Chromium check of them.

A page is one file: every image is a PNG ``data:`` URI, the script is a few lines of plain JavaScript, and
nothing is fetched from the network. Per image it shows a flicker viewer (two codecs stacked, a wipe
slider and an A/B toggle, zoom), the ROI crop, the background crop and the whole image for the original and
every codec with bytes / bpp / PSNR-Y / ROI-PSNR-Y / MS-SSIM / ROI MS-SSIM under each, and AGDL's critical
pixels and ROI as overlays that can be switched on and off.

Opened as ``index.html#selftest``, the page checks itself after loading (every ``<img>`` decoded with
``naturalWidth > 0``, the toggle flips the viewer to the other image and back) and writes the result into
``<pre id="selftest">``, which :func:`browser_check` reads from Chromium's ``--dump-dom``.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from agdl_plugins.apps.bench.compare import Comparison, Entry

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
METRIC_LINES = (("psnr_y", "PSNR-Y", "{:.2f} dB"), ("roi_psnr_y", "ROI PSNR-Y", "{:.2f} dB"),
                ("ms_ssim", "MS-SSIM", "{:.4f}"), ("roi_ms_ssim", "ROI MS-SSIM", "{:.4f}"))


def png_uri(a: np.ndarray) -> str:
    """A ``data:image/png;base64`` URI of an (H, W), (H, W, 3) or (H, W, 4) uint8 array."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(a)).save(buf, "PNG", optimize=False, compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def overlay(mask: np.ndarray, rgba: tuple[int, int, int, int]) -> np.ndarray:
    """(H, W, 4) uint8: ``rgba`` where ``mask`` (H, W) is true, transparent elsewhere."""
    out = np.zeros((*mask.shape, 4), np.uint8)
    out[mask] = rgba
    return out


def outline(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pixels of ``mask`` with a 4-neighbour outside it (its 1-px border)."""
    m = np.pad(mask, 1, mode="edge")
    inner = m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    return mask & ~inner


def _fmt(v: float | None, f: str) -> str:
    if v is None or not isinstance(v, int | float) or math.isnan(v):
        return "–"
    return "inf" if math.isinf(v) else f.format(v)


def _caption(e: Entry, c: Comparison) -> str:
    if e.nbytes is None:
        return f"<b>original</b><br>{c.original.shape[1]}×{c.original.shape[0]}"
    s = [f"<b>{html.escape(e.name)}</b>", f"{e.nbytes:,} B · {_fmt(e.metrics.get('bpp'), '{:.3f}')} bpp"
         + ("" if e.rate_ok else " <span class=warn>(rate miss)</span>")]
    for k, lab, f in METRIC_LINES:
        v = e.metrics.get(k)
        if k.startswith("roi") and c.roi is None:
            s.append(f"{lab}: – <small>(no mask)</small>")
        elif k.endswith("ms_ssim") and not (isinstance(v, float) and math.isfinite(v)):
            s.append(f"{lab}: – <small>(short side &lt; 161 px)</small>")
        else:
            s.append(f"{lab}: {_fmt(v, f)}")
    return "<br>".join(s)


def _section(c: Comparison, k: int, heading: str) -> str:
    """One image's block. ``k`` makes its element ids unique on a page with several."""
    crops = [*c.crops]
    names = [e.name for e in c.entries]
    b_default = next((n for n in names if n not in ("original", "agdl")), "original")
    opts = "".join(f"<option value='{html.escape(n)}'>{html.escape(n)}</option>" for n in names)
    crop_opts = "".join(f"<option value='{cr.name}'>{cr.name} crop</option>" for cr in crops) + \
        "<option value='full'>whole image</option>"
    rows = []
    for cr in [*crops, None]:
        cname = cr.name if cr is not None else "full"
        desc = (f"{cr.name} crop {cr.size}×{cr.size} at ({cr.x0}, {cr.y0}): {html.escape(cr.why)}"
                if cr is not None else "whole image")
        tiles = []
        for e in c.entries:
            a = cr.of(e.rgb) if cr is not None else e.rgb
            tiles.append(f"<figure><img class='tile' data-sec='{k}' data-codec='{html.escape(e.name)}' "
                         f"data-crop='{cname}' alt='{html.escape(e.name)} {cname}' src='{png_uri(a)}'>"
                         f"<figcaption>{_caption(e, c)}</figcaption></figure>")
        rows.append(f"<h4>{desc}</h4><div class='tiles' style='--n:{len(c.entries)}'>{''.join(tiles)}</div>")
    h, w = c.original.shape[:2]
    crit = overlay(c.critical, (255, 0, 255, 255))
    roi_ol = overlay(outline(c.crop_roi), (0, 255, 0, 255))
    boxes = np.zeros((h, w), bool)
    for cr in crops:
        box = np.zeros((cr.size, cr.size), bool)
        box[[0, -1], :] = True
        box[:, [0, -1]] = True
        boxes[cr.y0:cr.y0 + cr.size, cr.x0:cr.x0 + cr.size] |= box
    boxes_ol = overlay(boxes, (255, 255, 0, 255))
    agdl = next(e for e in c.entries if e.name == "agdl")
    f = c.agdl_facts
    table = ["<table><tr><th>codec</th><th>bytes</th><th>bpp</th><th>knob</th>"
             + "".join(f"<th>{lab}</th>" for _, lab, _ in METRIC_LINES) + "<th>MS-SSIM dB</th></tr>"]
    for e in c.entries[1:]:
        table.append(f"<tr><td>{html.escape(e.name)}</td><td>{e.nbytes:,}</td><td>{_fmt(e.metrics['bpp'], '{:.3f}')}"
                     f"</td><td>{_fmt(e.knob, '{:g}')}</td>"
                     + "".join(f"<td>{_fmt(e.metrics.get(m), fm)}</td>" for m, _, fm in METRIC_LINES)
                     + f"<td>{_fmt(e.metrics.get('ms_ssim_db'), '{:.2f}')}</td></tr>")
    table.append("</table>")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in c.notes)
    sel_a = opts.replace("value='agdl'", "value='agdl' selected")
    sel_b = opts.replace(f"value='{b_default}'", f"value='{b_default}' selected")
    zooms = "".join(f"<option{' selected' if z == 3 else ''}>{z}</option>" for z in (1, 2, 3, 4, 6))
    ctl = "".join(f"<label><input type='checkbox' class='ovl' data-sec='{k}' data-ol='{ol}'{on}> {lab}</label> "
                  for ol, lab, on in (("crit", "critical pixels", " checked"), ("roi", "ROI", " checked"),
                                      ("box", "crops", " checked"), ("orig", "the original instead", "")))
    ol_imgs = "".join(f"<img class='ol {cl}' alt='{cl}' src='{png_uri(a)}'>"
                      for cl, a in (("crit", crit), ("roi", roi_ol), ("box", boxes_ol)))
    src_roi = html.escape(c.crop_roi_source)
    return f"""
<section class='cmp' id='sec{k}'>
<h2>{html.escape(heading)}</h2>
<p>{w}×{h} px · AGDL at {html.escape(c.rate)}: {c.target_bytes:,} bytes (base quality {f['base_quality']},
base {f['base_bytes']:,} B + refinement {f['refinement_bytes']:,} B on {f['n_critical']:,} critical pixels;
F = {html.escape(str(f['predictor']))}, G = {html.escape(str(f['restorer']))}). Every other codec is bisected
on its quality knob to AGDL's bytes (±2 %), as in <code>agdl bench</code>. ROI crop from {src_roi}.</p>
{''.join(table)}
<div class='top'><div>
<div class='viewer-ctl'>
 <label>A <select class='selA' data-sec='{k}'>{sel_a}</select></label>
 <label>B <select class='selB' data-sec='{k}'>{sel_b}</select></label>
 <label>view <select class='selCrop' data-sec='{k}'>{crop_opts}</select></label>
 <label>zoom <select class='selZoom' data-sec='{k}'>{zooms}</select>×</label>
 <button class='toggle' data-sec='{k}' title='flick between A and B (key: space)'>A ⇄ B</button>
 <label>wipe <input class='wipe' data-sec='{k}' type='range' min='0' max='100' value='50'></label>
 <span class='shown' data-sec='{k}'></span>
</div>
<div class='viewer' data-sec='{k}'><div class='stack'><img class='va' alt='A'><img class='vb' alt='B'>
<span class='la'></span><span class='lb'></span></div></div></div>
<div class='ovlbox'>
<div class='ovl-ctl'>{ctl}</div>
<div class='ovl-stack' data-sec='{k}' style='width:{min(w, 520)}px'>
<img class='base' alt='agdl' src='{png_uri(agdl.rgb)}'>
<img class='orig' alt='original' style='display:none' src='{png_uri(c.original)}'>{ol_imgs}</div>
<p class='small'>AGDL's decoded image; magenta: its {int(c.critical.sum()):,} critical pixels
({100 * c.critical.mean():.1f} %); green: the ROI outline ({src_roi}); yellow: the two crops.</p>
</div></div>
{''.join(rows)}
{f"<ul class='notes'>{notes}</ul>" if notes else ""}
</section>"""


CSS = """
body{font:14px/1.35 system-ui,sans-serif;margin:16px;background:#fafafa;color:#222}
h1{font-size:20px;margin:0 0 6px} h2{font-size:17px;margin:18px 0 4px} h4{margin:12px 0 4px;font-weight:600}
table{border-collapse:collapse;margin:6px 0} td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}
.tiles{display:grid;grid-template-columns:repeat(var(--n),minmax(0,1fr));gap:8px}
figure{margin:0} figure img{width:100%;image-rendering:pixelated;display:block;border:1px solid #bbb}
figcaption{font-size:12px;margin-top:2px} .warn{color:#b00}
.viewer-ctl{margin:8px 0;display:flex;gap:12px;align-items:center;flex-wrap:wrap}
.viewer{overflow:auto;max-height:560px;border:1px solid #999;background:#333;display:inline-block;max-width:100%}
.stack{position:relative;line-height:0} .stack img{image-rendering:pixelated;display:block}
.stack .vb{position:absolute;left:0;top:0} .stack span{position:absolute;top:4px;font:12px sans-serif;
background:#000a;color:#fff;padding:1px 5px;line-height:1.4} .stack .la{left:4px} .stack .lb{right:4px}
.ovl-stack{position:relative;line-height:0} .ovl-stack img{width:100%;display:block}
.ovl-stack .ol,.ovl-stack .orig{position:absolute;left:0;top:0;image-rendering:pixelated}
.ovl-stack .roi,.ovl-stack .box{opacity:.9} .ovl-stack .crit{opacity:.55}
.top{display:flex;gap:18px;flex-wrap:wrap;align-items:flex-start} .top>div:first-child{max-width:600px}
.small{font-size:12px;max-width:520px}
#selftest{font-size:12px;color:#555}
.plots{display:flex;flex-wrap:wrap;gap:8px} .plots img{width:calc(50% - 8px);min-width:360px}
"""

JS = r"""
(function(){
function q(s,r){return (r||document).querySelector(s);}
function qa(s,r){return Array.from((r||document).querySelectorAll(s));}
function src(k,codec,crop){
  var i=q("img.tile[data-sec='"+k+"'][data-codec='"+codec+"'][data-crop='"+crop+"']");return i?i.src:"";}
function update(k){
  var a=q(".selA[data-sec='"+k+"']").value,b=q(".selB[data-sec='"+k+"']").value,c=q(".selCrop[data-sec='"+k+"']").value;
  var z=+q(".selZoom[data-sec='"+k+"']").value,w=+q(".wipe[data-sec='"+k+"']").value,v=q(".viewer[data-sec='"+k+"']");
  var ia=q(".va",v),ib=q(".vb",v),tile=q("img.tile[data-sec='"+k+"'][data-crop='"+c+"']");
  ia.src=src(k,a,c);ib.src=src(k,b,c);
  var nw=tile?tile.naturalWidth:0;if(nw){ia.style.width=ib.style.width=(nw*z)+"px";}
  ib.style.clipPath="inset(0 0 0 "+w+"%)";q(".la",v).textContent="A: "+a;q(".lb",v).textContent="B: "+b;
  var shown=w>=100?a:(w<=0?b:a+" | "+b);v.dataset.shown=shown;
  q(".shown[data-sec='"+k+"']").textContent="showing: "+shown;
}
function toggle(k){var s=q(".wipe[data-sec='"+k+"']");s.value=(+s.value>=100)?0:100;update(k);}
var secs=qa(".viewer").map(function(v){return v.dataset.sec;});
secs.forEach(function(k){
  qa("[data-sec='"+k+"'].selA,[data-sec='"+k+"'].selB,[data-sec='"+k+"'].selCrop,[data-sec='"+k+"'].selZoom,[data-sec='"+k+"'].wipe")
    .forEach(function(e){e.addEventListener("input",function(){update(k);});});
  q(".toggle[data-sec='"+k+"']").addEventListener("click",function(){toggle(k);});
  qa("input.ovl[data-sec='"+k+"']").forEach(function(cb){cb.addEventListener("change",function(){
    var st=q(".ovl-stack[data-sec='"+k+"']"),t=cb.dataset.ol;
    if(t==="orig"){q(".orig",st).style.display=cb.checked?"block":"none";}
    else{q("."+t,st).style.display=cb.checked?"block":"none";}});});
  qa("img.tile[data-sec='"+k+"']").forEach(function(im){im.style.cursor="zoom-in";im.title="show in the viewer as B";
    im.addEventListener("click",function(){q(".selB[data-sec='"+k+"']").value=im.dataset.codec;
      q(".selCrop[data-sec='"+k+"']").value=im.dataset.crop;update(k);
      q(".viewer[data-sec='"+k+"']").scrollIntoView({block:"center"});});});
});
document.addEventListener("keydown",function(e){if(e.code==="Space"&&secs.length&&e.target===document.body){
  e.preventDefault();toggle(secs[0]);}});
function selftest(){
  var imgs=qa("img").filter(function(i){return i.getAttribute("src");});
  var ok=imgs.filter(function(i){return i.complete&&i.naturalWidth>0;}).length;
  var res=["images "+ok+"/"+imgs.length];
  secs.forEach(function(k){
    var v=q(".viewer[data-sec='"+k+"']"),a=q(".selA[data-sec='"+k+"']").value,b=q(".selB[data-sec='"+k+"']").value;
    var s=[];q(".wipe[data-sec='"+k+"']").value=100;update(k);s.push(v.dataset.shown);
    q(".toggle[data-sec='"+k+"']").click();s.push(v.dataset.shown);var clipB=q(".vb",v).style.clipPath;
    q(".toggle[data-sec='"+k+"']").click();s.push(v.dataset.shown);
    var good=s[0]===a&&s[1]===b&&s[2]===a&&a!==b&&/inset\(0(px)? 0(px)? 0(px)? 0%?\)/.test(clipB);
    res.push("toggle"+k+" "+(good?"ok":"FAIL")+" ("+s.join(" > ")+")");
    q(".wipe[data-sec='"+k+"']").value=50;update(k);
  });
  var body=document.body.innerText.length;res.push("text "+body);
  q("#selftest").textContent="SELFTEST "+res.join("; ");
}
function start(){secs.forEach(update);if(location.hash==="#selftest"){selftest();}}
if(document.readyState==="complete"){start();}else{window.addEventListener("load",start);}
})();
"""


def render_page(sections: list[tuple[Comparison, str]], title: str, intro_html: str = "") -> str:
    """The whole HTML page: ``sections`` = (comparison, heading) pairs, ``intro_html`` goes first (trusted
    markup made by this package: plots, report text)."""
    body = "".join(_section(c, k, head) for k, (c, head) in enumerate(sections))
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'><style>{CSS}</style></head>"
            f"<body><h1>{html.escape(title)}</h1>{intro_html}{body}<pre id='selftest'></pre>"
            f"<script>{JS}</script></body></html>")


def write_page(out_dir: Path, sections: list[tuple[Comparison, str]], title: str, intro_html: str = "") -> Path:
    """Write ``out_dir/index.html`` (the folder is created) and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    p = out_dir / "index.html"
    p.write_text(render_page(sections, title, intro_html), encoding="utf-8")
    return p


def png_file_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


# ------------------------------------------------------------------------------------------ headless browser
def find_chromium() -> str | None:
    """Path of a Chromium / Chrome executable on PATH, or None."""
    for n in CHROMIUM_NAMES:
        p = shutil.which(n)
        if p:
            return p
    return None


def _chromium_args(exe: str, profile: str) -> list[str]:
    args = [exe, "--headless", "--disable-gpu", "--no-first-run", "--disable-extensions", "--hide-scrollbars",
            "--mute-audio", f"--user-data-dir={profile}", "--disable-background-networking"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    return args


def browser_check(page: Path, screenshot: Path | None = None, *, width: int = 1280, height: int = 1600,
                  timeout: float = 120.0, exe: str | None = None) -> dict[str, object]:
    """Render ``page`` in headless Chromium: its ``#selftest`` result from ``--dump-dom`` (images loaded,
    toggle) and, with ``screenshot``, a PNG of the top ``width`` x ``height`` pixels.

    Returns:
        {"selftest": str, "images_ok": int, "images": int, "toggles_ok": bool, "text_chars": int}

    Raises:
        FileNotFoundError: no Chromium on PATH. RuntimeError: Chromium failed or the page wrote no result.
    """
    import re

    exe = exe or find_chromium()
    if exe is None:
        raise FileNotFoundError("no chromium / google-chrome on PATH (Debian: apt-get install chromium)")
    url = Path(page).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="agdl-chromium-") as prof:
        base = _chromium_args(exe, prof)
        r = subprocess.run([*base, "--virtual-time-budget=10000", "--dump-dom", url + "#selftest"],
                           capture_output=True, text=True, timeout=timeout)
        m = re.search(r"SELFTEST ([^<]*)", r.stdout)
        if r.returncode != 0 or m is None:
            raise RuntimeError(f"chromium --dump-dom gave no self-test result (rc {r.returncode}): "
                               f"{r.stderr.strip()[-500:]}")
        if screenshot is not None:
            shot = Path(screenshot).resolve()
            r2 = subprocess.run([*base, f"--window-size={width},{height}", "--virtual-time-budget=10000",
                                 f"--screenshot={shot}", url], capture_output=True, text=True, timeout=timeout)
            if r2.returncode != 0 or not shot.is_file():
                raise RuntimeError(f"chromium --screenshot failed (rc {r2.returncode}): {r2.stderr.strip()[-500:]}")
    s = html.unescape(m.group(1))
    im = re.search(r"images (\d+)/(\d+)", s)
    toggles = re.findall(r"toggle\d+ (ok|FAIL)", s)
    text = re.search(r"text (\d+)", s)
    return {"selftest": s, "images_ok": int(im.group(1)) if im else 0, "images": int(im.group(2)) if im else 0,
            "toggles_ok": bool(toggles) and all(t == "ok" for t in toggles),
            "text_chars": int(text.group(1)) if text else 0}


# ------------------------------------------------------------------------------------------- agdl bench --html
def best_and_worst(rows: list[dict], metric: str) -> tuple[str, dict, dict] | None:
    """At the run's point whose mean AGDL bpp is closest to 0.5, the images where AGDL's ``metric`` minus
    the best other (non-AGDL) codec's is largest and smallest: (point, best, worst), each
    {"image", "gain", "peer"}; None when no image has AGDL and a peer."""
    agdl = [r for r in rows if r["codec"] == "agdl" and not r["error"] and math.isfinite(r.get(metric, math.nan))]
    if not agdl:
        return None
    points: dict[str, list[float]] = {}
    for r in agdl:
        points.setdefault(r["point"], []).append(r["bpp"])
    point = min(points, key=lambda p: (abs(float(np.mean(points[p])) - 0.5), p))
    gains = []
    for r in (r for r in agdl if r["point"] == point):
        peers = [p for p in rows if p["image"] == r["image"] and p["point"] == point and not p["error"]
                 and not p["codec"].startswith("agdl") and math.isfinite(p.get(metric, math.nan))]
        if peers:
            top = max(peers, key=lambda p: p[metric])
            gains.append({"image": r["image"], "gain": r[metric] - top[metric], "peer": top["codec"]})
    if not gains:
        return None
    gains.sort(key=lambda g: (g["gain"], g["image"]))
    return point, gains[-1], gains[0]


def bench_page(out: Path, meta: dict, rows: list[dict], plots: list[Path], report_text: str, *,
               images: Path, masks: Path | None, grid_shift: str, points: list, agdl_options: dict,
               device: str) -> Path:
    """``out/index.html`` for ``agdl bench --html``: the RD plots, the report's tables, and compare sections
    for the run's best and worst image for AGDL (:func:`best_and_worst`), coded again at that point."""
    from agdl_plugins.apps.bench.compare import compare_image
    from agdl_plugins.apps.bench.runner import find_mask, load_image

    metric = "roi_psnr_y" if meta["has_masks"] else "psnr_y"
    label = "ROI PSNR-Y" if meta["has_masks"] else "PSNR-Y"
    intro = [f"<p>Command: <code>{html.escape(meta['command'])}</code></p>"]
    intro.append("<div class='plots'>" + "".join(f"<img class='plot' alt='{html.escape(p.stem)}' "
                                                 f"src='{png_file_uri(p)}'>" for p in plots
                                                 if p.name != "rd_all.png") + "</div>")
    intro.append(f"<details><summary>report tables</summary><pre>{html.escape(report_text)}</pre></details>")
    sections: list[tuple[Comparison, str]] = []
    bw = best_and_worst(rows, metric)
    peers = [c for c in meta["codecs"] if not c.startswith("agdl")]
    if bw is None or not peers:
        intro.append("<p>No crops: the run has no image with both AGDL and a peer measured.</p>")
    else:
        point, best, worst = bw
        pt = next(p for p in points if p.label == point)
        for tag, g in (("best", best), ("worst", worst)):
            if tag == "worst" and g["image"] == best["image"]:
                continue
            path = images / g["image"]
            rgb, roi, _ = load_image(path, find_mask(masks, path.stem), grid_shift)
            c = compare_image(rgb, roi, bpp=pt.bpp, quality=pt.quality, peers=peers, device=device,
                              agdl_options=agdl_options, name=g["image"])
            sections.append((c, f"{tag} image for AGDL at {point}: {g['image']} ({label} {g['gain']:+.2f} dB "
                                f"against the best other codec, {g['peer']})"))
    return write_page(out, sections, f"agdl bench: {meta['n_images']} images from {meta['images']}",
                      "".join(intro))
