"""Stage E1/D0 of Algorithm 1: the conventional base layer (JPEG by default; WebP, AVIF, JPEG 2000).

Every base codec decodes to **YCbCr planes** the same way on the encoder and decoder side, so the
luminance the refinement layer is measured against is bit-exact. For JPEG the decoder is asked for
YCbCr directly (``draft("YCbCr")``), which skips libjpeg's YCbCr->RGB conversion.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from agdl_plugins.errors import AgdlFormatError, MissingCodecError
from agdl_plugins.imaging import luma_plane, open_without_pixel_limit


@dataclass
class BaseDecoded:
    """A decoded base layer.

    Attributes:
        planes: uint8 array, (H, W) for grey images or (H, W, 3) YCbCr for colour ones.
        qtable: the luminance quantisation table, int array (64,) in Pillow's order, or None.
        rgb: (H, W, 3) uint8, the codec's own RGB decode of a colour base that does not decode to YCbCr
            (WebP, AVIF, JPEG 2000), else None. The decoder adds the luminance correction to it
            (:func:`agdl_plugins.imaging.add_luma_delta`) instead of round-tripping the chroma through 8-bit
            YCbCr, so an unchanged pixel is the base codec's pixel exactly.
    """

    planes: np.ndarray
    qtable: np.ndarray | None
    rgb: np.ndarray | None = None

    @property
    def luma(self) -> np.ndarray:
        """(H, W) uint8 luminance plane."""
        return luma_plane(self.planes)


class PillowBaseCodec:
    """A base codec implemented by a Pillow plugin."""

    id = "pillow"
    version = 1
    pil_format = "PNG"
    magic: tuple[bytes, ...] = ()
    #: PIL.features name of the library this format needs (None: built into every Pillow)
    feature: str | None = None
    #: what to install when the running Pillow lacks it
    requires = "a Pillow built with this codec"

    def available(self) -> bool:
        """Whether the running Pillow can both write and read this base layer."""
        from PIL import features

        Image.init()
        if self.pil_format not in Image.OPEN or self.pil_format not in Image.SAVE:
            return False
        return self.feature is None or bool(features.check(self.feature))

    def _require(self) -> None:
        if not self.available():
            from PIL import __version__

            raise MissingCodecError(
                f"this AGDL file's base layer is {self.pil_format}, which this Pillow ({__version__}) cannot "
                f"decode: install {self.requires}")

    #: save options that make an encode much faster while its size, relative to another image's at the same
    #: quality, tracks the real encode's (the encoder's rate estimate for large images, :meth:`size_hint`);
    #: None: no such setting (the real encode is fast enough)
    fast_kwargs: dict | None = None

    def save_kwargs(self, quality: int) -> dict:
        raise NotImplementedError

    def encode(self, image: Image.Image, quality: int) -> bytes:
        """Encode an ``L`` or ``RGB`` image at ``quality`` (1..100) to the codec's own bytes."""
        return self._save(image, self.save_kwargs(quality))

    def _save(self, image: Image.Image, kwargs: dict) -> bytes:
        """``image`` saved in :attr:`pil_format` with ``kwargs``."""
        buf = io.BytesIO()
        # save a copy: a save() nested inside a plugin's save() of the same object would inherit its encoderinfo
        image.copy().save(buf, self.pil_format, **kwargs)
        return buf.getvalue()

    def size_hint(self, image: Image.Image, quality: int) -> int | None:
        """Bytes of a fast encode (:attr:`fast_kwargs`) of ``image`` at ``quality``, or None: only ratios between
        two images' hints mean anything (AVIF speed 10 tracks speed 6's within ~1.5 %, BENCHMARKS.md §37)."""
        if self.fast_kwargs is None:
            return None
        return len(self._save(image, {**self.save_kwargs(quality), **self.fast_kwargs}))

    def _open(self, payload: bytes) -> Image.Image:
        self._require()
        if self.magic and not any(payload.startswith(m) for m in self.magic):
            raise AgdlFormatError(f"corrupt AGDL file: base layer is not a {self.pil_format} stream")
        try:
            # the header's size already passed the pixel limit and must equal the base layer's size
            return open_without_pixel_limit(payload, self.pil_format)
        except (
            OSError,
            SyntaxError,
            ValueError,
            RuntimeError,  # Pillow's AVIF plugin raises it for a damaged stream ("Missing or empty image item")
            Image.DecompressionBombWarning,
            Image.DecompressionBombError,
        ) as e:
            raise AgdlFormatError(f"corrupt AGDL file: cannot read {self.pil_format} base layer ({e})") from e

    def decode(self, payload: bytes, mode: str, size: tuple[int, int]) -> BaseDecoded:
        """Decode to YCbCr planes; ``mode`` is "L" or "RGB", ``size`` the header's (W, H)."""
        im = self._open(payload)
        if im.size != size:
            raise AgdlFormatError(f"corrupt AGDL file: base layer is {im.size}, header says {size}")
        self._before_load(im, mode)
        try:
            im.load()
            planes = self._to_planes(im, mode)
            rgb = np.asarray(im.convert("RGB")) if mode == "RGB" and im.mode != "YCbCr" else None
        except (OSError, SyntaxError, ValueError, RuntimeError) as e:  # RuntimeError: AVIF, as in _open
            raise AgdlFormatError(f"corrupt AGDL file: cannot decode {self.pil_format} base layer ({e})") from e
        return BaseDecoded(planes, self._qtable(im), rgb)

    def _before_load(self, im: Image.Image, mode: str) -> None:
        """Hook: check/adjust the opened image before its pixels are decoded."""

    @staticmethod
    def _to_planes(im: Image.Image, mode: str) -> np.ndarray:
        if mode == "L":
            return np.asarray(im.convert("L"))
        if im.mode != "YCbCr":
            im = im.convert("RGB").convert("YCbCr")
        return np.asarray(im)

    def _qtable(self, im: Image.Image) -> np.ndarray | None:
        return None


