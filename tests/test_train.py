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

from conftest import REPO, SAMPLE_DUMP, TEST_PARAMS  # noqa: E402

from check import PASSED  # noqa: E402
from params import validate  # noqa: E402
EOT = 50256

# Fast settings: a 2-layer model that sees a few thousand tokens.
FAST_TRAIN = {
    "preset": "tiny", "model": {"n_layer": 2, "n_embd": 64, "n_head": 2, "block_size": 32},
    "token_budget": 8 * 32 * 12, "batch_size": 4, "grad_accum": 2, "warmup_iters": 2,
    "eval_interval": 4, "checkpoint_interval": 4, "device": "cpu", "compile": False,
}


def section(**values):
    """The tests' train section as the stages get it (typed), with `values` replaced unchecked."""
    return validate(yaml.safe_load(TEST_PARAMS.read_text())).train.model_copy(update=values)


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
    manifest = {"parts": list(parts), "split": {"val_fraction": 0.2, "rule": "every 5th document"},
                "encoding": "gpt2", "dtype": "uint16", "eot": EOT,
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


def write_params(root: Path, train: dict | None = None, evaluate: dict | None = None,
                 data: dict | None = None) -> dict:
    """The tests' params.yaml with the given train/evaluate/data keys replaced, written to root; a
    small evaluation set (512 tokens: 16 windows) unless `data` says otherwise."""
    params = yaml.safe_load(TEST_PARAMS.read_text())
    params["data"].update({"eval_tokens": 512, **(data or {})})
    params["train"].update(FAST_TRAIN if train is None else train)
    params["evaluate"].update(evaluate or {})
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    (root / "checkpoints").mkdir(exist_ok=True)
    (root / "checkpoints" / "scratch").write_text("placeholder\n")
    return params


def train_cmd(init: str = "checkpoints/scratch") -> list[str]:
    return [str(REPO / "src" / "train.py"), "--dataset", "data/dataset.json", "--init", init,
            "--out", "models/model.pt", "--train-log", "reports/train_log.csv", "--live-dir", "reports/train",
            "--resume-dir", ".resume/train"]


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


@pytest.mark.parametrize("recipe", ["gpt2", "modern"])
def test_kill_9_then_rerun_resumes_from_the_saved_step_with_the_same_batches(tmp_path, recipe):
    """Every optimizer's state (modern: Muon's momentum and AdamW's moments) is saved and restored."""
    slow = {**FAST_TRAIN, "recipe": recipe, "token_budget": 8 * 32 * 20, "checkpoint_interval": 3,
            "eval_interval": 5}
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
    # train loss every log_interval (4) steps, val loss every eval_interval (5) and at the end
    rows = read_log(killed)
    assert [int(r["step"]) for r in rows] == [0, 4, 5, 8, 10, 12, 15, 16, 20]
    assert [int(r["step"]) for r in rows if r["val_loss"]] == [0, 5, 10, 15, 20]
    assert all(r["train_loss"] for r in rows[1:]) and not rows[0]["train_loss"]

    # an uninterrupted run ends with the same weights: same batches, optimizer state, schedule
    assert run(train_cmd(), clean).returncode == 0
    reference = torch.load(clean / "models" / "model.pt", weights_only=True)
    for name, tensor in reference["model"].items():
        torch.testing.assert_close(resumed["model"][name], tensor, rtol=1e-5, atol=1e-6)


def test_the_modern_recipe_trains_records_its_recipe_and_evaluates(repo):
    write_params(repo, {**FAST_TRAIN, "recipe": "modern"}, {"batch_size": 4, "sample_tokens": 8})
    result = run(train_cmd(), repo)
    assert result.returncode == 0, result.stderr
    ckpt = torch.load(repo / "models" / "model.pt", weights_only=True)
    assert ckpt["recipe"] == "modern"
    assert ckpt["model_args"]["rope"] and not ckpt["model_args"]["tie_embeddings"]  # the recipe's switches
    assert ckpt["model_args"]["n_layer"] == 2  # train.model's override over the preset
    assert "lm_head.weight" in ckpt["model"] and "transformer.wpe.weight" not in ckpt["model"]
    losses = [float(r["val_loss"]) for r in read_log(repo)]
    assert losses[-1] < losses[0] - 1.0, losses
    result = run([str(REPO / "src" / "evaluate.py"), "--dataset", "data/dataset.json", "--model", "models/model.pt",
                  "--train-log", "reports/train_log.csv", "--metrics", "reports/metrics.json",
                  "--plot", "reports/training_curve.png", "--samples", "reports/samples.txt"], repo)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((repo / "reports" / "metrics.json").read_text())
    assert abs(metrics["val_loss"] - losses[-1]) < 0.5, metrics  # more windows than the log row scores
    assert "Alabama is" in (repo / "reports" / "samples.txt").read_text()


def test_a_warm_start_from_another_recipe_is_refused_naming_both(repo):
    assert run(train_cmd(), repo).returncode == 0  # the tests' default recipe: gpt2
    (repo / "models" / "model.pt").rename(repo / "checkpoints" / "v1.pt")
    write_params(repo, {**FAST_TRAIN, "recipe": "modern", "init_from": "checkpoints/v1.pt"})
    result = run(train_cmd("checkpoints/v1.pt"), repo)
    assert result.returncode != 0
    assert "trained with recipe `gpt2` but params.yaml train.recipe is `modern`" in result.stderr, result.stderr
    # a checkpoint from before the field existed is gpt2's
    ckpt = torch.load(repo / "checkpoints" / "v1.pt", weights_only=True)
    del ckpt["recipe"]
    torch.save(ckpt, repo / "checkpoints" / "v1.pt")
    result = run(train_cmd("checkpoints/v1.pt"), repo)
    assert "recipe `gpt2`" in result.stderr and "`modern`" in result.stderr


def dvc_env() -> dict:
    # the stage's `python` is this interpreter, as `make` arranges with the venv first on PATH
    return {**os.environ, "OMP_NUM_THREADS": "1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def dvc(root: Path, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, capture_output=True, text=True,
                            timeout=300, env=env or dvc_env())
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def lock_deps(root: Path) -> dict:
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    return {d["path"]: d.get("md5") for d in lock["stages"]["train"]["deps"]}


def dvc_project(root: Path, train: dict | None = None) -> Path:
    """A git + DVC repo holding the repo's src/ and dvc.yaml, a dataset and the given train params."""
    import shutil

    shutil.copytree(REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    (root / ".gitignore").write_text("/data/\n/models/\n/reports/\n/.resume/\n")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    dvc(root, "init", "-q")
    make_dataset(root, [1])
    (root / "data" / "checked").write_text("params.yaml and the mirror were checked\n")  # the check stage's output
    write_params(root, train)
    # the check stage's output, as `dvc repro` leaves it (this project has no mirror to check against)
    (root / "data" / "checked").write_text(PASSED)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "project"], cwd=root, check=True)  # as in a clone
    return root


