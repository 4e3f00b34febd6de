"""GPT-2 tokens: the encoder built from files shipped in the repo, and self-describing token files.

A part's tokens live in `data/tokens/<N>/`: `train.bin` and `val.bin` hold raw uint16 token ids (GPT-2's
largest id is 50256, so two bytes suffice and halve the disk of int32), every document followed by the
end-of-text token; `meta.json` says what they hold. `read_tokens` checks a file against its meta and
says how to fix a stale one, so a reader never trains on a half-written or mismatched file.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np

from atomic import write_json_atomic  # noqa: F401  (stages write JSON through tokens)

GPT2_DIR = Path(__file__).resolve().parent / "gpt2"
# The hashes tiktoken itself pins for these two files.
GPT2_SHA256 = {
    "vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
    "encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
}
EOT = 50256
DTYPE = np.uint16
SPLITS = ("train", "val")


@functools.lru_cache(maxsize=4)
def gpt2_encoding(gpt2_dir: Path = GPT2_DIR):
    """tiktoken's `gpt2` encoding, built from the BPE files in the repo: no network, ever.

    tiktoken's own loader reads them (a plain path is read from disk) and checks the same sha256
    hashes it pins for its download, so the ranks are exactly tiktoken's gpt2. Built once per process
    (its cost: docs/benchmarks.md, "Small measurements behind code choices"); the encoding is immutable
    and thread-safe, so it is shared.
    """
    import tiktoken
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks
    from tiktoken_ext.openai_public import r50k_pat_str

    ranks = data_gym_to_mergeable_bpe_ranks(
        vocab_bpe_file=str(gpt2_dir / "vocab.bpe"),
        encoder_json_file=str(gpt2_dir / "encoder.json"),
        vocab_bpe_hash=GPT2_SHA256["vocab.bpe"],
        encoder_json_hash=GPT2_SHA256["encoder.json"],
    )
    return tiktoken.Encoding(
        name="gpt2",
        explicit_n_vocab=50257,
        pat_str=r50k_pat_str,
        mergeable_ranks=ranks,
        special_tokens={"<|endoftext|>": EOT},
    )


# How is_validation splits, recorded in the manifest and in checkpoints: a warm start must see the same
# held-out documents. Change it whenever is_validation changes.
SPLIT_RULE = "blake2b-8(page_id) < val_fraction * 2**64"


def is_validation(page_id: int, val_fraction: float) -> bool:
    """Whether a document is held out, decided by its page id alone (stable as parts are added)."""
    digest = hashlib.blake2b(str(page_id).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") < val_fraction * 2**64


def read_meta(part_dir: Path) -> dict:
    return json.loads((Path(part_dir) / "meta.json").read_text())


def read_tokens(part_dir: Path, split: str) -> np.memmap | np.ndarray:
    """Memory-map one split of a part, checked against its meta.json."""
    part_dir = Path(part_dir)
    meta = read_meta(part_dir)
    path = part_dir / f"{split}.bin"
    expected = meta[split]["tokens"]
    size = path.stat().st_size
    if meta.get("dtype") != "uint16" or size != expected * 2:
        raise ValueError(
            f"{path}: {size:,} bytes but meta.json says {expected:,} uint16 tokens; "
            f"the file is stale or truncated: run `dvc repro` (or `dvc checkout {part_dir}`)"
        )
    if expected == 0:
        return np.zeros(0, dtype=DTYPE)
    return np.memmap(path, dtype=DTYPE, mode="r")
