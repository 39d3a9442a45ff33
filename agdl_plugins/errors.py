"""Exception types of the AGDL core.

``AgdlFormatError`` subclasses :class:`OSError` because a corrupt or unsupported file is an
I/O problem in Pillow's taxonomy (Pillow raises ``OSError`` for broken image data); option
mistakes are plain :class:`ValueError`.
"""

from __future__ import annotations


class AgdlFormatError(OSError):
    """The bytes are not a valid AGDL stream (truncated, bad CRC, bad header, bad payload)."""


class MissingPartError(AgdlFormatError):
    """The file names a codec part (id, version) that is not installed/registered here."""

    def __init__(self, kind: str, part_id: str, version: int, available: list[str] | None = None) -> None:
        avail = f"; installed {kind}s: {', '.join(available)}" if available else ""
        super().__init__(
            f"this file needs the {kind} part '{part_id}' version {version}, which is not installed{avail}. "
            f"Install the AGDL plugin that provides it (entry-point group 'agdl.plugins')."
        )
        self.kind = kind
        self.part_id = part_id
        self.version = version


class CriticalSetMismatchError(AgdlFormatError):
    """The decoder re-derived a critical set whose checksum differs from the encoder's."""


class DecompressionBombError(AgdlFormatError):
    """The declared image size exceeds the allowed pixel count (mirrors PIL's check)."""


class AgdlFallbackWarning(UserWarning):
    """An AGDL-in-JPEG file's AGDL segments cannot be used (damaged, incomplete, or its JPEG was re-encoded or
    edited): the JPEG is decoded as it is, base layer only. ``warnings.simplefilter("error",
    AgdlFallbackWarning)`` turns the fallback into an error."""


class CriticalSelectionError(ValueError):
    """The predictor's scores cannot give the critical set the encoder asked for: NaN scores, a threshold
    that is not finite (±inf scores at the cut), or a set outside its documented size (``n_target`` ± 2 %,
    e.g. scores tied across the cut). Raised by :func:`agdl_plugins.critical.select_critical` before any
    byte is written; a ``ValueError`` because the scores (a plugin predictor's output) are bad input."""
