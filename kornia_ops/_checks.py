"""Input checks shared by the ``kornia_ops`` operators, with typed errors.

Every error names the function and the argument. Errors are standard Python exceptions, so a caller can write
``except ValueError`` (bad shape or value, NaN/inf where a finite tensor is needed) or ``except TypeError``
(wrong type or dtype) without knowing about kornia; they also subclass kornia's ``BaseError`` so code written
against earlier versions (which raised kornia's errors) keeps working.

Dtype policy: every operator accepts ``float16``, ``bfloat16``, ``float32`` and ``float64``; the reduced-precision
types are computed internally in ``float32`` (:func:`compute_dtype`) and the result is returned in the input's
dtype, as PyTorch's own ops do.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

try:  # kornia >= 0.7 has it; the fallback only keeps kornia_ops importable on odd versions
    from kornia.core.exceptions import BaseError as _KorniaBaseError
except ImportError:  # pragma: no cover
    _KorniaBaseError = Exception  # type: ignore[assignment,misc]

__all__ = [
    "FLOAT_DTYPES",
    "KorniaOpsTypeError",
    "KorniaOpsValueError",
    "as_index",
    "check_finite",
    "check_float",
    "check_shape",
    "check_tensor",
    "compute_dtype",
]

#: The floating dtypes every operator accepts.
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


class KorniaOpsValueError(_KorniaBaseError, ValueError):  # type: ignore[misc,valid-type]
    """A bad shape or value (a ``ValueError``; also kornia's ``BaseError``)."""


class KorniaOpsTypeError(_KorniaBaseError, TypeError):  # type: ignore[misc,valid-type]
    """A wrong type or dtype (a ``TypeError``; also kornia's ``BaseError``)."""


def check_tensor(x: Any, fname: str, arg: str) -> None:
    """``TypeError`` unless ``x`` is a tensor."""
    if not isinstance(x, Tensor):
        raise KorniaOpsTypeError(f"{fname}: {arg} must be a torch.Tensor, got {type(x).__name__}")


def check_shape(x: Any, dims: Sequence[str], fname: str, arg: str) -> None:
    """Check ``x.shape`` against named dims: letters are free, digits fixed, a leading ``"*"`` any prefix.

    Example: ``check_shape(x, ["B", "1", "H", "W"], "f", "roi")``; ``["*", "N"]`` means at least one dim.
    """
    check_tensor(x, fname, arg)
    want = list(dims)
    star = bool(want) and want[0] == "*"
    fixed = want[1:] if star else want
    shape = tuple(x.shape)
    ok = len(shape) >= len(fixed) if star else len(shape) == len(fixed)
    if ok:
        tail = shape[len(shape) - len(fixed):] if fixed else ()
        ok = all(not d.isdigit() or int(d) == s for d, s in zip(fixed, tail))
    if not ok:
        raise KorniaOpsValueError(f"{fname}: {arg} must have shape ({', '.join(want)}), got {shape}")


def check_float(x: Tensor, fname: str, arg: str) -> None:
    """``TypeError`` unless ``x`` is a real floating tensor of a supported dtype (:data:`FLOAT_DTYPES`)."""
    check_tensor(x, fname, arg)
    if x.dtype not in FLOAT_DTYPES:
        raise KorniaOpsTypeError(
            f"{fname}: {arg} must be a floating point tensor (float16, bfloat16, float32 or float64), got {x.dtype}"
        )


def check_finite(x: Tensor, fname: str, arg: str) -> None:
    """``ValueError`` when ``x`` holds a NaN or an infinity (reads the tensor: a device sync)."""
    if x.numel() and not bool(torch.isfinite(x.detach()).all()):
        raise KorniaOpsValueError(f"{fname}: {arg} contains NaN/inf")


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype an operator computes in: ``float32`` for ``float16``/``bfloat16``, else ``dtype`` itself."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def as_index(v: Any, fname: str, arg: str) -> int:
    """Any integral (``int``, ``numpy.int64``; not ``bool`` or ``float``) as a python int (``operator.index``)."""
    if isinstance(v, bool):
        raise KorniaOpsTypeError(f"{fname}: {arg} must be an integer, got bool")
    try:
        return operator.index(v)
    except TypeError:
        raise KorniaOpsTypeError(f"{fname}: {arg} must be an integer, got {type(v).__name__} {v!r}") from None
