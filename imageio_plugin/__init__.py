"""imageio support for AGDL images: ``import imageio_plugin`` and use imageio as usual.

Importing the package registers the v3 plugin ``AGDL`` (class :class:`imageio_plugin.plugin.AgdlPlugin`,
imported lazily by imageio) in ``imageio.config.known_plugins`` and the ``.agdl`` extension in
``imageio.config.known_extensions``; :func:`register` does it explicitly and is idempotent::

    import imageio.v3 as iio
    import imageio_plugin

    iio.imwrite("photo.agdl", array, quality=40)
    array = iio.imread("photo.agdl")
"""

from __future__ import annotations

PLUGIN_NAME = "AGDL"
EXTENSION = ".agdl"

__all__ = ["EXTENSION", "PLUGIN_NAME", "register"]


def register() -> None:
    """Make imageio (v3 and legacy v2 calls) use the AGDL plugin; safe to call repeatedly.

    The plugin goes first in ``known_plugins`` because that dict's order is the order imageio tries
    plugins for data without a known extension (bytes, file objects): the AGDL plugin only checks
    8 magic bytes and declines anything else, and this way AGDL data is read by this plugin even
    when Pillow's AGDL opener is registered too.
    """
    from imageio.config import FileExtension, PluginConfig, known_extensions, known_plugins

    if PLUGIN_NAME not in known_plugins or next(iter(known_plugins)) != PLUGIN_NAME:
        others = {k: v for k, v in known_plugins.items() if k != PLUGIN_NAME}
        known_plugins.clear()  # mutate in place: imageio's modules hold references to this dict
        known_plugins[PLUGIN_NAME] = PluginConfig(
            name=PLUGIN_NAME, class_name="AgdlPlugin", module_name="imageio_plugin.plugin"
        )
        known_plugins.update(others)

    formats = known_extensions.setdefault(EXTENSION, [])
    if not any(PLUGIN_NAME in fmt.priority for fmt in formats):
        formats.insert(
            0,
            FileExtension(
                name="AGDL",
                extension=EXTENSION,
                priority=[PLUGIN_NAME],
                description="AGDL: base layer + compressed-sensing refinement of critical pixels",
            ),
        )


register()
