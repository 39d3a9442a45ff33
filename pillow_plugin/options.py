"""The Pillow plugin's settings, in one place (as pillow-heif's ``options`` module).

Every setting ``register_agdl_opener`` changes lives here: what ``load()`` passes to the decoder, the opt-in
analysis, whether JPEGs with AGDL segments open refined; and what ``save`` knows of Pillow's other writers.
"""

from __future__ import annotations

import difflib
import warnings
from typing import Any

from agdl_plugins.errors import AgdlOptionWarning
from agdl_plugins.options import ENCODE_OPTION_NAMES

#: Keyword arguments for :func:`agdl_plugins.decode` used by ``load()``. ``None`` values mean
#: "the core's default". Change them in place or through ``register_agdl_opener(**options)``.
DECODE_OPTIONS: dict[str, Any] = {"device": "auto", "projection": None}
DECODE_OPTION_NAMES = ("device", "projection", "restorer")

#: Opt-in analysis every later ``load()`` adds to ``info`` (``register_agdl_opener(saliency=True)``):
#: ``info["agdl_saliency"]``, (H, W) float32 in [0, 1] from :func:`agdl_plugins.analyze` (None when the file's
#: predictor has no saliency head). Off by default: ``load()`` then does exactly what it always did.
ANALYSIS_OPTIONS: dict[str, bool] = {"saliency": False}

#: ``register_agdl_opener(jpeg=True)``: JPEGs carrying AGDL segments open refined (format "AGDL").
JPEG_OPTIONS: dict[str, bool] = {"refined": False}

#: EXIF/ICC/XMP keywords of ``save`` (written byte for byte).
METADATA_NAMES = ("exif", "icc_profile", "xmp")

#: Options Pillow's own writers take (JPEG, PNG, WebP, AVIF, TIFF, GIF, ...): code that saves one image in several
#: formats passes them to every writer, and AGDL ignores them as every Pillow writer ignores what it does not
#: know. Anything else that is close to an AGDL option name is most likely a typo of it: a warning says so.
PILLOW_SAVE_KEYS = frozenset({
    "optimize", "progressive", "dpi", "subsampling", "qtables", "lossless", "method", "speed", "append_images",
    "save_all", "duration", "loop", "compress_level", "compression", "comment", "keep_rgb", "streamtype", "extra",
    "bits", "dictionary", "transparency", "exact", "minimize_size", "kmin", "kmax", "allow_mixed", "alpha_quality",
    "codec", "range", "max_threads", "tile_rows", "tile_cols", "autotiling", "irreversible", "num_resolutions",
    "quality_mode", "quality_layers", "restart_marker_blocks", "restart_marker_rows", "smooth", "background",
    "disposal", "include_color_table", "interlace", "palette", "pnginfo", "bitmap_format", "sizes", "format",
})


def warn_misspelt(encoderinfo: dict[str, Any]) -> None:
    """``AgdlOptionWarning`` for each ``save`` keyword that is no option of AGDL's or of Pillow's other writers
    but is close to an AGDL option name (a typo: ``qualty``, ``target_bp``)."""
    known = ENCODE_OPTION_NAMES | set(METADATA_NAMES) | PILLOW_SAVE_KEYS
    for key in sorted(k for k in encoderinfo if isinstance(k, str) and k not in known):
        close = difflib.get_close_matches(key, sorted(ENCODE_OPTION_NAMES), n=1, cutoff=0.75)
        if close:
            warnings.warn(f"AGDL save: unknown option {key!r} ignored (did you mean {close[0]!r}?)",
                          AgdlOptionWarning, stacklevel=4)
