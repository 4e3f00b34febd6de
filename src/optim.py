"""Training recipes: which model switches and which optimizer, for `gpt2` and `modern`.

A recipe is a set of `GPTConfig` switches plus an optimizer. `gpt2` is nanoGPT's: GPT-2's architecture
and AdamW over every parameter (matrices and embeddings decayed, gains and biases not), at
train.learning_rate / weight_decay / beta1 / beta2. `modern` is the NanoGPT speedrun's (modded-nanogpt)
as nanochat packages it: rotary positions, QK-norm, ReLU^2, zero-initialised projections, untied head,
soft-capped logits, and Muon (`torch.optim.Muon`, PyTorch >= 2.9) for the hidden 2-D matrices with AdamW
for the embedding, the head and the 1-D gains.

The recipes themselves (switches, learning rates, and where each value comes from) live in params.yaml,
`train.recipes`; `train.recipe` picks one.

Every param group carries `base_lr`, its learning rate at the schedule's peak; a training loop sets
`group["lr"] = group["base_lr"] * factor` with one schedule factor (warmup, decay) for all groups of
all optimizers, so both recipes follow the same schedule shape.

    recipe = train["recipes"][train["recipe"]]  # train: params.yaml's train section, as a dict
    model = GPT(GPTConfig(**recipe_model_args(train["presets"][train["preset"]], recipe, train["model"])))
    optimizers = configure_optimizers(model, optimizer_settings(recipe, train))
"""

from __future__ import annotations

import torch

from model import GPT


def recipe_model_args(size: dict, recipe: dict, overrides: dict) -> dict:
    """GPTConfig fields: a size preset, then the recipe's switches, then train.model's overrides (so
    one piece of a recipe can be switched off, or one piece of another switched on, by params alone)."""
    return {**size, **recipe["model"], **(overrides or {})}


def optimizer_settings(recipe: dict, train: dict) -> dict:
    """The recipe's optimizer with its numbers filled in; `gpt2` takes them from the train section."""
    opt = recipe["optimizer"]
    if opt["kind"] == "adamw":
        return {"kind": "adamw", "lr": train["learning_rate"], "weight_decay": train["weight_decay"],
                "betas": [train["beta1"], train["beta2"]]}
    return dict(opt)


def split_params(model: GPT) -> dict[str, list[torch.nn.Parameter]]:
    """Every trainable parameter exactly once, by role: `matrix` (2-D weights inside the blocks,
    for Muon), `embedding` (token and position tables), `head` (an untied lm_head), `scalar`
    (1-D gains and biases). A tied head is the token table, listed once under `embedding`."""
    roles: dict[str, list[torch.nn.Parameter]] = {"matrix": [], "embedding": [], "head": [], "scalar": []}
    seen: set[int] = set()
    for name, p in model.named_parameters():  # named_parameters yields a tied tensor once
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        if p.dim() < 2:
            roles["scalar"].append(p)
        elif name.startswith("transformer.h."):
            roles["matrix"].append(p)
        elif name.startswith("lm_head."):
            roles["head"].append(p)
        else:
            roles["embedding"].append(p)
    return roles


def configure_optimizers(model: GPT, settings: dict, fused: bool = False) -> list[torch.optim.Optimizer]:
    """The optimizers of a recipe (one AdamW for `adamw`, Muon + AdamW for `muon`); step, zero and
    save each. `fused`: AdamW's fused kernel (CUDA)."""
    if settings["kind"] == "adamw":
        groups = model.param_groups(settings["weight_decay"])
        for g in groups:
            g["lr"] = g["base_lr"] = settings["lr"]
        return [torch.optim.AdamW(groups, lr=settings["lr"], betas=tuple(settings["betas"]), fused=fused)]
    roles = split_params(model)
    # AdamW's per-element step moves a weight by ~lr whatever its fan-in: nanochat's lrs were tuned
    # at width 768 and shrink as 1/sqrt(width) for wider (and grow for narrower) models.
    width_scale = (model.config.n_embd / 768) ** -0.5
    adam_groups = [
        {"params": roles["embedding"], "base_lr": settings["embedding_lr"] * width_scale},
        {"params": roles["head"], "base_lr": settings["head_lr"] * width_scale},
        {"params": roles["scalar"], "base_lr": settings["scalar_lr"]},
    ]
    adam_groups = [{**g, "lr": g["base_lr"]} for g in adam_groups if g["params"]]
    adamw = torch.optim.AdamW(adam_groups, betas=tuple(settings["adam_betas"]), eps=1e-10,
                              weight_decay=settings["weight_decay"], fused=fused)
    # Muon orthogonalises each matrix's momentum (Newton-Schulz), so every direction of the update
    # moves at the same rate; adjust_lr_fn "original" scales it by sqrt(max(1, rows / cols)) as in
    # Keller Jordan's Muon and nanochat. The fused c_attn (3C, C) is orthogonalised as one matrix.
    muon = torch.optim.Muon([{"params": roles["matrix"], "base_lr": settings["matrix_lr"]}],
                            lr=settings["matrix_lr"], momentum=settings["momentum"], nesterov=True,
                            weight_decay=settings["weight_decay"], adjust_lr_fn="original")
    return [muon, adamw]
