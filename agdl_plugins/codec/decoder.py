"""The decoder (Algorithm 1, decoding): base -> restorer G -> same critical set -> CS projection R."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agdl_plugins.codec.critical import check_mask, rederive_critical, unpack_indices
from agdl_plugins.codec.entropy import decode_symbols
from agdl_plugins.codec.roi import file_roi
from agdl_plugins.errors import AgdlFormatError
from agdl_plugins.format import refn
from agdl_plugins.format.header import AgdlInfo, Header
from agdl_plugins.format.parse import Parsed
from agdl_plugins.imaging import add_luma_delta, planes_to_array
from agdl_plugins.options import validate_projection
from agdl_plugins.parts import protocols as P
from agdl_plugins.parts.base_codecs import BaseDecoded
from agdl_plugins.parts.engine import resolve_device
from agdl_plugins.parts.registry import Registry

#: Cross-machine pixel contract (docs/FORMAT.md, "Determinism"). The critical set, every entropy-model table
#: and the parsed layers are identical on every machine; a network's float output is not (CPU ISA, GPU,
#: thread count), so a decoded value may differ by at most PIXEL_TOLERANCE grey levels, on at most
#: PIXEL_TOLERANCE_SHARE of an image's values. Measured (scripts/isa_drift.py, 40 images): G drifts by
#: <= 6.1e-5 grey levels between AVX-512, AVX2 and SSE4.1; 2.6e-6 of values differ, 1.0e-5 at worst per image.
PIXEL_TOLERANCE = 1
PIXEL_TOLERANCE_SHARE = 1e-3


def within_pixel_contract(a: np.ndarray, b: np.ndarray) -> bool:
    """True when two decodes of one file (e.g. on two machines) agree as the format promises.

    ``a``, ``b``: uint8 arrays of one shape. Same shape, max |a - b| <= PIXEL_TOLERANCE, and differing
    values on at most PIXEL_TOLERANCE_SHARE of them.
    """
    if a.shape != b.shape:
        return False
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return int(diff.max(initial=0)) <= PIXEL_TOLERANCE and float((diff > 0).mean()) <= PIXEL_TOLERANCE_SHARE


@dataclass
class DecodedImage:
    """A decoded AGDL image: ``array`` uint8 (H, W) or (H, W, C), ``mode``, ``info`` and diagnostics."""

    array: np.ndarray
    mode: str
    info: AgdlInfo
    diagnostics: dict[str, Any] = field(default_factory=dict)

    def to_pil(self):
        from PIL import Image

        return Image.fromarray(self.array)


def _alpha(pf: Parsed) -> np.ndarray | None:
    raw = pf.payloads.get(b"ALPH")
    if pf.info.mode not in ("LA", "RGBA"):
        return None
    n = pf.info.width * pf.info.height
    try:
        d = zlib.decompressobj()
        plane = d.decompress(raw, n + 1)
    except zlib.error as e:
        raise AgdlFormatError(f"corrupt AGDL file: alpha layer ({e})") from e
    if len(plane) != n:
        raise AgdlFormatError("corrupt AGDL file: alpha layer has the wrong size")
    return np.frombuffer(plane, np.uint8).reshape(pf.info.height, pf.info.width)


def decode_base(pf: Parsed, reg: Registry) -> BaseDecoded:
    hdr = pf.header
    codec = reg.get("base_codec", hdr.base_codec, hdr.base_codec_version)
    color_mode = "L" if hdr.mode in ("L", "LA") else "RGB"
    payload = pf.payloads[b"BASE"]
    return P.decode_base(codec, payload, color_mode, (hdr.width, hdr.height))


def _bound(part: P.Restorer, hdr: Header) -> P.Restorer:
    """The restorer part bound to the file's base codec and quality (parts conditioned on them need both)."""
    try:
        return P.bind(part, hdr.base_codec, hdr.quality)
    except ValueError as e:
        raise AgdlFormatError(f"corrupt AGDL file: {e}") from e


