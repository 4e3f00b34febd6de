"""Push every tagged dataset version to the DVC remote, then check that each one is there whole.

    python src/share.py                          # every tag, to the default remote, with the run-cache
    python src/share.py --remote backup --tags 'data-v*'
    python src/share.py --check                  # check only, push nothing

`dvc push --all-tags` reads each tag's own .dvc/config: a version tagged before the remote was
committed names no remote there, and DVC skips it without a word ("Everything is up to date.").
This pushes every tag to the remote this checkout names (.dvc/config, .dvc/config.local or the
global config), whatever the order of tags and remote, then checks every object each tag's dvc.lock
and .dvc files record (directory listings expanded) on the remote. One line per tag, then a summary:

    share: 18 files pushed to 'team' (2 tags and the run-cache)
    data-v1: 15 objects on 'team'
    data-v2: 2 of 15 outputs not whole on 'team': models/model.pt, reports/metrics.json; neither on
      'team' nor in this cache (never pushed?): run `python src/share.py` on the machine that built
      it, or rebuild it: git checkout data-v2 && dvc repro
    share: 1 of 2 versions whole on 'team'; missing: data-v2

Exits 1, naming them, when a version is not whole on the remote. A command, not a stage.
"""

from __future__ import annotations

import argparse
import json
import posixpath
import re
import subprocess
import time
from pathlib import Path

import yaml
from dvc.exceptions import DvcException
from dvc.repo import Repo

SHOWN = 3  # missing paths named per version; the rest are counted


def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=check)


def list_tags(root: Path, pattern: str) -> list[tuple[str, str]]:
    """(name, commit) of every tag matching the git glob, data-v2 before data-v10."""
    refs = git(root, "for-each-ref", "--sort=version:refname",
               "--format=%(refname:short) %(objectname) %(*objectname)", f"refs/tags/{pattern}").stdout
    tags = []
    for line in refs.splitlines():
        name, sha, peeled = (line.split(" ") + [""])[:3]
        tags.append((name, peeled or sha))  # an annotated tag points at its commit through `peeled`
    return tags


def recorded_outputs(root: Path, sha: str) -> dict[str, str]:
    """Output path -> md5 of every cached output the commit records, in dvc.lock and in .dvc files."""
    outputs = {}
    files = git(root, "ls-tree", "-r", "--name-only", sha).stdout.splitlines()
    for name in files:
        if name != "dvc.lock" and not name.endswith(".dvc"):
            continue
        text = git(root, "show", f"{sha}:{name}").stdout
        entries = ([out for stage in (yaml.safe_load(text) or {}).get("stages", {}).values()
                    for out in stage.get("outs", [])] if name == "dvc.lock"
                   else (yaml.safe_load(text) or {}).get("outs", []))
        for out in entries:
            if out.get("md5") and out.get("cache", True):
                outputs[posixpath.normpath(posixpath.join(posixpath.dirname(name), out["path"]))] = out["md5"]
    return outputs


def names_remote(root: Path, sha: str, remote: str) -> bool:
    """Whether the commit's own .dvc/config defines the remote (what `dvc push -A/-T` reads)."""
    config = git(root, "show", f"{sha}:.dvc/config", check=False).stdout
    return re.search(rf"""^\s*\[\s*['"]remote "{re.escape(remote)}"['"]\s*\]""", config, re.M) is not None


def listing(md5: str, remote_odb, cache_odb) -> list[str] | None:
    """The file hashes of a directory output (its .dir object), from this cache or the remote."""
    for odb in (cache_odb, remote_odb):
        try:
            return [entry["md5"] for entry in json.loads(odb.fs.cat_file(odb.oid_to_path(md5)))]
        except (FileNotFoundError, OSError, ValueError):
            continue
    return None


