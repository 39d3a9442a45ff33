"""Kornia-style differentiable operators of the AGDL codec (depends only on torch and kornia).

Critical-pixel masks and labels, structured compressed-sensing operators, the CS projection
(decoder module R) and the saliency map of a base-layer image through a caller-supplied network. See
``docs/KORNIA_OPS.md`` (tutorial) and ``docs/DESIGN.md``.

Errors: bad shapes and values raise :class:`KorniaOpsValueError` (a ``ValueError``), wrong types and dtypes
:class:`KorniaOpsTypeError` (a ``TypeError``); both also subclass kornia's ``BaseError``. Every operator accepts
float16, bfloat16, float32 and float64; reduced precision is computed in float32 and returned in the input's dtype.
"""

from kornia_ops._checks import KorniaOpsTypeError, KorniaOpsValueError
from kornia_ops.dct import dct_ortho, idct_ortho
from kornia_ops.mask import (
    CriticalPixelMask,
    SoftCriticalPixelMask,
    critical_pixel_mask,
    critical_threshold,
    soft_critical_pixel_mask,
)
from kornia_ops.projection import (
    CSProjection,
    SensingOperator,
    cs_project_box,
    cs_project_equality,
    cs_project_image,
)
from kornia_ops.saliency import SaliencyMap, saliency_map
from kornia_ops.sensing import (
    GaussianSensing,
    IdentitySensing,
    StructuredSensing,
    structured_permutation_and_signs,
)
from kornia_ops.target import CriticalPixelTarget, critical_pixel_target

__all__ = [
    "CSProjection",
    "CriticalPixelMask",
    "CriticalPixelTarget",
    "GaussianSensing",
    "IdentitySensing",
    "KorniaOpsTypeError",
    "KorniaOpsValueError",
    "SensingOperator",
    "SaliencyMap",
    "SoftCriticalPixelMask",
    "StructuredSensing",
    "critical_pixel_mask",
    "critical_pixel_target",
    "critical_threshold",
    "cs_project_box",
    "cs_project_equality",
    "cs_project_image",
    "dct_ortho",
    "idct_ortho",
    "saliency_map",
    "soft_critical_pixel_mask",
    "structured_permutation_and_signs",
]
