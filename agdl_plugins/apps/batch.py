"""Batch work: one file's encode/decode job, and a bounded process pool that runs many on one machine.

The CLI's serial loop and every engine (the local pool here, Ray in :mod:`agdl_plugins.apps.ray`) call the same
:func:`encode_file` / :func:`decode_file`, so every path writes the same bytes for the same input and
thread count. A job reads its input and writes its output itself (atomically: temporary file +
``os.replace``) and returns a small :class:`Result`: pixels never cross process boundaries, so memory is
bounded by the images in flight (at most ``2 x workers``), not by the batch.

Bytes and thread counts: the encoder's critical *set* is drift-guarded, but the float threshold stored in
the header comes from network F's scores, which can differ in the last bit between torch thread counts.
Every worker therefore pins torch to a fixed thread count (:func:`pin_threads`); serial and parallel runs
give identical files when they use the same ``threads`` (the CLI's ``--threads``).
"""

from __future__ import annotations

import io
import os
import resource
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Exceptions a job reports as a failed file; anything else in a worker is reported too (with its type)
#: rather than stopping the batch.
FILE_ERRORS = (OSError, ValueError)


@dataclass(frozen=True)
class Result:
    """What one job reports back: where it wrote, how much, and how it went."""

    src: str
    dst: str
    error: str | None = None
    nbytes: int = 0  # bytes written
    width: int = 0
    height: int = 0
    mode: str = ""
    seconds: float = 0.0
    pid: int = 0
    peak_rss_mb: float = 0.0  # the worker process's peak RSS so far

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def pixels(self) -> int:
        return self.width * self.height


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (Linux reports KiB, macOS bytes)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1 << 20) if sys.platform == "darwin" else r / 1024


def pin_threads(threads: int | None) -> None:
    """Fix torch's intra-op thread count (``None``: leave torch's default). Imports torch only when set."""
    if threads is None:
        return
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(max(1, int(threads)))


def default_threads(workers: int) -> int:
    """Threads per worker so that ``workers`` workers fill the machine without oversubscribing it."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cpus // max(1, workers))


def worker_setup(threads: int | None = None) -> None:
    """Initialise a worker process AGDL starts (pool initializer, Ray actors): pins torch threads.

    Jobs read AGDL inputs through the core (:func:`open_image`), so workers need no Pillow plugin; a user's
    own code in a spawned worker registers it with ``pillow_plugin.worker_init`` (Ray: :data:`ray.SETUP_HOOK`).
    """
    pin_threads(threads)


def open_image(src: Path) -> Any:
    """An input image as a loaded PIL image: AGDL files (and JPEGs carrying AGDL segments) decoded refined by
    the core, with their EXIF/ICC/XMP in ``info``; anything else opened by Pillow."""
    from PIL import Image

    from agdl_plugins import api
    from agdl_plugins.format.container import accept
    from agdl_plugins.format.jpeg_container import has_segments, is_jpeg

    with open(src, "rb") as f:
        head = f.read(16)
        f.seek(0)
        agdl = accept(head) or (is_jpeg(head) and has_segments(f))
    if not agdl:
        im = Image.open(src)
        im.load()  # a file Pillow opened by name is closed after load()
        return im
    img = api.decode(src)
    im = img.to_pil()
    for key in ("exif", "icc_profile", "xmp"):
        if getattr(img.info, key):
            im.info[key] = getattr(img.info, key)
    return im


def _result(src: Path, dst: Path, t0: float, **kw: Any) -> Result:
    return Result(str(src), str(dst), seconds=time.perf_counter() - t0, pid=os.getpid(),
                  peak_rss_mb=peak_rss_mb(), **kw)


def encode_file(src: str | Path, dst: str | Path, opts: dict[str, Any]) -> Result:
    """Encode one image file to ``dst`` (``.agdl``; or a plain/AGDL-in-JPEG ``.jpg``) with encoder ``opts``
    (``roi_dir``: a folder holding a ROI mask per input, ``agdl encode --roi-dir``)."""
    from agdl_plugins import api

    src, dst, t0 = Path(src), Path(dst), time.perf_counter()
    try:
        if opts.get("roi_dir") is not None:  # agdl encode --roi-dir: the mask named after this input
            from agdl_plugins.apps.cli_args import roi_for

            opts = {**{k: v for k, v in opts.items() if k != "roi_dir"}, "roi": roi_for(src, opts["roi_dir"])}
        im = open_image(src)
        if dst.suffix.lower() in (".jpg", ".jpeg") and opts.get("container", "agdl") != "jpeg":
            base = opts.get("base") or "jpeg"  # a plain .jpg: the JPEG base layer unless asked otherwise
            if base not in ("jpeg", "jpeg-saliency"):
                raise ValueError(f"a .jpg output needs --base jpeg or jpeg-saliency, not {base}")
            data = api.encode_base_layer(im, base=base, quality=opts.get("quality", 30))
        else:
            data = api.encode(im, **opts)
        atomic_write(dst, data)
        return _result(src, dst, t0, nbytes=len(data), width=im.width, height=im.height, mode=im.mode)
    except FILE_ERRORS as e:
        return _result(src, dst, t0, error=str(e))


def decode_file(src: str | Path, dst: str | Path, opts: dict[str, Any]) -> Result:
    """Decode one ``.agdl`` (or AGDL-in-JPEG) file to an image file; the format follows ``dst``'s suffix."""
    from PIL import Image

    from agdl_plugins import api

    src, dst, t0 = Path(src), Path(dst), time.perf_counter()
    try:
        img = api.decode(src, **opts)
        buf = io.BytesIO()
        kw: dict[str, Any] = {"exif": img.info.exif} if img.info.exif else {}
        if img.info.icc_profile:
            kw["icc_profile"] = img.info.icc_profile
        fmt = Image.registered_extensions().get(dst.suffix.lower(), "PNG")
        Image.fromarray(img.array).save(buf, format=fmt, **kw)
        atomic_write(dst, buf.getvalue())
        h, w = img.array.shape[:2]
        return _result(src, dst, t0, nbytes=buf.tell(), width=w, height=h, mode=img.mode)
    except FILE_ERRORS as e:
        return _result(src, dst, t0, error=str(e))


