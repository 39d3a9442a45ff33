"""Pillow support for AGDL images: ``import pillow_plugin`` and use PIL as usual.

Importing the package registers the plugin; :func:`register_agdl_opener` does it explicitly
(idempotent) and sets decode options::

    import pillow_plugin
    pillow_plugin.register_agdl_opener(device="cpu")   # optional
    with Image.open("photo.agdl") as im: ...
"""

from .AgdlImagePlugin import (
    DECODE_OPTIONS,
    EXTENSIONS,
    FORMAT,
    MIME,
    AgdlImageFile,
    register_agdl_opener,
)

__all__ = ["DECODE_OPTIONS", "EXTENSIONS", "FORMAT", "MIME", "AgdlImageFile", "register_agdl_opener"]