def decode_parsed(
    pf: Parsed,
    reg: Registry,
    *,
    device: str = "auto",
    projection: str | None = None,
    restorer: str | None = None,
    base_only: bool = False,
    diagnostics: bool = False,
    score_hook: Any = None,
    restorer_hook: Any = None,
    iterations: int = 1,
) -> DecodedImage:
    """Full decode of a parsed file. ``score_hook(scores) -> scores`` and ``restorer_hook(y) -> y`` (on G's
    float output, grey levels) let tests inject the float drift another CPU ISA, thread count or GPU gives.

    ``iterations > 1`` unrolls the decoder: G is applied again to the projected image and the result is
    projected again (G <-> R alternation), ``iterations`` times in all.
    """
    projection = validate_projection(projection)
    hdr = pf.header
    base = decode_base(pf, reg)  # first: it checks the base layer's size against the header's before any pixel
    if not hdr.n_critical:
        _refn(pf)  # a file without refinement holds none: a REFN with any data in it is damage, not ignored
    diag: dict[str, Any] = {}
    if base_only:
        out_y = base.luma
    else:
        dev = resolve_device(device)
        ref_part = _bound(reg.get("restorer", hdr.restorer, hdr.restorer_version), hdr)
        out_part = _bound(reg.get("restorer", restorer), hdr) if restorer else ref_part
        # G's output stays in the restorer's float32 (one full-size plane); only the critical pixels are
        # taken to float64 (exactly) for the measurements and the projection
        y_ref = P.restore(ref_part, base.luma, base.qtable, dev)
        if restorer_hook is not None:
            y_ref = np.asarray(restorer_hook(y_ref.astype(np.float64)), dtype=np.float64)
        y_g = (
            y_ref
            if out_part is ref_part
            else P.restore(out_part, base.luma, base.qtable, dev)
        )
        c_hat = None  # (N,) float64: the projected critical pixels, which replace y_g's on the mask
        if hdr.n_critical:
            explicit, sym = _refn(pf)  # parsed once per decode
            mask = _critical_mask(pf, base, reg, dev, score_hook, explicit)
            if hdr.n_measurements:
                sensing, op, y_target = _targets(pf, reg, mask, y_ref, sym)
                del y_ref  # frees G's reference when another restorer gave y_g (restorer=)
                for i in range(iterations):
                    if i:
                        y_in = np.clip(y_g, 0, 255).astype(np.float32)
                        y_in[mask] = np.clip(c_hat, 0, 255)  # the previous pass's projected pixels
                        y_g = P.restore(out_part, y_in, base.qtable, dev)
                        del y_in
                    c_hat = _project(hdr.step, mask, y_g, sensing, op, y_target, projection,
                                     diag if diagnostics else None)
        out_y = to_uint8(y_g)
        if c_hat is not None:
            out_y[mask] = to_uint8(c_hat)
        if diagnostics:
            diag["critical_mask"] = mask if hdr.n_critical else np.zeros(out_y.shape, bool)
            restored = y_g.astype(np.float64)
            if c_hat is not None:
                restored[mask] = c_hat
            diag["restored_float"] = restored
        if diagnostics and hdr.n_measurements:
            _constraint_after_rounding(hdr.step, mask, out_y, op, y_target, diag)
        del y_g
    if base.rgb is not None:  # RGB-decoded base (WebP/AVIF/JPEG 2000): correct luminance in RGB
        arr, mode = add_luma_delta(base.rgb, base.luma, out_y, _alpha(pf))
        return DecodedImage(arr, mode, pf.info, diag)
    planes = base.planes.copy()
    if planes.ndim == 2:
        planes = out_y
    else:
        planes[..., 0] = out_y
    arr, mode = planes_to_array(planes, _alpha(pf))
    return DecodedImage(arr, mode, pf.info, diag)


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Float grey levels -> uint8: rounded half to even, clipped to 0..255 (float32 or float64 of the same
    value give the same byte). One temporary of ``values``' size and dtype."""
    r = np.round(values)
    np.clip(r, 0, 255, out=r)
    return r.astype(np.uint8)


