"""AGDL core: the .agdl format, encoder/decoder pipeline, plugin host, inference engine and CLI.

Importing this package is cheap (no numpy pipeline, no torch): the heavy modules load on first use.
"""

from __future__ import annotations

from .api import analyze, decode, decode_base_preview, encode, encode_base_layer, read_info, refinement
from .container import MAGIC
from .errors import (
    AgdlFallbackWarning,
    AgdlFormatError,
    CriticalSetMismatchError,
    DecompressionBombError,
    MissingPartError,
)
from .header import AgdlInfo
from .hookspecs import hookimpl, hookspec
from .options import ENCODE_OPTION_NAMES, EncodeOptions, validate_encode_options

__version__ = "0.1.0"


def __getattr__(name: str):
    if name in ("DecodedImage", "Refinement"):
        from . import decoder

        return getattr(decoder, name)
    if name in ("Analysis", "RoiBox"):
        from . import analysis

        return getattr(analysis, name)
    raise AttributeError(name)


__all__ = [
    "ENCODE_OPTION_NAMES",
    "MAGIC",
    "AgdlFallbackWarning",
    "AgdlFormatError",
    "AgdlInfo",
    "Analysis",
    "CriticalSetMismatchError",
    "DecodedImage",
    "DecompressionBombError",
    "EncodeOptions",
    "MissingPartError",
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
