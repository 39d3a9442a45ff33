"""Quality metrics, the DnCNN-17 cost yardstick and AGDL decode peak RSS.

- PSNR: ``kornia.metrics.psnr`` (float64) on the selected pixels: luminance Y (Pillow BT.601, as the codec
  core measures it) and RGB, over the whole image, inside the ROI (mask >= 128) and on the edge band
  (Canny of the original Y by ``kornia.filters.canny`` with its defaults, dilated by 1 pixel = 3x3).
- SSIM / MS-SSIM on RGB (0..255), computed here with torch alone (:func:`ms_ssim`, no optional dependency,
  so every install reports the same numbers): the definition of Wang et al. 2003 as ``pytorch_msssim``
  implements it (11x11 Gaussian window, sigma 1.5, valid filtering, K = (0.01, 0.03), 2x2 average pooling
  between the 5 scales, weights 0.0448, 0.2856, 0.3001, 0.2363, 0.1333, per channel then averaged over
  R, G, B); a test checks it against ``pytorch_msssim`` where that is installed. MS-SSIM needs a short
  side >= 161 px for its 4 downsamplings; smaller images get NaN (no non-standard reduced-scale variant)
  and the report says how many. SSIM = the first scale's full SSIM.
- ROI MS-SSIM: the same five scales, but each scale's SSIM / contrast-structure map is averaged with
  weights = the fraction of each 11x11 Gaussian window that lies inside the ROI (the mask, 2x2-average-
  pooled along with the images, filtered by the same window) instead of uniformly. Pixels outside the ROI
  contribute only through windows that straddle its border; a whole-image mask gives plain MS-SSIM. NaN
  without a mask or with an empty ROI.
- ``*_db``: -10 log10(1 - MS-SSIM), the scale of the plots and of BD-MS-SSIM.

Metrics run on one torch thread (untimed; identical numbers whatever the machine's thread count, and on a
busy 2-core machine many small ops are far faster single-threaded than with spinning OpenMP workers).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

MS_SSIM_MIN_SIDE = 161
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
SSIM_WINDOW, SSIM_SIGMA, SSIM_K = 11, 1.5, (0.01, 0.03)


def ssim_backend() -> str:
    """Where SSIM / MS-SSIM come from (one implementation on every install)."""
    return "agdl_plugins.apps.bench.metrics.ms_ssim (torch)"


def _gauss_window(dtype):
    """The (11,) Gaussian window (sigma 1.5, sums to 1)."""
    import torch

    c = torch.arange(SSIM_WINDOW, dtype=torch.float32) - SSIM_WINDOW // 2
    g = torch.exp(-(c**2) / (2 * SSIM_SIGMA**2))
    return (g / g.sum()).to(dtype)


def _blur(x, g):
    """Separable valid Gaussian filter of (N, C, H, W) ``x`` by the 1-D window ``g``, per channel:
    (N, C, H - 10, W - 10)."""
    import torch.nn.functional as F

    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def _ssim_maps(x, y, g, data_range: float):
    """(SSIM map, contrast-structure map), each (N, C, H - 10, W - 10), of (N, C, H, W) images."""
    c1, c2 = (SSIM_K[0] * data_range) ** 2, (SSIM_K[1] * data_range) ** 2
    mu1, mu2 = _blur(x, g), _blur(y, g)
    s11 = _blur(x * x, g) - mu1 * mu1
    s22 = _blur(y * y, g) - mu2 * mu2
    s12 = _blur(x * y, g) - mu1 * mu2
    cs = (2 * s12 + c2) / (s11 + s22 + c2)
    return ((2 * mu1 * mu2 + c1) / (mu1 * mu1 + mu2 * mu2 + c1)) * cs, cs


def ms_ssim(x, y, data_range: float = 255.0, mask=None) -> tuple[float, float]:
    """(SSIM, MS-SSIM) of two images, optionally averaged over an ROI (see the module docstring).

    Args:
        x, y: torch (1, C, H, W) float tensors on one scale (0..``data_range``).
        mask: None (whole image) or a torch (1, 1, H, W) float tensor in [0, 1]: each scale's maps are
            averaged with the weights ``blur(mask)`` (the share of each window inside the ROI).

    Returns:
        (SSIM at full scale, MS-SSIM over 5 scales); NaN where undefined: MS-SSIM when min(H, W) < 161,
        both when min(H, W) < 11 or the mask is empty.
    """
    import torch
    import torch.nn.functional as F

    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"ms_ssim needs two (N, C, H, W) tensors of one shape, got {tuple(x.shape)}, "
                         f"{tuple(y.shape)}")
    if mask is not None and tuple(mask.shape[-2:]) != tuple(x.shape[-2:]):
        raise ValueError(f"mask {tuple(mask.shape)} does not match the images {tuple(x.shape)}")
    nan = float("nan")
    if min(x.shape[-2:]) < SSIM_WINDOW:
        return nan, nan
    g = _gauss_window(x.dtype)
    vals = []
    first = nan
    for i in range(len(MS_SSIM_WEIGHTS)):
        smap, cs = _ssim_maps(x, y, g, data_range)
        if mask is None:
            s_c, cs_c = smap.flatten(2).mean(-1), cs.flatten(2).mean(-1)  # (N, C)
        else:
            w = _blur(mask, g)
            tot = w.sum()
            if not tot > 0:
                return nan, nan
            s_c = (smap * w).flatten(2).sum(-1) / tot
            cs_c = (cs * w).flatten(2).sum(-1) / tot
        if i == 0:
            first = float(s_c.mean())
            if min(x.shape[-2:]) < MS_SSIM_MIN_SIDE:
                return first, nan
        if i == len(MS_SSIM_WEIGHTS) - 1:
            vals.append(torch.relu(s_c))
            break
        vals.append(torch.relu(cs_c))
        pad = [s % 2 for s in x.shape[2:]]
        x, y = F.avg_pool2d(x, 2, padding=pad), F.avg_pool2d(y, 2, padding=pad)
        if mask is not None:
            mask = F.avg_pool2d(mask, 2, padding=pad)
    stack = torch.stack(vals, 0)  # (scales, N, C)
    ms = torch.prod(stack ** x.new_tensor(MS_SSIM_WEIGHTS).view(-1, 1, 1), 0)
    return first, float(ms.mean())


def ms_ssim_db(m: float) -> float:
    """-10 log10(1 - MS-SSIM); NaN for NaN, inf for 1."""
    if not np.isfinite(m):
        return float("nan")
    return float("inf") if m >= 1 else float(-10 * np.log10(1 - m))


@contextmanager
def single_thread():
    import torch

    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


def luma(rgb: np.ndarray) -> np.ndarray:
    from agdl_plugins.apps.metrics import luma as _luma

    return _luma(rgb)


@dataclass
class Reference:
    """The original image and everything the metrics derive from it once."""

    rgb: np.ndarray  # (H, W, 3) uint8
    y: np.ndarray  # (H, W) uint8
    roi: np.ndarray | None  # (H, W) bool or None
    edge: np.ndarray  # (H, W) bool
    rgb_t: object  # torch (1, 3, H, W) float32, 0..255

    @property
    def pixels(self) -> int:
        return int(self.rgb.shape[0] * self.rgb.shape[1])


def edge_band(y: np.ndarray) -> np.ndarray:
    """Canny (kornia defaults) of the luminance, dilated by 1 pixel."""
    import torch
    import torch.nn.functional as F
    from kornia.filters import canny

    t = torch.from_numpy(y.astype(np.float32) / 255.0)[None, None]
    with torch.inference_mode():
        _, edges = canny(t)
        band = F.max_pool2d(edges, 3, stride=1, padding=1)
    return band[0, 0].numpy() > 0.5


def make_reference(rgb: np.ndarray, roi: np.ndarray | None) -> Reference:
    import torch

    y = luma(rgb)
    t = torch.from_numpy(np.array(rgb.transpose(2, 0, 1), np.float32))[None]
    with single_thread():
        edge = edge_band(y)
    return Reference(rgb=rgb, y=y, roi=roi, edge=edge, rgb_t=t)


def _psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None) -> float:
    import torch
    from kornia.metrics import psnr

    if mask is not None:
        a, b = a[mask], b[mask]
        if a.size == 0:
            return float("nan")
    ta = torch.from_numpy(np.array(a, np.float64))
    tb = torch.from_numpy(np.array(b, np.float64))
    if torch.equal(ta, tb):
        return float("inf")
    return float(psnr(ta, tb, 255.0))


def quality(ref: Reference, dec: np.ndarray) -> dict[str, float]:
    """All per-image quality numbers of a decoded (H, W, 3) uint8 image against ``ref``."""
    with single_thread():
        return _quality(ref, dec)


def _quality(ref: Reference, dec: np.ndarray) -> dict[str, float]:
    import torch

    if dec.shape != ref.rgb.shape:
        raise ValueError(f"decoded shape {dec.shape} != original {ref.rgb.shape}")
    dy = luma(dec)
    out = {
        "psnr_y": _psnr(ref.y, dy, None),
        "psnr_rgb": _psnr(ref.rgb, dec, None),
        "roi_psnr_y": _psnr(ref.y, dy, ref.roi) if ref.roi is not None else float("nan"),
        "roi_psnr_rgb": _psnr(ref.rgb, dec, ref.roi) if ref.roi is not None else float("nan"),
        "edge_psnr_y": _psnr(ref.y, dy, ref.edge),
        "edge_psnr_rgb": _psnr(ref.rgb, dec, ref.edge),
    }
    d = torch.from_numpy(np.array(dec.transpose(2, 0, 1), np.float32))[None]
    with torch.inference_mode():
        out["ssim"], out["ms_ssim"] = ms_ssim(ref.rgb_t, d)
        if ref.roi is not None and ref.roi.any():
            m = torch.from_numpy(ref.roi.astype(np.float32))[None, None]
            out["roi_ms_ssim"] = ms_ssim(ref.rgb_t, d, mask=m)[1]
        else:
            out["roi_ms_ssim"] = float("nan")
    out["ms_ssim_db"] = ms_ssim_db(out["ms_ssim"])
    out["roi_ms_ssim_db"] = ms_ssim_db(out["roi_ms_ssim"])
    return out


# --------------------------------------------------------------------------------------- DnCNN yardstick
def build_dncnn(depth: int = 17, channels: int = 64, in_channels: int = 1):
    """DnCNN-S (Zhang et al. 2017): conv+ReLU, (depth-2) x conv+BN+ReLU, conv; random weights (seed 0)."""
    import torch
    from torch import nn

    g = torch.random.fork_rng(devices=[])
    with g:
        torch.manual_seed(0)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
                       nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(channels, in_channels, 3, padding=1))
        model = nn.Sequential(*layers).eval()
    return model


def time_dncnn(model, height: int, width: int, repeats: int, device: str = "cpu") -> float:
    """Median forward time in ms of ``model`` on one (1, 1, H, W) image, inference mode."""
    import torch

    dev = torch.device(device)
    model = model.to(dev)
    x = torch.rand(1, 1, height, width, generator=torch.Generator().manual_seed(0)).to(dev)
    times = []
    with torch.inference_mode():
        model(x[..., : min(64, height), : min(64, width)])  # warm-up on a small crop
        for _ in range(max(1, repeats)):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            model(x)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


# --------------------------------------------------------------------------------------- peak RSS
_RSS_CHILD = r"""
import json, resource, sys
def hwm():
    # VmHWM (peak RSS of this process image): unlike ru_maxrss it is not inherited from the parent across
    # fork + exec, which would report the benchmark process's own size
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
import numpy, PIL.Image, torch, kornia
import agdl_plugins as agdl
from agdl_plugins.codec import decoder
from agdl_plugins.parts import registry
data = open(sys.argv[1], "rb").read()
registry.get_registry()
base = hwm()
img = agdl.decode(data, device=sys.argv[2], projection=(sys.argv[3] or None))
peak = hwm()
print(json.dumps({"baseline_kib": base, "peak_kib": peak}))
"""


def decode_peak_rss(data: bytes, device: str, projection: str | None = None, timeout: float = 600) -> dict:
    """Peak RSS (MiB) of a fresh process that decodes ``data``: the whole process and the part above its
    state after importing numpy/Pillow/torch/kornia/agdl_plugins (``VmHWM`` of /proc/self/status read in
    the child; ``ru_maxrss`` where /proc is missing, which may include the parent's size on Linux)."""
    import agdl_plugins

    root = os.path.dirname(os.path.dirname(os.path.abspath(agdl_plugins.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with tempfile.NamedTemporaryFile(suffix=".agdl", delete=False) as f:
        f.write(data)
        path = f.name
    try:
        r = subprocess.run([sys.executable, "-c", _RSS_CHILD, path, device, projection or ""],
                           capture_output=True, text=True, timeout=timeout, env=env)
    finally:
        os.unlink(path)
    if r.returncode != 0:
        raise RuntimeError(f"decode subprocess failed: {r.stderr.strip().splitlines()[-1:]}")
    d = json.loads(r.stdout.strip().splitlines()[-1])
    peak, base = d["peak_kib"] / 1024, d["baseline_kib"] / 1024
    return {"peak_rss_mb": peak, "baseline_rss_mb": base, "decode_rss_delta_mb": peak - base}
