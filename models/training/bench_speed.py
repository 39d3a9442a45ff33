"""Inference speed of G and F: python -m models.training.bench_speed [--threads 1] [--size 512]"""
import argparse
import time

import torch

from .. import weights as W


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    x = torch.rand(1, 1, a.size, a.size)
    q = torch.full((1, 64), 10 / 255.0)
    for name, loader in (("restorer G", W.load_restorer), ("predictor F", W.load_predictor)):
        try:
            m = loader()
        except Exception as e:  # noqa: BLE001
            print(name, "not available:", e)
            continue
        ts = []
        with torch.inference_mode():
            m(x, q)
            for _ in range(a.reps):
                t = time.perf_counter()
                m(x, q)
                ts.append(time.perf_counter() - t)
        mp = a.size * a.size / 1e6
        print(f"{name}: {a.size}x{a.size}, {a.threads} thread(s): best {min(ts)*1e3:.0f} ms "
              f"= {mp / min(ts):.2f} MP/s (median {mp / sorted(ts)[len(ts)//2]:.2f})")


if __name__ == "__main__":
    main()
