"""Sharing every dataset version: DVC remotes, the run-cache, experiments and the linked cache.

Real servers on 127.0.0.1: an S3 endpoint (moto's server, through dvc-s3, credentials only in
.dvc/config.local) and a shared-directory remote; a bare git repository plays the team's git server.
Alice builds data-v1 (parts [1]) and data-v2 (parts [1, 2]) once and pushes them with the run-cache;
every test is a teammate on a new machine: a fresh `git clone`, then `dvc pull` and what they would
check next. See docs/sharing.md for the same commands as a user runs them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import yaml
from moto.server import ThreadedMotoServer
from workflow import (
    PER_PART,
    REPO,
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

BUCKET = "wikigrow-team"
# moto accepts any key. Drawn per run: a literal here would be in git, as this file is committed.
KEY_ID = "AKIA" + secrets.token_hex(8).upper()
SECRET = secrets.token_hex(20)  # hex: never starts with "-", which the CLI would read as an option


@dataclass
class Team:
    alice: Path      # built and pushed both versions
    server: Path     # the team's bare git repository
    shared: Path     # the shared-directory DVC remote
    endpoint: str    # the S3 endpoint
    tmp: Path


def cache_objects(repo: Path) -> set[str]:
    """Content hashes in the repo's DVC cache (`.dir` listings end in .dir)."""
    root = repo / ".dvc" / "cache" / "files" / "md5"
    return {f"{p.parent.name}{p.name}" for p in root.glob("*/*")} if root.exists() else set()


def version_objects(repo: Path, rev: str) -> set[str]:
    """Every cache object the outputs in dvc.lock at `rev` need, directory listings expanded."""
    lock = yaml.safe_load(run(["git", "show", f"{rev}:dvc.lock"], repo).stdout)
    objects = set()
    for stage in lock["stages"].values():
        for out in stage.get("outs", []):
            objects.add(out["md5"])
            if out["md5"].endswith(".dir"):
                listing = repo / ".dvc" / "cache" / "files" / "md5" / out["md5"][:2] / out["md5"][2:]
                objects.update(entry["md5"] for entry in json.loads(listing.read_text()))
    return objects


def lock_stages(text: str) -> dict:
    return yaml.safe_load(text)["stages"]


def lock_hash(repo: Path, path: str) -> str:
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return next(out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])
                if out["path"] == path)


def cache_file(repo: Path, md5: str) -> Path:
    return repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def clone(team: Team, name: str, *git_args: str) -> Path:
    """A teammate's fresh clone, with the S3 credentials they keep out of git."""
    repo = team.tmp / name
    run(["git", "clone", "-q", *git_args, str(team.server), str(repo)], team.tmp)
    dvc("remote", "modify", "--local", "s3", "access_key_id", KEY_ID, cwd=repo)
    dvc("remote", "modify", "--local", "s3", "secret_access_key", SECRET, cwd=repo)
    return repo


@pytest.fixture(scope="module")
def s3_endpoint():
    """moto's S3 server on a free port of 127.0.0.1, with an empty bucket."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not one log line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=KEY_ID,
                 aws_secret_access_key=SECRET).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture(scope="module")
def team(tmp_path_factory, s3_endpoint) -> Team:
    """Alice's two versions, pushed to S3 (with the run-cache) and to the shared directory."""
    tmp = tmp_path_factory.mktemp("sharing")
    server, shared = tmp / "team.git", tmp / "shared-remote"
    run(["git", "init", "-q", "--bare", "-b", "main", str(server)], tmp)
    shared.mkdir()
    alice = make_clone(tmp / "alice")
    dvc("remote", "add", "-d", "s3", f"s3://{BUCKET}/dvcstore", cwd=alice)
    dvc("remote", "modify", "s3", "endpointurl", s3_endpoint, cwd=alice)
    dvc("remote", "modify", "--local", "s3", "access_key_id", KEY_ID, cwd=alice)
    dvc("remote", "modify", "--local", "s3", "secret_access_key", SECRET, cwd=alice)
    dvc("remote", "add", "shared", str(shared), cwd=alice)
    commit(alice, "DVC remotes: s3 (default), shared directory")
    run(["git", "remote", "add", "origin", str(server)], alice)

    for tag, parts in (("data-v1", [1]), ("data-v2", [1, 2])):
        set_params(alice, data__parts=parts)
        dvc("repro", cwd=alice)
        commit(alice, f"data: parts {parts}")
        run(["git", "tag", tag], alice)
        dvc("push", "--run-cache", cwd=alice)
    dvc("push", "-r", "shared", "--all-tags", cwd=alice)
    run(["git", "push", "-q", "origin", "main", "--tags"], alice)
    return Team(alice=alice, server=server, shared=shared, endpoint=s3_endpoint, tmp=tmp)


