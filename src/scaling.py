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
from dataclasses import dataclass
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


def answer(series: list, repo: Path) -> tuple[Fit | None, str]:
    """The fit over `series` (report.Version cold starts at equal compute) and the one-screen answer
    to "which parts next, step by step or all at once?"."""
    lines = ["## What more data is worth", ""]
    points = [(v.metrics["train_tokens"], v.metrics["val_loss"], v.metrics["val_loss_stderr"]) for v in series]
    law = fit(*zip(*points)) if len({p[0] for p in points}) >= MIN_VERSIONS else None
    if law is None:
        lines.append(f"No fit: it needs {MIN_VERSIONS} cold-start versions at equal compute with different "
                     f"data (this repo has {len({p[0] for p in points})}); tag more versions (data.parts).")
    else:
        lines.append(f"Fit over {len(points)} cold starts at {series[0].metrics['token_budget']:,} tokens "
                     f"trained: {law.formula()} (D = training tokens).")
    params_path = repo / "params.yaml"
    params = yaml.safe_load(params_path.read_text()) if params_path.exists() else {}
    if not series or "dump" not in (params or {}):
        return law, "\n".join(lines) + "\n"
    sizes = part_sizes(repo, params)
    largest = max(series, key=lambda v: v.metrics["train_tokens"])
    have = sorted(largest.parts)
    if not sizes or any(p not in sizes for p in have):
        lines.append("No cost estimate: the mirror's dumpstatus.json cannot be read (dump.mirror).")
        return law, "\n".join(lines) + "\n"
    tokens_per_byte = largest.metrics["train_tokens"] / sum(sizes[p] for p in have)
    disk_per_byte = measured_disk(repo, sizes)
    seconds_per_byte, seconds_train = measured_seconds(runlog.read(repo / runlog.LOG), sizes)
    missing = [p for p in sorted(sizes) if p not in have]
    if not missing:
        lines.append(f"Every part of the dump is in {largest.name} already.")
        return law, "\n".join(lines) + "\n"

    lines += ["", f"From {largest.name} (parts {have[0]}-{have[-1] if have == list(range(have[0], have[-1] + 1)) else have}, "
              f"{largest.metrics['train_tokens']:,} training tokens, val loss {largest.metrics['val_loss']:.3f} "
              f"± {largest.metrics['val_loss_stderr']:.3f}), adding the next parts:", "",
              "| parts | training tokens (est.) | predicted val loss (95%) | download | disk (text + tokens) | time (stages) |",
              "|---|---:|---|---:|---:|---:|"]
    added, rows = 0, []
    for i, part in enumerate(missing[:10]):
        added += sizes[part]
        d = largest.metrics["train_tokens"] + added * tokens_per_byte
        predicted = "n/a (no fit)"
        if law is not None:
            low, high = law.interval(d)
            predicted = f"{float(law.predict(d)):.3f} ({low:.3f}-{high:.3f})"
            rows.append((part, d, float(law.predict(d)), low, high))
        disk = f"{added * (1 + disk_per_byte) / 1e6:,.1f} MB" if disk_per_byte else "not measured here"
        time_s = f"{added * seconds_per_byte / 60:,.1f} min" if seconds_per_byte else "not measured here"
        lines.append(f"| +{', '.join(map(str, missing[:i + 1])) if i < 3 else f'{missing[0]}-{part}'} | {d:,.0f} | "
                     f"{predicted} | {added / 1e6:,.1f} MB | {disk} | {time_s} |")
    if seconds_per_byte is None or disk_per_byte is None:
        lines.append("\nDisk and time are measured from this machine's earlier stage runs (data/, "
                     "logs/stages.jsonl); where it has none the table says so.")
    lines.append("")
    lines.append(verdict_line(rows, largest, seconds_train))
    return law, "\n".join(lines) + "\n"


def verdict_line(rows: list[tuple], largest, seconds_train: float | None) -> str:
    """Step by step or all at once: what the fit says about the last row, in one paragraph."""
    if not rows:
        return ("Answer: no prediction without a fit; each step costs one training run at equal compute. "
                "Tag at least three versions first.")
    part, d, predicted, low, high = rows[-1]
    now, noise = largest.metrics["val_loss"], largest.metrics["val_loss_stderr"]
    train = f" (~{seconds_train / 60:.1f} min each here)" if seconds_train else ""
    budget = largest.metrics["token_budget"]
    if high < now - 2 * noise:
        return (f"Answer: jump. Up to part {part} the fit predicts {predicted:.3f} ({low:.3f}-{high:.3f}) against "
                f"{now:.3f} ± {noise:.3f} now: a real gain. Intermediate versions only add training runs{train}; "
                f"at {budget:,} tokens trained the model sees {budget / d:.2f} epochs of that data.")
    if predicted < now - 2 * noise:
        # the central estimate is a real gain, but the fit cannot promise it: one step halfway (in
        # training tokens) is a fourth point that narrows the fit, at the cost of one training run
        one_run = f", ~{seconds_train / 60:.1f} min here" if seconds_train else ""
        halfway = min(rows, key=lambda row: abs(row[1] - (largest.metrics["train_tokens"] + d) / 2))[0]
        if halfway == part:  # the next part is the only step: taking it is the check
            return (f"Answer: probably worth it. With part {part} the fit predicts {predicted:.3f} ({low:.3f}-"
                    f"{high:.3f}) against {now:.3f} ± {noise:.3f} now: its central estimate is a real gain, but its "
                    f"95% band reaches within noise of today's loss; adding it (one more training run{one_run}) "
                    "is the measurement that settles it.")
        return (f"Answer: probably jump. Up to part {part} the fit predicts {predicted:.3f} ({low:.3f}-{high:.3f}) "
                f"against {now:.3f} ± {noise:.3f} now: its central estimate is a real gain, but its 95% band "
                f"reaches within noise of today's loss. To be sure first, take one step to part {halfway} and "
                f"rerun this report (one more training run{one_run}); else take all parts up to {part} at once.")
    return (f"Answer: wait. Up to part {part} the fit predicts {predicted:.3f} ({low:.3f}-{high:.3f}) against "
            f"{now:.3f} ± {noise:.3f} now: within noise at this compute ({budget:,} tokens trained, "
            f"{budget / d:.2f} epochs of that data). More data will not show before train.token_budget (or the "
            "model) grows; download step by step only if you need the parts anyway.")
