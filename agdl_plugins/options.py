"""Encoder/decoder options: names, defaults and validation (the contract the plugins and CLI use)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

PROJECTIONS = ("equality", "box")
QUANTISERS = ("round", "rdo")  # the encoder's measurement quantisers (agdl_plugins.entropy.quantise_with)
DEFAULT_FRACTION = 0.2  # budget used by ``encoder.prepare`` when called without one (scripts, ablations)
DEFAULT_ROI_WEIGHT = 0.25  # measured: BENCHMARKS.md section 11 (keeps whole-image PSNR at G alone's)


@dataclass
class EncodeOptions:
    """Validated encoder options.

    Attributes:
        quality: base-layer quality 1..100 (ignored when ``target_bpp`` is set). The refinement added on top
            is chosen by rate-distortion optimisation against the base codec's own return at this quality
            (:mod:`agdl_plugins.rdo_search`): bytes and PSNR rise with ``quality``.
        target_bpp: bits per pixel of the pixel layers (base + refinement + alpha + container; EXIF/ICC/XMP
            ride on top) to land within 3 % of; base quality, budget and step minimise the distortion.
        critical_fraction: critical pixels N as a fraction of all pixels, 0..1, or None (the default): chosen
            by rate-distortion optimisation, no refinement at all being one candidate.
        measurement_ratio: measurements per critical pixel M/N, 0..1.
        step: quantiser step of the measurements, in grey levels (> 0), or None (the default): chosen by the
            optimisation (always tuned under ``target_bpp``).
        roi_weight: the distortion the encoder minimises, 0..1: ``roi_weight`` x saliency-weighted MSE (F's
            saliency head on the original) + (1 - ``roi_weight``) x whole-image MSE, on the luminance.
        base: base codec id ("jpeg", "webp", "avif", "jpeg2000").
        predictor: critical-pixel predictor id, or None for the default (trained F when installed).
        restorer: restorer id used as the measurement reference, or None for the default.
        sensing: sensing operator id, or None (the default): "identity" (y = c) when ``measurement_ratio`` is
            1, else "structured-dct" (the paper's global mixing, needed for M < N); "gaussian" = dense
            research reference. Identity wins at equal bytes (BENCHMARKS.md, refinement layer).
        device: "auto", "cpu" or "cuda[:N]".
        seed: seed of the sensing operator (stored in the header).
        quantiser: "round" (the default, the paper's plain rounding) or "rdo": per measurement, the index among
            round(z / step), one toward zero and zero that minimises the weighted squared error + lambda x bits
            (:func:`agdl_plugins.entropy.rdo_quantise`; encoder only, any decoder reads it). Measured
            (BENCHMARKS.md section 18): at a fixed budget and step it saves 3-40 % of the refinement bytes,
            but once the encoder re-optimises budget and step it only moves ~0.05 dB from the ROI to the
            whole image, so it is not the default.
        container: "agdl" (a .agdl file) or "jpeg": a standard JPEG (the base layer) carrying the rest of the
            file in APP11 segments (:mod:`agdl_plugins.jpeg_container`); needs base "jpeg" or "jpeg-saliency".
    """

    quality: int = 30
    target_bpp: float | None = None
    critical_fraction: float | None = None
    measurement_ratio: float = 1.0
    step: float | None = None
    roi_weight: float = DEFAULT_ROI_WEIGHT
    base: str = "jpeg"
    predictor: str | None = None
    restorer: str | None = None
    sensing: str | None = None
    device: str = "auto"
    seed: int = 0
    quantiser: str = "round"
    container: str = "agdl"


ENCODE_OPTION_NAMES = frozenset(f.name for f in fields(EncodeOptions))


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
    if o.container not in ("agdl", "jpeg"):
        raise ValueError(f"container must be 'agdl' or 'jpeg', got {o.container!r}")
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
