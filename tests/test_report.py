"""src/report.py on a real small DVC repo: two tagged versions, an experiment, an untagged old commit.

The repo's one stage writes reports/metrics.json, reports/train_log.csv and (from data-v2 on)
reports/samples.txt the way `evaluate` and `train` do (same keys, same columns, same sample headers)
from `data.parts`, in a second, so the report's reading of git tags, DVC experiments and the DVC cache
is tested without training a model; its page is opened in headless Chromium. The real pipeline's
versions are reported in tests/test_sharing.py.
"""

from __future__ import annotations

import html
import io
import json
import math
import os
import re
import shutil
import sys
from types import SimpleNamespace

import matplotlib.image
import numpy as np
import pytest
import yaml
from workflow import DVC_CONFIG, REPO, dvc, run, set_params

import browser
import report
import scaling

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

# From data-v2 on the stage also writes samples, as src/evaluate.py does; five parts add a prompt.
SAMPLES_STAGE = STUB_STAGE + '''
prompts = ["The history of", "In mathematics,"] + (["Alabama <is>"] if len(parts) >= 5 else [])
with open("reports/samples.txt", "w") as out:
    for i, prompt in enumerate(prompts):
        out.write(f"=== {prompt!r} (seed {1337 + i})\\n{prompt} {len(parts)} parts: <b>&amp;</b>\\n\\n")
'''
SAMPLES_DVC_YAML = DVC_YAML.replace("outs: [reports/train_log.csv]", "outs: [reports/train_log.csv, reports/samples.txt]")
PROMPTS = ["The history of", "In mathematics,", "Alabama <is>"]


def expected_loss(n_parts: int) -> float:
    return 6.0 / n_parts ** 0.5


@pytest.fixture(scope="module")
def versions_repo(tmp_path_factory):
    """data-v1 (parts [1], no samples), data-v2 (annotated tag, parts [1, 2, 3]), experiment 'five' (5 parts)."""
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
    (repo / "stub_stage.py").write_text(SAMPLES_STAGE)
    (repo / "dvc.yaml").write_text(SAMPLES_DVC_YAML)
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


@pytest.fixture(scope="module")
def reported(versions_repo, tmp_path_factory):
    """The README's command, once, on the versions repo: what it printed and the folder it wrote."""
    out = tmp_path_factory.mktemp("versions")
    return SimpleNamespace(out=out, output=run_report(versions_repo, out))


def table_rows(markdown: str) -> list[list[str]]:
    rows = [line.strip("|").split("|") for line in markdown.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row] for row in rows[1:]]  # without the header


