"""The codecs a benchmark run compares, behind one interface: a quality knob, encode -> bytes, decode -> array.

Peers (all in-process, no download): JPEG (Pillow / libjpeg-turbo, optimised Huffman, 4:2:0), jpegli
(``pyjpegli``), WebP, AVIF and JPEG 2000 (Pillow), JPEG XL (``pillow-jxl-plugin``). A peer whose library
is missing is skipped with a note. AGDL variants map to options of :func:`agdl_plugins.encode` /
:func:`agdl_plugins.decode`.

Knobs (bytes grow with the knob for every codec):

- ``jpeg``: IJG quality 1..100, *fractional*: at an integer q the bytes are Pillow's ``quality=q``; between
  integers the standard IJG tables are scaled with the same formula at a fractional q, so rate matching can
  land within a few tenths of a percent instead of the 2-6 % steps of integer qualities.
- ``jpegli``, ``avif``, AGDL variants: integer quality (the libraries take no finer knob).
- ``webp``, ``jxl``: float quality.
- ``jpeg2000``: target bits per pixel (OpenJPEG "rates" mode, 9/7 irreversible wavelet, RGB->YCbCr mct=1;
  Pillow's defaults, 5/3 without colour transform, lose about 4 dB).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from agdl_plugins.parts.jpeg_tables import ijg_tables

ALL_CODECS = ("agdl", "agdl-norefine", "agdl-identity", "agdl-classical", "agdl-box", "agdl-saliency",
              "jpeg-saliency", "jpeg", "jpegli", "webp", "webp-m6", "avif", "jpeg2000", "jxl")


def _pil_decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


@dataclass
class Codec:
    """One entry of the comparison. ``lo``/``hi``: knob range; ``integer``: knob steps by 1; ``log``:
    bisect the knob in the log domain. ``shares`` names the codec whose bytes this one decodes (agdl-box)."""

    name: str
    description: str
    knob: str = "quality"
    lo: float = 1
    hi: float = 100
    integer: bool = True
    log: bool = False
    shares: str | None = None
    is_agdl: bool = False
    notes: list[str] = field(default_factory=list)

    def encode(self, rgb: np.ndarray, knob: float) -> bytes:  # pragma: no cover - overridden
        raise NotImplementedError

    def decode(self, data: bytes) -> np.ndarray:
        return _pil_decode(data)

    def guess(self, target_bytes: int, pixels: int, ref_quality: int | None) -> float | None:
        """A first knob to try (a function of the target only, so results do not depend on image order)."""
        return None


class JpegCodec(Codec):
    def encode(self, rgb: np.ndarray, knob: float) -> bytes:
        buf = io.BytesIO()
        im = Image.fromarray(rgb)
        if float(knob) == int(knob):
            im.save(buf, "JPEG", quality=int(knob), optimize=True, subsampling="4:2:0")
        else:
            im.save(buf, "JPEG", qtables=ijg_tables(knob), optimize=True, subsampling="4:2:0")
        return buf.getvalue()

    def guess(self, target_bytes, pixels, ref_quality):
        return ref_quality


class SaliencyJpegCodec(Codec):
    """AGDL's ``jpeg-saliency`` base codec alone: a plain JPEG file any decoder reads (fractional quality)."""

    _saliency: tuple[bytes, Any] | None = None

    def encode(self, rgb: np.ndarray, knob: float) -> bytes:
        from agdl_plugins.parts.registry import get_registry
        from agdl_plugins.parts.saliency_jpeg import saliency_map

        img = Image.fromarray(rgb)
        key = hashlib.blake2b(np.ascontiguousarray(rgb).tobytes() + repr(rgb.shape).encode(), digest_size=16).digest()
        codec = get_registry().get("base_codec", "jpeg-saliency")
        if self._saliency is None or self._saliency[0] != key:  # one network run per image, not per knob
            self._saliency = (key, saliency_map(img, "cpu", get_registry(), codec.saliency_predictor))
        return codec.encode(img, float(knob), self._saliency[1])

    def guess(self, target_bytes, pixels, ref_quality):
        return ref_quality


