"""Stage `dataset`: assemble the selected parts' token files into a dataset version.

    python src/dataset.py --tokens data/tokens --out data/dataset.json

The version is a small manifest that points at the per-part token files (no concatenated copy per
version) and records tokens and documents per part and in total, and the fixed evaluation set (the
held-out documents of `data.eval_parts`). Token folders of parts that `data.parts` no longer selects
are deleted: DVC leaves them behind when a part leaves the list, and they would change the hash of
`data/tokens`, which this stage and training depend on.
Prints: `dataset: parts [1, 2, 3], 312,456 tokens in 30 documents (eval set 9,120 tokens)`.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from params import load_params
from runlog import StageError, run_stage
from tokens import SPLIT_RULE, SPLITS, read_meta, read_tokens, write_json_atomic


def prune_unselected(tokens_dir: Path, parts: list[int]) -> list[str]:
    """Delete part folders (and leftovers of interrupted runs) that the version does not use."""
    keep = {str(part) for part in parts}
    removed = []
    for entry in sorted(tokens_dir.iterdir()):
        if entry.name not in keep:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            removed.append(entry.name)
    return removed


def part_entries(tokens_dir: Path, part: int) -> dict[str, dict]:
    """{split: {part, path, tokens, documents}} of one part, checked against its files."""
    part_dir = tokens_dir / str(part)
    if not (part_dir / "meta.json").exists():
        raise FileNotFoundError(f"{part_dir}/meta.json is missing; run `dvc repro` to tokenize part {part}")
    meta = read_meta(part_dir)
    entries = {}
    for split in SPLITS:
        read_tokens(part_dir, split)  # raises with a hint when the file does not match its meta
        entries[split] = {"part": part, "path": (part_dir / f"{split}.bin").as_posix(), **meta[split]}
    return entries


def build_manifest(tokens_dir: Path, parts: list[int], eval_parts: list[int]) -> dict:
    per_part = {part: part_entries(tokens_dir, part) for part in parts}
    fractions = {part: read_meta(tokens_dir / str(part))["val_fraction"] for part in parts}
    if len(set(fractions.values())) > 1:
        raise ValueError(f"the parts were split with different tokenize.val_fraction values {fractions}; "
                         "run `dvc repro` to tokenize them again with the current one")
    manifest = {
        "parts": parts,
        # which documents are held out: a warm start must come from a checkpoint with the same split
        "split": {"val_fraction": fractions[parts[0]], "rule": SPLIT_RULE},
        "encoding": "gpt2",
        "dtype": "uint16",
        "eot": 50256,
        "train": [per_part[p]["train"] for p in parts],
        "val": [per_part[p]["val"] for p in parts],
        "eval": [per_part[p]["val"] for p in eval_parts],
    }
    totals = {}
    for key in ("train", "val", "eval"):
        totals[f"{key}_tokens"] = sum(entry["tokens"] for entry in manifest[key])
        totals[f"{key}_documents"] = sum(entry["documents"] for entry in manifest[key])
    totals["tokens"] = totals["train_tokens"] + totals["val_tokens"]
    totals["documents"] = totals["train_documents"] + totals["val_documents"]
    manifest["totals"] = totals
    if totals["eval_tokens"] == 0:
        raise ValueError(
            f"the evaluation set (held-out documents of data.eval_parts {eval_parts}) is empty; "
            "raise tokenize.val_fraction or add parts to data.eval_parts"
        )
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    params = load_params()
    parts, eval_parts = params.data.parts, params.data.eval_parts
    try:
        manifest = build_manifest(args.tokens, parts, eval_parts)
    except (OSError, ValueError) as exc:
        raise StageError(f"dataset: {exc}") from exc
    removed = prune_unselected(args.tokens, parts)
    try:
        write_json_atomic(args.out, manifest)
    except OSError as exc:  # disk full, read-only: the earlier manifest stays as it was
        raise StageError(f"dataset: cannot write {args.out}: {exc.strerror or exc}; free space and run "
                         "again") from exc
    totals = manifest["totals"]
    pruned = f", pruned unselected {removed}" if removed else ""
    print(f"dataset: parts {parts}, {totals['tokens']:,} tokens in {totals['documents']:,} documents "
          f"(eval set {totals['eval_tokens']:,} tokens){pruned}")


if __name__ == "__main__":
    run_stage(main)
