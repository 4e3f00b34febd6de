"""What more data is worth: a scaling fit over the dataset versions and the cost of the next parts.

Used by src/report.py. The fit is a saturating power law of the version's training tokens D,

    L(D) = E + B * D^-beta

over the cold starts trained at equal compute (at least 3 with distinct D), weighted by each val
loss's standard error; its uncertainty comes from refitting with every loss redrawn within its error
(a parametric bootstrap, seeded, so the report is repeatable). The cost of a part: its download size
from the mirror's dumpstatus.json, the disk its extracted text and tokens take and the time its stages
took, both measured on this machine (the workspace's data/ and logs/stages.jsonl); when nothing was
measured here the answer says so rather than guess.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

import runlog
from mirror import MirrorError, dump_base, is_url, list_parts, read_small

BETAS = np.geomspace(0.02, 3.0, 400)  # the exponents tried; E and B follow by weighted least squares
BOOTSTRAP = 400
MIN_VERSIONS = 3


@dataclass
class Fit:
    tokens: np.ndarray    # (n,) training tokens of the versions fitted
    losses: np.ndarray    # (n,) their val losses
    stderr: np.ndarray    # (n,) and standard errors
    params: tuple[float, float, float]  # E, B, beta
    draws: np.ndarray     # (BOOTSTRAP, 3) refitted (E, B, beta)

    def predict(self, d) -> np.ndarray:
        e, b, beta = self.params
        return e + b * np.asarray(d, dtype=float) ** -beta

    def interval(self, d: float) -> tuple[float, float]:
        """The 95% band of the predicted loss at d."""
        preds = self.draws[:, 0] + self.draws[:, 1] * float(d) ** -self.draws[:, 2]
        low, high = np.percentile(preds, [2.5, 97.5])
        return float(low), float(high)

    def formula(self) -> str:
        e, b, beta = self.params
        return f"L(D) = {e:.3f} + {b:.3g} * D^-{beta:.3f}"


def fit_law(tokens, losses, stderr) -> tuple[float, float, float]:
    """(E, B, beta) minimising the stderr-weighted squared error; B >= 0 (loss falls with data)."""
    d, y = np.asarray(tokens, float), np.asarray(losses, float)
    w = 1.0 / np.maximum(np.asarray(stderr, float), 1e-6)
    best, best_cost = (float(np.average(y, weights=w ** 2)), 0.0, 1.0), np.inf
    for beta in BETAS:
        x = d ** -beta
        design = np.stack([np.ones_like(x), x], axis=1) * w[:, None]
        (e, b), *_ = np.linalg.lstsq(design, y * w, rcond=None)
        if b < 0:
            continue
        cost = float(np.sum((w * (y - e - b * x)) ** 2))
        if cost < best_cost:
            best, best_cost = (float(e), float(b), float(beta)), cost
    return best


def fit(tokens, losses, stderr, seed: int = 0) -> Fit | None:
    """The law and its bootstrap, or None with fewer than MIN_VERSIONS distinct token counts."""
    tokens, losses, stderr = (np.asarray(a, float) for a in (tokens, losses, stderr))
    if len(set(tokens.tolist())) < MIN_VERSIONS:
        return None
    rng = np.random.default_rng(seed)
    draws = np.array([fit_law(tokens, losses + rng.normal(0.0, stderr), stderr) for _ in range(BOOTSTRAP)])
    return Fit(tokens, losses, stderr, fit_law(tokens, losses, stderr), draws)


# ----------------------------------------------------------------------------------------- the cost

def part_sizes(repo: Path, params: dict) -> dict[int, int]:
    """Download bytes of every part on the mirror (dumpstatus.json), {} when it cannot be read."""
    dump = params["dump"]
    mirror = dump["mirror"] if is_url(dump["mirror"]) or Path(dump["mirror"]).is_absolute() else str(repo / dump["mirror"])
    where = f"{dump_base(mirror, dump['wiki'], str(dump['date']))}/dumpstatus.json"
    try:
        status = json.loads(read_small(where, 30))
    except (MirrorError, ValueError):
        return {}
    parts, _ = list_parts(status, dump["wiki"], str(dump["date"]), where, dump["format"])
    return {part: sum(f.size or 0 for f in files) for part, files in parts.items()}


def measured_disk(repo: Path, sizes: dict[int, int]) -> float | None:
    """Bytes of extracted text and tokens per downloaded byte, over the parts in this workspace."""
    made, downloaded = 0, 0
    for part, size in sizes.items():
        outputs = [repo / "data" / "text" / f"{part}.jsonl.gz", *(repo / "data" / "tokens" / str(part)).glob("*.bin")]
        if outputs[0].exists() and size:
            made += sum(p.stat().st_size for p in outputs if p.exists())
            downloaded += size
    return made / downloaded if downloaded else None


def measured_seconds(rows: list[dict], sizes: dict[int, int]) -> tuple[float | None, float | None]:
    """(seconds of download+extract+tokenize per downloaded byte, seconds of one train+evaluate run),
    from the latest run of each stage in logs/stages.jsonl; None where nothing was recorded."""
    latest = {row["stage"]: row for row in rows}
    per_part = {}
    for stage, row in latest.items():
        found = re.fullmatch(r"(download|extract|tokenize)@(\d+)", stage)
        if found and int(found.group(2)) in sizes:
            per_part.setdefault(int(found.group(2)), {})[found.group(1)] = row["seconds"]
    complete = {part: sum(s.values()) for part, s in per_part.items() if len(s) == 3}
    per_byte = (sum(complete.values()) / sum(sizes[p] for p in complete)) if complete else None
    runs = [latest[s]["seconds"] for s in ("train", "evaluate") if s in latest]
    return per_byte, (sum(runs) if "train" in latest else None)


@dataclass
class Step:
    """One row of the next-parts table: the missing parts up to `parts[-1]` added at once."""
    parts: list[int]                 # the parts added, in order
    tokens: float                    # training tokens then (estimated from this version's tokens per byte)
    download: int                    # bytes to download
    disk: float | None               # bytes on disk (download, text, tokens); None: not measured here
    seconds: float | None            # seconds of download, extract and tokenize; None: not measured here
    predicted: tuple[float, float, float] | None  # val loss (centre, low, high of the 95% band); None: no fit

    def cells(self) -> list[str]:
        """The row as the Markdown and HTML tables show it."""
        return [f"+{parts_label(self.parts)}", f"{self.tokens:,.0f}",
                "{:.3f} ({:.3f}-{:.3f})".format(*self.predicted) if self.predicted else "n/a (no fit)",
                f"{self.download / 1e6:,.1f} MB",
                f"{self.disk / 1e6:,.1f} MB" if self.disk is not None else "not measured here",
                f"{self.seconds / 60:,.1f} min" if self.seconds is not None else "not measured here"]


STEP_COLUMNS = ("parts", "training tokens (est.)", "predicted val loss (95%)", "download", "disk (text + tokens)",
                "time (stages)")


@dataclass
class Answer:
    """What more data is worth, as values: the fit, the next parts' cost and the verdict."""
    fit: Fit | None
    fitted: int                      # cold starts at equal compute (the fit's points)
    distinct: int                    # distinct training-token counts among them
    budget: int | None               # the tokens they were each trained on
    costs: str                       # "unpriced" (no params or no versions), "no mirror", "complete", "priced"
    base: object = None              # the version the next parts are added to (the largest cold start)
    steps: list[Step] = field(default_factory=list)
    measured: bool = True            # disk and time both measured on this machine
    seconds_train: float | None = None  # one train + evaluate run here
    verdict: str | None = None       # "jump", "probably jump" or "wait"; None without a fit
    check_part: int | None = None    # with "probably jump": one step to take first (None: the next part is it)