def weights(root: Path) -> dict:
    return torch.load(root / "models" / "model.pt", weights_only=True)


@pytest.mark.e2e
def test_warm_start_under_dvc_records_the_start_checkpoint_and_keeps_the_run_cache(tmp_path):
    import hashlib
    import shutil

    root = dvc_project(tmp_path)

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


def test_bad_params_name_the_key_one_line_each(repo):
    write_params(repo, {**FAST_TRAIN, "batch_size": "max", "model": {"n_layers": 3}})
    result = run(train_cmd(), repo)
    assert result.returncode != 0 and result.stderr.splitlines() == [  # in params.yaml's order
        "error: params.yaml: `train.model.n_layers` is not a key; did you mean `n_layer`?",
        "error: params.yaml: `train.batch_size` must be an integer >= 1 or 'auto', got 'max'"]
    write_params(repo, {**FAST_TRAIN, "nproc_per_node": 2, "grad_accum": 3})  # 3 micro-batches on 2 processes
    result = run(train_cmd(), repo)
    assert result.returncode != 0 and "`train.grad_accum` (3) must be divisible by" in result.stderr
    assert not (repo / "models").exists()


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


def test_token_budget_sets_the_steps_whatever_the_process_count():
    from train import max_iters, tokens_per_step

    p = section(batch_size=8, grad_accum=2, token_budget=131072, sequences_per_step=99)
    assert tokens_per_step(p, 128) == 2048 and max_iters(p, 128) == 64
    assert max_iters(p.model_copy(update={"token_budget": 131073}), 128) == 65
    auto = p.model_copy(update={"batch_size": "auto", "sequences_per_step": 32})
    assert tokens_per_step(auto, 128) == 4096 and max_iters(auto, 128) == 32


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


