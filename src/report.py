"""Compare dataset versions: the metrics, training curves and generated text of every git tag and DVC experiment.

    python src/report.py --metrics reports/metrics.json --log reports/train_log.csv --out reports/versions
    python src/report.py ... --tags 'data-v*' --no-exps      # tagged versions only
    python src/report.py ... --rev main --rev data-v1        # these revisions as well

Each version's metrics, training log and samples are read with `dvc.api` at that revision (from the
local DVC cache or, where missing there, the default remote), its params.yaml from git, so nothing is
checked out or recomputed, and nothing is fetched from the internet: the plots are PNG and inline SVG,
not DVC's HTML (which loads vega from a CDN). Experiments are the git refs `dvc exp run` writes under
refs/exps, whatever their baseline. The rows, the differences and the verdict are computed first, as
values; versions.md and index.html are two renderings of them. Writes:
    OUT/versions.md       one row per version: parts, training tokens, start (scratch or warm), tokens
                          trained (over the warm-start chain), val loss ± stderr, the difference from
                          the previous version marked real or within noise, val bits per byte (where
                          the version's metrics have it); then what more data is
                          worth (src/scaling.py: the fit, the next parts' predicted loss and cost)
    OUT/scaling.png       val loss ± 2 stderr against training tokens (log x): cold starts at equal
                          compute as the scaling curve with the fit and its 95% band, warm starts as
                          their own series
    OUT/train_curves.png  train loss (every logged step) and val loss (every evaluation), one line per version
    OUT/index.html        one self-contained page (src/report_page.py): the answer, the table, both
                          figures as inline SVG, every version's samples side by side (a column per
                          version, a row per prompt), and the params each version changed
Prints one line per version, every skipped revision with the reason, the answer, and a closing summary.
"""

from __future__ import annotations

import argparse
import ast
import csv
import io
import math
import posixpath
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import dvc.api
import matplotlib
import numpy as np
import yaml
from dvc.repo import Repo

matplotlib.use("Agg")  # files only: no display, no browser, no network
import matplotlib.pyplot as plt

import report_page
import scaling
from share import git, missing_outputs, names_remote, recorded_outputs
from atomic import atomic_path, write_text_atomic

METRIC_KEYS = ("val_loss", "val_loss_stderr", "perplexity", "train_tokens", "dataset_documents", "tokens_trained",
               "tokens_trained_total", "token_budget", "init_from", "eval_set_sha1")
NOISE_Z = 2.0  # a difference is real when it exceeds 2 standard errors of the difference (~95%)
LOG_COLUMNS = ("step", "tokens", "lr", "train_loss", "val_loss")
# src/evaluate.py writes each sample as `=== 'prompt' (seed N)`, the text, a blank line
SAMPLE_HEADER = re.compile(r"^=== (?P<prompt>'.*'|\".*\") \(seed (?P<seed>\d+)\)$", re.MULTILINE)
CURVE_POINTS = 300  # points per drawn line at most: the page's SVG stays small however long the log
ABSENT = "(not set)"  # a param one of two versions lacks


@dataclass
class Version:
    """One revision to report: a tag, an experiment or a revision named on the command line."""

    sha: str
    labels: list[str]
    kind: str  # "tag" | "exp" | "rev"
    metrics: dict = field(default_factory=dict)
    parts: list[int] = field(default_factory=list)
    log: dict[str, list[float]] = field(default_factory=dict)
    samples: dict[str, str] = field(default_factory=dict)  # prompt -> generated text (prompt included)
    samples_note: str = ""  # why there are none
    params: dict = field(default_factory=dict)  # params.yaml at that commit, as dotted keys

    @property
    def name(self) -> str:
        return ", ".join(self.labels)


def list_versions(repo: Path, tag_pattern: str | None, exps: bool, revs: list[str]) -> list[Version]:
    """Tags matching the pattern, every experiment, and the named revisions; one entry per commit."""
    found: list[tuple[str, str, str]] = []  # (sha, label, kind)
    if tag_pattern is not None:
        refs = git(repo, "for-each-ref", "--format=%(objectname) %(*objectname) %(refname:short)",
                   f"refs/tags/{tag_pattern}").stdout
        for line in refs.splitlines():
            sha, peeled, name = line.split(" ", 2)  # annotated tags: the commit is the peeled object
            found.append((peeled or sha, name, "tag"))
    if exps:
        # refs/exps/<2 hex>/<baseline sha>/<experiment name> (DVC's layout; stash refs are shallower)
        refs = git(repo, "for-each-ref", "--format=%(objectname) %(refname)", "refs/exps").stdout
        for line in refs.splitlines():
            sha, ref = line.split(" ", 1)
            if len(ref.split("/")) == 5:
                found.append((sha, ref.rsplit("/", 1)[1], "exp"))
    for rev in revs:
        found.append((git(repo, "rev-parse", "--verify", f"{rev}^{{commit}}").stdout.strip(), rev, "rev"))
    by_sha: dict[str, Version] = {}
    for sha, label, kind in found:
        if sha in by_sha:
            by_sha[sha].labels.append(label)
        else:
            by_sha[sha] = Version(sha=sha, labels=[label], kind=kind)
    return list(by_sha.values())