def answer(series: list, repo: Path) -> Answer:
    """The fit over `series` (report.Version cold starts at equal compute), the cost of the next parts
    (from the mirror and this machine's runs) and "step by step or all at once?"."""
    points = [(v.metrics["train_tokens"], v.metrics["val_loss"], v.metrics["val_loss_stderr"]) for v in series]
    distinct = len({p[0] for p in points})
    law = fit(*zip(*points)) if distinct >= MIN_VERSIONS else None
    result = Answer(law, len(points), distinct, series[0].metrics["token_budget"] if series else None, "unpriced")
    params_path = repo / "params.yaml"
    params = yaml.safe_load(params_path.read_text()) if params_path.exists() else {}
    if not series or "dump" not in (params or {}):
        return result
    sizes = part_sizes(repo, params)
    result.base = largest = max(series, key=lambda v: v.metrics["train_tokens"])
    have = sorted(largest.parts)
    missing = [p for p in sorted(sizes) if p not in have]
    if not sizes or any(p not in sizes for p in have):
        result.costs = "no mirror"
    elif not missing:
        result.costs = "complete"
    else:
        result.costs = "priced"
        tokens_per_byte = largest.metrics["train_tokens"] / sum(sizes[p] for p in have)
        disk_per_byte = measured_disk(repo, sizes)
        seconds_per_byte, result.seconds_train = measured_seconds(runlog.read(repo / runlog.LOG), sizes)
        result.measured = seconds_per_byte is not None and disk_per_byte is not None
        added = 0
        for i, part in enumerate(missing[:10]):
            added += sizes[part]
            d = largest.metrics["train_tokens"] + added * tokens_per_byte
            band = (float(law.predict(d)), *law.interval(d)) if law is not None else None
            result.steps.append(Step(missing[:i + 1], d, added, added * (1 + disk_per_byte) if disk_per_byte else None,
                                     added * seconds_per_byte if seconds_per_byte else None, band))
        result.verdict, result.check_part = decide(result.steps, largest.metrics)
    return result