def test_card_peaks_come_from_the_data_file():
    from device import card_peak, peak_flops

    names = {"NVIDIA H100 80GB HBM3": 989.0, "NVIDIA H100 PCIe": 756.0, "NVIDIA A100-SXM4-80GB": 312.0,
             "NVIDIA L4": 121.0, "NVIDIA GeForce RTX 4090": 165.2, "NVIDIA GeForce RTX 4070": 58.3,
             "NVIDIA GH200 480GB": 989.0, "NVIDIA H200": 989.0}
    for name, tflops in names.items():
        assert card_peak(name) == tflops * 1e12, name
    assert card_peak("NVIDIA GeForce GTX 1080") is None and peak_flops("cpu") is None
    cards = json.loads((REPO / "src" / "gpus.json").read_text())["cards"]
    assert all(card["source"] for card in cards)  # every figure says where it comes from


def test_atomic_path_leaves_the_old_file_when_the_write_fails(tmp_path):
    from atomic import atomic_path, write_text_atomic

    target = tmp_path / "sub" / "out.txt"
    write_text_atomic(target, "old")
    with pytest.raises(OSError):
        with atomic_path(target) as tmp:
            tmp.write_text("half of the new")
            raise OSError(28, "No space left on device")
    assert target.read_text() == "old" and list(target.parent.iterdir()) == [target]


# ------------------------------------------------------------ several processes, through `dvc repro`

def pid_with_env(root: Path, entry: str) -> int | None:
    """The process working in `root` whose environment holds `entry` (e.g. RANK=1)."""
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and os.readlink(proc / "cwd") == str(root) and \
                    entry.encode() in (proc / "environ").read_bytes().split(b"\0"):
                return int(proc.name)
        except OSError:
            continue
    return None


@pytest.mark.e2e
def test_ddp_from_dvc_repro_matches_one_process_and_resumes_after_one_rank_is_killed(tmp_path):
    slow = {**FAST_TRAIN, "token_budget": 8 * 32 * 40, "checkpoint_interval": 3, "eval_interval": 5}
    root = dvc_project(tmp_path, slow)
    dvc(root, "repro", "--single-item", "train")
    reference = weights(root)
    assert reference["summary"]["world_size"] == 1 and reference["summary"]["steps"] == 40

    # two gloo processes, same params otherwise: the stage's own command starts torchrun
    write_params(root, {**slow, "nproc_per_node": 2})
    proc = subprocess.Popen([sys.executable, "-m", "dvc", "repro", "--single-item", "train"], cwd=root,
                            env=dvc_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state, live_val = root / ".resume" / "train" / "state.pt", root / "reports" / "train" / "plots" / "metrics" / "val_loss.tsv"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if state.exists() and torch.load(state, weights_only=True)["step"] >= 9:
            break
        time.sleep(0.05)
    rank1 = pid_with_env(root, "RANK=1")
    assert proc.poll() is None and rank1, "training finished before a rank could be killed; raise token_budget"
    # DVCLive's files follow the run while it trains
    assert [line.split("\t")[0] for line in live_val.read_text().splitlines()][:3] == ["step", "0", "5"]
    os.kill(rank1, signal.SIGKILL)
    assert proc.wait(timeout=120) != 0  # torchrun stops the other rank; the stage fails
    stderr = proc.stderr.read()
    assert re.search(r"error: train: processes failed \(.*rank 1: exit code -9;", stderr), stderr[-3000:]
    saved = torch.load(state, weights_only=True)["step"]
    assert 9 <= saved < 40 and not (root / "models" / "model.pt").exists()

    out = dvc(root, "repro", "--single-item", "train").stdout
    assert f"resuming from step {saved:,} of 40" in out
    ddp = weights(root)
    s = ddp["summary"]
    assert (s["world_size"], s["steps"], s["tokens_trained"], s["resumed_from_step"]) == (2, 40, 10240, saved)
    first, second = s["weights_sha1_per_process"]
    assert first == second  # both ranks ended with the same weights, bit for bit
    # and they are the weights of one process training on the same global batches
    for name, tensor in reference["model"].items():
        torch.testing.assert_close(ddp["model"][name], tensor, rtol=1e-5, atol=1e-6)
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]["train"]
    assert lock["params"]["params.yaml"]["train"]["nproc_per_node"] == 2
    assert [line.split("\t")[0] for line in live_val.read_text().splitlines()] == \
        ["step", "0", "5", "10", "15", "20", "25", "30", "35", "40"]  # replayed once on resume, not twice

    # back to one process: the run-cache hands back the one-process run, not the two-process one
    write_params(root, slow)
    out = dvc(root, "repro", "--single-item", "train").stdout
    assert "skipping run" in out
    assert weights(root)["summary"]["world_size"] == 1


