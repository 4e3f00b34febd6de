"""The user's workflow as functions: a fresh clone, params edits, `dvc repro` and what it ran.

Shared by the end-to-end tests and benchmarks/bench_grow.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
TEST_PARAMS = REPO / "tests" / "params.yaml"  # the tests' own: never the project's params.yaml
PER_PART = ("download", "extract", "tokenize")
# Small training for the tests: the wiring is under test here, not the model.
QUICK_TRAIN = {"token_budget": 2048, "batch_size": 4, "grad_accum": 1, "eval_interval": 8,
               "warmup_iters": 2, "checkpoint_interval": 8}
QUICK_MODEL = {"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 32}
QUICK_EVAL_TOKENS = 2048  # 64 windows of 32 tokens: the wiring is under test, not the loss


def run(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # stages' `python`
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.com")
    result = subprocess.run(cmd, check=False, cwd=cwd, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def dvc(*args: str, cwd: Path) -> str:
    result = run([sys.executable, "-m", "dvc", *args], cwd)
    return result.stdout + result.stderr


def ran(output: str) -> set[str]:
    """Stages whose command ran in a `dvc repro` output."""
    return set(re.findall(r"Running stage '([^']+)'", output))


def restored(output: str) -> set[str]:
    """Stages restored from the run-cache instead of running."""
    return set(re.findall(r"Stage '([^']+)' is cached - skipping run", output))


def set_params(repo: Path, **changes) -> None:
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        params[section][key] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


# What a fresh clone holds that the tests need: the code, the wiring and the committed sample. Never
# the working params.yaml, dvc.lock, .dvc/config (a remote), data/ outputs, models/ or checkpoints a
# user made: tests pass in a clone where the user grew the dataset, warm-started and pushed.
CLONED = ("src/", "data/mirror/", "dvc.yaml", ".dvcignore", ".gitignore", "checkpoints/scratch")
DVC_CONFIG = """[core]
    analytics = false
    check_update = false
[cache]
    type = "hardlink,symlink"
"""


def make_clone(tmp: Path, quick_train: bool = True) -> Path:
    """A git repo holding the project's code and the tests' own params.yaml, as a fresh clone would."""
    repo = tmp / "project"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file() and any(name == keep or name.startswith(keep) for keep in CLONED if keep):
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    shutil.copy2(TEST_PARAMS, repo / "params.yaml")
    (repo / ".dvc").mkdir()
    (repo / ".dvc" / "config").write_text(DVC_CONFIG)
    (repo / ".dvc" / ".gitignore").write_text("/config.local\n/tmp\n/cache\n")
    run(["git", "init", "-q", "-b", "main"], repo)
    if quick_train:
        set_params(repo, train__model={**QUICK_MODEL}, data__eval_tokens=QUICK_EVAL_TOKENS,
                   **{f"train__{key}": value for key, value in QUICK_TRAIN.items()})
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "fresh clone"], repo)
    return repo


def commit(repo: Path, message: str) -> None:
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", message], repo)


def metrics(repo: Path) -> dict:
    return json.loads((repo / "reports" / "metrics.json").read_text())
