"""The parts interface: what the codec needs from each kind of part, and the one place it checks what they return.

Four kinds of part are registered (:class:`agdl_plugins.parts.registry.Registry`), each a ``typing.Protocol``
(structural: a plugin's part need not inherit anything, as :class:`kornia_ops.SensingOperator`):

* :class:`BaseCodec` (stages E1/D0): the conventional base layer;
* :class:`Predictor` (E2): critical-pixel scores, network F or classical;
* :class:`Restorer` (D1): network G, removes base-layer artefacts from the luminance;
* :class:`Sensing` (E4): makes the sensing operator H of a file.

Optional abilities are protocols of their own (:class:`SaliencyHead`, :class:`JointSaliency`,
:class:`ColourInput`, :class:`RoiConditioned`, :class:`BaseConditioned`, :class:`FractionalQuality`,
:class:`SaliencyGuided`, :class:`PixelAligned`); a part has one when it has its members (``isinstance`` tells),
with the default written beside each.

The pipeline (``codec/``) calls a part only through the functions below (:func:`decode_base`,
:func:`predict_scores`, :func:`predict_saliency`, :func:`restore`, :func:`make_operator`, :func:`measure`, ...).
They pass each part what its abilities ask for and check what it returns -- type, shape, dtype, finite
values -- raising :class:`agdl_plugins.errors.PartOutputError` naming the part (``id@version``): a part that
returns garbage stops the encode or decode with that error, never gives a wrong image.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np

from agdl_plugins.errors import PartInterfaceError, PartOutputError
from agdl_plugins.imaging import luma_plane
from agdl_plugins.parts.base_codecs import BaseDecoded

if TYPE_CHECKING:
    from PIL import Image
    from torch import Tensor

    from kornia_ops import SensingOperator

Kind = Literal["base_codec", "predictor", "restorer", "sensing"]


# -- the four kinds -------------------------------------------------------------------------------------------


@runtime_checkable
class Part(Protocol):
    """Every part: looked up by the (``id``, ``version``) a file records."""

    id: str
    version: int


@runtime_checkable
class BaseCodec(Part, Protocol):
    """Stage E1/D0: the conventional base layer (JPEG, WebP, AVIF, JPEG 2000, ...)."""

    def encode(self, image: Image.Image, quality: float) -> bytes:
        """An ``L`` or ``RGB`` PIL image at ``quality`` (1..100) -> the codec's own bytes."""
        ...

    def decode(self, payload: bytes, mode: str, size: tuple[int, int]) -> BaseDecoded:
        """The bytes of :meth:`encode` -> :class:`BaseDecoded`, identical on every machine.

        ``mode``: ``"L"`` or ``"RGB"``; ``size``: the header's (W, H). Returns ``planes`` uint8 (H, W) for
        ``L`` or (H, W, 3) Y, Cb, Cr for ``RGB``; ``qtable`` None or (64,) integer luminance table; ``rgb``
        None or (H, W, 3) uint8. Raises :class:`agdl_plugins.errors.AgdlFormatError` on bytes it cannot read.
        """
        ...


@runtime_checkable
class Predictor(Part, Protocol):
    """Stage E2: per-pixel critical scores from the decoded base layer (encoder and decoder run it alike).

    ``exact``: True when the scores are integers computed the same on every machine (no guard band needed).
    """

    exact: bool

    def scores(self, planes: np.ndarray, qtable: np.ndarray | None, device: str) -> np.ndarray:
        """``planes`` (H, W) uint8 luminance -- or (H, W, 3) uint8 Y, Cb, Cr for a :class:`ColourInput`
        predictor given a colour base -- and the (64,) luminance table or None -> (H, W) real scores
        (float64 by convention), all finite. Higher = more critical."""
        ...


