"""Same inputs, same bytes: two clean clones running `dvc repro` record identical output hashes in
dvc.lock, whatever the number of worker processes. No wall-clock time or host detail lives inside a
cached output (timings are printed, and kept in logs/stages.jsonl, which DVC neither caches nor hashes).
"""

from __future__ import annotations

import json

import pytest
import yaml
from workflow import dvc, make_clone, set_params

pytestmark = pytest.mark.e2e  # every test here runs the real `dvc`


def output_hashes(repo) -> dict[str, list[tuple[str, str]]]:
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    return {stage: [(out["path"], out["md5"]) for out in entry["outs"]] for stage, entry in lock.items()}


def test_two_clean_clones_record_the_same_output_hashes(tmp_path, monkeypatch):
    # the same thread count in both (float sums split over threads round differently per count)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setenv("MKL_NUM_THREADS", "2")
    hashes = []
    for name, processes in (("one", 1), ("two", 2)):
        repo = make_clone(tmp_path / name)
        set_params(repo, data__parts=[1, 2], resources__processes=processes)
        dvc("repro", cwd=repo)
        hashes.append(output_hashes(repo))
        timings = [json.loads(line) for line in (repo / "logs" / "stages.jsonl").read_text().splitlines()]
        assert {row["stage"] for row in timings} >= {"extract@1", "tokenize@2", "train", "evaluate"}
        assert all(row["seconds"] > 0 for row in timings)
    assert set(hashes[0]) == {"check", "download@1", "download@2", "extract@1", "extract@2", "tokenize@1",
                              "tokenize@2", "dataset", "train", "evaluate"}
    for stage in hashes[0]:
        assert hashes[0][stage] == hashes[1][stage], stage
