"""Benchmark: growing a dataset version by params edit vs. building it from scratch.

    python benchmarks/bench_grow.py [--full-train]

In two fresh clones of the project (the sample mirror, real `dvc repro`): A runs data.parts [1], then
grows to [1, 2, 3] and times that second `dvc repro`; B runs [1, 2, 3] from nothing. Both end in the
same dataset version; the grow step re-does only parts 2-3 and the version-wide stages. Training uses
the tests' quick settings unless --full-train, so the figure is about the data stages. Prints, in
this format (measured figures: docs/benchmarks.md, "Grow"):

    grow [1] -> [1, 2, 3]      12.3 s   (stages run: 9)
    scratch [1, 2, 3]          17.9 s   (stages run: 12)
    grow / scratch             0.69
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from workflow import dvc, make_clone, ran, set_params


def timed_repro(repo: Path) -> tuple[float, set[str]]:
    started = time.perf_counter()
    output = dvc("repro", cwd=repo)
    return time.perf_counter() - started, ran(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full-train", action="store_true", help="train with params.yaml's own settings")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        grow = make_clone(Path(tmp) / "grow", quick_train=not args.full_train)
        scratch = make_clone(Path(tmp) / "scratch", quick_train=not args.full_train)
        timed_repro(grow)
        set_params(grow, data__parts=[1, 2, 3])
        grow_s, grow_ran = timed_repro(grow)
        set_params(scratch, data__parts=[1, 2, 3])
        scratch_s, scratch_ran = timed_repro(scratch)
    print(f"{'grow [1] -> [1, 2, 3]':<26}{grow_s:7.1f} s   (stages run: {len(grow_ran)})")
    print(f"{'scratch [1, 2, 3]':<26}{scratch_s:7.1f} s   (stages run: {len(scratch_ran)})")
    print(f"{'grow / scratch':<26}{grow_s / scratch_s:7.2f}")


if __name__ == "__main__":
    main()
