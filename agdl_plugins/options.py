"""Encoder/decoder options: names, defaults and validation (the contract the plugins and CLI use)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from agdl_plugins.errors import AgdlOptionWarning
from agdl_plugins.roi import normalise_roi

PROJECTIONS = ("equality", "box")
QUANTISERS = ("round", "rdo")  # the encoder's measurement quantisers (agdl_plugins.codec.entropy.quantise_with)
CONTAINERS = ("agdl", "jpeg")  # what an encode writes: a .agdl file, or AGDL inside a standard JPEG
DEFAULT_FRACTION = 0.2  # budget used by ``encoder.prepare`` when called without one (scripts, ablations)
DEFAULT_ROI_WEIGHT = 0.25  # measured: BENCHMARKS.md section 11 (keeps whole-image PSNR at G alone's)
DEFAULT_USER_ROI_WEIGHT = 0.5  # with a user's roi: measured in BENCHMARKS.md section 23 (scripts/roi_sweep.py)
#: the base of a .agdl file when ``base`` is not given (issue 28: measured in BENCHMARKS.md section 35);
#: ``container="jpeg"`` always takes ``jpeg``
DEFAULT_BASE = "auto"


def _opt(default: Any, help: str, *, type: type | None = None, choices: tuple[str, ...] | None = None) -> Any:
    """A dataclass field carrying its own documentation: the CLI's ``--help``, the imageio/Pillow docs and
    ``docs/OPTIONS.md`` are generated from it (one list of options; a test checks every front end)."""
    return field(default=default, metadata={"help": help, "type": type, "choices": choices})


@dataclass
class EncodeOptions:
    """Validated encoder options: the one list every front end takes (``agdl_plugins.encode(**options)``,
    Pillow ``save(..., **options)``, imageio ``imwrite(..., **options)``, ``agdl encode --option``).

    Each field's help (``dataclasses.fields(EncodeOptions)[i].metadata["help"]``) is its documentation;
    ``docs/OPTIONS.md`` is generated from them (``agdl options --markdown``).
    """

    quality: int = _opt(30, "base-layer quality 1..100 (ignored when target_bpp is set); the refinement added on "
                        "top is chosen by rate-distortion optimisation against the base codec's own return at "
                        "this quality: bytes and PSNR rise with quality", type=int)
    target_bpp: float | None = _opt(None, "bits per pixel of the pixel layers (base + refinement + alpha + "
                                    "container; EXIF/ICC/XMP ride on top) to land within 3 % of; base quality, "
                                    "budget and step minimise the distortion", type=float)
    critical_fraction: float | None = _opt(None, "critical pixels N as a fraction of all pixels, 0..1; default: "
                                           "chosen by rate-distortion optimisation, no refinement being one "
                                           "candidate", type=float)
    measurement_ratio: float = _opt(1.0, "CS measurements per critical pixel M/N, 0..1", type=float)
    step: float | None = _opt(None, "measurement quantiser step in grey levels (> 0); default: chosen by the "
                              "optimisation (always tuned under target_bpp)", type=float)
    roi_weight: float | None = _opt(None, "the distortion the encoder minimises, 0..1: roi_weight x "
                                    "ROI-weighted MSE (the user's roi, else F's saliency on the original) + (1 - "
                                    f"roi_weight) x whole-image MSE, on the luminance; default {DEFAULT_ROI_WEIGHT} "
                                    f"without roi, {DEFAULT_USER_ROI_WEIGHT} with one", type=float)
    base: str | None = _opt(None, "base codec: jpeg, jpeg-saliency, webp, avif, jpeg2000, or auto (the encoder "
                            "weighs jpeg, webp and avif on this image at the byte budget -- target_bpp, else what "
                            "the JPEG base alone takes at quality -- and keeps the best; read_info reports each "
                            "one's objective; with every decision given -- quality, critical_fraction and step, or "
                            "critical_fraction=0, no target_bpp -- auto writes the JPEG base). Default: auto for a "
                            ".agdl file, jpeg with container='jpeg' (and for the CLI's -o x.jpg, where "
                            "jpeg/jpeg-saliency write only the base layer, as a plain JPEG, unless container is "
                            "jpeg). base='jpeg' encodes ~5x faster than auto", type=str)
    predictor: str | None = _opt(None, "critical-pixel predictor id (default: trained agdl-f, else edge-sobel)",
                                 type=str)
    restorer: str | None = _opt(None, "restorer id used as the measurement reference (default: the trained "
                                "one for the base -- agdl-g for JPEG, agdl-g-webp-avif for WebP/AVIF, "
                                "agdl-g-lite-webp-avif for AVIF above 2 MP -- else identity; agdl-g-lite: "
                                "G-lite, the JPEG restorer at 0.24x agdl-g's multiply-adds)", type=str)
    sensing: str | None = _opt(None, "sensing operator: identity (y = c, the default when measurement_ratio is "
                               "1), structured-dct (the paper's global mixing, the default for M < N), gaussian "
                               "(dense research reference); identity wins at equal bytes", type=str)
    device: str = _opt("auto", "auto | cpu | cuda[:N]", type=str)
    seed: int = _opt(0, "seed of the sensing operator (stored in the header)", type=int)
    quantiser: str = _opt("round", "measurement quantiser: round (the paper's plain rounding) or rdo (per "
                          "measurement the index among round(z/step), one toward zero and zero minimising "
                          "weighted squared error + lambda x bits; encoder only, measured neutral once budget and "
                          "step are re-optimised: BENCHMARKS.md section 18)", type=str, choices=QUANTISERS)
    roi: Any = _opt(None, "region of interest the file carries and the encoder favours: a 2-D bool/uint8 mask "
                    "(numpy array or mode 1/L PIL image of the image's size, non-zero = ROI) or a list of boxes "
                    "(x0, y0, x1, y1) in pixels, x1/y1 exclusive. Sent exactly (boxes: a few bytes each; a mask: an "
                    "entropy-coded map of 8x8 blocks); the critical set is drawn inside it (predictor roi-edge), "
                    "the RDO weighs it instead of F's saliency and the base layer spends less outside it. "
                    "read_info().roi / im.info['roi'] give it back (CLI: --roi MASK.png, --roi-box x0,y0,x1,y1 "
                    "repeatable, --roi-dir DIR: a mask per input with the same stem)")
    container: str = _opt("agdl", "agdl (a .agdl file) or jpeg: a standard .jpg any decoder opens (the base "
                          "layer) carrying the rest of the file in APP11 segments; needs base jpeg or "
                          "jpeg-saliency", type=str, choices=CONTAINERS)


def option_help(name: str) -> str:
    """The documentation of encoder option ``name`` (from its field)."""
    return _FIELDS[name].metadata["help"]


def options_markdown() -> str:
    """``docs/OPTIONS.md``: the encoder options as a table (name, default, meaning), from the fields."""
    rows = ["# Encoder options", "",
            "Generated from `agdl_plugins.options.EncodeOptions` by `agdl options --markdown > docs/OPTIONS.md`"
            " (a test keeps it current). Every option has the same name and meaning in `agdl_plugins.encode`, "
            "Pillow `save`, imageio `imwrite` and `agdl encode` (`--name-with-dashes`).", "",
            "| option | default | meaning |", "|---|---|---|"]
    for f in fields(EncodeOptions):
        default = "—" if f.default is None else f"`{f.default!r}`"
        rows.append(f"| `{f.name}` | {default} | {f.metadata['help']} |")
    return "\n".join(rows) + "\n"


ENCODE_OPTION_NAMES = frozenset(f.name for f in fields(EncodeOptions))
_FIELDS = {f.name: f for f in fields(EncodeOptions)}


def _number(
    name: str, value: Any, lo: float, hi: float, *, integer: bool = False, lo_open: bool = False
) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value < lo or value > hi or (lo_open and value == lo):
        bound = f"({lo}, {hi}]" if lo_open else f"[{lo}, {hi}]"
        raise ValueError(f"{name} must be in {bound}, got {value!r}")
    if integer:
        if int(value) != value:
            raise ValueError(f"{name} must be an integer, got {value!r}")
        return int(value)
    return float(value)


def validate_encode_options(**opts: Any) -> EncodeOptions:
    """Check option names and values; raise ``ValueError`` naming the bad one.

    Part ids (``base``, ``predictor``, ``restorer``, ``sensing``) are checked against the plugin
    registry only when the registry is consulted by :func:`agdl_plugins.encode`.
    """
    unknown = set(opts) - ENCODE_OPTION_NAMES
    if unknown:
        raise ValueError(
            f"unknown AGDL option(s): {', '.join(sorted(unknown))}; valid: {sorted(ENCODE_OPTION_NAMES)}"
        )
    o = EncodeOptions(**{k: v for k, v in opts.items() if v is not None or k in ("target_bpp",)})
    o.quality = _number("quality", o.quality, 1, 100, integer=True)
    if o.target_bpp is not None:
        o.target_bpp = _number("target_bpp", o.target_bpp, 0.0, 24.0, lo_open=True)
    if o.critical_fraction is not None:
        o.critical_fraction = _number("critical_fraction", o.critical_fraction, 0.0, 1.0)
    o.measurement_ratio = _number("measurement_ratio", o.measurement_ratio, 0.0, 1.0)
    if o.step is not None:
        o.step = _number("step", o.step, 0.0, 1024.0, lo_open=True)
    o.roi = normalise_roi(o.roi)  # type and size-free values; the image's size is checked by the encoder
    if o.base is None:
        o.base = "jpeg" if o.container == "jpeg" else DEFAULT_BASE
    if o.roi_weight is None:
        o.roi_weight = DEFAULT_ROI_WEIGHT if o.roi is None else DEFAULT_USER_ROI_WEIGHT
    o.roi_weight = _number("roi_weight", o.roi_weight, 0.0, 1.0)
    o.seed = _number("seed", o.seed, 0, 2**63 - 1, integer=True)
    if o.sensing is None:
        o.sensing = "identity" if o.measurement_ratio == 1.0 else "structured-dct"
    elif o.sensing == "identity" and o.measurement_ratio != 1.0:
        raise ValueError(f"sensing='identity' measures every critical pixel: measurement_ratio must be 1, "
                         f"got {o.measurement_ratio!r} (use sensing='structured-dct' for M < N)")
    for name in ("base", "sensing", "device"):
        if not isinstance(getattr(o, name), str) or not getattr(o, name):
            raise ValueError(f"{name} must be a non-empty string, got {getattr(o, name)!r}")
    for name in ("predictor", "restorer"):
        v = getattr(o, name)
        if v is not None and (not isinstance(v, str) or not v):
            raise ValueError(f"{name} must be a part id string or None, got {v!r}")
    if not (o.device in ("auto", "cpu", "mps") or o.device.startswith("cuda")):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {o.device!r}")
    if o.quantiser not in QUANTISERS:
        raise ValueError(f"quantiser must be one of {QUANTISERS}, got {o.quantiser!r}")
    if o.container not in CONTAINERS:
        raise ValueError(f"container must be one of {CONTAINERS}, got {o.container!r}")
    if o.container == "jpeg" and o.base == "auto":
        import warnings

        warnings.warn("container='jpeg' needs a JPEG base layer: base='auto' uses 'jpeg'", AgdlOptionWarning,
                      stacklevel=3)
        o.base = "jpeg"
    if o.container == "jpeg" and o.base not in ("jpeg", "jpeg-saliency"):
        raise ValueError(
            f"container='jpeg' needs a JPEG base layer (base='jpeg' or 'jpeg-saliency'), got base={o.base!r}"
        )
    return o


def validate_projection(projection: str | None) -> str:
    """Decoder projection mode; None -> the default ("equality", measured better: see BENCHMARKS.md)."""
    if projection is None:
        return "equality"
    if projection not in PROJECTIONS:
        raise ValueError(f"projection must be one of {PROJECTIONS}, got {projection!r}")
    return projection