NAN_ON_RANK_1 = '''
import os
if os.environ.get("RANK") == "1":  # a training process of rank 1 only
    import torch
    import torch.nn.functional as F

    real, calls = F.cross_entropy, []

    def cross_entropy(*args, **kwargs):
        """From the 8th training call on (scoring the evaluation set runs without gradients and is
        not counted), the loss value is NaN (its gradient stays finite)."""
        if torch.is_grad_enabled():
            calls.append(1)
        loss = real(*args, **kwargs)
        return loss + float("nan") if len(calls) >= 8 and torch.is_grad_enabled() else loss

    F.cross_entropy = cross_entropy
'''


@pytest.mark.e2e
def test_a_nan_on_one_rank_stops_every_rank_and_keeps_the_last_good_state(tmp_path):
    root = dvc_project(tmp_path / "project", {**FAST_TRAIN, "nproc_per_node": 2})
    (tmp_path / "inject").mkdir()
    (tmp_path / "inject" / "sitecustomize.py").write_text(NAN_ON_RANK_1)
    result = dvc(root, "repro", "--single-item", "train", check=False,
                 env={**dvc_env(), "PYTHONPATH": str(tmp_path / "inject")})
    assert result.returncode != 0
    # rank 1's loss turned NaN at its 8th loss (step 5); rank 0's stayed finite, yet both stopped at the
    # next log row, with rank 0 saying why
    assert re.search(r"error: train: training diverged: train loss nan .*by step 8; nothing was saved, the last "
                     r"good state, \.resume/train/state\.pt \(step 4\), and models/model\.pt are kept",
                     result.stderr), result.stderr[-3000:]
    assert result.stderr.count("training diverged") == 1 and "error: train: processes failed (" in result.stderr
    state = torch.load(root / ".resume" / "train" / "state.pt", weights_only=True)
    assert state["step"] == 4 and all(torch.isfinite(t).all() for t in state["model"].values())
    assert not (root / "models" / "model.pt").exists()


# ---------------------------------------------------------------- launching, batching, logging

def test_the_stage_starts_torchrun_only_for_several_processes():
    from train import torchrun_args

    argv = ["src/train.py", "--out", "models/model.pt"]
    assert torchrun_args(section(nproc_per_node=1, nnodes=1), argv, {}) is None
    four = section(nproc_per_node=4, nnodes=1)
    assert torchrun_args(four, argv, {}) == ["--standalone", "--nproc_per_node=4", *argv]
    assert torchrun_args(four, argv, {"RANK": "0"}) is None  # already under torchrun
    with pytest.raises(ValueError, match="PET_MASTER_ADDR and PET_NODE_RANK"):
        torchrun_args(section(nproc_per_node=8, nnodes=2), argv, {})
    env = {"PET_MASTER_ADDR": "node0", "PET_NODE_RANK": "1"}
    assert torchrun_args(section(nproc_per_node=8, nnodes=2), argv, env) == ["--nnodes=2", "--nproc_per_node=8", *argv]


