"""The refinement layer (REFN): its one layout, packed and parsed here for everyone.

Logical layout (format 1.0, and what every reader sees after :func:`agdl_plugins.format.container.read_container`)::

    n_explicit u32 BE | len_explicit u32 BE | guard-band list (len_explicit bytes) | measurements?
    measurements = scale f32 BE | qmin i32 BE | qmax i32 BE | range-coder words (u32 LE)

The guard-band list is :func:`agdl_plugins.codec.critical.pack_indices`' stream and the measurements
:func:`agdl_plugins.codec.entropy.encode_symbols`' (absent when M = 0); this module frames them. Format 2.x stores
the same content with varints (:func:`to_stored` / :func:`from_stored`, used by the container).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from agdl_plugins.errors import AgdlFormatError
from agdl_plugins.format._wire import Reader, uvarint, zigzag

LIST_HEAD = struct.Struct(">II")  # n_explicit, len_explicit
MEASUREMENTS_HEAD = struct.Struct(">fii")  # scale, qmin, qmax


@dataclass(frozen=True)
class Refinement:
    """A parsed REFN: ``n_explicit`` guard-band pixels listed in ``explicit`` (packed), then ``symbols`` (the
    entropy-coded measurements, ``b""`` when there are none)."""

    n_explicit: int
    explicit: bytes
    symbols: bytes


def pack(n_explicit: int, explicit: bytes, symbols: bytes) -> bytes:
    """The logical REFN payload of a guard-band list (``n_explicit`` indices packed in ``explicit``) and the
    entropy-coded measurements ``symbols``."""
    return LIST_HEAD.pack(n_explicit, len(explicit)) + explicit + symbols


def side_bytes(explicit: bytes) -> int:
    """Bytes REFN spends before the measurements: its list header and the packed guard-band list."""
    return LIST_HEAD.size + len(explicit)


def parse(payload: bytes, n_critical: int) -> Refinement:
    """Split a logical REFN payload; ``n_critical`` (the header's N) bounds the guard-band count.

    Raises:
        AgdlFormatError: too short, a guard-band list that does not fit, or any refinement data in a file whose
            header declares none (N = 0).
    """
    if len(payload) < LIST_HEAD.size:
        raise AgdlFormatError("corrupt AGDL file: REFN chunk too short")
    n_exp, len_exp = LIST_HEAD.unpack_from(payload)
    end = LIST_HEAD.size + len_exp
    if n_exp > n_critical or end > len(payload):
        raise AgdlFormatError("corrupt AGDL file: REFN guard-band list does not fit")
    if not n_critical and len(payload) > LIST_HEAD.size:
        raise AgdlFormatError("corrupt AGDL file: REFN holds refinement data, the header declares none")
    return Refinement(n_exp, payload[LIST_HEAD.size : end], payload[end:])


def to_stored(logical: bytes) -> bytes:
    """Logical (1.0-layout) REFN -> 2.x record payload::

        n_explicit uvarint | len_explicit uvarint | explicit[len_explicit] | measurements?
        measurements = scale f32 BE | qmin zigzag varint | qmax zigzag varint | range-coder words (u32 LE)

    (1.0: ``n_explicit u32 | len_explicit u32 | explicit | scale f32 | qmin i32 | qmax i32 | words``; the
    measurements are absent when M = 0.) The mapping is one-to-one; words and list are copied as they are.
    """
    if len(logical) < LIST_HEAD.size:
        raise ValueError("cannot write a REFN payload shorter than its 8-byte header")
    n_exp, len_exp = LIST_HEAD.unpack_from(logical)
    explicit, meas = logical[LIST_HEAD.size : LIST_HEAD.size + len_exp], logical[LIST_HEAD.size + len_exp :]
    if len(explicit) != len_exp or 0 < len(meas) < MEASUREMENTS_HEAD.size:
        raise ValueError("cannot write a REFN payload whose guard-band list or measurement header is cut off")
    out = uvarint(n_exp) + uvarint(len_exp) + explicit
    if meas:
        _, qmin, qmax = MEASUREMENTS_HEAD.unpack_from(meas)
        out += meas[:4] + uvarint(zigzag(qmin)) + uvarint(zigzag(qmax)) + meas[12:]
    return out


def from_stored(stored: bytes) -> bytes:
    """Inverse of :func:`to_stored`."""
    r = Reader(stored, "REFN record")
    n_exp, len_exp = r.uvarint(32, "guard-band count"), r.uvarint(32, "guard-band length")
    out = LIST_HEAD.pack(n_exp, len_exp) + r.bytes(len_exp)
    if r.remaining:
        scale = r.bytes(4)
        qmin, qmax = r.svarint(32, "qmin"), r.svarint(32, "qmax")
        out += scale + struct.pack(">ii", qmin, qmax) + r.rest()
    return out
