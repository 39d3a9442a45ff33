"""imageio v3 plugin for AGDL files: a thin adapter over :mod:`agdl_plugins`.

imageio imports this module lazily (through ``imageio.config.known_plugins``), so nothing here
runs until a request needs it. ``properties()`` and ``metadata()`` read the header only
(:func:`agdl_plugins.read_info`); ``read()`` decodes with :func:`agdl_plugins.decode`.
``metadata(saliency=True, critical=True)`` adds the analysis of :func:`agdl_plugins.analyze` (no full decode).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from imageio.core.request import URI_BYTES, InitializationError, IOMode, Request
from imageio.core.v3_plugin_api import ImageProperties, PluginV3

import agdl_plugins
from agdl_plugins.format import jpeg_container
from agdl_plugins.format.container import accept

EXTENSION = ".agdl"
#: written with ``container="jpeg"`` (AGDL inside a standard JPEG); read refined with ``read(jpeg=True)``
JPEG_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".jfif")
_BANDS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}


class AgdlPlugin(PluginV3):
    """Read and write single-image AGDL files.

    Reading yields uint8 arrays: (H, W) for L, (H, W, 2) LA, (H, W, 3) RGB, (H, W, 4) RGBA.
    Writing accepts uint8 (H, W), (H, W, 1), (H, W, 2), (H, W, 3) or (H, W, 4) arrays.
    """

    def __init__(self, request: Request) -> None:
        super().__init__(request)
        self._data: bytes | None = None
        self._info: Any = None
        self._jpeg = False  # a JPEG carrying AGDL segments (container="jpeg")
        # such a JPEG under a .agdl name (written before that was refused) reads refined: its name says AGDL
        self._named_agdl = (request.extension or "").lower() == EXTENSION
        source = "<bytes>" if isinstance(request.raw_uri, bytes | bytearray | memoryview) else request.raw_uri
        if request.mode.io_mode == IOMode.read:
            try:
                prefix = request.firstbytes
                self._start = request.get_file().tell()
            except Exception as e:  # imopen only moves on to the next plugin on InitializationError
                raise InitializationError(f"cannot inspect {source!r}: {e}") from e
            self._jpeg = jpeg_container.is_jpeg(prefix) and _has_agdl_segments(request, self._start)
            if not accept(prefix) and not self._jpeg:
                raise InitializationError(f"{source!r} is not an AGDL file (magic bytes missing).")
        else:
            extension = request.extension or request.format_hint
            if extension is None or extension.lower() not in (EXTENSION, *JPEG_EXTENSIONS):
                raise InitializationError(
                    f"AGDL writes files with extension {EXTENSION!r}, not {extension!r}; "
                    "pass extension='.agdl' when writing to bytes or a file object."
                )

    # -- reading ---------------------------------------------------------------------------

    def _bytes(self) -> bytes:
        if self._data is None:
            file = self.request.get_file()
            file.seek(self._start)
            self._data = file.read()
        return self._data

    def _header(self) -> Any:
        if self._info is None:
            self._info = agdl_plugins.read_info(self._bytes())
        return self._info

    @staticmethod
    def _check_index(index: Any) -> None:
        if index is None or index is Ellipsis:
            return
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise TypeError(f"index must be an int, None or ..., got {index!r}")
        if index != 0:
            raise ValueError(f"AGDL files hold one image; index {index} is out of bounds.")

    def read(
        self,
        *,
        index: int | None = None,
        device: str | None = "auto",
        projection: str | None = None,
        restorer: str | None = None,
        base_only: bool = False,
        jpeg: bool = False,
    ) -> np.ndarray:
        """Decode the image.

        Args:
            index: ``0`` or ``None`` for the image, ``...`` for a batch of one (1, H, W[, C]).
            device, projection, restorer, base_only: passed to :func:`agdl_plugins.decode`;
                ``None`` means the core's default.
            jpeg: for a JPEG carrying AGDL segments (``container="jpeg"``): ``True`` decodes the refined
                image, ``False`` (the default) the JPEG as every JPEG reader shows it -- except under a
                ``.agdl`` name, which is always read refined (with alpha).
        """
        self._check_index(index)
        if self._jpeg and not (jpeg or self._named_agdl):
            with self._plain_jpeg() as im:
                image = np.asarray(im)
            return image[None] if index is Ellipsis else image
        options = {"device": device, "projection": projection, "restorer": restorer}
        options = {k: v for k, v in options.items() if v is not None}
        if base_only:
            options["base_only"] = True
        image = agdl_plugins.decode(self._bytes(), **options).array
        return image[None] if index is Ellipsis else image

    def iter(self, **kwargs: Any) -> Iterator[np.ndarray]:
        yield self.read(index=0, **kwargs)

    def properties(self, index: int | None = None, jpeg: bool = False) -> ImageProperties:
        """Shape and dtype from the header (no decoding); ``jpeg`` as in :meth:`read`."""
        self._check_index(index)
        if self._jpeg and not (jpeg or self._named_agdl):
            with self._plain_jpeg() as im:
                shape: tuple[int, ...] = (im.height, im.width, *((len(im.getbands()),) if im.mode != "L" else ()))
        else:
            info = self._header()
            shape = (int(info.height), int(info.width))
            if _BANDS[info.mode] > 1:
                shape += (_BANDS[info.mode],)
        if index is Ellipsis:
            return ImageProperties(shape=(1, *shape), dtype=np.dtype(np.uint8), n_images=1, is_batch=True)
        return ImageProperties(shape=shape, dtype=np.dtype(np.uint8), n_images=None, is_batch=False)

    def metadata(
        self,
        index: int | None = None,
        exclude_applied: bool = True,
        jpeg: bool = False,
        *,
        saliency: bool = False,
        critical: bool = False,
        device: str = "auto",
    ) -> dict[str, Any]:
        """The same facts Pillow puts in ``Image.info``: EXIF/ICC/XMP bytes and ``agdl_*`` fields, and ``roi`` when
        the file carries a region of interest (issue 27: a list of (x0, y0, x1, y1) pixel boxes, or an (H, W) bool
        array).

        Nothing is applied while reading (no orientation), so ``exclude_applied`` changes nothing. ``jpeg`` as
        in :meth:`read` (``False``: Pillow's JPEG ``info``).

        Opt-in analysis from the compressed stream (:func:`agdl_plugins.analyze`: base layer and network F
        only, never the restorer), e.g. ``iio.immeta(path, saliency=True)``:
        ``saliency=True`` adds ``agdl_saliency`` ((H, W) float32 in [0, 1], None when the file's predictor has
        no saliency head) and ``agdl_roi_boxes`` (list of dicts x0, y0, x1, y1, area, mean_saliency);
        ``critical=True`` adds ``agdl_critical`` ((H, W) bool, the decoder's critical set). ``device`` as in
        :meth:`read`. Either adds ``agdl_analysis_notes`` (list of str).
        """
        self._check_index(index)
        if saliency or critical:
            meta = self.metadata(index, exclude_applied, jpeg)
            outputs = tuple(k for k, on in (("saliency", saliency), ("critical", critical)) if on)
            res = agdl_plugins.analyze(self._bytes(), outputs=outputs, device=device)
            if saliency:
                meta["agdl_saliency"] = res.saliency
                meta["agdl_roi_boxes"] = None if res.boxes is None else [b.as_dict() for b in res.boxes]
            if critical:
                meta["agdl_critical"] = res.critical
            meta["agdl_analysis_notes"] = list(res.notes)
            return meta
        if self._jpeg and not (jpeg or self._named_agdl):
            with self._plain_jpeg() as im:
                return dict(im.info)
        return self._header().as_dict()

    # -- writing ---------------------------------------------------------------------------

    def write(
        self,
        ndimage: Any,
        *,
        is_batch: bool = False,
        quality: int | None = None,
        target_bpp: float | None = None,
        critical_fraction: float | None = None,
        measurement_ratio: float | None = None,
        step: float | None = None,
        roi_weight: float | None = None,
        base: str | None = None,
        predictor: str | None = None,
        restorer: str | None = None,
        sensing: str | None = None,
        device: str | None = None,
        seed: int | None = None,
        quantiser: str | None = None,
        exif: bytes | None = None,
        icc_profile: bytes | None = None,
        xmp: bytes | None = None,
        container: str | None = None,
        roi: Any = None,
    ) -> bytes | None:
        """Encode one image; options are those of :func:`agdl_plugins.encode` (``None``: default), every
        field of :class:`agdl_plugins.EncodeOptions` (a test checks the two lists agree).

        ``container="jpeg"`` writes AGDL inside a standard JPEG (``.jpg``: pass ``plugin="AGDL"``); under a
        ``.agdl`` name it is refused (readers would take it for a plain JPEG).
        Returns the encoded bytes when the target is ``"<bytes>"``, else ``None``.
        """
        extension = (self.request.extension or self.request.format_hint or "").lower()
        if extension in JPEG_EXTENSIONS and container != "jpeg":
            raise ValueError(f"the AGDL plugin writes {extension!r} files only with container='jpeg'")
        if extension == EXTENSION and container == "jpeg":
            raise ValueError("container='jpeg' writes a standard JPEG; name it .jpg or .jpeg (with plugin='AGDL'), "
                             "not .agdl")
        image = _as_single_image(ndimage, is_batch)
        options = {
            "quality": quality,
            "target_bpp": target_bpp,
            "critical_fraction": critical_fraction,
            "measurement_ratio": measurement_ratio,
            "step": step,
            "roi_weight": roi_weight,
            "base": base,
            "predictor": predictor,
            "restorer": restorer,
            "sensing": sensing,
            "device": device,
            "seed": seed,
            "quantiser": quantiser,
            "container": container,
            "roi": roi,
        }
        options = {k: v for k, v in options.items() if v is not None}
        agdl_plugins.validate_encode_options(**options)
        data = agdl_plugins.encode(image, **options, exif=exif, icc_profile=icc_profile, xmp=xmp)
        file = self.request.get_file()  # only now: a failed encode leaves no file behind
        file.write(data)
        if self.request._uri_type == URI_BYTES:
            return file.getvalue()
        return None

    def _plain_jpeg(self) -> Any:
        """The JPEG as Pillow's JPEG plugin opens it (never the AGDL opener)."""
        import io

        from PIL import Image

        return Image.open(io.BytesIO(self._bytes()), formats=["JPEG"])

    def close(self) -> None:
        self._data = None
        self.request.finish()


def _has_agdl_segments(request: Request, start: int) -> bool:
    """Whether the JPEG at ``start`` carries AGDL APP11 segments (reads its header segments only)."""
    try:
        file = request.get_file()
        try:
            return jpeg_container.has_segments(file)
        finally:
            file.seek(start)
    except Exception as e:  # imopen only moves on to the next plugin on InitializationError
        raise InitializationError(f"cannot inspect the JPEG's segments: {e}") from e


def _as_single_image(ndimage: Any, is_batch: bool) -> np.ndarray:
    if isinstance(ndimage, list | tuple):
        if len(ndimage) != 1:
            raise ValueError(f"AGDL files hold exactly one image, got a list of {len(ndimage)}.")
        ndimage = ndimage[0]
    elif is_batch:
        ndimage = np.asarray(ndimage)
        if ndimage.ndim < 1 or ndimage.shape[0] != 1:
            raise ValueError(f"AGDL files hold exactly one image, got a batch of shape {ndimage.shape}.")
        ndimage = ndimage[0]
    arr = np.asarray(ndimage)
    if arr.dtype != np.uint8:
        raise ValueError(
            f"AGDL stores 8-bit images: expected dtype uint8, got {arr.dtype} "
            "(scale and convert first, e.g. skimage.util.img_as_ubyte)."
        )
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (2, 3, 4))):
        raise ValueError(
            "AGDL expects an image of shape (H, W), (H, W, 1), (H, W, 2), (H, W, 3) or (H, W, 4); "
            f"got {arr.shape}. Use is_batch=True for a batch of one image."
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"cannot write an empty image of shape {arr.shape}.")
    return np.ascontiguousarray(arr)
