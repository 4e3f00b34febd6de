"""GPT-2, the model alone: no files, no devices, no training loop.

The architecture is GPT-2's as nanoGPT writes it (pre-LayerNorm blocks, learned positions, weight tying
between the token embedding and the output head, GELU MLP of width 4*n_embd), with attention through
`F.scaled_dot_product_attention` so PyTorch picks flash / memory-efficient kernels where it can.
Checkpoints carry `model_args` (a plain dict of `GPTConfig` fields) so any script rebuilds the model
from the checkpoint alone: `GPT(GPTConfig(**ckpt["model_args"]))`.

The `modern` recipe's pieces (from the NanoGPT speedrun, modded-nanogpt, and nanochat) are switches
of `GPTConfig`, each off by default, so the defaults are GPT-2 exactly, with nanoGPT's state_dict keys:
rotary position embeddings (`rope`), RMS-normalised queries and keys (`qk_norm`), a ReLU^2 MLP
(`relu2`), zero-initialised output projections (`zero_init_proj`), an untied head
(`tie_embeddings: false`) and tanh soft-capped logits (`logit_softcap`).
"""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, fields

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class GPTConfig:
    block_size: int
    vocab_size: int  # GPT-2's 50257 padded to 50304 (a multiple of 64) for faster matmuls
    n_layer: int
    n_head: int
    n_embd: int
    dropout: float
    bias: bool
    # The modern recipe's switches; the defaults are GPT-2's, so checkpoints saved before they existed
    # (model_args without them) load unchanged.
    rope: bool = False             # rotary position embeddings instead of the learned table wpe
    qk_norm: bool = False          # RMS-normalise q and k per head before attention
    relu2: bool = False            # MLP activation relu(x)^2 instead of GELU
    zero_init_proj: bool = False   # every c_proj (and an untied head) starts at zero
    tie_embeddings: bool = True    # the head shares the token embedding's matrix
    logit_softcap: float = 0.0     # logits = cap * tanh(logits / cap); 0 = no cap

    def __post_init__(self):
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if self.rope and (self.n_embd // self.n_head) % 2:
            raise ValueError(f"rope rotates pairs of channels: the head size {self.n_embd // self.n_head} "
                             "(n_embd / n_head) must be even")
        if self.logit_softcap < 0:
            raise ValueError(f"logit_softcap must be >= 0 (0 = off), got {self.logit_softcap}")

    def to_dict(self) -> dict:
        return asdict(self)

    def saved_args(self) -> dict:
        """The fields a checkpoint stores as `model_args`: GPT-2's seven, plus only the recipe switches
        that differ from their defaults. A gpt2-recipe checkpoint then carries exactly nanoGPT's
        `model_args` and samples in nanoGPT's own sample.py; a modern one names what it switched on."""
        defaults = {f.name: f.default for f in fields(self) if f.default is not MISSING}
        return {k: v for k, v in asdict(self).items() if k not in defaults or v != defaults[k]}


def rotary_tables(seq_len: int, head_size: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin (seq_len, head_size / 2): the angle of channel pair i at position t is t * base^(-2i/hs)
    (RoFormer, Su et al. 2021; base 10000 as there and in nanochat)."""
    inv_freq = base ** (-torch.arange(0, head_size, 2, dtype=torch.float32) / head_size)  # (hs/2,)
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)  # (T, hs/2)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x (B, nh, T, hs) by position: channel pairs (i, i + hs/2) turn by their angle at t.
    Rotating q at m and k at n makes q.k depend on m - n only: attention sees relative positions."""
    half = x.size(-1) // 2
    x1, x2 = x[..., :half], x[..., half:]  # (B, nh, T, hs/2) each
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)  # (T, hs/2), broadcast over batch and heads
    return torch.cat((x1 * cos + x2 * sin, x2 * cos - x1 * sin), dim=-1)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.dropout = config.dropout
        self.qk_norm = config.qk_norm
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v in one matmul
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        # (B, T, C) -> (B, nh, T, hs)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        if self.qk_norm:
            # unit-RMS queries and keys bound the attention logits (at most sqrt(hs) after SDPA's
            # 1/sqrt(hs)), so a high learning rate cannot blow the softmax up (Dehghani et al. 2023)
            q, k = F.rms_norm(q, (q.size(-1),)), F.rms_norm(k, (k.size(-1),))
        if rotary is not None:
            q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
        y = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True
        )  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)
        self.relu2 = config.relu2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c_fc(x)  # (B, T, 4C)
        # ReLU^2 (So et al. 2021, "Primer"): sparse and cheaper than GELU, and trains faster in the speedrun
        h = F.relu(h).square() if self.relu2 else F.gelu(h)
        return self.dropout(self.c_proj(h))


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        # nn.LayerNorm takes bias= since torch 2.1, so no custom class is needed for bias-free norms
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), rotary)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        modules = dict(wte=nn.Embedding(config.vocab_size, config.n_embd))
        if not config.rope:  # rotary positions need no table (and no state_dict key)
            modules["wpe"] = nn.Embedding(config.block_size, config.n_embd)
        self.transformer = nn.ModuleDict(dict(
            **modules,
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_embeddings:
            # one (vocab, n_embd) matrix embeds tokens and scores them (GPT-2, Press & Wolf 2017)
            self.transformer.wte.weight = self.lm_head.weight
        if config.rope:
            # derived from the config, never trained: not saved (persistent=False), rebuilt on load
            cos, sin = rotary_tables(config.block_size, config.n_embd // config.n_head)
            self.register_buffer("rope_cos", cos, persistent=False)  # (block_size, hs/2)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)
        # GPT-2: residual projections scaled by 1/sqrt(2 * n_layer) so the residual stream's variance
        # does not grow with depth. Zero-init (modded-nanogpt, nanochat) goes further: every block
        # starts as the identity, so the network starts as a bigram model and grows depth as it learns.
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                if config.zero_init_proj:
                    nn.init.zeros_(p)
                else:
                    nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))
        if not config.tie_embeddings:
            # untied (nanochat): the table is only an input, read through LayerNorm, so unit-scale rows
            # (std 1) let AdamW's per-element steps move it at its own scale; a zero head starts every
            # prediction uniform (loss = ln(vocab)) and is the model's last output projection.
            nn.init.normal_(self.transformer.wte.weight, mean=0.0, std=1.0)
            if config.zero_init_proj:
                nn.init.zeros_(self.lm_head.weight)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameters; the position table (and an untied token table: a lookup, no matmul) is left out
        by default; a tied token table stays in, since it is also the output head and does matmul work."""
        n = sum(p.numel() for p in self.parameters())
        if not non_embedding:
            return n
        if "wpe" in self.transformer:
            n -= self.transformer.wpe.weight.numel()
        if not self.config.tie_embeddings:
            n -= self.transformer.wte.weight.numel()
        return n

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """idx, targets: (B, T) token ids. Returns (logits, loss): logits (B, T, vocab) and the mean
        cross-entropy when targets are given; otherwise logits (B, 1, vocab) for the last position only
        (all that generation needs) and loss None."""
        B, T = idx.shape
        if T > self.config.block_size:
            raise ValueError(f"sequence of {T} tokens is longer than block_size {self.config.block_size}")
        x = self.transformer.wte(idx)  # (B, T, C)
        rotary = None
        if self.config.rope:
            rotary = (self.rope_cos[:T], self.rope_sin[:T])  # (T, hs/2) each
        else:
            x = x + self.transformer.wpe(torch.arange(T, dtype=torch.long, device=idx.device))
        x = self.transformer.drop(x)
        for block in self.transformer.h:
            x = block(x, rotary)
        x = self.transformer.ln_f(x)
        if targets is None:
            return self.head(x[:, [-1], :]), None
        logits = self.head(x)  # (B, T, vocab)
        # under autocast cross_entropy runs in float32, whatever the logits' dtype
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, vocab) from the final hidden states x (B, T, C). With logit_softcap, cap *
        tanh(logits / cap): no token's score can run away and saturate the softmax early in training
        (Gemma 2; modded-nanogpt and nanochat cap at 15-30). The 1/cap goes on x, before the matmul
        (the head is linear and bias-free): the same logits without a pass over the (B, T, vocab) ones."""
        cap = self.config.logit_softcap
        if not cap:
            return self.lm_head(x)
        return torch.tanh(self.lm_head(x / cap).float()) * cap  # float: tanh near +-1 is coarse in bf16

    def param_groups(self, weight_decay: float) -> list[dict]:
        """AdamW groups: matrices and embeddings decay; biases and LayerNorm gains do not."""
        params = [p for p in self.parameters() if p.requires_grad]  # tied weight appears once
        return [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]

    def flops_per_token(self, seq_len: int | None = None) -> float:
        """Training FLOPs per token (forward + backward), as in PaLM appendix B and nanoGPT's
        estimate_mfu: 6N for the matmuls plus 12*L*H*Q*T for attention scores and values."""
        cfg = self.config
        T = seq_len or cfg.block_size
        return 6 * self.num_params() + 12 * cfg.n_layer * cfg.n_head * (cfg.n_embd // cfg.n_head) * T

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, generator: torch.Generator | None = None,
                 vocab_limit: int | None = None) -> torch.Tensor:
        """Extend idx (B, T) by sampling max_new_tokens tokens; returns (B, T + max_new_tokens).
        vocab_limit: ids at or above it (the padding past a tokenizer's last id) are never sampled."""
        for _ in range(max_new_tokens):
            context = idx[:, -self.config.block_size:]
            logits, _ = self(context)
            logits = logits[:, -1, :].float() / temperature  # (B, vocab)
            if vocab_limit is not None:
                logits[:, vocab_limit:] = -float("inf")
            if top_k is not None:
                kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]
                logits[logits < kth] = -float("inf")
            probs = F.softmax(logits, dim=-1)
            nxt = torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)
            idx = torch.cat((idx, nxt), dim=1)
        return idx