def parse_log(text: str) -> dict[str, list[float]]:
    """train_log.csv as columns of floats; an empty cell (no eval at that step) becomes NaN."""
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or any(column not in rows[0] for column in LOG_COLUMNS):
        raise ValueError(f"expected the columns {', '.join(LOG_COLUMNS)}")
    return {column: [float(row[column]) if row[column] not in ("", None) else math.nan for row in rows]
            for column in LOG_COLUMNS}


def parse_samples(text: str) -> dict[str, str]:
    """samples.txt as prompt -> generated text. The writer numbers the seeds one by one from the first,
    so a line of generated text that only looks like a header (another seed) stays text."""
    heads = []
    for head in SAMPLE_HEADER.finditer(text):
        if not heads or int(head["seed"]) == int(heads[-1]["seed"]) + 1:
            heads.append(head)
    ends = [head.start() for head in heads[1:]] + [len(text)]
    return {ast.literal_eval(head["prompt"]): text[head.end() + 1:end].removesuffix("\n\n")
            for head, end in zip(heads, ends)}


def read_version(repo: Path, version: Version, metrics_path: str, log_path: str) -> str | None:
    """Fill in the version's metrics, parts and log; return why it cannot be reported, or None."""
    try:
        # metrics_show resolves targets against the current directory, dvc.api.read against `repo`
        metrics = dvc.api.metrics_show(str(repo / metrics_path), repo=str(repo), rev=version.sha)
    except Exception as error:  # an old commit without the pipeline, a failed experiment, never pushed
        return not_shared(repo, version.sha, metrics_path) or f"no {metrics_path} ({type(error).__name__})"
    missing = [key for key in METRIC_KEYS if key not in metrics]
    if missing:
        return f"{metrics_path} lacks {', '.join(missing)}"
    try:
        log_text = dvc.api.read(log_path, repo=str(repo), rev=version.sha)
        version.log = parse_log(log_text)
    except Exception as error:
        return f"cannot read {log_path}: {error}"
    version.metrics = metrics
    version.parts = dvc.api.params_show(repo=str(repo), rev=version.sha)["data"]["parts"]
    return None


def read_samples_and_params(repo: Path, version: Version, samples_path: str) -> None:
    """The version's generated samples (none, with the reason, where it has no samples file) and its
    params.yaml; neither keeps a version out of the report."""
    try:
        version.samples = parse_samples(dvc.api.read(samples_path, repo=str(repo), rev=version.sha))
    except Exception as error:  # a version from before the samples, or one never pushed
        version.samples_note = (not_shared(repo, version.sha, samples_path)
                                or f"no {samples_path} in this version ({type(error).__name__})")
    shown = git(repo, "show", f"{version.sha}:params.yaml", check=False)
    version.params = flatten(yaml.safe_load(shown.stdout) or {}) if shown.returncode == 0 else {}


def flatten(params: dict, prefix: str = "") -> dict:
    """{"train": {"lr": 1}} -> {"train.lr": 1}; lists stay values."""
    flat = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def changed_params(old: dict, new: dict) -> list[tuple[str, object, object]]:
    """(key, old value, new value) of every dotted key whose value differs; ABSENT where one lacks it."""
    return [(key, old.get(key, ABSENT), new.get(key, ABSENT)) for key in sorted(old.keys() | new.keys())
            if old.get(key, ABSENT) != new.get(key, ABSENT)]


