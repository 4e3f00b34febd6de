"""Write a file whole or not at all: into a temporary file beside it, then a rename.

A kill, a crash or a full disk during the write leaves the old file (or none), never half of a new one:
`os.replace` swaps the name in one step on the same filesystem.

    with atomic_path(Path("reports/metrics.json")) as tmp:
        tmp.write_text(text)          # or torch.save(obj, tmp), fig.savefig(tmp), ...
"""

from __future__ import annotations

import json
import os
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
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # only still there when the block or the rename failed


def write_text_atomic(path: Path | str, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: Path | str, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2) + "\n")
