"""Input/output image handling shared by the API: PIL images and numpy arrays <-> planes."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from agdl_plugins.errors import AgdlConversionWarning

# modes converted the way Pillow's JPEG writer treats them (it writes 1/L/RGB/RGBX/CMYK/YCbCr)
_CONVERT = {"1": "L", "RGBX": "RGB", "CMYK": "RGB", "YCbCr": "RGB", "La": "LA", "RGBa": "RGBA"}
_NATIVE = ("L", "RGB", "LA", "RGBA")
# conversions a reader would not expect from the mode it saved (Pillow's JPEG writer makes them silently)
_LOSSY_CONVERSIONS = {
    "1": "mode 1 (bilevel) is stored as lossy 8-bit grey (mode L): the image reads back as L with grey levels "
         "near the edges; use .convert('1') after reading, or PNG for exact bilevel images",
    "CMYK": "mode CMYK is stored as RGB (Pillow's naive CMYK->RGB conversion, no colour management) and reads "
            "back as RGB; convert with an ICC transform (PIL.ImageCms) first for faithful colours",
}


def as_pil(image: Any, *, stacklevel: int = 3) -> Image.Image:
    """Accept a PIL image or a uint8 array (H, W), (H, W, 1|3|4); return a PIL image in L/RGB/LA/RGBA.

    ``stacklevel``: of the conversion warning, so that it points at the caller's line (3: the caller of the
    function calling this one).

    Raises:
        TypeError: not an image or array.
        ValueError: array of another dtype/shape, or an empty image.
        OSError: a PIL mode AGDL cannot store (I;16, I, F, HSV, LAB, ...), worded as Pillow's JPEG plugin
            words it ("cannot write mode I;16 as AGDL"). 1/RGBX/CMYK/YCbCr are converted as JPEG's writer
            accepts them; P/PA become RGB/RGBA as in Pillow's WebP writer (AGDL keeps alpha).
    """
    if isinstance(image, Image.Image):
        im = image
        if im.mode in ("P", "PA"):
            # palette images: RGB, or RGBA when they carry transparency (AGDL stores alpha losslessly)
            im = im.convert("RGBA" if im.mode == "PA" or im.has_transparency_data else "RGB")
        elif im.mode in _CONVERT:
            if im.mode in _LOSSY_CONVERSIONS:
                import warnings

                warnings.warn(_LOSSY_CONVERSIONS[im.mode], AgdlConversionWarning, stacklevel=stacklevel)
            im = im.convert(_CONVERT[im.mode])
        elif im.mode not in _NATIVE:
            raise OSError(f"cannot write mode {im.mode} as AGDL")
    elif isinstance(image, np.ndarray):
        arr = image
        if arr.dtype != np.uint8:
            raise ValueError(f"AGDL stores 8-bit images: expected dtype uint8, got {arr.dtype}")
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[..., 0]
        if arr.ndim == 2:
            mode = "L"
        elif arr.ndim == 3 and arr.shape[2] in (2, 3, 4):
            mode = {2: "LA", 3: "RGB", 4: "RGBA"}[arr.shape[2]]
        else:
            raise ValueError(
                f"expected an array of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {arr.shape}"
            )
        im = Image.fromarray(np.ascontiguousarray(arr))
        assert im.mode == mode
    else:
        raise TypeError(f"expected a PIL.Image.Image or a numpy uint8 array, got {type(image).__name__}")
    if im.width == 0 or im.height == 0:
        raise ValueError("cannot encode an empty image")
    return im


def split_alpha(im: Image.Image) -> tuple[Image.Image, np.ndarray | None]:
    """(colour image in L/RGB, alpha plane (H, W) uint8 or None)."""
    if im.mode in ("LA", "RGBA"):
        return im.convert(im.mode[:-1]), np.asarray(im.getchannel("A"))
    return im, None


def ycbcr_planes(im: Image.Image) -> np.ndarray:
    """(H, W) uint8 of an ``L`` image, else (H, W, 3) uint8 Pillow (BT.601) Y, Cb, Cr of an RGB image."""
    return np.asarray(im) if im.mode == "L" else np.asarray(im.convert("YCbCr"))


def luma_plane(planes: np.ndarray) -> np.ndarray:
    """(H, W) grey or (H, W, 3) YCbCr planes -> the (H, W) luminance plane (a view, no copy)."""
    return planes if planes.ndim == 2 else planes[..., 0]


def luminance(im: Image.Image) -> np.ndarray:
    """(H, W) uint8 luminance: the L plane, or Pillow's ITU-R BT.601 Y of an RGB image."""
    return luma_plane(ycbcr_planes(im))


