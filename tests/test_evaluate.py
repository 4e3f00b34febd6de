"""The evaluate stage: a fixed evaluation set (same bytes for every dataset version), flat metrics,
repeatable samples."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from batches import eval_tokens, eval_windows, fingerprint, load_manifest
from tokens import EOT, gpt2_encoding
from test_train import REPO, make_dataset, read_log, run, train_cmd, write_params

EVAL_CMD = [str(REPO / "src" / "evaluate.py"), "--dataset", "data/dataset.json", "--model", "models/model.pt",
            "--train-log", "reports/train_log.csv", "--metrics", "reports/metrics.json",
            "--plot", "reports/training_curve.png", "--samples", "reports/samples.txt"]


def test_eval_set_is_the_same_for_one_part_and_three(tmp_path, monkeypatch):
    small, large = tmp_path / "v1", tmp_path / "v3"
    make_dataset(small, [1])
    make_dataset(large, [1, 2, 3])
    sets = []
    for root in (small, large):
        monkeypatch.chdir(root)
        manifest = load_manifest("data/dataset.json")
        sets.append(eval_tokens(manifest, 32, 4096))
    assert len(sets[0]) == 4096 + 1
    assert fingerprint(sets[0], 32, "float32") == fingerprint(sets[1], 32, "float32")
    # ... and a different eval part gives a different set
    monkeypatch.chdir(large)
    manifest = load_manifest("data/dataset.json")
    other = eval_tokens({**manifest, "eval": manifest["val"][1:2]}, 32, 4096)
    assert fingerprint(other, 32, "float32") != fingerprint(sets[0], 32, "float32")


def test_eval_set_sha1_covers_block_size_windows_and_dtype():
    """The same tokens cut into other windows, fewer windows, or scored in another precision give
    losses that do not compare: the sha1 says so."""
    tokens = np.arange(4 * 64 + 1, dtype=np.uint16)
    base = fingerprint(tokens, 32, "float32")
    assert fingerprint(tokens, 64, "float32") != base  # same bytes, longer windows
    assert fingerprint(tokens, 32, "bfloat16") != base
    assert fingerprint(tokens[:3 * 32 + 1], 32, "float32") != base
    assert fingerprint(tokens.copy(), 32, "float32") == base


def test_eval_windows_are_consecutive_and_shifted():
    tokens = np.arange(2 * 8 + 1, dtype=np.uint16)
    x, y = eval_windows(tokens, 8)
    assert x.tolist() == [list(range(0, 8)), list(range(8, 16))]
    assert (y == x + 1).all()


def test_a_short_eval_set_uses_all_it_has(tmp_path, monkeypatch):
    make_dataset(tmp_path, [1])
    monkeypatch.chdir(tmp_path)
    manifest = load_manifest("data/dataset.json")
    have = manifest["totals"]["eval_tokens"]
    tokens = eval_tokens(manifest, 32, 10 * have)
    assert len(tokens) == (have - 1) // 32 * 32 + 1
    with pytest.raises(ValueError, match="data.eval_parts"):
        eval_tokens(manifest, have + 1, 10 * have)


def test_evaluate_writes_flat_metrics_a_curve_and_repeatable_samples(tmp_path, monkeypatch):
    make_dataset(tmp_path, [1, 2])
    write_params(tmp_path, evaluate={"sample_tokens": 8})
    assert run(train_cmd(), tmp_path).returncode == 0
    result = run(EVAL_CMD, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "evaluate: val loss" in result.stdout

    metrics = json.loads((tmp_path / "reports" / "metrics.json").read_text())
    manifest = json.loads((tmp_path / "data" / "dataset.json").read_text())
    assert all(not isinstance(v, (dict, list)) for v in metrics.values())
    assert metrics["perplexity"] == pytest.approx(math.exp(metrics["val_loss"]), rel=1e-4)
    assert metrics["val_loss"] < 10.0
    assert metrics["parts"] == 2 and metrics["train_tokens"] == manifest["totals"]["train_tokens"]
    assert metrics["eval_tokens"] == manifest["totals"]["eval_tokens"]
    assert metrics["eval_tokens_scored"] == 512 and "wall_time_s" not in metrics  # no timing in a cached output
    # bits per byte: the same loss over the UTF-8 bytes of the text scored (end-of-text has none)
    monkeypatch.chdir(tmp_path)  # the manifest names its token files from the project's root
    _, targets = eval_windows(eval_tokens(load_manifest("data/dataset.json"), 32, 512), 32)
    text_bytes = len(gpt2_encoding().decode_bytes([int(t) for t in targets.ravel() if t != EOT]))
    assert metrics["eval_bytes_scored"] == text_bytes > metrics["eval_tokens_scored"]
    assert metrics["val_bpb"] == pytest.approx(
        metrics["val_loss"] * metrics["eval_tokens_scored"] / (math.log(2) * text_bytes), rel=1e-4)
    assert "bits per byte" in result.stdout
    assert metrics["tokens_trained"] == metrics["token_budget"] == 3072
    assert metrics["tokens_trained_total"] == 3072 and metrics["init_from"] == "scratch"
    assert metrics["epochs"] == pytest.approx(3072 / metrics["train_tokens"], abs=1e-4)
    assert len(metrics["eval_set_sha1"]) == 40 and metrics["eval_dtype"] == "float32"
    # one val loss: the training curve's last point is the metric, error bar included
    last = read_log(tmp_path)[-1]
    assert float(last["val_loss"]) == pytest.approx(metrics["val_loss"], abs=1e-5)
    assert float(last["val_loss_stderr"]) == pytest.approx(metrics["val_loss_stderr"], abs=1e-5)
    assert 0 < metrics["val_loss_stderr"] < 0.5
    assert (tmp_path / "reports" / "training_curve.png").read_bytes()[:4] == b"\x89PNG"

    samples = (tmp_path / "reports" / "samples.txt").read_text()
    assert samples.count("=== ") == 3 and "The history of" in samples
    assert run(EVAL_CMD, tmp_path).returncode == 0
    assert (tmp_path / "reports" / "samples.txt").read_text() == samples  # fixed seed


def test_bad_evaluate_params_name_the_key(tmp_path):
    make_dataset(tmp_path, [1])
    write_params(tmp_path, evaluate={"prompts": []})
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "model.pt").write_bytes(b"")
    result = run(EVAL_CMD, tmp_path)
    assert result.returncode != 0 and "evaluate.prompts" in result.stderr


def test_stderr_is_the_spread_of_window_losses_over_sqrt_n():
    import torch

    from model import mean_and_stderr

    losses = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    mean, stderr = mean_and_stderr(losses)
    assert mean == 2.5 and stderr == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2)
    assert mean_and_stderr(torch.tensor([3.0], dtype=torch.float64)) == (3.0, 0.0)