@pytest.fixture(scope="module")
def bob(team) -> Path:
    """A fresh clone at data-v2 that ran `dvc pull` from S3."""
    repo = clone(team, "bob")
    dvc("pull", cwd=repo)
    return repo


def test_credentials_stay_out_of_git(team):
    assert SECRET in (team.alice / ".dvc" / "config.local").read_text()
    run(["git", "check-ignore", "-q", ".dvc/config.local"], team.alice)  # fails if not ignored
    history = run(["git", "log", "--all", "-p"], team.server).stdout
    assert "endpointurl" in history and f"s3://{BUCKET}/dvcstore" in history  # the remote is shared
    assert SECRET not in history and KEY_ID not in history


def test_fresh_clone_pulls_every_artifact(team, bob):
    assert "Data and pipelines are up to date." in dvc("status", cwd=bob)
    output = dvc("repro", cwd=bob)
    assert ran(output) == set() and restored(output) == set()
    assert metrics(bob) == metrics(team.alice)
    assert (bob / "models" / "model.pt").read_bytes() == (team.alice / "models" / "model.pt").read_bytes()
    for part in (1, 2):  # the dump, the text and the tokens of every part, not only the model
        assert list((bob / "data" / "dump" / str(part)).glob("*.bz2"))
        assert (bob / "data" / "text" / f"{part}.jsonl.gz").exists()
        assert (bob / "data" / "tokens" / str(part) / "train.bin").exists()
    assert version_objects(team.alice, "data-v2") <= cache_objects(bob)


def test_shared_directory_remote_holds_every_tag(team):
    """`dvc push -r shared --all-tags`: a clone at the older tag pulls it from the directory."""
    repo = clone(team, "erin", "--branch", "data-v1")
    dvc("pull", "-r", "shared", cwd=repo)
    assert "Data and pipelines are up to date." in dvc("status", cwd=repo)
    assert metrics(repo)["dataset_tokens"] < metrics(team.alice)["dataset_tokens"]
    assert not (repo / "data" / "dump" / "2").exists()
    assert cache_objects(repo) == version_objects(team.alice, "data-v1")


def test_clone_at_another_version_pulls_only_what_it_lacks(team):
    repo = clone(team, "carol", "--branch", "data-v1")
    dvc("pull", cwd=repo)
    v1 = cache_objects(repo)
    assert v1 == version_objects(team.alice, "data-v1")  # nothing of data-v2 came down
    inodes = {md5: cache_file(repo, md5).stat().st_ino for md5 in v1}

    run(["git", "checkout", "-q", "data-v2"], repo)
    output = dvc("pull", cwd=repo)
    fetched = cache_objects(repo) - v1
    assert fetched == version_objects(team.alice, "data-v2") - version_objects(team.alice, "data-v1")
    assert f"{len(fetched)} files fetched" in output
    assert {md5: cache_file(repo, md5).stat().st_ino for md5 in v1} == inodes  # part 1 kept, not re-fetched
    assert "Data and pipelines are up to date." in dvc("status", cwd=repo)


def test_shrink_and_regrow_on_a_new_machine_use_the_pulled_run_cache(team):
    repo = clone(team, "dave")
    dvc("pull", "--run-cache", cwd=repo)
    v1_lock = lock_stages(run(["git", "show", "data-v1:dvc.lock"], repo).stdout)
    v2_lock = lock_stages((repo / "dvc.lock").read_text())

    set_params(repo, data__parts=[1])
    output = dvc("repro", "--pull", cwd=repo)
    assert not any(stage.split("@")[0] in PER_PART for stage in ran(output))
    assert {"train", "evaluate"} <= restored(output) and "train" not in ran(output)
    # every stage of data-v1 as data-v1 recorded it (part 2's entries stay in dvc.lock: dvc #5293)
    assert {name: entry for name, entry in lock_stages((repo / "dvc.lock").read_text()).items()
            if name in v1_lock} == v1_lock

    set_params(repo, data__parts=[1, 2])
    output = dvc("repro", "--pull", cwd=repo)
    assert not any(stage.split("@")[0] in PER_PART for stage in ran(output))
    assert {"train", "evaluate"} <= restored(output) and "train" not in ran(output)
    assert lock_stages((repo / "dvc.lock").read_text()) == v2_lock
    assert metrics(repo) == metrics(team.alice)


