"""Inference engine: device choice, tiling, model cache; plugin host; cross-thread determinism."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import agdl_plugins as agdl
from agdl_plugins.parts.engine import cached_model, channels_last, resolve_device, run_tiled, tiles
from agdl_plugins.parts.registry import get_registry


def test_resolve_device():
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError):
        resolve_device("quantum")


def test_resolve_device_without_cuda(monkeypatch):
    """The device choice when torch reports no CUDA, whatever this machine has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == resolve_device(None) == resolve_device() == "cpu"
    assert resolve_device("cpu") == "cpu"
    for dev in ("cuda", "cuda:0", "cuda:1"):
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device(dev)
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("quantum")


def test_resolve_device_with_cuda(monkeypatch):
    """The device choice when torch reports CUDA (only names are resolved: no GPU is touched)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == resolve_device(None) == resolve_device() == "cuda"
    assert resolve_device("cpu") == "cpu"  # an explicit CPU request wins over an available GPU
    assert resolve_device("cuda") == "cuda" and resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("quantum")


# (tile, overlap): run_tiled's default (1024, 64), G v2's (1536, 64), the former default (512, 32), the test's (128, 16)
TILINGS = [(1024, 64), (1536, 64), (512, 32), (128, 16)]


@pytest.mark.parametrize("tile,overlap", TILINGS)
def test_tiles_cover_and_align(tile, overlap):
    """Every seam, not one: the kept parts partition the axis in order; each kept pixel has ``overlap`` pixels of
    context inside its tile on each side, except at the image border; tiles are 8-aligned, inside the image, at
    most ``tile`` long, and no more of them than the fewest that can satisfy this (+1 for 8-pixel rounding)."""
    for length in range(8, 5 * tile + 8, 8):  # run_tiled pads to a multiple of 8
        spans = tiles(length, tile, overlap)
        assert all(v % 8 == 0 for span in spans for v in span)
        assert spans[0][0] == spans[0][2] == 0 and spans[-1][1] == spans[-1][3] == length
        for (s, e, k0, k1), nxt in zip(spans, spans[1:] + [None]):
            assert 0 <= s <= k0 < k1 <= e <= length and e - s <= tile
            assert k0 - s >= overlap or s == 0, (length, s, k0)
            assert e - k1 >= overlap or e == length, (length, e, k1)
            if nxt is not None:
                assert nxt[2] == k1  # kept parts are contiguous, in order
        if length <= tile:
            assert spans == [(0, length, 0, length)]
            continue
        fewest = 2 + max(0, -(-(length - 2 * (tile - overlap)) // (tile - 2 * overlap)))
        assert fewest <= len(spans) <= fewest + 1, (length, len(spans), fewest)


def test_tiling_work_is_bounded():
    """The tiling's point: (1024, 64) on a 6 MP mosaic (2048 x 3072) computes 1.27x the image's pixels (the
    fixed-stride tiling before it computed 2.0x: 12 tiles of 1024 x 1024)."""
    work = [sum(e - s for s, e, _, _ in tiles(n, 1024, 64)) / n for n in (2048, 3072)]
    assert work[0] * work[1] < 1.3


def test_channels_last_only_on_cpu():
    """The engine's layout choice is the device's (values never change, only their order in memory)."""
    assert channels_last("cpu") and not channels_last("cuda") and not channels_last("cuda:1")
    m = cached_model("test-layout", "cpu", lambda: torch.nn.Conv2d(2, 4, 3), conv_layout=True)
    assert m.weight.is_contiguous(memory_format=torch.channels_last)
    plain = cached_model("test-layout", "cpu", lambda: torch.nn.Conv2d(2, 4, 3))
    assert plain is not m and plain.weight.is_contiguous()


@pytest.mark.parametrize("tile,overlap", TILINGS)
@pytest.mark.parametrize("shape", [(8, 8), (100, 130), (517, 1100), (1500, 333)])
def test_run_tiled_keeps_only_tile_centres(tile, overlap, shape):
    """run_tiled end to end: every output pixel comes from its own input position, out of a tile in which it
    lies at least ``overlap`` pixels from every tile edge that is not an image edge (all seams, both axes)."""
    h, w = shape
    hp, wp = h + (-h) % 8, w + (-w) % 8
    plane = np.arange(h * w, dtype=np.float32).reshape(h, w)  # each value names its pixel (exact below 2**24)

    def margin(t):  # per pixel: distance to the nearest interior tile edge (image edges do not count)
        th, tw = t.shape[-2:]
        y0, x0 = divmod(int(t[0, 0, 0, 0]), w)
        i = torch.arange(th, dtype=torch.float32)[:, None].expand(th, tw)
        j = torch.arange(tw, dtype=torch.float32)[None, :].expand(th, tw)
        inf = torch.full((th, tw), float("inf"))
        d = torch.stack([i if y0 else inf, th - 1 - i if y0 + th < hp else inf,
                         j if x0 else inf, tw - 1 - j if x0 + tw < wp else inf]).amin(0)
        return d[None, None]

    np.testing.assert_array_equal(run_tiled(lambda t: t, plane, "cpu", tile=tile, overlap=overlap), plane)
    m = run_tiled(margin, plane, "cpu", tile=tile, overlap=overlap)
    assert m.min() >= overlap, f"a pixel {m.min()} px from a seam ({np.argwhere(m < overlap)[:3].tolist()})"


@pytest.mark.parametrize("shape", [(100, 130), (517, 1100)])
def test_run_tiled_divides_each_tile_as_the_whole_plane(shape):
    """``divide_by``: a uint8 plane converted tile by tile (no full-size float copy) gives the tiles, and so the
    output, of the plane converted first, bit for bit (with the edge padding to a multiple of 8)."""
    plane = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    seen: dict[str, list[np.ndarray]] = {"first": [], "tiles": []}

    def record(key):
        def fn(t):
            seen[key].append(t.numpy().copy())
            return t * 3.0 - 1.0
        return fn

    whole = run_tiled(record("first"), plane.astype(np.float32) / 255.0, "cpu", tile=64, overlap=16)
    tiled = run_tiled(record("tiles"), plane, "cpu", tile=64, overlap=16, divide_by=255.0)
    assert tiled.dtype == np.float32 and tiled.flags.writeable
    np.testing.assert_array_equal(tiled, whole)
    assert len(seen["tiles"]) == len(seen["first"]) > 1
    for a, b in zip(seen["tiles"], seen["first"]):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a, b)


def test_tiled_equals_whole_for_local_op():
    torch.manual_seed(0)
    conv = torch.nn.Sequential(*[torch.nn.Conv2d(1, 1, 3, padding=1) for _ in range(5)]).double()
    plane = np.random.default_rng(0).random((300, 700))
    whole = conv(torch.from_numpy(np.pad(plane, ((0, 4), (0, 4)), mode="edge"))[None, None])[0, 0, :300, :700]
    with torch.inference_mode():
        tiled = run_tiled(lambda t: conv(t.double()), plane, "cpu", tile=128, overlap=16)
    # receptive field 5 < overlap: tiles stitch to the same result
    assert np.allclose(tiled, whole.detach().numpy(), atol=1e-5)


def test_model_cache_builds_once():
    calls = []

    def factory():
        calls.append(1)
        return torch.nn.Identity()

    a = cached_model("test-id", "cpu", factory)
    b = cached_model("test-id", "cpu", factory)
    assert a is b and len(calls) == 1


def test_builtin_parts_registered():
    reg = get_registry()
    for kind, name in [
        ("base_codec", "jpeg"),
        ("base_codec", "webp"),
        ("base_codec", "avif"),
        ("base_codec", "jpeg2000"),
        ("predictor", "edge-sobel"),
        ("restorer", "identity"),
        ("sensing", "structured-dct"),
        ("sensing", "gaussian"),
    ]:
        assert reg.has(kind, name), (kind, name)


SNIPPET = textwrap.dedent(
    """
    import sys, numpy as np, torch
    torch.set_num_threads(int(sys.argv[1]))
    import agdl_plugins as agdl
    out = agdl.decode(sys.argv[2], device="cpu", diagnostics=True)
    np.savez(sys.argv[3], px=out.array, mask=out.diagnostics["critical_mask"])
    """
)


def test_thread_counts_keep_the_contract(tmp_path, photo):
    """Default parts (trained networks): 1 and 2 torch threads derive the identical critical set, and pixels
    within the cross-machine contract (docs/FORMAT.md "Determinism"); the same thread count repeats exactly."""
    from agdl_plugins.codec.decoder import within_pixel_contract

    p = tmp_path / "t.agdl"
    p.write_bytes(agdl.encode(photo, quality=25, critical_fraction=0.05))
    runs = []
    for i, n in enumerate((1, 2, 2)):
        out = tmp_path / f"{i}.npz"
        subprocess.run([sys.executable, "-c", SNIPPET, str(n), str(p), str(out)], check=True, capture_output=True)
        runs.append(np.load(out))
    here = agdl.decode(p, device="cpu", diagnostics=True)
    assert here.diagnostics["critical_mask"].sum() > 0
    for r in runs:
        assert np.array_equal(r["mask"], here.diagnostics["critical_mask"])
        assert within_pixel_contract(r["px"], here.array)
    assert np.array_equal(runs[1]["px"], runs[2]["px"])


def test_decode_from_folder_with_foreign_models_package(tmp_path, photo):
    """A user's own top-level ``models`` package must not shadow ours."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "__init__.py").write_text("raise ImportError('the user models package')\n")
    p = tmp_path / "x.agdl"
    p.write_bytes(agdl.encode(photo, quality=25))
    code = "import agdl_plugins as a, sys; print(a.decode(sys.argv[1]).array.shape)"
    r = subprocess.run([sys.executable, "-c", code, str(p)], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(photo.shape)
