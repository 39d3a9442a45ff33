"""Pillow support for AGDL images: ``import pillow_plugin`` and use PIL as usual.

Importing the package registers the plugin; :func:`register_agdl_opener` does it explicitly
(idempotent) and sets decode options::

    import pillow_plugin
    pillow_plugin.register_agdl_opener(device="cpu")   # optional
    pillow_plugin.register_agdl_opener(jpeg=True)      # optional: JPEGs with AGDL segments open refined
    pillow_plugin.register_agdl_opener(saliency=True)  # optional: load() adds im.info["agdl_saliency"]
    with Image.open("photo.agdl") as im: ...
"""

from .AgdlImagePlugin import (
    ANALYSIS_OPTIONS,
    DECODE_OPTIONS,
    EXTENSIONS,
    FORMAT,
    JPEG_OPENER_ID,
    MIME,
    AgdlImageFile,
    AgdlJpegImageFile,
    register_agdl_opener,
)

__all__ = ["DECODE_OPTIONS", "EXTENSIONS", "FORMAT", "MIME", "AgdlImageFile", "register_agdl_opener"]
__all__ += ["JPEG_OPENER_ID", "AgdlJpegImageFile"]  # AGDL inside JPEG (register_agdl_opener(jpeg=True))
__all__ += ["ANALYSIS_OPTIONS"]  # register_agdl_opener(saliency=True)
