"""Score a trained model on the fixed evaluation set: the `evaluate` stage.

    python src/evaluate.py --dataset data/dataset.json --model models/model.pt \
        --train-log reports/train_log.csv --metrics reports/metrics.json \
        --plot reports/training_curve.png --samples reports/samples.txt

The evaluation set is the manifest's `eval` files (held-out documents of data.eval_parts), the first
`data.eval_tokens` tokens cut into consecutive block_size windows: the same windows for every dataset
version, so `dvc metrics diff data-v1 data-v3` compares models, not draws. It is scored in float32 on
any device by model.window_losses, the function the train stage logs val_loss with, so the training
curve's last point is this stage's val_loss. `eval_set_sha1` covers the tokens scored, the block size,
the number of windows and the precision: equal sha1, comparable losses.

Writes flat metrics (val_loss and its standard error over windows; val_bpb, the same loss in bits per
UTF-8 byte of the text scored, which compares across tokenizers and languages as nanochat reports it;
training facts from the checkpoint, dataset facts from the manifest), a loss curve PNG from the
training log, and generations for fixed prompts with a fixed seed.
Prints: `evaluate: val loss 6.210 ± 0.031 (perplexity 497, 2.315 bits per byte) on 14,336 tokens (eval
set 3f2a9c1e), parts [1]`.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from pathlib import Path

import torch

from atomic import atomic_path, write_json_atomic, write_text_atomic
from batches import eval_tokens, eval_windows, fingerprint, load_manifest
from checkpoint import CheckpointError, load
from model import EVAL_DTYPE, GPT, GPTConfig, mean_and_stderr, window_losses
from params import Evaluate, load_params
from runlog import StageError, record, run_stage
from tokens import EOT, gpt2_encoding


def load_model(path: Path, device: str) -> tuple[GPT, dict]:
    """Rebuild the model from a checkpoint alone (plain tensors + model_args)."""
    ckpt = load(path, "evaluate", ("model", "model_args", "summary"))
    model = GPT(GPTConfig(**ckpt["model_args"]))
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), ckpt


def generate_samples(model: GPT, prompts: list[str], p: Evaluate, device: str) -> list[str]:
    """One continuation per prompt; a generator seeded with evaluate.seed makes them repeatable."""
    enc = gpt2_encoding()
    out = []
    for i, prompt in enumerate(prompts):
        gen = torch.Generator(device=device).manual_seed(p.seed + i)
        idx = torch.tensor([enc.encode_ordinary(prompt)], dtype=torch.long, device=device)
        ids = model.generate(idx, p.sample_tokens, temperature=p.temperature, top_k=p.top_k,
                             generator=gen, vocab_limit=EOT + 1)[0].tolist()
        out.append(enc.decode(ids))
    return out


def read_log(path: Path) -> list[dict]:
    with open(path) as f:
        return [{k: float(v) if v else None for k, v in row.items()} for row in csv.DictReader(f)]


def plot_curve(rows: list[dict], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    pts = [(r["tokens"], r["train_loss"]) for r in rows if r["train_loss"] is not None]
    if pts:
        ax.plot(*zip(*pts), "-", label="train loss (training batches)")
    pts = [(r["tokens"], r["val_loss"], r["val_loss_stderr"]) for r in rows if r["val_loss"] is not None]
    if pts:
        tokens, loss, stderr = zip(*pts)
        ax.errorbar(tokens, loss, yerr=[2 * e for e in stderr], fmt="o-", capsize=3,
                    label="val loss (evaluation set, ±2 stderr)")
    ax.set_xlabel("tokens trained")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    try:  # a temporary file and a rename: a failed write never leaves half a PNG
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
    finally:
        plt.close(fig)


def scored_bytes(targets, enc) -> int:
    """UTF-8 bytes of the text the scored target tokens make; the end-of-text token has none."""
    ids, counts = torch.unique(targets, return_counts=True)
    return sum(len(enc.decode_single_token_bytes(token)) * count
               for token, count in zip(ids.tolist(), counts.tolist()) if token != EOT)


def bits_per_byte(val_loss: float, tokens: int, num_bytes: int) -> float:
    """Mean loss per token (nats) -> bits per UTF-8 byte of the same text: the loss in bits summed
    over the tokens, over their bytes. It does not depend on the tokenizer."""
    return val_loss * tokens / (math.log(2) * num_bytes)


def build_metrics(val_loss: float, val_stderr: float, scored_tokens: int, num_bytes: int, sha1: str,
                  ckpt: dict, manifest: dict) -> dict:
    """Flat keys, so `dvc metrics diff` lines them up across versions (val_loss_stderr sorts beside
    val_loss)."""
    s, totals = ckpt["summary"], manifest["totals"]
    return {
        "val_loss": round(val_loss, 5),
        "val_loss_stderr": round(val_stderr, 5),
        "val_bpb": round(bits_per_byte(val_loss, scored_tokens, num_bytes), 5),
        "perplexity": round(math.exp(val_loss), 3),
        "train_loss": s["train_loss"] and round(s["train_loss"], 5),
        "tokens_trained": s["tokens_trained"],
        "tokens_trained_total": s["tokens_trained_total"],
        "epochs": round(s["tokens_trained"] / totals["train_tokens"], 4),
        "init_from": ckpt["init_sha1"] or "scratch",
        "token_budget": s["token_budget"],
        "dataset_tokens": totals["tokens"],
        "dataset_documents": totals["documents"],
        "train_tokens": totals["train_tokens"],
        "parts": len(manifest["parts"]),
        "eval_tokens": totals["eval_tokens"],
        "eval_documents": totals["eval_documents"],
        "eval_tokens_scored": scored_tokens,
        "eval_bytes_scored": num_bytes,
        "eval_set_sha1": sha1,
        "eval_dtype": EVAL_DTYPE,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, required=True, help="dataset manifest (data/dataset.json)")
    parser.add_argument("--model", type=Path, required=True, help="checkpoint from the train stage")
    parser.add_argument("--train-log", type=Path, required=True, help="training log CSV from the train stage")
    parser.add_argument("--metrics", type=Path, required=True, help="metrics JSON to write")
    parser.add_argument("--plot", type=Path, required=True, help="loss curve PNG to write")
    parser.add_argument("--samples", type=Path, required=True, help="generated samples to write")
    args = parser.parse_args()

    params = load_params()  # checks every key, and stops naming the key
    p = params.evaluate
    started = time.perf_counter()
    try:
        manifest = load_manifest(args.dataset)
    except (OSError, ValueError) as exc:
        raise StageError(str(exc)) from exc
    if not args.model.exists():
        raise StageError(f"{args.model} not found; run `dvc repro train`")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(p.seed)
    try:
        model, ckpt = load_model(args.model, device)
    except CheckpointError as exc:
        raise StageError(f"{exc}; run `dvc repro train`") from exc

    T = ckpt["model_args"]["block_size"]
    tokens = eval_tokens(manifest, T, params.data.eval_tokens)
    x, y = (torch.from_numpy(a) for a in eval_windows(tokens, T))
    val_loss, val_stderr = mean_and_stderr(window_losses(model, x, y, p.batch_size, device))
    sha1 = fingerprint(tokens, T, EVAL_DTYPE)
    num_bytes = scored_bytes(y, gpt2_encoding())
    metrics = build_metrics(val_loss, val_stderr, x.numel(), num_bytes, sha1, ckpt, manifest)
    samples = generate_samples(model, p.prompts, p, device)
    try:  # each output through a temporary file and a rename (a full disk leaves the old ones whole)
        write_json_atomic(args.metrics, metrics)
        plot_curve(read_log(args.train_log),
                   f"parts {manifest['parts']}: val loss {val_loss:.3f} ± {val_stderr:.3f} on the evaluation set", args.plot)
        write_text_atomic(args.samples, "".join(f"=== {prompt!r} (seed {p.seed + i})\n{text}\n\n"
                                                for i, (prompt, text) in enumerate(zip(p.prompts, samples))))
    except OSError as exc:
        raise StageError(f"evaluate: cannot write {exc.filename or args.metrics.parent}: {exc.strerror or exc}; "
                         "free space there and run the stage again") from exc
    record("evaluate", time.perf_counter() - started, tokens_scored=x.numel())
    print(f"evaluate: val loss {val_loss:.3f} ± {val_stderr:.3f} (perplexity {math.exp(val_loss):,.0f}, "
          f"{metrics['val_bpb']:.3f} bits per byte) on {x.numel():,} tokens (eval set {sha1[:8]}), "
          f"parts {manifest['parts']} -> {args.metrics}")


if __name__ == "__main__":
    run_stage(main)