@dataclass
class Refinement:
    """What :func:`agdl_plugins.refinement` returns: the transmitted measurements of a file and what they measure.

    All arrays are on the luminance plane, in grey levels (0..255), in raster order. The original image's
    critical pixels ``c = original_y[mask]`` satisfy ``|operator(c) - y| <= step / 2`` componentwise (the
    quantisation cell of the default ``"round"`` quantiser; a ``quantiser="rdo"`` file may code a measurement one
    step toward zero, or as zero, so some lie outside that cell), so :class:`kornia_ops.CSProjection` can impose
    them on any network's output.

    Attributes:
        base: (H, W) uint8, the decoded base-layer luminance (what every decoder has before any network).
        reference: (H, W) float64, the file's restorer G on the base layer: the reference the measurements are
            residuals of (``y = operator(reference[mask]) + step * q``); None for a file without measurements.
        mask: (H, W) bool, the critical set (raster order defines the measured vector's order).
        y: (M,) float64 measurements of the critical pixels (``torch.Tensor``).
        operator: the ``kornia_ops`` sensing operator, ``n = mask.sum()``, ``m = M`` (None without measurements).
        step: the quantiser step in grey levels.
        info: the parsed header.
    """

    base: np.ndarray
    reference: np.ndarray | None
    mask: np.ndarray
    y: Any
    operator: Any
    step: float
    info: AgdlInfo


def refinement_parsed(pf: Parsed, reg: Registry, *, device: str = "auto") -> Refinement:
    """:func:`agdl_plugins.refinement` on a parsed file: base layer, F (critical set) and G (the reference)."""
    import torch

    hdr = pf.header
    base = decode_base(pf, reg)
    luma = np.array(base.luma, dtype=np.uint8)
    if not (hdr.n_critical and hdr.n_measurements):
        mask = critical_mask(pf, reg, base, device=device)
        return Refinement(luma, None, mask, torch.zeros(0, dtype=torch.float64), None, float(hdr.step), pf.info)
    dev = resolve_device(device)
    explicit, sym = _refn(pf)
    mask = _critical_mask(pf, base, reg, dev, None, explicit)
    ref_part = _bound(reg.get("restorer", hdr.restorer, hdr.restorer_version), hdr)
    y_ref = P.restore(ref_part, base.luma, base.qtable, dev).astype(np.float64)
    _, op, y_target = _targets(pf, reg, mask, y_ref, sym)
    return Refinement(luma, y_ref, mask, y_target, op, float(hdr.step), pf.info)


def parsed_layers(pf: Parsed) -> dict[str, bytes]:
    """The file's layers as the decoder reads them, before any network runs (machine-independent).

    ``base``: base-layer bytes; ``explicit``: the guard-band list (int64 raster indices); ``symbols``: the
    entropy-decoded measurement indices (int32); ``alpha``: the alpha plane (uint8) or empty.
    """
    hdr = pf.header
    explicit, sym = _refn(pf) if hdr.n_critical else (np.zeros(0, np.int64), b"")
    q = decode_symbols(sym, hdr.n_measurements) if hdr.n_critical else np.zeros(0, np.int32)
    alpha = _alpha(pf)
    return {
        "base": bytes(pf.payloads[b"BASE"]),
        "explicit": explicit.astype("<i8").tobytes(),
        "symbols": q.astype("<i4").tobytes(),
        "alpha": b"" if alpha is None else alpha.tobytes(),
    }


def _refn(pf: Parsed) -> tuple[np.ndarray, bytes]:
    hdr = pf.header
    r = refn.parse(pf.payloads[b"REFN"], hdr.n_critical)
    explicit = unpack_indices(r.explicit, r.n_explicit, hdr.width * hdr.height) if r.n_explicit else np.zeros(
        0, np.int64)
    return explicit, r.symbols


def critical_mask(
    pf: Parsed, reg: Registry, base: BaseDecoded | None = None, *, device: str = "auto", score_hook: Any = None,
    scores: np.ndarray | None = None,
) -> np.ndarray:
    """The critical set (H, W) bool exactly as :func:`decode_parsed` derives it, without running the restorer.

    Same path as the decoder (``_refn`` + ``_critical_mask``: predictor F on the decoded base luminance, guard
    band, CRC check); all False when the file has no refinement. ``base``: the decoded base layer, when the
    caller has it already; ``scores``: the file's predictor's (H, W) float64 scores on that base layer, when the
    caller computed them already (they are checked against the file's CRC like any others). Used by
    :func:`agdl_plugins.analyze`.

    Raises:
        CriticalSetMismatchError: the re-derived set does not match the file's CRC. AgdlFormatError.
    """
    hdr = pf.header
    if not hdr.n_critical:
        return np.zeros((hdr.height, hdr.width), bool)
    if base is None:
        base = decode_base(pf, reg)
    explicit, _ = _refn(pf)
    return _critical_mask(pf, base, reg, resolve_device(device), score_hook, explicit, scores)


