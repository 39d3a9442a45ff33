"""Quality metrics (library implementations), the DnCNN-17 cost yardstick and AGDL decode peak RSS.

- PSNR: ``kornia.metrics.psnr`` (float64) on the selected pixels: luminance Y (Pillow BT.601, as the codec
  core measures it) and RGB, over the whole image, inside the ROI (mask >= 128) and on the edge band
  (Canny of the original Y by ``kornia.filters.canny`` with its defaults, dilated by 1 pixel = 3x3).
- SSIM / MS-SSIM on RGB (0..255): ``pytorch_msssim`` (11x11 Gaussian window, sigma 1.5, the 5 standard
  scales and weights). MS-SSIM needs a short side > 160 px for its 4 downsamplings; smaller images get NaN
  (no non-standard reduced-scale variant). Without pytorch-msssim, SSIM falls back to
  ``kornia.metrics.ssim`` (same window, 'same' padding) and MS-SSIM is NaN.

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


def ssim_backend() -> str:
    try:
        import pytorch_msssim  # noqa: F401
    except ImportError:
        return "kornia"
    return "pytorch_msssim"


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
    x = ref.rgb_t
    with torch.inference_mode():
        if ssim_backend() == "pytorch_msssim":
            from pytorch_msssim import ms_ssim, ssim

            out["ssim"] = float(ssim(x, d, data_range=255, size_average=True))
            if min(ref.rgb.shape[:2]) >= MS_SSIM_MIN_SIDE:
                out["ms_ssim"] = float(ms_ssim(x, d, data_range=255, size_average=True))
            else:
                out["ms_ssim"] = float("nan")
        else:
            from kornia.metrics import ssim

            out["ssim"] = float(ssim(x, d, 11, max_val=255.0).mean())
            out["ms_ssim"] = float("nan")
    m = out["ms_ssim"]
    out["ms_ssim_db"] = float(-10 * np.log10(1 - m)) if np.isfinite(m) and m < 1 else float("nan")
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
