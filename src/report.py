"""Compare dataset versions: the metrics and training curves of every git tag and DVC experiment.

    python src/report.py --metrics reports/metrics.json --log reports/train_log.csv --out reports/versions
    python src/report.py ... --tags 'data-v*' --no-exps      # tagged versions only
    python src/report.py ... --rev main --rev data-v1        # these revisions as well

Each version's metrics and training log are read with `dvc.api` at that revision (from the local DVC
cache or, where missing there, the default remote), so nothing is checked out or recomputed, and
nothing is fetched from the internet: the plots are PNG files, not DVC's HTML (which loads vega from
a CDN). Experiments are the git refs `dvc exp run` writes under refs/exps, whatever their baseline.
Writes:
    OUT/versions.md       one row per version: parts, training tokens, start (scratch or warm), tokens
                          trained (over the warm-start chain), val loss ± stderr, the difference from
                          the previous version marked real or within noise, val bits per byte (where
                          the version's metrics have it); then what more data is
                          worth (src/scaling.py: the fit, the next parts' predicted loss and cost)
    OUT/scaling.png       val loss ± 2 stderr against training tokens (log x): cold starts at equal
                          compute as the scaling curve with the fit, warm starts as their own series
    OUT/train_curves.png  train and val loss against tokens trained, one line per version
Prints one line per version, every skipped revision with the reason, the answer, and a closing summary.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import posixpath
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import dvc.api
import matplotlib
import numpy as np
from dvc.repo import Repo

matplotlib.use("Agg")  # files only: no display, no browser, no network
import matplotlib.pyplot as plt

import scaling
from share import git, missing_outputs, names_remote, recorded_outputs
from atomic import atomic_path, write_text_atomic

METRIC_KEYS = ("val_loss", "val_loss_stderr", "perplexity", "train_tokens", "dataset_documents", "tokens_trained",
               "tokens_trained_total", "token_budget", "init_from", "eval_set_sha1")
NOISE_Z = 2.0  # a difference is real when it exceeds 2 standard errors of the difference (~95%)
LOG_COLUMNS = ("step", "tokens", "lr", "train_loss", "val_loss")


@dataclass
class Version:
    """One revision to report: a tag, an experiment or a revision named on the command line."""

    sha: str
    labels: list[str]
    kind: str  # "tag" | "exp" | "rev"
    metrics: dict = field(default_factory=dict)
    parts: list[int] = field(default_factory=list)
    log: dict[str, list[float]] = field(default_factory=dict)

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


def verdict(a: dict, b: dict) -> str:
    """b's val loss against a's: the difference, and whether it is real or within noise (the standard
    errors of two independent means add in quadrature)."""
    if a["eval_set_sha1"] != b["eval_set_sha1"]:
        return "not comparable (other eval set)"
    diff = b["val_loss"] - a["val_loss"]
    noise = math.hypot(a["val_loss_stderr"], b["val_loss_stderr"])
    real = abs(diff) > NOISE_Z * noise
    return f"{diff:+.3f} ± {noise:.3f}: {'real' if real else 'within noise'}"


def markdown_table(versions: list[Version]) -> str:
    """One row per version, cold starts first by training tokens, then warm starts; each row compared
    with the previous cold start (a warm start: with the cold start of the same data, if any)."""
    common = comparable_eval_set(versions)
    lines = [
        "| version | kind | commit | parts | train tokens | start | tokens trained (chain) | val loss | "
        "vs previous | eval set | val bits per byte |",
        "|---|---|---|---|---:|---|---:|---:|---|---|---:|",
    ]
    previous = None
    for v in versions:
        m = v.metrics
        eval_set = m["eval_set_sha1"][:8] + ("" if m["eval_set_sha1"] == common else " (differs!)")
        start = "scratch" if is_cold(v) else f"warm {m['init_from'][:8]}"
        if is_cold(v):
            against, previous = previous, v
        else:
            same_data = [c for c in scaling_series(versions) if c.metrics["train_tokens"] == m["train_tokens"]]
            against = same_data[0] if same_data else previous
        compared = f"{verdict(against.metrics, m)} (vs {against.name})" if against else ""
        lines.append(
            f"| {v.name} | {v.kind} | {v.sha[:7]} | {', '.join(map(str, v.parts))} | {m['train_tokens']:,} | "
            f"{start} | {m['tokens_trained']:,} ({m['tokens_trained_total']:,}) | "
            f"{m['val_loss']:.4f} ± {m['val_loss_stderr']:.4f} | {compared} | {eval_set} | "
            + (f"{m['val_bpb']:.4f} |" if "val_bpb" in m else "- |"))  # versions before it have none
    notes = [f"*val loss ± its standard error over the evaluation windows; a difference is real when it "
             f"exceeds {NOISE_Z:g} standard errors of the difference. Val bits per byte: the same loss in "
             f"bits per UTF-8 byte of the text scored, which compares across tokenizers and languages.*"]
    if any(v.metrics["eval_set_sha1"] != common for v in versions):
        notes.append("Versions marked *differs!* were scored on another evaluation set: their loss "
                     "is not comparable with the others'.")
    if len({v.metrics["token_budget"] for v in versions if is_cold(v)}) > 1:
        notes.append("Cold starts were trained on different token budgets: a loss difference mixes data "
                     "and training time.")
    return "\n".join(lines) + "\n" + "".join(f"\n{note}\n" for note in notes)


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


def save_png(fig, path: Path) -> None:
    """The figure through a temporary file and a rename: a failed write leaves the old PNG whole."""
    try:
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
    finally:
        plt.close(fig)


def write_report(versions: list[Version], out: Path, answer: str = "", fit=None) -> None:
    """versions.md, scaling.png and train_curves.png in `out`, each written whole or not at all."""
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "versions.md", markdown_table(versions) + (f"\n{answer}" if answer else ""))
    plot_scaling(versions, out / "scaling.png", fit)
    plot_curves(versions, out / "train_curves.png")


def plot_scaling(versions: list[Version], path: Path, fit: "scaling.Fit | None" = None) -> None:
    """Val loss (± 2 standard errors) against training tokens: the cold starts at equal compute as the
    scaling curve (with the fitted law, when there is one), other cold starts and warm starts as their
    own markers."""
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
    if fit is not None:
        xs = np.geomspace(min(fit.tokens), max(fit.tokens) * 4, 50)
        ax.plot(xs, fit.predict(xs), "--", color="grey", label=f"fit: {fit.formula()}")
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
    ax.legend()
    save_png(fig, path)


def plot_curves(versions: list[Version], path: Path) -> None:
    """Train and val loss against tokens trained, one colour per version."""
    fig, (ax_train, ax_val) = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    for v in versions:
        tokens, train, val = v.log["tokens"], v.log["train_loss"], v.log["val_loss"]
        line, = ax_train.plot(tokens, train, lw=1, label=v.name)
        evals = [(t, loss) for t, loss in zip(tokens, val) if not math.isnan(loss)]
        ax_val.plot([t for t, _ in evals], [loss for _, loss in evals], "o-", ms=3, color=line.get_color(),
                    label=f"{v.name} ({v.metrics['train_tokens']:,} training tokens)")
    for ax, title in ((ax_train, "train loss"), (ax_val, "val loss")):
        ax.set_xlabel("tokens trained")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
    ax_train.set_ylabel("loss")
    ax_val.legend(fontsize=8)
    save_png(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--metrics", required=True, help="the metrics file of every version, e.g. reports/metrics.json")
    parser.add_argument("--log", required=True, help="the training log of every version, e.g. reports/train_log.csv")
    parser.add_argument("--out", required=True, type=Path, help="folder for versions.md, scaling.png, train_curves.png")
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
        versions.append(version)
        m = version.metrics
        print(f"{version.kind:3} {version.name}: parts {version.parts}, {m['train_tokens']:,} training tokens, "
              f"val loss {m['val_loss']:.4f} ± {m['val_loss_stderr']:.4f}")
    if not versions:
        raise SystemExit(f"report: no version with {args.metrics} among {len(candidates)} revisions "
                         "(tag a version, or run `dvc exp run`, and check `dvc metrics show`)")
    versions = order(versions)
    fit, answer = scaling.answer(scaling_series(versions), repo)
    print(answer)
    try:
        write_report(versions, args.out, answer, fit)
    except OSError as exc:
        raise SystemExit(f"report: cannot write {exc.filename or args.out}: {exc.strerror or exc}; "
                         "the files already there are kept as they were") from None
    print(f"report: {len(versions)} versions ({skipped} skipped) -> {args.out}/versions.md, scaling.png, "
          f"train_curves.png in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
