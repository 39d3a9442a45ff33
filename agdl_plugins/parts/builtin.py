"""The built-in plugin: registers the base codecs, baselines, learned networks and sensing ops."""

from __future__ import annotations

import re

from .._models import MODELS_DIR
from ..hookspecs import hookimpl
from .base_codecs import BUILTIN_BASE_CODECS
from .predictors import LearnedPredictor, SobelEdgePredictor
from .restorers import IdentityRestorer, LearnedRestorer
from .saliency_jpeg import SaliencyJpegCodec
from .sensing import GaussianSensingPart, StructuredSensingPart


def learned_versions() -> tuple[int | None, int | None]:
    """(predictor, restorer) weight versions shipped in ``models/weights`` (None when absent).

    Read from the file names (``predictor_v1.safetensors``) so that registering parts never imports torch.
    """
    found: dict[str, int] = {}
    for f in (MODELS_DIR / "weights").glob("*_v*.safetensors"):
        m = re.fullmatch(r"(predictor|restorer)_v(\d+)\.safetensors", f.name)
        if m:
            found[m[1]] = max(found.get(m[1], 0), int(m[2]))
    return found.get("predictor"), found.get("restorer")


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
