"""``agdl bench`` with the BASE record never packed (``BASZ`` off): the A/B run behind BENCHMARKS §35.

    python scripts/bench_nopack.py bench IMAGES ... (the arguments of ``agdl``)
"""

from __future__ import annotations

import sys

from agdl_plugins.apps import cli
from agdl_plugins.format import base_pack

if __name__ == "__main__":
    base_pack.pack = lambda base: None  # every base stays a plain BASE record
    sys.exit(cli.main(sys.argv[1:]))
