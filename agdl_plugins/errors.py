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


class MissingCodecError(AgdlFormatError):
    """The file's base layer needs an image codec the running Pillow lacks (e.g. AVIF before Pillow 11.3);
    the message names what to install."""


class UnknownPartError(MissingPartError, ValueError):
    """An encoder option names a part (base codec, predictor, restorer, sensing) that is not installed.

    A ``ValueError`` (a bad option value: what the CLI reports as a usage error); also a
    :class:`MissingPartError`, which encoders raised for this before, so existing handlers still catch it.
    """

    def __init__(self, option: str, part_id: str, available: list[str]) -> None:
        Exception.__init__(self, f"{option}={part_id!r} is not an installed AGDL part; choose one of: "
                           f"{', '.join(available)}")
        self.kind = option
        self.part_id = part_id
        self.version = 0
        self.option = option
        self.available = available


class RateUnreachableError(ValueError):
    """``target_bpp`` is below the smallest file this image can have (base quality 1, no refinement).

    ``smallest_bpp`` is that smallest size in bits per pixel of the pixel layers.
    """

    def __init__(self, message: str, smallest_bpp: float) -> None:
        super().__init__(message)
        self.smallest_bpp = smallest_bpp


class CriticalSetMismatchError(AgdlFormatError):
    """The decoder re-derived a critical set whose checksum differs from the encoder's."""


class DecompressionBombError(AgdlFormatError):
    """The declared image size exceeds the allowed pixel count (mirrors PIL's check)."""


class AgdlFallbackWarning(UserWarning):
    """An AGDL-in-JPEG file's AGDL segments cannot be used (damaged, incomplete, or its JPEG was re-encoded or
    edited): the JPEG is decoded as it is, base layer only. ``warnings.simplefilter("error",
    AgdlFallbackWarning)`` turns the fallback into an error."""


class AgdlConversionWarning(UserWarning):
    """An image was stored in another mode than it came in (``1`` as grey levels, ``CMYK`` as RGB)."""


class AgdlOptionWarning(UserWarning):
    """A keyword given to Pillow's ``save`` looks like a misspelt AGDL option and was ignored."""


class PartOutputError(AgdlFormatError):
    """A codec part (base codec, predictor, restorer or sensing operator; typically a plugin's) returned an output
    that breaks its interface (:mod:`agdl_plugins.parts.protocols`): wrong type, shape or dtype, NaN/inf, out of
    range. The encode or decode stops here instead of writing or showing a wrong image.

    An :class:`AgdlFormatError` (``OSError``) like :class:`MissingPartError`: the file cannot be coded with the
    parts installed here. Attributes: ``kind`` ("predictor", ...), ``part`` ("id@version"), ``problem``.
    """

    def __init__(self, kind: str, part: str, problem: str) -> None:
        super().__init__(f"the {kind} part {part} returned {problem}; the image cannot be coded with this part "
                         f"(a broken or incompatible plugin?)")
        self.kind = kind
        self.part = part
        self.problem = problem


class PartInterfaceError(TypeError):
    """A plugin registered a part that lacks members its kind's protocol declares (``scores``, ``restore``, ...)."""


class CriticalSelectionError(ValueError):
    """The predictor's scores cannot give the critical set the encoder asked for: NaN scores, a threshold
    that is not finite (±inf scores at the cut), or a set outside its documented size (``n_target`` ± 2 %,
    e.g. scores tied across the cut). Raised by :func:`agdl_plugins.codec.critical.select_critical` before any
    byte is written; a ``ValueError`` because the scores (a plugin predictor's output) are bad input."""