def decide(steps: list[Step], now: dict) -> tuple[str | None, int | None]:
    """Step by step or all at once, from the last step's prediction against `now` (the base version's
    metrics): "jump" when the whole 95% band lies below today's loss minus its noise, "wait" when even
    the centre does not, "probably jump" in between, with the part of one step halfway (in training
    tokens) to take first, or None when the next part is the only step."""
    if not steps or steps[-1].predicted is None:
        return None, None
    last = steps[-1]
    predicted, _, high = last.predicted
    threshold = now["val_loss"] - 2 * now["val_loss_stderr"]
    if high < threshold:
        return "jump", None
    if predicted < threshold:
        # the central estimate is a real gain, but the fit cannot promise it: one step halfway (in
        # training tokens) is a fourth point that narrows the fit, at the cost of one training run
        middle = (now["train_tokens"] + last.tokens) / 2
        halfway = min(steps, key=lambda step: abs(step.tokens - middle)).parts[-1]
        return "probably jump", None if halfway == last.parts[-1] else halfway
    return "wait", None


# ---------------------------------------------------------------------------------------- the words

def fit_sentence(a: Answer) -> str:
    if a.fit is None:
        return (f"No fit: it needs {MIN_VERSIONS} cold-start versions at equal compute with different "
                f"data (this repo has {a.distinct}); tag more versions (data.parts).")
    return f"Fit over {a.fitted} cold starts at {a.budget:,} tokens trained: {a.fit.formula()} (D = training tokens)."


def part_range(parts: list[int]) -> str:
    """1-3 for consecutive parts, else the list."""
    return f"{parts[0]}-{parts[-1]}" if parts == list(range(parts[0], parts[-1] + 1)) else ", ".join(map(str, parts))


def parts_label(parts: list[int]) -> str:
    """1, 2, 3 for up to three parts; 4-10 for more, when consecutive."""
    return ", ".join(map(str, parts)) if len(parts) <= 3 else part_range(parts)


def costs_sentence(a: Answer) -> str | None:
    """What the cost table starts from, or why there is none; None when nothing was priced."""
    if a.costs == "no mirror":
        return "No cost estimate: the mirror's dumpstatus.json cannot be read (dump.mirror)."
    if a.costs == "complete":
        return f"Every part of the dump is in {a.base.name} already."
    if a.costs != "priced":
        return None
    m = a.base.metrics
    return (f"From {a.base.name} (parts {part_range(sorted(a.base.parts))}, {m['train_tokens']:,} training tokens, "
            f"val loss {m['val_loss']:.3f} ± {m['val_loss_stderr']:.3f}), adding the next parts:")


MEASURED_NOTE = ("Disk and time are measured from this machine's earlier stage runs (data/, logs/stages.jsonl); "
                 "where it has none the table says so.")


def verdict_sentence(a: Answer) -> str:
    """The answer to "step by step or all at once?" in one paragraph."""
    if a.verdict is None:
        return ("Answer: no prediction without a fit; each step costs one training run at equal compute. "
                "Tag at least three versions first.")
    last, m = a.steps[-1], a.base.metrics
    part, (predicted, low, high) = last.parts[-1], last.predicted
    band = f"{predicted:.3f} ({low:.3f}-{high:.3f}) against {m['val_loss']:.3f} ± {m['val_loss_stderr']:.3f} now"
    train = f" (~{a.seconds_train / 60:.1f} min each here)" if a.seconds_train else ""
    one_run = f", ~{a.seconds_train / 60:.1f} min here" if a.seconds_train else ""
    budget = m["token_budget"]
    if a.verdict == "jump":
        return (f"Answer: jump. Up to part {part} the fit predicts {band}: a real gain. Intermediate versions only "
                f"add training runs{train}; at {budget:,} tokens trained the model sees {budget / last.tokens:.2f} "
                "epochs of that data.")
    if a.verdict == "probably jump" and a.check_part is None:  # the next part is the only step: taking it is the check
        return (f"Answer: probably worth it. With part {part} the fit predicts {band}: its central estimate is a "
                "real gain, but its 95% band reaches within noise of today's loss; adding it (one more training "
                f"run{one_run}) is the measurement that settles it.")
    if a.verdict == "probably jump":
        return (f"Answer: probably jump. Up to part {part} the fit predicts {band}: its central estimate is a real "
                f"gain, but its 95% band reaches within noise of today's loss. To be sure first, take one step to "
                f"part {a.check_part} and rerun this report (one more training run{one_run}); else take all parts "
                f"up to {part} at once.")
    return (f"Answer: wait. Up to part {part} the fit predicts {band}: within noise at this compute ({budget:,} "
            f"tokens trained, {budget / last.tokens:.2f} epochs of that data). More data will not show before "
            "train.token_budget (or the model) grows; download step by step only if you need the parts anyway.")


def answer_markdown(a: Answer) -> str:
    """The answer as the section of versions.md that follows the table."""
    lines = ["## What more data is worth", "", fit_sentence(a)]
    if a.costs != "priced":
        return "\n".join(lines + ([costs_sentence(a)] if a.costs != "unpriced" else [])) + "\n"
    lines += ["", costs_sentence(a), "", f"| {' | '.join(STEP_COLUMNS)} |", "|---|---:|---|---:|---:|---:|"]
    lines += [f"| {' | '.join(step.cells())} |" for step in a.steps]
    if not a.measured:
        lines.append(f"\n{MEASURED_NOTE}")
    return "\n".join(lines + ["", verdict_sentence(a)]) + "\n"
