"""The encoder (Algorithm 1, encoding): base layer -> scores -> critical set -> CS measurements.

``analyse`` does the budget-independent work for one base quality (base codec; predictor F and the
restorer reference on first use), ``prepare`` selects the critical set for a budget, ``finish`` quantises
and codes the measurements for a given step. Rate control (``target_bpp``) reuses all three.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from agdl_plugins.codec.critical import Selection, mask_crc, pack_indices, select_critical, sorted_scores
from agdl_plugins.codec.entropy import encode_symbols, quantise_with
from agdl_plugins.codec.roi import BACKGROUND_SIGMA, TransmittedRoi, background_prefilter, transmitted
from agdl_plugins.format import container as C
from agdl_plugins.format import decisions, refn
from agdl_plugins.format.header import Header
from agdl_plugins.format.roi import ROI
from agdl_plugins.imaging import luminance
from agdl_plugins.options import DEFAULT_FRACTION, EncodeOptions
from agdl_plugins.parts import protocols as P
from agdl_plugins.parts.base_codecs import BaseDecoded
from agdl_plugins.parts.engine import resolve_device
from agdl_plugins.parts.registry import Registry
from agdl_plugins.parts.restorers import LITE_LOSSY_RESTORER_ID, LossyBaseRestorer
from agdl_plugins.roi import normalise_roi

#: the critical-set predictor of a file with a user ROI (when the user names none): exact scores inside the ROI
ROI_PREDICTOR = "roi-edge"
#: with a user ROI, base="jpeg" is written by this codec. Measured (BENCHMARKS.md §23, scripts/roi_sweep.py):
#: ``jpeg-saliency``'s coefficient control driven by the ROI map loses to the plain JPEG on both ROI and whole-image
#: PSNR at equal bytes (the RDO already moves the refinement into the ROI; coarser background coefficients cost the
#: restorer more than the bytes buy), so ``jpeg`` stays ``jpeg``; ``base="jpeg-saliency"`` with a ROI uses the map.
ROI_JPEG_BASE = "jpeg"


#: images above this many pixels get the light restorer by default on the bases in :data:`LITE_BASES`, where the
#: restorer is most of a decode's time; smaller images keep the full one (the light one would cost ``base="auto"``
#: most of its whole-image lead over AVIF, issue 28)
LITE_ABOVE = 2_000_000
#: the bases whose light restorer is within issue 29's 0.15 dB of the full one (BD whole and ROI, DUTS-TE 100 and
#: Kodak24; BENCHMARKS.md §37): AVIF (``agdl-g-lite-webp-avif``: -0.10 / -0.14 dB, Kodak24 -0.12). Not WebP (same
#: network, ROI -0.19 dB on DUTS-TE 30) nor JPEG (``agdl-g-lite`` v2: -0.19 Kodak24, -0.25 ROI, §33)
LITE_BASES = ("avif",)


def default_parts(reg: Registry, base: str, pixels: int = 0) -> tuple[str, str]:
    """(predictor id, restorer id) used when the caller names none for a ``pixels``-pixel image: the trained
    networks when installed (the light restorer above :data:`LITE_ABOVE` pixels on :data:`LITE_BASES`)."""
    pred = "agdl-f" if reg.has("predictor", "agdl-f") else "edge-sobel"
    if base in ("jpeg", "jpeg-saliency") and reg.has("restorer", "agdl-g"):
        rest = "agdl-g"
    elif base in LITE_BASES and pixels > LITE_ABOVE and reg.has("restorer", LITE_LOSSY_RESTORER_ID):
        rest = LITE_LOSSY_RESTORER_ID
    elif base in LossyBaseRestorer.codecs and reg.has("restorer", LossyBaseRestorer.id):
        rest = LossyBaseRestorer.id  # WebP/AVIF: conditioned on the base codec and quality from HEAD
    else:
        rest = "identity"
    return pred, rest


@dataclass
class Prepared:
    """Step-independent encoder state for one base quality."""

    quality: int
    base_bytes: bytes
    selection: Selection
    residual: np.ndarray  # (N,) float64: original - restorer reference, on the critical set, raster order
    predictor: P.Predictor
    restorer: P.Restorer
    codec: P.BaseCodec
    weights: np.ndarray | None = None  # (N,) the objective's pixel weights on the critical set, or None
    #: ((sensing id, version, ratio, seed), operator H, z = H r): the measurements before quantisation, kept
    #: for the next :func:`measure` of the same options (the RDO search's step tuning codes one set many times)
    sensed: tuple[tuple, Any, np.ndarray] | None = None


@dataclass
class Analysis:
    """Budget-independent work for one base quality: base layer, scores and restorer reference (lazy).

    Everything past the base layer's bytes is computed on first use and can be dropped again
    (:meth:`release`): a rate search sizes many qualities' base layers, and at 24 MP each decoded base, score map
    and sorted copy of it is 75-200 MB (BENCHMARKS.md §28).
    """

    quality: int
    base_bytes: bytes
    predictor: P.Predictor
    restorer: P.Restorer
    codec: P.BaseCodec
    device: str
    mode: str  # the colour image's mode, "L" or "RGB" (the base layer is decoded to it)
    size: tuple[int, int]  # (W, H)
    #: set by the RDO search: ``keep(G's output, base luma) -> bool`` judges the restorer on this base the first
    #: time its output is computed; when it says no, the file names ``plain`` (identity) instead
    keep_restorer: Callable[[np.ndarray, np.ndarray], bool] | None = None
    plain: P.Restorer | None = None
    _base: BaseDecoded | None = None
    _scores: np.ndarray | None = None
    _desc: np.ndarray | None = None
    _ref: np.ndarray | None = None

    @property
    def base(self) -> BaseDecoded:
        """The base layer decoded as the decoder will decode it (on first use)."""
        if self._base is None:
            self._base = P.decode_base(self.codec, self.base_bytes, self.mode, self.size)
        return self._base

    def scores(self) -> np.ndarray:
        if self._scores is None:
            self._scores = P.predict_scores(self.predictor, self.base.planes, self.base.qtable, self.device)
        return self._scores

    def sorted_scores(self) -> np.ndarray:
        """(H*W,) :meth:`scores` in descending order (:func:`~agdl_plugins.codec.critical.sorted_scores`), shared
        by every evaluator of this quality."""
        if self._desc is None:
            self._desc = sorted_scores(self.scores())
        return self._desc

    def reference(self) -> np.ndarray:
        """(H, W) float32 (the restorer's own output, float64 for a restorer that gives it): what the decoder's
        restorer outputs on this base (before the refinement). Promoted to float64 exactly wherever it meets the
        float64 original, so its float32 storage changes no decision."""
        if self._ref is None:
            ref = P.restore(self.restorer, self.base.luma, self.base.qtable, self.device)
            if self.keep_restorer is not None and self.plain is not None and not self.keep_restorer(
                    ref, self.base.luma):
                self.restorer = self.plain
                ref = P.restore(self.plain, self.base.luma, self.base.qtable, self.device)
            self.keep_restorer = None
            self._ref = ref
        return self._ref

    def release(self) -> None:
        """Drop the decoded base, the scores and their sorted copy; they are recomputed, the same, on next use.
        The restorer reference and verdict (a network run the search paid for) stay."""
        self._base = self._scores = self._desc = None

    @property
    def restorer_pending(self) -> bool:
        """The restorer is still to be judged (its output was not computed yet)."""
        return self.keep_restorer is not None


def with_roi(opts: EncodeOptions, size: tuple[int, int]) -> EncodeOptions:
    """``opts`` with its ``roi`` checked against the image's (W, H) ``size`` and turned into what the file
    transmits (:class:`agdl_plugins.codec.roi.TransmittedRoi`: the record and the decoder's map), once per encode.

    Raises:
        TypeError, ValueError: a bad ``roi`` (:func:`agdl_plugins.roi.normalise_roi`), before any work.
    """
    if opts.roi is None or isinstance(opts.roi, TransmittedRoi):
        return opts
    from dataclasses import replace

    return replace(opts, roi=transmitted(normalise_roi(opts.roi, size), *size))


def roi_map(opts: EncodeOptions) -> np.ndarray | None:
    """(H, W) bool: the transmitted ROI map of ``opts`` (after :func:`with_roi`), or None."""
    return opts.roi.mask if isinstance(opts.roi, TransmittedRoi) else None


def base_codec_id(opts: EncodeOptions) -> str:
    """The base codec that writes ``opts.base``: :data:`ROI_JPEG_BASE` for ``jpeg`` with a ROI."""
    return ROI_JPEG_BASE if opts.base == "jpeg" and roi_map(opts) is not None else opts.base


def analyse(color: Image.Image, opts: EncodeOptions, reg: Registry, quality: int, pixels: int | None = None
            ) -> Analysis:
    """Stage E1 (base layer, encoded and decoded as the decoder will) for ``color`` (mode L or RGB). ``pixels``:
    the size of the image the default parts are chosen for (default ``color``'s; a sample's search passes the whole
    image's, :mod:`agdl_plugins.codec.sampling`)."""
    pixels = color.width * color.height if pixels is None else pixels
    pred_default, rest_default = default_parts(reg, opts.base, pixels)
    roi = roi_map(opts)
    codec = reg.get("base_codec", base_codec_id(opts))
    pid = opts.predictor or (ROI_PREDICTOR if roi is not None else pred_default)
    predictor = P.bind_roi(reg.get("predictor", pid), roi)
    restorer = P.bind(reg.get("restorer", opts.restorer or rest_default), codec.id, int(quality))
    reg.get("sensing", opts.sensing)
    device = resolve_device(opts.device)
    base_bytes = encode_base(color, codec, reg, quality, device, roi)
    return Analysis(quality, base_bytes, predictor, restorer, codec, device, color.mode, color.size)


def encode_base(color: Image.Image, codec: P.BaseCodec, reg: Registry, quality: float, device: str,
                roi: np.ndarray | None = None) -> bytes:
    """The base codec's own bytes for ``color`` (L or RGB) at ``quality``; ``jpeg-saliency`` gets the ROI map
    ``roi`` ((H, W) bool) when given, else F's map from this registry, run on ``device``. With a ROI, WebP and
    AVIF encode the image with its background pre-filtered (:data:`agdl_plugins.codec.roi.BACKGROUND_SIGMA`)."""
    if P.wants_saliency(codec):
        if roi is not None:
            return codec.encode(color, quality, roi.astype(np.float32))  # type: ignore[call-arg]
        from agdl_plugins.parts.saliency_jpeg import saliency_map

        sal = saliency_map(color, device, reg, codec.saliency_predictor)  # type: ignore[attr-defined]
        return codec.encode(color, quality, sal)  # type: ignore[call-arg]
    if roi is not None and BACKGROUND_SIGMA.get(codec.id, 0.0) > 0:
        color = background_prefilter(color, roi, BACKGROUND_SIGMA[codec.id])
    return codec.encode(color, quality)


def prepare(color: Image.Image, opts: EncodeOptions, reg: Registry, quality: int, fraction: float | None = None,
            analysis: Analysis | None = None, weights: np.ndarray | None = None) -> Prepared:
    """Base layer + critical set (``fraction`` of the pixels; default: the options') + residual.

    ``weights``: (H, W) objective pixel weights (:func:`agdl_plugins.codec.rdo.pixel_weights`) the quantiser
    weighs the critical pixels' errors with (pixel-aligned sensing only); None = uniform.
    """
    a = analysis if analysis is not None else analyse(color, opts, reg, quality)
    if fraction is None:
        fraction = DEFAULT_FRACTION if opts.critical_fraction is None else opts.critical_fraction
    w, h = color.size
    n_target = int(round(fraction * h * w))
    if n_target > 0:
        sel = select_critical(a.scores(), n_target, exact=a.predictor.exact, desc=a.sorted_scores())
    else:  # no scores needed (nor the decoded base): the empty set
        sel = select_critical(np.zeros((h, w)), 0, exact=True)
    if sel.n:  # float64 - float32 promotes exactly: the values of a float64 reference
        residual = luminance(color)[sel.mask].astype(np.float64) - a.reference()[sel.mask].astype(np.float64)
    else:
        residual = np.zeros(0)
    w_c = None if weights is None or not sel.n else weights[sel.mask]
    return Prepared(a.quality, a.base_bytes, sel, residual, a.predictor, a.restorer, a.codec, w_c)


def sense(part: P.Sensing, n: int, ratio: float, seed: int, residual: np.ndarray) -> tuple[Any, np.ndarray]:
    """Stage E4 for N = ``n`` critical pixels: (operator H, z = H r) with M = round(``ratio`` x N) rows of the
    sensing ``part`` seeded ``seed``; ``(None, empty)`` when M = 0. ``residual``: (N,) float64, r = y - G(base)
    on the critical pixels. The encoder and the RDO evaluator (:mod:`agdl_plugins.codec.rdo`) both use it; the
    part's operator and measurements pass its boundary checks (:mod:`agdl_plugins.parts.protocols`)."""
    import torch

    m = int(round(ratio * n))
    if m == 0:
        return None, np.zeros(0)
    op = P.make_operator(part, n, m, seed)
    return op, P.measure(part, op, torch.from_numpy(residual)).numpy()


def quantised(quantiser: str, z: np.ndarray, step: float, part: P.Sensing, weights: np.ndarray | None
              ) -> np.ndarray:
    """Quantisation indices q = Q(z / step) with the encoder's ``quantiser``; ``weights`` (N,) are the critical
    pixels' objective weights (used by pixel-aligned sensing only: :func:`~agdl_plugins.parts.protocols.
    measurement_weights`)."""
    return quantise_with(quantiser, z, step, P.measurement_weights(part, weights))


def measure(prep: Prepared, opts: EncodeOptions, reg: Registry, step: float) -> tuple[int, np.ndarray]:
    """(M, quantised measurements q) of the residual: q = Q(H r / step), Q = ``opts.quantiser``."""
    part = reg.get("sensing", opts.sensing)
    key = (part.id, part.version, opts.measurement_ratio, opts.seed)
    if prep.sensed is None or prep.sensed[0] != key:  # z does not depend on the step: sensed once per set
        prep.sensed = (key, *sense(part, prep.selection.n, opts.measurement_ratio, opts.seed, prep.residual))
    _, op, z = prep.sensed
    if op is None:
        return 0, np.zeros(0, np.int32)
    return len(z), quantised(opts.quantiser, z, step, part, prep.weights)


def finish(
    prep: Prepared,
    color: Image.Image,
    alpha: np.ndarray | None,
    mode: str,
    opts: EncodeOptions,
    reg: Registry,
    step: float,
    metadata: dict[str, bytes | None],
) -> bytes:
    """Assemble the .agdl bytes for one step."""
    step = float(np.float32(step))  # the header stores f32: quantise with exactly what the decoder reads
    m, q = measure(prep, opts, reg, step)
    sel = prep.selection
    sensing = reg.get("sensing", opts.sensing)
    hdr = Header(
        width=color.width,
        height=color.height,
        mode=mode,
        quality=int(prep.quality),  # rate control may use a fractional JPEG quality: the header keeps its floor
        base_codec=prep.codec.id,
        base_codec_version=prep.codec.version,
        predictor=prep.predictor.id,
        predictor_version=prep.predictor.version,
        restorer=prep.restorer.id,
        restorer_version=prep.restorer.version,
        sensing=sensing.id,
        sensing_version=sensing.version,
        seed=opts.seed,
        n_critical=sel.n,
        n_measurements=m,
        step=float(np.float32(step)),
        threshold=sel.threshold,
        guard=sel.guard,
        critical_crc=mask_crc(sel.mask),
    )
    explicit = pack_indices(sel.explicit) if sel.explicit.size else b""
    layer = refn.pack(sel.explicit.size, explicit, encode_symbols(q))
    chunks = [C.Chunk(b"HEAD", hdr.pack()), C.Chunk(b"BASE", prep.base_bytes), C.Chunk(b"REFN", layer)]
    if isinstance(opts.roi, TransmittedRoi):
        chunks.append(C.Chunk(ROI, opts.roi.record))
    if alpha is not None:
        chunks.append(C.Chunk(b"ALPH", zlib.compress(alpha.tobytes(), 9)))
    for ctype, key in ((C.EXIF, "exif"), (C.ICC, "icc_profile"), (C.XMP, "xmp")):
        val = metadata.get(key)
        if val:
            chunks.append(C.Chunk(ctype, bytes(val)))
    if metadata.get("base_choice"):  # base="auto": the objective of every candidate base (rdo_search)
        chunks.append(C.Chunk(decisions.BASE_CHOICE, decisions.pack_base_choice(metadata["base_choice"])))
    return C.write_container(chunks, pack_base=opts.container != "jpeg")  # a .jpg holds its JPEG as is


def check_parts(opts: EncodeOptions, reg: Registry) -> str:
    """Before any work: every part the options name is installed and the device exists; returns the device.

    Raises:
        UnknownPartError: (``ValueError``) ``base``, ``predictor``, ``restorer`` or ``sensing`` names no
            installed part.
        ValueError: ``device`` names a device this machine does not have (e.g. ``cuda`` without CUDA).
    """
    if opts.base != "auto":  # base="auto": the search picks among the bases this Pillow can use
        reg.require("base_codec", opts.base, "base")
        codec = reg.get("base_codec", opts.base)
        if not codec.available():
            raise ValueError(f"base={opts.base!r} cannot be written by this Pillow: install {codec.requires}")
    reg.require("sensing", str(opts.sensing), "sensing")
    for kind in ("predictor", "restorer"):
        if getattr(opts, kind) is not None:
            reg.require(kind, getattr(opts, kind), kind)
    return resolve_device(opts.device)
