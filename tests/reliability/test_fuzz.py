"""Fuzzing the parser and the full decode path (Hypothesis, seeded from real files).

Every input must give either a decoded image of the declared size or an ``AgdlFormatError``
(documented: corrupt/truncated/unsupported data) - never another exception, a hang or a huge allocation.
Seeds: a file the writer makes now (format 2.0) and a committed golden file of format 1.0, which readers
must keep reading. The long run is ``python scripts/fuzz.py --seconds N``.
"""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skimage import data

import agdl_plugins as agdl
from agdl_plugins.errors import AgdlFormatError
from agdl_plugins.format import container as C

MAX_SECONDS = 2.0
V1_SEED = Path(__file__).resolve().parents[1] / "golden" / "baseline_rgb_jpeg.agdl"  # 1.0, edge-sobel + identity
MINOR = len(C.MAGIC) + 1


def _v1_file(chunks: list[C.Chunk]) -> bytes:
    """A 1.0 file with valid CRCs (test helper: the library writes 2.0 only)."""
    out = bytearray(C.MAGIC + b"\x01\x00")
    for ch in [*chunks, C.Chunk(b"AEND", b"")]:
        out += struct.pack(">4sI", ch.type, len(ch.data)) + ch.data + struct.pack(">I", zlib.crc32(ch.type + ch.data))
    return bytes(out)


def _recrc(body: bytes) -> bytes:
    """A 2.x file from everything but its CRC: append the CRC a forger would compute."""
    return body + struct.pack(">I", zlib.crc32(body))


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


@pytest.fixture(scope="module")
def v1_seed() -> bytes:
    return V1_SEED.read_bytes()


@pytest.fixture(params=["2.0", "1.0"])
def seed(request, seed_file, v1_seed) -> bytes:
    return seed_file if request.param == "2.0" else v1_seed


def test_every_single_byte_flip_is_detected(seed):
    """Every byte is covered by the magic, the version check or a CRC.

    1.0 leaves the minor version byte outside its chunk CRCs (minor versions only add ancillary chunks, so a
    reader accepts a newer minor); 2.x covers it with the file's one CRC, so a flip there is caught too.
    """
    rng = np.random.default_rng(0)
    v1 = seed[len(C.MAGIC)] == 1
    bumped = bytearray(seed)
    bumped[MINOR] = 7
    if v1:
        assert agdl.read_info(bytes(bumped)).format_version == "1.7"
    else:
        assert agdl.read_info(_recrc(bytes(bumped[:-4]))).format_version == "2.7"
    for pos in range(len(seed)):
        if pos == MINOR and v1:
            continue
        bad = bytearray(seed)
        bad[pos] ^= int(rng.integers(1, 256))
        with pytest.raises(AgdlFormatError):
            agdl.read_info(bytes(bad))


def test_every_truncation_of_decode_path(seed):
    for cut in range(0, len(seed), 7):
        with pytest.raises(AgdlFormatError):
            agdl.decode(seed[:cut], device="cpu")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_crc_valid_payload_mutations(seed_file, v1_seed, draw):
    """An attacker who recomputes CRCs: mutate chunk payloads (logical form), then decode fully.

    1.0 frames any payload. The 2.0 writer refuses a HEAD or REFN no reader would accept (ValueError), so
    those mutations reach the 2.0 reader through test_crc_valid_byte_mutations_v2 instead.
    """
    v1 = draw.draw(st.booleans())
    chunks = C.parse_container(v1_seed if v1 else seed_file)
    i = draw.draw(st.integers(0, len(chunks) - 1))
    body = bytearray(chunks[i].data)
    for _ in range(draw.draw(st.integers(1, 4))):
        if body:
            pos = draw.draw(st.integers(0, len(body) - 1))
            body[pos] = draw.draw(st.integers(0, 255))
    if draw.draw(st.booleans()) and body:
        body = body[: draw.draw(st.integers(0, len(body)))]
    chunks[i] = C.Chunk(chunks[i].type, bytes(body))
    if v1:
        _decode_or_format_error(_v1_file(chunks))
        return
    try:
        blob = C.write_container(chunks)
    except ValueError:
        return
    _decode_or_format_error(blob)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_crc_valid_byte_mutations_v2(seed_file, draw):
    """The 2.0 framing itself under attack: overwrite, insert or delete bytes anywhere after the version
    (varints, tags, lengths, HEAD flags, compact REFN), recompute the file CRC, decode fully."""
    body = bytearray(seed_file[:-4])
    lo = MINOR + 1
    for _ in range(draw.draw(st.integers(1, 6))):
        pos = draw.draw(st.integers(lo, len(body) - 1))
        op = draw.draw(st.sampled_from(["set", "insert", "delete", "varint"]))
        if op == "set":
            body[pos] = draw.draw(st.integers(0, 255))
        elif op == "insert":
            body[pos:pos] = bytes([draw.draw(st.integers(0, 255))])
        elif op == "delete" and len(body) > lo + 1:
            del body[pos]
        else:  # a long or overflowing varint
            body[pos : pos + 1] = b"\xff" * draw.draw(st.integers(1, 11)) + bytes([draw.draw(st.integers(0, 127))])
    _decode_or_format_error(_recrc(bytes(body)))
