"""docs/KORNIA_OPS.md: every ```python block runs, in order, in one namespace (issue 31)."""

from __future__ import annotations

import re
from pathlib import Path

import torch

DOC = Path(__file__).resolve().parents[2] / "docs" / "KORNIA_OPS.md"


def blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", DOC.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_tutorial_snippets_run() -> None:
    code = blocks()
    assert len(code) >= 10  # the tutorial's blocks were found (a regex that matches nothing cannot pass)
    ns: dict = {"__name__": "kornia_ops_doc"}
    threads = torch.get_num_threads()
    try:
        for i, src in enumerate(code):
            exec(compile(src, f"{DOC.name}[block {i}]", "exec"), ns)  # noqa: S102
    finally:
        torch.set_num_threads(threads)
        torch._dynamo.reset()
    assert "out" in ns and "compiled" in ns  # reached the first and the last section
