"""The train stage, run as a user runs it: real scripts, real uint16 token files, tiny params.

Token files come from the sample dump's wikitext (tokenized with the repo's GPT-2 encoder), written as
the dataset stage writes them, under a temporary repo root that holds its own params.yaml.
"""

from __future__ import annotations

import bz2
import csv
import functools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DUMP = REPO / "data" / "mirror" / "enwiki" / "20251101"
EOT = 50256

# Fast settings: a 2-layer model that sees a few thousand tokens.
FAST_TRAIN = {
    "preset": "tiny", "model": {"n_layer": 2, "n_embd": 64, "n_head": 2, "block_size": 32},
    "token_budget": 8 * 32 * 12, "batch_size": 4, "grad_accum": 2, "warmup_iters": 2,
    "eval_interval": 4, "eval_iters": 2, "checkpoint_interval": 4, "device": "cpu", "compile": False,
}


@functools.lru_cache(maxsize=None)
def part_documents(part: int, max_tokens: int = 40_000) -> tuple[tuple[int, ...], ...]:
    """Token ids of the wikitext of part N's pages in the sample dump (a cheap stand-in for the
    extract stage: markup stays in, which is fine for testing the trainer)."""
    from tokens import gpt2_encoding

    enc = gpt2_encoding()
    (path,) = SAMPLE_DUMP.glob(f"*-pages-articles{part}.xml-*.bz2")
    xml = bz2.open(path, "rt", encoding="utf-8").read()
    docs, total = [], 0
    for text in re.findall(r"<text[^>]*>(.*?)</text>", xml, flags=re.S):
        if len(text) < 500 or text.lstrip().upper().startswith("#REDIRECT"):
            continue
        ids = enc.encode_ordinary(text[:20_000])
        docs.append(tuple(ids))
        total += len(ids)
        if total >= max_tokens:
            break
    return tuple(docs)


def write_part(root: Path, part: int) -> dict:
    """data/tokens/<part>/{train,val}.bin + meta.json; every 5th document is held out."""
    part_dir = root / "data" / "tokens" / str(part)
    part_dir.mkdir(parents=True, exist_ok=True)
    meta = {"encoding": "gpt2", "dtype": "uint16", "eot": EOT}
    docs = part_documents(part)
    for split, chosen in (("train", [d for i, d in enumerate(docs) if i % 5 != 4]),
                          ("val", [d for i, d in enumerate(docs) if i % 5 == 4])):
        ids = np.array([t for d in chosen for t in (*d, EOT)], dtype=np.uint16)
        ids.tofile(part_dir / f"{split}.bin")
        meta[split] = {"tokens": len(ids), "documents": len(chosen)}
    (part_dir / "meta.json").write_text(json.dumps(meta))
    return meta


def make_dataset(root: Path, parts: list[int], eval_parts: list[int] = (1,)) -> Path:
    """A dataset version under root, shaped like the dataset stage's data/dataset.json."""
    metas = {part: write_part(root, part) for part in parts}
    entry = lambda part, split: {"part": part, "path": f"data/tokens/{part}/{split}.bin", **metas[part][split]}
    manifest = {"parts": list(parts), "encoding": "gpt2", "dtype": "uint16", "eot": EOT,
                "train": [entry(p, "train") for p in parts], "val": [entry(p, "val") for p in parts],
                "eval": [entry(p, "val") for p in eval_parts]}
    total = lambda split: sum(e["tokens"] for e in manifest[split])
    docs = lambda split: sum(e["documents"] for e in manifest[split])
    manifest["totals"] = {"tokens": total("train") + total("val"), "documents": docs("train") + docs("val"),
                          "train_tokens": total("train"), "train_documents": docs("train"),
                          "val_tokens": total("val"), "val_documents": docs("val"),
                          "eval_tokens": total("eval"), "eval_documents": docs("eval")}
    path = root / "data" / "dataset.json"
    path.write_text(json.dumps(manifest, indent=2))
    return path


