"""src/report.py on a real small DVC repo: two tagged versions, an experiment, an untagged old commit.

The repo's one stage writes reports/metrics.json and reports/train_log.csv the way `evaluate` and
`train` do (same keys, same columns) from `data.parts`, in a second, so the report's reading of git
tags, DVC experiments and the DVC cache is tested without training a model. The real pipeline's
versions are reported in tests/test_sharing.py.
"""

from __future__ import annotations

import json
import math
import shutil
import sys

import matplotlib.image
import numpy as np
import pytest
from workflow import DVC_CONFIG, REPO, dvc, run, set_params

import report

STUB_STAGE = '''
import json, yaml
parts = yaml.safe_load(open("params.yaml"))["data"]["parts"]
tokens = 10_000 * len(parts)
loss = 6.0 / len(parts) ** 0.5
json.dump({"val_loss": loss, "val_loss_stderr": 0.01, "perplexity": 2.718281828 ** loss,
           "train_tokens": tokens, "dataset_documents": 10 * len(parts), "tokens_trained": 4096,
           "tokens_trained_total": 4096, "token_budget": 4096, "init_from": "scratch", "eval_set_sha1": "e" * 40},
          open("reports/metrics.json", "w"))
with open("reports/train_log.csv", "w") as log:
    log.write("step,tokens,lr,train_loss,val_loss\\n")
    for step in range(0, 9):
        val = f"{loss + 2 - step / 4:.4f}" if step % 4 == 0 else ""   # val loss every 4 steps
        log.write(f"{step},{step * 512},0.001,{loss + 2.1 - step / 4:.4f},{val}\\n")
'''

DVC_YAML = """\
stages:
  train:
    cmd: python stub_stage.py
    deps: [stub_stage.py]
    params: [data.parts]
    outs: [reports/train_log.csv]
    metrics: [reports/metrics.json]
"""


def expected_loss(n_parts: int) -> float:
    return 6.0 / n_parts ** 0.5


@pytest.fixture(scope="module")
def versions_repo(tmp_path_factory):
    """data-v1 (parts [1]), data-v2 (annotated tag, parts [1, 2, 3]), experiment 'five' (5 parts)."""
    repo = tmp_path_factory.mktemp("report") / "project"
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], repo)
    (repo / "README.md").write_text("before the pipeline\n")
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "no pipeline yet"], repo)
    run(["git", "tag", "old"], repo)  # a tag without metrics: reported as skipped
    dvc("init", "-q", cwd=repo)
    (repo / ".dvc" / "config").write_text(DVC_CONFIG)  # the project's cache settings, never a user's remote
    (repo / "stub_stage.py").write_text(STUB_STAGE)
    (repo / "dvc.yaml").write_text(DVC_YAML)
    (repo / "params.yaml").write_text("data:\n  parts: [1]\n")
    (repo / ".gitignore").write_text("/reports/\n")
    (repo / "reports").mkdir()
    dvc("repro", cwd=repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "data: part 1"], repo)
    run(["git", "tag", "data-v1"], repo)
    set_params(repo, data__parts=[1, 2, 3])
    dvc("repro", cwd=repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "data: parts 1-3"], repo)
    run(["git", "tag", "-a", "-m", "three parts", "data-v2"], repo)
    dvc("exp", "run", "-n", "five", "-S", "data.parts=[1,2,3,4,5]", cwd=repo)
    run(["git", "checkout", "--", "."], repo)  # `dvc exp run` left the experiment in the workspace:
    dvc("checkout", "--force", cwd=repo)       # back to data-v2, params and outputs
    return repo


def run_report(repo, out, *extra: str) -> str:
    result = run([sys.executable, str(REPO / "src" / "report.py"), "--repo", str(repo),
                  "--metrics", "reports/metrics.json", "--log", "reports/train_log.csv",
                  "--out", str(out), *extra], repo)
    return result.stdout


def table_rows(markdown: str) -> list[list[str]]:
    rows = [line.strip("|").split("|") for line in markdown.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row] for row in rows[1:]]  # without the header


