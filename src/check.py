"""Stage `check`: the door. Every params key, and the dump's date and parts on the mirror, are checked
here before any other stage touches its outputs.

    python src/check.py --out data/checked

Every stage depends on `--out`, so `dvc repro` runs this first whenever params.yaml or the checking
code changes. DVC deletes a stage's outputs before running it: a bad value stopping here has deleted
nothing (`--out` is `persist`ed). The file written is the same whenever the checks pass, so a params
edit re-runs nothing downstream on its own account; only the stages that declare the changed params do.
Prints: `check: params.yaml is valid; dump enwiki 20251101 has parts 1, 2, 3 on data/mirror`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mirror import MirrorError, resolve_part
from params import Dump, load_params
from runlog import StageError, run_stage

PASSED = "params.yaml and the dump's parts on the mirror passed src/check.py\n"


def check_mirror(dump: Dump, parts: list[int], timeout: float) -> None:
    """Every part of `parts` is on the mirror with files that can be verified (raises MirrorError)."""
    for part in parts:
        resolve_part(dump.mirror, dump.wiki, dump.date, part, timeout, dump.format)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    params = load_params()  # stops with one line naming the key when a value is unusable
    dump, parts = params.dump, params.data.parts
    try:
        check_mirror(dump, parts, params.resources.download_timeout_s)
    except MirrorError as exc:
        raise StageError(f"check: {exc}") from exc
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not args.out.is_file() or args.out.read_text() != PASSED:
        # a new file, never a write in place: the old one may be a hard link into DVC's cache
        tmp = args.out.with_name(args.out.name + ".tmp")
        tmp.write_text(PASSED)
        os.replace(tmp, args.out)
    print(f"check: params.yaml is valid; dump {dump.wiki} {dump.date} has parts "
          f"{', '.join(map(str, parts))} on {dump.mirror}")


if __name__ == "__main__":
    run_stage(main)
