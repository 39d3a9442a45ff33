"""Pillow: several threads opening and loading at once give the same pixels as one thread."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import agdl_plugins

N_THREADS = 8


@pytest.fixture(scope="module")
def files(tmp_path_factory, rgb_array: np.ndarray, gray_array: np.ndarray, rgba_array: np.ndarray):
    """Four different files (modes, crops, qualities) and their single-thread decodes."""
    folder = tmp_path_factory.mktemp("threads")
    sources = [
        (rgb_array, {"quality": 30}),
        (gray_array, {"quality": 50}),
        (rgba_array, {"quality": 40}),
        (np.ascontiguousarray(rgb_array[::-1, 16:112]), {"quality": 60}),
    ]
    out = []
    for i, (arr, opts) in enumerate(sources):
        path = folder / f"f{i}.agdl"
        Image.fromarray(arr).save(path, **opts)
        with Image.open(path) as im:
            out.append((path, np.asarray(im).copy()))
    return out


def _open_and_load(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        im.load()
        return np.asarray(im).copy()


def test_threads_different_files(files) -> None:
    jobs = [files[i % len(files)] for i in range(N_THREADS)]
    with ThreadPoolExecutor(N_THREADS) as pool:
        results = list(pool.map(_open_and_load, [path for path, _ in jobs]))
    for (_, ref), got in zip(jobs, results, strict=True):
        np.testing.assert_array_equal(got, ref)


def test_threads_identical_file(files) -> None:
    path, ref = files[0]
    with ThreadPoolExecutor(N_THREADS) as pool:
        results = list(pool.map(_open_and_load, [path] * N_THREADS))
    for got in results:
        np.testing.assert_array_equal(got, ref)


def test_threads_share_one_image_object(files, count_calls) -> None:
    path, ref = files[0]
    decode_calls = count_calls("decode")
    with Image.open(io.BytesIO(path.read_bytes())) as im:
        with ThreadPoolExecutor(N_THREADS) as pool:
            results = list(pool.map(lambda _: np.asarray(im).copy(), range(N_THREADS)))
    assert len(decode_calls) == 1  # load() is serialised per image: decoded once
    for got in results:
        np.testing.assert_array_equal(got, ref)


def test_threads_file_objects_and_previews(files) -> None:
    def preview(path: Path) -> np.ndarray:
        with Image.open(io.BytesIO(path.read_bytes())) as im:
            im.draft(None, (im.width // 2, im.height // 2))
            return np.asarray(im).copy()

    refs = [agdl_plugins.decode_base_preview(p.read_bytes()).array for p, _ in files]
    with ThreadPoolExecutor(N_THREADS) as pool:
        results = list(pool.map(preview, [files[i % len(files)][0] for i in range(N_THREADS)]))
    for i, got in enumerate(results):
        np.testing.assert_array_equal(got, refs[i % len(files)])
