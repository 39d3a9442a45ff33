"""The training programs' CSV run log: appended row by row, mirrored to a committed copy."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path


def append_log(path: Path, row: dict, fields: tuple[str, ...], copy_to: Path | None = None) -> None:
    """Append ``row`` (the columns ``fields``) to the CSV at ``path`` (header on creation); mirror the whole file
    to ``copy_to`` atomically. On a resume where ``path`` is missing (a new machine: ``runs/`` is not committed)
    the committed mirror seeds it, so the mirror never loses the run's history."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() and copy_to is not None and copy_to.is_file():
        shutil.copyfile(copy_to, path)
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        if new:
            w.writeheader()
        w.writerow({k: row.get(k, "") for k in fields})
    if copy_to is not None:
        copy_to.parent.mkdir(parents=True, exist_ok=True)
        tmp = copy_to.with_name(copy_to.name + ".tmp")
        shutil.copyfile(path, tmp)
        os.replace(tmp, copy_to)