def not_shared(repo: Path, sha: str, path: str) -> str | None:
    """Why the commit's output `path` is unreadable when the cause is sharing, or None.

    Missing from both this cache and the default remote: it was never pushed. On the remote, but the
    commit's own .dvc/config names no remote (tagged before the remote was committed): DVC looks only
    there and in this machine's config.
    """
    md5 = recorded_outputs(repo, sha).get(posixpath.normpath(path))
    if md5 is None:  # not an output of that commit: nothing to fetch
        return None
    dvc_repo = Repo(str(repo))
    remote = dvc_repo.config["core"].get("remote")
    if dvc_repo.cache.local.exists(md5):
        return None
    if remote is None:
        return "not in this cache and no DVC remote configured (dvc remote add -d team URL)"
    _, missing = missing_outputs({path: md5}, dvc_repo.cloud.get_remote_odb(remote), dvc_repo.cache.local)
    if missing:
        return f"not on the remote '{remote}' (never pushed?) — run `python src/share.py` where it was built"
    if not names_remote(repo, sha, remote):
        return (f"on the remote '{remote}', but its commit names no remote: add '{remote}' to "
                ".dvc/config.local (docs/sharing.md, section 3)")
    return None


def comparable_eval_set(versions: list[Version]) -> str:
    """The evaluation set most versions share; versions scored on another one are flagged."""
    return Counter(v.metrics["eval_set_sha1"] for v in versions).most_common(1)[0][0]


def is_cold(version: Version) -> bool:
    return version.metrics["init_from"] == "scratch"


# ------------------------------------------------------------------------------------ the rows

@dataclass
class Difference:
    """One version's val loss against another's."""
    diff: float        # the newer loss minus the older
    noise: float       # the standard error of the difference: both errors in quadrature (independent means)
    comparable: bool   # scored on the same evaluation set

    @property
    def real(self) -> bool:
        return self.comparable and abs(self.diff) > NOISE_Z * self.noise

    def text(self) -> str:
        if not self.comparable:
            return "not comparable (other eval set)"
        return f"{self.diff:+.3f} ± {self.noise:.3f}: {'real' if self.real else 'within noise'}"


def difference(a: dict, b: dict) -> Difference:
    """b's val loss against a's (two versions' metrics)."""
    return Difference(b["val_loss"] - a["val_loss"], math.hypot(a["val_loss_stderr"], b["val_loss_stderr"]),
                      a["eval_set_sha1"] == b["eval_set_sha1"])


@dataclass
class Row:
    """One line of the versions table, as values: versions.md and the page render it."""
    version: Version
    against: Version | None          # the previous cold start (a warm start: the cold start of its data)
    difference: Difference | None    # against it
    eval_set_differs: bool           # scored on another evaluation set than most versions
    changed: list[tuple[str, object, object]] | None  # params that differ from the previous row's; None: first


TABLE_COLUMNS = ("version", "kind", "commit", "parts", "train tokens", "start", "tokens trained (chain)",
                 "val loss", "vs previous", "eval set", "val bits per byte")


def version_rows(versions: list[Version]) -> list[Row]:
    """One row per version in the given order (cold starts first by training tokens, then warm starts);
    each compared with the previous cold start (a warm start: with the cold start of the same data, if any)."""
    common, rows, previous = comparable_eval_set(versions), [], None
    for i, v in enumerate(versions):
        if is_cold(v):
            against, previous = previous, v
        else:
            same_data = [c for c in scaling_series(versions) if c.metrics["train_tokens"] == v.metrics["train_tokens"]]
            against = same_data[0] if same_data else previous
        rows.append(Row(v, against, difference(against.metrics, v.metrics) if against else None,
                        v.metrics["eval_set_sha1"] != common,
                        changed_params(versions[i - 1].params, v.params) if i else None))
    return rows


def row_cells(row: Row) -> list[str]:
    """The row's cells (TABLE_COLUMNS) as text."""
    v, m = row.version, row.version.metrics
    start = "scratch" if is_cold(v) else f"warm {m['init_from'][:8]}"
    compared = f"{row.difference.text()} (vs {row.against.name})" if row.against else ""
    return [v.name, v.kind, v.sha[:7], ", ".join(map(str, v.parts)), f"{m['train_tokens']:,}", start,
            f"{m['tokens_trained']:,} ({m['tokens_trained_total']:,})",
            f"{m['val_loss']:.4f} ± {m['val_loss_stderr']:.4f}", compared,
            m["eval_set_sha1"][:8] + (" (differs!)" if row.eval_set_differs else ""),
            f"{m['val_bpb']:.4f}" if "val_bpb" in m else "-"]  # versions before val_bpb have none


