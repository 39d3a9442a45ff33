"""The >>> examples of every kornia_ops module, inside the README's plain ``pytest -q`` run (issue 31).

``.ci/run`` also runs ``pytest --doctest-modules kornia_ops`` (pytest's own collector, one item per docstring);
this test makes the same examples fail the plain test command, which collects only ``tests/``.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
import torch

import kornia_ops

MODULES = sorted(m.name for m in pkgutil.iter_modules(kornia_ops.__path__, "kornia_ops."))


def test_every_module_found() -> None:
    assert {"kornia_ops.mask", "kornia_ops.projection", "kornia_ops.sensing"} <= set(MODULES)


@pytest.mark.parametrize("name", ["kornia_ops", *MODULES])
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    torch.manual_seed(0)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
    if name in ("kornia_ops.mask", "kornia_ops.projection", "kornia_ops.sensing", "kornia_ops.dct"):
        assert result.attempted > 0
