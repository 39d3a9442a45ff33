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
    if getattr(net, "whole_image", False):  # global-context networks (F v2, v3) see the whole image at once
        import torch

        with torch.inference_mode():
            return net(_whole_input(net, planes, device), q)[0, 0].float().cpu().numpy()
    luma = luma_plane(planes)
    # networks may set their own tiling (G v2's receptive field is ~120 px: bigger tiles, wider overlap)
    tiling = {k: getattr(net, k) for k in ("tile", "overlap") if hasattr(net, k)}
    return run_tiled(lambda t: net(t, q.expand(t.shape[0], -1)), luma.astype(np.float32) / 255.0, device, **tiling)


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
        scores, logits = net.scores_and_logits(_whole_input(net, planes, device))
        return scores[0, 0].float().cpu().numpy(), torch.sigmoid(logits)[0, 0].float().cpu().numpy()
