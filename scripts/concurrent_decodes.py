"""Issue 25 item 1: N rounds of "16 decodes of one file in 8 threads" against a single decode.

Prints, per round, how many of the 16 outputs differ from the single-thread decode and whether oneDNN's
process-global switch was ever seen off during the round (a watcher thread samples it continuously).

    python scripts/concurrent_decodes.py --rounds 20
"""

from __future__ import annotations

import argparse
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from skimage import data

import agdl_plugins


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--decodes", type=int, default=16)
    ap.add_argument("--threads", type=int, default=8)
    a = ap.parse_args()
    arr = np.ascontiguousarray(data.astronaut()[:384, :512])
    blob = agdl_plugins.encode(arr, quality=30)
    ref = agdl_plugins.decode(blob).array
    print(f"file: {len(blob)} bytes, {arr.shape}, torch threads {torch.get_num_threads()}")
    bad_total, flag_off_rounds = 0, 0
    for r in range(a.rounds):
        seen: set[bool] = set()
        stop = threading.Event()

        def watch(seen: set[bool] = seen, stop: threading.Event = stop) -> None:
            while not stop.is_set():
                seen.add(torch._C._get_mkldnn_enabled())

        w = threading.Thread(target=watch)
        w.start()
        with ThreadPoolExecutor(a.threads) as pool:
            outs = list(pool.map(lambda _: agdl_plugins.decode(blob).array, range(a.decodes)))
        stop.set()
        w.join()
        bad = sum(not np.array_equal(o, ref) for o in outs)
        bad_total += bad
        flag_off_rounds += False in seen
        print(f"round {r + 1:2d}: {bad} of {a.decodes} differ; oneDNN switched off during round: {False in seen}")
    print(f"total: {bad_total} differing outputs in {a.rounds} rounds; rounds with oneDNN off: {flag_off_rounds}")


if __name__ == "__main__":
    main()
