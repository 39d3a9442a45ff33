"""Running a shipped network (F or G) on a luminance plane: weights lookup, cache, tiling, qtable input."""

from __future__ import annotations

import numpy as np
from agdl_models import WEIGHTS_DIR

from agdl_plugins.imaging import luma_plane
from agdl_plugins.parts.engine import cached_model, run_tiled


def qtable_tensor(qtable: np.ndarray | None, device: str):
    """(64,) luminance table -> (1, 64) float tensor /255 (a flat q50-like table when absent)."""
    import torch

    q = np.full(64, 16, dtype=np.float32) if qtable is None else np.asarray(qtable, dtype=np.float32)
    return torch.from_numpy(q / 255.0)[None].to(device)


def _network(kind: str, part_id: str, version: int, device: str, stem: str | None = None):
    """The cached network. Restorers (tiled convolutional networks) are kept in the device's convolution
    layout (engine.channels_last); predictors keep the contiguous layout their critical-set scores were
    measured in (their scores decide the critical set, which the guard band protects, but there is nothing
    to gain: F's whole-image U-Net runs on a thumbnail)."""
    from agdl_models import weights

    path = WEIGHTS_DIR / f"{stem or kind}_v{version}.safetensors"
    loader = getattr(weights, f"load_{kind}")
    return cached_model(f"{part_id}@{version}", device, lambda: loader(path), conv_layout=kind == "restorer")


