"""End to end: the real `dvc repro` on the sample mirror, in a temporary git clone, grown part by part.

This is the user's workflow from the README: run with data.parts [1], grow to [1, 2, 3] (only parts 2
and 3 are downloaded, extracted and tokenized), compare with `dvc metrics diff`, and shrink back to
[1], which the run-cache restores without running a per-part command.
"""

from __future__ import annotations

import json

import pytest
import yaml
from workflow import (
    PER_PART,
    commit,
    dvc,
    make_clone,
    metrics,
    ran,
    restored,
    run,
    set_params,
)

pytestmark = pytest.mark.e2e  # every test here runs the real `dvc`


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return make_clone(tmp_path_factory.mktemp("e2e"))


def test_first_version_runs_every_stage(project):
    output = dvc("repro", cwd=project)
    assert ran(output) == {f"{stage}@1" for stage in PER_PART} | {"check", "dataset", "train", "evaluate"}
    m = metrics(project)
    assert m["val_loss"] > 0 and m["perplexity"] == pytest.approx(2.718281828 ** m["val_loss"], rel=1e-3)
    manifest = json.loads((project / "data" / "dataset.json").read_text())
    assert manifest["parts"] == [1] and m["dataset_tokens"] == manifest["totals"]["tokens"] > 10_000
    assert (project / "reports" / "training_curve.png").stat().st_size > 1000
    # Stage outputs stay out of git: nothing under data/ but the committed mirror is untracked.
    untracked = run(["git", "status", "--porcelain"], project).stdout
    assert "dvc.lock" in untracked and "data/" not in untracked.replace("data/mirror", "")
    commit(project, "data: part 1")


def test_growing_runs_only_the_new_parts(project):
    v1 = metrics(project)
    set_params(project, data__parts=[1, 2, 3])
    output = dvc("repro", cwd=project)
    assert ran(output) == {f"{stage}@{part}" for stage in PER_PART for part in (2, 3)} | {
        "check", "dataset", "train", "evaluate"}
    assert "Stage 'extract@1' didn't change, skipping" in output
    v3 = metrics(project)
    assert v3["dataset_tokens"] > 2 * v1["dataset_tokens"]
    assert v3["eval_set_sha1"] == v1["eval_set_sha1"]  # the same evaluation set for both versions
    commit(project, "data: parts 1-3")
    diff = json.loads(dvc("metrics", "diff", "HEAD~1", "--json", cwd=project))
    tokens = diff["reports/metrics.json"]["dataset_tokens"]
    assert tokens["old"] == v1["dataset_tokens"] and tokens["new"] == v3["dataset_tokens"]
    assert "eval_set_sha1" not in diff["reports/metrics.json"]  # unchanged values are not listed
    # the metrics contract, and the error bar beside the loss in the diff
    for key in ("train_tokens", "tokens_trained", "tokens_trained_total", "epochs", "init_from", "eval_dtype"):
        assert key in v3, key
    assert v3["init_from"] == "scratch" and v3["tokens_trained_total"] == v3["tokens_trained"]
    assert v3["epochs"] == pytest.approx(v3["tokens_trained"] / v3["train_tokens"], abs=1e-4)
    assert 0 < v3["val_loss_stderr"] < 0.5 and "val_loss_stderr" in diff["reports/metrics.json"]
    curve = run(["tail", "-1", "reports/train_log.csv"], project).stdout.strip().split(",")
    assert float(curve[4]) == pytest.approx(v3["val_loss"], abs=1e-5)  # the curve's last point is the metric


def test_up_to_date_after_growing(project):
    assert "Data and pipelines are up to date." in dvc("status", cwd=project)
    output = dvc("repro", cwd=project)
    assert ran(output) == set() and restored(output) == set()


def test_shrinking_restores_from_run_cache(project):
    v1_lock = yaml.safe_load(run(["git", "show", "HEAD~1:dvc.lock"], project).stdout)["stages"]
    set_params(project, data__parts=[1])
    output = dvc("repro", cwd=project)
    assert not any(stage.split("@")[0] in PER_PART for stage in ran(output))
    assert {"train", "evaluate"} <= restored(output)
    assert sorted(p.name for p in (project / "data" / "tokens").iterdir()) == ["1"]
    # The version is exactly the first one again (DVC keeps lock entries of removed stages, dvc #5293).
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    for stage in ("check", "download@1", "extract@1", "tokenize@1", "dataset", "train", "evaluate"):
        assert lock[stage] == v1_lock[stage], stage
    assert "Data and pipelines are up to date." in dvc("status", cwd=project)
