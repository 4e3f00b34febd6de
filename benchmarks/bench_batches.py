"""Resident memory of the training data loader over a long run, against a memmap kept open.

Usage (from the repository root; about a minute):
    python benchmarks/bench_batches.py [--tokens 150_000_000] [--batches 4000] [--batch-size 64] [--block-size 1024]

Writes a uint16 token file of `--tokens` random ids (two parts' worth, split in two files like two
parts) and draws `--batches` random training batches from it, each loader in its own process:
    ours       src/batches.py TrainWindows: windows uniform over both files, one positioned read
               (os.pread) per window, nothing mapped
    baseline   one np.memmap per file opened once and kept for the whole run (the pattern nanoGPT's
               train.py comments warn about: its resident set grows with every page it touches)
Prints the resident set (RSS) after the first batch and at the end, its growth, and batches/s.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from batches import TrainWindows


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_loader(kind: str, files: list[str], batches: int, batch_size: int, block_size: int) -> None:
    """Child process: draw the batches, print 'rss_first rss_end seconds'."""
    sizes = [(path, Path(path).stat().st_size // 2) for path in files]
    windows = TrainWindows(sizes, block_size)
    rng = np.random.default_rng(0)
    if kind == "baseline":
        maps = [np.memmap(path, dtype=np.uint16, mode="r") for path in files]

        def draw():
            offsets = rng.integers(0, windows.total, size=batch_size)
            file_idx = np.searchsorted(windows.first, offsets, side="right") - 1
            rows = [maps[f][o - windows.first[f]:o - windows.first[f] + block_size + 1]
                    for f, o in zip(file_idx, offsets)]
            data = np.stack(rows).astype(np.int64)
            return data[:, :-1], data[:, 1:]
    else:
        def draw():
            return windows.batch(rng, batch_size)
    draw()
    first = rss_mb()
    started = time.perf_counter()
    for _ in range(batches):
        draw()
    print(f"{first:.1f} {rss_mb():.1f} {time.perf_counter() - started:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=150_000_000)
    parser.add_argument("--batches", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--block-size", type=int, default=1024)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *files = args.child
        run_loader(kind, files, args.batches, args.batch_size, args.block_size)
        return

    with tempfile.TemporaryDirectory(prefix="bench_batches_") as tmp:
        rng = np.random.default_rng(1)
        files = []
        for part, count in enumerate((args.tokens // 2, args.tokens - args.tokens // 2), start=1):
            path = Path(tmp) / f"part{part}.bin"
            with open(path, "wb") as out:
                for start in range(0, count, 10_000_000):
                    rng.integers(0, 50257, size=min(10_000_000, count - start), dtype=np.uint16).tofile(out)
            files.append(str(path))
        print(f"{args.tokens:,} tokens in 2 files ({args.tokens * 2 / 1e6:,.0f} MB); {args.batches:,} "
              f"batches of {args.batch_size} x {args.block_size + 1} tokens each", flush=True)
        rows = []
        for kind in ("ours", "baseline"):
            result = subprocess.run(
                [sys.executable, __file__, "--batches", str(args.batches), "--batch-size",
                 str(args.batch_size), "--block-size", str(args.block_size), "--child", kind, *files],
                capture_output=True, text=True, check=True)
            first, end, seconds = map(float, result.stdout.split())
            rows.append((kind, first, end, seconds))

    print(f"\n{'loader':<10}{'RSS first MB':>14}{'RSS end MB':>12}{'growth MB':>11}{'batches/s':>11}")
    for kind, first, end, seconds in rows:
        print(f"{kind:<10}{first:>14.1f}{end:>12.1f}{end - first:>11.1f}{args.batches / seconds:>11,.0f}")
    ours, baseline = rows[0], rows[1]
    print(f"RSS growth ours / baseline: {(ours[2] - ours[1]) / max(baseline[2] - baseline[1], 1e-9):.3f}; "
          f"speed ours / baseline: {baseline[3] / ours[3]:.2f}x")


if __name__ == "__main__":
    main()
