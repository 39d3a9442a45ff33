"""The built-in plugin: registers the base codecs, baselines, learned networks and sensing ops."""

from __future__ import annotations

import re

from agdl_models import WEIGHTS_DIR

from agdl_plugins.parts.base_codecs import BUILTIN_BASE_CODECS
from agdl_plugins.parts.hookspecs import hookimpl
from agdl_plugins.parts.predictors import LearnedPredictor, RoiEdgePredictor, SobelEdgePredictor
from agdl_plugins.parts.restorers import (
    IdentityRestorer,
    LearnedRestorer,
    LiteLearnedRestorer,
    LiteLossyBaseRestorer,
    LossyBaseRestorer,
)
from agdl_plugins.parts.saliency_jpeg import SaliencyJpegCodec, SaliencyJpegCodecV1, SaliencyJpegCodecV3
from agdl_plugins.parts.sensing import GaussianSensingPart, IdentitySensingPart, StructuredSensingPart

# The version a learned part id resolves to when none is named (encoding), pinned so that shipping a newer
# version (registered at once: files naming it decode) never changes what the encoder writes by default until
# it has won in the codec. F v6 won (BENCHMARKS.md §38; F v5 before it, §26) and is the default. A pinned
# version that is not shipped is ignored.
DEFAULT_VERSIONS: dict[str, tuple[str, int]] = {"predictor": ("agdl-f", 6)}
#: the weight files' stems (``models/weights/{stem}_v{N}.safetensors``), one per learned part id
STEMS = ("predictor", "restorer", "restorer_webp_avif", "restorer_lite", "restorer_lite_webp_avif")


def learned_versions() -> dict[str, list[int]]:
    """Weight versions shipped in ``models/weights``: ``{"predictor": [1, 2], "restorer": [1, 2],
    "restorer_webp_avif": [1], "restorer_lite": [1, 2], "restorer_lite_webp_avif": [1]}`` (sorted).

    Read from the file names (``predictor_v1.safetensors``) so that registering parts never imports torch.
    Every shipped version is registered, so files written with older weights keep decoding with them.
    """
    found: dict[str, list[int]] = {k: [] for k in STEMS}
    for f in WEIGHTS_DIR.glob("*_v*.safetensors"):
        m = re.fullmatch(rf"({'|'.join(STEMS)})_v(\d+)\.safetensors", f.name)
        if m:
            found[m[1]].append(int(m[2]))
    return {k: sorted(v) for k, v in found.items()}


@hookimpl
def agdl_register_parts(registry) -> None:
    for codec in BUILTIN_BASE_CODECS:
        registry.add_base_codec(codec)
    registry.add_base_codec(SaliencyJpegCodec())  # decodes as plain JPEG; encoding needs agdl-f's saliency head
    registry.add_base_codec(SaliencyJpegCodecV3())  # @2's control on F v5's map: the latest, so the one encoding
    registry.add_base_codec(SaliencyJpegCodecV1())  # decode-only
    registry.add_predictor(SobelEdgePredictor())
    registry.add_predictor(RoiEdgePredictor())  # bound to the file's ROI map by the pipeline (issue 27)
    registry.add_restorer(IdentityRestorer())
    registry.add_sensing(StructuredSensingPart())
    registry.add_sensing(GaussianSensingPart())
    registry.add_sensing(IdentitySensingPart())
    versions = learned_versions()
    for v in versions["predictor"]:
        registry.add_predictor(LearnedPredictor(v))
    for v in versions["restorer"]:
        registry.add_restorer(LearnedRestorer(v))
    for v in versions["restorer_webp_avif"]:  # WebP/AVIF bases, conditioned on the HEAD's codec and quality
        registry.add_restorer(LossyBaseRestorer(v))
    for v in versions["restorer_lite"]:  # G-lite (agdl-g-lite): chosen with restorer="agdl-g-lite", not a default
        registry.add_restorer(LiteLearnedRestorer(v))
    for v in versions["restorer_lite_webp_avif"]:  # G-lite for WebP/AVIF bases (agdl-g-lite-webp-avif)
        registry.add_restorer(LiteLossyBaseRestorer(v))
    for kind, (part_id, v) in DEFAULT_VERSIONS.items():
        if v in versions[kind]:
            registry.set_default(kind, part_id, v)
