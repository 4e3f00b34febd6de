"""Disk preflight: stop a stage before it writes a byte when its output would not fit on the disk.

`download@N` needs the bytes `dumpstatus.json` lists for part N, less what an interrupted download
already left in `data/.downloads/`. `extract@N` needs about TEXT_PER_BZ2_BYTE times the size of the
part's bz2 files. Either stops, naming the directory, the space it needs and the space there is, when
the disk would be left with less than `resources.disk_reserve_mb` free:

    error: extract: data/text needs 21.8 GiB for the text of data/dump/3 plus 1.0 GiB kept free
    (resources.disk_reserve_mb), but its disk has 9.8 GiB free; free 13.0 GiB there (or lower the
    reserve) and run the stage again
"""

from __future__ import annotations

import shutil
from pathlib import Path

# gzip'd JSON text (and stats) written per byte of bz2 XML read, above what the sample's 10 parts give
# (docs/benchmarks.md, "Small measurements") to leave room for parts with more prose; tests/test_faults.py
# checks it still bounds parts 1 and 5 whenever the extractor changes.
TEXT_PER_BZ2_BYTE = 0.9
MB = 1 << 20


class DiskSpaceError(RuntimeError):
    """The disk that receives a stage's output has too little free space for it."""


def human(n: int) -> str:
    """Bytes for people, in the binary units `df -h` shows: 1.5 GiB, 320.0 MiB, 12.0 KiB."""
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def existing_parent(path: Path) -> Path:
    """`path` or its nearest ancestor that exists (outputs' folders are created later)."""
    path = Path(path).absolute()
    while not path.exists():
        path = path.parent
    return path


def free_bytes(path: Path) -> int:
    """Bytes this process may still write on the disk that holds `path`."""
    return shutil.disk_usage(existing_parent(path)).free


def check_space(directory: Path, need: int, reserve_mb: int, what: str) -> None:
    """Raise DiskSpaceError unless `need` bytes fit in `directory` with `reserve_mb` MiB left over."""
    free = free_bytes(directory)
    reserve = reserve_mb * MB
    if need + reserve > free:
        raise DiskSpaceError(
            f"{directory} needs {human(need)} for {what} plus {human(reserve)} kept free "
            f"(resources.disk_reserve_mb), but its disk has {human(free)} free; free "
            f"{human(need + reserve - free)} there (or lower the reserve) and run the stage again"
        )


def download_need(sizes: dict[str, int | None], partial_dir: Path) -> int | None:
    """Bytes still to download: listed sizes less the bytes of partial files already in `partial_dir`.

    None when the mirror lists no size for some file (nothing to check against).
    """
    if any(size is None for size in sizes.values()):
        return None
    need = 0
    for name, size in sizes.items():
        partial = Path(partial_dir) / name
        have = partial.stat().st_size if partial.is_file() else 0
        need += max(0, size - have)
    return need


def extract_need(bz2_files: list[Path]) -> int:
    """Estimated bytes of the gzip'd text (and stats) extracted from `bz2_files`."""
    return int(TEXT_PER_BZ2_BYTE * sum(Path(path).stat().st_size for path in bz2_files)) + MB