def _whole_plane(luma: np.ndarray, device: str):
    """(H, W) uint8 plane -> (1, 1, H, W) float32 tensor in [0, 1] on ``device``."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(luma, dtype=np.float32) / 255.0)[None, None].to(device)


def _whole_input(net, planes: np.ndarray, device: str):
    """The whole-image input of ``net``: (1, 1, H, W) luminance, or (1, 3, H, W) Y, Cb, Cr for a network
    with ``cin == 3`` (F v3; a grey image gets Cb = Cr = 128). Values in [0, 1]."""
    import torch

    if getattr(net, "cin", 1) != 3:
        return _whole_plane(luma_plane(planes), device)
    if planes.ndim == 2:
        planes = np.stack([planes, np.full_like(planes, 128), np.full_like(planes, 128)], axis=-1)
    x = np.ascontiguousarray(planes.transpose(2, 0, 1), dtype=np.float32) / 255.0
    return torch.from_numpy(x)[None].to(device)


def run_network(kind: str, part_id: str, version: int, planes: np.ndarray, qtable: np.ndarray | None,
                device: str, stem: str | None = None) -> np.ndarray:
    """Apply network ``kind`` ("predictor" | "restorer") of ``version`` to a base layer.

    ``planes``: (H, W) uint8 luminance, or (H, W, 3) uint8 Y, Cb, Cr (only a whole-image network with
    ``cin == 3`` reads the chroma; every other network gets the luminance). Input is scaled to [0, 1];
    returns the raw (H, W) float32 network output, tiled with overlap. The weights are
    ``models/weights/{stem or kind}_v{version}.safetensors``.
    """
    net = _network(kind, part_id, version, device, stem)
    q = qtable_tensor(qtable, device)
    if getattr(net, "whole_image", False):  # global-context networks (F v2-v5) see the whole image at once
        import torch

        with torch.inference_mode():
            if _banded(net):
                return _banded_scores(net, planes, _full_logits(net, planes, device), device)
            return net(_whole_input(net, planes, device), q)[0, 0].float().cpu().numpy()
    luma = luma_plane(planes)
    # networks may set their own tiling (G v2's receptive field is ~120 px: bigger tiles, wider overlap)
    tiling = {k: getattr(net, k) for k in ("tile", "overlap") if hasattr(net, k)}
    # the tiles are converted to [0, 1] one at a time (no full-size float copy of the plane)
    return run_tiled(lambda t: net(t, q.expand(t.shape[0], -1)), luma, device, divide_by=255.0, **tiling)


#: pixels in one row band of a whole-image network's full-resolution work (:func:`_banded_scores`): a few MB
#: per float plane whatever the image size (a 24 MP image at once held ~2 GB of temporaries, BENCHMARKS.md §28)
BAND_PIXELS = 1 << 20


def _banded(net) -> bool:
    """Whether ``net`` (a whole-image predictor) splits into a thumbnail network and per-pixel full-resolution
    work (``models.saliency.SaliencyEdgePredictor``, F v2-v5), which the codec runs row band by row band."""
    return all(hasattr(net, a) for a in ("saliency", "side", "upsampled_logits", "edge", "edge_halo", "combine"))


def _thumbnail(net, planes: np.ndarray, device: str):
    """``net``'s (1, cin, side, side) thumbnail of its whole-image input (:func:`_whole_input`), resized one
    channel at a time: the resize treats channels independently, so this is that input's thumbnail bit for bit
    while holding one full-size float plane instead of ``cin``."""
    import torch
    from agdl_models.saliency import thumbnail

    cin = getattr(net, "cin", 1)
    chans = [luma_plane(planes)] if cin != 3 else (
        [planes[..., c] for c in range(3)] if planes.ndim == 3
        else [planes, np.full_like(planes, 128), np.full_like(planes, 128)])
    return torch.cat([thumbnail(_whole_plane(c, device), net.side) for c in chans], dim=1)


def _full_logits(net, planes: np.ndarray, device: str):
    """(1, 1, H, W) float32 saliency logits of a :func:`_banded` network (its ``saliency_logits`` of the
    whole-image input, bit for bit), without building that (1, cin, H, W) input. Call under inference mode."""
    return net.upsampled_logits(net.saliency(_thumbnail(net, planes, device)), planes.shape[:2])


def _banded_scores(net, planes: np.ndarray, logits, device: str) -> np.ndarray:
    """(H, W) float32 scores ``net.combine(logits, net.edge(luminance))`` of a :func:`_banded` network, computed
    on row bands of :data:`BAND_PIXELS` with ``net.edge_halo`` rows of context (exact: the edge term is local)
    -- the same values as the network's forward on the whole image, bit for bit on CPU, with a few MB of
    temporaries instead of several full-size planes. ``logits``: :func:`_full_logits`. Call under inference
    mode."""
    luma = luma_plane(planes)
    h, w = luma.shape
    rows = max(8, BAND_PIXELS // max(w, 1))
    halo = net.edge_halo
    out = np.empty((h, w), np.float32)
    for y0 in range(0, h, rows):
        y1 = min(y0 + rows, h)
        a, b = max(y0 - halo, 0), min(y1 + halo, h)
        edge = net.edge(_whole_plane(luma[a:b], device))[..., y0 - a : y1 - a, :]
        out[y0:y1] = net.combine(logits[..., y0:y1, :], edge)[0, 0].float().cpu().numpy()
    return out


def run_saliency(part_id: str, version: int, planes: np.ndarray, device: str) -> np.ndarray | None:
    """Salient-region probability (H, W) float32 in [0, 1] from predictor ``version``'s saliency head.

    ``planes`` as in :func:`run_network`. None when that predictor has no saliency head (F v1 predicts
    edge pixels only). The map is :func:`kornia_ops.saliency_map` of the network's whole-image input.
    """
    import torch

    from kornia_ops import saliency_map

    net = _network("predictor", part_id, version, device)
    if not hasattr(net, "saliency_logits"):
        return None
    with torch.inference_mode():
        if _banded(net):  # sigmoid of the same logits, without the (1, cin, H, W) float input
            return torch.sigmoid(_full_logits(net, planes, device))[0, 0].float().cpu().numpy()
        return saliency_map(_whole_input(net, planes, device), net)[0, 0].float().cpu().numpy()


def run_scores_and_saliency(part_id: str, version: int, planes: np.ndarray, qtable: np.ndarray | None,
                            device: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(scores (H, W) float32, saliency (H, W) float32 or None) of predictor ``version``.

    Bit-identical to :func:`run_network` and :func:`run_saliency` called one after the other, but a network
    with ``scores_and_logits`` (F v2, v3) runs its saliency U-Net once instead of twice.
    """
    net = _network("predictor", part_id, version, device)
    if not hasattr(net, "scores_and_logits"):
        return run_network("predictor", part_id, version, planes, qtable, device), None
    import torch

    with torch.inference_mode():
        if _banded(net):
            logits = _full_logits(net, planes, device)
            scores = _banded_scores(net, planes, logits, device)
            return scores, torch.sigmoid(logits)[0, 0].float().cpu().numpy()
        scores, logits = net.scores_and_logits(_whole_input(net, planes, device))
        return scores[0, 0].float().cpu().numpy(), torch.sigmoid(logits)[0, 0].float().cpu().numpy()