@runtime_checkable
class Restorer(Part, Protocol):
    """Stage D1: the restorer G on the base luminance (encoder reference and decoder alike)."""

    def restore(self, luma: np.ndarray, qtable: np.ndarray | None, device: str) -> np.ndarray:
        """``luma`` (H, W) uint8 (or float32 grey levels, when the decoder iterates) and the (64,) luminance
        table or None -> (H, W) float32 grey levels (0..255 scale, not rounded), all finite."""
        ...


@runtime_checkable
class Sensing(Part, Protocol):
    """Stage E4: the sensing operator H of a file, rebuilt by the decoder from the header."""

    def make(self, n: int, m: int, seed: int) -> SensingOperator:
        """A :class:`kornia_ops.SensingOperator` with ``n``, ``m`` as asked (H: R^n -> R^m; ``op(c)``
        (*, N) float64 -> (*, M), ``adjoint``, ``pinv_apply``). ValueError for an (n, m) it does not make."""
        ...


PROTOCOLS: dict[str, type] = {"base_codec": BaseCodec, "predictor": Predictor, "restorer": Restorer,
                              "sensing": Sensing}


# -- optional abilities (a part has one when it has the members; the default otherwise) ----------------------


@runtime_checkable
class SaliencyHead(Protocol):
    """Predictor ability: a salient-region map (F v2+). Default: none (no saliency, uniform ROI weights)."""

    def saliency(self, planes: np.ndarray, device: str) -> np.ndarray | None:
        """``planes`` as :meth:`Predictor.scores` -> (H, W) float32 probability in [0, 1], or None (no head)."""
        ...


@runtime_checkable
class JointSaliency(SaliencyHead, Protocol):
    """Predictor ability: scores and saliency from one network run (analysis). Default: two calls."""

    def scores_and_saliency(self, planes: np.ndarray, qtable: np.ndarray | None,
                            device: str) -> tuple[np.ndarray, np.ndarray | None]:
        """``(scores(planes, qtable, device), saliency(planes, device))``, bit-identical to the two calls."""
        ...


@runtime_checkable
class RoiConditioned(Protocol):
    """Predictor ability: ``needs_roi = True`` scores by the file's region of interest (``roi-edge``); the
    pipeline binds it to the (H, W) bool map with ``for_roi`` (:func:`bind_roi`). Default: no ROI needed."""

    needs_roi: bool

    def for_roi(self, roi: np.ndarray) -> Predictor:
        """The predictor bound to ``roi`` ((H, W) bool, the transmitted map)."""
        ...


@runtime_checkable
class ColourInput(Protocol):
    """Predictor ability: ``colour = True`` reads the (H, W, 3) Y, Cb, Cr planes of a colour base (F v3).
    Default: the (H, W) luminance."""

    colour: bool


@runtime_checkable
class BaseConditioned(Protocol):
    """Restorer ability: conditioned on the file's base codec and quality (HEAD fields). Default: runs as is."""

    def for_base(self, codec_id: str, quality: int) -> Restorer:
        """The restorer bound to that base; ValueError for a base codec it does not restore."""
        ...


@runtime_checkable
class FractionalQuality(Protocol):
    """Base-codec ability: ``fractional_quality = True`` encodes a quality between two integers (rate control
    bisects it). Default: integer qualities only."""

    fractional_quality: bool


@runtime_checkable
class SaliencyGuided(Protocol):
    """Base-codec ability: ``needs_saliency = True`` encodes with F's saliency map,
    ``encode(image, quality, saliency)`` with (H, W) float32 in [0, 1]. Default: ``encode(image, quality)``."""

    needs_saliency: bool


@runtime_checkable
class PixelAligned(Protocol):
    """Sensing ability: ``pixel_aligned = True`` when measurement i is critical pixel i's own value (identity),
    so the quantiser may weigh its error with that pixel's objective weight. Default: operators mix pixels."""

    pixel_aligned: bool


# -- registration -----------------------------------------------------------------------------------------------


