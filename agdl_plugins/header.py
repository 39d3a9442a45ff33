"""The HEAD chunk: everything the decoder needs and cannot re-derive (docs/FORMAT.md)."""

from __future__ import annotations

import struct
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import AgdlFormatError

MODES = ("L", "RGB", "LA", "RGBA")
MAX_SIDE = 1 << 16  # 65,536 pixels per side
QUANT_SCHEMES = {0: "uniform-midtread"}
ENTROPY_CODERS = {0: "constriction-range-qlaplace"}


def _pack_str(s: str) -> bytes:
    b = s.encode("ascii")
    if len(b) > 64:
        raise ValueError(f"part id {s!r} longer than 64 bytes")
    return bytes([len(b)]) + b


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise AgdlFormatError("corrupt AGDL file: HEAD chunk is too short")
        vals = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return vals

    def string(self) -> str:
        (n,) = self.take(">B")
        if self.pos + n > len(self.data):
            raise AgdlFormatError("corrupt AGDL file: HEAD chunk is too short")
        raw = self.data[self.pos : self.pos + n]
        self.pos += n
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError as e:
            raise AgdlFormatError("corrupt AGDL file: non-ASCII part id in HEAD") from e


@dataclass
class Header:
    """Decoded HEAD chunk. Ids are (name, version) pairs resolved through the plugin registry."""

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

    def pack(self) -> bytes:
        out = struct.pack(self._FIXED, self.width, self.height, MODES.index(self.mode), self.quality)
        for name, ver in (
            (self.base_codec, self.base_codec_version),
            (self.predictor, self.predictor_version),
            (self.restorer, self.restorer_version),
            (self.sensing, self.sensing_version),
        ):
            out += _pack_str(name) + struct.pack(">H", ver)
        out += struct.pack(
            ">QIIfddIBB",
            self.seed,
            self.n_critical,
            self.n_measurements,
            self.step,
            self.threshold,
            self.guard,
            self.critical_crc,
            self.quant_scheme,
            self.entropy_coder,
        )
        return out

    @classmethod
    def unpack(cls, data: bytes) -> Header:
        r = _Reader(data)
        width, height, mode_i, quality = r.take(cls._FIXED)
        if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
            raise AgdlFormatError(f"corrupt AGDL file: absurd image size {width}x{height}")
        if mode_i >= len(MODES):
            raise AgdlFormatError(f"corrupt AGDL file: unknown mode code {mode_i}")
        parts = []
        for _ in range(4):
            name = r.string()
            (ver,) = r.take(">H")
            parts += [name, ver]
        seed, n, m, step, thr, guard, crc, qs, ec = r.take(">QIIfddIBB")
        if n > width * height or m > n:
            raise AgdlFormatError(f"corrupt AGDL file: N={n}, M={m} impossible for {width}x{height}")
        if qs not in QUANT_SCHEMES:
            raise AgdlFormatError(f"AGDL file uses unknown quantiser scheme {qs}")
        if ec not in ENTROPY_CODERS:
            raise AgdlFormatError(f"AGDL file uses unknown entropy coder {ec}")
        if m and not (step > 0 and step < 1e6):
            raise AgdlFormatError(f"corrupt AGDL file: bad quantiser step {step}")
        return cls(width, height, MODES[mode_i], quality, *parts, seed, n, m, step, thr, guard, crc, qs, ec)


@dataclass
class AgdlInfo:
    """What :func:`agdl_plugins.read_info` reports: header facts, metadata and layer sizes."""

    header: Header
    exif: bytes | None = None
    icc_profile: bytes | None = None
    xmp: bytes | None = None
    layer_bytes: dict[str, int] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        # expose header fields directly: info.width, info.base_codec, ...
        if name != "header" and "header" in self.__dict__ and hasattr(self.header, name):
            return getattr(self.header, name)
        raise AttributeError(name)

    @property
    def size(self) -> tuple[int, int]:
        return self.header.width, self.header.height

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for ``PIL.Image.info`` / imageio metadata (metadata keys only when present)."""
        h = asdict(self.header)
        d: dict[str, Any] = {f"agdl_{k}": v for k, v in h.items() if k not in ("width", "height", "mode")}
        d["agdl_layer_bytes"] = dict(self.layer_bytes)
        d["agdl_format"] = "AGDL"
        for key in ("exif", "icc_profile", "xmp"):
            val = getattr(self, key)
            if val is not None:
                d[key] = val
        return d
