"""Spawned worker processes (#16): torch DataLoader with ``multiprocessing_context="spawn"`` opening ``.agdl``."""

from __future__ import annotations

import gc

import numpy as np
import pytest


@pytest.mark.timeout(300)
def test_dataloader_spawn_workers_open_agdl(tmp_path, rgb_array):
    """torch DataLoader with spawn workers: AGDL is lost there unless worker_init_fn registers it."""
    import _spawn_dataset
    import torch
    from PIL import UnidentifiedImageError

    import agdl_plugins as agdl
    import pillow_plugin

    paths = []
    for i in range(2):
        p = tmp_path / f"d{i}.agdl"
        p.write_bytes(agdl.encode(rgb_array, quality=40 + i, predictor="edge-sobel", restorer="identity"))
        paths.append(str(p))
    ds = _spawn_dataset.AgdlFiles(paths)
    kw = {"batch_size": None, "num_workers": 2, "multiprocessing_context": "spawn"}
    failing = iter(torch.utils.data.DataLoader(ds, **kw))
    with pytest.raises(UnidentifiedImageError):  # the known failure mode: a fresh process has no AGDL plugin
        list(failing)
    # shut the failed loader's workers down now: the exception's traceback keeps its iterator alive, and when the
    # garbage collector ended it during the next loader's start-up a worker still starting found its queue's
    # semaphore unlinked and exited with code 1, which the next loader reported as its own (seen twice under load)
    del failing
    gc.collect()
    got = list(torch.utils.data.DataLoader(ds, worker_init_fn=pillow_plugin.worker_init, **kw))
    assert [tuple(x.shape) for x in got] == [rgb_array.shape] * 2
    for x, p in zip(got, paths):
        assert np.array_equal(x.numpy(), agdl.decode(p, restorer="identity").array)