def _members(proto: type) -> list[str]:
    """The members a protocol declares (its own and its protocol bases'), attributes then methods."""
    names: list[str] = []
    for cls in reversed(proto.__mro__):
        if cls is object or cls is Protocol or cls.__module__ == "typing":
            continue
        names += list(cls.__dict__.get("__annotations__", {}))
        names += [k for k, v in vars(cls).items() if callable(v) and not k.startswith("_")]
    return list(dict.fromkeys(names))


def check_part(kind: Kind, part: Any) -> None:
    """Registration check: ``part`` has every member :data:`PROTOCOLS`\\ [kind] declares.

    Raises:
        PartInterfaceError: (a ``TypeError``) naming the part and the members it lacks.
    """
    proto = PROTOCOLS[kind]
    missing = [m for m in _members(proto) if not hasattr(part, m)]
    if missing:
        name = f"{getattr(part, 'id', type(part).__name__)}@{getattr(part, 'version', '?')}"
        raise PartInterfaceError(f"{kind.replace('_', ' ')} part {name} ({type(part).__qualname__}) is not a "
                                 f"{proto.__name__}: it lacks {', '.join(missing)}")


# -- output checks ------------------------------------------------------------------------------------------------


def part_name(part: Part) -> str:
    """``"id@version"``, as files and errors name a part."""
    return f"{part.id}@{part.version}"


def _fail(kind: Kind, part: Part, what: str) -> PartOutputError:
    return PartOutputError(kind.replace("_", " "), part_name(part), what)


def check_array(kind: Kind, part: Part, name: str, value: Any, shape: tuple[int, ...], *,
                dtype_kinds: str = "fiu", finite: bool = True, bounds: tuple[float, float] | None = None) -> np.ndarray:
    """``value`` as the codec expects a part's ``name`` output: a numpy array of ``shape`` whose dtype kind is
    in ``dtype_kinds`` (numpy's ``dtype.kind``: "f" float, "i"/"u" integers), all finite (``finite``), within
    ``bounds`` (inclusive) when given. Returns ``value`` unchanged (no copy, no cast).

    Raises:
        PartOutputError: naming the part, the output and what is wrong with it.
    """
    if not isinstance(value, np.ndarray):
        raise _fail(kind, part, f"{name} of type {type(value).__name__}, expected a numpy array {shape}")
    if value.dtype.kind not in dtype_kinds:
        raise _fail(kind, part, f"{name} of dtype {value.dtype}, expected a real numeric dtype")
    if value.shape != shape:
        raise _fail(kind, part, f"{name} of shape {value.shape}, expected {shape}")
    if finite and value.dtype.kind == "f" and not np.isfinite(value).all():
        raise _fail(kind, part, f"{name} with {int((~np.isfinite(value)).sum())} non-finite values (NaN/inf)")
    if bounds is not None and value.size and (value.min() < bounds[0] or value.max() > bounds[1]):
        raise _fail(kind, part, f"{name} in [{value.min()}, {value.max()}], expected within {list(bounds)}")
    return value


def _check_tensor(kind: Kind, part: Part, name: str, value: Any, shape: tuple[int, ...]) -> Tensor:
    import torch

    if not isinstance(value, torch.Tensor):
        raise _fail(kind, part, f"{name} of type {type(value).__name__}, expected a torch.Tensor {shape}")
    if not value.is_floating_point():
        raise _fail(kind, part, f"{name} of dtype {value.dtype}, expected floating point")
    if tuple(value.shape) != shape:
        raise _fail(kind, part, f"{name} of shape {tuple(value.shape)}, expected {shape}")
    # a NaN or inf anywhere makes the sum non-finite: one reduction clears the common case, and a sum that
    # overflowed from finite values falls through to the element-wise check
    if not bool(torch.isfinite(value.sum())) and not bool(torch.isfinite(value).all()):
        raise _fail(kind, part, f"{name} with non-finite values (NaN/inf)")
    return value


# -- base codecs --------------------------------------------------------------------------------------------------