def test_auto_batch_backs_off_on_out_of_memory_and_keeps_the_tokens_per_step():
    from train import batch_plan, tokens_per_step

    tried = []

    def fits_up_to_5(n: int) -> None:  # a card on which 5 sequences fit, 6 do not
        tried.append(n)
        if n > 5:
            raise torch.OutOfMemoryError(f"CUDA out of memory: tried {n} sequences")

    p = section(batch_size="auto", grad_accum=1, sequences_per_step=48)
    # 2 processes: 24 sequences each per step, in micro-batches that divide 24 exactly
    assert batch_plan(p, 2, fits_up_to_5) == (4, 6)
    assert tried == [24, 12, 8, 6, 4]
    assert tokens_per_step(p, 1024) == 48 * 1024
    with pytest.raises(torch.OutOfMemoryError, match="not even one sequence"):
        batch_plan(p, 1, lambda n: fits_up_to_5(n * 100))
    # a fixed batch_size is taken as it is; without a probe (CPU) auto batches up to 8 sequences
    assert batch_plan(p.model_copy(update={"batch_size": 4, "grad_accum": 6}), 2, fits_up_to_5) == (4, 3)
    assert batch_plan(p, 2, None) == (8, 3)


def test_the_memory_probe_runs_a_real_training_step(monkeypatch):
    """probe_step on CPU with CUDA calls stubbed: forward, backward and an optimizer step that changes
    the weights, so a fit means a whole step fits."""
    import train
    from model import GPTConfig

    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    steps = []
    real_adamw = torch.optim.AdamW

    class CountingAdamW(real_adamw):
        def __init__(self, params, **kwargs):
            super().__init__(params, **{**kwargs, "fused": False})

        def step(self, closure=None):
            steps.append(sum(p.grad.abs().sum().item() for g in self.param_groups for p in g["params"]))
            return super().step(closure)

    monkeypatch.setattr(torch.optim, "AdamW", CountingAdamW)
    config = GPTConfig(block_size=16, vocab_size=50304, n_layer=1, n_head=2, n_embd=32, dropout=0.0, bias=False)
    train.probe_step(config, section(), 3, "cpu", train.autocast("cpu", torch.float32))
    assert len(steps) == 1 and steps[0] > 0  # gradients were computed before the optimizer step


def test_progress_is_a_plain_line_with_no_eta_before_steps_are_measured():
    from train import progress_line

    first = progress_line(1, 2000, 0, 0.0, 2048, 10.8)
    assert first == "train: step 1/2,000 (0%), loss 10.800" and "\r" not in first
    later = progress_line(201, 2000, 200, 100.0, 2048, 6.5)
    assert later == "train: step 201/2,000 (10%), loss 6.500, 4,096 tokens/s, ETA 15.0 min"


@pytest.mark.e2e
def test_dvc_exp_run_shows_dvclive_metrics_and_plots(tmp_path):
    root = dvc_project(tmp_path)
    # experiments restore every stage's outputs: keep the repo's train stage and plots, and make the
    # dataset the stages before it would build a tracked input instead
    pipeline = yaml.safe_load((root / "dvc.yaml").read_text())
    pipeline["stages"] = {"train": pipeline["stages"]["train"]}
    (root / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    (root / ".gitignore").write_text("/models/\n/reports/\n/.resume/\n")
    dvc(root, "add", "data/dataset.json", "data/tokens")
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "train only"],
                   cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "data"],
                   cwd=root, check=True)
    dvc(root, "exp", "run", "--single-item", "train", "-S", "train.learning_rate=0.001", "-S", "train.log_interval=2",
        "--name", "lr-1e-3")
    shown = json.loads(dvc(root, "exp", "show", "--json").stdout)
    exps = [e for baseline in shown for e in (baseline.get("experiments") or [])]
    (exp,) = [e for e in exps if e.get("name") == "lr-1e-3"]
    data = exp["revs"][0]["data"]
    live = data["metrics"]["reports/train/metrics.json"]["data"]
    assert live["step"] == 12 and live["val_loss"] < 10.8 and set(live) == {"step", "tokens", "lr", "train_loss", "val_loss", "val_loss_stderr"}
    assert data["params"]["params.yaml"]["data"]["train"]["learning_rate"] == 0.001
    assert data["params"]["reports/train/params.yaml"]["data"]["world_size"] == 1  # what the run derived
    # the curves, from DVCLive's files, as `dvc plots show` draws them
    (loss,) = json.loads(dvc(root, "plots", "show", "--json").stdout)["data"]["loss"]
    points = loss["content"]["data"]["values"]
    assert [p["step"] for p in points if "val_loss" in p] == ["0", "4", "8", "12"]
    # the train loss every log_interval steps (none before a step), at its own resolution
    assert [p["step"] for p in points if "train_loss" in p] == ["2", "4", "6", "8", "10", "12"]