def html_table(page: str, section: str) -> list[list[str]]:
    """The text of each cell of the one table in the page's <section id=...> (header row first)."""
    found = re.search(rf'<section id="{section}">(.*?)</section>', page, re.S).group(1)
    return [[html.unescape(re.sub(r"<br>", " ", re.sub(r"<(?!br>)[^>]+>", "", cell))).strip()
             for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", found, re.S)]


@pytest.mark.e2e
def test_report_tables_tags_and_experiments(reported):
    rows = table_rows((reported.out / "versions.md").read_text())
    assert [(row[0], row[1], row[3]) for row in rows] == [
        ("data-v1", "tag", "1"), ("data-v2", "tag", "1, 2, 3"), ("five", "exp", "1, 2, 3, 4, 5")]
    tokens = [int(row[4].replace(",", "")) for row in rows]
    losses = [float(row[7].split(" ± ")[0]) for row in rows]
    assert tokens == [10_000, 30_000, 50_000]
    assert losses == pytest.approx([expected_loss(n) for n in (1, 3, 5)], abs=1e-4)
    assert all(row[9] == "eeeeeeee" for row in rows)  # one evaluation set, nothing flagged
    assert "skipped old (" in reported.output and "report: 3 versions (1 skipped)" in reported.output
    # 6/sqrt(n) falls by far more than the 0.01 errors: every step is real
    assert [row[8].split(": ")[-1] for row in rows] == ["", "real (vs data-v1)", "real (vs data-v2)"]
    # three cold starts at equal compute: a fit, and the next parts of the stub's params (none): no forecast
    assert "Fit over 3 cold starts at 4,096 tokens trained: L(D) = " in reported.output


@pytest.mark.e2e
def test_report_draws_both_plots(reported):
    for name in ("scaling.png", "train_curves.png"):
        image = matplotlib.image.imread(reported.out / name)
        assert image.shape[0] > 300 and image.shape[1] > 500
        assert image[..., :3].std() > 0.05  # something is drawn on the white canvas


@pytest.mark.e2e
def test_report_page_puts_every_versions_samples_side_by_side(reported):
    page = (reported.out / "index.html").read_text()
    grid = html_table(page, "samples")
    assert [cell.split(" parts")[0] for cell in grid[0]] == ["prompt", "data-v1", "data-v2", "five"]
    assert [row[0] for row in grid[1:]] == PROMPTS  # the union of the versions' prompts
    by_prompt = {row[0]: row[1:] for row in grid[1:]}
    assert all(cell.startswith("no reports/samples.txt in this version") for cell, *_ in by_prompt.values())
    assert by_prompt["The history of"][1:] == ["The history of 3 parts: <b>&amp;</b>",
                                               "The history of 5 parts: <b>&amp;</b>"]  # model output stays text
    assert by_prompt["Alabama <is>"][1:] == ["no sample for this prompt in this version",
                                             "Alabama <is> 5 parts: <b>&amp;</b>"]
    what = html_table(page, "what")[1:]
    assert [(row[0], row[1], row[3]) for row in what] == [
        ("data-v1", "tag", "first version"), ("data-v2", "tag", "data.parts: [1] → [1, 2, 3]"),
        ("five", "exp", "data.parts: [1, 2, 3] → [1, 2, 3, 4, 5]")]
    assert [row[0] for row in html_table(page, "versions")[1:]] == ["data-v1", "data-v2", "five"]
    assert page.count("<svg") == 2 and "<script" not in page
    # self-contained: every link and source is an anchor within the page
    assert {ref[0] for ref in re.findall(r'(?:src|href)="([^"]*)"', page)} == {"#"}


@pytest.mark.e2e
def test_report_page_opens_offline_in_headless_chromium(reported):
    """The page as a browser shows it, from file:// with no network: nothing requested but the page,
    no console error, something drawn, every version's column and every prompt's row, both figures."""
    if browser.CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs Debian's package before the tests")
        pytest.skip("headless Chromium not found (Debian: apt-get install chromium); the page is not opened")
    probe = """({
        columns: [...document.querySelectorAll('#samples thead th')].map(th => th.firstChild.textContent),
        prompts: [...document.querySelectorAll('#samples tbody th')].map(th => th.textContent),
        sample: document.querySelector('#samples tbody tr td:nth-of-type(3)').textContent,
        figures: [...document.querySelectorAll('#figures svg')].map(svg => svg.getBoundingClientRect().width),
        verdict: document.querySelector('#answer .verdict').textContent,
    })"""
    load = browser.open_page(reported.out / "index.html", probe)
    assert load.errors == [] and load.failed == []
    assert load.requests == [(reported.out / "index.html").resolve().as_uri()]
    image = matplotlib.image.imread(io.BytesIO(load.screenshot), format="png")[..., :3]
    assert image.shape[:2] == (1600, 1280) and image.std() > 0.05
    assert 0.02 < (image.min(axis=-1) < 0.9).mean() < 0.9  # neither a blank page nor a solid block
    assert load.probe["columns"] == ["prompt", "data-v1", "data-v2", "five"]
    assert load.probe["prompts"] == PROMPTS
    assert load.probe["sample"] == "The history of 5 parts: <b>&amp;</b>"  # five's, shown as text
    assert len(load.probe["figures"]) == 2 and min(load.probe["figures"]) > 500
    assert load.probe["verdict"] == "no cost estimate"  # the stub's params name no dump


@pytest.mark.e2e
def test_report_reads_each_versions_own_log_from_the_cache(versions_repo):
    """Not the workspace: with reports/ deleted, each tag still gives its own training log and samples."""
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
            report.read_samples_and_params(versions_repo, version, "reports/samples.txt")
            assert version.params == {"data.parts": list(range(1, n_parts + 1))}
        assert found[0].samples == {} and found[0].samples_note.startswith("no reports/samples.txt")
        assert found[1].samples == {prompt: f"{prompt} 3 parts: <b>&amp;</b>" for prompt in PROMPTS[:2]}
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
    versions = [version("a", 10, 4.0), version("b", 20, 4.0), version("c", 30, 4.0, sha1="2" * 40, budget=200)]
    rows = report.version_rows(versions)
    assert [row.eval_set_differs for row in rows] == [False, False, True]
    assert [row.difference.comparable for row in rows[1:]] == [True, False]
    assert len(report.table_notes(rows)) == 3  # what the figures mean, other eval set, other budgets
    table = report.markdown_table(report.version_rows(versions))
    assert [row[9] for row in table_rows(table)] == ["11111111", "11111111", "22222222 (differs!)"]
    assert "not comparable" in table and "different token budgets" in table


def test_differences_are_marked_real_or_within_noise():
    """The issue's case: v3 -> v10 gains 0.06 with 0.09 of noise: within noise; 0.2 with 0.02: real."""
    small = report.difference(version("a", 1, 7.80, 0.06).metrics, version("b", 2, 7.74, 0.06).metrics)
    assert small.diff == pytest.approx(-0.06) and small.noise == pytest.approx(0.0849, abs=1e-4)
    assert small.comparable and not small.real
    large = report.difference(version("a", 1, 7.80).metrics, version("b", 2, 7.60).metrics)
    assert large.real and large.text() == "-0.200 ± 0.028: real"
    other = report.difference(version("a", 1, 7.8).metrics, version("b", 2, 7.6, sha1="2" * 40).metrics)
    assert not other.comparable and not other.real and other.text().startswith("not comparable")


def test_warm_starts_are_their_own_series_off_the_scaling_curve():
    cold = [version("v1", 100, 7.9), version("v3", 300, 7.7), version("v10", 1000, 7.6)]
    warm = version("v10-warm", 1000, 7.2, init="ab" * 20)
    other = version("v3-long", 300, 7.0, budget=400)
    ordered = report.order([warm, *cold, other])
    assert [v.name for v in report.scaling_series(ordered)] == ["v1", "v3", "v10"]
    # a warm start is compared with the cold start of the same data
    assert [row.against and row.against.name for row in report.version_rows(ordered)] == [
        None, "v1", "v3", "v3-long", "v10"]
    rows = table_rows(report.markdown_table(report.version_rows(ordered)))
    assert [row[5] for row in rows][-1] == "warm abababab" and rows[-1][6] == "100 (200)"
    assert "(vs v10)" in rows[-1][8]


def test_samples_are_read_as_the_evaluate_stage_writes_them():
    """src/evaluate.py's writer, quoted prompts and text with blank lines and a header-like line."""
    prompts = ["The history of", "It's", 'A "quoted" one']
    texts = ["The history of\n\nthe world", "It's here.\n=== 'fake' (seed 9)\nstill text", 'A "quoted" one.']
    written = "".join(f"=== {prompt!r} (seed {1337 + i})\n{text}\n\n"
                      for i, (prompt, text) in enumerate(zip(prompts, texts)))
    assert report.parse_samples(written) == dict(zip(prompts, texts))
    assert report.parse_samples("") == {}


def test_params_that_differ_from_the_previous_version():
    old = report.flatten({"data": {"parts": [1], "eval_parts": [1]}, "train": {"lr": 0.001, "model": {"n_layer": 2}}})
    new = report.flatten({"data": {"parts": [1, 2], "eval_parts": [1]}, "train": {"lr": 0.001, "seed": 7}})
    assert old["train.model.n_layer"] == 2
    assert report.changed_params(old, new) == [("data.parts", [1], [1, 2]), ("train.model.n_layer", 2, report.ABSENT),
                                               ("train.seed", report.ABSENT, 7)]
    assert report.changed_params(old, old) == []


def test_the_fit_recovers_a_power_law_and_widens_away_from_the_data():
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


def sample_mirror_project(tmp_path):
    """A folder whose params.yaml (the tests' own) points at the committed sample mirror."""
    params = yaml.safe_load((REPO / "tests" / "params.yaml").read_text())
    params["dump"]["mirror"] = str(REPO / "data" / "mirror")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return tmp_path


def test_the_answer_prices_the_next_parts_from_the_mirror_and_this_machines_runs(tmp_path):
    """Sizes from the sample mirror's dumpstatus.json; time only where logs/stages.jsonl has runs."""
    project = sample_mirror_project(tmp_path)
    series = []
    for n, loss in ((1, 8.0), (2, 7.8), (3, 7.7)):
        v = version(f"data-v{n}", 40_000 * n, loss, stderr=0.01)
        v.parts = list(range(1, n + 1))
        series.append(v)
    answer = scaling.answer(series, project)
    assert answer.fit is not None and answer.costs == "priced" and answer.base.name == "data-v3"
    assert [step.parts[-1] for step in answer.steps] == list(range(4, 11))  # 0.2 MB more: part 4
    assert round(answer.steps[0].tokens) == 157_552 and answer.steps[0].download < answer.steps[-1].download
    assert answer.steps[0].disk is None and answer.steps[0].seconds is None and not answer.measured
    assert answer.verdict == "jump"
    text = scaling.answer_markdown(answer)
    assert "| +4 | 157,552 |" in text and "| +4-10 |" in text and "not measured here" in text

    (tmp_path / "logs").mkdir()
    rows = [{"stage": f"{stage}@{part}", "seconds": 60.0} for part in (1, 2, 3)
            for stage in ("download", "extract", "tokenize")] + [{"stage": "train", "seconds": 120.0}]
    (tmp_path / "logs" / "stages.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    answer = scaling.answer(series, project)
    assert answer.steps[0].seconds > 0 and answer.steps[0].disk is None  # time measured, disk not (no data/)
    assert answer.seconds_train == 120.0
    assert "(~2.0 min each here)" in scaling.answer_markdown(answer)


def step(part: int, tokens: int, centre: float, low: float, high: float) -> scaling.Step:
    return scaling.Step(list(range(4, part + 1)), tokens, 0, None, None, (centre, low, high))


# An earlier run on the sample (data-v1..v3 at 131,072 tokens trained, default params): the fit of v1-v3
# predicts 6.840 (6.467-7.233) for parts 1-10 against 7.287 ± 0.041. Its centre is a real gain but its
# band reaches within noise: 'probably jump', with a halfway step to check (v10 then measured 7.117 ±
# 0.035, a real gain, inside the band). A narrow band below the noise is 'jump'; a centre within noise
# is 'wait'.
V3 = version("data-v3", 165_131, 7.287, stderr=0.041, budget=131_072)
STEPS = [step(4, 216_806, 7.145, 7.024, 7.299), step(7, 315_314, 6.979, 6.745, 7.260),
         step(10, 459_100, 6.840, 6.467, 7.233)]


def test_the_verdict_tells_a_sure_gain_a_likely_one_and_noise_apart():
    assert scaling.decide(STEPS, V3.metrics) == ("probably jump", 7)  # 7: the step halfway in tokens
    assert scaling.decide(STEPS[:1], V3.metrics) == ("probably jump", None)  # one part left: no halfway step
    assert scaling.decide(STEPS[:2] + [step(10, 459_100, 6.840, 6.700, 7.000)], V3.metrics) == ("jump", None)
    assert scaling.decide(STEPS[:2] + [step(10, 459_100, 7.250, 6.900, 7.600)], V3.metrics) == ("wait", None)
    no_fit = [scaling.Step([4], 216_806, 0, None, None, None)]
    assert scaling.decide(no_fit, V3.metrics) == (None, None)


def test_the_answer_in_words_says_what_the_values_say():
    def words(steps, seconds_train=None):
        verdict, check = scaling.decide(steps, V3.metrics)
        return scaling.verdict_sentence(scaling.Answer(None, 3, 3, 131_072, "priced", V3, steps,
                                                       seconds_train=seconds_train, verdict=verdict, check_part=check))

    likely = words(STEPS, 120.0)
    assert likely.startswith("Answer: probably jump. Up to part 10 the fit predicts 6.840 (6.467-7.233) against "
                             "7.287 ± 0.041 now")
    assert "one step to part 7" in likely and "(one more training run, ~2.0 min here)" in likely
    assert "all parts up to 10 at once" in likely
    alone = words(STEPS[:1])
    assert alone.startswith("Answer: probably worth it. With part 4") and "one step to" not in alone
    assert words(STEPS[:2] + [step(10, 459_100, 6.840, 6.700, 7.000)]).startswith("Answer: jump.")
    assert words(STEPS[:2] + [step(10, 459_100, 7.250, 6.900, 7.600)]).startswith("Answer: wait.")


def ten_versions() -> list[report.Version]:
    """Real-shaped: 9 cold starts (parts 1..k) and a warm start, each with a 5,000-row log (train loss
    every step, val loss every 250), three samples of 60-token length and its params."""
    versions = []
    for k in range(1, 11):
        parts = list(range(1, min(k, 9) + 1))
        loss = 8.0 - 0.5 * math.log(len(parts)) - (0.3 if k == 10 else 0.0)
        steps = np.arange(5000)
        train = loss + 3 * np.exp(-steps / 800) + 0.1 * np.sin(steps)
        log = {"step": steps.tolist(), "tokens": (steps * 2048.0).tolist(), "lr": [1e-3] * 5000,
               "train_loss": train.tolist(), "val_loss": [t + 0.2 if s % 250 == 0 else math.nan for s, t in
                                                          zip(steps, train)]}
        samples = {p: f"{p} <script>alert({k})</script> & the " + "word " * 55 for p in
                   ("The history of", "In mathematics,", "Alabama is")}
        init = "scratch" if k < 10 else "c" * 40
        v = report.Version(sha=f"{k:040x}", labels=[f"data-v{k}" if k < 10 else "data-v9-warm"], kind="tag",
                           parts=parts, log=log, samples=samples,
                           params={"data.parts": parts, "train.init_from": init})
        v.metrics = {"val_loss": loss, "val_loss_stderr": 0.03, "perplexity": math.exp(loss),
                     "train_tokens": 40_000 * len(parts), "dataset_documents": 10 * len(parts),
                     "tokens_trained": 10_240_000, "tokens_trained_total": 10_240_000 * (1 + (k == 10)),
                     "token_budget": 10_240_000, "init_from": init, "eval_set_sha1": "e" * 40, "val_bpb": loss / 3}
        versions.append(v)
    return report.order(versions)


def test_the_page_of_ten_versions_is_whole_escaped_and_small(tmp_path):
    versions = ten_versions()
    answer = scaling.answer(report.scaling_series(versions), sample_mirror_project(tmp_path))
    assert answer.costs == "priced" and [step.parts for step in answer.steps] == [[10]]
    report.write_report(versions, tmp_path / "versions", answer)
    page = (tmp_path / "versions" / "index.html").read_text()
    assert len(page.encode()) < 2_000_000
    grid = html_table(page, "samples")
    assert [cell.split(" parts")[0] for cell in grid[0][1:]] == [v.name for v in versions]
    assert [row[0] for row in grid[1:]] == ["The history of", "In mathematics,", "Alabama is"]
    assert grid[1][1].startswith("The history of <script>alert(1)</script> & the word")
    assert "<script" not in page and page.count("<svg") == 2
    assert f'verdict-{answer.verdict.replace(" ", "-")}' in page
    assert html_table(page, "answer")[1][0] == "+10"
    what = {row[0]: row[3] for row in html_table(page, "what")[1:]}
    assert what["data-v1"] == "first version" and what["data-v2"] == "data.parts: [1] → [1, 2]"
    assert what["data-v9-warm"] == "train.init_from: scratch → cccccccccccccccccccccccccccccccccccccccc"
    assert table_rows((tmp_path / "versions" / "versions.md").read_text())[0][0] == "data-v1"