def table_notes(rows: list[Row]) -> list[str]:
    """What the table's figures mean, and what makes some of them not comparable."""
    notes = [f"val loss ± its standard error over the evaluation windows; a difference is real when it "
             f"exceeds {NOISE_Z:g} standard errors of the difference. Val bits per byte: the same loss in "
             f"bits per UTF-8 byte of the text scored, which compares across tokenizers and languages."]
    if any(row.eval_set_differs for row in rows):
        notes.append("Versions marked *differs!* were scored on another evaluation set: their loss "
                     "is not comparable with the others'.")
    if len({row.version.metrics["token_budget"] for row in rows if is_cold(row.version)}) > 1:
        notes.append("Cold starts were trained on different token budgets: a loss difference mixes data "
                     "and training time.")
    return notes


def markdown_table(rows: list[Row]) -> str:
    lines = [f"| {' | '.join(TABLE_COLUMNS)} |", "|---|---|---|---|---:|---|---:|---:|---|---|---:|"]
    lines += [f"| {' | '.join(row_cells(row))} |" for row in rows]
    first, *others = table_notes(rows)
    return "\n".join(lines) + "\n" + "".join(f"\n{note}\n" for note in [f"*{first}*", *others])


def order(versions: list[Version]) -> list[Version]:
    """Cold starts by training tokens, then warm starts by training tokens."""
    return sorted(versions, key=lambda v: (not is_cold(v), v.metrics["train_tokens"], v.name))


def scaling_series(versions: list[Version]) -> list[Version]:
    """The cold starts at the compute most of them share: the points of the scaling curve."""
    cold = [v for v in versions if is_cold(v)]
    if not cold:
        return []
    budget = Counter(v.metrics["token_budget"] for v in cold).most_common(1)[0][0]
    return [v for v in cold if v.metrics["token_budget"] == budget]


# ---------------------------------------------------------------------------------- the figures

def save_figure(fig, path: Path) -> str:
    """The figure as a PNG file (through a temporary file and a rename: a failed write leaves the old
    PNG whole) and as SVG text for the page: text kept as text, not paths, and ids salted with the
    file's name so that two figures inlined in one page never share an id."""
    try:
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
        buffer = io.StringIO()
        with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": path.stem}):
            fig.savefig(buffer, format="svg", metadata={"Date": None})
        return buffer.getvalue()
    finally:
        plt.close(fig)


def write_report(versions: list[Version], out: Path, answer: scaling.Answer | None = None) -> None:
    """versions.md, scaling.png, train_curves.png and index.html in `out`, each written whole or not at all."""
    out.mkdir(parents=True, exist_ok=True)
    rows = version_rows(versions)
    write_text_atomic(out / "versions.md", markdown_table(rows)
                      + (f"\n{scaling.answer_markdown(answer)}" if answer else ""))
    figures = {"Val loss ± 2 stderr against training tokens: cold starts at equal compute on the curve, with "
               "the fit and its 95% band; other budgets and warm starts apart (scaling.png)":
               save_figure(scaling_figure(versions, answer), out / "scaling.png"),
               "Train loss at every logged step, val loss at every evaluation, one colour per version "
               "(train_curves.png)": save_figure(curves_figure(versions), out / "train_curves.png")}
    write_text_atomic(out / "index.html", report_page.render(rows, [row_cells(row) for row in rows], TABLE_COLUMNS,
                                                             table_notes(rows), answer, figures))


