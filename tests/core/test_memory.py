"""Memory behaviour of the pipeline (issue 29, BENCHMARKS.md §28): no full-image float64 copies, F in row bands.

The peaks are measured with ``tracemalloc``, which counts numpy's buffers exactly (every full-size plane the
pipeline makes is a numpy array; torch's own allocations are not traced), so they are deterministic: the same on
a loaded 2-core box as on an idle one, whatever the thread count. The bounds are in bytes per pixel of the image,
a few B/px above what was measured, and below what one full-size float64 plane more (8 B/px) at the peak gives:

* decode, 1 MP (fixed quality, 5 % critical pixels): 19.1 B/px measured; 36 B/px before issue 29's memory work
  (G's output, its projected copy and the rounding in float64);
* encode with ``target_bpp`` (the RDO search): 98 B/px measured; 314 B/px before (every proxy quality's
  evaluator, decoded base, scores and sorted scores kept to the end, references in float64); 126.6 B/px with
  the JPEG base at wave 3 stop 27. ``base="auto"`` (the default since then): 192.4 B/px (255.6 before its
  searches shared the original's planes and dropped what a base they were done with held); an AVIF-base
  decode: 22.1 B/px (the codec's own RGB is kept beside the planes).

F's full-resolution work is torch's (invisible to tracemalloc): that it runs in row bands with the same values
as the whole-image forward is checked directly.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch
from skimage import data

import agdl_plugins as agdl
from agdl_plugins.parts import learned
from kornia_ops import saliency_map

DECODE_BYTES_PER_PIXEL = {"jpeg": 22.0, "avif": 25.0}
ENCODE_SEARCH_BYTES_PER_PIXEL = {"jpeg": 130.0, "auto": 200.0}


@pytest.fixture(scope="module")
def mosaic() -> np.ndarray:
    """(1024, 1024, 3) uint8: the astronaut photo and its mirror images, 2 x 2 (a real photo's statistics)."""
    a = data.astronaut()
    return np.ascontiguousarray(np.block([[[a], [a[:, ::-1]]], [[a[::-1]], [a[::-1, ::-1]]]]))


def _numpy_peak(fn) -> tuple[object, int]:
    """(fn(), the peak of traced memory while it ran, in bytes)."""
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("base", sorted(DECODE_BYTES_PER_PIXEL))
def test_decode_holds_no_float64_image_copies(mosaic, base):
    blob = agdl.encode(mosaic, quality=30, critical_fraction=0.05, step=8.0, base=base)
    assert agdl.read_info(blob).n_measurements > 0  # the projection runs
    agdl.decode(agdl.encode(mosaic[:64, :64], quality=30))  # warm: models loaded outside the measurement
    dec, peak = _numpy_peak(lambda: agdl.decode(blob))
    px = mosaic.shape[0] * mosaic.shape[1]
    assert dec.array.shape == mosaic.shape
    assert peak / px <= DECODE_BYTES_PER_PIXEL[base], f"decode held {peak / px:.1f} B/px of numpy buffers at its peak"


@pytest.mark.parametrize("base", sorted(ENCODE_SEARCH_BYTES_PER_PIXEL))
def test_rate_search_releases_what_it_does_not_need(mosaic, base):
    agdl.encode(mosaic[:64, :64], target_bpp=0.8, base=base)  # warm: models loaded outside the measurement
    out, peak = _numpy_peak(lambda: agdl.encode(mosaic, target_bpp=0.8, base=base))
    px = mosaic.shape[0] * mosaic.shape[1]
    assert abs(len(out) * 8 / px - 0.8) <= 0.8 * 0.03 + 1e-9  # the search did its job
    assert peak / px <= ENCODE_SEARCH_BYTES_PER_PIXEL[base], f"the rate search held {peak / px:.1f} B/px at its peak"


@pytest.mark.parametrize("version", [5, 6])
def test_predictor_bands_equal_the_whole_image_forward(monkeypatch, mosaic, version):
    """F v5's and v6's scores and saliency, run row band by row band, are its whole-image forward's (and
    ``kornia_ops.saliency_map``'s) values bit for bit, and no band of its edge term is taller than a band plus
    its context rows."""
    planes = np.asarray(agdl.decode(agdl.encode(mosaic[:200, :264], quality=40)).to_pil().convert("YCbCr"))
    net = learned._network("predictor", "agdl-f", version, "cpu")
    with torch.inference_mode():
        x = learned._whole_input(net, planes, "cpu")
        whole, sal_whole = net(x), saliency_map(x, net)
    rows_seen: list[int] = []
    edge = type(net).edge

    def spy(self, x):
        rows_seen.append(x.shape[-2])
        return edge(self, x)

    monkeypatch.setattr(type(net), "edge", spy)
    monkeypatch.setattr(learned, "BAND_PIXELS", 264 * 24)  # bands of 24 rows: 9 bands, the last one short
    scores = learned.run_network("predictor", "agdl-f", version, planes, None, "cpu")
    scores2, sal = learned.run_scores_and_saliency("agdl-f", version, planes, None, "cpu")
    assert len(rows_seen) == 2 * 9 and max(rows_seen) <= 24 + 2 * net.edge_halo
    np.testing.assert_array_equal(scores, whole[0, 0].numpy())
    np.testing.assert_array_equal(scores2, whole[0, 0].numpy())
    np.testing.assert_array_equal(sal, sal_whole[0, 0].numpy())
    np.testing.assert_array_equal(learned.run_saliency("agdl-f", version, planes, "cpu"), sal)
