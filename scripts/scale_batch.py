"""Batch throughput (#16): files/s and MP/s of encode and decode, serial vs ``--workers 2`` vs Ray, one run.

Usage: python scripts/scale_batch.py [--data ../shared/datasets] [--set kodak24] [--n 16] [--repeats 3]
       [--configs w1t2 w1t1 w2t1 ray2t1] [--json out.json]

Each measurement runs in a fresh process (``--child``) and times what a user waits for: engine start (process
pool spawn + torch import, or a local ``ray.init``), model loading and every file. Configurations are
interleaved (A B C A B C ...) so machine noise hits them alike; medians over repeats and ratios against the
serial run are printed. Peak RSS is reported per worker process (``getrusage`` in each worker, largest of the
batch). The ``threads=1`` configurations must write identical files, which is checked.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIGS = {  # name: (engine, workers, torch threads per worker)
    "w1t2": ("local", 1, 2),   # `agdl encode` today on 2 cores: one process, torch on both cores
    "w1t1": ("local", 1, 1),   # one core: the per-core figure
    "w2t1": ("local", 2, 1),   # `--workers 2`
    "ray2t1": ("ray", 2, 1),   # `--engine ray --workers 2` (local Ray instance with 2 CPUs)
}


def child(a: argparse.Namespace) -> None:
    """One batch in this process; prints one JSON line."""
    from agdl_plugins.apps import batch

    engine, workers, threads = CONFIGS[a.child]
    files = sorted(Path(a.inputs).iterdir())
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = ".agdl" if a.kind == "encode" else ".png"
    pairs = [(f, out / (f.stem + suffix)) for f in files]
    opts = {"device": "cpu"} if a.kind == "encode" else {"device": "cpu", "projection": None, "base_only": False}
    t0 = time.perf_counter()
    if engine == "ray":
        import ray

        import agdl_plugins.apps.ray as agdl_ray

        agdl_ray.init(num_cpus=workers, include_dashboard=False, logging_level="error", log_to_driver=False)
        t_start = time.perf_counter() - t0
        results = list(agdl_ray.run_files(a.kind, pairs, opts, threads=threads))
        ray.shutdown()
    elif workers > 1:
        t_start = 0.0
        results = list(batch.run_pool(a.kind, pairs, opts, workers, threads))
    else:
        t_start = 0.0
        results = list(batch.run_serial(a.kind, pairs, opts, threads))
    wall = time.perf_counter() - t0
    rss: dict[int, float] = {}
    for r in results:
        rss[r.pid] = max(rss.get(r.pid, 0.0), r.peak_rss_mb)
    print(json.dumps({
        "wall_s": wall, "engine_start_s": t_start, "files": len(results), "failed": sum(not r.ok for r in results),
        "mp": sum(r.pixels for r in results) / 1e6, "job_s": sum(r.seconds for r in results),
        "worker_peak_rss_mb": sorted(rss.values()), "driver_peak_rss_mb": batch.peak_rss_mb(),
    }))


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.iterdir()):
        h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()[:16]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/datasets")
    ap.add_argument("--set", default="kodak24", help="dataset folder with images/ (kodak24, duts-te, ...)")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--json", help="write every measurement and the summary here")
    ap.add_argument("--child", choices=list(CONFIGS), help=argparse.SUPPRESS)
    ap.add_argument("--kind", choices=["encode", "decode"], help=argparse.SUPPRESS)
    ap.add_argument("--inputs", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a)
        return 0
    src = sorted(p for p in (Path(a.data) / a.set / "images").iterdir() if p.suffix.lower() in (".png", ".jpg"))
    src = src[: a.n]
    if not src:
        sys.exit(f"no images under {Path(a.data) / a.set / 'images'}")
    work = Path(tempfile.mkdtemp(prefix="agdl_scale_batch_"))
    (work / "in").mkdir()
    for p in src:
        (work / "in" / p.name).symlink_to(p.resolve())
    runs: dict[tuple[str, str], list[dict]] = {}
    digests: dict[tuple[str, str], set[str]] = {}
    for kind in ("encode", "decode"):
        inputs = work / "in" if kind == "encode" else work / "ref_agdl"
        for rep in range(a.repeats):
            for name in a.configs:
                out = work / f"{kind}_{name}_{rep}"
                cmd = [sys.executable, __file__, "--child", name, "--kind", kind, "--inputs", str(inputs),
                       "--out", str(out)]
                res = subprocess.run(cmd, capture_output=True, text=True, check=False)
                line = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
                if res.returncode or not line:
                    sys.exit(f"{name} {kind} failed:\n{res.stderr[-3000:]}")
                m = json.loads(line[-1])
                runs.setdefault((kind, name), []).append(m)
                digests.setdefault((kind, name), set()).add(_digest(out))
                print(f"{kind:6} {name:7} rep {rep}: {m['files'] / m['wall_s']:.2f} files/s "
                      f"({m['wall_s']:.1f} s, start {m['engine_start_s']:.1f} s)", file=sys.stderr, flush=True)
                if kind == "encode" and rep == 0 and name == a.configs[0]:
                    out.rename(work / "ref_agdl")
    summary = []
    for (kind, name), ms in runs.items():
        wall = statistics.median(m["wall_s"] for m in ms)
        files, mp = ms[0]["files"], ms[0]["mp"]
        summary.append({"kind": kind, "config": name, "engine": CONFIGS[name][0], "workers": CONFIGS[name][1],
                        "threads": CONFIGS[name][2], "files": files, "mp": mp, "median_wall_s": wall,
                        "files_per_s": files / wall, "mp_per_s": mp / wall,
                        "engine_start_s": statistics.median(m["engine_start_s"] for m in ms),
                        "worker_peak_rss_mb": max(max(m["worker_peak_rss_mb"]) for m in ms),
                        "digests": sorted(digests[(kind, name)])})
    print(f"\n{len(src)} images from {a.set} ({summary[0]['mp']:.2f} MP), medians of {a.repeats}, "
          f"ratios against {a.configs[0]}\n")
    print("| op | config | engine | workers x threads | files/s | MP/s | ratio | engine start s | peak RSS/worker MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind in ("encode", "decode"):
        ref = next(s for s in summary if s["kind"] == kind and s["config"] == a.configs[0])
        for s in (s for s in summary if s["kind"] == kind):
            print(f"| {kind} | {s['config']} | {s['engine']} | {s['workers']} x {s['threads']} | "
                  f"{s['files_per_s']:.2f} | {s['mp_per_s']:.3f} | {s['files_per_s'] / ref['files_per_s']:.2f} | "
                  f"{s['engine_start_s']:.1f} | {s['worker_peak_rss_mb']:.0f} |")
    for kind in ("encode", "decode"):
        one = {s["config"]: s["digests"] for s in summary if s["kind"] == kind and s["threads"] == 1}
        same = len({d for ds in one.values() for d in ds}) == 1
        print(f"\n{kind}: threads=1 configurations {sorted(one)} wrote identical files: {same}")
    if a.json:
        Path(a.json).write_text(json.dumps({"summary": summary, "runs": {f"{k}/{n}": v for (k, n), v in runs.items()}},
                                           indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
