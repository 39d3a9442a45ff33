"""pluggy hook specifications: how built-in and third-party packages register codec parts.

A plugin module (or object) implements::

    @agdl_plugins.hookimpl
    def agdl_register_parts(registry):
        registry.add_base_codec(MyCodec())        # .id, .version, encode/decode
        registry.add_predictor(MyPredictor())     # .id, .version, .exact, scores()
        registry.add_restorer(MyRestorer())       # .id, .version, restore()
        registry.add_sensing(MySensing())         # .id, .version, make(n, m, seed)

and is found through the entry-point group ``agdl.plugins`` (third party) or registered explicitly
(built-ins). What each kind of part must have, and the optional abilities it may have, are the protocols of
:mod:`agdl_plugins.parts.protocols`; its outputs are checked there where the codec receives them. Parts are
looked up by the (id, version) recorded in the bitstream, never by "whichever plugin answers first".
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "agdl"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def agdl_register_parts(registry: Any) -> None:
    """Register named, versioned parts with ``registry`` (an :class:`agdl_plugins.parts.registry.Registry`)."""
