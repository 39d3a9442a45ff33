"""The public API: ``encode``, ``decode``, ``read_info``, ``decode_base_preview``, ``analyze``, ``refinement``.

Pillow, imageio, the CLI and the benchmark are thin adapters over these functions.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, BinaryIO

from agdl_plugins.errors import AgdlFormatError
from agdl_plugins.format.container import MAX_FILE_BYTES
from agdl_plugins.format.header import AgdlInfo
from agdl_plugins.options import EncodeOptions, validate_encode_options

if TYPE_CHECKING:
    from PIL import Image

    from agdl_plugins.format.parse import Parsed

Source = bytes | bytearray | memoryview | str | os.PathLike | BinaryIO


def _read_source(source: Source) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    if isinstance(source, str | os.PathLike):
        size = os.path.getsize(source)
        if size > MAX_FILE_BYTES:
            raise AgdlFormatError(f"{os.fspath(source)!r} is {size} bytes, over the AGDL limit")
        with open(source, "rb") as f:
            return f.read()
    if hasattr(source, "read"):
        data = source.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise AgdlFormatError("AGDL stream exceeds the size limit")
        return bytes(data)
    raise TypeError(f"expected bytes, a path or a binary file object, got {type(source).__name__}")


def _default_max_pixels() -> int | None:
    from PIL import Image

    return None if Image.MAX_IMAGE_PIXELS is None else 2 * int(Image.MAX_IMAGE_PIXELS)


def read_info(source: Source, *, max_pixels: int | None = None) -> AgdlInfo:
    """Parse the container and header only (no numpy/torch work): size, mode, parts, layer sizes, metadata.

    Raises:
        AgdlFormatError: corrupt, truncated or unsupported data.
    """
    return _parse(_read_source(source), max_pixels).info


def encode(
    image: Any,
    *,
    exif: bytes | Image.Exif | None = None,
    icc_profile: bytes | None = None,
    xmp: bytes | str | None = None,
    **options: Any,
) -> bytes:
    """Encode an image to AGDL bytes.

    Args:
        image: ``PIL.Image.Image`` (L, RGB, LA, RGBA; 1/RGBX/CMYK/YCbCr converted) or a uint8 array
            (H, W), (H, W, 1), (H, W, 3), (H, W, 4).
        exif, icc_profile, xmp: metadata stored byte-for-byte (``PIL.Image.Exif`` and XMP ``str`` accepted;
            ``b""`` stores none; ``None``: taken from a PIL image's ``info``, as a file converter keeps them --
            Pillow's ``save`` passes ``b""`` for EXIF/XMP not given, as Pillow's writers do).
        **options: see :class:`agdl_plugins.options.EncodeOptions` (quality, target_bpp,
            critical_fraction, measurement_ratio, step, roi_weight, base, predictor, restorer, sensing, device,
            seed, quantiser, container, roi). ``roi``: the user's region of interest, an (H, W) bool/uint8 mask
            (or mode 1/L PIL image) or a list of (x0, y0, x1, y1) pixel boxes (:mod:`agdl_plugins.roi`); the
            file carries it and ``read_info(...).roi`` gives it back, widened to whole blocks.

    Returns:
        The .agdl file content.

    Raises:
        ValueError: bad option value or array shape/dtype. OSError: a PIL mode AGDL cannot store.
        TypeError: a ``roi`` of a type it does not take (ValueError for a wrong size, an empty or out-of-image
            box, NaN, an empty mask).
        MissingPartError: a named part is not installed.

    Example:
        >>> import numpy as np, agdl_plugins as agdl
        >>> data = agdl.encode(np.full((32, 48), 128, np.uint8), quality=50)
        >>> agdl.read_info(data).size
        (48, 32)
    """
    from agdl_plugins.codec.rdo_search import encode_image
    from agdl_plugins.imaging import as_pil, metadata_bytes
    from agdl_plugins.parts.registry import get_registry

    opts: EncodeOptions = validate_encode_options(**options)
    im = as_pil(image)
    info = getattr(image, "info", {}) or {}
    given = {"exif": exif, "icc_profile": icc_profile, "xmp": xmp}
    meta = {k: metadata_bytes(k, v if v is not None else info.get(k)) for k, v in given.items()}
    if opts.container == "jpeg":
        from agdl_plugins.format.jpeg_container import metadata_segments, wrap

        metadata_segments(*(meta[k] for k in ("exif", "icc_profile", "xmp")))  # ValueError before the work
        return wrap(encode_image(im, opts, get_registry(), meta))
    return encode_image(im, opts, get_registry(), meta)


def decode(
    source: Source,
    *,
    device: str = "auto",
    projection: str | None = None,
    restorer: str | None = None,
    base_only: bool = False,
    max_pixels: int | None = -1,
    diagnostics: bool = False,
    score_hook: Any = None,
    restorer_hook: Any = None,
    iterations: int = 1,
):
    """Decode AGDL data to a :class:`~agdl_plugins.codec.decoder.DecodedImage` (``.array``, ``.mode``, ``.info``).

    Args:
        source: bytes, a path or a binary file object.
        device: "auto" (CUDA when available), "cpu" or "cuda[:N]".
        projection: "equality" (eq. 10, the default) or "box" (onto the quantisation cell).
        restorer: override the restorer (the file's is still used as the measurement reference).
        base_only: skip the networks and the refinement layer (fast preview).
        max_pixels: refuse larger images (default: 2 x ``PIL.Image.MAX_IMAGE_PIXELS``; None = no limit).
        diagnostics: fill ``.diagnostics`` with the critical mask, the float output before rounding and the
            constraint residual before/after 8-bit rounding.
        score_hook: testing hook applied to the predictor's scores (drift injection).
        restorer_hook: testing hook applied to the restorer's float output (drift injection).
        iterations: G <-> projection alternations (1 = the paper's single pass).
    """
    if isinstance(iterations, bool) or not isinstance(iterations, int) or not 1 <= iterations <= 8:
        raise ValueError(f"iterations must be an int in [1, 8], got {iterations!r}")
    from agdl_plugins.codec.decoder import decode_parsed
    from agdl_plugins.parts.registry import get_registry

    limit = _default_max_pixels() if max_pixels == -1 else max_pixels
    parsed = _parse(_read_source(source), limit)
    return decode_parsed(
        parsed,
        get_registry(),
        device=device,
        projection=projection,
        restorer=restorer,
        base_only=base_only,
        diagnostics=diagnostics,
        score_hook=score_hook,
        restorer_hook=restorer_hook,
        iterations=iterations,
    )


def _parse(data: bytes, max_pixels: int | None) -> Parsed:
    """A .agdl file, or a JPEG carrying AGDL APP11 segments (``container="jpeg"``: jpeg_container.parse_file)."""
    from agdl_plugins.format.jpeg_container import is_jpeg

    if is_jpeg(data):
        from agdl_plugins.format.jpeg_container import parse_file as parse_jpeg

        return parse_jpeg(data, max_pixels)
    from agdl_plugins.format.parse import parse_file

    return parse_file(data, max_pixels)


def decode_base_preview(source: Source, *, max_pixels: int | None = -1):
    """Base layer only (no networks, no torch): what thumbnails and ``Image.draft`` want."""
    return decode(source, base_only=True, max_pixels=max_pixels)


def analyze(
    source: Source,
    *,
    outputs: tuple[str, ...] | str = ("saliency", "critical"),
    device: str = "auto",
    max_pixels: int | None = -1,
):
    """Saliency map, critical pixels and salient-region boxes from the compressed stream, without decoding
    the image: only the base layer and network F run, never the restorer G (:mod:`agdl_plugins.codec.analysis`).

    Args:
        source: bytes, a path or a binary file object (a .agdl file, or a JPEG carrying AGDL segments).
        outputs: any of ``"saliency"`` (F's saliency head on the base luminance, with the ROI boxes) and
            ``"critical"`` (the critical set exactly as :func:`decode` derives it).
        device: "auto" (CUDA when available), "cpu" or "cuda[:N]".
        max_pixels: as in :func:`decode`.

    Returns:
        :class:`agdl_plugins.codec.analysis.Analysis`: ``saliency`` (H, W) float32 in [0, 1] or None (no saliency
        head in the file's predictor, e.g. edge-sobel: ``notes`` says so), ``critical`` (H, W) bool (all False
        without refinement), ``boxes`` (x0, y0, x1, y1, area, mean_saliency) of the 8-connected regions with
        saliency >= 0.5, ``info``, ``notes``.

    Raises:
        AgdlFormatError: corrupt data, a part that is not installed, a critical set that does not match the
            file. ValueError: bad ``outputs`` or ``device``.
    """
    from agdl_plugins.codec.analysis import analyze_parsed, validate_outputs
    from agdl_plugins.parts.registry import get_registry

    outputs = validate_outputs(outputs)
    limit = _default_max_pixels() if max_pixels == -1 else max_pixels
    parsed = _parse(_read_source(source), limit)
    return analyze_parsed(parsed, get_registry(), outputs=outputs, device=device)


def refinement(source: Source, *, device: str = "auto", max_pixels: int | None = -1):
    """The file's transmitted measurements and what they measure, for use in another restoration network.

    Runs what the decoder runs before its projection: the base layer, network F (the critical set, checked
    against the file's CRC) and the file's restorer G (the measurements are residuals of G's output). Feed the
    result to :class:`kornia_ops.CSProjection` (``docs/KORNIA_OPS.md``): ``y``, ``operator`` and ``mask`` are in
    grey levels on the luminance plane; divide ``y`` and ``step`` by 255 for a network working in [0, 1] (the
    operators are linear).

    Args:
        source: bytes, a path or a binary file object (a .agdl file, or a JPEG carrying AGDL segments).
        device: where F and G run: "auto" (CUDA when available), "cpu" or "cuda[:N]".
        max_pixels: as in :func:`decode`.

    Returns:
        :class:`agdl_plugins.codec.decoder.Refinement` (``base``, ``reference``, ``mask``, ``y``, ``operator``,
        ``step``, ``info``); ``operator`` is None and ``y`` empty for a file without refinement.

    Raises:
        AgdlFormatError: corrupt data, a part that is not installed. CriticalSetMismatchError: the re-derived
            critical set does not match the file.

    Example:
        >>> import numpy as np, agdl_plugins as agdl
        >>> rng = np.random.default_rng(0)
        >>> img = np.clip(rng.normal(128, 40, (48, 64)), 0, 255).astype(np.uint8)
        >>> data = agdl.encode(img, critical_fraction=0.05, measurement_ratio=0.5, step=2.0, device="cpu")
        >>> r = agdl.refinement(data, device="cpu")
        >>> int(r.mask.sum()) == r.operator.n, r.operator.m == r.y.shape[0], r.step
        (True, True, 2.0)
    """
    from agdl_plugins.codec.decoder import refinement_parsed
    from agdl_plugins.parts.registry import get_registry

    limit = _default_max_pixels() if max_pixels == -1 else max_pixels
    return refinement_parsed(_parse(_read_source(source), limit), get_registry(), device=device)


def encode_base_layer(image: Any, *, base: str = "jpeg-saliency", quality: int = 30) -> bytes:
    """Only the base layer, as the base codec's own file (e.g. a plain ``.jpg`` any decoder reads).

    ``agdl encode --base jpeg-saliency -o x.jpg`` uses this.
    """
    from agdl_plugins.codec.encoder import check_parts, encode_base
    from agdl_plugins.imaging import as_pil, split_alpha
    from agdl_plugins.parts.registry import get_registry

    opts = validate_encode_options(base=base, quality=quality)
    reg = get_registry()
    device = check_parts(opts, reg)
    color, _ = split_alpha(as_pil(image))
    return encode_base(color, reg.get("base_codec", opts.base), reg, opts.quality, device)
