"""Pillow format plugin for AGDL files (``.agdl``).

Importing this module registers the plugin with Pillow (as pillow-avif-plugin does);
:func:`register_agdl_opener` does the same explicitly and may be called any number of times
(as pillow-heif's ``register_heif_opener``).

The plugin is a thin adapter over the public API of :mod:`agdl_plugins`:

* ``Image.open`` parses the header only (:func:`agdl_plugins.read_info`, which never imports
  torch) and fills ``size``, ``mode`` and ``info``; Pillow then runs its decompression-bomb check.
  ``info["roi"]``: the transmitted region of interest (issue 27), a list of (x0, y0, x1, y1) pixel boxes from
  ``open``, or an (H, W) bool numpy array set by ``load()`` (a map as large as the image is not built before
  Pillow's size check).
* ``load()`` decodes once with :func:`agdl_plugins.decode` using :data:`DECODE_OPTIONS`.
* ``draft()`` switches to :func:`agdl_plugins.decode_base_preview` (base layer only, no networks),
  which is what ``Image.thumbnail`` wants.
* ``save`` reads the options from ``encoderinfo`` and writes :func:`agdl_plugins.encode` bytes.
"""

from __future__ import annotations

import threading
from typing import IO, Any

from PIL import Image, ImageFile, UnidentifiedImageError

import agdl_plugins
from agdl_plugins.format import jpeg_container
from agdl_plugins.format.container import accept
from agdl_plugins.imaging import as_pil, metadata_bytes
from agdl_plugins.options import ENCODE_OPTION_NAMES

from .options import (
    ANALYSIS_OPTIONS,
    DECODE_OPTION_NAMES,
    DECODE_OPTIONS,
    JPEG_OPTIONS,
    METADATA_NAMES,
    warn_misspelt,
)

FORMAT = "AGDL"
FORMAT_DESCRIPTION = "AGDL (base layer + compressed-sensing refinement)"
MIME = "image/x-agdl"
EXTENSIONS = (".agdl",)


# Pillow modes -> mode written. L/RGB/LA/RGBA are stored natively (alpha losslessly); the others
# follow Pillow's JPEG writer (1 -> L, RGBX/YCbCr/CMYK -> RGB) or its alpha-capable writers
# (WebP/AVIF: P/PA -> RGB or RGBA). Anything else: OSError "cannot write mode X as AGDL".
_BANDS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}


_accept = accept  # Pillow's opener check: the container's own magic test


