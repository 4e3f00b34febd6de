"""Train GPT-2 on a dataset version: the `train` stage.

    python src/train.py --dataset data/dataset.json --init checkpoints/scratch \
        --out models/model.pt --train-log reports/train_log.csv --resume-dir .resume/train

Reads the `train:` section of params.yaml (model preset, token budget, optimizer, schedule) and the
token files listed in the manifest. Writes the final checkpoint (plain tensors + `model_args`, loadable
with `torch.load(weights_only=True)`) and a CSV log with step, tokens, lr, train_loss, val_loss, where
val_loss is measured on fixed windows of the manifest's evaluation set, the same for every version.

Warm start: `train.init_from` names a checkpoint (`checkpoints/scratch`, a committed placeholder, means
from scratch). dvc.yaml lists it as a dependency, so dvc.lock records what the run started from.

Crash safety: every `train.checkpoint_interval` steps the full state (model, optimizer, step, log,
scaler) goes to `<resume-dir>/state.pt` by a write to a temporary file and a rename. Run the stage again
after a crash or a kill and it resumes from there when model args, params, manifest, start checkpoint
and world size match; batches come from a generator seeded by (seed, rank, step, micro-step), so the
resumed run draws exactly the batches the killed one would have. The file is removed on success.
A loss or weight that turns NaN or infinite stops the run at the next log row or checkpoint with an
error; nothing is saved after that, so the last state saved and any earlier `--out` stay as they were.
Checkpoints hold plain tensors and values only; one holding pickled code is refused (src/checkpoint.py).

Several GPUs or nodes: the same script under torchrun runs DistributedDataParallel (NCCL on CUDA,
gloo on CPU). Each process draws its own windows; a step then trains on
batch_size * block_size * grad_accum * world_size tokens, and the step count shrinks to keep
`train.token_budget` the same:

    torchrun --standalone --nproc_per_node=8 src/train.py --dataset ... (same arguments)
    # two nodes of 8 GPUs; run on each node with its --node_rank:
    torchrun --nnodes=2 --node_rank=0 --nproc_per_node=8 --rdzv_backend=c10d \
        --rdzv_endpoint=HOST:29500 src/train.py --dataset ... (same arguments)
    # on CPU, as the tests do:
    torchrun --standalone --nproc_per_node=2 src/train.py --dataset ... (same arguments)

Under `dvc repro` put the torchrun line in the stage's cmd (dvc.yaml) or run it by hand and then
`dvc commit train`.
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import hashlib
import json
import math
import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from batches import TrainWindows, eval_tokens, eval_windows, load_manifest, train_files
from checkpoint import CheckpointError, load, nonfinite, save_atomic
from model import GPT, GPTConfig, clean_state_dict
from params import SCRATCH, load_params

LOG_FIELDS = ["step", "tokens", "lr", "train_loss", "val_loss"]

# Dense (no sparsity) bf16 tensor-core peaks, TFLOPS, from NVIDIA's datasheets; matched against
# torch.cuda.get_device_name() in order, so the more specific names come first.
PEAK_BF16_TFLOPS = [
    ("H100 PCIe", 756.0),  # H100 datasheet: 1,513 with sparsity
    ("H100 NVL", 835.0),   # 1,671 with sparsity
    ("H100", 989.0),       # SXM (the "H100 80GB HBM3"): 1,979 with sparsity
    ("H200", 989.0),       # same tensor cores as H100 SXM
    ("GH200", 989.0),
    ("A100", 312.0),       # A100 datasheet: 312 dense, 624 sparse
    ("L40S", 362.0),
    ("L4", 121.0),         # L4 datasheet: 242 with sparsity
    ("A10G", 70.0),        # per AWS; the A10's datasheet says 125 at higher clocks
    ("A10", 125.0),
    # GeForce Ada cards run bf16/fp16 with fp32 accumulation at half the fp16-accumulate rate.
    # Ada whitepaper (RTX 4090): 165.2 TFLOPS fp16 with fp32 accumulate, dense.
    ("RTX 4090", 165.2),
    # RTX 4070 is not in the whitepaper's table; same per-SM rate as the 4090 (165.2 TFLOPS /
    # (128 SMs * 2.52 GHz) = 512 flop/clk/SM) times 46 SMs * 2.475 GHz boost = 58.3 TFLOPS.
    ("RTX 4070", 58.3),
]


# --------------------------------------------------------------------------------------- pure helpers

def tokens_per_step(p: dict, block_size: int, world_size: int) -> int:
    return p["batch_size"] * block_size * p["grad_accum"] * world_size


def max_iters(p: dict, block_size: int, world_size: int) -> int:
    """Optimizer steps that spend the token budget (rounded up to a whole step)."""
    return math.ceil(p["token_budget"] / tokens_per_step(p, block_size, world_size))


def lr_at(step: int, total: int, warmup: int, lr: float, min_lr: float) -> float:
    """Linear warmup over `warmup` steps, then cosine decay to min_lr at step `total`."""
    if step < warmup:
        return lr * (step + 1) / (warmup + 1)
    if step >= total:
        return min_lr
    progress = (step - warmup) / max(1, total - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)


def pick_device(name: str) -> str:
    if name != "auto":
        return name
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(name: str, device_type: str) -> torch.dtype:
    """auto: bf16 on CUDA cards that have it, fp16 (with a grad scaler) on older ones, fp32 elsewhere
    (bf16 autocast on CPUs without AMX/avx512-bf16 is slower than fp32)."""
    if name != "auto":
        return getattr(torch, name)
    if device_type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def peak_flops(device_type: str) -> float | None:
    """The running device's dense bf16 peak in FLOP/s, or None when unknown (CPU, MPS, other cards)."""
    if device_type != "cuda":
        return None
    name = torch.cuda.get_device_name()
    for key, tflops in PEAK_BF16_TFLOPS:
        if key in name:
            return tflops * 1e12
    return None


