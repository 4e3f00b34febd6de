"""How long each stage run took, kept where DVC neither caches nor compares it: `logs/stages.jsonl`;
and how a stage stops on what the user can fix (StageError, run_stage).

A stage's outputs hold no wall-clock time or host detail, so the same inputs give the same bytes
(and the same hashes in dvc.lock) on any machine. What a run cost goes here instead, one JSON line per
stage run, e.g.

    {"stage": "extract@1", "seconds": 61.2, "peak_rss_mb": 48.7, "children_peak_rss_mb": 52.1,
     "xml_mb": 1003.4, "host": "box", "finished": "2026-12-03T10:01:02+00:00"}

The report and the benchmarks read it to say what a part costs on this machine. `logs/` is git-ignored.
"""

from __future__ import annotations

import json
import platform
import resource
import sys
from datetime import datetime, timezone
from pathlib import Path

LOG = Path("logs/stages.jsonl")


class StageError(Exception):
    """A stage stopped on something the user can fix: the message names the file, key or value and
    says what to do. Every stage's failures are this type (or a subclass: DumpError, MirrorError, ...)."""


def run_stage(main) -> None:
    """Run a stage's main(): a StageError prints `error: <message>` (a line per error) and exits 1."""
    try:
        main()
    except StageError as exc:
        sys.exit("\n".join(f"error: {line}" for line in str(exc).splitlines()))


def record(stage: str, seconds: float, **figures) -> None:
    """Append one line for this run of `stage`. A log that cannot be written costs a warning, never
    the stage's outputs."""
    kib = 1024  # ru_maxrss is in KiB on Linux
    row = {
        "stage": stage,
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / kib, 1),
        "children_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / kib, 1),
        **figures,
        "host": platform.node(),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        LOG.parent.mkdir(parents=True, exist_ok=True)
        with open(LOG, "a") as log:
            log.write(json.dumps(row) + "\n")
    except OSError as exc:
        print(f"warning: cannot append to {LOG}: {exc.strerror or exc}", file=sys.stderr)


def read(path: Path = LOG) -> list[dict]:
    """Every recorded run, oldest first; none when nothing was recorded."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short by a crash mid-write
            continue
    return rows
