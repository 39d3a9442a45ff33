"""Pillow: bad files raise Pillow's own exceptions; decompression-bomb limits hold before decoding."""

from __future__ import annotations

import dataclasses
import io
import tracemalloc
import warnings

import numpy as np
import pytest
from PIL import Image, UnidentifiedImageError

import agdl_plugins
from agdl_plugins.format.container import MAGIC, Chunk, parse_container, write_container
from agdl_plugins.format.header import Header


def _rebuild(data: bytes, *, header=None, replace: dict[bytes, bytes] | None = None) -> bytes:
    """Re-serialise an AGDL stream with a changed header and/or chunk payloads (valid CRCs)."""
    chunks = []
    for ch in parse_container(data):
        body = ch.data
        if ch.type == b"HEAD" and header is not None:
            body = dataclasses.replace(Header.unpack(ch.data), **header).pack()
        if replace and ch.type in replace:
            body = replace[ch.type]
        chunks.append(Chunk(ch.type, body))
    return write_container(chunks)


@pytest.mark.parametrize(
    "data",
    [b"", b"garbage" * 10, b"\x89PNG\r\n\x1a\n" + b"\0" * 40, MAGIC, MAGIC + b"\x01\x00"],
    ids=["empty", "garbage", "png-magic-only", "agdl-magic-only", "magic-and-version"],
)
def test_garbage_is_unidentified(data: bytes) -> None:
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(data))


def test_wrong_magic_is_unidentified(agdl_bytes: bytes) -> None:
    data = bytearray(agdl_bytes)
    data[1] ^= 0x20  # "AGDL" -> "aGDL"
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(bytes(data)))


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.6, 0.99])
def test_truncated_is_unidentified(agdl_bytes: bytes, fraction: float, tmp_path) -> None:
    cut = max(len(MAGIC) + 3, int(len(agdl_bytes) * fraction))
    path = tmp_path / "cut.agdl"
    path.write_bytes(agdl_bytes[:cut])
    with pytest.raises(UnidentifiedImageError):
        Image.open(path)
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(agdl_bytes[:-1]))


def test_crc_mismatch_is_unidentified(agdl_bytes: bytes) -> None:
    data = bytearray(agdl_bytes)
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(bytes(data)))


@pytest.mark.parametrize("chunk", [b"BASE", b"REFN"])
def test_corrupt_payload_with_valid_crc_fails_on_load(agdl_bytes: bytes, chunk: bytes) -> None:
    garbage = bytes(range(256)) * 4
    if chunk == b"REFN":  # keep REFN's own 8-byte head well-formed: the 2.x writer frames no REFN a reader refuses
        garbage = bytes(8) + garbage
    bad = _rebuild(agdl_bytes, replace={chunk: garbage})
    with Image.open(io.BytesIO(bad)) as im:  # header is fine: open works, lazily
        assert im.size == (128, 96)
        with pytest.raises(OSError):
            im.load()


def test_missing_part_is_oserror_naming_it(agdl_bytes: bytes) -> None:
    bad = _rebuild(agdl_bytes, header={"base_codec": "no-such-codec"})
    with Image.open(io.BytesIO(bad)) as im:
        assert im.info["agdl_base_codec"] == "no-such-codec"
        with pytest.raises(OSError, match="no-such-codec") as exc:
            im.load()
    assert isinstance(exc.value, agdl_plugins.MissingPartError)


def test_max_image_pixels_error_and_warning(agdl_bytes: bytes, monkeypatch, count_calls) -> None:
    decode_calls = count_calls("decode")
    pixels = 128 * 96
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pixels // 2 - 1)  # more than 2x: error
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(agdl_bytes))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pixels - 1)  # between 1x and 2x: warning
    with pytest.warns(Image.DecompressionBombWarning):
        im = Image.open(io.BytesIO(agdl_bytes))
    im.load()  # still decodable, as Pillow's own plugins are after the warning
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pixels)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        Image.open(io.BytesIO(agdl_bytes)).close()
    assert len(decode_calls) == 1


@pytest.fixture(scope="module")
def huge_header_bytes(agdl_bytes: bytes) -> bytes:
    """A small file whose header declares 40000 x 40000 pixels (1.6 gigapixels)."""
    return _rebuild(agdl_bytes, header={"width": 40000, "height": 40000})


def test_huge_declared_size_is_refused_before_decoding(huge_header_bytes: bytes, count_calls) -> None:
    assert len(huge_header_bytes) < 100_000
    decode_calls = count_calls("decode")
    preview_calls = count_calls("decode_base_preview")
    tracemalloc.start()
    try:
        with pytest.raises(Image.DecompressionBombError):
            Image.open(io.BytesIO(huge_header_bytes))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20  # nothing near 1.6 G pixels was allocated
    assert decode_calls == [] and preview_calls == []


def test_huge_declared_size_opens_lazily_without_limit(huge_header_bytes: bytes, monkeypatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with Image.open(io.BytesIO(huge_header_bytes)) as im:
        assert im.size == (40000, 40000)  # header only; no pixels allocated until load()


def test_load_after_close_raises(agdl_file) -> None:
    im = Image.open(agdl_file)
    im.close()
    with pytest.raises((ValueError, OSError)):
        im.load()


def test_repeated_decodes_are_identical(agdl_bytes: bytes) -> None:
    """Opening the same bytes twice gives the same pixels."""
    first = np.asarray(Image.open(io.BytesIO(agdl_bytes)))
    second = np.asarray(Image.open(io.BytesIO(agdl_bytes)))
    np.testing.assert_array_equal(first, second)