class JpegliCodec(Codec):
    def encode(self, rgb: np.ndarray, knob: float) -> bytes:
        import pyjpegli

        h, w = rgb.shape[:2]
        return pyjpegli.encode(np.ascontiguousarray(rgb).tobytes(), w, h, int(knob))

    def decode(self, data: bytes) -> np.ndarray:
        import pyjpegli

        raw, w, h = pyjpegli.decode(data)
        return np.frombuffer(raw, np.uint8).reshape(h, w, 3)

    def guess(self, target_bytes, pixels, ref_quality):
        return ref_quality


class PillowCodec(Codec):
    """WebP, AVIF, JPEG XL through Pillow's ``save(format, quality=knob, **extra)``."""

    def __init__(self, name: str, description: str, fmt: str, extra: dict[str, Any], **kw: Any) -> None:
        super().__init__(name, description, **kw)
        self.fmt, self.extra = fmt, extra

    def encode(self, rgb: np.ndarray, knob: float) -> bytes:
        buf = io.BytesIO()
        q = int(knob) if self.integer else float(knob)
        Image.fromarray(rgb).save(buf, self.fmt, quality=q, **self.extra)
        return buf.getvalue()


class Jpeg2000Codec(Codec):
    def encode(self, rgb: np.ndarray, knob: float) -> bytes:
        buf = io.BytesIO()
        ratio = 24.0 / float(knob)  # OpenJPEG rate = compression ratio against 24-bit RGB
        # Pillow's defaults are no colour transform (mct=0) and the 5/3 wavelet: -4 dB at 0.5 bpp on Kodak
        Image.fromarray(rgb).save(buf, "JPEG2000", quality_mode="rates", quality_layers=[ratio],
                                  irreversible=True, mct=1 if rgb.ndim == 3 else 0)
        return buf.getvalue()

    def guess(self, target_bytes, pixels, ref_quality):
        return 8.0 * target_bytes / pixels


class AgdlCodec(Codec):
    """An AGDL variant: fixed encoder options, the knob is the base quality; ``projection`` at decode."""

    def __init__(self, name: str, description: str, options: dict[str, Any], projection: str | None,
                 device: str, **kw: Any) -> None:
        super().__init__(name, description, is_agdl=True, **kw)
        self.options, self.projection, self.device = options, projection, device
        self.roi: Any = None  # the current image's roi= (agdl bench --roi), set per image by the runner

    def encode(self, rgb: np.ndarray, knob: float | None = None, **override: Any) -> bytes:
        import agdl_plugins as agdl

        opts = {**self.options, **override}
        if self.roi is not None:
            opts.setdefault("roi", self.roi)
        if knob is not None:
            opts["quality"] = int(knob)
        return agdl.encode(rgb, device=self.device, **opts)

    def decode(self, data: bytes) -> np.ndarray:
        import agdl_plugins as agdl

        arr = agdl.decode(data, device=self.device, projection=self.projection).array
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=2)
        return arr[..., :3]

    def guess(self, target_bytes, pixels, ref_quality):
        return ref_quality


def _has_pyjpegli() -> bool:
    try:
        import pyjpegli  # noqa: F401
    except ImportError:
        return False
    return True


def _has_pillow(fmt: str, feature: str | None = None) -> bool:
    from PIL import features

    if feature is not None and not features.check(feature):
        return False
    if fmt == "JXL":
        try:
            import pillow_jxl  # noqa: F401  (registers the JXL plugin)
        except ImportError:
            return False
    Image.init()
    return fmt in Image.SAVE


