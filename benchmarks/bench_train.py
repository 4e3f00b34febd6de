"""Training throughput and MFU of this project's GPT against nanoGPT's model, side by side.

    python benchmarks/bench_train.py                      # CPU: the tiny preset
    python benchmarks/bench_train.py --preset gpt2-124m --batch-size 64 --compile   # one GPU

The baseline is nanoGPT's model.py rebuilt here from its published architecture (causal self-attention
through SDPA, 4x GELU MLP, LayerNorm without bias, tied embedding/head, vocab 50304). Both models get
the same batch, dtype (bf16 autocast on CUDA), fused AdamW (on CUDA), gradient clipping, compile
setting and random tokens; each runs `--warmup` untimed steps then `--steps` timed ones (the clock
stops only after a device synchronize). MFU = FLOPs/token (6N + 12*L*H*Q*T, nanoGPT's formula) times
tokens/s over the device's dense bf16 peak (src/gpus.json: 989 TFLOPS on an H100 SXM, not the
A100's 312 that nanoGPT assumes). Prints one line per model and the ratio, in this format (measured
figures: docs/benchmarks.md, "Training"):

    model      tokens/s      MFU   ms/step   peak MB
    nanogpt       1,650        -     620.6         -
    ours          1,700        -     602.3         -
    ours / nanogpt: 1.03x tokens/s
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn as nn
import yaml
from torch.nn import functional as F

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from model import GPT, GPTConfig  # noqa: E402
from device import keep_freed_memory, peak_flops  # noqa: E402


# ------------------------------------------- nanoGPT's model (karpathy/nanoGPT model.py, abridged)

class NanoLayerNorm(nn.Module):
    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class NanoAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_attn = nn.Linear(c.n_embd, 3 * c.n_embd, bias=c.bias)
        self.c_proj = nn.Linear(c.n_embd, c.n_embd, bias=c.bias)
        self.attn_dropout, self.resid_dropout = nn.Dropout(c.dropout), nn.Dropout(c.dropout)
        self.n_head, self.n_embd, self.dropout = c.n_head, c.n_embd, c.dropout

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=None,
                                           dropout_p=self.dropout if self.training else 0, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class NanoMLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_fc = nn.Linear(c.n_embd, 4 * c.n_embd, bias=c.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * c.n_embd, c.n_embd, bias=c.bias)
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class NanoBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln_1, self.attn = NanoLayerNorm(c.n_embd, c.bias), NanoAttention(c)
        self.ln_2, self.mlp = NanoLayerNorm(c.n_embd, c.bias), NanoMLP(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class NanoGPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(c.vocab_size, c.n_embd), wpe=nn.Embedding(c.block_size, c.n_embd),
            drop=nn.Dropout(c.dropout), h=nn.ModuleList([NanoBlock(c) for _ in range(c.n_layer)]),
            ln_f=NanoLayerNorm(c.n_embd, c.bias)))
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c.n_layer))

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if getattr(module, "bias", None) is not None:
                torch.nn.init.zeros_(module.bias)

    def forward(self, idx, targets):
        pos = torch.arange(0, idx.size(1), dtype=torch.long, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)

    def param_groups(self, weight_decay):
        params = [p for p in self.parameters() if p.requires_grad]
        return [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]


# ------------------------------------------------------------------------------------------- bench

def bench(model: nn.Module, args, device: str, flops_per_token: float) -> dict:
    device_type = device.split(":")[0]
    dtype = torch.bfloat16 if device_type == "cuda" else torch.float32
    autocast = torch.autocast(device_type, dtype=dtype) if dtype != torch.float32 else nullcontext()
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.param_groups(0.1), lr=6e-4, betas=(0.9, 0.95),
                                  fused=device_type == "cuda")
    step_model = torch.compile(model) if args.compile else model
    T = model.config.block_size
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randint(0, 50257, (2, args.batch_size, T), generator=gen).to(device)
    if device_type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def step():
        with autocast:
            _, loss = step_model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(args.warmup):
        step()
    sync = torch.cuda.synchronize if device_type == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync()
    dt = (time.perf_counter() - t0) / args.steps
    tps = args.batch_size * T / dt
    peak = peak_flops(device_type)
    return {"tokens_per_s": tps, "ms_per_step": dt * 1000, "mfu": flops_per_token * tps / peak if peak else None,
            "peak_mb": torch.cuda.max_memory_allocated() / 2**20 if device_type == "cuda" else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cuda = torch.cuda.is_available()
    parser.add_argument("--preset", default="gpt2-124m" if cuda else "tiny", help="a train.presets entry")
    parser.add_argument("--batch-size", type=int, default=12 if cuda else 8, help="sequences per step")
    parser.add_argument("--steps", type=int, default=20 if cuda else 5, help="timed steps")
    parser.add_argument("--warmup", type=int, default=5 if cuda else 2, help="untimed steps (compile, caches)")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=cuda, help="torch.compile both")
    parser.add_argument("--rounds", type=int, default=1 if cuda else 3,
                        help="alternate the two models this many times and keep each one's best round "
                             "(a shared CPU's noise hits both alike)")
    parser.add_argument("--only", choices=["nanogpt", "ours"], help="run one model")
    args = parser.parse_args()

    presets = yaml.safe_load((REPO / "params.yaml").read_text())["train"]["presets"]
    config = GPTConfig(**presets[args.preset])
    device = "cuda" if cuda else "cpu"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        keep_freed_memory()  # as train.py does on CPU, for both models
    name = torch.cuda.get_device_name() if cuda else f"cpu ({torch.get_num_threads()} threads)"
    print(f"{args.preset}, batch {args.batch_size} x {config.block_size}, compile={args.compile}, "
          f"{'bf16' if cuda else 'fp32'}, {name}")
    flops_per_token = GPT(config).flops_per_token()
    results = {}
    print(f"{'model':8} {'tokens/s':>12} {'MFU':>8} {'ms/step':>9} {'peak MB':>9}")
    runs = [(label, cls) for label, cls in (("nanogpt", NanoGPT), ("ours", GPT)) if args.only in (None, label)]
    for label, cls in runs * args.rounds:
        torch.manual_seed(0)
        r = bench(cls(config), args, device, flops_per_token)
        if label not in results or r["tokens_per_s"] > results[label]["tokens_per_s"]:
            results[label] = r
        mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "-"
        peak = f"{r['peak_mb']:,.0f}" if r["peak_mb"] is not None else "-"
        print(f"{label:8} {r['tokens_per_s']:>12,.0f} {mfu:>8} {r['ms_per_step']:>9.1f} {peak:>9}", flush=True)
        if cuda:
            torch.cuda.empty_cache()
    if len(results) == 2:
        if args.rounds > 1:
            for label, r in results.items():
                print(f"best {label:8} {r['tokens_per_s']:>7,.0f} tokens/s")
        print(f"ours / nanogpt: {results['ours']['tokens_per_s'] / results['nanogpt']['tokens_per_s']:.2f}x tokens/s")


if __name__ == "__main__":
    main()
