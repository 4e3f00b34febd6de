"""Train a GPT on a dataset version with the recipe of train.recipe (gpt2 | modern): the `train` stage.

    python src/train.py --dataset data/dataset.json --init checkpoints/scratch --out models/model.pt \
        --train-log reports/train_log.csv --live-dir reports/train --resume-dir .resume/train

Reads the `train:` section of params.yaml (model preset, token budget, batch, optimizer, schedule,
processes), `data.eval_tokens` and the token files listed in the manifest. Writes the final checkpoint
(plain tensors + `model_args`, loadable with `torch.load(weights_only=True)` and by nanoGPT's sample.py;
it records the train/val split and the tokens its weights have seen over a warm-start chain), the log
rows (step, tokens, lr, train_loss, val_loss, val_loss_stderr) as `--train-log` CSV, and the same rows
live through DVCLive into `--live-dir`, so `dvc exp show` and `dvc plots show` follow a run while it
trains. val_loss is the whole evaluation set scored in float32 exactly as the evaluate stage scores
it (model.window_losses): the last row's val_loss is the version's metric. Progress goes to stderr as
one plain line every ~10 s.

Steps: every optimizer step trains on the same number of tokens whatever the number of processes,
batch_size * grad_accum * block_size (with `batch_size: auto`, sequences_per_step * block_size);
steps = ceil(token_budget / tokens per step).

Several processes: with `train.nproc_per_node` (and `train.nnodes`) above 1 this script runs torchrun,
which starts it again on every process (DistributedDataParallel: NCCL on CUDA, gloo on CPU). The micro-batches of a step
are split over the processes, so the weights match a one-process run of the same params. Batches come
from a generator seeded by (seed, step, micro-batch index over all processes): a resumed run draws
exactly the batches the killed one would have.

Warm start: `train.init_from` names a checkpoint (`checkpoints/scratch`, a committed placeholder, means
from scratch), this project's or nanoGPT's `ckpt.pt`; dvc.yaml lists it as a dependency. A checkpoint
trained under another split (tokenize.val_fraction) is refused: it has seen documents now held out. Crash safety and resume: src/checkpoint.py. A loss or
weight that turns NaN or infinite on any process stops every process at the next log row or resume
save; nothing is saved after that, so the last resume state and any earlier `--out` stay as they were.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from atomic import write_text_atomic
from batches import TrainWindows, eval_tokens, eval_windows, load_manifest, train_files
from checkpoint import (CheckpointError, checkpoint_due, load, load_resume, nonfinite, run_fingerprint,
                        save_atomic)
from device import autocast, keep_freed_memory, peak_flops, pick_dtype, setup_distributed
from model import GPT, GPTConfig, clean_state_dict, mean_and_stderr, window_losses
from optim import configure_optimizers, optimizer_settings, recipe_model_args
from params import SCRATCH, Train, load_params
from runlog import StageError, record, run_stage

LOG_FIELDS = ["step", "tokens", "lr", "train_loss", "val_loss", "val_loss_stderr"]
PROGRESS_EVERY_S = 10.0


class DivergedError(RuntimeError):
    """The loss or the weights became NaN or infinite."""


# --------------------------------------------------------------------------------------- pure helpers

def recipe_model(p: Train) -> dict:
    """GPTConfig fields: the size preset, then the recipe's switches, then train.model's overrides."""
    return recipe_model_args(p.presets[p.preset].model_dump(), p.recipes[p.recipe].model_dump(),
                             p.model.model_dump(exclude_none=True))


def recipe_optimizer(p: Train) -> dict:
    """The settings configure_optimizers takes for train.recipe's optimizer."""
    return optimizer_settings(p.recipes[p.recipe].model_dump(), p.model_dump())


def step_sequences(p: Train) -> int:
    """Sequences per optimizer step, over all processes and micro-batches."""
    return p.sequences_per_step if p.batch_size == "auto" else p.batch_size * p.grad_accum


def tokens_per_step(p: Train, block_size: int) -> int:
    return step_sequences(p) * block_size


def max_iters(p: Train, block_size: int) -> int:
    """Optimizer steps that spend the token budget (rounded up to a whole step)."""
    return math.ceil(p.token_budget / tokens_per_step(p, block_size))


def lr_at(step: int, total: int, warmup: int, lr: float, min_lr: float) -> float:
    """Linear warmup over `warmup` steps, then cosine decay to min_lr at step `total`."""
    if step < warmup:
        return lr * (step + 1) / (warmup + 1)
    if step >= total:
        return min_lr
    progress = (step - warmup) / max(1, total - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)


