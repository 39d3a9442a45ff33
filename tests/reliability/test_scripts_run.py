"""Every script in scripts/ and every training program still starts (``--help``) after code moves: they are
run by hand from a checkout, so nothing else would notice an import that broke."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p.name for p in (ROOT / "scripts").glob("*.py"))
LIBRARIES = ("__init__", "cs", "data", "runlog")  # imported by the programs, not run
PROGRAMS = sorted(p.stem for p in (ROOT / "models" / "training").glob("*.py") if p.stem not in LIBRARIES)


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_starts(name: str) -> None:
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / name), "--help"], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "usage" in r.stdout.lower()


@pytest.mark.parametrize("name", PROGRAMS)
def test_training_program_starts(name: str) -> None:
    r = subprocess.run([sys.executable, "-m", f"models.training.{name}", "--help"], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "usage" in r.stdout.lower()


def test_training_defaults_point_outside_the_checkout() -> None:
    """The training programs' default paths after the move to models/training/: data in ``../shared/datasets``
    beside the repository, checkpoints in the repository's own ``models/checkpoints`` (a resume at the old
    ``models/models/...`` path found no checkpoint)."""
    from models.training import data, train_saliency_v5

    assert Path(data.DEFAULT_ROOT) == ROOT.parent / "shared" / "datasets"
    assert train_saliency_v5.REPO == ROOT
    assert (train_saliency_v5.REPO / "models" / "checkpoints").is_dir()