def _critical_mask(
    pf: Parsed, base: BaseDecoded, reg: Registry, dev: str, score_hook: Any, explicit: np.ndarray,
    scores: np.ndarray | None = None,
) -> np.ndarray:
    hdr = pf.header
    if scores is None:
        scores = P.predict_scores(file_predictor(pf, reg), base.planes, base.qtable, dev)
    if score_hook is not None:
        scores = score_hook(scores)
    mask = rederive_critical(scores, hdr.threshold, hdr.guard, explicit)
    check_mask(mask, hdr.n_critical, hdr.critical_crc)
    return mask


def file_predictor(pf: Parsed, reg: Registry) -> P.Predictor:
    """The file's predictor part as the decoder runs it: bound to the file's ROI map when it scores by one
    (``roi-edge``, :func:`agdl_plugins.parts.protocols.bind_roi`).

    Raises:
        AgdlFormatError: the predictor needs a ROI and the file has no ``ROIM`` record. MissingPartError.
    """
    hdr = pf.header
    part = reg.get("predictor", hdr.predictor, hdr.predictor_version)
    try:
        return P.bind_roi(part, file_roi(pf))
    except ValueError as e:
        raise AgdlFormatError(f"corrupt AGDL file: {e} (the file has no ROI record)") from e


def _targets(pf: Parsed, reg: Registry, mask: np.ndarray, y_ref: np.ndarray, sym: bytes):
    """(sensing part, its operator, target measurements y = H c_ref + step * q), built once per decode."""
    import torch

    hdr = pf.header
    q = decode_symbols(sym, hdr.n_measurements)
    part = reg.get("sensing", hdr.sensing, hdr.sensing_version)
    try:
        op = P.make_operator(part, hdr.n_critical, hdr.n_measurements, hdr.seed)
    except ValueError as e:  # e.g. identity sensing with M != N: a header no encoder of this part writes
        raise AgdlFormatError(f"corrupt AGDL file: sensing operator {hdr.sensing} refuses the header ({e})") from e
    c_ref = torch.from_numpy(y_ref[mask].astype(np.float64))  # float32 -> float64 is exact
    y_target = P.measure(part, op, c_ref) + hdr.step * torch.from_numpy(q.astype(np.float64))
    return part, op, y_target


def _project(step: float, mask: np.ndarray, y_g: np.ndarray, part: P.Sensing, op, y_target, projection: str,
             diag: dict | None) -> np.ndarray:
    """Stage D2/D3: the critical pixels of ``y_g`` (H, W) float (raster order, as float64) corrected so that
    H c = y (equality) or |H c - y| <= step/2 (box), through :func:`kornia_ops.cs_project_image`. Returns them,
    (N,) float64; the caller puts them in place of ``y_g[mask]``.

    The projection reads and changes only the critical pixels, so it is handed them alone, as a (1, 1, 1, N)
    image whose every pixel is critical (gathered in ``mask``'s raster order, as ``cs_project_image`` would
    gather them from the whole plane): the same values, without two float64 copies of the whole image."""
    import torch

    from kornia_ops import cs_project_image

    c = torch.from_numpy(y_g[mask].astype(np.float64))[None, None, None]  # (1, 1, 1, N), float32 -> 64 exact
    every = torch.ones(c.shape, dtype=torch.bool)
    out_t = cs_project_image(c, every, [y_target], op, mode=projection, step=step)
    c_hat = P.check_projected(part, out_t[0, 0, 0].numpy())
    if diag is not None:
        diag["constraint_max_abs_float"] = float((op(torch.from_numpy(c_hat)) - y_target).abs().max())
    return c_hat


def _constraint_after_rounding(step: float, mask, out_y, op, y_target, diag: dict) -> None:
    import torch

    dev = (op(torch.from_numpy(out_y[mask].astype(np.float64))) - y_target).abs()
    diag["constraint_max_abs_uint8"] = float(dev.max())
    diag["fraction_outside_cell_uint8"] = float((dev > step / 2).double().mean())