@pytest.mark.e2e
def test_report_tables_tags_and_experiments(versions_repo, tmp_path):
    output = run_report(versions_repo, tmp_path)
    rows = table_rows((tmp_path / "versions.md").read_text())
    assert [(row[0], row[1], row[3]) for row in rows] == [
        ("data-v1", "tag", "1"), ("data-v2", "tag", "1, 2, 3"), ("five", "exp", "1, 2, 3, 4, 5")]
    tokens = [int(row[4].replace(",", "")) for row in rows]
    losses = [float(row[7].split(" ± ")[0]) for row in rows]
    assert tokens == [10_000, 30_000, 50_000]
    assert losses == pytest.approx([expected_loss(n) for n in (1, 3, 5)], abs=1e-4)
    assert all(row[9] == "eeeeeeee" for row in rows)  # one evaluation set, nothing flagged
    assert "skipped old (" in output and "report: 3 versions (1 skipped)" in output
    # 6/sqrt(n) falls by far more than the 0.01 errors: every step is real
    assert [row[8].split(": ")[-1] for row in rows] == ["", "real (vs data-v1)", "real (vs data-v2)"]
    # three cold starts at equal compute: a fit, and the next parts of the stub's params (none): no forecast
    assert "Fit over 3 cold starts at 4,096 tokens trained: L(D) = " in output


@pytest.mark.e2e
def test_report_draws_both_plots(versions_repo, tmp_path):
    run_report(versions_repo, tmp_path)
    for name in ("scaling.png", "train_curves.png"):
        image = matplotlib.image.imread(tmp_path / name)
        assert image.shape[0] > 300 and image.shape[1] > 500
        assert image[..., :3].std() > 0.05  # something is drawn on the white canvas


@pytest.mark.e2e
def test_report_reads_each_versions_own_log_from_the_cache(versions_repo):
    """Not the workspace: with reports/ deleted, each tag still gives its own training log."""
    shutil.rmtree(versions_repo / "reports")
    try:
        found = report.list_versions(versions_repo, "data-v*", exps=False, revs=[])
        assert [v.name for v in found] == ["data-v1", "data-v2"]
        for version, n_parts in zip(found, (1, 3)):
            assert report.read_version(versions_repo, version, "reports/metrics.json",
                                       "reports/train_log.csv") is None
            assert version.parts == list(range(1, n_parts + 1))
            assert version.log["step"] == list(range(9))
            assert version.log["val_loss"][4] == pytest.approx(expected_loss(n_parts) + 1, abs=1e-4)
            assert math.isnan(version.log["val_loss"][1])  # no evaluation at step 1
    finally:
        dvc("checkout", cwd=versions_repo)
    assert json.loads((versions_repo / "reports" / "metrics.json").read_text())["train_tokens"] == 30_000


@pytest.mark.e2e
def test_report_without_versions_says_what_to_do(versions_repo, tmp_path):
    result = run([sys.executable, str(REPO / "src" / "report.py"), "--repo", str(versions_repo),
                  "--metrics", "reports/metrics.json", "--log", "reports/train_log.csv",
                  "--out", str(tmp_path), "--tags", "no-such-*", "--no-exps"], versions_repo, check=False)
    assert result.returncode != 0 and "tag a version" in result.stderr


def version(name, tokens, loss, stderr=0.02, sha1="1" * 40, budget=100, init="scratch"):
    return report.Version(sha=name * 7, labels=[name], kind="tag", parts=[1], metrics={
        "val_loss": loss, "val_loss_stderr": stderr, "perplexity": math.exp(loss), "train_tokens": tokens,
        "dataset_documents": 3, "tokens_trained": budget, "tokens_trained_total": budget * (1 if init == "scratch" else 2),
        "token_budget": budget, "init_from": init, "eval_set_sha1": sha1})


def test_table_flags_other_eval_sets_and_budgets():
    table = report.markdown_table([version("a", 10, 4.0), version("b", 20, 4.0),
                                   version("c", 30, 4.0, sha1="2" * 40, budget=200)])
    rows = table_rows(table)
    assert [row[9] for row in rows] == ["11111111", "11111111", "22222222 (differs!)"]
    assert "not comparable" in table and "different token budgets" in table


def test_differences_are_marked_real_or_within_noise():
    """The issue's case: v3 -> v10 gains 0.06 with 0.09 of noise: within noise; 0.2 with 0.02: real."""
    assert report.verdict(version("a", 1, 7.80, 0.06).metrics,
                          version("b", 2, 7.74, 0.06).metrics).endswith("within noise")
    assert report.verdict(version("a", 1, 7.80).metrics, version("b", 2, 7.60).metrics) == "-0.200 ± 0.028: real"
    assert report.verdict(version("a", 1, 7.8).metrics, version("b", 2, 7.6, sha1="2" * 40).metrics).startswith(
        "not comparable")


