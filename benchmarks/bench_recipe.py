"""The `gpt2` and `modern` training recipes side by side: val loss against tokens and wall time.

    python benchmarks/bench_recipe.py                       # tiny preset on CPU, 2 seeds, 20-40 min
    python benchmarks/bench_recipe.py --work W --tokens 589824 --seeds 1 &   # docs/benchmarks.md's figures, a
    python benchmarks/bench_recipe.py --work W --tokens 589824 --seeds 2     # seed per core, ~50 min
                                    # (W: a folder that already holds the tokenized sample)
    python benchmarks/bench_recipe.py --ablate              # also each piece off (modern) / on (gpt2)
    python benchmarks/bench_recipe.py --ablate-only         # that ablation alone (one seed)
    python benchmarks/bench_recipe.py --step-costs          # seconds per step of each variant only
    python benchmarks/bench_recipe.py --work /tmp/recipe    # keep (and reuse) the tokenized sample

Data: the committed sample mirror, all ten parts, tokenized by the project's own stages (`dvc repro
dataset` in a fresh clone made by tests/workflow.make_clone). Both recipes train on the same windows
(drawn by src/batches.TrainWindows from a generator seeded by (seed, step)), for the same token budget,
with the same schedule shape (linear warmup, cosine decay to a tenth; every param group scaled by one
factor) and gradient clipping, and are scored on the same evaluation windows: the first
`--eval-tokens` tokens of the held-out documents of every part. Runs alternate recipes within each
seed, so machine load falls on both. Wall time counts training steps only (evaluation excluded).

Prints, per run, val loss at each evaluation point with tokens and seconds; the unigram level (the
cross-entropy of the training set's token frequencies on the evaluation windows: a model below it
has learnt more than word frequencies); the tokens and wall time `modern` needs to reach `gpt2`'s
final val loss (linear interpolation between evaluation points), and the ratios against the goals
(<= 0.6x tokens, <= 0.7x wall time). With --ablate, one seed of each single-piece change (val loss
and seconds per 1k tokens); with --step-costs, each variant's seconds per step, measured interleaved
(one step of every variant per round), which is what separates a piece's cost in time from the load.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))

from batches import TrainWindows, eval_tokens, eval_windows, load_manifest, train_files  # noqa: E402
from model import GPT, GPTConfig  # noqa: E402
from optim import configure_optimizers, optimizer_settings, recipe_model_args  # noqa: E402

GOAL_TOKENS, GOAL_WALL = 0.6, 0.7
RECIPES = yaml.safe_load((REPO / "params.yaml").read_text())["train"]["recipes"]
PIECES = ("rope", "qk_norm", "relu2", "zero_init_proj", "tie_embeddings", "logit_softcap", "optimizer")


# ------------------------------------------------------------------------------------------ the data


def backward_and_step(model, loss, optimizers, grad_clip: float) -> None:
    """One optimizer step of every optimizer of the recipe, gradients clipped first."""
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    for opt in optimizers:
        opt.step()
        opt.zero_grad(set_to_none=True)

def build_dataset(work: Path) -> Path:
    """Tokenize the sample mirror's ten parts with the project's stages; returns dataset.json's path."""
    from workflow import dvc, make_clone, set_params
    repo = work / "project"
    if not (repo / "data" / "dataset.json").exists():
        repo = make_clone(work)
        parts = list(range(1, 11))
        set_params(repo, data__parts=parts, data__eval_parts=parts)
        dvc("repro", "dataset", cwd=repo)
    return repo / "data" / "dataset.json"


def unigram_loss(files: list[tuple[str, int]], targets: np.ndarray, vocab: int = 50257) -> float:
    """Cross-entropy (nats/token) on `targets` of the training tokens' frequencies, add-0.5 smoothed."""
    counts = np.zeros(vocab, dtype=np.float64)
    for path, _ in files:
        counts += np.bincount(np.fromfile(path, dtype=np.uint16), minlength=vocab)[:vocab]
    probs = (counts + 0.5) / (counts.sum() + 0.5 * vocab)
    return float(-np.log(probs[targets.ravel()]).mean())


# --------------------------------------------------------------------------------------- one training

