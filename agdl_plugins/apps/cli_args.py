"""The encoder options as command-line arguments, generated from :class:`agdl_plugins.options.EncodeOptions`
(``agdl encode``, ``agdl demo``): one list of options, so the CLI cannot drift from the API."""

from __future__ import annotations

import argparse
import glob
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import numpy as np

from agdl_plugins.options import EncodeOptions

#: the option the CLI spells as files and boxes (``--roi MASK.png``, ``--roi-box``, ``--roi-dir``)
ROI = "roi"


def flag(name: str) -> str:
    """``target_bpp`` -> ``--target-bpp``."""
    return "--" + name.replace("_", "-")


def roi_box(text: str) -> tuple[int, int, int, int]:
    """``"x0,y0,x1,y1"`` -> a box (argparse type of ``--roi-box``)."""
    try:
        box = tuple(int(v) for v in text.split(","))
    except ValueError:
        box = ()
    if len(box) != 4:
        raise argparse.ArgumentTypeError(f"a ROI box is x0,y0,x1,y1 (whole pixels, x1/y1 exclusive), got {text!r}")
    return box  # type: ignore[return-value]


def load_roi_mask(path: str | Path) -> np.ndarray:
    """A mask image file -> (H, W) uint8 (non-zero = ROI); any mode Pillow reads is taken as grey levels.

    Raises:
        OSError: the file cannot be read as an image.
    """
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im if im.mode in ("1", "L") else im.convert("L")).astype(np.uint8)


def roi_for(src: str | Path, roi_dir: str | Path) -> np.ndarray:
    """``--roi-dir``: the mask in ``roi_dir`` whose stem is ``src``'s (any image suffix).

    Raises:
        FileNotFoundError: no such mask, or several.
    """
    stem = Path(src).stem
    found = sorted(p for p in Path(roi_dir).glob(f"{glob.escape(stem)}.*") if p.is_file())
    if len(found) != 1:
        what = "no mask" if not found else f"{len(found)} masks ({', '.join(p.name for p in found)})"
        raise FileNotFoundError(f"--roi-dir: {what} named {stem}.* in {roi_dir}")
    return load_roi_mask(found[0])


def add_encode_arguments(p: argparse.ArgumentParser, exclude: tuple[str, ...] = (), roi_dir: bool = False) -> None:
    """One ``--option`` per :class:`EncodeOptions` field (but ``exclude``), with the field's help, type and
    choices; ``roi`` as ``--roi MASK.png`` and ``--roi-box x0,y0,x1,y1`` (repeatable), and ``--roi-dir DIR``
    with ``roi_dir`` (batch encodes: a mask per input).

    Every argument defaults to ``None`` (= "not given": the encoder's own default applies, shown in the help).
    """
    g = p.add_argument_group("AGDL encoder options (the same names and meanings as agdl_plugins.encode)")
    for f in fields(EncodeOptions):
        if f.name in exclude:
            continue
        if f.name == ROI:
            g.add_argument(flag(ROI), dest=ROI, metavar="MASK.png", default=None,
                           help="region of interest: a mask image of the input's size (non-zero = ROI). "
                           + f.metadata["help"].replace("%", "%%"))
            g.add_argument("--roi-box", dest="roi_box", metavar="x0,y0,x1,y1", type=roi_box, action="append",
                           default=None, help="region of interest: a box in pixels (x1, y1 exclusive); repeat for "
                           "several")
            if roi_dir:
                g.add_argument("--roi-dir", dest="roi_dir", metavar="DIR", default=None,
                               help="region of interest per input: DIR/<input stem>.<any image suffix>, a mask "
                               "of that input's size")
            continue
        meta = f.metadata
        default = "" if f.default is MISSING or f.default is None else f" (default {f.default})"
        g.add_argument(flag(f.name), dest=f.name, type=meta["type"], choices=meta["choices"], default=None,
                       help=meta["help"].replace("%", "%%") + default)


def encode_options(a: argparse.Namespace, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """The encoder options given on the command line (absent ones left to the encoder's defaults); ``roi`` as
    the loaded mask (uint8 array) or the list of boxes. ``--roi-dir`` is left to the caller (per input).

    Raises:
        ValueError: more than one of ``--roi``, ``--roi-box``, ``--roi-dir``. OSError: an unreadable mask.
    """
    opts = {f.name: getattr(a, f.name) for f in fields(EncodeOptions)
            if f.name not in exclude and f.name != ROI and getattr(a, f.name, None) is not None}
    if ROI in exclude:
        return opts
    given = [n for n in (ROI, "roi_box", "roi_dir") if getattr(a, n, None) is not None]
    if len(given) > 1:
        raise ValueError(f"give one of --roi, --roi-box, --roi-dir, not {' and '.join(flag(n) for n in given)}")
    if getattr(a, ROI, None) is not None:
        opts[ROI] = load_roi_mask(a.roi)
    elif getattr(a, "roi_box", None) is not None:
        opts[ROI] = list(a.roi_box)
    return opts
