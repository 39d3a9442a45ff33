"""Reading a .agdl stream's structure: container + header -> :class:`AgdlInfo` (the bitstream layer).

No numpy or torch work and no pixel allocation: what ``read_info``, Pillow's ``Image.open`` and the AGDL-in-JPEG
reader need before deciding to decode.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agdl_plugins.errors import AgdlFormatError, DecompressionBombError
from agdl_plugins.format import container as C
from agdl_plugins.format import decisions
from agdl_plugins.format import roi as R
from agdl_plugins.format.header import AgdlInfo, Header


@dataclass(frozen=True)
class Parsed:
    """A parsed file: its public facts (:class:`AgdlInfo`, what ``read_info`` returns) and the logical payloads
    of its layers (chunk type -> bytes: ``BASE``, ``REFN``, ``ALPH``, ...), which only the decoder reads."""

    info: AgdlInfo
    payloads: Mapping[bytes, bytes]

    @property
    def header(self) -> Header:
        return self.info.header


def parse(data: bytes, max_pixels: int | None = None) -> AgdlInfo:
    """Container + header -> :class:`AgdlInfo` (no numpy/torch work, no pixel allocation)."""
    return parse_file(data, max_pixels).info


def parse_file(data: bytes, max_pixels: int | None = None) -> Parsed:
    """Container + header -> :class:`Parsed`, the facts and the layers' payloads (no numpy/torch work, no pixel
    allocation: the payloads are the file's bytes, not decoded).

    Raises:
        AgdlFormatError: corrupt, truncated or unsupported data. DecompressionBombError: over ``max_pixels``.
    """
    cont = C.read_container(data)
    cm = C.chunk_map(cont.chunks)
    hdr = Header.unpack(cm[b"HEAD"])
    if max_pixels is not None and hdr.width * hdr.height > max_pixels:
        raise DecompressionBombError(
            f"image size ({hdr.width * hdr.height} pixels) exceeds limit of {max_pixels} pixels, "
            "could be decompression bomb DOS attack."
        )
    if b"BASE" not in cm or b"REFN" not in cm:
        raise AgdlFormatError("corrupt AGDL file: missing BASE or REFN chunk")
    if hdr.mode in ("LA", "RGBA") and b"ALPH" not in cm:
        raise AgdlFormatError(f"corrupt AGDL file: mode {hdr.mode} without ALPH chunk")
    st = cont.stored  # bytes in the file (a 2.x file stores REFN compactly, or not at all when empty)
    layers = {"base": st[b"BASE"], "refinement": st[b"REFN"], "alpha": st.get(b"ALPH", 0), "total": len(data)}
    version = f"{cont.version[0]}.{cont.version[1]}"
    choice = cm.get(decisions.BASE_CHOICE)
    roi = cm.get(R.ROI)
    if roi is not None:
        layers["roi"] = st[R.ROI]
    info = AgdlInfo(hdr, cm.get(C.EXIF), cm.get(C.ICC), cm.get(C.XMP), layers, version,
                    base_choice=None if choice is None else decisions.unpack_base_choice(choice),
                    roi_record=None if roi is None else R.unpack(roi, hdr.width, hdr.height))
    return Parsed(info, cm)
