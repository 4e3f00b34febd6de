"""Every tagged version reaches the team, whatever the order of tags and remote.

The README's order: Alice grows the dataset and tags data-v1, data-v2 and data-v3, and only then adds
a DVC remote (a directory on this machine) and commits it. Plain `dvc push --all-tags` then skips the
older tags without a word; `python src/share.py` pushes every tag and checks it on the remote; a
teammate's fresh clone pulls every tag and reports every version. A version whose objects are gone
from both the remote and the cache is named, by share.py and by the report. See docs/sharing.md.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from workflow import REPO, commit, dvc, make_clone, metrics, run, set_params

pytestmark = pytest.mark.e2e  # every test here runs the real `dvc`

# Three versions, grown one part at a time: each `dvc repro` then runs three per-part stages, not 27.
VERSIONS = (("data-v1", [1]), ("data-v2", [1, 2]), ("data-v3", [1, 2, 3]))
TAGS = [tag for tag, _ in VERSIONS]


@dataclass
class Team:
    alice: Path          # built and tagged every version before any remote existed
    server: Path         # the team's bare git repository
    remote: Path         # the DVC remote: a shared directory
    dvc_push: str        # what `dvc push --all-tags` printed
    after_dvc_push: set  # the remote's objects after it
    share: str           # what `python src/share.py` printed
    tmp: Path


def remote_objects(remote: Path) -> set[str]:
    return {f"{p.parent.name}{p.name}" for p in (remote / "files" / "md5").glob("*/*")}


def version_objects(repo: Path, rev: str) -> dict[str, set[str]]:
    """Output path -> the cache objects it needs at `rev` (directory listings expanded)."""
    lock = yaml.safe_load(run(["git", "show", f"{rev}:dvc.lock"], repo).stdout)
    objects = {}
    for stage in lock["stages"].values():
        for out in stage.get("outs", []):
            md5 = out["md5"]
            objects[out["path"]] = {md5}
            if md5.endswith(".dir"):
                listing = repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
                objects[out["path"]] |= {entry["md5"] for entry in json.loads(listing.read_text())}
    return objects


def needed(repo: Path, rev: str) -> set[str]:
    return set().union(*version_objects(repo, rev).values())


def share(repo: Path, check: bool = True):
    return run([sys.executable, str(REPO / "src" / "share.py")], repo, check=check)


def report(repo: Path, out: Path):
    return run([sys.executable, str(REPO / "src" / "report.py"), "--metrics", "reports/metrics.json",
                "--log", "reports/train_log.csv", "--out", str(out), "--tags", "data-v*", "--no-exps"], repo)


def teammate(team: Team, name: str, remote: Path | None = None) -> Path:
    """A fresh clone with the remote also in .dvc/config.local, as docs/sharing.md section 3 says."""
    repo = team.tmp / name
    run(["git", "clone", "-q", str(team.server), str(repo)], team.tmp)
    dvc("remote", "add", "--local", "-d", "team", str(remote or team.remote), cwd=repo)
    return repo


@pytest.fixture(scope="module")
def team(tmp_path_factory) -> Team:
    tmp = tmp_path_factory.mktemp("share-versions")
    server, remote = tmp / "team.git", tmp / "dvc-remote"
    run(["git", "init", "-q", "--bare", "-b", "main", str(server)], tmp)
    remote.mkdir()
    alice = make_clone(tmp / "alice")
    for tag, parts in VERSIONS:  # README, "Grow the dataset": no remote yet
        set_params(alice, data__parts=parts)
        dvc("repro", cwd=alice)
        commit(alice, f"data: parts {parts}")
        run(["git", "tag", tag], alice)
    dvc("remote", "add", "-d", "team", str(remote), cwd=alice)  # README, "Share every version"
    commit(alice, "DVC remote")
    dvc_push = dvc("push", "--all-tags", cwd=alice)
    after_dvc_push = remote_objects(remote)
    shared = share(alice).stdout
    run(["git", "remote", "add", "origin", str(server)], alice)
    run(["git", "push", "-q", "origin", "main", "--tags"], alice)
    return Team(alice=alice, server=server, remote=remote, dvc_push=dvc_push,
                after_dvc_push=after_dvc_push, share=shared, tmp=tmp)


def test_dvc_push_all_tags_skips_versions_tagged_before_the_remote(team):
    """What DVC 3.67.1 does on its own: the workspace (data-v3) is pushed, the older tags are not."""
    assert needed(team.alice, "data-v3") <= team.after_dvc_push
    for tag in ("data-v1", "data-v2"):
        lacking = needed(team.alice, tag) - team.after_dvc_push
        assert lacking and version_objects(team.alice, tag)["models/model.pt"] <= lacking
        assert tag not in team.dvc_push  # not even a warning


def test_share_pushes_and_checks_every_version(team):
    objects = remote_objects(team.remote)
    for tag in TAGS:
        assert needed(team.alice, tag) <= objects, tag
        assert f"{tag}: {len(needed(team.alice, tag))} objects on 'team'" in team.share
    assert list((team.remote / "runs").rglob("*"))  # the run-cache went too
    assert "share: 3 of 3 versions whole on 'team'" in team.share
    assert "data-v1, data-v2, data-v3 were tagged before the remote was committed" in team.share


def test_fresh_clone_pulls_every_tag(team):
    bare = team.tmp / "bare-clone"
    run(["git", "clone", "-q", "--branch", "data-v1", str(team.server), str(bare)], team.tmp)
    failed = run([sys.executable, "-m", "dvc", "pull"], bare, check=False)
    assert failed.returncode != 0 and "No remote provided" in failed.stderr  # its commit names none

    repo = teammate(team, "bob")
    for tag, parts in VERSIONS:
        run(["git", "checkout", "-q", tag], repo)
        dvc("pull", cwd=repo)
        assert "Data and pipelines are up to date." in dvc("status", cwd=repo), tag
        assert json.loads((repo / "data" / "dataset.json").read_text())["parts"] == parts
        assert sorted(p.name for p in (repo / "data" / "tokens").iterdir()) == sorted(map(str, parts))
        assert metrics(repo)["dataset_tokens"] > 0


def test_report_reads_every_version_from_the_remote(team, tmp_path):
    repo = teammate(team, "carol")  # no `dvc pull`: the report reads each version from the remote
    result = report(repo, tmp_path)
    assert "report: 3 versions (0 skipped)" in result.stdout, result.stdout
    table = (tmp_path / "versions.md").read_text()
    assert [line.split("|")[1].strip() for line in table.splitlines()[2:5]] == TAGS
    # the page: every version's samples (the evaluate stage's own file, read from the remote) side by side
    page = (tmp_path / "index.html").read_text()
    assert all(f"<th>{tag}<br>" in page for tag in TAGS) and "no sample" not in page
    for prompt in yaml.safe_load((REPO / "tests" / "params.yaml").read_text())["evaluate"]["prompts"]:
        assert page.count(f"<td><b>{prompt}</b>") == len(TAGS), prompt


def test_a_version_missing_everywhere_is_named(team, tmp_path):
    """data-v2's model and metrics deleted from a copy of the remote; a new clone has no cache."""
    broken = team.tmp / "broken-remote"
    shutil.copytree(team.remote, broken)
    v2 = version_objects(team.alice, "data-v2")
    for path in ("models/model.pt", "reports/metrics.json"):
        (md5,) = v2[path]
        (broken / "files" / "md5" / md5[:2] / md5[2:]).unlink()
    repo = teammate(team, "dave", remote=broken)

    result = share(repo, check=False)
    assert result.returncode == 1
    line = next(line for line in result.stdout.splitlines() if line.startswith("data-v2:"))
    assert "models/model.pt, reports/metrics.json" in line and "never pushed?" in line
    assert "data-v1: " in result.stdout and "data-v3: " in result.stdout
    assert result.stderr.strip().endswith("share: 2 of 3 versions whole on 'team'; missing: data-v2")

    out = report(repo, tmp_path).stdout
    assert "data-v2 (" in out and "not on the remote 'team' (never pushed?)" in out
    assert "report: 2 versions (1 skipped)" in out