def planes_to_array(planes: np.ndarray, alpha: np.ndarray | None) -> tuple[np.ndarray, str]:
    """YCbCr (H, W, 3) or grey (H, W) planes (+ alpha) -> output array and its mode."""
    if planes.ndim == 2:
        out, mode = planes, "L"
    else:
        h, w = planes.shape[:2]
        ycc = Image.frombytes("YCbCr", (w, h), np.ascontiguousarray(planes).tobytes())
        out = np.asarray(ycc.convert("RGB"))
        mode = "RGB"
    if alpha is not None:
        out = np.dstack([out, alpha])
        mode += "A"
    return out, mode


def add_luma_delta(rgb: np.ndarray, luma: np.ndarray, out_y: np.ndarray, alpha: np.ndarray | None
                   ) -> tuple[np.ndarray, str]:
    """RGB output of a base decoded to RGB (WebP, AVIF, JPEG 2000): ``clip(rgb + (out_y - luma))`` per channel.

    Adding the same ``d`` to R, G and B adds ``d`` to BT.601 luminance and leaves Cb/Cr unchanged (their
    coefficients sum to 0), so the luminance correction lands without sending the chroma through 8-bit YCbCr
    and back (which costs up to ~1 dB at high rates); where ``out_y == luma`` the pixel is the base's own.

    Args:
        rgb: (H, W, 3) uint8 base decode. luma: (H, W) uint8, its Y plane. out_y: (H, W) uint8 refined Y.
    """
    d = out_y.astype(np.int16) - luma.astype(np.int16)
    out = np.clip(rgb.astype(np.int16) + d[..., None], 0, 255).astype(np.uint8)
    if alpha is not None:
        return np.dstack([out, alpha]), "RGBA"
    return out, "RGB"


def open_without_pixel_limit(payload: bytes, pil_format: str) -> Image.Image:
    """Open ``payload`` with Pillow's ``pil_format`` plugin, skipping ``Image.open``'s pixel-limit check.

    For a base layer whose size AGDL has already checked against the caller's pixel limit (the header's
    size, which must equal the base layer's). ``Image.open`` would warn (``DecompressionBombWarning``) for
    an allowed large image; silencing that needs ``warnings.catch_warnings``, which changes the process's
    warning filters for every thread. Constructing the format's own ``ImageFile`` does neither. Lazy as
    ``Image.open`` is: only the header is parsed until ``load()``.

    Raises:
        OSError / SyntaxError / ValueError: what the plugin raises for a stream it cannot parse, or an
            ``OSError`` when the running Pillow has no ``pil_format`` plugin or the stream is not of it.
    """
    import io

    Image.init()
    if pil_format not in Image.OPEN:
        raise OSError(f"this Pillow ({Image.__version__}) cannot read {pil_format} images")
    factory, accept = Image.OPEN[pil_format]
    if accept is not None and not accept(payload[:16]):
        raise SyntaxError(f"not a {pil_format} stream")
    return factory(io.BytesIO(payload), "")


def metadata_bytes(name: str, value: Any) -> bytes | None:
    """An EXIF / ICC / XMP value as the bytes AGDL stores: ``PIL.Image.Exif`` -> its bytes, an XMP ``str`` ->
    UTF-8, bytes-like -> bytes; ``None`` stays ``None`` ("not given"), ``b""`` means "store none".

    Raises:
        ValueError: any other type.
    """
    if value is None:
        return None
    if name == "exif" and isinstance(value, Image.Exif):
        value = value.tobytes()
    if name == "xmp" and isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, bytes | bytearray | memoryview):
        raise ValueError(f"{name} must be bytes, got {type(value).__name__}")
    return bytes(value)