def build_codecs(names: list[str], agdl_options: dict[str, Any], device: str) -> tuple[list[Codec], list[str]]:
    """Codec objects for ``names`` (order kept; ``agdl`` always first: it defines the rate points) and
    notes about what was added or skipped."""
    notes: list[str] = []
    unknown = [n for n in names if n not in ALL_CODECS]
    if unknown:
        raise ValueError(f"unknown codec(s) {', '.join(unknown)}; choose from {', '.join(ALL_CODECS)}")
    if "agdl" not in names:
        names = ["agdl", *names]
        notes.append("agdl added: its bytes define the rate points")
    names = ["agdl", *[n for n in dict.fromkeys(names) if n != "agdl"]]
    if "jpeg" not in names:
        notes.append("jpeg not selected: no BD-rate/BD-PSNR (anchor) and no x JPEG speed ratios")
    o = dict(agdl_options)
    out: list[Codec] = []
    for n in names:
        if n == "agdl":
            out.append(AgdlCodec(n, "AGDL, default parts", o, None, device))
        elif n == "agdl-norefine":
            out.append(AgdlCodec(n, "AGDL without refinement layer (critical_fraction=0), bytes on base quality",
                                 {**o, "critical_fraction": 0.0}, None, device))
        elif n == "agdl-identity":
            out.append(AgdlCodec(n, "AGDL with identity restorer", {**o, "restorer": "identity"}, None, device))
        elif n == "agdl-classical":
            out.append(AgdlCodec(n, "AGDL with classical predictor (edge-sobel)", {**o, "predictor": "edge-sobel"},
                                 None, device))
        elif n == "agdl-box":
            out.append(AgdlCodec(n, "AGDL default bytes decoded with box projection", o, "box", device,
                                 shares="agdl"))
        elif n == "agdl-saliency":
            out.append(AgdlCodec(n, "AGDL on the saliency-aware JPEG base (jpeg-saliency)",
                                 {**o, "base": "jpeg-saliency"}, None, device))
        elif n == "jpeg-saliency":
            out.append(SaliencyJpegCodec(n, "saliency-aware baseline JPEG (background AC coefficients "
                                            "pre-quantised coarser by network F's saliency), fractional quality",
                                         integer=False))
        elif n == "jpeg":
            out.append(JpegCodec(n, "Pillow/libjpeg-turbo JPEG, optimize=True, 4:2:0, fractional IJG quality",
                                 integer=False))
        elif n == "jpegli":
            if _has_pyjpegli():
                out.append(JpegliCodec(n, "jpegli (pyjpegli), integer quality"))
            else:
                notes.append("jpegli skipped: pyjpegli not installed (pip install pyjpegli)")
        elif n == "webp":
            if _has_pillow("WEBP", "webp"):
                out.append(PillowCodec(n, "Pillow WebP (libwebp), method 4", "WEBP", {"method": 4},
                                       lo=0, hi=100, integer=False))
            else:
                notes.append("webp skipped: Pillow built without WebP")
        elif n == "webp-m6":  # AGDL's own WebP base settings (agdl_plugins.parts.base_codecs.WebpCodec)
            if _has_pillow("WEBP", "webp"):
                out.append(PillowCodec(n, "Pillow WebP (libwebp), method 6", "WEBP", {"method": 6},
                                       lo=0, hi=100, integer=False))
            else:
                notes.append("webp-m6 skipped: Pillow built without WebP")
        elif n == "avif":
            if _has_pillow("AVIF", "avif"):
                out.append(PillowCodec(n, "Pillow AVIF (libavif), speed 6, 4:2:0", "AVIF",
                                       {"speed": 6, "subsampling": "4:2:0"}, lo=0, hi=100))
            else:
                notes.append("avif skipped: Pillow built without AVIF")
        elif n == "jpeg2000":
            if _has_pillow("JPEG2000", "jpg_2000"):
                out.append(Jpeg2000Codec(n, "Pillow JPEG 2000 (OpenJPEG), 9/7, mct, rate = target bpp",
                                         knob="bpp", lo=0.01, hi=24.0, integer=False, log=True))
            else:
                notes.append("jpeg2000 skipped: Pillow built without OpenJPEG")
        elif n == "jxl":
            if _has_pillow("JXL"):
                out.append(PillowCodec(n, "JPEG XL (pillow-jxl-plugin), effort 7", "JXL", {"effort": 7},
                                       lo=1, hi=99, integer=False))
            else:
                notes.append("jxl skipped: pillow-jxl-plugin not installed (pip install pillow-jxl-plugin)")
    return out, notes