def missing_outputs(outputs: dict[str, str], remote_odb, cache_odb) -> tuple[int, dict[str, bool]]:
    """(objects needed, {path: whether this cache holds what the remote lacks}) for the outputs
    that are not whole on the remote. A directory whose listing is nowhere lacks its .dir object."""
    needed = {path: {md5, *((listing(md5, remote_odb, cache_odb) or []) if md5.endswith(".dir") else [])}
              for path, md5 in outputs.items()}
    every = set().union(*needed.values())
    on_remote = set(remote_odb.oids_exist(sorted(every)))
    missing = {}
    for path, oids in needed.items():
        lacking = oids - on_remote
        if lacking:
            missing[path] = all(cache_odb.exists(oid) for oid in lacking)
    return len(every), missing


def push_tags(root: Path, remote: str, conf: dict, shas: list[str]) -> str:
    """`dvc push --run-cache` of the commits, each read with this checkout's definition of the remote."""
    # Given as an override, the remote is part of every commit's config, not only of those that
    # committed it.
    with Repo(str(root), config={"core": {"remote": remote}, "remote": {remote: conf}}) as repo:
        # DVC caches what a multi-revision push collected, keyed by the revisions' data and the
        # remote's address, not by which revisions named the remote: after a `dvc push --all-tags`
        # that skipped a tag, the same push says "Everything is up to date." again. Drop that cache
        # (DVC rebuilds it).
        repo.drop_data_index()
        try:
            return f"{repo.push(revs=shas, workspace=False, run_cache=True, remote=remote):,} files pushed"
        except DvcException as error:  # e.g. objects this cache lacks: the check below names them
            return f"push incomplete ({error})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--remote", help="the DVC remote's name; default: the default remote")
    parser.add_argument("--tags", default="*", help="tags to share (a git glob); default: all")
    parser.add_argument("--check", action="store_true", help="only check the remote, push nothing")
    parser.add_argument("--repo", type=Path, default=Path("."), help="the project's git repository")
    args = parser.parse_args()

    start = time.perf_counter()
    root = args.repo.resolve()
    repo = Repo(str(root))
    remote = args.remote or repo.config["core"].get("remote")
    if not remote or remote not in repo.config["remote"]:
        known = ", ".join(repo.config["remote"]) or "none"
        raise SystemExit(f"share: no DVC remote {remote or '(no default)'!r} (remotes: {known}); add one: "
                         "dvc remote add -d team URL (docs/sharing.md)")
    tags = list_tags(root, args.tags)
    if not tags:
        raise SystemExit(f"share: no tag matches {args.tags!r}; tag a version first: git tag data-v1")
    if not args.check:
        pushed = push_tags(root, remote, dict(repo.config["remote"][remote]), sorted({sha for _, sha in tags}))
        print(f"share: {pushed} to '{remote}' ({len(tags)} tags and the run-cache)")

    remote_odb, cache_odb = repo.cloud.get_remote_odb(remote), repo.cache.local
    whole, failed, unnamed = 0, [], []
    for tag, sha in tags:
        outputs = recorded_outputs(root, sha)
        if not outputs:
            print(f"{tag}: no DVC outputs recorded (no dvc.lock), nothing to share")
            continue
        if not names_remote(root, sha, remote):
            unnamed.append(tag)
        count, missing = missing_outputs(outputs, remote_odb, cache_odb)
        if not missing:
            whole += 1
            print(f"{tag}: {count} objects on '{remote}'")
            continue
        failed.append(tag)
        paths = ", ".join(sorted(missing)[:SHOWN])
        if len(missing) > SHOWN:
            paths += f" and {len(missing) - SHOWN} more"
        if all(missing.values()):
            why = "in this cache but not on the remote: the push failed; run this again"
        else:
            why = (f"neither on '{remote}' nor in this cache (never pushed?): run `python src/share.py` on "
                   f"the machine that built it, or rebuild it: git checkout {tag} && dvc repro")
        print(f"{tag}: {len(missing)} of {len(outputs)} outputs not whole on '{remote}': {paths}; {why}")
    if unnamed:
        print(f"note: {', '.join(unnamed)} were tagged before the remote was committed; `dvc pull` at those "
              f"tags needs '{remote}' in .dvc/config.local (docs/sharing.md, section 3)")
    summary = f"share: {whole} of {whole + len(failed)} versions whole on '{remote}'"
    if failed:
        raise SystemExit(f"{summary}; missing: {', '.join(failed)}")
    print(f"{summary} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
