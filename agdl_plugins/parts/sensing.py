"""Sensing operators by id: ``make(n, m, seed)`` returns a ``kornia_ops`` operator (H: R^n -> R^m).

A sensing part is a :class:`agdl_plugins.parts.protocols.Sensing`. ``pixel_aligned``
(:class:`~agdl_plugins.parts.protocols.PixelAligned`): measurement i is critical pixel i's own value (so the
encoder's quantiser may weigh its error with that pixel's objective weight); False for operators that mix
pixels (:func:`measurement_weights`).
"""

from __future__ import annotations

from agdl_plugins.parts.protocols import measurement_weights

__all__ = ["GaussianSensingPart", "IdentitySensingPart", "StructuredSensingPart", "measurement_weights"]


class StructuredSensingPart:
    """Orthonormal rows: random signs + permutation + orthonormal DCT, keep M rows. O(N log N)."""

    id = "structured-dct"
    version = 1
    pixel_aligned = False

    def make(self, n: int, m: int, seed: int):
        from kornia_ops import StructuredSensing

        return StructuredSensing(n, m, seed)


class GaussianSensingPart:
    """The paper's dense i.i.d. Gaussian H (research reference; memory O(N*M))."""

    id = "gaussian"
    version = 1
    pixel_aligned = False

    def make(self, n: int, m: int, seed: int):
        from kornia_ops import GaussianSensing

        return GaussianSensing(n, m, seed)


class IdentitySensingPart:
    """Identity sampling y = c (M = N): measurements keep their pixel's place. The default when M = N."""

    id = "identity"
    version = 1
    pixel_aligned = True

    def make(self, n: int, m: int, seed: int):
        from kornia_ops import IdentitySensing

        return IdentitySensing(n, m, seed)
