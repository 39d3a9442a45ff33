"""Fuzzing the parser and the full decode path (Hypothesis, seeded from a real file).

Every input must give either a decoded image of the declared size or an ``AgdlFormatError``
(documented: corrupt/truncated/unsupported data) - never another exception, a hang or a huge allocation.
The long run is ``python scripts/fuzz.py --seconds N``.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skimage import data

import agdl_plugins as agdl
from agdl_plugins import container as C
from agdl_plugins.errors import AgdlFormatError

MAX_SECONDS = 2.0


@pytest.fixture(scope="module")
def seed_file() -> bytes:
    img = np.ascontiguousarray(data.astronaut()[120:168, 200:264])
    return agdl.encode(
        img,
        quality=30,
        critical_fraction=0.08,
        predictor="edge-sobel",
        restorer="identity",
        exif=b"Exif\0\0II*\0",
        xmp=b"<x/>",
    )


def _decode_or_format_error(blob: bytes) -> None:
    t0 = time.perf_counter()
    try:
        out = agdl.decode(blob, device="cpu", max_pixels=1 << 22)
        assert out.array.shape[:2] == (out.info.height, out.info.width)
    except AgdlFormatError:
        pass
    assert time.perf_counter() - t0 < MAX_SECONDS


def test_every_single_byte_flip_is_detected(seed_file):
    """Every byte is covered by the magic, the version check or a chunk CRC.

    The one exception by design is the minor version byte: minor versions only add ancillary chunks,
    so a reader accepts a file from a newer minor version.
    """
    rng = np.random.default_rng(0)
    minor = len(C.MAGIC) + 1
    bumped = bytearray(seed_file)
    bumped[minor] = 7
    assert agdl.read_info(bytes(bumped)).width == 64
    for pos in range(len(seed_file)):
        if pos == minor:
            continue
        bad = bytearray(seed_file)
        bad[pos] ^= int(rng.integers(1, 256))
        with pytest.raises(AgdlFormatError):
            agdl.read_info(bytes(bad))


def test_every_truncation_of_decode_path(seed_file):
    for cut in range(0, len(seed_file), 7):
        with pytest.raises(AgdlFormatError):
            agdl.decode(seed_file[:cut], device="cpu")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_crc_valid_payload_mutations(seed_file, draw):
    """An attacker who recomputes CRCs: mutate chunk payloads, then decode fully."""
    chunks = C.parse_container(seed_file)
    i = draw.draw(st.integers(0, len(chunks) - 1))
    body = bytearray(chunks[i].data)
    for _ in range(draw.draw(st.integers(1, 4))):
        if body:
            pos = draw.draw(st.integers(0, len(body) - 1))
            body[pos] = draw.draw(st.integers(0, 255))
    if draw.draw(st.booleans()) and body:
        body = body[: draw.draw(st.integers(0, len(body)))]
    chunks[i] = C.Chunk(chunks[i].type, bytes(body))
    _decode_or_format_error(C.write_container(chunks))