def test_linked_cache_keeps_one_copy_and_survives_an_edit(bob):
    """cache.type hardlink,symlink: outputs are links into the cache; unprotect before editing."""
    model = bob / "models" / "model.pt"
    md5 = lock_hash(bob, "models/model.pt")
    cached = cache_file(bob, md5)
    assert model.stat().st_ino == cached.stat().st_ino and model.stat().st_nlink == 2  # one copy on disk
    tokens = bob / "data" / "tokens" / "1" / "train.bin"
    assert tokens.stat().st_nlink == 2  # directory outputs too
    assert stat.S_IMODE(model.stat().st_mode) & 0o222 == 0  # read-only: protects the cache

    dvc("unprotect", "models/model.pt", cwd=bob)
    assert model.stat().st_ino != cached.stat().st_ino and model.stat().st_nlink == 1
    model.write_bytes(b"a user's edit")
    assert "modified:" in dvc("status", cwd=bob)
    assert hashlib.md5(cached.read_bytes()).hexdigest() == md5  # the cache is intact

    dvc("checkout", "--force", "models/model.pt", cwd=bob)
    assert hashlib.md5(model.read_bytes()).hexdigest() == md5
    assert model.stat().st_ino == cached.stat().st_ino  # linked again, still one copy
    assert "Data and pipelines are up to date." in dvc("status", cwd=bob)


def test_queued_experiments_are_shared_and_reported(team, bob, tmp_path):
    """`dvc exp run --queue -S data.parts=...` over sizes, `dvc exp push`, a teammate's report."""
    alice = team.alice
    dvc("exp", "run", "--queue", "-n", "parts-1", "-S", "data.parts=[1]", cwd=alice)
    dvc("exp", "run", "--queue", "-n", "parts-1-3", "-S", "data.parts=[1,2,3]", cwd=alice)
    dvc("exp", "run", "--run-all", cwd=alice)
    rows = {exp["name"]: exp["data"] for baseline in json.loads(dvc("exp", "show", "--json", cwd=alice))
            for group in baseline.get("experiments") or [] for exp in group["revs"]}
    assert set(rows) == {"parts-1", "parts-1-3"}
    tokens = {name: data["metrics"]["reports/metrics.json"]["data"]["train_tokens"]
              for name, data in rows.items()}
    assert tokens["parts-1-3"] > metrics(alice)["train_tokens"] > tokens["parts-1"]
    # the queued [1] restored data-v1's training from the run-cache instead of training again
    assert "Stage 'train' is cached - skipping run" in dvc("queue", "logs", "parts-1", cwd=alice)
    # the queued [1, 2, 3] processed part 3 only: parts 1 and 2 came from the cache
    grown = ran(dvc("queue", "logs", "parts-1-3", cwd=alice))
    assert {f"{stage}@3" for stage in PER_PART} | {"train"} <= grown
    assert not grown & {f"{stage}@{part}" for stage in PER_PART for part in (1, 2)}
    dvc("exp", "push", "origin", "parts-1", "parts-1-3", cwd=alice)

    dvc("exp", "pull", "origin", "parts-1", "parts-1-3", cwd=bob)
    result = run([sys.executable, str(REPO / "src" / "report.py"), "--metrics", "reports/metrics.json",
                  "--log", "reports/train_log.csv", "--out", str(tmp_path)], bob)
    table = (tmp_path / "versions.md").read_text().split("\n\n")[0]  # the versions table, not the next-parts one
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[2:]
            if line.startswith("| ")]
    assert [row[0] for row in rows] == ["data-v1", "parts-1", "data-v2", "parts-1-3"], result.stdout
    assert [int(row[4].replace(",", "")) for row in rows][-1] == tokens["parts-1-3"]
    assert rows[0][7] == rows[1][7]  # the same data and training give the same val loss
    assert "differs" not in table  # every version scored on the same evaluation set


def test_report_reads_versions_this_machine_never_pulled(team, tmp_path):
    """The report on a clone that ran no `dvc pull`: dvc.api fetches each version from S3."""
    repo = clone(team, "frank")
    result = run([sys.executable, str(REPO / "src" / "report.py"), "--metrics", "reports/metrics.json",
                  "--log", "reports/train_log.csv", "--out", str(tmp_path), "--tags", "data-v*",
                  "--no-exps"], repo)
    assert "report: 2 versions (0 skipped)" in result.stdout
    assert f"{metrics(team.alice)['train_tokens']:,}" in (tmp_path / "versions.md").read_text()
    assert not (repo / "models").exists()  # nothing was checked out
