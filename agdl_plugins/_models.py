"""Import the project's ``models`` package even when the user's own top-level ``models/`` shadows it.

Users' projects often have a ``models`` package of their own on ``sys.path`` first. We load ours from
the directory beside ``agdl_plugins`` under the private name ``_agdl_models`` (its modules use
relative imports only), so decoding never picks up a stranger's code.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path
from types import ModuleType

_NAME = "_agdl_models"
_lock = threading.Lock()
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


def agdl_models() -> ModuleType:
    """The AGDL ``models`` package (cached in ``sys.modules['_agdl_models']``)."""
    with _lock:
        mod = sys.modules.get(_NAME)
        if mod is not None:
            return mod
        init = MODELS_DIR / "__init__.py"
        if not init.exists():
            raise ImportError(f"AGDL models package not found at {MODELS_DIR}")
        spec = importlib.util.spec_from_file_location(
            _NAME, init, submodule_search_locations=[str(MODELS_DIR)]
        )
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[_NAME] = mod
        try:
            spec.loader.exec_module(mod)
        except BaseException:
            del sys.modules[_NAME]
            raise
        return mod


def models_submodule(name: str) -> ModuleType:
    """``models.<name>`` of the AGDL package, e.g. ``models_submodule("weights")``."""
    agdl_models()
    return importlib.import_module(f"{_NAME}.{name}")