def decode_base(codec: BaseCodec, payload: bytes, mode: str, size: tuple[int, int]) -> BaseDecoded:
    """``codec.decode(payload, mode, size)``, checked: a :class:`BaseDecoded` of the header's size and mode."""
    out = codec.decode(payload, mode, size)
    if not isinstance(out, BaseDecoded):
        raise _fail("base_codec", codec,
                    f"an object of type {type(out).__name__} from decode(), expected a BaseDecoded")
    w, h = size
    check_array("base_codec", codec, "base planes", out.planes, (h, w) if mode == "L" else (h, w, 3),
                dtype_kinds="u")
    if out.planes.dtype != np.uint8:
        raise _fail("base_codec", codec, f"base planes of dtype {out.planes.dtype}, expected uint8")
    if out.qtable is not None:
        check_array("base_codec", codec, "qtable", out.qtable, (64,), dtype_kinds="iu")
    if out.rgb is not None:
        check_array("base_codec", codec, "base rgb", out.rgb, (h, w, 3), dtype_kinds="u")
        if out.rgb.dtype != np.uint8:
            raise _fail("base_codec", codec, f"base rgb of dtype {out.rgb.dtype}, expected uint8")
    return out


def fractional_quality(codec: BaseCodec) -> bool:
    """The codec encodes fractional qualities (:class:`FractionalQuality`)."""
    return isinstance(codec, FractionalQuality) and bool(codec.fractional_quality)


def wants_saliency(codec: BaseCodec) -> bool:
    """The codec encodes with F's saliency map (:class:`SaliencyGuided`)."""
    return isinstance(codec, SaliencyGuided) and bool(codec.needs_saliency)


# -- predictors ---------------------------------------------------------------------------------------------------


def needs_roi(predictor: Predictor) -> bool:
    """The predictor scores by the file's ROI map (:class:`RoiConditioned`)."""
    return isinstance(predictor, RoiConditioned) and bool(predictor.needs_roi)


def bind_roi(predictor: Predictor, roi: np.ndarray | None) -> Predictor:
    """``predictor`` as it runs for a file whose ROI map is ``roi`` ((H, W) bool, or None without one): bound
    through ``for_roi`` (:class:`RoiConditioned`), else as is.

    Raises:
        ValueError: ``predictor`` needs a ROI and ``roi`` is None.
    """
    if not needs_roi(predictor):
        return predictor
    if roi is None:
        raise ValueError(f"predictor {part_name(predictor)} scores by a region of interest and there is none")
    bound = predictor.for_roi(roi)  # type: ignore[attr-defined]
    check_part("predictor", bound)
    return bound


def predictor_input(predictor: Predictor, planes: np.ndarray) -> np.ndarray:
    """What ``predictor`` reads from a base layer's ``planes`` ((H, W) grey or (H, W, 3) YCbCr uint8): all
    planes for a :class:`ColourInput` predictor, else the (H, W) luminance."""
    colour = isinstance(predictor, ColourInput) and bool(predictor.colour)
    return planes if colour else luma_plane(planes)


def predict_scores(predictor: Predictor, planes: np.ndarray, qtable: np.ndarray | None, device: str) -> np.ndarray:
    """Stage E2: ``predictor``'s (H, W) scores on a base layer's ``planes`` (its :func:`predictor_input`),
    checked (real dtype, shape, finite)."""
    s = predictor.scores(predictor_input(predictor, planes), qtable, device)
    return check_array("predictor", predictor, "scores", s, planes.shape[:2])


def _checked_saliency(predictor: Predictor, sal: Any, shape: tuple[int, ...]) -> np.ndarray | None:
    if sal is None:
        return None
    return check_array("predictor", predictor, "saliency", sal, shape, dtype_kinds="f", bounds=(0.0, 1.0))


def predict_saliency(predictor: Predictor, planes: np.ndarray, device: str) -> np.ndarray | None:
    """``predictor``'s (H, W) saliency in [0, 1] on ``planes`` (its :func:`predictor_input`), or None for a
    predictor without a :class:`SaliencyHead` (or whose head says None); checked."""
    if not isinstance(predictor, SaliencyHead):
        return None
    return _checked_saliency(predictor, predictor.saliency(predictor_input(predictor, planes), device),
                             planes.shape[:2])