def file_sha1(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run_fingerprint(model_args: dict, p: dict, manifest: dict, init_sha1: str | None, world: int) -> str:
    """What a resume checkpoint must match: everything that decides the weights, the data order and
    the step count. checkpoint_interval is left out: it changes when state is saved, not the result."""
    config = {k: v for k, v in p.items() if k != "checkpoint_interval"}
    blob = json.dumps([model_args, config, manifest, init_sha1, world], sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()


def load_init(path: Path, model_args: dict) -> tuple[dict | None, str | None]:
    """The starting weights named by train.init_from and the file's sha1 (None, None for scratch)."""
    if path.name == SCRATCH:
        return None, None
    if not path.exists():
        raise FileNotFoundError(f"train.init_from: {path} not found; train the earlier version first, "
                                f"copy its models/model.pt there (and `dvc add` it), or use checkpoints/{SCRATCH}")
    ckpt = load(path, "train.init_from", ("model", "model_args"))
    if ckpt["model_args"] != model_args:
        raise ValueError(f"train.init_from: {path} has model args {ckpt['model_args']}, but train.preset/"
                         f"train.model give {model_args}; set them to match the checkpoint")
    return ckpt["model"], file_sha1(path)


def write_log(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=LOG_FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def keep_freed_memory() -> None:
    """CPU speed: glibc hands every block above 32 MB back to the OS when freed, so each step would
    page-fault its (batch*block, vocab) logits in again; measured 1.7x slower on 2 cores. Serve large
    blocks from the heap and keep them instead (the footprint stays at the peak of one step)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-4, 0)        # M_MMAP_MAX: no mmap-backed blocks
        libc.mallopt(-1, 1 << 40)  # M_TRIM_THRESHOLD: never trim the heap
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune


class DivergedError(RuntimeError):
    """The loss or the weights became NaN or infinite."""


# ------------------------------------------------------------------------------------------- training

@torch.no_grad()
def estimate_val_loss(model, x: torch.Tensor, y: torch.Tensor, batch_size: int, device: str, autocast,
                      rank: int = 0, world: int = 1) -> float:
    """Mean loss over the fixed windows x, y (n, T); in DDP each rank scores every world-th batch."""
    model.eval()
    total = torch.zeros(2, dtype=torch.float64, device=device)  # (sum of window losses, windows)
    for start in range(rank * batch_size, len(x), batch_size * world):
        xb = x[start:start + batch_size].to(device)
        yb = y[start:start + batch_size].to(device)
        with autocast:
            _, loss = model(xb, yb)
        total += torch.stack([loss.double() * len(xb), torch.tensor(len(xb), dtype=torch.float64, device=device)])
    if world > 1:
        torch.distributed.all_reduce(total)
    model.train()
    return (total[0] / total[1]).item()


def to_device(a: np.ndarray, device: str) -> torch.Tensor:
    t = torch.from_numpy(a)
    if device.startswith("cuda"):
        # pinned host memory lets the copy run asynchronously with the previous step's kernels
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def train(p: dict, model_args: dict, manifest: dict, init_path: Path, out: Path, log_path: Path,
          resume_dir: Path) -> dict:
    """The whole run; returns the summary stored in the checkpoint."""
    t_start = time.time()
    ddp = "RANK" in os.environ
    if ddp:
        rank, local_rank, world = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"]), int(os.environ["WORLD_SIZE"])
    else:
        rank, local_rank, world = 0, 0, 1
    device = pick_device(p["device"])
    if device == "cuda":
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(device)
    device_type = device.split(":")[0]
    if ddp:
        torch.distributed.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    master = rank == 0
    if device_type == "cpu":
        keep_freed_memory()
    torch.backends.cuda.matmul.allow_tf32 = True  # fp32 matmuls on tensor cores (Ampere+)
    torch.backends.cudnn.allow_tf32 = True
    dtype = pick_dtype(p["dtype"], device_type)
    autocast = (torch.autocast(device_type=device_type, dtype=dtype)
                if dtype != torch.float32 else nullcontext())

    T = model_args["block_size"]
    total_iters = max_iters(p, T, world)
    step_tokens = tokens_per_step(p, T, world)
    windows = TrainWindows(train_files(manifest), T)
    ev_tokens = eval_tokens(manifest, T, p["eval_iters"] * p["batch_size"] * T)
    ev_x, ev_y = (torch.from_numpy(a) for a in eval_windows(ev_tokens, T))

    init_state, init_sha1 = load_init(init_path, model_args)
    torch.manual_seed(p["seed"])  # the same initial weights on every rank
    model = GPT(GPTConfig(**model_args))
    if init_state is not None:
        model.load_state_dict(init_state)
    model.to(device)
    optimizer = torch.optim.AdamW(model.param_groups(p["weight_decay"]), lr=p["learning_rate"],
                                  betas=(p["beta1"], p["beta2"]), fused=device_type == "cuda")
    scaler = torch.amp.GradScaler(device_type, enabled=dtype == torch.float16)

    fingerprint = run_fingerprint(model_args, p, manifest, init_sha1, world)
    state_path = resume_dir / "state.pt"
    # pending: (sum, count) of step losses since the last log row
    start_step, rows, pending, elapsed_before = 0, [], [0.0, 0], 0.0
    if state_path.exists():
        try:
            state = load(state_path, "train: resume state", ("fingerprint",), map_location=device)
        except CheckpointError as exc:  # never silently dropped: it may hold hours of training
            raise CheckpointError(f"{exc}; delete it to start from step 0") from exc
        if state["fingerprint"] == fingerprint:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scaler.load_state_dict(state["scaler"])
            start_step, rows, pending = state["step"], state["log"], state["pending"]
            elapsed_before = state["elapsed_s"]
            if master:
                print(f"train: resuming from step {start_step:,} of {total_iters:,} ({state_path})", flush=True)
        elif master:
            print(f"train: {state_path} is from another configuration; starting from step 0", flush=True)

    raw_model = model
    use_compile = p["compile"] is True or (p["compile"] == "auto" and device_type == "cuda")
    if use_compile:
        model = torch.compile(model)
    if ddp:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local_rank] if device_type == "cuda" else None)

    loss_sum = torch.zeros((), device=device)  # on the device: no GPU sync per step
    last_good = [start_step if start_step else None]  # step of the last resume state saved or loaded

    def check_finite(step: int, losses: dict[str, float | None], weights: bool) -> None:
        """Stop before anything is saved once training diverged (checked where losses are read anyway)."""
        bad = [f"{name} {value}" for name, value in losses.items() if value is not None and not math.isfinite(value)]
        broken = nonfinite(raw_model.state_dict()) if weights else []
        if broken:
            bad.append(f"non-finite weights in {', '.join(broken[:3])}{', ...' if len(broken) > 3 else ''}")
        if not bad:
            return
        kept = (f"the last good state, {state_path} (step {last_good[0]:,}), and {out} are kept as they were"
                if last_good[0] is not None else f"{out} and any earlier resume state are kept as they were")
        raise DivergedError(
            f"train: training diverged: {' and '.join(bad)} by step {step:,}; nothing was saved, {kept}. "
            "Lower train.learning_rate (or raise warmup_iters, set grad_clip), then run the stage again"
        )

    def save_state(step: int) -> None:
        pending[0] += loss_sum.item()
        loss_sum.zero_()
        check_finite(step, {"train loss": pending[0]}, weights=True)
        save_atomic({"fingerprint": fingerprint, "step": step, "model": clean_state_dict(raw_model.state_dict()),
                     "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(), "log": rows,
                     "pending": pending, "elapsed_s": elapsed_before + time.time() - t_start}, state_path)
        last_good[0] = step

    def log_row(step: int) -> None:
        val = estimate_val_loss(model, ev_x, ev_y, p["batch_size"], device, autocast, rank, world)
        pending[0] += loss_sum.item()
        loss_sum.zero_()
        if world > 1:  # the mean over every rank's batches, not rank 0's alone
            total = torch.tensor([pending[0]], dtype=torch.float64, device=device)
            torch.distributed.all_reduce(total)
            pending[0] = total.item() / world
        train_loss = pending[0] / pending[1] if pending[1] else None
        check_finite(step, {"train loss": train_loss, "val loss": val}, weights=False)
        rows.append({"step": step, "tokens": step * step_tokens, "lr": lr_at(step, total_iters, p["warmup_iters"],
                     p["learning_rate"], p["min_lr"]), "train_loss": train_loss, "val_loss": val})
        pending[:] = [0.0, 0]
        bar.set_postfix(train=f"{train_loss:.3f}" if train_loss is not None else "-", val=f"{val:.3f}")

    bar = tqdm(range(start_step, total_iters), initial=start_step, total=total_iters, disable=not master,
               desc="train", unit="step", mininterval=2.0)
    timed_tokens, timed_s, t_timed = 0, 0.0, None
    for step in range(start_step, total_iters):
        if step % p["eval_interval"] == 0 and not (step == start_step and rows and rows[-1]["step"] == step):
            if t_timed is not None:  # leave evaluation out of the throughput
                if device_type == "cuda":
                    torch.cuda.synchronize()
                timed_s += time.time() - t_timed
            log_row(step)
            t_timed = None
        if master and step > start_step and step % p["checkpoint_interval"] == 0:
            save_state(step)
        if t_timed is None and step > start_step:  # the first step of a process warms up (and compiles)
            t_timed = time.time()
        lr = lr_at(step, total_iters, p["warmup_iters"], p["learning_rate"], p["min_lr"])
        for group in optimizer.param_groups:
            group["lr"] = lr
        if model_args["dropout"] > 0:  # dropout masks, like batches, follow from the step alone
            torch.manual_seed(hash((p["seed"], rank, step)) & 0xFFFF_FFFF)
        for micro in range(p["grad_accum"]):
            # batches depend on (seed, rank, step, micro) only: a resumed run draws the same ones
            rng = np.random.default_rng([p["seed"], rank, step, micro])
            x, y = (to_device(a, device) for a in windows.batch(rng, p["batch_size"]))
            if ddp:  # all-reduce gradients on the last micro-step only
                model.require_backward_grad_sync = micro == p["grad_accum"] - 1
            with autocast:
                _, loss = model(x, y)
                loss = loss / p["grad_accum"]
            scaler.scale(loss).backward()
            loss_sum += loss.detach()
        if p["grad_clip"] > 0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), p["grad_clip"])
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        if t_timed is not None:
            timed_tokens += step_tokens
        pending[1] += 1
        bar.update(1)
    bar.close()
    if t_timed is not None:
        if device_type == "cuda":
            torch.cuda.synchronize()
        timed_s += time.time() - t_timed
    if not rows or rows[-1]["step"] != total_iters:
        log_row(total_iters)

    tokens_per_s = timed_tokens / timed_s if timed_s > 0 else None
    peak = peak_flops(device_type)
    mfu = (raw_model.flops_per_token() * tokens_per_s / (peak * world)) if peak and tokens_per_s else None
    summary = {
        "train_loss": rows[-1]["train_loss"], "val_loss_fixed_batches": rows[-1]["val_loss"],
        "steps": total_iters, "tokens_per_step": step_tokens, "tokens_trained": total_iters * step_tokens,
        "token_budget": p["token_budget"], "tokens_per_s": tokens_per_s, "mfu": mfu,
        "wall_time_s": elapsed_before + time.time() - t_start, "world_size": world,
        "device": torch.cuda.get_device_name() if device_type == "cuda" else device_type,
        "dtype": str(dtype).replace("torch.", ""), "resumed_from_step": start_step,
    }
    check_finite(total_iters, {}, weights=True)
    if master:
        ckpt = {"model": clean_state_dict(raw_model.state_dict()), "model_args": model_args, "config": p,
                "init_from": str(init_path), "init_sha1": init_sha1, "parts": manifest["parts"], "summary": summary}
        save_atomic(ckpt, out)
        write_log(rows, log_path)
        state_path.unlink(missing_ok=True)
    if ddp:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, required=True, help="dataset manifest (data/dataset.json)")
    parser.add_argument("--init", type=Path, required=True, help="train.init_from: a checkpoint or checkpoints/scratch")
    parser.add_argument("--out", type=Path, required=True, help="final checkpoint (models/model.pt)")
    parser.add_argument("--train-log", type=Path, required=True, help="training log CSV (reports/train_log.csv)")
    parser.add_argument("--resume-dir", type=Path, required=True, help="where periodic resume state lives (.resume/train)")
    args = parser.parse_args()

    params = load_params()  # checks every train.* key, and exits naming the key
    p = params["train"]
    model_args = {**p["presets"][p["preset"]], **(p["model"] or {})}  # the preset, with train.model's overrides
    if Path(p["init_from"]) != args.init:
        sys.exit(f"error: --init {args.init} differs from params.yaml train.init_from {p['init_from']!r}; "
                 "dvc.yaml passes ${train.init_from}")
    if args.init.resolve() == args.out.resolve():
        sys.exit(f"error: train.init_from is the stage's own output {args.out}; copy it first "
                 f"(cp {args.out} checkpoints/data-v1.pt && dvc add checkpoints/data-v1.pt)")
    try:
        manifest = load_manifest(args.dataset)
    except (OSError, ValueError) as exc:
        sys.exit(f"error: {exc}")
    try:
        s = train(p, model_args, manifest, args.init, args.out, args.train_log, args.resume_dir)
    except (CheckpointError, DivergedError, FileNotFoundError, ValueError) as exc:
        sys.exit(f"error: {exc}")
    except OSError as exc:  # a write: disk full, read-only
        sys.exit(f"error: train: cannot write {exc.filename or args.out}: {exc.strerror or exc}; "
                 f"{args.out} and the last resume state are kept as they were: free space and run again")
    if "RANK" not in os.environ or os.environ["RANK"] == "0":
        tps = f"{s['tokens_per_s']:,.0f} tokens/s" if s["tokens_per_s"] else "- tokens/s"
        mfu = f"{s['mfu']:.1%} MFU" if s["mfu"] is not None else "MFU n/a"
        print(f"train: {s['steps']:,} steps, {s['tokens_trained']:,} tokens on {s['world_size']} x {s['device']} "
              f"({s['dtype']}), train loss {s['train_loss']:.3f}, val loss {s['val_loss_fixed_batches']:.3f}, "
              f"{tps}, {mfu}, {s['wall_time_s']:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
