"""The built-in plugin: registers the base codecs, baselines, learned networks and sensing ops."""

from __future__ import annotations

from .._models import models_submodule
from ..hookspecs import hookimpl
from .base_codecs import BUILTIN_BASE_CODECS
from .predictors import LearnedPredictor, SobelEdgePredictor
from .restorers import IdentityRestorer, LearnedRestorer
from .saliency_jpeg import SaliencyJpegCodec
from .sensing import GaussianSensingPart, StructuredSensingPart


def learned_versions() -> tuple[int | None, int | None]:
    """(predictor, restorer) weight versions shipped in ``models/weights`` (None when absent)."""
    try:
        weights = models_submodule("weights")
    except ImportError:
        return None, None
    f = weights.WEIGHTS_VERSION["predictor"] if weights.PREDICTOR_FILE.exists() else None
    g = weights.WEIGHTS_VERSION["restorer"] if weights.RESTORER_FILE.exists() else None
    return f, g


@hookimpl
def agdl_register_parts(registry) -> None:
    for codec in BUILTIN_BASE_CODECS:
        registry.add_base_codec(codec)
    registry.add_base_codec(SaliencyJpegCodec())  # decodes as plain JPEG; encoding needs agdl-f
    registry.add_predictor(SobelEdgePredictor())
    registry.add_restorer(IdentityRestorer())
    registry.add_sensing(StructuredSensingPart())
    registry.add_sensing(GaussianSensingPart())
    f_ver, g_ver = learned_versions()
    if f_ver is not None:
        registry.add_predictor(LearnedPredictor(f_ver))
    if g_ver is not None:
        registry.add_restorer(LearnedRestorer(g_ver))