def lr_factor(step: int, total: int, warmup: int, floor: float = 0.1) -> float:
    """Linear warmup, then cosine decay from 1 to `floor` at `total` (train.py's shape)."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + 0.5 * (1.0 + math.cos(math.pi * progress)) * (1.0 - floor)


@torch.no_grad()
def val_loss(model: GPT, x: torch.Tensor, y: torch.Tensor, batch_size: int, autocast) -> float:
    model.eval()
    device = next(model.parameters()).device
    losses = []
    for i in range(0, len(x), batch_size):
        with autocast:
            loss = model(x[i:i + batch_size].to(device), y[i:i + batch_size].to(device))[1]
        losses.append(loss.item() * len(x[i:i + batch_size]))
    model.train()
    return sum(losses) / len(x)


def train_run(model_args: dict, settings: dict, windows: TrainWindows, ev: tuple, a: argparse.Namespace,
              seed: int) -> list[tuple[int, float, float]]:
    """Train for a.tokens; returns (tokens, training seconds, val loss) at each evaluation point."""
    torch.manual_seed(seed)
    model = GPT(GPTConfig(**model_args)).to(a.device)
    optimizers = configure_optimizers(model, settings, fused=a.device == "cuda")
    # bf16 autocast on a GPU, as train.py does; fp32 on the CPU
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if a.device == "cuda" else contextlib.nullcontext()
    T = model_args["block_size"]
    steps = math.ceil(a.tokens / (a.batch_size * T))
    evals = {round(steps * k / a.evals) for k in range(1, a.evals + 1)}
    curve, seconds = [], 0.0
    for step in range(steps):
        t0 = time.perf_counter()
        factor = lr_factor(step, steps, a.warmup)
        for opt in optimizers:
            for group in opt.param_groups:
                group["lr"] = group["base_lr"] * factor
        rng = np.random.default_rng([seed, step])  # the same windows for every recipe of this seed
        x, y = (torch.from_numpy(b).to(a.device) for b in windows.batch(rng, a.batch_size))
        with autocast:
            _, loss = model(x, y)
        backward_and_step(model, loss, optimizers, a.grad_clip)
        loss = loss.item()  # waits for the device: the step is done when the clock stops
        seconds += time.perf_counter() - t0
        if not math.isfinite(loss):
            raise RuntimeError(f"loss {loss} at step {step}")
        if step + 1 in evals:
            curve.append(((step + 1) * a.batch_size * T, seconds, val_loss(model, *ev, a.batch_size, autocast)))
    return curve


def reach(curve: list[tuple[int, float, float]], target: float) -> tuple[float, float] | None:
    """(tokens, seconds) where the val loss first reaches `target`, interpolated linearly between
    evaluation points (from the start, taken as (0, 0) and the first point's loss, when it is already
    below); None when it never does."""
    prev = None
    for tokens, seconds, loss in curve:
        if loss <= target:
            if prev is None or prev[2] == loss:
                return float(tokens), seconds
            w = (prev[2] - target) / (prev[2] - loss)
            return prev[0] + w * (tokens - prev[0]), prev[1] + w * (seconds - prev[1])
        prev = (tokens, seconds, loss)
    return None


# -------------------------------------------------------------------------------------------- report

def print_curves(runs: dict[tuple[str, int], list]) -> None:
    print(f"\n{'recipe':<22}{'seed':>5}" + "".join(f"{t // 1000:>8}k" for t, _, _ in next(iter(runs.values()))))
    for (name, seed), curve in runs.items():
        print(f"{name:<22}{seed:>5}" + "".join(f"{loss:9.3f}" for _, _, loss in curve))
        print(f"{'  (training s)':<27}" + "".join(f"{s:9.0f}" for _, s, _ in curve))


def compare(runs: dict[tuple[str, int], list], seeds: list[int]) -> None:
    """Tokens and wall time modern needs to reach gpt2's final val loss, per seed, against the goals."""
    print(f"\nmodern reaching gpt2's final val loss (same seed); goal <= {GOAL_TOKENS}x tokens, "
          f"<= {GOAL_WALL}x wall time")
    ratios = []
    for seed in seeds:
        g, m = runs[("gpt2", seed)], runs[("modern", seed)]
        hit = reach(m, g[-1][2])
        if hit is None:
            print(f"  seed {seed}: gpt2 {g[-1][2]:.3f}; modern ends at {m[-1][2]:.3f}, never reaches it")
            continue
        ratios.append((hit[0] / g[-1][0], hit[1] / g[-1][1]))
        print(f"  seed {seed}: gpt2 {g[-1][2]:.3f} in {g[-1][0]:,} tokens / {g[-1][1]:.0f} s; modern in "
              f"{hit[0]:,.0f} tokens ({ratios[-1][0]:.2f}x) / {hit[1]:.0f} s ({ratios[-1][1]:.2f}x)")
    for name in ("gpt2", "modern"):
        finals = [runs[(name, s)][-1][2] for s in seeds]
        print(f"  {name} final val loss over seeds: {np.mean(finals):.3f} +- {np.std(finals):.3f} "
              f"(min {min(finals):.3f}, max {max(finals):.3f}); "
              f"tokens/s {np.mean([runs[(name, s)][-1][0] / runs[(name, s)][-1][1] for s in seeds]):,.0f}")
    if ratios:
        tok, wall = np.mean(ratios, axis=0)
        print(f"  mean: {tok:.2f}x tokens ({'met' if tok <= GOAL_TOKENS else 'MISSED'}), "
              f"{wall:.2f}x wall time ({'met' if wall <= GOAL_WALL else 'MISSED'})")