class AgdlImageFile(ImageFile.ImageFile):
    """An AGDL image opened by Pillow: header parsed in ``_open``, pixels decoded in ``load``."""

    format = FORMAT
    format_description = FORMAT_DESCRIPTION
    _agdl_preview = False

    def _open(self) -> None:
        self._agdl_lock = threading.Lock()
        self._agdl_preview = False
        assert self.fp is not None
        start = self.fp.tell()
        try:
            info = agdl_plugins.read_info(self.fp)
        except agdl_plugins.AgdlFormatError as e:
            # The magic matched (Pillow's accept), so this is an AGDL file that is damaged: say why. Pillow
            # would turn a SyntaxError into a bare "cannot identify image file"; UnidentifiedImageError (an
            # OSError, what Image.open raises for unreadable files) propagates with the cause named and
            # chained. No size limit here: Image.open applies MAX_IMAGE_PIXELS right after _open.
            name = self.filename or getattr(self.fp, "name", None) or "<stream>"
            raise UnidentifiedImageError(f"cannot identify image file {name!r}: {e}") from e
        if info.mode not in _BANDS:
            raise SyntaxError(f"AGDL file declares unsupported mode {info.mode!r}")
        self._agdl_start = start
        self._size = (int(info.width), int(info.height))
        self._mode = info.mode
        self.info.update(info.as_dict(roi_map=False))  # a ROI map is H x W: set by load(), after the size check
        self._agdl_roi = info.roi_record
        self.tile = []

    def draft(self, mode: str | None, size: tuple[int, int] | None) -> tuple[str, tuple[int, int, float, float]] | None:
        """Use the base-layer-only preview when the image will be shown at half size or less.

        The refinement layer only sharpens detail that a >= 2x downscale averages away. ``size`` is
        the size the caller will reduce to (``Image.thumbnail`` passes twice its bounding box);
        the image fits into it after a downscale by ``max(width / size[0], height / size[1])``.
        The preview has full size (no DCT scaling), so the box is the whole image and ``mode`` is
        kept. Like Pillow's JPEG plugin, returns ``None`` when nothing changes: already loaded,
        already drafted, no size, or a size needing less than a 2x reduction.
        """
        if self._im is not None or self._agdl_preview or not size:
            return None
        w, h = self.size
        if max(w / max(1, size[0]), h / max(1, size[1])) < 2:
            return None
        self._agdl_preview = True
        return self.mode, (0, 0, w, h)

    def load(self) -> Any:
        lock = getattr(self, "_agdl_lock", None)  # absent on unpickled images (already loaded)
        if lock is not None:
            with lock:
                if self._im is None:
                    self._agdl_decode()
        return Image.Image.load(self)

    def _agdl_decode(self) -> None:
        if self.fp is None:
            raise OSError("cannot load this image: its file has been closed")
        self.fp.seek(self._agdl_start)
        data = self.fp.read()
        if self._agdl_preview:
            decoded = agdl_plugins.decode_base_preview(data)
        else:
            options = {k: v for k, v in DECODE_OPTIONS.items() if v is not None}
            decoded = agdl_plugins.decode(data, **options)
        if ANALYSIS_OPTIONS["saliency"]:  # same core function as agdl.analyze / `agdl analyze`; never runs G
            device = DECODE_OPTIONS.get("device") or "auto"
            self.info["agdl_saliency"] = agdl_plugins.analyze(data, outputs=("saliency",), device=device).saliency
        if getattr(self, "_agdl_roi", None) is not None and self._agdl_roi.kind == "map":
            self.info["roi"] = self._agdl_roi.pixel_map()  # (H, W) bool (boxes are in info from open)
        arr = decoded.array
        w, h = self.size
        expected = (h, w) if self.mode == "L" else (h, w, _BANDS[self.mode])
        if decoded.mode != self.mode or arr.dtype.name != "uint8" or tuple(arr.shape) != expected:
            raise OSError(
                f"AGDL decoder returned {decoded.mode} {arr.dtype} {tuple(arr.shape)}, "
                f"header declares {self.mode} {expected}"
            )
        self.im = Image.frombytes(self.mode, self.size, arr.tobytes()).im
        self.readonly = 0
        if self._exclusive_fp and self._close_exclusive_fp_after_loading:
            self.fp.close()
        self.fp = None


def _save(im: Image.Image, fp: IO[bytes], filename: str | bytes) -> None:
    encoderinfo = im.encoderinfo
    # The core's option names (quality, target_bpp, roi_weight, base, ...: agdl_plugins.EncodeOptions). Other
    # keys in encoderinfo (dpi, optimize, ...) are ignored, as every Pillow writer ignores options it does not
    # know; a key close to an AGDL option name (``qualty``, ``target_bp``) gives an AgdlOptionWarning.
    options = {k: v for k, v in encoderinfo.items() if k in ENCODE_OPTION_NAMES}
    warn_misspelt(encoderinfo)
    agdl_plugins.validate_encode_options(**options)
    name = filename.decode() if isinstance(filename, bytes) else str(filename or "")
    if options.get("container") == "jpeg" and name.lower().endswith(EXTENSIONS):
        raise ValueError(f"container='jpeg' writes a standard JPEG; name it .jpg or .jpeg, not {name!r} (under a "
                         ".agdl name it would open as a plain JPEG)")
    # mode policy lives in the core (as_pil): OSError "cannot write mode X as AGDL" for unsupported modes
    frame = as_pil(im, stacklevel=4)  # the warning points at the user's im.save(...) line
    # As Pillow's own writers: EXIF and XMP only when passed (exif=, xmp=) -- copying im.info["exif"] would
    # re-apply an orientation the image no longer has after a rotate/transpose; the ICC profile (colours stay
    # right whatever the geometry) from encoderinfo, else im.info, as Pillow's PNG writer does. b"" = none.
    # Never None (b"" = none), so the core never falls back to the converted frame's info on its own; converted
    # (Image.Exif, XMP str) and checked by the core's one function before the encoder runs.
    given = {name: encoderinfo.get(name, im.info.get(name) if name == "icc_profile" else None) for name in
             METADATA_NAMES}
    metadata = {name: metadata_bytes(name, value) or b"" for name, value in given.items()}

    # The core saves a copy for its base layer, so this save()'s encoderinfo cannot leak into it.
    data = agdl_plugins.encode(frame, **options, **metadata)
    fp.write(data)  # one write, after everything that can fail


