"""The GPT-2 model on its own: shapes, the causal mask, parameter groups, checkpoints that round-trip."""

from __future__ import annotations

import math

import pytest
import torch

from model import GPT, GPTConfig, clean_state_dict

SMALL = dict(block_size=16, vocab_size=50304, n_layer=2, n_head=2, n_embd=32, dropout=0.0, bias=False)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return GPT(GPTConfig(**SMALL)).eval()


def test_gpt2_124m_has_its_published_size():
    cfg = GPTConfig(block_size=1024, vocab_size=50257, n_layer=12, n_head=12, n_embd=768, dropout=0.0, bias=True)
    with torch.device("meta"):
        model = GPT(cfg)
    assert model.num_params(non_embedding=False) == 124_439_808  # GPT-2 small, tied head


def test_loss_at_init_is_uniform_over_the_vocabulary(model):
    idx, targets = torch.randint(0, 50257, (2, 4, 16))
    logits, loss = model(idx, targets)
    assert logits.shape == (4, 16, 50304)
    assert loss.item() == pytest.approx(math.log(50304), abs=0.1)
    last, none = model(idx)  # inference: the last position only
    assert last.shape == (4, 1, 50304) and none is None
    torch.testing.assert_close(last[:, 0], logits[:, -1], rtol=1e-4, atol=1e-4)


def test_attention_is_causal(model):
    idx = torch.randint(0, 50257, (1, 16))
    changed = idx.clone()
    changed[0, 10:] = (changed[0, 10:] + 1) % 50257
    a, _ = model(idx, idx)
    b, _ = model(changed, changed)
    torch.testing.assert_close(a[:, :10], b[:, :10])  # the past never sees the future
    assert not torch.allclose(a[:, 10:], b[:, 10:])


def test_weight_tying_and_decay_groups(model):
    assert model.lm_head.weight is model.transformer.wte.weight
    decay, no_decay = model.param_groups(0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    assert sum(p.numel() for g in (decay, no_decay) for p in g["params"]) == model.num_params(non_embedding=False)


def test_checkpoint_round_trips_through_weights_only_load(model, tmp_path):
    compiled = torch.compile(model)  # compiles lazily: only the `_orig_mod.` prefix matters here
    state = compiled.state_dict()
    assert any(k.startswith("_orig_mod.") for k in state)
    path = tmp_path / "model.pt"
    torch.save({"model": clean_state_dict(state), "model_args": model.config.to_dict()}, path)

    ckpt = torch.load(path, weights_only=True)
    assert not any("_orig_mod." in k for k in ckpt["model"])
    rebuilt = GPT(GPTConfig(**ckpt["model_args"])).eval()
    rebuilt.load_state_dict(ckpt["model"])
    idx = torch.randint(0, 50257, (2, 16))
    torch.testing.assert_close(rebuilt(idx, idx)[0], model(idx, idx)[0], rtol=0, atol=0)


def test_generation_is_repeatable_and_stays_in_the_real_vocabulary(model):
    idx = torch.tensor([[464, 2106, 286]])
    a = model.generate(idx, 12, temperature=1.0, top_k=50, generator=torch.Generator().manual_seed(1),
                       vocab_limit=50257)
    b = model.generate(idx, 12, temperature=1.0, top_k=50, generator=torch.Generator().manual_seed(1),
                       vocab_limit=50257)
    assert a.shape == (1, 15) and torch.equal(a, b) and torch.equal(a[:, :3], idx)
    assert a.max().item() < 50257


def test_flops_per_token_follows_nanogpt():
    cfg = GPTConfig(block_size=1024, vocab_size=50304, n_layer=12, n_head=12, n_embd=768, dropout=0.0, bias=False)
    with torch.device("meta"):
        model = GPT(cfg)
    n = model.num_params()
    assert model.flops_per_token() == 6 * n + 12 * 12 * 12 * 64 * 1024


def test_head_count_must_divide_width():
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(**{**SMALL, "n_head": 3})
