"""Concurrent decodes: bit-identical to a single decode, and no process-global PyTorch state touched.

Issue 25 item 1: ``DetConv2d`` used to switch oneDNN off process-wide around each convolution, so the
convolutions of every other thread (AGDL's own decodes, the caller's models) took another code path while
one ran: 0-4 of 16 concurrent decodes differed by +-1 from a single decode. A decoder must give the same
pixels whatever else runs and must not change the caller's settings.
"""

from __future__ import annotations

import ast
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

import agdl_plugins

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ("agdl_plugins", "pillow_plugin", "imageio_plugin", "kornia_ops", "models")
# Calls that change process-wide PyTorch / Python state; library code must never make them.
GLOBAL_SETTERS = {
    "_set_mkldnn_enabled", "set_num_threads", "set_num_interop_threads", "use_deterministic_algorithms",
    "set_default_dtype", "set_flush_denormal", "set_grad_enabled", "filterwarnings", "simplefilter",
    "manual_seed", "set_float32_matmul_precision",
}
# Training and export scripts run as programs (python -m models.training.*), not inside a user's process.
PROGRAMS = ("train_", "bench_", "derive_", "export_", "__main__")


@pytest.fixture(scope="module")
def learned_file() -> bytes:
    """A 192x256 RGB file with the default networks (F and G run, refinement present)."""
    from skimage import data

    arr = np.ascontiguousarray(data.astronaut()[100:292, 120:376])
    data_ = agdl_plugins.encode(arr, quality=30)
    assert agdl_plugins.read_info(data_).n_measurements > 0
    return data_


class _UnrelatedModel(torch.nn.Module):
    """Someone else's network running in the same process (1x1 and 3x3 convolutions, many channels)."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(7)
        self.a = torch.nn.Conv2d(96, 64, 1)
        self.b = torch.nn.Conv2d(64, 64, 3, padding=1)
        for p in self.parameters():
            p.data = torch.randn(p.shape, generator=g) * 0.1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x)))


def test_sixteen_decodes_in_eight_threads_match_a_single_decode(learned_file: bytes) -> None:
    ref = agdl_plugins.decode(learned_file).array
    model = _UnrelatedModel().eval()
    x = torch.randn(1, 96, 48, 64, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        model_ref = model(x)

    flags: list[bool] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            flags.append(torch._C._get_mkldnn_enabled())

    def other_model() -> list[torch.Tensor]:
        outs = []
        while not stop.is_set():
            with torch.inference_mode():
                outs.append(model(x))
        return outs

    watcher = threading.Thread(target=watch)
    watcher.start()
    with ThreadPoolExecutor(2) as side:
        other = side.submit(other_model)
        try:
            for _ in range(2):
                with ThreadPoolExecutor(8) as pool:
                    outs = list(pool.map(lambda _: agdl_plugins.decode(learned_file).array, range(16)))
                for out in outs:
                    np.testing.assert_array_equal(out, ref)
        finally:
            stop.set()
            watcher.join()
        model_outs = other.result()
    assert flags and all(flags), "oneDNN was switched off while AGDL decoded"
    assert model_outs
    for out in model_outs:  # the caller's model computes exactly what it computes alone
        torch.testing.assert_close(out, model_ref, rtol=0, atol=0)


GLOBAL_RECEIVERS = {"torch", "torch._C", "warnings", "np.random", "numpy.random", "random", "torch.cuda",
                    "torch.backends.mkldnn", "torch.backends.cudnn", "torch.backends.cuda.matmul"}
# Assignments to these prefixes change every user of the module (Pillow's pixel limit, cuDNN flags, ...).
GLOBAL_ATTRS = ("torch.backends.", "Image.MAX_IMAGE_PIXELS", "PIL.Image.MAX_IMAGE_PIXELS", "warnings.filters")
# Functions that run only in processes AGDL owns (pool / Ray workers it starts) or in the `agdl bench`
# program; everything else in the library runs inside other people's programs.
OWN_PROCESS = {("agdl_plugins/apps/batch.py", "pin_threads")}
PROGRAM_DIRS = ("agdl_plugins/apps/bench/", "models/training/")


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


def _offences(path: Path, rel: str) -> list[str]:
    found = []

    def visit(node: ast.AST, func: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else func
            if (rel, name) in OWN_PROCESS:
                continue
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute):
                if child.func.attr in GLOBAL_SETTERS and _dotted(child.func.value) in GLOBAL_RECEIVERS:
                    found.append(f"{rel}:{child.lineno} {_dotted(child.func)}()")
            if isinstance(child, ast.Assign | ast.AugAssign):
                targets = child.targets if isinstance(child, ast.Assign) else [child.target]
                for t in targets:
                    if _dotted(t).startswith(GLOBAL_ATTRS):
                        found.append(f"{rel}:{child.lineno} {_dotted(t)} =")
            visit(child, name)

    visit(ast.parse(path.read_text(), str(path)), "<module>")
    return found


def test_library_code_never_sets_process_global_state() -> None:
    offenders = []
    for pkg in LIBRARY:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if path.name.startswith(PROGRAMS) or rel.startswith(PROGRAM_DIRS):
                continue
            offenders += _offences(path, rel)
    assert not offenders, "process-global state changed by library code:\n" + "\n".join(offenders)


def test_the_global_state_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    """The scan above is only as good as its matcher: it must flag each kind of offence it names."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import torch, warnings\n"
        "from PIL import Image\n"
        "def f(m):\n"
        "    torch._C._set_mkldnn_enabled(False)\n"
        "    torch.set_num_threads(1)\n"
        "    warnings.simplefilter('ignore')\n"
        "    torch.backends.cudnn.benchmark = True\n"
        "    Image.MAX_IMAGE_PIXELS = None\n"
        "    torch.Generator().manual_seed(1)\n"  # a local generator: allowed
    )
    assert len(_offences(bad, "bad.py")) == 5


def test_decode_leaves_torch_settings_as_it_found_them(learned_file: bytes) -> None:
    before = (torch.get_num_threads(), torch.is_grad_enabled(), torch._C._get_mkldnn_enabled(),
              torch.get_default_dtype(), torch.are_deterministic_algorithms_enabled())
    agdl_plugins.decode(learned_file)
    agdl_plugins.analyze(learned_file)
    after = (torch.get_num_threads(), torch.is_grad_enabled(), torch._C._get_mkldnn_enabled(),
             torch.get_default_dtype(), torch.are_deterministic_algorithms_enabled())
    assert after == before