def register_agdl_opener(*, jpeg: bool | None = None, saliency: bool | None = None, **decode_options: Any) -> None:
    """Register the AGDL opener/saver with Pillow; safe to call any number of times.

    Keyword arguments (``device``, ``projection``, ``restorer``) update :data:`DECODE_OPTIONS`,
    the settings every later ``load()`` passes to :func:`agdl_plugins.decode`.

    ``jpeg=True``: ``Image.open`` returns the refined image (format "AGDL") for JPEGs that carry AGDL
    segments (``container="jpeg"``) and leaves every other JPEG to Pillow's JPEG plugin; ``jpeg=False``
    undoes it; ``None`` (the default) leaves the setting as it is. Without it such JPEGs open as plain JPEGs.

    ``saliency=True``: every later ``load()`` also puts F's saliency map of the base layer in
    ``im.info["agdl_saliency"]`` ((H, W) float32 in [0, 1], :func:`agdl_plugins.analyze`; None when the file's
    predictor has no saliency head); ``False`` undoes it; ``None`` (the default) leaves the setting as it is.
    """
    unknown = set(decode_options) - set(DECODE_OPTION_NAMES)
    if unknown:
        raise TypeError(f"unknown AGDL decode option(s) {sorted(unknown)}; valid: {list(DECODE_OPTION_NAMES)}")
    DECODE_OPTIONS.update(decode_options)
    Image.register_open(FORMAT, AgdlImageFile, _accept)
    Image.register_save(FORMAT, _save)
    Image.register_extensions(FORMAT, list(EXTENSIONS))
    Image.register_mime(FORMAT, MIME)
    if jpeg is not None:
        JPEG_OPTIONS["refined"] = bool(jpeg)
        _register_jpeg_opener(bool(jpeg))
    if saliency is not None:
        ANALYSIS_OPTIONS["saliency"] = bool(saliency)


# -- AGDL inside JPEG (opt-in: register_agdl_opener(jpeg=True)) ---------------------------------------------

#: Pillow format id of the opt-in opener; it sits right before "JPEG" in ``Image.ID``.
JPEG_OPENER_ID = "AGDL-JPEG"


def _accept_jpeg(prefix: bytes) -> bool:
    # Pillow passes 16 bytes, too few to see the APP11 segments: _open checks them and declines (SyntaxError,
    # Pillow then tries its JPEG plugin) every JPEG without them, reading only the JPEG's header segments.
    return jpeg_container.is_jpeg(prefix)


class AgdlJpegImageFile(AgdlImageFile):
    """A JPEG carrying AGDL segments, opened refined (format "AGDL", ``info["agdl_container"] == "jpeg"``).

    ``draft`` (``Image.thumbnail``) decodes the base layer only, as for .agdl files.
    """

    def _open(self) -> None:
        assert self.fp is not None
        start = self.fp.tell()
        if not jpeg_container.has_segments(self.fp):
            raise SyntaxError("a JPEG without AGDL segments: left to Pillow's JPEG plugin")
        self.fp.seek(start)
        super()._open()
        if self.info.get("agdl_fallback"):
            # the core has warned (AgdlFallbackWarning): Pillow's JPEG plugin opens the file as it is
            raise SyntaxError(f"unusable AGDL segments: {self.info['agdl_fallback']}")


def _register_jpeg_opener(enable: bool) -> None:
    from PIL import JpegImagePlugin  # noqa: F401  (registers "JPEG", so the opener can go right before it)

    if JPEG_OPENER_ID in Image.ID:
        Image.ID.remove(JPEG_OPENER_ID)
    Image.OPEN.pop(JPEG_OPENER_ID, None)
    if enable:
        Image.register_open(JPEG_OPENER_ID, AgdlJpegImageFile, _accept_jpeg)
        Image.ID.remove(JPEG_OPENER_ID)
        Image.ID.insert(Image.ID.index("JPEG") if "JPEG" in Image.ID else 0, JPEG_OPENER_ID)


register_agdl_opener()
