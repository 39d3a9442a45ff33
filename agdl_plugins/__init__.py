"""AGDL core: the .agdl format, encoder/decoder pipeline, plugin host, inference engine and CLI.

Importing this package is cheap (no numpy pipeline, no torch): the heavy modules load on first use.
"""

from __future__ import annotations

from agdl_plugins.api import (
    analyze,
    decode,
    decode_base_preview,
    encode,
    encode_base_layer,
    read_info,
    refinement,
)
from agdl_plugins.errors import (
    AgdlFallbackWarning,
    AgdlFormatError,
    CriticalSelectionError,
    CriticalSetMismatchError,
    DecompressionBombError,
    MissingPartError,
    PartOutputError,
    RateUnreachableError,
    UnknownPartError,
)
from agdl_plugins.format.container import MAGIC
from agdl_plugins.format.header import AgdlInfo
from agdl_plugins.options import ENCODE_OPTION_NAMES, EncodeOptions, validate_encode_options
from agdl_plugins.parts.hookspecs import hookimpl, hookspec

__version__ = "0.1.0"


def __getattr__(name: str):
    if name in ("DecodedImage", "Refinement"):
        from agdl_plugins.codec import decoder

        return getattr(decoder, name)
    if name in ("Analysis", "RoiBox"):
        from agdl_plugins.codec import analysis

        return getattr(analysis, name)
    raise AttributeError(name)


__all__ = [
    "ENCODE_OPTION_NAMES",
    "MAGIC",
    "AgdlFallbackWarning",
    "AgdlFormatError",
    "AgdlInfo",
    "Analysis",
    "CriticalSelectionError",
    "CriticalSetMismatchError",
    "DecodedImage",
    "DecompressionBombError",
    "EncodeOptions",
    "MissingPartError",
    "PartOutputError",
    "RateUnreachableError",
    "UnknownPartError",
    "Refinement",
    "RoiBox",
    "analyze",
    "decode",
    "decode_base_preview",
    "encode",
    "encode_base_layer",
    "hookimpl",
    "hookspec",
    "read_info",
    "refinement",
    "validate_encode_options",
]
