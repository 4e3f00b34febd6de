"""Batches for training and evaluation, read from the dataset manifest (`data/dataset.json`).

Training draws windows uniformly over every training token of the version: a global offset picks the
file and the position in it, so a part with twice the tokens is drawn twice as often, and no
concatenated copy of the parts is ever written. Each window is one positioned read (`os.pread`) from
the part's file: nothing stays mapped, so the resident set does not grow over a long run as it does
with a memmap kept open (the nanoGPT pitfall), nor pays a fresh mapping's page faults every batch
(benchmarks/bench_batches.py measures both).

Evaluation uses the manifest's `eval` files, the same for every dataset version: the first `max_tokens`
tokens (`data.eval_tokens`) cut into consecutive block_size windows. No randomness, so a
version-to-version difference in val loss is the model's, not the draw's; `fingerprint` hashes the
token bytes scored, the window length and count, and the precision.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

REPRO_HINT = "run `dvc repro` (or `dvc checkout`) to rebuild the dataset"


def load_manifest(path: Path | str) -> dict:
    """Read dataset.json and check every listed token file against its stated size."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; {REPRO_HINT}")
    manifest = json.loads(path.read_text())
    for key in ("parts", "split", "dtype", "train", "eval", "totals"):
        if key not in manifest:
            raise ValueError(f"{path}: no `{key}` key; the manifest is stale: {REPRO_HINT}")
    if manifest["dtype"] != "uint16":
        raise ValueError(f"{path}: dtype {manifest['dtype']!r}, expected uint16; {REPRO_HINT}")
    for split in ("train", "eval"):
        if not manifest[split]:
            raise ValueError(f"{path}: the `{split}` file list is empty; check data.parts / data.eval_parts")
        for entry in manifest[split]:
            size = Path(entry["path"]).stat().st_size if Path(entry["path"]).exists() else None
            if size != entry["tokens"] * 2:
                raise ValueError(
                    f"{entry['path']}: {'missing' if size is None else f'{size:,} bytes'} but {path} says "
                    f"{entry['tokens']:,} uint16 tokens ({entry['tokens'] * 2:,} bytes); {REPRO_HINT}"
                )
    return manifest


class TrainWindows:
    """Random (x, y) windows of block_size tokens from several uint16 files, uniform over all windows."""

    def __init__(self, files: list[tuple[str, int]], block_size: int):
        self._fds: dict[int, int] = {}  # file index -> open descriptor, opened on first use
        self.paths = [p for p, _ in files]
        self.block_size = block_size
        # a window needs block_size + 1 tokens (inputs plus the next-token targets) inside one file
        starts = np.array([max(0, n - block_size) for _, n in files], dtype=np.int64)
        self.first = np.concatenate([[0], np.cumsum(starts)])  # global offset of each file's first window
        self.total = int(self.first[-1])
        if self.total == 0:
            raise ValueError(f"no training file holds more than block_size={block_size} tokens; "
                             "add parts or use a smaller block_size")

    def _fd(self, index: int) -> int:
        if index not in self._fds:
            self._fds[index] = os.open(self.paths[index], os.O_RDONLY)
        return self._fds[index]

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def __del__(self) -> None:
        self.close()

    def batch(self, rng: np.random.Generator, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """x, y: (batch_size, block_size) int64, y shifted by one token."""
        T = self.block_size
        offsets = rng.integers(0, self.total, size=batch_size)
        file_idx = np.searchsorted(self.first, offsets, side="right") - 1
        windows = np.empty((batch_size, T + 1), dtype=np.uint16)  # inputs plus next-token targets
        for row, (f, off) in enumerate(zip(file_idx.tolist(), offsets.tolist())):
            got = os.preadv(self._fd(f), [windows[row]], (off - int(self.first[f])) * 2)
            if got != windows[row].nbytes:
                raise ValueError(f"{self.paths[f]}: shorter than when training started; {REPRO_HINT}")
        x = np.empty((batch_size, T), dtype=np.int64)
        y = np.empty((batch_size, T), dtype=np.int64)
        x[:], y[:] = windows[:, :-1], windows[:, 1:]  # contiguous int64, cast in place (no strided .copy())
        return x, y


def train_files(manifest: dict) -> list[tuple[str, int]]:
    return [(e["path"], e["tokens"]) for e in manifest["train"]]


def eval_tokens(manifest: dict, block_size: int, max_tokens: int) -> np.ndarray:
    """The evaluation tokens scored: the eval files in manifest order, first n*block_size + 1 tokens
    with n = windows that fit in max_tokens (or in all eval tokens, when fewer)."""
    wanted = max_tokens + 1
    chunks, have = [], 0
    for entry in manifest["eval"]:
        if have >= wanted:
            break
        data = np.fromfile(entry["path"], dtype=np.uint16, count=min(entry["tokens"], wanted - have))
        chunks.append(data)
        have += len(data)
    tokens = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.uint16)
    n = (min(len(tokens), wanted) - 1) // block_size
    if n < 1:
        raise ValueError(f"the evaluation set holds {len(tokens):,} tokens, fewer than one window of "
                         f"block_size={block_size}; evaluate on more parts (data.eval_parts)")
    return tokens[: n * block_size + 1]


def eval_windows(tokens: np.ndarray, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive windows: x, y (n, block_size) int64, where y is x shifted by one token."""
    n = (len(tokens) - 1) // block_size
    x = tokens[: n * block_size].astype(np.int64).reshape(n, block_size)
    y = tokens[1: n * block_size + 1].astype(np.int64).reshape(n, block_size)
    return x, y


def fingerprint(tokens: np.ndarray, block_size: int, dtype: str) -> str:
    """sha1 of what a val loss is a loss of: the exact little-endian uint16 bytes scored, the window
    length, the number of windows and the precision. Equal across versions iff the losses compare."""
    windows = (len(tokens) - 1) // block_size
    h = hashlib.sha1(np.ascontiguousarray(tokens, dtype="<u2").tobytes())
    h.update(json.dumps({"block_size": block_size, "windows": windows, "dtype": dtype}, sort_keys=True).encode())
    return h.hexdigest()
