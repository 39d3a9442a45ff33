"""The encoder options as command-line arguments, generated from :class:`agdl_plugins.options.EncodeOptions`
(``agdl encode``, ``agdl demo``): one list of options, so the CLI cannot drift from the API."""

from __future__ import annotations

import argparse
from dataclasses import MISSING, fields
from typing import Any

from agdl_plugins.options import EncodeOptions


def flag(name: str) -> str:
    """``target_bpp`` -> ``--target-bpp``."""
    return "--" + name.replace("_", "-")


def add_encode_arguments(p: argparse.ArgumentParser, exclude: tuple[str, ...] = ()) -> None:
    """One ``--option`` per :class:`EncodeOptions` field (but ``exclude``), with the field's help, type and
    choices.

    Every argument defaults to ``None`` (= "not given": the encoder's own default applies, shown in the help).
    """
    g = p.add_argument_group("AGDL encoder options (the same names and meanings as agdl_plugins.encode)")
    for f in fields(EncodeOptions):
        if f.name in exclude:
            continue
        meta = f.metadata
        default = "" if f.default is MISSING or f.default is None else f" (default {f.default})"
        g.add_argument(flag(f.name), dest=f.name, type=meta["type"], choices=meta["choices"], default=None,
                       help=meta["help"].replace("%", "%%") + default)


def encode_options(a: argparse.Namespace, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """The encoder options given on the command line (absent ones left to the encoder's defaults)."""
    return {f.name: getattr(a, f.name) for f in fields(EncodeOptions)
            if f.name not in exclude and getattr(a, f.name, None) is not None}