def torchrun_args(p: Train, argv: list[str], env: dict) -> list[str] | None:
    """torchrun's arguments to run this script on train.nproc_per_node processes (per node), or None
    when one process is asked for or this one was started by torchrun already. Several nodes take
    torchrun's own variables: PET_MASTER_ADDR (the node of rank 0), PET_NODE_RANK (0, 1, ...)."""
    if p.processes == 1 or "RANK" in env:
        return None
    nproc = f"--nproc_per_node={p.nproc_per_node}"
    if p.nnodes == 1:
        return ["--standalone", nproc, *argv]  # rendezvous on a free local port
    missing = [name for name in ("PET_MASTER_ADDR", "PET_NODE_RANK") if name not in env]
    if missing:
        raise ValueError(f"train.nnodes is {p.nnodes}: set {' and '.join(missing)} on every node "
                         "(PET_MASTER_ADDR=the first node's address, PET_NODE_RANK=0 there, 1, 2, ... elsewhere)")
    # static rendezvous: node 0 holds rank 0, the process that writes the outputs
    return [f"--nnodes={p.nnodes}", nproc, *argv]


def run_torchrun(args: list[str]) -> str | None:
    """Run torchrun in this process (it starts the training processes and waits for them); returns
    None on success, else one line saying which processes failed, in place of torchrun's traceback
    (each process has printed its own error already)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    try:
        run(parse_args(args))
    except ChildFailedError as exc:
        codes = ", ".join(f"rank {rank}: exit code {f.exitcode}" for rank, f in sorted(exc.failures.items()))
        return (f"error: train: processes failed ({codes}; a negative code is the signal that ended it), "
                "and torchrun stopped the others; each process's own error, if it had one, is above")
    return None


def divisors_descending(n: int) -> list[int]:
    return [d for d in range(n, 0, -1) if n % d == 0]


def largest_micro_batch(per_process: int, try_batch: Callable[[int], None]) -> int:
    """The largest divisor of `per_process` (sequences per step per process) for which `try_batch`
    (one forward, backward and optimizer step on that many sequences) runs without running out of
    memory. Divisors only, so micro-batches add up to exactly the step's sequences."""
    for size in divisors_descending(per_process):
        try:
            try_batch(size)
            return size
        except torch.OutOfMemoryError:
            pass  # try the next size down; leaving this block drops what the failed try held
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    raise torch.OutOfMemoryError("train: not even one sequence per micro-batch fits in the device's memory; "
                                 "pick a smaller train.preset (or model.block_size)")


def batch_plan(p: Train, world: int, try_batch: Callable[[int], None] | None) -> tuple[int, int]:
    """(sequences per micro-batch, micro-batches per step) of each process. `auto` probes with
    `try_batch` (None where no probe is possible: CPU and MPS, where up to 8 sequences are batched)."""
    per_process = step_sequences(p) // world
    if p.batch_size != "auto":
        return p.batch_size, per_process // p.batch_size
    if try_batch is None:
        micro = max(d for d in divisors_descending(per_process) if d <= 8)
    else:
        micro = largest_micro_batch(per_process, try_batch)
    return micro, per_process // micro


def batch_rng(seed: int, step: int, shard: int) -> np.random.Generator:
    """The generator of one micro-batch: `shard` numbers the micro-batches of a step over all processes
    (rank * micro-batches per process + micro), so the batches of a step do not depend on how many
    processes share them, and a resumed run draws the same ones."""
    return np.random.default_rng([seed, step, shard])


def progress_line(step: int, total: int, steps_timed: int, seconds: float, step_tokens: int, loss: float) -> str:
    """One line for a log file; the ETA waits for measured steps rather than guessing from step 0."""
    line = f"train: step {step:,}/{total:,} ({step / total:.0%}), loss {loss:.3f}"
    if steps_timed >= 2 and seconds > 0:
        left = (total - step) * seconds / steps_timed
        line += f", {steps_timed * step_tokens / seconds:,.0f} tokens/s, ETA {left / 60:.1f} min"
    return line