JOBS: dict[str, Callable[[str | Path, str | Path, dict[str, Any]], Result]] = {
    "encode": encode_file,
    "decode": decode_file,
}


def run_job(kind: str, src: str, dst: str, opts: dict[str, Any], threads: int | None = None) -> Result:
    """Run one job, turning any unexpected exception into a failed :class:`Result` (the batch goes on)."""
    try:
        pin_threads(threads)
        return JOBS[kind](src, dst, opts)
    except Exception as e:  # noqa: BLE001 - one bad file must not stop the others
        return Result(str(src), str(dst), error=f"{type(e).__name__}: {e}", pid=os.getpid())


def run_serial(kind: str, pairs: Iterable[tuple[Path, Path]], opts: dict[str, Any],
               threads: int | None = None) -> Iterator[Result]:
    """The one-process path (``--workers 1``): jobs in order, in this process.

    ``threads`` (asked for explicitly) is torch's thread count while the jobs run; the caller's count is
    restored when the generator finishes or is closed. ``None`` leaves torch as it is.
    """
    import torch

    before = torch.get_num_threads()
    try:
        pin_threads(threads)
        for src, dst in pairs:
            yield JOBS[kind](src, dst, opts)
    finally:
        pin_threads(before if threads is not None else None)


def run_pool(kind: str, pairs: list[tuple[Path, Path]], opts: dict[str, Any], workers: int,
             threads: int | None = None, start_method: str = "spawn") -> Iterator[Result]:
    """Run jobs on ``workers`` processes; yield each :class:`Result` as it completes (not in input order).

    At most ``2 x workers`` jobs are queued at once, so memory does not grow with the batch. Workers are
    started with ``spawn`` (no forked torch/OpenMP state) and set up by :func:`worker_setup`. A worker that
    dies (killed for memory, say) fails the files it held; the rest of the batch is then reported as failed.
    """
    import multiprocessing as mp

    threads = default_threads(workers) if threads is None else threads
    todo = iter(pairs)
    running: dict[Future[Result], tuple[Path, Path]] = {}
    ctx = mp.get_context(start_method)
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=worker_setup, initargs=(threads,)) as ex:
        def submit_next() -> bool:
            nxt = next(todo, None)
            if nxt is None:
                return False
            running[ex.submit(run_job, kind, str(nxt[0]), str(nxt[1]), opts, threads)] = nxt
            return True

        while len(running) < 2 * workers and submit_next():
            pass
        try:
            yield from _drain(running, todo, submit_next)
        finally:  # Ctrl-C or a consumer that stops early: drop the queued files, let the running ones end
            ex.shutdown(wait=True, cancel_futures=True)


def _drain(running: dict[Future[Result], tuple[Path, Path]], todo: Iterator[tuple[Path, Path]],
           submit_next: Callable[[], bool]) -> Iterator[Result]:
    """Yield results as futures complete, topping the queue up after each; a broken pool fails the rest."""
    from concurrent.futures.process import BrokenProcessPool

    while running:
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for fut in done:
            src, dst = running.pop(fut)
            try:
                yield fut.result()
            except BrokenProcessPool as e:
                yield Result(str(src), str(dst), error=f"worker process died: {e}")
                for src2, dst2 in todo:
                    yield Result(str(src2), str(dst2), error="not run: the worker pool broke")
            except Exception as e:  # noqa: BLE001
                yield Result(str(src), str(dst), error=f"{type(e).__name__}: {e}")
            else:
                submit_next()
