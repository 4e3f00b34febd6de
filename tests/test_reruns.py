"""The "What re-runs" table of docs/pipeline.md, checked against `dvc status` after really editing each
file and each params section in a scratch clone where the pipeline has run.

Every file under src/ and every params section must appear in the table, so a new module or section
cannot slip in without saying what it re-runs.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from workflow import REPO, commit, dvc, make_clone, run, set_params

from params import KEYS

PARTS = [1, 2]  # the clone's selected parts (`@N`); growing adds part 3 (`@new`)
ADDED = 3
# A valid new value for each params entry of the table (section -> one of its keys).
EDITS = {
    "resources": ("resources", "processes", 1),
    "dump.mirror": ("dump", "mirror", "data/mirror/"),
    "dump.wiki": ("dump", "wiki", "dewiki"),
    "dump.date": ("dump", "date", "20251201"),
    "dump.format": ("dump", "format", "single"),
    "data.parts": ("data", "parts", [*PARTS, ADDED]),
    "data.eval_parts": ("data", "eval_parts", [1, 2]),
    "data.eval_tokens": ("data", "eval_tokens", 4096),
    "extract": ("extract", "min_chars", 150),
    "tokenize": ("tokenize", "val_fraction", 0.25),
    "train": ("train", "seed", 7),
    "evaluate": ("evaluate", "seed", 7),
}
COMMENTS = "params.yaml's comments"


def readme_table() -> list[tuple[list[str], set[str]]]:
    """(what is changed, the stages `dvc status` names) for each row of docs/pipeline.md's table."""
    text = (REPO / "docs" / "pipeline.md").read_text()
    section = text.split("## What re-runs when you change something", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith("| you change") or line.startswith("|---"):
            continue
        changed, stages = line.strip("| \n").split(" | ")
        items = re.findall(r"`([^`]+)`", changed) + ([COMMENTS] if COMMENTS in changed else [])
        rows.append((items, set(re.findall(r"`([^`]+)`", stages))))
    assert len(rows) > 10, "docs/pipeline.md's table was not found"
    return rows


def expand(stages: set[str]) -> set[str]:
    out = set()
    for stage in stages:
        if stage.endswith("@N"):
            out |= {stage.replace("@N", f"@{part}") for part in PARTS}
        else:
            out.add(stage.replace("@new", f"@{ADDED}"))
    return out


def status(repo) -> set[str]:
    return set(json.loads(dvc("status", "--json", cwd=repo)))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    repo = make_clone(tmp_path_factory.mktemp("reruns"))
    set_params(repo, data__parts=PARTS)
    dvc("repro", cwd=repo)
    commit(repo, "parts 1-2")
    assert status(repo) == set()
    return repo


def test_the_table_covers_every_file_and_section():
    covered = [item for items, _ in readme_table() for item in items]
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "src"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        assert any(name == item or (item.endswith("/") and name.startswith(item)) for item in covered), \
            f"{name} is missing from docs/pipeline.md's 'What re-runs' table"
    for section in KEYS:
        assert any(item == section or item.startswith(section + ".") for item in covered), section


@pytest.mark.e2e
@pytest.mark.parametrize("items, stages", readme_table(), ids=lambda v: ",".join(v) if isinstance(v, list) else "")
def test_an_edit_changes_exactly_the_stages_the_table_names(project, items, stages):
    for item in items:
        if item.startswith("src/"):
            path = project / item / "vocab.bpe" if item.endswith("/") else project / item
            edit = "\n" if path.suffix != ".py" else "\n# an edit\n"
        else:
            path = project / "params.yaml"
        before = path.read_bytes()
        try:
            if item == COMMENTS:
                path.write_bytes(before + b"# a note\n")
            elif not item.startswith("src/"):
                section, key, value = EDITS[item]
                set_params(project, **{f"{section}__{key}": value})
            else:
                path.write_bytes(before + edit.encode())
            expected = set() if stages == {"nothing"} or not stages else expand(stages)
            assert status(project) == expected, item
        finally:
            path.write_bytes(before)
    assert status(project) == set()


def outputs(repo) -> dict[str, bytes]:
    """The bytes of every stage output in the workspace."""
    files = {}
    for folder in ("data", "models", "reports"):
        for path in sorted((repo / folder).rglob("*")):
            if path.is_file() and "mirror" not in path.relative_to(repo).parts:
                files[path.relative_to(repo).as_posix()] = path.read_bytes()
    return files


@pytest.mark.parametrize("section, key, value, message", [
    ("dump", "date", "20240101", r"error: check: .*There is no dump enwiki 20240101 on this mirror; it lists enwiki "
                                 r"dates: 20251101\. Check dump\.mirror and dump\.date"),
    ("data", "parts", [1, 2, 44], r"error: check: .*has no pages-articles(-multistream)? part 44 \(it has parts: 1, 2, 3, .*\); "
                                  r"fix data\.parts"),
    ("train", "warmup_iter", 10, r"error: params\.yaml: `train\.warmup_iter` is not a key; did you mean `warmup_iters`\?"),
    ("data", "parts", [], r"error: params\.yaml: `data\.parts` must be a non-empty list"),
])
@pytest.mark.e2e
def test_bad_input_stops_before_anything_is_deleted(project, section, key, value, message):
    before = outputs(project)
    params = project / "params.yaml"
    good = params.read_bytes()
    try:
        set_params(project, **{f"{section}__{key}": value})
        result = run([sys.executable, "-m", "dvc", "repro"], project, check=False)
    finally:
        params.write_bytes(good)
    assert result.returncode != 0
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and re.match(message, errors[0]), result.stdout + result.stderr
    assert "Running stage 'check'" in result.stdout and "Running stage 'download" not in result.stdout
    assert outputs(project) == before  # every earlier output is still there, byte for byte
    assert status(project) == set()


@pytest.mark.e2e
def test_a_rerun_download_transfers_nothing_it_already_has(tmp_path, http_mirror):
    repo = make_clone(tmp_path)
    set_params(repo, dump__mirror=http_mirror.url, data__parts=[1, 10], data__eval_parts=[1])  # 10: two files
    targets = ["download@1", "download@10"]
    first = dvc("repro", *targets, cwd=repo)
    fetched = {name: n for name, n in http_mirror.sent.items() if name.endswith(".bz2")}
    published = json.loads((repo / "data" / "mirror" / "enwiki" / "20251101" / "dumpstatus.json").read_text())
    job = published["jobs"]["articlesmultistreamdump"]["files"]  # the default dump.format
    wanted = {name for name in job if "articles-multistream1." in name or "articles-multistream-index1." in name
              or "multistream10." in name or "multistream-index10." in name}
    assert set(fetched) == wanted and len(wanted) == 6, (fetched, first)  # part 10: two files, each indexed
    commit(repo, "parts 1 and 10")
    before = {p.name: p.read_bytes() for p in (repo / "data" / "dump").rglob("*.bz2")}

    http_mirror.sent.clear()
    (repo / "src" / "download.py").write_text((repo / "src" / "download.py").read_text() + "\n# an edit\n")
    output = dvc("repro", *targets, cwd=repo)
    assert "Running stage 'download@1'" in output and "Running stage 'download@10'" in output
    assert "part 10: 4 file(s)" in output and "(0 fetched, " in output
    assert not any(name.endswith(".bz2") for name in http_mirror.sent), http_mirror.sent  # no part byte
    assert {p.name: p.read_bytes() for p in (repo / "data" / "dump").rglob("*.bz2")} == before
    assert json.loads(dvc("status", "--json", *targets, cwd=repo)) == {}