EVAL_DTYPE = "float32"  # the evaluation set is always scored in full fp32, on any device


@torch.no_grad()
def window_losses(model: GPT, x: torch.Tensor, y: torch.Tensor, batch_size: int, device: str,
                  rank: int = 0, world: int = 1) -> torch.Tensor:
    """Mean next-token cross-entropy of each window of x, y (n, T): (n,) float64 on the CPU.

    Scored in float32 with TF32 matmuls off and no autocast, so the same weights give the same losses
    during training and in the evaluate stage, on a CPU or a GPU. With several processes each scores
    every world-th batch and the losses are summed over processes (every process gets them all)."""
    was_training, tf32 = model.training, torch.backends.cuda.matmul.allow_tf32
    model.eval()
    torch.backends.cuda.matmul.allow_tf32 = False
    losses = torch.zeros(len(x), dtype=torch.float64, device=device)
    try:
        for start in range(rank * batch_size, len(x), batch_size * world):
            xb, yb = x[start:start + batch_size].to(device), y[start:start + batch_size].to(device)
            logits, _ = model(xb, yb)
            per_token = F.cross_entropy(logits.float().transpose(1, 2), yb, reduction="none")  # (B, T)
            losses[start:start + len(xb)] = per_token.mean(dim=1).double()
        if world > 1:
            torch.distributed.all_reduce(losses)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
        model.train(was_training)
    return losses.cpu()


def mean_and_stderr(losses: torch.Tensor) -> tuple[float, float]:
    """The mean of per-window losses and its standard error, std / sqrt(n) (0 for one window)."""
    n = len(losses)
    stderr = losses.std(correction=1).item() / math.sqrt(n) if n > 1 else 0.0
    return losses.mean().item(), stderr


def clean_state_dict(state_dict: dict) -> dict:
    """A state dict fit to save: `_orig_mod.` (torch.compile) and `module.` (DDP) prefixes removed,
    tensors detached onto the CPU."""
    out = {}
    for key, value in state_dict.items():
        for prefix in ("_orig_mod.", "module."):
            while key.startswith(prefix):
                key = key[len(prefix):]
        out[key.replace("._orig_mod.", ".")] = value.detach().cpu()
    return out
