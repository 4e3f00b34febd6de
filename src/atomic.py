"""Write a file (or a folder) whole or not at all: into a temporary one beside it, then a rename.

A kill, a crash or a full disk during the write leaves the old file (or none), never half of a new one:
`os.replace` swaps the name in one step on the same filesystem. The new file's bytes are synced
before the rename and the folder's entry after it, so a power cut too leaves the old file or the new.

    with atomic_path(Path("reports/metrics.json")) as tmp:
        tmp.write_text(text)          # or torch.save(obj, tmp), fig.savefig(tmp), ...

    staging = fresh_folder(out)       # a folder: fill staging, then
    swap_folder(staging, out)
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` when the block ends without error,
    and delete it when the block raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
    finally:
        tmp.unlink(missing_ok=True)  # only still there when the block or the rename failed


def fresh_folder(path: Path) -> Path:
    """An empty staging folder beside `path` (`<path>.tmp`, emptied if an earlier run left it)."""
    staging = path.with_name(path.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def swap_folder(staging: Path, path: Path) -> None:
    """Put the finished `staging` folder in the place of `path`: its files synced, the old folder
    deleted, a rename, the parent's entry synced. (Between the delete and the rename there is no folder
    at `path`: a rerun finds none and writes it again, never half of one.)"""
    for file in staging.iterdir():
        _fsync(file)
    _fsync(staging)
    shutil.rmtree(path, ignore_errors=True)
    os.replace(staging, path)
    _fsync(path.parent)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)  # a folder too: fsync on it syncs its entries (Linux, macOS)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text_atomic(path: Path | str, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: Path | str, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2) + "\n")
