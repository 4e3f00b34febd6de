"""The GPT-2 model on its own: shapes, the causal mask, parameter groups, checkpoints that round-trip;
then each piece of the modern recipe, and the optimizers of both recipes (src/optim.py)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch
import yaml
from conftest import TEST_PARAMS

from model import GPT, GPTConfig, apply_rotary, clean_state_dict, rotary_tables
from optim import configure_optimizers, optimizer_settings, recipe_model_args, split_params

RECIPES = yaml.safe_load(TEST_PARAMS.read_text())["train"]["recipes"]  # params.yaml's, as the tests hold them
SMALL = dict(block_size=16, vocab_size=50304, n_layer=2, n_head=2, n_embd=32, dropout=0.0, bias=False)
MODERN = recipe_model_args(SMALL, RECIPES["modern"], {})
TRAIN = {"learning_rate": 3e-3, "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.99}
NANOGPT = Path("/work/shared/baselines/nanogpt_model.py")  # karpathy/nanoGPT's model.py, unmodified


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


# ------------------------------------------------------------------------------ the modern recipe

def modern(**overrides) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(**{**MODERN, **overrides})).eval()


def test_old_model_args_build_gpt2_with_nanogpt_keys_and_nanogpt_loads_them(model):
    assert GPTConfig(**SMALL) == GPTConfig(**recipe_model_args(SMALL, RECIPES["gpt2"], {}))
    keys = set(model.state_dict())
    assert {"transformer.wte.weight", "transformer.wpe.weight", "lm_head.weight",
            "transformer.h.0.attn.c_attn.weight", "transformer.h.1.mlp.c_proj.weight"} <= keys
    if not NANOGPT.exists():
        pytest.skip(f"{NANOGPT} not here")
    spec = importlib.util.spec_from_file_location("nanogpt_model", NANOGPT)
    nano = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(nano)
    theirs = nano.GPT(nano.GPTConfig(**SMALL)).eval()
    theirs.load_state_dict(model.state_dict(), strict=True)  # the same keys and shapes, none missing
    idx = torch.randint(0, 50257, (2, 16))
    torch.testing.assert_close(theirs(idx, idx)[0], model(idx, idx)[0])


def test_rotary_scores_depend_on_relative_position_only():
    cos, sin = rotary_tables(16, 8)
    torch.manual_seed(0)
    q = torch.randn(8).expand(1, 1, 16, 8)  # the same query and key at every position
    k = torch.randn(8).expand(1, 1, 16, 8)
    scores = (apply_rotary(q, cos, sin) @ apply_rotary(k, cos, sin).transpose(-1, -2))[0, 0]  # (T, T)
    for shift in (1, 5):  # q at m, k at n and q at m + shift, k at n + shift score the same
        torch.testing.assert_close(scores[shift:, shift:], scores[:-shift, :-shift])
    assert not torch.allclose(scores[0, 1], scores[0, 2])  # but the distance itself matters
    torch.testing.assert_close(apply_rotary(q, cos, sin).norm(dim=-1), q.norm(dim=-1))  # a rotation


def test_rope_replaces_the_position_table_and_is_rebuilt_on_load():
    m = modern()
    assert "wpe" not in m.transformer and not any("rope" in k for k in m.state_dict())
    rebuilt = GPT(GPTConfig(**m.config.to_dict())).eval()
    rebuilt.load_state_dict(m.state_dict())
    idx = torch.randint(0, 50257, (2, 16))
    torch.testing.assert_close(rebuilt(idx, idx)[0], m(idx, idx)[0], rtol=0, atol=0)


def test_qk_norm_makes_attention_blind_to_the_scale_of_queries_and_keys():
    torch.manual_seed(0)
    x = torch.randn(2, 16, 32)
    m = modern(zero_init_proj=False)
    attn = m.transformer.h[0].attn
    rotary = (m.rope_cos, m.rope_sin)
    before = attn(x, rotary)
    with torch.no_grad():
        attn.c_attn.weight[:64] *= 10  # the q and k rows
    torch.testing.assert_close(attn(x, rotary), before)
    attn.qk_norm = False
    assert not torch.allclose(attn(x, rotary), before, atol=1e-3)


def test_relu2_mlp_squares_the_relu():
    torch.manual_seed(0)
    mlp = modern(zero_init_proj=False).transformer.h[0].mlp
    x = torch.randn(2, 16, 32)
    torch.testing.assert_close(mlp(x), mlp.c_proj(torch.relu(mlp.c_fc(x)) ** 2))


def test_zero_init_projections_start_every_block_as_the_identity():
    m = modern()
    x = torch.randn(2, 16, 32)
    for block in m.transformer.h:
        torch.testing.assert_close(block(x, (m.rope_cos, m.rope_sin)), x, rtol=0, atol=0)
    # the untied head starts at zero too: every prediction uniform, loss ln(vocab) exactly
    idx = torch.randint(0, 50257, (2, 16))
    assert m(idx, idx)[1].item() == pytest.approx(math.log(50304), abs=1e-4)
    gpt2 = modern(zero_init_proj=False)
    assert gpt2.transformer.h[0].mlp.c_proj.weight.abs().sum() > 0


def test_softcap_bounds_the_logits_and_leaves_small_ones_alone():
    m = modern(zero_init_proj=False)
    idx = torch.randint(0, 50257, (2, 16))
    with torch.no_grad():
        m.lm_head.weight.normal_(0, 0.001)
        small = m(idx, idx)[0]
        uncapped = GPT(GPTConfig(**{**MODERN, "zero_init_proj": False, "logit_softcap": 0.0})).eval()
        uncapped.load_state_dict(m.state_dict())
        torch.testing.assert_close(small, uncapped(idx, idx)[0], rtol=1e-3, atol=1e-4)
        m.lm_head.weight.mul_(1e5)
        big = m(idx, idx)[0]
    assert big.abs().max() <= 15.0 and big.abs().max() > 14.0


def test_untied_head_has_its_own_weights():
    m = modern()
    assert m.lm_head.weight is not m.transformer.wte.weight
    assert {"lm_head.weight", "transformer.wte.weight"} <= set(m.state_dict())
    with torch.no_grad():
        m.lm_head.weight.add_(1.0)
    assert not torch.equal(m.lm_head.weight, m.transformer.wte.weight)
    # the untied table is a lookup: left out of the matmul parameter count like the position table
    assert m.num_params() == m.num_params(non_embedding=False) - m.transformer.wte.weight.numel()


def test_modern_generates_and_round_trips_through_a_checkpoint(tmp_path):
    m = modern(zero_init_proj=False)
    path = tmp_path / "model.pt"
    torch.save({"model": clean_state_dict(m.state_dict()), "model_args": m.config.to_dict()}, path)
    ckpt = torch.load(path, weights_only=True)
    rebuilt = GPT(GPTConfig(**ckpt["model_args"])).eval()
    rebuilt.load_state_dict(ckpt["model"])
    idx = torch.tensor([[464, 2106, 286]])
    a = rebuilt.generate(idx, 8, generator=torch.Generator().manual_seed(1), vocab_limit=50257)
    b = m.generate(idx, 8, generator=torch.Generator().manual_seed(1), vocab_limit=50257)
    assert a.shape == (1, 11) and torch.equal(a, b)


def test_rope_needs_an_even_head_size_and_the_cap_a_non_negative_value():
    with pytest.raises(ValueError, match="even"):
        GPTConfig(**{**MODERN, "n_embd": 30, "n_head": 2})
    with pytest.raises(ValueError, match="logit_softcap"):
        GPTConfig(**{**MODERN, "logit_softcap": -1.0})


@pytest.mark.parametrize("args", [SMALL, MODERN, {**MODERN, "tie_embeddings": True, "rope": False}])
@pytest.mark.parametrize("recipe", ["gpt2", "modern"])
def test_the_optimizers_cover_every_parameter_exactly_once(args, recipe):
    torch.manual_seed(0)
    model = GPT(GPTConfig(**args))
    optimizers = configure_optimizers(model, optimizer_settings(RECIPES[recipe], TRAIN))
    seen = [p for opt in optimizers for g in opt.param_groups for p in g["params"]]
    assert len(seen) == len({id(p) for p in seen}) == len(list(model.parameters()))
    assert all(g["lr"] == g["base_lr"] > 0 for opt in optimizers for g in opt.param_groups)
    if recipe == "modern":
        muon, adamw = optimizers
        assert isinstance(muon, torch.optim.Muon) and isinstance(adamw, torch.optim.AdamW)
        assert all(p.dim() == 2 for g in muon.param_groups for p in g["params"])  # hidden matrices only
        roles = split_params(model)
        assert [id(p) for p in roles["matrix"]] == [id(p) for g in muon.param_groups for p in g["params"]]
        assert model.transformer.wte.weight in roles["embedding"]
    else:
        (adamw,) = optimizers
        assert adamw.param_groups[0]["weight_decay"] == 0.1 and adamw.param_groups[0]["lr"] == 3e-3


def test_both_recipes_train_on_a_repeated_batch():
    idx = torch.randint(0, 50257, (4, 17))
    for recipe in ("gpt2", "modern"):
        torch.manual_seed(0)
        model = GPT(GPTConfig(**recipe_model_args(SMALL, RECIPES[recipe], {})))
        optimizers = configure_optimizers(model, optimizer_settings(RECIPES[recipe], TRAIN))
        losses = []
        for _ in range(8):
            _, loss = model(idx[:, :-1].contiguous(), idx[:, 1:].contiguous())
            loss.backward()
            for opt in optimizers:
                opt.step()
                opt.zero_grad(set_to_none=True)
            losses.append(loss.item())
        assert losses[-1] < losses[0] - 1.0, (recipe, losses)