def write_params(root: Path, train: dict | None = None, evaluate: dict | None = None) -> dict:
    """The repo's params.yaml with the given train/evaluate keys replaced, written to root."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["train"].update(FAST_TRAIN if train is None else train)
    params["evaluate"].update(evaluate or {})
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    (root / "checkpoints").mkdir(exist_ok=True)
    (root / "checkpoints" / "scratch").write_text("placeholder\n")
    return params


def train_cmd(init: str = "checkpoints/scratch") -> list[str]:
    return [str(REPO / "src" / "train.py"), "--dataset", "data/dataset.json", "--init", init,
            "--out", "models/model.pt", "--train-log", "reports/train_log.csv", "--resume-dir", ".resume/train"]


def run(cmd: list[str], root: Path, launcher: list[str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run((launcher or [sys.executable]) + cmd, cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)


def read_log(root: Path) -> list[dict]:
    with open(root / "reports" / "train_log.csv") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def repo(tmp_path):
    make_dataset(tmp_path, [1])
    write_params(tmp_path)
    return tmp_path


def test_training_writes_a_plain_checkpoint_and_a_log_that_learns(repo):
    (repo / ".resume" / "train").mkdir(parents=True)  # a stale state from other params: ignored
    torch.save({"fingerprint": "other", "step": 8}, repo / ".resume" / "train" / "state.pt")
    result = run(train_cmd(), repo)
    assert result.returncode == 0, result.stderr
    assert "from another configuration; starting from step 0" in result.stdout
    assert "train: 12 steps, 3,072 tokens" in result.stdout
    ckpt = torch.load(repo / "models" / "model.pt", weights_only=True)
    assert not any(k.startswith(("_orig_mod.", "module.")) for k in ckpt["model"])
    assert ckpt["model_args"]["n_layer"] == 2 and ckpt["summary"]["tokens_trained"] == 3072
    assert ckpt["summary"]["resumed_from_step"] == 0
    rows = read_log(repo)
    assert [int(r["step"]) for r in rows] == [0, 4, 8, 12]
    assert float(rows[0]["val_loss"]) > 10.0  # ln(50304) = 10.8 at random init
    assert float(rows[-1]["val_loss"]) < float(rows[0]["val_loss"]) - 1.0
    assert not (repo / ".resume" / "train" / "state.pt").exists()  # removed once the run succeeded


def test_ddp_two_gloo_processes_split_the_budget(repo):
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    result = run(train_cmd(), repo, launcher=torchrun)
    assert result.returncode == 0, result.stderr[-3000:]
    ckpt = torch.load(repo / "models" / "model.pt", weights_only=True)
    s = ckpt["summary"]
    # same token budget, twice the tokens per step: half the steps
    assert (s["world_size"], s["steps"], s["tokens_per_step"], s["tokens_trained"]) == (2, 6, 512, 3072)
    assert not any(k.startswith(("_orig_mod.", "module.")) for k in ckpt["model"])
    assert [int(r["step"]) for r in read_log(repo)] == [0, 4, 6]


def test_kill_9_then_rerun_resumes_from_the_saved_step_with_the_same_batches(tmp_path):
    slow = {**FAST_TRAIN, "token_budget": 8 * 32 * 20, "checkpoint_interval": 3, "eval_interval": 5}
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    for root in (killed, clean):
        make_dataset(root, [1])
        write_params(root, slow)
    state = killed / ".resume" / "train" / "state.pt"
    proc = subprocess.Popen([sys.executable] + train_cmd(), cwd=killed, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if state.exists() and torch.load(state, weights_only=True)["step"] >= 6:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be killed; raise token_budget"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    saved = torch.load(state, weights_only=True)["step"]
    assert 6 <= saved < 20 and not (killed / "models" / "model.pt").exists()

    result = run(train_cmd(), killed)
    assert result.returncode == 0, result.stderr
    assert f"resuming from step {saved:,} of 20" in result.stdout
    resumed = torch.load(killed / "models" / "model.pt", weights_only=True)
    assert resumed["summary"]["resumed_from_step"] == saved
    assert [int(r["step"]) for r in read_log(killed)] == [0, 5, 10, 15, 20]

    # an uninterrupted run ends with the same weights: same batches, optimizer state, schedule
    assert run(train_cmd(), clean).returncode == 0
    reference = torch.load(clean / "models" / "model.pt", weights_only=True)
    for name, tensor in reference["model"].items():
        torch.testing.assert_close(resumed["model"][name], tensor, rtol=1e-5, atol=1e-6)


def dvc(root: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, capture_output=True, text=True,
                            timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def lock_deps(root: Path) -> dict:
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    return {d["path"]: d.get("md5") for d in lock["stages"]["train"]["deps"]}


def test_warm_start_under_dvc_records_the_start_checkpoint_and_keeps_the_run_cache(tmp_path):
    import hashlib
    import shutil

    root = tmp_path
    shutil.copytree(REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    (root / ".gitignore").write_text("/data/\n/models/\n/reports/\n/.resume/\n")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    dvc(root, "init", "-q")
    make_dataset(root, [1])
    write_params(root)

    dvc(root, "repro", "--single-item", "train")
    assert "checkpoints/scratch" in lock_deps(root)
    cold = read_log(root)

    # version 2: continue from version 1's model at a lower learning rate
    shutil.copy(root / "models" / "model.pt", root / "checkpoints" / "v1.pt")
    write_params(root, {**FAST_TRAIN, "init_from": "checkpoints/v1.pt", "learning_rate": 1e-3})
    out = dvc(root, "repro", "--single-item", "train").stdout
    assert "Running stage 'train'" in out
    deps = lock_deps(root)
    assert "checkpoints/scratch" not in deps
    assert deps["checkpoints/v1.pt"] == hashlib.md5((root / "checkpoints" / "v1.pt").read_bytes()).hexdigest()
    warm = read_log(root)
    assert float(warm[0]["val_loss"]) == pytest.approx(float(cold[-1]["val_loss"]), abs=1e-3)
    ckpt = torch.load(root / "models" / "model.pt", weights_only=True)
    assert ckpt["init_from"] == "checkpoints/v1.pt" and ckpt["config"]["learning_rate"] == 1e-3

    # back to scratch: the run-cache restores version 1's outputs without training
    write_params(root)
    out = dvc(root, "repro", "--single-item", "train").stdout
    assert "Running stage 'train'" not in out and "skipping run" in out
    assert read_log(root) == cold


def test_bad_params_name_the_key(repo):
    write_params(repo, {**FAST_TRAIN, "batch_size": 0})
    result = run(train_cmd(), repo)
    assert result.returncode != 0 and "train.batch_size" in result.stderr
    write_params(repo, {**FAST_TRAIN, "model": {"n_layers": 3}})
    result = run(train_cmd(), repo)
    assert result.returncode != 0 and "train.model" in result.stderr and "n_layers" in result.stderr


def test_a_truncated_token_file_says_to_run_dvc_repro(repo):
    path = repo / "data" / "tokens" / "1" / "train.bin"
    path.write_bytes(path.read_bytes()[:-2])
    result = run(train_cmd(), repo)
    assert result.returncode != 0 and "dvc repro" in result.stderr and "train.bin" in result.stderr


# ---------------------------------------------------------------- pure functions, imported

def test_lr_warms_up_then_decays_to_min_lr():
    from train import lr_at

    lrs = [lr_at(s, 100, 10, 1e-3, 1e-4) for s in range(101)]
    assert lrs[0] < lrs[5] < lrs[9] < 1e-3
    assert lrs[10] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[100] == pytest.approx(1e-4)


def test_token_budget_sets_the_steps():
    from train import max_iters, tokens_per_step

    p = {"batch_size": 8, "grad_accum": 2, "token_budget": 131072}
    assert tokens_per_step(p, 128, 1) == 2048 and max_iters(p, 128, 1) == 64
    assert max_iters(p, 128, 2) == 32 and max_iters({**p, "token_budget": 131073}, 128, 1) == 65


def test_windows_are_uniform_over_all_tokens_and_stay_inside_one_file(tmp_path):
    from batches import TrainWindows

    # file a: 100 tokens of 1s, file b: 400 tokens of 2s; block 10 -> 90 and 390 window starts
    (tmp_path / "a.bin").write_bytes(np.full(100, 1, dtype=np.uint16).tobytes())
    (tmp_path / "b.bin").write_bytes(np.full(400, 2, dtype=np.uint16).tobytes())
    windows = TrainWindows([(str(tmp_path / "a.bin"), 100), (str(tmp_path / "b.bin"), 400)], 10)
    x, y = windows.batch(np.random.default_rng(0), 4800)
    assert x.shape == y.shape == (4800, 10)
    assert all(len(set(row)) == 1 for row in np.concatenate([x, y], axis=1)[:200])  # never crosses files
    share_a = (x[:, 0] == 1).mean()
    assert share_a == pytest.approx(90 / 480, abs=0.02)


def test_peak_table_matches_device_names():
    import train

    names = {"NVIDIA H100 80GB HBM3": 989.0, "NVIDIA H100 PCIe": 756.0, "NVIDIA A100-SXM4-80GB": 312.0,
             "NVIDIA L4": 121.0, "NVIDIA GeForce RTX 4090": 165.2, "NVIDIA GeForce RTX 4070": 58.3}
    for name, tflops in names.items():
        match = next(t for key, t in train.PEAK_BF16_TFLOPS if key in name)
        assert match == tflops, name
    assert train.peak_flops("cpu") is None
