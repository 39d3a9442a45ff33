"""base="auto" (issue 28): the encoder weighs JPEG, WebP and AVIF on each image and says why it chose."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from skimage import data

import agdl_plugins as agdl
from agdl_plugins.errors import AgdlOptionWarning, MissingCodecError
from agdl_plugins.format import decisions
from agdl_plugins.parts.base_codecs import AvifCodec


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[120:216, 140:268])


@pytest.fixture(scope="module")
def auto_file(photo) -> bytes:
    return agdl.encode(photo, base="auto", target_bpp=0.8)


def test_auto_keeps_the_base_with_the_lowest_objective(auto_file, photo) -> None:
    info = agdl.read_info(auto_file)
    choice = info.base_choice
    assert set(choice) == {"jpeg", "webp", "avif"}
    finite = {b: v for b, v in choice.items() if v is not None}
    assert info.base_codec == min(finite, key=finite.get)
    assert info.as_dict()["agdl_base_choice"] == choice
    size_bpp = 8 * info.layer_bytes["total"] / photo.shape[0] / photo.shape[1]
    assert abs(size_bpp - 0.8) / 0.8 < 0.05
    assert agdl.decode(auto_file).array.shape == photo.shape


def test_only_the_best_bases_by_their_base_layer_run_g(auto_file, monkeypatch, photo) -> None:
    """G runs on AUTO_G_PROBES bases (ranked by their base layers alone), plus the winner's search."""
    from agdl_plugins.codec import rdo_search

    choice = agdl.read_info(auto_file).base_choice
    assert sum(v is not None for v in choice.values()) == rdo_search.AUTO_G_PROBES
    calls = []
    real = rdo_search._Search.probe
    monkeypatch.setattr(rdo_search._Search, "probe",
                        lambda self, target, proxy=False: calls.append((self.opts.base, proxy)) or real(
                            self, target, proxy))
    agdl.encode(photo, base="auto", target_bpp=0.8)
    assert sorted(b for b, p in calls if p) == ["avif", "jpeg", "webp"]
    assert len([b for b, p in calls if not p]) == rdo_search.AUTO_G_PROBES


def test_a_close_call_searches_both_finalists_in_full(monkeypatch, photo) -> None:
    """Finalists whose G probes are within AUTO_CLOSE both get the full search; the lower search objective wins
    and the file is exactly what a single-base search on that base would have written."""
    from agdl_plugins.codec import rdo_search

    searched: list[tuple[str, float]] = []
    real = rdo_search.decide

    def spy(s):
        d = real(s)
        searched.append((s.opts.base, d[3]))
        return d

    monkeypatch.setattr(rdo_search, "decide", spy)
    monkeypatch.setattr(rdo_search, "AUTO_CLOSE", 1e9)  # every finalist counts as close
    blob = agdl.encode(photo, base="auto", target_bpp=0.8)
    assert len(searched) == rdo_search.AUTO_G_PROBES
    info = agdl.read_info(blob)
    best_base, best_d = min(searched, key=lambda t: t[1])
    assert info.base_codec == best_base
    px = photo.shape[0] * photo.shape[1]
    for b, d in searched:  # the note carries the full searches' objectives
        assert info.base_choice[b] == pytest.approx(d / px, rel=1e-6)
    single = agdl.encode(photo, base=best_base, target_bpp=0.8)  # the same decisions, so the same pixels
    np.testing.assert_array_equal(agdl.decode(blob).array, agdl.decode(single).array)
    monkeypatch.setattr(rdo_search, "AUTO_CLOSE", 0.0)  # a strict ranking: one full search only
    searched.clear()
    agdl.encode(photo, base="auto", target_bpp=0.8)
    assert len(searched) == 1


def test_auto_without_a_rate_spends_the_jpeg_base_bytes(photo) -> None:
    blob = agdl.encode(photo, base="auto", quality=30)
    assert agdl.read_info(blob).base_choice is not None
    jpeg_alone = agdl.encode(photo, base="jpeg", quality=30, critical_fraction=0)
    assert len(blob) <= len(jpeg_alone) * 1.05


def test_container_jpeg_keeps_jpeg_and_says_so(photo) -> None:
    with pytest.warns(AgdlOptionWarning, match="base='auto' uses 'jpeg'"):
        blob = agdl.encode(photo, base="auto", container="jpeg", quality=30, critical_fraction=0)
    assert agdl.read_info(blob).base_codec == "jpeg"


def test_auto_is_the_default_for_agdl_files_and_jpeg_for_the_jpeg_container(photo) -> None:
    """Issue 28 (BENCHMARKS.md §35): a .agdl file weighs the bases; container="jpeg" takes JPEG silently."""
    assert agdl.validate_encode_options().base == "auto"
    blob = agdl.encode(photo, target_bpp=0.8)
    assert blob == agdl.encode(photo, target_bpp=0.8, base="auto")
    info = agdl.read_info(blob)
    assert set(info.base_choice) == {"jpeg", "webp", "avif"} and info.base_codec in info.base_choice
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "base='auto' uses 'jpeg'" when the user named no base
        assert agdl.validate_encode_options(container="jpeg").base == "jpeg"


def test_auto_with_every_decision_fixed_writes_the_jpeg_base(photo) -> None:
    """quality + critical_fraction + step (or critical_fraction=0) and no target_bpp: nothing to weigh."""
    for kw in ({"critical_fraction": 0.05, "step": 8.0}, {"critical_fraction": 0}):
        blob = agdl.encode(photo, quality=35, **kw)
        assert blob == agdl.encode(photo, quality=35, base="jpeg", **kw)
        info = agdl.read_info(blob)
        assert info.base_codec == "jpeg" and info.quality == 35 and info.base_choice is None
    assert agdl.read_info(agdl.encode(photo, quality=35, critical_fraction=0.05)).base_choice is not None


def test_a_base_this_pillow_lacks_is_skipped_and_named_on_decode(photo, monkeypatch) -> None:
    avif = agdl.encode(photo, base="avif", quality=40, critical_fraction=0)
    monkeypatch.setattr(AvifCodec, "available", lambda self: False)
    blob = agdl.encode(photo, base="auto", target_bpp=0.8)
    assert "avif" not in agdl.read_info(blob).base_choice
    with pytest.raises(ValueError, match="install Pillow >= 11.3"):
        agdl.encode(photo, base="avif", quality=40)
    with pytest.raises(MissingCodecError, match="AVIF.*install Pillow >= 11.3"):
        agdl.decode(avif)


def test_base_choice_record_round_trip_and_corruption() -> None:
    note = {"jpeg": 1.5, "webp": 0.25, "avif": None}
    assert decisions.unpack_base_choice(decisions.pack_base_choice(note)) == note
    payload = decisions.pack_base_choice(note)
    with pytest.raises(agdl.AgdlFormatError):
        decisions.unpack_base_choice(payload[:-2])
    with pytest.raises(agdl.AgdlFormatError):
        decisions.unpack_base_choice(payload + b"x")