def test_warm_starts_are_their_own_series_off_the_scaling_curve():
    cold = [version("v1", 100, 7.9), version("v3", 300, 7.7), version("v10", 1000, 7.6)]
    warm = version("v10-warm", 1000, 7.2, init="ab" * 20)
    other = version("v3-long", 300, 7.0, budget=400)
    ordered = report.order([warm, *cold, other])
    assert [v.name for v in report.scaling_series(ordered)] == ["v1", "v3", "v10"]
    rows = table_rows(report.markdown_table(ordered))
    assert [row[5] for row in rows][-1] == "warm abababab" and rows[-1][6] == "100 (200)"
    assert "(vs v10)" in rows[-1][8]  # a warm start is compared with the cold start of the same data


def test_the_fit_recovers_a_power_law_and_widens_away_from_the_data():
    import scaling

    d = np.array([1e4, 3e4, 1e5, 3e5])
    loss = 3.0 + 40.0 * d ** -0.3
    law = scaling.fit(d, loss, np.full(4, 0.005))
    assert float(law.predict(1e6)) == pytest.approx(3.0 + 40.0 * 1e6 ** -0.3, abs=0.05)
    low, high = law.interval(1e6)
    assert low <= float(law.predict(1e6)) <= high
    near, far = law.interval(1e5), law.interval(1e8)
    assert far[1] - far[0] > near[1] - near[0]
    assert scaling.fit(d[:2], loss[:2], np.full(2, 0.005)) is None  # two versions: no fit


def test_parse_log_rejects_other_columns():
    with pytest.raises(ValueError, match="step, tokens, lr, train_loss, val_loss"):
        report.parse_log("step,loss\n1,2.0\n")


def test_the_answer_prices_the_next_parts_from_the_mirror_and_this_machines_runs(tmp_path):
    """Sizes from the sample mirror's dumpstatus.json; time only where logs/stages.jsonl has runs."""
    import yaml

    import scaling

    params = yaml.safe_load((REPO / "tests" / "params.yaml").read_text())
    params["dump"]["mirror"] = str(REPO / "data" / "mirror")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    series = []
    for n, loss in ((1, 8.0), (2, 7.8), (3, 7.7)):
        v = version(f"data-v{n}", 40_000 * n, loss, stderr=0.01)
        v.parts = list(range(1, n + 1))
        series.append(v)
    law, text = scaling.answer(series, tmp_path)
    assert law is not None and "| +4 | 157,552 |" in text and "| +4-10 |" in text  # 0.2 MB more: part 4
    assert "not measured here" in text and "Answer: jump." in text

    (tmp_path / "logs").mkdir()
    rows = [{"stage": f"{stage}@{part}", "seconds": 60.0} for part in (1, 2, 3)
            for stage in ("download", "extract", "tokenize")] + [{"stage": "train", "seconds": 120.0}]
    (tmp_path / "logs" / "stages.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    _, text = scaling.answer(series, tmp_path)
    line = next(row for row in text.splitlines() if row.startswith("| +4 |"))
    assert line.endswith(" min |") and "not measured here |" in line  # time measured, disk not (no data/)
    assert "(~2.0 min each here)" in text


def test_the_verdict_tells_a_sure_gain_a_likely_one_and_noise_apart():
    """The sample's own figures (data-v1..v3 at 131,072 tokens trained, default params): the fit of
    v1-v3 predicts 6.840 (6.467-7.233) for parts 1-10 against 7.287 ± 0.041. Its centre is a real gain
    but its band reaches within noise: 'probably jump', with a halfway step to check (v10 then measured
    7.117 ± 0.035, a real gain, inside the band). A narrow band below the noise is 'jump'; a centre
    within noise is 'wait'."""
    import scaling

    v3 = version("data-v3", 165_131, 7.287, stderr=0.041, budget=131_072)
    rows = [(4, 216_806, 7.145, 7.024, 7.299), (7, 315_314, 6.979, 6.745, 7.260),
            (10, 459_100, 6.840, 6.467, 7.233)]
    likely = scaling.verdict_line(rows, v3, 120.0)
    assert likely.startswith("Answer: probably jump.") and "one step to part 7" in likely
    assert "(one more training run, ~2.0 min here)" in likely and "all parts up to 10 at once" in likely
    alone = scaling.verdict_line(rows[:1], v3, None)  # one part left: no halfway step to suggest
    assert alone.startswith("Answer: probably worth it. With part 4") and "one step to" not in alone
    sure = scaling.verdict_line(rows[:2] + [(10, 459_100, 6.840, 6.700, 7.000)], v3, None)
    assert sure.startswith("Answer: jump.")
    noise = scaling.verdict_line(rows[:2] + [(10, 459_100, 7.250, 6.900, 7.600)], v3, None)
    assert noise.startswith("Answer: wait.") and "within noise" in noise