def scaling_figure(versions: list[Version], answer: scaling.Answer | None = None):
    """Val loss (± 2 standard errors) against training tokens: the cold starts at equal compute as the
    scaling curve (with the fitted law and its 95% band, when there is one, and the prediction the
    answer rests on), other cold starts and warm starts as their own markers."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    curve = scaling_series(versions)
    series = [("cold starts at equal compute", "o-", curve),
              ("cold starts, other budget", "s", [v for v in versions if is_cold(v) and v not in curve]),
              ("warm starts", "^", [v for v in versions if not is_cold(v)])]
    for label, style, chosen in series:
        if chosen:
            ax.errorbar([v.metrics["train_tokens"] for v in chosen], [v.metrics["val_loss"] for v in chosen],
                        yerr=[NOISE_Z * v.metrics["val_loss_stderr"] for v in chosen], fmt=style, capsize=3,
                        label=label)
    law = answer.fit if answer else None
    if law is not None:
        last = answer.steps[-1] if answer.steps and answer.steps[-1].predicted else None
        xs = np.geomspace(min(law.tokens), max(max(law.tokens) * 4, last.tokens if last else 0), 40)
        ax.plot(xs, law.predict(xs), "--", color="grey", label=f"fit: {law.formula()}")
        ax.fill_between(xs, *zip(*(law.interval(x) for x in xs)), color="grey", alpha=0.2, label="fit's 95% band")
        if last:
            centre, low, high = last.predicted
            ax.errorbar([last.tokens], [centre], yerr=[[centre - low], [high - centre]], fmt="D", color="black",
                        capsize=3, label=f"predicted: up to part {last.parts[-1]}")
    names_at: dict[tuple, list[str]] = {}  # one label per point: an experiment may repeat a tag
    for v in versions:
        names_at.setdefault((v.metrics["train_tokens"], v.metrics["val_loss"]), []).append(v.name)
    for point, names in names_at.items():
        ax.annotate(", ".join(names), point, fontsize=8, textcoords="offset points", xytext=(4, 4))
    ax.set_xscale("log")
    ax.set_xlabel("training tokens of the version (held-out documents excluded)")
    ax.set_ylabel("val loss (evaluation set, ± 2 stderr)")
    ax.set_title("Scaling: val loss against training data")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def thin(xs: list[float], ys: list[float], most: int = CURVE_POINTS) -> tuple[list[float], list[float]]:
    """The finite points, every k-th of them (the last one kept) when there are more than `most`."""
    points = [(x, y) for x, y in zip(xs, ys) if math.isfinite(y)]
    step = max(1, math.ceil(len(points) / most))
    kept = points[::step] + ([points[-1]] if points and (len(points) - 1) % step else [])
    return [x for x, _ in kept], [y for _, y in kept]


def curves_figure(versions: list[Version]):
    """Train loss at every logged step and val loss at every evaluation (its own, coarser, points)
    against tokens trained, one colour per version."""
    fig, (ax_train, ax_val) = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    for v in versions:
        line, = ax_train.plot(*thin(v.log["tokens"], v.log["train_loss"]), lw=1, label=v.name)
        ax_val.plot(*thin(v.log["tokens"], v.log["val_loss"]), "o-", ms=3, color=line.get_color(),
                    label=f"{v.name} ({v.metrics['train_tokens']:,} training tokens)")
    for ax, title in ((ax_train, "train loss (every logged step)"), (ax_val, "val loss (every evaluation)")):
        ax.set_xlabel("tokens trained")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
    ax_train.set_ylabel("loss")
    ax_val.legend(fontsize=8)
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--metrics", required=True, help="the metrics file of every version, e.g. reports/metrics.json")
    parser.add_argument("--log", required=True, help="the training log of every version, e.g. reports/train_log.csv")
    parser.add_argument("--samples", default="reports/samples.txt",
                        help="the generated samples of every version (the evaluate stage's --samples)")
    parser.add_argument("--out", required=True, type=Path,
                        help="folder for versions.md, scaling.png, train_curves.png, index.html")
    parser.add_argument("--repo", type=Path, default=Path("."), help="the project's git repository")
    parser.add_argument("--tags", default="*", help="tags to include (a git glob); default: all")
    parser.add_argument("--no-tags", action="store_true", help="leave tags out")
    parser.add_argument("--no-exps", action="store_true", help="leave experiments out")
    parser.add_argument("--rev", action="append", default=[], help="another revision to include (repeatable)")
    args = parser.parse_args()

    start = time.perf_counter()
    repo = args.repo.resolve()
    candidates = list_versions(repo, None if args.no_tags else args.tags, not args.no_exps, args.rev)
    versions, skipped = [], 0
    for version in candidates:
        reason = read_version(repo, version, args.metrics, args.log)
        if reason:
            skipped += 1
            print(f"skipped {version.name} ({version.sha[:7]}): {reason}")
            continue
        read_samples_and_params(repo, version, args.samples)
        versions.append(version)
        m = version.metrics
        print(f"{version.kind:3} {version.name}: parts {version.parts}, {m['train_tokens']:,} training tokens, "
              f"val loss {m['val_loss']:.4f} ± {m['val_loss_stderr']:.4f}, "
              + (f"{len(version.samples)} samples" if version.samples else f"no samples: {version.samples_note}"))
    if not versions:
        raise SystemExit(f"report: no version with {args.metrics} among {len(candidates)} revisions "
                         "(tag a version, or run `dvc exp run`, and check `dvc metrics show`)")
    versions = order(versions)
    answer = scaling.answer(scaling_series(versions), repo)
    print(scaling.answer_markdown(answer))
    try:
        write_report(versions, args.out, answer)
    except OSError as exc:
        raise SystemExit(f"report: cannot write {exc.filename or args.out}: {exc.strerror or exc}; "
                         "the files already there are kept as they were") from None
    print(f"report: {len(versions)} versions ({skipped} skipped) -> {args.out}/versions.md, scaling.png, "
          f"train_curves.png, index.html in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