def variants() -> dict[str, tuple[dict, dict]]:
    """Both recipes and every single-piece change: name -> (recipe, train.model overrides)."""
    g, m = RECIPES["gpt2"], RECIPES["modern"]
    out = {"gpt2": (g, {}), "modern": (m, {})}
    for piece in PIECES:
        if piece == "optimizer":  # Muon + AdamW <-> AdamW alone, the model unchanged
            out["modern, adamw only"] = ({**m, "optimizer": g["optimizer"]}, {})
            out["gpt2, muon + adamw"] = ({**g, "optimizer": m["optimizer"]}, {})
        else:
            out[f"modern - {piece}"] = (m, {piece: g["model"][piece]})
            out[f"gpt2 + {piece}"] = (g, {piece: m["model"][piece]})
    return out


def step_costs(a: argparse.Namespace, size: dict, params: dict, windows: TrainWindows) -> None:
    """Seconds per training step of each variant, interleaved (round r times one step of every
    variant in turn), so machine load falls on all alike; the median over rounds."""
    setups = {}
    for name, (recipe, overrides) in variants().items():
        torch.manual_seed(0)
        model = GPT(GPTConfig(**recipe_model_args(size, recipe, overrides)))
        setups[name] = (model, configure_optimizers(model, optimizer_settings(recipe, params)))
    times: dict[str, list[float]] = {name: [] for name in setups}
    for r in range(a.cost_rounds + 1):
        x, y = (torch.from_numpy(b) for b in windows.batch(np.random.default_rng([0, r]), a.batch_size))
        for name, (model, optimizers) in setups.items():
            t0 = time.perf_counter()
            _, loss = model(x, y)
            backward_and_step(model, loss, optimizers, a.grad_clip)
            if r:  # round 0 warms up (allocations, first-touch of optimizer state)
                times[name].append(time.perf_counter() - t0)
    base = {k: float(np.median(times[k])) for k in ("gpt2", "modern")}
    print(f"\nseconds per step ({a.batch_size} x {size['block_size']} tokens), median of {a.cost_rounds} "
          f"interleaved rounds, load {os.getloadavg()[0]:.2f}")
    for name, t in times.items():
        ref = base["modern"] if name.startswith("modern") else base["gpt2"]
        print(f"  {name:<26}{np.median(t):7.2f} s  ({np.median(t) / ref:.2f}x its recipe)")


