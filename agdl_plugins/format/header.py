"""The HEAD: everything the decoder needs and cannot re-derive (docs/FORMAT.md).

One :class:`Header`, two byte layouts:

* ``major=1`` - the 1.0 layout (fixed-width fields, ``str8`` part ids). It is also the *in-memory* form of
  the HEAD chunk: :func:`agdl_plugins.format.container.write_container` takes it (``Header.pack()``, as the
  encoder builds it) and :func:`~agdl_plugins.format.container.parse_container` returns it for files of every
  version, so encoder and decoder never see the on-disk layout.
* ``major=2`` - the compact 2.x layout the container stores: varints, part ids as one-byte codes from
  :data:`PART_CODES`, and the fields of an empty refinement (seed, N, M, step, threshold, guard, critical
  CRC, schemes) left out when they hold their default (:data:`DEFAULTS`), as flagged in the first varint.

Both layouts are validated by the same :meth:`Header._validate`.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import asdict, dataclass, field
from typing import Any

from agdl_plugins.errors import AgdlFormatError
from agdl_plugins.format._wire import Reader, uvarint
from agdl_plugins.format.roi import RoiRecord

MODES = ("L", "RGB", "LA", "RGBA")
MAX_SIDE = 1 << 16  # 65,536 pixels per side
QUANT_SCHEMES = {0: "uniform-midtread"}
ENTROPY_CODERS = {0: "constriction-range-qlaplace"}

#: 2.x part-id codes: code k >= 1 stands for PART_CODES[k - 1]; 0 = the id follows as str8. Append-only:
#: a code, once given, names that id forever (any kind: "identity" is a restorer and a sensing operator).
PART_CODES = (
    "jpeg", "webp", "avif", "jpeg2000", "jpeg-saliency",
    "agdl-f", "edge-sobel", "agdl-g", "identity",
    "structured-dct", "gaussian", "agdl-g-webp-avif", "roi-edge", "agdl-g-lite", "agdl-g-lite-webp-avif",
)  # fmt: skip
_PART_KINDS = ("base_codec", "predictor", "restorer", "sensing")

#: 2.x optional HEAD fields, in stored order: (name, encoding). Flag bit 2 + i says field i is stored; an
#: absent field holds its default (DEFAULTS; the critical CRC's default is the CRC of an all-false mask).
_OPTIONAL = (
    ("seed", "u64"),
    ("n_critical", "u32"),
    ("n_measurements", "u32"),
    ("step", ">f"),
    ("threshold", ">d"),
    ("guard", ">d"),
    ("critical_crc", ">I"),
    ("quant_scheme", "u8"),
    ("entropy_coder", "u8"),
)
DEFAULTS: dict[str, Any] = {
    "seed": 0, "n_critical": 0, "n_measurements": 0, "step": 16.0, "threshold": float("inf"), "guard": 0.0,
    "quant_scheme": 0, "entropy_coder": 0,
}  # fmt: skip
_MODE_BITS = 2
_KNOWN_FLAGS = (1 << (_MODE_BITS + len(_OPTIONAL))) - 1
_CRC_POLY = 0xEDB88320  # zlib / PNG CRC-32, reflected


def _gf2_apply(mat: list[int], vec: int) -> int:
    out, i = 0, 0
    while vec:
        if vec & 1:
            out ^= mat[i]
        vec >>= 1
        i += 1
    return out


@functools.lru_cache(maxsize=64)
def crc32_of_zeros(n: int) -> int:
    """``zlib.crc32(bytes(n))`` in O(log n) time, allocating nothing (n may describe gigabytes)."""
    op = [_CRC_POLY] + [1 << (i - 1) for i in range(1, 32)]  # the register update for one zero bit
    reg, bits = 0xFFFFFFFF, 8 * n
    while bits:
        if bits & 1:
            reg = _gf2_apply(op, reg)
        op = [_gf2_apply(op, col) for col in op]  # square: twice as many zero bits
        bits >>= 1
    return reg ^ 0xFFFFFFFF


def empty_mask_crc(width: int, height: int) -> int:
    """The critical CRC of an empty critical set: ``critical.mask_crc`` of an all-false (height, width) mask."""
    return crc32_of_zeros((width * height + 7) // 8)


def _pack_str(s: str) -> bytes:
    b = s.encode("ascii")
    if len(b) > 64:
        raise ValueError(f"part id {s!r} longer than 64 bytes")
    return bytes([len(b)]) + b


def _encode_field(enc: str, value: Any, name: str) -> bytes:
    if enc.startswith("u"):
        bits = int(enc[1:])
        if not 0 <= value < 1 << bits:
            raise ValueError(f"HEAD field {name}={value} does not fit {bits} bits")
        return uvarint(value)
    return struct.pack(enc, value)


def _read_field(r: Reader, enc: str, name: str) -> Any:
    return r.uvarint(int(enc[1:]), name) if enc.startswith("u") else r.take(enc)[0]


def _read_part_id(r: Reader) -> str:
    (code,) = r.take(">B")
    if code == 0:
        return r.string()
    if code > len(PART_CODES):
        raise AgdlFormatError(f"AGDL file uses part-id code {code}, unknown to this reader (newer writer?)")
    return PART_CODES[code - 1]


def _check(width: int, height: int, mode_i: int, n: int, m: int, step: float, qs: int, ec: int) -> None:
    """What every HEAD, of any layout, must satisfy (checked before anything is sized by it)."""
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise AgdlFormatError(f"corrupt AGDL file: absurd image size {width}x{height}")
    if mode_i >= len(MODES):
        raise AgdlFormatError(f"corrupt AGDL file: unknown mode code {mode_i}")
    if n > width * height or m > n:
        raise AgdlFormatError(f"corrupt AGDL file: N={n}, M={m} impossible for {width}x{height}")
    if qs not in QUANT_SCHEMES:
        raise AgdlFormatError(f"AGDL file uses unknown quantiser scheme {qs}")
    if ec not in ENTROPY_CODERS:
        raise AgdlFormatError(f"AGDL file uses unknown entropy coder {ec}")
    if m and not (step > 0 and step < 1e6):
        raise AgdlFormatError(f"corrupt AGDL file: bad quantiser step {step}")


@dataclass
class Header:
    """Decoded HEAD. Ids are (name, version) pairs resolved through the plugin registry."""

    width: int
    height: int
    mode: str
    quality: int
    base_codec: str
    base_codec_version: int
    predictor: str
    predictor_version: int
    restorer: str
    restorer_version: int
    sensing: str
    sensing_version: int
    seed: int
    n_critical: int
    n_measurements: int
    step: float
    threshold: float
    guard: float
    critical_crc: int
    quant_scheme: int = 0
    entropy_coder: int = 0

    _FIXED = ">IIBB"

    def _parts(self) -> list[tuple[str, int]]:
        return [(getattr(self, k), getattr(self, k + "_version")) for k in _PART_KINDS]

    def _default(self, name: str) -> Any:
        return empty_mask_crc(self.width, self.height) if name == "critical_crc" else DEFAULTS[name]

    def pack(self, major: int = 1) -> bytes:
        """The HEAD bytes in the ``major`` layout: 1 = the 1.0 layout, which is also the in-memory HEAD chunk
        that ``container.write_container`` takes; 2 = the compact 2.x layout the container stores."""
        if major == 1:
            out = struct.pack(self._FIXED, self.width, self.height, MODES.index(self.mode), self.quality)
            for name, ver in self._parts():
                out += _pack_str(name) + struct.pack(">H", ver)
            return out + struct.pack(">QIIfddIBB", *(getattr(self, name) for name, _ in _OPTIONAL))
        if major != 2:
            raise ValueError(f"no HEAD layout for format version {major}")
        flags, tail = MODES.index(self.mode), b""
        for i, (name, enc) in enumerate(_OPTIONAL):
            raw = _encode_field(enc, getattr(self, name), name)
            if raw != _encode_field(enc, self._default(name), name):  # compared as stored: bit-exact
                flags |= 1 << (_MODE_BITS + i)
                tail += raw
        out = uvarint(flags) + _encode_field("u32", self.width, "width") + _encode_field("u32", self.height, "height")
        out += struct.pack(">B", self.quality)
        for name, ver in self._parts():
            code = PART_CODES.index(name) + 1 if name in PART_CODES else 0
            out += bytes([code]) + (b"" if code else _pack_str(name)) + _encode_field("u16", ver, "part version")
        return out + tail

    @classmethod
    def unpack(cls, data: bytes, major: int = 1) -> Header:
        """Inverse of :meth:`pack`. Raises ``AgdlFormatError`` on a short, malformed or impossible HEAD."""
        if major == 1:
            r = Reader(data, "HEAD chunk")
            width, height, mode_i, quality = r.take(cls._FIXED)
            _check(width, height, mode_i, 0, 0, 0.0, 0, 0)  # before the rest is read, as 1.0 readers did
            parts = [(r.string(), r.take(">H")[0]) for _ in range(4)]
            vals = dict(zip([name for name, _ in _OPTIONAL], r.take(">QIIfddIBB"), strict=True))
        elif major == 2:
            r = Reader(data, "HEAD")
            flags = r.uvarint(32, "flags")
            if flags & ~_KNOWN_FLAGS:
                raise AgdlFormatError(
                    f"AGDL file has HEAD fields unknown to this reader (flags {flags:#x}; newer writer?)"
                )
            mode_i = flags & ((1 << _MODE_BITS) - 1)
            width, height = r.uvarint(32, "width"), r.uvarint(32, "height")
            (quality,) = r.take(">B")
            parts = [(_read_part_id(r), r.uvarint(16, "part version")) for _ in range(4)]
            vals = {
                name: _read_field(r, enc, name) if flags >> (_MODE_BITS + i) & 1 else None
                for i, (name, enc) in enumerate(_OPTIONAL)
            }
            if r.remaining:
                raise AgdlFormatError(f"corrupt AGDL file: {r.remaining} stray bytes at the end of HEAD")
            vals = {k: DEFAULTS[k] if v is None and k != "critical_crc" else v for k, v in vals.items()}
        else:
            raise AgdlFormatError(f"unsupported AGDL format version {major}.x")
        _check(width, height, mode_i, vals["n_critical"], vals["n_measurements"], vals["step"],
               vals["quant_scheme"], vals["entropy_coder"])
        if vals["critical_crc"] is None:
            vals["critical_crc"] = empty_mask_crc(width, height)
        return cls(width, height, MODES[mode_i], quality, *(x for p in parts for x in p), **vals)


@dataclass
class AgdlInfo:
    """What :func:`agdl_plugins.read_info` reports: header facts, metadata, layer sizes, format version."""

    header: Header
    exif: bytes | None = None
    icc_profile: bytes | None = None
    xmp: bytes | None = None
    layer_bytes: dict[str, int] = field(default_factory=dict)
    format_version: str = ""  # "major.minor" of the file, e.g. "2.0"; "1.0" for files of the first format
    container: str = "agdl"  # "jpeg": AGDL inside a JPEG (agdl_plugins.format.jpeg_container)
    fallback: str = ""  # AGDL-in-JPEG whose AGDL segments are unusable: why (the JPEG is decoded as it is)
    #: base="auto": the encoder's objective (weighted MSE per pixel) for each candidate base, None if the base
    #: could not meet the budget; the file's base has the lowest (agdl_plugins.format.decisions)
    base_choice: dict[str, float | None] | None = None
    #: the user's region of interest the file carries (``ROIM`` record, :mod:`agdl_plugins.format.roi`), or None
    roi_record: RoiRecord | None = None

    def __getattr__(self, name: str) -> Any:
        # expose header fields directly: info.width, info.base_codec, ...
        if name != "header" and "header" in self.__dict__ and hasattr(self.header, name):
            return getattr(self.header, name)
        raise AttributeError(name)

    @property
    def size(self) -> tuple[int, int]:
        return self.header.width, self.header.height

    @property
    def roi(self) -> Any:
        """The transmitted region of interest (issue 27), as the decoder uses it: None (no ROI), a list of
        (x0, y0, x1, y1) pixel boxes (x1, y1 exclusive) for a box record, or an (H, W) bool numpy array for a
        bitmap record. Both are the ROI *as transmitted*: the user's boxes or mask widened to whole blocks."""
        return None if self.roi_record is None else self.roi_record.value()

    def as_dict(self, roi_map: bool = True) -> dict[str, Any]:
        """Plain dict for ``PIL.Image.info`` / imageio metadata (metadata keys only when present).

        ``roi``: :attr:`roi` (boxes, or an (H, W) bool map built here); with ``roi_map=False`` a map ROI is
        left out (it allocates H x W: Pillow's ``open`` adds it at ``load()``, after its size check)."""
        h = asdict(self.header)
        d: dict[str, Any] = {f"agdl_{k}": v for k, v in h.items() if k not in ("width", "height", "mode")}
        d["agdl_layer_bytes"] = dict(self.layer_bytes)
        d["agdl_format"] = "AGDL"
        if self.format_version:
            d["agdl_format_version"] = self.format_version
        if self.container != "agdl":
            d["agdl_container"] = self.container
        if self.fallback:
            d["agdl_fallback"] = self.fallback
        if self.base_choice is not None:
            d["agdl_base_choice"] = dict(self.base_choice)
        if self.roi_record is not None and (roi_map or self.roi_record.kind == "boxes"):
            d["roi"] = self.roi  # the option's name, as exif/icc_profile/xmp: save(..., roi=im.info["roi"])
        for key in ("exif", "icc_profile", "xmp"):
            val = getattr(self, key)
            if val is not None:
                d[key] = val
        return d