def test_a_warm_start_counts_the_chain_and_refuses_another_split(repo):
    assert run(train_cmd(), repo).returncode == 0
    (repo / "checkpoints" / "v1.pt").write_bytes((repo / "models" / "model.pt").read_bytes())
    v1 = torch.load(repo / "checkpoints" / "v1.pt", weights_only=True)
    assert v1["split"] == {"val_fraction": 0.2, "rule": "every 5th document"} and v1["parts"] == [1]
    write_params(repo, {**FAST_TRAIN, "init_from": "checkpoints/v1.pt"})
    assert run(train_cmd("checkpoints/v1.pt"), repo).returncode == 0
    s = weights(repo)["summary"]
    assert (s["tokens_trained"], s["tokens_trained_total"]) == (3072, 2 * 3072)

    # the same checkpoint under another split would train on documents that are now held out
    manifest = json.loads((repo / "data" / "dataset.json").read_text())
    manifest["split"]["val_fraction"] = 0.3
    (repo / "data" / "dataset.json").write_text(json.dumps(manifest))
    before = (repo / "models" / "model.pt").read_bytes()
    result = run(train_cmd("checkpoints/v1.pt"), repo)
    assert result.returncode != 0
    assert "tokenize.val_fraction 0.2" in result.stderr and "tokenize.val_fraction 0.3" in result.stderr
    assert (repo / "models" / "model.pt").read_bytes() == before


NANOGPT = REPO.parent / "shared" / "baselines"


def nanogpt_dir(tmp: Path) -> Path:
    """nanoGPT's own model.py and sample.py (imported at run time, never part of the project), with a
    configurator.py taking --key=value as nanoGPT's does, and tiktoken's cache filled from src/gpt2."""
    import hashlib
    import shutil

    if not (NANOGPT / "nanogpt_model.py").exists():
        pytest.skip(f"nanoGPT's files are not in {NANOGPT}")
    where = tmp / "nanogpt"
    where.mkdir()
    shutil.copy(NANOGPT / "nanogpt_model.py", where / "model.py")
    shutil.copy(NANOGPT / "nanogpt_sample.py", where / "sample.py")
    (where / "configurator.py").write_text(
        "import sys\nfrom ast import literal_eval\nfor arg in sys.argv[1:]:\n"
        "    key, value = arg[2:].split('=', 1)\n"
        "    try:\n        globals()[key] = literal_eval(value)\n"
        "    except (ValueError, SyntaxError):\n        globals()[key] = value\n")
    cache = where / "tiktoken"
    cache.mkdir()
    base = "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/"
    for name in ("vocab.bpe", "encoder.json"):
        shutil.copy(REPO / "src" / "gpt2" / name, cache / hashlib.sha1((base + name).encode()).hexdigest())
    return where