class JpegCodec(PillowBaseCodec):
    """Baseline JPEG through Pillow's libjpeg-turbo (4:2:0 chroma, optimised Huffman tables)."""

    id = "jpeg"
    version = 1
    pil_format = "JPEG"
    magic = (b"\xff\xd8\xff",)

    fractional_quality = True  # rate control may ask for a quality between two integers (IJG-scaled tables)

    def save_kwargs(self, quality: int) -> dict:
        return {"quality": int(quality), "optimize": True}

    def encode(self, image: Image.Image, quality: float) -> bytes:
        """As the base class; a fractional ``quality`` writes IJG tables scaled at that quality (4:2:0)."""
        if float(quality) == int(quality):
            return super().encode(image, int(quality))
        from agdl_plugins.parts.jpeg_tables import ijg_tables

        buf = io.BytesIO()
        tables = ijg_tables(quality)[: 1 if image.mode == "L" else 2]
        image.copy().save(buf, "JPEG", qtables=tables, optimize=True, subsampling="4:2:0")
        return buf.getvalue()

    def _before_load(self, im: Image.Image, mode: str) -> None:
        if mode == "RGB":
            if im.mode != "RGB":
                raise AgdlFormatError(f"corrupt AGDL file: colour JPEG base layer has mode {im.mode}")
            im.draft("YCbCr", im.size)  # decode straight to YCbCr: luminance is libjpeg's own
        elif im.mode != "L":
            raise AgdlFormatError(f"corrupt AGDL file: grey JPEG base layer has mode {im.mode}")

    @staticmethod
    def _to_planes(im: Image.Image, mode: str) -> np.ndarray:
        return np.asarray(im)

    def _qtable(self, im: Image.Image) -> np.ndarray | None:
        q = getattr(im, "quantization", None)
        return None if not q else np.asarray(q[0], dtype=np.int32)


class WebpCodec(PillowBaseCodec):
    id = "webp"
    version = 1
    pil_format = "WEBP"
    magic = (b"RIFF",)
    feature = "webp"
    requires = "a Pillow built with libwebp (the PyPI wheels are)"

    def save_kwargs(self, quality: int) -> dict:
        return {"quality": int(quality), "method": 6}


class AvifCodec(PillowBaseCodec):
    id = "avif"
    version = 1
    pil_format = "AVIF"
    feature = "avif"
    requires = "Pillow >= 11.3 (its PyPI wheels read and write AVIF), or the pillow-avif-plugin package"

    fast_kwargs = {"speed": 10}  # ~10x faster than speed 6

    def save_kwargs(self, quality: int) -> dict:
        return {"quality": int(quality), "speed": 6}

    def _open(self, payload: bytes) -> Image.Image:
        self._require()
        if payload[4:8] != b"ftyp":
            raise AgdlFormatError("corrupt AGDL file: base layer is not an AVIF stream")
        return super()._open(payload)


class Jpeg2000Codec(PillowBaseCodec):
    """JPEG 2000 (OpenJPEG). ``quality`` maps to a target PSNR of 20 + 0.3 * quality dB."""

    id = "jpeg2000"
    version = 1
    pil_format = "JPEG2000"
    magic = (b"\xff\x4f\xff\x51", b"\x00\x00\x00\x0cjP  ")
    feature = "jpg_2000"
    requires = "a Pillow built with OpenJPEG (the PyPI wheels are)"

    def save_kwargs(self, quality: int) -> dict:
        return {"quality_mode": "dB", "quality_layers": [20.0 + 0.3 * int(quality)], "irreversible": True}


BUILTIN_BASE_CODECS = (JpegCodec(), WebpCodec(), AvifCodec(), Jpeg2000Codec())