def ablate(a: argparse.Namespace, run) -> None:
    """One seed at --ablate-tokens of every variant (modern with each piece switched off, gpt2 with
    each switched on): final val loss, its change against the recipe, training seconds per 1k tokens."""
    a = argparse.Namespace(**{**vars(a), "tokens": a.ablate_tokens, "evals": 2})
    seed = a.seeds[0]
    print(f"\nablation: seed {seed}, {a.tokens:,} tokens per run")
    curves = {name: run(name, seed, recipe, overrides, a=a) for name, (recipe, overrides) in variants().items()}
    print(f"\n{'variant':<26}{'val loss':>9}{'change':>8}{'s/1k tok':>10}")
    for name, curve in curves.items():
        ref = curves["modern" if name.startswith("modern") else "gpt2"][-1][2]
        print(f"{name:<26}{curve[-1][2]:9.3f}{curve[-1][2] - ref:+8.3f}{1000 * curve[-1][1] / curve[-1][0]:10.2f}")
    print("(change against its recipe: for `modern - piece`, + means the piece helps; for `gpt2 + piece`, "
          "- means it helps)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, help="folder for the tokenized sample (default: a temp folder)")
    ap.add_argument("--preset", default="tiny", help="size preset of params.yaml's train.presets")
    ap.add_argument("--tokens", type=int, default=196608, help="training tokens per run")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=6, help="warmup steps")
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--evals", type=int, default=12, help="evaluation points per run")
    ap.add_argument("--eval-tokens", type=int, default=12288)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    # one thread: on a shared machine the tiny model's many small ops (Muon's Newton-Schulz above all)
    # wait on thread hand-offs, so under load 2 threads run a small matmul slower than one
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (bf16 autocast, fused AdamW)")
    ap.add_argument("--ablate", action="store_true", help="also one run of each single-piece change")
    ap.add_argument("--step-costs", action="store_true", help="only seconds per step of each variant")
    ap.add_argument("--cost-rounds", type=int, default=5)
    ap.add_argument("--ablate-only", action="store_true", help="the ablation alone")
    ap.add_argument("--ablate-tokens", type=int, default=49152, help="training tokens per ablation run")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    params = yaml.safe_load((REPO / "params.yaml").read_text())["train"]
    size = params["presets"][a.preset]
    with tempfile.TemporaryDirectory() as tmp:
        work = a.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        t0 = time.time()
        dataset = build_dataset(work)
        os.chdir(dataset.parent.parent)  # the manifest's paths are relative to the clone
        manifest = load_manifest(dataset)
        T = size["block_size"]
        windows = TrainWindows(train_files(manifest), T)
        ev_tokens = eval_tokens(manifest, T, a.eval_tokens)
        ev = tuple(torch.from_numpy(b) for b in eval_windows(ev_tokens, T))
        unigram = unigram_loss(train_files(manifest), ev[1].numpy())
        print(f"data: {manifest['totals']['train_tokens']:,} training tokens; eval: the first {len(ev[0]) * T:,} of "
              f"{manifest['totals']['eval_tokens']:,} held-out tokens ({manifest['totals']['eval_documents']} documents, "
              f"in part order) ({time.time() - t0:.0f} s to build)")
        print(f"unigram level (train frequencies on the eval windows): {unigram:.3f}; "
              f"uniform: {math.log(50257):.3f}")
        print(f"preset {a.preset}, {a.tokens:,} tokens per run, batch {a.batch_size} x {T}, "
              f"{a.threads} thread(s), load before: {os.getloadavg()[0]:.2f}", flush=True)

        def run(name: str, seed: int, recipe: dict, overrides: dict | None = None, a=a) -> list:
            t = time.time()
            curve = train_run(recipe_model_args(size, recipe, overrides or {}), optimizer_settings(recipe, params),
                              windows, ev, a, seed)
            print(f"  {name:<22} seed {seed}: val {curve[-1][2]:.3f} after {curve[-1][0]:,} tokens, "
                  f"{curve[-1][1]:.0f} s training ({time.time() - t:.0f} s with evals), "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)
            return curve

        if a.step_costs:
            step_costs(a, size, params, windows)
        elif not a.ablate_only:
            runs = {}
            for seed in a.seeds:
                for name in ("gpt2", "modern"):  # alternating: load hits both
                    runs[(name, seed)] = run(name, seed, RECIPES[name])
            print_curves(runs)
            compare(runs, a.seeds)

        if a.ablate or a.ablate_only:
            ablate(a, run)
        print(f"\nload after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