def test_a_nanogpt_checkpoint_is_a_warm_start_and_our_model_samples_in_nanogpt(repo, tmp_path, monkeypatch):
    import importlib.util

    where = nanogpt_dir(tmp_path)
    spec = importlib.util.spec_from_file_location("nanogpt_model", where / "model.py")  # not src/model.py
    nanogpt_model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(nanogpt_model)

    # a nanoGPT ckpt.pt as its train.py writes it: compiled keys, optimizer state, iter_num, config
    args = {**yaml.safe_load(TEST_PARAMS.read_text())["train"]["presets"]["tiny"], **FAST_TRAIN["model"]}
    torch.manual_seed(0)
    theirs = nanogpt_model.GPT(nanogpt_model.GPTConfig(**args))
    optimizer = theirs.configure_optimizers(0.1, 1e-3, (0.9, 0.99), "cpu")
    x = torch.randint(0, 50257, (2, 32))
    theirs(x, x)[1].backward()
    optimizer.step()
    ckpt = {"model": {f"_orig_mod.{k}": v for k, v in theirs.state_dict().items()},
            "optimizer": optimizer.state_dict(), "model_args": dict(reversed(list(args.items()))),
            "iter_num": 5, "best_val_loss": torch.tensor(9.5),
            "config": {"batch_size": 4, "block_size": 32, "gradient_accumulation_steps": 2, "dataset": "wiki"}}
    (repo / "checkpoints" / "ckpt.pt").parent.mkdir(exist_ok=True)
    torch.save(ckpt, repo / "checkpoints" / "ckpt.pt")
    write_params(repo, {**FAST_TRAIN, "init_from": "checkpoints/ckpt.pt"})
    result = run(train_cmd("checkpoints/ckpt.pt"), repo)
    assert result.returncode == 0, result.stderr
    assert "records no train/val split" in result.stderr
    # the first row scores nanoGPT's weights: the loss nanoGPT's own model gives on the same windows
    from batches import eval_tokens, eval_windows, load_manifest

    monkeypatch.chdir(repo)
    ex, ey = (torch.from_numpy(a) for a in eval_windows(eval_tokens(load_manifest("data/dataset.json"), 32, 512), 32))
    theirs.eval()
    with torch.no_grad():
        expected = theirs(ex, ey)[1].item()
    assert float(read_log(repo)[0]["val_loss"]) == pytest.approx(expected, abs=1e-4)
    assert weights(repo)["summary"]["tokens_trained_total"] == 5 * 4 * 32 * 2 + 3072

    # and the project's checkpoint, as out_dir/ckpt.pt, samples in nanoGPT's own sample.py
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "ckpt.pt").write_bytes((repo / "models" / "model.pt").read_bytes())
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(where / "tiktoken"), "OMP_NUM_THREADS": "1"}
    sampled = subprocess.run([sys.executable, "sample.py", f"--out_dir={out_dir}", "--device=cpu", "--num_samples=1",
                              "--max_new_tokens=5", "--start=Alabama is", "--dtype=float32"],
                             cwd=where, env=env, capture_output=True, text=True, timeout=300)
    assert sampled.returncode == 0, sampled.stderr
    assert "Alabama is" in sampled.stdout


def test_progress_in_a_log_file_is_plain_lines(repo, monkeypatch, capsys):
    """In-process run with the progress interval at 0 s: one plain line per step on stderr."""
    import train
    from params import load_params

    write_params(repo, {**FAST_TRAIN, "token_budget": 8 * 32 * 4})  # 4 steps
    monkeypatch.chdir(repo)
    monkeypatch.setattr(train, "PROGRESS_EVERY_S", 0.0)
    params = load_params(repo / "params.yaml")
    p = params.train
    train.train(p, train.recipe_model(p), json.loads((repo / "data" / "dataset.json").read_text()),
                params.data.eval_tokens, Path("checkpoints/scratch"), Path("models/model.pt"),
                Path("reports/train_log.csv"),
                Path("reports/train"), Path(".resume/train"))
    err = capsys.readouterr().err
    progress = [line for line in err.splitlines() if line.startswith("train: step ")]
    assert len(progress) == 4 and "\r" not in err
    assert "ETA" not in progress[0] and re.fullmatch(r"train: step 1/4 \(25%\), loss \d+\.\d{3}", progress[0])
    assert re.fullmatch(r"train: step 4/4 \(100%\), loss \d+\.\d{3}, [\d,]+ tokens/s, ETA 0\.0 min", progress[-1])
