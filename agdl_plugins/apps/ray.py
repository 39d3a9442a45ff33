"""Ray adapter: AGDL batches on a Ray cluster, and Ray Data columns encoded/decoded with AGDL.

Optional (``pip install "agdl[ray]"``); importing :mod:`agdl_plugins` never imports this module. Everything
here is an adapter over :mod:`agdl_plugins.api` / :mod:`agdl_plugins.apps.batch`, so bytes are those of a serial
encode with the same torch thread count::

    import ray, agdl_plugins.apps.ray as agdl_ray
    agdl_ray.init()                                   # ray.init + the AGDL worker setup hook
    ds = ray.data.read_images("s3://bucket/photos/")  # column "image"
    ds = agdl_ray.encode_dataset(ds, quality=30)      # adds column "agdl" (bytes)
    agdl_ray.write_agdl(ds, "s3://bucket/agdl/", column="image", quality=30)  # or, with Pillow's plugin:
    ds.write_images("s3://bucket/agdl/", column="image", file_format="agdl")
    back = agdl_ray.read_agdl("s3://bucket/agdl/")    # column "image" (uint8 arrays), "path"

Pillow plugins live in the process that imported them: a Ray worker starts without AGDL registered, so
``write_images(..., file_format="agdl")`` would fail there with ``KeyError: 'AGDL'``. :func:`init` (or
``ray.init(runtime_env=agdl_ray.runtime_env())``) installs :data:`SETUP_HOOK`, which registers AGDL in every
worker the job starts. GPUs: pass ``num_gpus`` (actors hold the models on their GPU, ``device="auto"``
picks it); :func:`run_files` does so by itself when the cluster has GPUs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import ray
from ray.data.datasource.file_datasink import RowBasedFileDatasink

from agdl_plugins.apps import batch

#: ``runtime_env["worker_process_setup_hook"]``: registers AGDL with Pillow in each Ray worker (for
#: ``Dataset.write_images(file_format="agdl")`` and users' own ``Image.open``). Named, not imported: the Pillow
#: adapter sits above this core, which never imports it; Ray imports it in the worker.
SETUP_HOOK = "pillow_plugin.worker_init"


def runtime_env(base: dict[str, Any] | None = None) -> dict[str, Any]:
    """``base`` (a Ray runtime_env dict) plus the AGDL worker setup hook."""
    env = dict(base or {})
    env.setdefault("worker_process_setup_hook", SETUP_HOOK)
    return env


_runtime_env = runtime_env


def init(address: str | None = None, *, runtime_env: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """``ray.init`` with the setup hook added to ``runtime_env`` (a local cluster when ``address`` is None).

    No-op when Ray is already initialised (then pass :func:`runtime_env` to your own ``ray.init``).
    """
    if ray.is_initialized():
        return None
    return ray.init(address=address, runtime_env=_runtime_env(runtime_env), **kwargs)


# -- files on a shared file system (the CLI's --engine ray) ------------------------------------------------


@ray.remote
class _GpuWorker:
    """One GPU actor: the models stay cached on its device between files."""

    def __init__(self, threads: int | None) -> None:
        batch.worker_setup(threads)
        self.threads = threads

    def run(self, kind: str, src: str, dst: str, opts: dict[str, Any]) -> batch.Result:
        return batch.run_job(kind, src, dst, opts, self.threads)


def run_files(kind: str, pairs: list[tuple[Path, Path]], opts: dict[str, Any], *, threads: int = 1,
              gpus_per_worker: float = 1.0) -> Iterator[batch.Result]:
    """Run ``encode``/``decode`` jobs (paths every node can reach) on the connected cluster, as they finish.

    With GPUs in the cluster: ``GPUs / gpus_per_worker`` actors, each with ``num_gpus=gpus_per_worker``
    (models cached on the GPU, ``device="auto"`` finds it). Otherwise one CPU task per file, reserving
    ``threads`` CPUs and pinning torch to as many threads; at most 2 tasks per CPU are queued.
    """
    names = {str(Path(s).resolve()): str(s) for s, _ in pairs}  # report the names the user gave
    for r in _run_resolved(kind, [(Path(s).resolve(), Path(d).resolve()) for s, d in pairs], opts, threads,
                           gpus_per_worker):
        yield dataclasses.replace(r, src=names.get(r.src, r.src))


def _run_resolved(kind: str, pairs: list[tuple[Path, Path]], opts: dict[str, Any], threads: int,
                  gpus_per_worker: float) -> Iterator[batch.Result]:
    res = ray.cluster_resources()
    if res.get("GPU", 0) >= gpus_per_worker > 0:
        from ray.util import ActorPool

        n = int(res["GPU"] // gpus_per_worker)
        actors = [_GpuWorker.options(num_gpus=gpus_per_worker).remote(threads) for _ in range(n)]
        pool = ActorPool(actors)
        yield from pool.map_unordered(lambda a, p: a.run.remote(kind, str(p[0]), str(p[1]), opts), pairs)
        return
    task = ray.remote(num_cpus=threads)(batch.run_job)
    limit = max(2, 2 * int(res.get("CPU", 1) // threads))
    todo, running = iter(pairs), {}
    while True:
        while len(running) < limit and (nxt := next(todo, None)) is not None:
            running[task.remote(kind, str(nxt[0]), str(nxt[1]), opts, threads)] = nxt
        if not running:
            return
        done, _ = ray.wait(list(running), num_returns=1)
        for ref in done:
            src, dst = running.pop(ref)
            try:
                yield ray.get(ref)
            except Exception as e:  # noqa: BLE001 - a dead worker fails its file, not the batch
                yield batch.Result(str(src), str(dst), error=f"{type(e).__name__}: {e}")


# -- Ray Data ----------------------------------------------------------------------------------------------


def _stack(items: list[np.ndarray]) -> np.ndarray:
    """One (B, ...) array when the shapes agree, else an object array (Ray's variable-shaped tensors)."""
    if items and all(a.shape == items[0].shape for a in items):
        return np.stack(items)
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


class AgdlEncoder:
    """``map_batches`` UDF: encodes ``column`` (uint8 image arrays) into ``output_column`` (AGDL bytes)."""

    def __init__(self, column: str = "image", output_column: str = "agdl", threads: int | None = None,
                 **options: Any) -> None:
        from agdl_plugins.options import validate_encode_options

        validate_encode_options(**options)
        batch.worker_setup(threads)
        self.column, self.output_column, self.options = column, output_column, options

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from agdl_plugins import api

        data = [api.encode(np.asarray(img), **self.options) for img in rows[self.column]]
        out = np.empty(len(data), dtype=object)
        out[:] = data
        return {**rows, self.output_column: out}


class AgdlDecoder:
    """``map_batches`` UDF: decodes ``column`` (AGDL bytes) into ``output_column`` (uint8 arrays)."""

    def __init__(self, column: str = "agdl", output_column: str = "image", threads: int | None = None,
                 **options: Any) -> None:
        batch.worker_setup(threads)
        self.column, self.output_column, self.options = column, output_column, options

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from agdl_plugins import api

        images = [api.decode(bytes(b), **self.options).array for b in rows[self.column]]
        return {**rows, self.output_column: _stack(images)}


def _map(ds: Any, udf: type, kwargs: dict[str, Any], concurrency: int | tuple[int, int] | None, num_gpus: float | None,
         batch_size: int) -> Any:
    if concurrency is None:
        res = ray.cluster_resources()
        per = num_gpus if num_gpus else float(kwargs.get("threads") or 1)
        n = max(1, int(res.get("GPU" if num_gpus else "CPU", 1) // per))
        concurrency = (1, n) if n > 1 else 1  # autoscaling: a fixed pool of all CPUs would starve the read
    remote = {"num_gpus": num_gpus} if num_gpus else {"num_cpus": kwargs.get("threads") or 1}
    return ds.map_batches(udf, fn_constructor_kwargs=kwargs, concurrency=concurrency, batch_size=batch_size,
                          **remote)


def encode_dataset(ds: Any, column: str = "image", output_column: str = "agdl", *, threads: int = 1,
                   concurrency: int | tuple[int, int] | None = None, num_gpus: float | None = None, batch_size: int = 4,
                   **options: Any) -> Any:
    """A Dataset with ``output_column`` = ``agdl_plugins.encode(row[column], **options)`` (actor pool).

    ``num_gpus`` per actor (e.g. 1 or 0.5) runs the networks on GPUs; ``concurrency`` defaults to one actor
    per ``threads`` CPUs (or per ``num_gpus`` GPUs) of the cluster.
    """
    kw = {"column": column, "output_column": output_column, "threads": threads, **options}
    return _map(ds, AgdlEncoder, kw, concurrency, num_gpus, batch_size)


def decode_dataset(ds: Any, column: str = "agdl", output_column: str = "image", *, threads: int = 1,
                   concurrency: int | tuple[int, int] | None = None, num_gpus: float | None = None, batch_size: int = 4,
                   **options: Any) -> Any:
    """A Dataset with ``output_column`` = ``agdl_plugins.decode(row[column], **options).array``."""
    kw = {"column": column, "output_column": output_column, "threads": threads, **options}
    return _map(ds, AgdlDecoder, kw, concurrency, num_gpus, batch_size)


def read_agdl(paths: str | list[str], *, include_paths: bool = True, **decode_kwargs: Any) -> Any:
    """``ray.data.read_binary_files`` + :func:`decode_dataset`: columns ``image`` (and ``path``)."""
    ds = ray.data.read_binary_files(paths, include_paths=include_paths)
    return decode_dataset(ds, column="bytes", **decode_kwargs).drop_columns(["bytes"])


class AgdlDatasink(RowBasedFileDatasink):
    """Writes one ``.agdl`` file per row of ``column`` with encoder options (``ds.write_datasink(sink)``)."""

    def __init__(self, path: str, column: str = "image", *, threads: int | None = 1,
                 datasink_kwargs: dict[str, Any] | None = None, **options: Any) -> None:
        from agdl_plugins.options import validate_encode_options

        validate_encode_options(**options)
        super().__init__(path, file_format="agdl", **(datasink_kwargs or {}))
        self.column, self.threads, self.options = column, threads, options

    def write_row_to_file(self, row: dict[str, Any], file: Any) -> None:
        from agdl_plugins import api

        batch.pin_threads(self.threads)
        file.write(api.encode(np.asarray(row[self.column]), **self.options))


def write_agdl(ds: Any, path: str, column: str = "image", **options: Any) -> None:
    """Write ``ds[column]`` as ``.agdl`` files under ``path`` (any pyarrow file system: local, s3://, gs://)."""
    ds.write_datasink(AgdlDatasink(path, column, **options))


def cluster_summary() -> dict[str, float]:
    """CPUs and GPUs of the connected cluster (for logs and the CLI)."""
    res = ray.cluster_resources()
    return {"CPU": float(res.get("CPU", 0)), "GPU": float(res.get("GPU", 0)), "nodes": float(len(ray.nodes()))}


__all__ = [
    "SETUP_HOOK", "AgdlDatasink", "AgdlDecoder", "AgdlEncoder", "cluster_summary", "decode_dataset",
    "encode_dataset", "init", "read_agdl", "run_files", "runtime_env", "write_agdl",
]
