"""Stage D1 of Algorithm 1: the restorer G removes base-layer artefacts from the luminance.

A restorer (:class:`agdl_plugins.parts.protocols.Restorer`) has ``id``, ``version`` and
``restore(luma, qtable, device) -> (H, W) float32`` in grey levels (0..255, not rounded). A restorer that
conditions on the base layer's codec and quality also has ``for_base(codec_id, quality) -> restorer``
(:class:`~agdl_plugins.parts.protocols.BaseConditioned`): encoder and decoder run the part through
:func:`bind` with the HEAD's base codec id and quality, so the conditioning needs nothing the file does not
already store. The pipeline runs a restorer through :func:`agdl_plugins.parts.protocols.restore` (checked).
"""

from __future__ import annotations

import numpy as np

from agdl_plugins.parts.learned import run_network
from agdl_plugins.parts.protocols import bind

__all__ = ["LITE_LOSSY_RESTORER_ID", "LITE_RESTORER_ID", "LOSSY_RESTORER_ID", "IdentityRestorer", "LearnedRestorer",
           "LiteLearnedRestorer", "LiteLossyBaseRestorer", "LossyBaseRestorer", "bind"]

#: id of the WebP/AVIF restorer (weights ``models/weights/restorer_webp_avif_vN.safetensors``)
LOSSY_RESTORER_ID = "agdl-g-webp-avif"
#: id of G-lite, the light JPEG restorer distilled from G v2 (``models/weights/restorer_lite_vN.safetensors``)
LITE_RESTORER_ID = "agdl-g-lite"
#: id of G-lite for WebP/AVIF bases, distilled from ``agdl-g-webp-avif``
#: (``models/weights/restorer_lite_webp_avif_vN.safetensors``)
LITE_LOSSY_RESTORER_ID = "agdl-g-lite-webp-avif"


def _grey(out: np.ndarray) -> np.ndarray:
    """A restorer network's (H, W) float32 output in [0, 1] units -> grey levels, in place (``out * 255``: the
    same values, without a second full-size plane)."""
    return np.multiply(out, np.float32(255.0), out=out)


class IdentityRestorer:
    """Baseline: no restoration (the base layer as is). Named ablation ``identity``."""

    id = "identity"
    version = 1

    def restore(self, luma: np.ndarray, qtable: np.ndarray | None, device: str) -> np.ndarray:
        return luma.astype(np.float32)


class LearnedRestorer:
    """Network G (``models.DualDomainRestorer``), conditioned on the JPEG luminance table."""

    id = "agdl-g"

    def __init__(self, version: int) -> None:
        self.version = version

    def restore(self, luma: np.ndarray, qtable: np.ndarray | None, device: str) -> np.ndarray:
        return _grey(run_network("restorer", self.id, self.version, luma, qtable, device))


class LiteLearnedRestorer(LearnedRestorer):
    """G-lite (``models.restorer_lite.LiteRestorer``, ``agdl-g-lite``): G v2's interface (luminance + JPEG
    luminance table) at under a quarter of its multiply-adds per pixel; distilled from G v2 (issue 29)."""

    id = LITE_RESTORER_ID

    def restore(self, luma: np.ndarray, qtable: np.ndarray | None, device: str) -> np.ndarray:
        return _grey(run_network("restorer", self.id, self.version, luma, qtable, device, stem="restorer_lite"))


class LossyBaseRestorer:
    """Network G for WebP and AVIF bases (``agdl-g-webp-avif``), FiLM-conditioned on (base codec, quality).

    The 64-value conditioning vector is ``models.base_cond.base_cond(codec, quality)`` from the HEAD's base
    codec id and quality byte (docs/FORMAT.md, part registry); the qtable argument is not used (WebP/AVIF
    decoders expose none). Unbound (no base given) it refuses to run.
    """

    id = LOSSY_RESTORER_ID
    codecs = ("webp", "avif")
    stem = "restorer_webp_avif"  # weights: models/weights/{stem}_v{version}.safetensors

    def __init__(self, version: int, base: tuple[str, int] | None = None) -> None:
        self.version = version
        self.base = base

    def for_base(self, codec_id: str, quality: int) -> LossyBaseRestorer:
        if codec_id not in self.codecs:
            raise ValueError(f"restorer {self.id} restores {'/'.join(self.codecs)} base layers, not {codec_id!r}")
        return type(self)(self.version, (codec_id, int(quality)))

    def cond(self) -> np.ndarray:
        """(64,) conditioning table (ints 1..255) of the bound base."""
        if self.base is None:
            raise ValueError(f"restorer {self.id} needs the base codec and quality: use restorers.bind()")
        from agdl_models.base_cond import base_cond

        return base_cond(*self.base)

    def restore(self, luma: np.ndarray, qtable: np.ndarray | None, device: str) -> np.ndarray:
        return _grey(run_network("restorer", self.id, self.version, luma, self.cond(), device, stem=self.stem))


class LiteLossyBaseRestorer(LossyBaseRestorer):
    """G-lite for WebP and AVIF bases (``agdl-g-lite-webp-avif``): G-lite's network
    (``models.restorer_lite.LiteRestorer``, under a quarter of G v2's multiply-adds per pixel) with the WebP/AVIF
    restorer's conditioning on (base codec, quality), distilled from ``agdl-g-webp-avif`` (issue 29)."""

    id = LITE_LOSSY_RESTORER_ID
    stem = "restorer_lite_webp_avif"