def predict_scores_and_saliency(predictor: Predictor, planes: np.ndarray, qtable: np.ndarray | None,
                                device: str) -> tuple[np.ndarray, np.ndarray | None]:
    """``(predict_scores(...), predict_saliency(...))``, with one network run for a :class:`JointSaliency`
    predictor; checked."""
    if not isinstance(predictor, JointSaliency):
        return predict_scores(predictor, planes, qtable, device), predict_saliency(predictor, planes, device)
    s, sal = predictor.scores_and_saliency(predictor_input(predictor, planes), qtable, device)
    shape = planes.shape[:2]
    return check_array("predictor", predictor, "scores", s, shape), _checked_saliency(predictor, sal, shape)


# -- restorers ----------------------------------------------------------------------------------------------------


def bind(restorer: Restorer, codec_id: str, quality: int) -> Restorer:
    """``restorer`` as it runs for a file whose base layer is ``codec_id`` at ``quality`` (HEAD fields): bound
    through ``for_base`` (:class:`BaseConditioned`), else as is. ValueError from ``for_base`` passes through."""
    if isinstance(restorer, BaseConditioned):
        bound = restorer.for_base(codec_id, int(quality))
        check_part("restorer", bound)
        return bound
    return restorer


def restore(restorer: Restorer, luma: np.ndarray, qtable: np.ndarray | None, device: str) -> np.ndarray:
    """Stage D1: ``restorer.restore(luma, qtable, device)`` checked (real dtype, ``luma``'s shape, finite), as
    (H, W) float grey levels: float32 or float64 as the restorer gives them (no copy; the shipped restorers
    give float32, and a full-size float64 copy is 200 MB at 24 MP), any other dtype as float64."""
    out = check_array("restorer", restorer, "restored luminance", restorer.restore(luma, qtable, device), luma.shape)
    return out if out.dtype in (np.float32, np.float64) else out.astype(np.float64)


# -- sensing ------------------------------------------------------------------------------------------------------


def make_operator(part: Sensing, n: int, m: int, seed: int) -> SensingOperator:
    """``part.make(n, m, seed)``, checked: a :class:`kornia_ops.SensingOperator` with that ``n`` and ``m``.
    ValueError from ``make`` (an (n, m) the part does not make) passes through."""
    from kornia_ops import SensingOperator

    op = part.make(n, m, seed)
    if not isinstance(op, SensingOperator):
        raise _fail("sensing", part, f"an operator of type {type(op).__name__} without n, m, __call__, adjoint "
                                     "and pinv_apply")
    if (int(op.n), int(op.m)) != (n, m):
        raise _fail("sensing", part, f"an operator of n={op.n}, m={op.m}, asked for n={n}, m={m}")
    return op


def measure(part: Sensing, op: SensingOperator, c: Tensor) -> Tensor:
    """``op(c)``, (N,) float -> (M,) measurements, checked (floating, shape, finite)."""
    return _check_tensor("sensing", part, "measurements", op(c), (*c.shape[:-1], int(op.m)))


def check_projected(part: Sensing, values: np.ndarray) -> np.ndarray:
    """The critical values after the CS projection (the operator's ``pinv_apply`` ran on them): finite."""
    return check_array("sensing", part, "projected critical values", values, values.shape, dtype_kinds="f")


def measurement_weights(part: Sensing, weights_on_c: Any) -> Any:
    """The quantiser's (M,) per-measurement weights: the critical pixels' own objective weights (N,) for a
    :class:`PixelAligned` part (measurement i is pixel i), else None (uniform: a mixing operator spreads every
    pixel over every measurement)."""
    return weights_on_c if isinstance(part, PixelAligned) and bool(part.pixel_aligned) else None
