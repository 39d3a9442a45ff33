"""Multiply-add counter for the AGDL networks: forward hooks on ``nn.Conv2d`` and ``nn.Linear``.

    from agdl_models.macs import macs_per_pixel
    macs_per_pixel(model, h=256, w=256)   # multiply-adds per input pixel of one forward pass

Counts the multiply-adds of every convolution (``out_elements * in_channels / groups * kh * kw``) and linear
layer (``out_elements * in_features``); element-wise ops (ReLU, FiLM's scale/shift, pixel (un)shuffle,
additions) are not counted. Convolutions called through ``F.conv2d`` (G v2's fixed DCT filters) are not
modules and are not counted either.
"""

from __future__ import annotations

import torch
import torch.nn as nn


def count_macs(model: nn.Module, x: torch.Tensor, cond: torch.Tensor) -> int:
    """Multiply-adds of ``model(x, cond)`` (x (B, 1, H, W), cond (B, C)), summed over Conv2d/Linear modules."""
    total = [0]

    def conv_hook(m: nn.Conv2d, _inp, out: torch.Tensor) -> None:
        kh, kw = m.kernel_size
        total[0] += out.numel() * (m.in_channels // m.groups) * kh * kw

    def lin_hook(m: nn.Linear, _inp, out: torch.Tensor) -> None:
        total[0] += out.numel() * m.in_features

    hooks = []
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            hooks.append(mod.register_forward_hook(conv_hook))
        elif isinstance(mod, nn.Linear):
            hooks.append(mod.register_forward_hook(lin_hook))
    try:
        # autograd on: the graph the weights define (at inference FiLM folds into its convolution and runs it
        # through F.conv2d, which the module hooks do not see; the multiply-adds are the same)
        with torch.enable_grad():
            model(x, cond)
    finally:
        for h in hooks:
            h.remove()
    return total[0]


def macs_per_pixel(model: nn.Module, h: int = 256, w: int = 256, cond_in: int = 64) -> float:
    """Multiply-adds per pixel of one (1, 1, h, w) forward pass of a restorer ``model(x, cond)``."""
    x = torch.full((1, 1, h, w), 0.5)
    cond = torch.full((1, cond_in), 16.0 / 255.0)
    return count_macs(model, x, cond) / (h * w)
