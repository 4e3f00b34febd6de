"""Where the model runs: device and dtype choice, the one autocast policy, distributed set-up, and the
card's peak FLOP/s for MFU (from src/gpus.json, a datasheet figure per card).

Training and evaluation both call `autocast(device_type, dtype)`, so a model is scored in the precision
it was trained in.
"""

from __future__ import annotations

import ctypes
import json
import os
from contextlib import nullcontext
from pathlib import Path

import torch

GPUS_FILE = Path(__file__).with_name("gpus.json")


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


def autocast(device_type: str, dtype: torch.dtype):
    """Mixed precision for forward passes: matmuls in `dtype`, losses and norms in float32."""
    if dtype == torch.float32:
        return nullcontext()
    return torch.autocast(device_type=device_type, dtype=dtype)


def setup_distributed(device_name: str) -> tuple[int, int, str]:
    """(rank, world size, device) of this process. Under torchrun (RANK and WORLD_SIZE set) it joins
    the process group: NCCL on CUDA, gloo on CPU; one process per GPU, chosen by LOCAL_RANK."""
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    device = pick_device(device_name)
    if device == "cuda":
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
        torch.cuda.set_device(device)
    if world > 1:
        torch.distributed.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    return rank, world, device


def peak_flops(device_type: str, gpus_file: Path = GPUS_FILE) -> float | None:
    """The running card's dense bf16 peak in FLOP/s, or None when unknown (CPU, MPS, unlisted cards)."""
    if device_type != "cuda":
        return None
    return card_peak(torch.cuda.get_device_name(), gpus_file)


def card_peak(name: str, gpus_file: Path = GPUS_FILE) -> float | None:
    for card in json.loads(gpus_file.read_text())["cards"]:
        if card["match"] in name:
            return card["bf16_dense_tflops"] * 1e12
    return None


def keep_freed_memory() -> None:
    """CPU speed: glibc hands every block above 32 MB back to the OS when freed, so each step would
    page-fault its (batch*block, vocab) logits in again. Serve large blocks from the heap and keep them
    instead (the footprint stays at the peak of one step)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-4, 0)        # M_MMAP_MAX: no mmap-backed blocks
        libc.mallopt(-1, 1 << 40)  # M_TRIM_THRESHOLD: never trim the heap
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune
