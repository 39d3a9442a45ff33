"""Differentiable saliency map of a base-layer image, through a network passed in by the caller.

The codec's network F (``models.saliency.SaliencyEdgePredictor``) has a saliency head
``saliency_logits(x) -> logits``; this op applies any module with that method, so ``kornia_ops`` never
imports the codec or its models. For users who train on top of AGDL streams (the base layer is what a
decoder has without running the restorer; :func:`agdl_plugins.analyze` computes the same map from a file).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from kornia_ops._checks import KorniaOpsTypeError, KorniaOpsValueError, check_finite, check_float, check_shape

__all__ = ["SaliencyMap", "saliency_map"]


def _check_net(net: nn.Module, fname: str) -> None:
    if not callable(getattr(net, "saliency_logits", None)):
        raise KorniaOpsTypeError(
            f"{fname}: net must have a saliency_logits(x) method (e.g. AGDL's network F), got {type(net).__name__}"
        )


def saliency_map(x: Tensor, net: nn.Module, *, check_range: bool = True) -> Tensor:
    r"""Salient-region probability of a base layer: :math:`\sigma(\text{net.saliency\_logits}(x))`.

    Differentiable with respect to ``x`` and the network's parameters (nothing is detached; freeze the
    network with ``net.requires_grad_(False)`` to train only what feeds it).

    Args:
        x: base layer :math:`(B, C, H, W)`, floating point, in :math:`[0, 1]`: :math:`C` = ``net.cin`` when
            the network has that attribute (AGDL's F v3: 3 planes Y, Cb, Cr), else 1 (luminance; F v2).
        net: a module with ``saliency_logits(x) -> (B, 1, H, W)`` logits (AGDL's network F v2/v3 has one).
        check_range: check that ``x`` is finite (``ValueError`` "contains NaN/inf") and lies in :math:`[0, 1]`
            (reads the tensor: a device sync; turn off under ``torch.compile`` or in a hot training loop).

    The dtype is the network's business: ``x`` (any float dtype) is passed to it as it is.

    Raises:
        TypeError: ``net`` without ``saliency_logits``, non-float ``x``. ValueError: wrong shape, NaN/inf or out
            of range ``x`` (with ``check_range``), logits of the wrong shape.

    Returns:
        saliency :math:`(B, 1, H, W)` in :math:`[0, 1]`, dtype of the network's logits.

    Example:
        >>> class Net(torch.nn.Module):
        ...     def saliency_logits(self, x):
        ...         return 8.0 * (x - 0.5)
        >>> x = torch.tensor([[[[0.0, 0.5, 1.0]]]])
        >>> saliency_map(x, Net()).round(decimals=3)
        tensor([[[[0.0180, 0.5000, 0.9820]]]])
    """
    _check_net(net, "saliency_map")
    cin = int(getattr(net, "cin", 1))
    check_shape(x, ["B", str(cin), "H", "W"], "saliency_map", "x")
    check_float(x, "saliency_map", "x")
    if check_range and x.numel():
        check_finite(x, "saliency_map", "x")
        lo, hi = torch.aminmax(x.detach())
        if not (bool(lo >= 0) and bool(hi <= 1)):
            raise KorniaOpsValueError(
                f"saliency_map: x must lie in [0, 1] (scale uint8 by 1/255), got [{float(lo):g}, {float(hi):g}]"
            )
    logits = net.saliency_logits(x)
    if not (isinstance(logits, Tensor) and logits.shape == (x.shape[0], 1, *x.shape[2:])):
        raise KorniaOpsValueError(
            f"saliency_map: net.saliency_logits returned shape {tuple(getattr(logits, 'shape', ()))}, "
            f"expected {(x.shape[0], 1, *x.shape[2:])}"
        )
    return torch.sigmoid(logits)


class SaliencyMap(nn.Module):
    r"""Module of :func:`saliency_map`: holds the network (a submodule, so ``.to()`` and ``.parameters()``
    include it).

    Args:
        net: a module with ``saliency_logits(x) -> (B, 1, H, W)`` logits (AGDL's network F v2/v3).
        check_range: check that inputs lie in :math:`[0, 1]`.

    Shape:
        - Input: :math:`(B, C, H, W)` in :math:`[0, 1]`, :math:`C` = ``net.cin`` (default 1)
        - Output: :math:`(B, 1, H, W)` in :math:`[0, 1]`

    Example:
        >>> class Net(torch.nn.Module):
        ...     def saliency_logits(self, x):
        ...         return x - 0.5
        >>> SaliencyMap(Net())(torch.rand(2, 1, 8, 8)).shape
        torch.Size([2, 1, 8, 8])
    """

    def __init__(self, net: nn.Module, check_range: bool = True) -> None:
        super().__init__()
        _check_net(net, "SaliencyMap")
        self.net = net
        self.check_range = check_range

    def extra_repr(self) -> str:
        return f"check_range={self.check_range}"

    def forward(self, x: Tensor) -> Tensor:
        return saliency_map(x, self.net, check_range=self.check_range)
