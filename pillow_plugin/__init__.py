"""Pillow support for AGDL images: ``import pillow_plugin`` and use PIL as usual.

Importing the package registers the plugin; :func:`register_agdl_opener` does it explicitly
(idempotent) and sets decode options::

    import pillow_plugin
    pillow_plugin.register_agdl_opener(device="cpu")   # optional
    pillow_plugin.register_agdl_opener(jpeg=True)      # optional: JPEGs with AGDL segments open refined
    pillow_plugin.register_agdl_opener(saliency=True)  # optional: load() adds im.info["agdl_saliency"]
    with Image.open("photo.agdl") as im: ...
"""

from . import options
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
__all__ += ["options"]  # every setting of the plugin (pillow_plugin.options)
__all__ += ["worker_init"]  # spawned workers (torch DataLoader, multiprocessing, Ray)


def worker_init(worker_id: int | None = None) -> None:
    """Register AGDL with Pillow in a worker process: ``DataLoader(..., worker_init_fn=pillow_plugin.worker_init)``.

    A process started with ``spawn`` or ``forkserver`` (``DataLoader(multiprocessing_context="spawn")``, the
    default on macOS and Windows; Ray workers; ``ProcessPoolExecutor``) begins with Pillow's built-in plugins
    only, so ``Image.open("x.agdl")`` there fails with ``UnidentifiedImageError`` unless something imports
    this package. Naming this function imports it in the worker. Options given to
    :func:`register_agdl_opener` in the parent are not carried over: call it again in your own init function.
    ``worker_id`` (DataLoader's argument) is ignored.
    """
    register_agdl_opener()