def file_sha1(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def weights_sha1(state_dict: dict) -> str:
    h = hashlib.sha1()
    for name, tensor in sorted(state_dict.items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def group_lr(step: int, total: int, p: Train, base_lr: float) -> float:
    """A param group's learning rate: the schedule of train.learning_rate (lr_at), scaled to the
    group's peak `base_lr`; gpt2's groups peak at learning_rate itself, so they get lr_at exactly."""
    scale = base_lr / p.learning_rate if p.learning_rate > 0 else 0.0
    return lr_at(step, total, p.warmup_iters, p.learning_rate, p.min_lr) * scale


def check_init_recipe(path: Path, ckpt: dict, recipe: str) -> None:
    """Refuse a warm start from a checkpoint of another recipe (one saved without the field is gpt2's):
    its switches differ, and its optimizer's learning rates were tuned for other weights."""
    trained = ckpt.get("recipe", "gpt2")
    if trained != recipe:
        raise ValueError(f"train.init_from: {path} was trained with recipe `{trained}` but params.yaml "
                         f"train.recipe is `{recipe}`; set train.recipe: {trained}, or start from "
                         f"checkpoints/{SCRATCH}")


def tokens_seen(ckpt: dict) -> int:
    """Tokens the checkpoint's weights were trained on, over its whole warm-start chain. A nanoGPT
    ckpt.pt says it through iter_num and its config (gradient_accumulation_steps there counts every
    process's micro-batches); a checkpoint that says neither counts 0."""
    if "summary" in ckpt:
        return ckpt["summary"].get("tokens_trained_total", ckpt["summary"]["tokens_trained"])
    config = ckpt.get("config", {})
    if "iter_num" in ckpt and all(k in config for k in ("batch_size", "block_size", "gradient_accumulation_steps")):
        return int(ckpt["iter_num"]) * config["batch_size"] * config["block_size"] * config["gradient_accumulation_steps"]
    return 0


def check_split(path: Path, ckpt: dict, split: dict) -> None:
    """A warm start must hold out the documents this dataset holds out, or it has trained on some of
    the evaluation set. A checkpoint from elsewhere (nanoGPT) records no split and cannot be checked."""
    if "split" not in ckpt:
        print(f"train: warning: {path} records no train/val split (a checkpoint from another project?); "
              "make sure it never trained on this dataset's held-out documents", file=sys.stderr)
        return
    if ckpt["split"] != split:
        theirs, ours = ckpt["split"], split
        raise ValueError(f"train.init_from: {path} was trained with tokenize.val_fraction "
                         f"{theirs['val_fraction']} (split rule {theirs['rule']!r}) but this dataset has "
                         f"tokenize.val_fraction {ours['val_fraction']} (split rule {ours['rule']!r}): it has "
                         "trained on documents that are now held out. Set tokenize.val_fraction back to "
                         f"{theirs['val_fraction']}, or start from checkpoints/{SCRATCH}")


def load_init(path: Path, model_args: dict, split: dict, recipe: str) -> tuple[dict | None, str | None, int]:
    """The starting weights named by train.init_from, the file's sha1 and the tokens its weights have
    seen (None, None, 0 for scratch), once its recipe, model and split are checked against this run's.
    Takes this project's checkpoints and nanoGPT's ckpt.pt."""
    if path.name == SCRATCH:
        return None, None, 0
    if not path.exists():
        raise FileNotFoundError(f"train.init_from: {path} not found; train the earlier version first, "
                                f"copy its models/model.pt there (and `dvc add` it), or use checkpoints/{SCRATCH}")
    ckpt = load(path, "train.init_from", ("model", "model_args"))
    check_init_recipe(path, ckpt, recipe)  # first: another recipe's model args differ too
    # compared as GPTConfig fields: a checkpoint from before a field existed has its default
    if GPTConfig(**ckpt["model_args"]).to_dict() != GPTConfig(**model_args).to_dict():
        raise ValueError(f"train.init_from: {path} was trained with model args {ckpt['model_args']} but "
                         f"params.yaml train.preset/model give {model_args}; set them to match the checkpoint")
    check_split(path, ckpt, split)
    return clean_state_dict(ckpt["model"]), file_sha1(path), tokens_seen(ckpt)


def log_csv(rows: list[dict]) -> str:
    lines = [",".join(LOG_FIELDS)]
    lines += [",".join("" if row[key] is None else str(row[key]) for key in LOG_FIELDS) for row in rows]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------- on every process

def mean_over_processes(t: torch.Tensor, world: int) -> torch.Tensor:
    """The mean of `t` over all processes (every process gets it)."""
    if world == 1:
        return t
    t = t.clone()
    torch.distributed.all_reduce(t)
    return t / world


def divergence(losses: dict[str, float | None], model: torch.nn.Module | None, world: int, device: str) -> str | None:
    """What turned NaN or infinite, on any process, or None; every process gets the same verdict. The
    losses are means over processes, the same everywhere; the weights (model None: not checked) may differ."""
    bad = [f"{name} {value}" for name, value in losses.items() if value is not None and not math.isfinite(value)]
    broken = nonfinite(model.state_dict()) if model is not None else []
    if broken:
        bad.append(f"non-finite weights in {', '.join(broken[:3])}{', ...' if len(broken) > 3 else ''}")
    if world > 1 and model is not None:
        flag = torch.tensor(float(bool(bad)), device=device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        if flag.item() and not bad:
            bad.append("non-finite weights on another process")
    return " and ".join(bad) or None


def to_device(a: np.ndarray, device: str) -> torch.Tensor:
    t = torch.from_numpy(a)
    if device.startswith("cuda"):
        # pinned host memory lets the copy run asynchronously with the previous step's kernels
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def probe_step(config: GPTConfig, p: Train, batch: int, device: str, amp) -> None:
    """One training step of a throwaway model on `batch` random sequences: what a real step needs in
    memory (weights, gradients, activations, the recipe's optimizer state). Raises
    torch.OutOfMemoryError if it won't fit."""
    model = GPT(config).to(device)
    optimizers = configure_optimizers(model, recipe_optimizer(p), fused=True)
    x = torch.randint(0, config.vocab_size, (batch, config.block_size), device=device)
    with amp:
        _, loss = model(x, x)
    loss.backward()
    for optimizer in optimizers:
        optimizer.step()
    torch.cuda.synchronize(device)


def open_live(live_dir: Path, rows: list[dict], facts: dict):
    """A DVCLive logger writing into live_dir, offline, with the rows of a resumed run replayed."""
    os.environ["DVC_STUDIO_OFFLINE"] = "true"  # never post to Studio, whatever the user's DVC config
    from dvclive import Live

    # report=None: no HTML; save_dvc_exp=False: `dvc exp run` saves experiments itself;
    # dvcyaml=None: dvc.yaml already declares the files as the stage's metrics and plots
    live = Live(str(live_dir), report=None, save_dvc_exp=False, dvcyaml=None)
    live.log_params(facts)
    for row in rows:
        log_live(live, row)
    return live


def log_live(live, row: dict) -> None:
    live.step = row["step"]
    for key in LOG_FIELDS[1:]:
        if row[key] is not None:
            live.log_metric(key, row[key])  # no timestamp: cached outputs hold no wall-clock values
    live.next_step()


# ------------------------------------------------------------------------------------------- training

@dataclass
class Run:
    """What the set-up settled for this process: where it runs, the shape of a step, data, model."""
    started: float  # time.time() when the set-up began
    rank: int
    world: int
    device: str
    dtype: torch.dtype
    amp: AbstractContextManager
    config: GPTConfig
    total_iters: int
    step_tokens: int
    micro: int  # sequences per micro-batch
    accum: int  # micro-batches per step on this process
    windows: TrainWindows
    ev_x: torch.Tensor  # the evaluation set, scored whole at every log row as the evaluate stage scores it
    ev_y: torch.Tensor
    init_sha1: str | None
    tokens_before: int  # tokens the starting weights have seen over their warm-start chain
    model: GPT  # unwrapped (no compile, no DDP): evaluated, checked and saved as it is
    optimizers: list[torch.optim.Optimizer]  # the recipe's (gpt2: [AdamW]; modern: [Muon, AdamW])
    scaler: torch.amp.GradScaler

    @property
    def device_type(self) -> str:
        return self.device.split(":")[0]

    @property
    def facts(self) -> dict:
        """The run's shape, as DVCLive's params."""
        return {"world_size": self.world, "micro_batch": self.micro, "grad_accum_per_process": self.accum,
                "tokens_per_step": self.step_tokens, "steps": self.total_iters}


def set_up(p: Train, model_args: dict, manifest: dict, eval_size: int, init_path: Path) -> Run:
    """Processes, device, precision, batch plan, data, and the model with its starting weights and
    optimizers, on this process."""
    started = time.time()
    rank, world, device = setup_distributed(p.device)
    if world != p.processes:
        raise ValueError(f"torchrun started {world} processes but params.yaml asks for train.nproc_per_node * "
                         f"train.nnodes = {p.processes}; run the stage (`dvc repro train`), not torchrun by hand")
    device_type = device.split(":")[0]
    if device_type == "cpu":
        keep_freed_memory()
    torch.backends.cuda.matmul.allow_tf32 = True  # fp32 matmuls on tensor cores (Ampere+)
    torch.backends.cudnn.allow_tf32 = True
    dtype = pick_dtype(p.dtype, device_type)
    amp = autocast(device_type, dtype)

    T = model_args["block_size"]
    config = GPTConfig(**model_args)
    try_batch = ((lambda n: probe_step(config, p, n, device, amp)) if device_type == "cuda" else None)
    micro, accum = batch_plan(p, world, try_batch)
    if world > 1 and p.batch_size == "auto":  # every process runs the micro-batch that fits on all
        sizes = [micro] * world
        torch.distributed.all_gather_object(sizes, micro)
        micro, accum = min(sizes), accum * micro // min(sizes)
    windows = TrainWindows(train_files(manifest), T)
    ev_x, ev_y = (torch.from_numpy(a) for a in eval_windows(eval_tokens(manifest, T, eval_size), T))

    init_state, init_sha1, tokens_before = load_init(init_path, model_args, manifest["split"], p.recipe)
    torch.manual_seed(p.seed)  # the same initial weights on every process
    model = GPT(config)
    if init_state is not None:
        model.load_state_dict(init_state)
    model.to(device)
    # each of the recipe's optimizers is stepped, zeroed and saved
    optimizers = configure_optimizers(model, recipe_optimizer(p),
                                      fused=device_type == "cuda")
    scaler = torch.amp.GradScaler(device_type, enabled=dtype == torch.float16)
    return Run(started=started, rank=rank, world=world, device=device, dtype=dtype, amp=amp, config=config,
               total_iters=max_iters(p, T), step_tokens=tokens_per_step(p, T), micro=micro, accum=accum,
               windows=windows, ev_x=ev_x, ev_y=ev_y, init_sha1=init_sha1, tokens_before=tokens_before,
               model=model, optimizers=optimizers, scaler=scaler)


def restore(run: Run, state_path: Path, fingerprint: str) -> tuple[int, list[dict], int | None, torch.Tensor, int]:
    """(start step, log rows, step of the last good resume state, train loss sum since the last log
    row, steps in that sum) of this run: step 0 unless state_path holds a resume state of this run's
    fingerprint, whose weights, optimizer and scaler states are then loaded into `run`."""
    loss_sum = torch.zeros((), device=run.device)  # stays on the device: no sync per step
    start_step, rows, last_good, loss_steps = 0, [], None, 0
    state = load_resume(state_path, fingerprint, run.device, verbose=run.rank == 0)
    if state is not None:
        run.model.load_state_dict(state["model"])
        for optimizer, saved in zip(run.optimizers, state["optimizers"], strict=True):
            optimizer.load_state_dict(saved)
        run.scaler.load_state_dict(state["scaler"])
        start_step, rows, last_good = state["step"], state["log"], state["step"]
        loss_sum.fill_(state["loss_sum"])
        loss_steps = state["loss_steps"]
        if run.rank == 0:
            print(f"train: resuming from step {start_step:,} of {run.total_iters:,} ({state_path})", flush=True)
        del state
    if run.world > 1:  # every process must resume from the same step (several nodes: a shared .resume/)
        steps = [start_step] * run.world
        torch.distributed.all_gather_object(steps, start_step)
        if len(set(steps)) > 1:
            raise CheckpointError(f"train: the processes found resume states of steps {steps} in {state_path}; "
                                  "on several nodes put .resume/ on a filesystem they share, or delete it there")
    return start_step, rows, last_good, loss_sum, loss_steps


def wrap(model: GPT, p: Train, device_type: str, world: int) -> torch.nn.Module:
    """The module the steps run: compiled (train.compile), and in DDP over several processes. DDP
    broadcasts rank 0's weights when it wraps, so this comes after the resume state is loaded."""
    if p.compile is True or (p.compile == "auto" and device_type == "cuda"):
        model = torch.compile(model)
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model)
    return model


def row_due(step: int, total: int, interval: int) -> bool:
    """A log row every `interval` steps and at the last step."""
    return step % interval == 0 or step == total


def log_row(run: Run, p: Train, step: int, loss_sum: torch.Tensor, loss_steps: int) -> dict:
    """The log row of `step` between evaluations: the train loss since the last row averaged over
    processes (None before the first step), the schedule's learning rate, no val loss."""
    train_loss = mean_over_processes(loss_sum, run.world).item() / loss_steps if loss_steps else None
    return {"step": step, "tokens": step * run.step_tokens, "train_loss": train_loss, "val_loss": None,
            "val_loss_stderr": None,
            "lr": lr_at(step, run.total_iters, p.warmup_iters, p.learning_rate, p.min_lr)}


def evaluate(run: Run, p: Train, step: int, loss_sum: torch.Tensor, loss_steps: int) -> dict:
    """The log row of `step` with the evaluation set's loss and its standard error."""
    val_loss, val_stderr = mean_and_stderr(window_losses(run.model, run.ev_x, run.ev_y, run.micro, run.device,
                                                         run.rank, run.world))
    return {**log_row(run, p, step, loss_sum, loss_steps), "val_loss": val_loss, "val_loss_stderr": val_stderr}


def stop_if_diverged(losses: dict[str, float | None], run: Run, step: int, state_path: Path,
                     last_good: int | None, out: Path, weights: bool = True) -> None:
    """Raise DivergedError when a loss (or, with `weights`, a weight) is NaN or infinite. The weights
    are checked at evaluations only: scanning every tensor is a sync per tensor on a GPU."""
    why = divergence(losses, run.model if weights else None, run.world, run.device)
    if why:
        raise diverged(why, step, state_path, last_good, out)


def save_resume(run: Run, fingerprint: str, step: int, rows: list[dict], loss_sum: torch.Tensor, loss_steps: int,
                state_path: Path) -> None:
    save_atomic({"fingerprint": fingerprint, "step": step, "log": rows,
                 "model": clean_state_dict(run.model.state_dict()),
                 "optimizers": [o.state_dict() for o in run.optimizers],
                 "scaler": run.scaler.state_dict(), "loss_sum": loss_sum.item(), "loss_steps": loss_steps},
                state_path)


def micro_batch(run: Run, p: Train, step: int, i: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Micro-batch `i` of this process at `step`, on the device. Its batch and dropout masks follow from
    (seed, step, shard) alone, shard numbering the step's micro-batches over all processes."""
    shard = run.rank * run.accum + i
    x, y = (to_device(a, run.device) for a in run.windows.batch(batch_rng(p.seed, step, shard), run.micro))
    if run.config.dropout > 0:
        torch.manual_seed(hash((p.seed, step, shard)) & 0xFFFF_FFFF)
    return x, y


def train(p: Train, model_args: dict, manifest: dict, eval_size: int, init_path: Path, out: Path,
          log_path: Path, live_dir: Path, resume_dir: Path) -> dict:
    """The whole run on this process; returns the summary stored in the checkpoint."""
    run = set_up(p, model_args, manifest, eval_size, init_path)
    master, world, total_iters, accum = run.rank == 0, run.world, run.total_iters, run.accum
    state_path = resume_dir / "state.pt"
    fingerprint = run_fingerprint(model_args, {**p.model_dump(), "eval_tokens": eval_size}, manifest, run.init_sha1, world)
    start_step, rows, last_good, loss_sum, loss_steps = restore(run, state_path, fingerprint)
    model = wrap(run.model, p, run.device_type, world)
    live = open_live(live_dir, rows, run.facts) if master else None

    timed_steps, timed_s = 0, 0.0  # training time only: evaluation and the first step are left out
    t0 = last_report = time.time()
    for step in range(start_step, total_iters + 1):
        # log the train loss, evaluate the loss on the val set, write checkpoints (a resumed step is logged)
        evaluated = row_due(step, total_iters, p.eval_interval)
        logged = (evaluated or row_due(step, total_iters, p.log_interval)) and not (rows and rows[-1]["step"] == step)
        if logged:
            row = (evaluate if evaluated else log_row)(run, p, step, loss_sum, loss_steps)
            stop_if_diverged({"train loss": row["train_loss"], "val loss": row["val_loss"]},
                             run, step, state_path, last_good, out, weights=evaluated)
            rows.append(row)
            if master:
                log_live(live, row)
            loss_sum.zero_()
            loss_steps = 0
        if step < total_iters and checkpoint_due(step, start_step, p.checkpoint_interval):
            loss_sum = mean_over_processes(loss_sum, world)  # every process keeps the mean, so saving one suffices
            stop_if_diverged({"train loss": loss_sum.item()}, run, step, state_path, last_good, out)
            if master:
                save_resume(run, fingerprint, step, rows, loss_sum, loss_steps, state_path)
            last_good = step
        if logged:
            t0 = time.time()  # the step's time starts after the evaluation and its resume state

        # termination conditions
        if step == total_iters:
            break  # the last row is logged; there is no step after it

        # determine and set the learning rate: one schedule for every group, scaled to each group's peak
        for optimizer in run.optimizers:
            for group in optimizer.param_groups:
                group["lr"] = group_lr(step, total_iters, p, group["base_lr"])

        # forward backward update, with gradient accumulation over the micro-batches
        for i in range(accum):
            x, y = micro_batch(run, p, step, i)
            if world > 1:  # all-reduce gradients on the last micro-batch only
                model.require_backward_grad_sync = i == accum - 1
            with run.amp:
                _, loss = model(x, y)
                loss = loss / accum  # DDP averages over processes: the step's loss is the mean of all micro-batches
            run.scaler.scale(loss).backward()
            loss_sum += loss.detach()
        if p.grad_clip > 0:
            for optimizer in run.optimizers:  # one scaler over all: unscale each, clip the whole model
                run.scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), p.grad_clip)
        for optimizer in run.optimizers:
            run.scaler.step(optimizer)
        run.scaler.update()
        for optimizer in run.optimizers:
            optimizer.zero_grad(set_to_none=True)
        loss_steps += 1

        # timing and logging
        if run.device_type == "cuda" and row_due(step + 1, total_iters, min(p.log_interval, p.eval_interval)):
            torch.cuda.synchronize()  # a log row follows (a sync): the step's queued kernels count as its time
        t1 = time.time()
        dt = t1 - t0
        t0 = t1
        if step > start_step:  # the first step of a process warms up (and compiles)
            timed_steps, timed_s = timed_steps + 1, timed_s + dt
        if master and t1 - last_report >= PROGRESS_EVERY_S:
            print(progress_line(step + 1, total_iters, timed_steps, timed_s, run.step_tokens,
                                loss_sum.item() / loss_steps), file=sys.stderr, flush=True)
            last_report = time.time()

    tokens_per_s = timed_steps * run.step_tokens / timed_s if timed_s > 0 else None
    return finish(run, p, manifest, rows, start_step, tokens_per_s, init_path, out, log_path, live, state_path)


def finish(run: Run, p: Train, manifest: dict, rows: list[dict], start_step: int, tokens_per_s: float | None,
           init_path: Path, out: Path, log_path: Path, live, state_path: Path) -> dict:
    """Check that every process holds the same weights; rank 0 writes the checkpoint, the log CSV and
    DVCLive's last files, and deletes the resume state. Returns the summary and the run's cost."""
    world, total_iters, step_tokens, device_type = run.world, run.total_iters, run.step_tokens, run.device_type
    final = clean_state_dict(run.model.state_dict())
    digests = [weights_sha1(final)] * world
    if world > 1:
        torch.distributed.all_gather_object(digests, digests[0])
    if len(set(digests)) > 1:
        raise RuntimeError(f"train: the {world} processes ended with different weights ({digests}); "
                           "gradients were not synchronised")
    # What the run did goes into the checkpoint; what it cost (time, speed, the card) does not: the same
    # inputs must give the same bytes. The cost goes to the closing line and logs/stages.jsonl.
    summary = {
        "train_loss": rows[-1]["train_loss"], "val_loss": rows[-1]["val_loss"],
        "val_loss_stderr": rows[-1]["val_loss_stderr"], "steps": total_iters, "tokens_per_step": step_tokens,
        "tokens_trained": total_iters * step_tokens,
        "tokens_trained_total": run.tokens_before + total_iters * step_tokens,
        "token_budget": p.token_budget, "world_size": world, "micro_batch": run.micro,
        "grad_accum_per_process": run.accum, "weights_sha1_per_process": digests, "resumed_from_step": start_step,
        "device": device_type, "dtype": str(run.dtype).replace("torch.", ""),
    }
    peak = peak_flops(device_type)
    cost = {"tokens_per_s": tokens_per_s, "wall_time_s": time.time() - run.started,
            "mfu": run.model.flops_per_token() * tokens_per_s / (peak * world) if peak and tokens_per_s else None,
            "card": torch.cuda.get_device_name() if device_type == "cuda" else device_type}
    if run.rank == 0:
        save_atomic({"model": final, "model_args": run.config.saved_args(), "config": p.model_dump(), "init_from": str(init_path),
                     "recipe": p.recipe,  # a warm start from it must use the same recipe
                     "init_sha1": run.init_sha1, "parts": manifest["parts"], "split": manifest["split"],
                     "train_tokens": manifest["totals"]["train_tokens"], "summary": summary}, out)
        write_text_atomic(log_path, log_csv(rows))
        live.end()
        state_path.unlink(missing_ok=True)
    return {**summary, **cost}


def diverged(why: str, step: int, state_path: Path, last_good: int | None, out: Path) -> DivergedError:
    kept = (f"the last good state, {state_path} (step {last_good:,}), and {out} are kept as they were"
            if last_good is not None else f"{out} and any earlier resume state are kept as they were")
    return DivergedError(f"train: training diverged: {why} by step {step:,}; nothing was saved, {kept}. "
                         "Lower train.learning_rate (or raise warmup_iters, set grad_clip), then run the stage again")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, required=True, help="dataset manifest (data/dataset.json)")
    parser.add_argument("--init", type=Path, required=True, help="train.init_from: a checkpoint or checkpoints/scratch")
    parser.add_argument("--out", type=Path, required=True, help="final checkpoint (models/model.pt)")
    parser.add_argument("--train-log", type=Path, required=True, help="training log CSV (reports/train_log.csv)")
    parser.add_argument("--live-dir", type=Path, required=True, help="DVCLive's folder: metrics, plots (reports/train)")
    parser.add_argument("--resume-dir", type=Path, required=True, help="where periodic resume state lives (.resume/train)")
    args = parser.parse_args()

    params = load_params()  # checks every train.* key, and stops naming the key
    p = params.train
    model_args = recipe_model(p)
    if Path(p.init_from) != args.init:
        raise StageError(f"--init {args.init} differs from params.yaml train.init_from {p.init_from!r}; "
                         "dvc.yaml passes ${train.init_from}")
    if args.init.resolve() == args.out.resolve():
        raise StageError(f"train.init_from is the stage's own output {args.out}; copy it first "
                         f"(cp {args.out} checkpoints/data-v1.pt && dvc add checkpoints/data-v1.pt)")
    try:
        launch = torchrun_args(p, [str(Path(__file__)), *sys.argv[1:]], dict(os.environ))
    except ValueError as exc:
        raise StageError(str(exc)) from exc
    if launch:  # this process becomes torchrun's agent; the processes it starts do the training
        sys.exit(run_torchrun(launch))
    try:
        manifest = load_manifest(args.dataset)
    except (OSError, ValueError) as exc:
        raise StageError(str(exc)) from exc
    master = os.environ.get("RANK", "0") == "0"
    try:
        s = train(p, model_args, manifest, params.data.eval_tokens, args.init, args.out, args.train_log, args.live_dir, args.resume_dir)
    except DivergedError as exc:  # found by every process at the same step: rank 0 says why, then all stop
        if master:
            print(f"error: {exc}", file=sys.stderr, flush=True)
        if torch.distributed.is_initialized():
            torch.distributed.barrier()  # no process exits before rank 0 has said why
        sys.exit(1)
    except (CheckpointError, FileNotFoundError, ValueError, torch.OutOfMemoryError) as exc:
        raise StageError(str(exc)) from exc
    except OSError as exc:  # a write: disk full, read-only
        raise StageError(f"train: cannot write {exc.filename or args.out}: {exc.strerror or exc}; "
                         f"{args.out} and the last resume state are kept as they were: free space and run "
                         "again") from exc
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    if master:
        record("train", s["wall_time_s"], tokens_per_s=s["tokens_per_s"], mfu=s["mfu"], card=s["card"],
               processes=s["world_size"], tokens_trained=s["tokens_trained"])
        tps = f"{s['tokens_per_s']:,.0f} tokens/s" if s["tokens_per_s"] else "- tokens/s"
        mfu = f"{s['mfu']:.1%} MFU" if s["mfu"] is not None else "MFU n/a"
        print(f"train: {s['steps']:,} steps, {s['tokens_trained']:,} tokens on {s['world_size']} x {s['card']} "
              f"({s['dtype']}, micro-batch {s['micro_batch']} x {s['grad_accum_per_process']}), train loss "
              f"{s['train_loss']:.3f}, val loss {s['val_loss']:.3f} ± {s['val_loss_stderr']:.3f}, {tps}, {mfu}, "
              f"{s['wall_time_s']:.0f} s -> {args.out}")


if __name__ == "__main__":
    run_stage(main)
