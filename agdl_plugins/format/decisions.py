"""What the encoder decided and why, stored beside the layers (ancillary: readers that do not know it skip it).

``bsel`` record (``base="auto"``): the objective each candidate base reached at the byte budget, so
``read_info`` / ``agdl info`` can say why the file's base was chosen::

    count u8 | (id_len u8 | id ascii | objective f32 BE (NaN: not probed, or the budget was out of reach))*

The objective is the encoder's weighted MSE per pixel (``roi_weight`` x saliency-weighted + the rest
whole-image, luminance) its probe reached with G: lower is better; the file's base is the lowest. A base ranked
out by its base layer alone (before G runs) is NaN.
"""

from __future__ import annotations

import math
import struct

from agdl_plugins.errors import AgdlFormatError

#: chunk type of the base choice (lower-case first letter: ancillary)
BASE_CHOICE = b"bsel"


def pack_base_choice(objective: dict[str, float | None]) -> bytes:
    """``{"jpeg": 41.2, "webp": 35.0, "avif": None}`` -> record payload."""
    if not 0 < len(objective) < 256:
        raise ValueError("a base choice names 1 to 255 bases")
    out = bytearray([len(objective)])
    for base, value in objective.items():
        name = base.encode("ascii")
        if not 0 < len(name) < 256:
            raise ValueError(f"bad base id {base!r}")
        out += bytes([len(name)]) + name + struct.pack(">f", math.nan if value is None else float(value))
    return bytes(out)


def unpack_base_choice(payload: bytes) -> dict[str, float | None]:
    """Inverse of :func:`pack_base_choice` (NaN reads back as None).

    Raises:
        AgdlFormatError: a malformed record.
    """
    try:
        n, pos, out = payload[0], 1, {}
        for _ in range(n):
            k = payload[pos]
            name = payload[pos + 1 : pos + 1 + k].decode("ascii")
            (value,) = struct.unpack_from(">f", payload, pos + 1 + k)
            out[name] = None if math.isnan(value) else float(value)
            pos += 1 + k + 4
    except (IndexError, struct.error, UnicodeDecodeError) as e:
        raise AgdlFormatError(f"corrupt AGDL file: base choice record ({e})") from e
    if pos != len(payload) or len(out) != n:
        raise AgdlFormatError("corrupt AGDL file: base choice record has the wrong length")
    return out
