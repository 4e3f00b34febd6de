"""Benchmark the tokenize stage against nanoGPT's prepare style (a per-document encode_ordinary loop).

Usage (from the repository root; about a minute on 2 cores):
    python benchmarks/bench_tokenize.py [--mb 20] [--threads N] [--repeat 3]

Input: the articles of every part of the sample mirror, cleaned by src/wikitext.py, repeated to at
least `--mb` MB of text and written as the extract stage writes it (gzip JSON Lines). Measured in the
same run, best of `--repeat`, on the same documents:
    baseline   nanoGPT's data/openwebtext/prepare.py per document, one process: read the same gzip
               JSON Lines, ids = enc.encode_ordinary(text); ids.append(eot), write uint16 tokens
    ours       src/tokenize_text.py's tokenize_file: read the gzip JSON Lines, encode in batches with
               tiktoken's thread pool, split train/val by page id, write uint16 files (the whole stage)
               with 1 thread and with `--threads` (default: every core)
Prints tokens/s for each and the ratio against the baseline, and checks that both give the same tokens.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import indexed_bzip2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

import wikitext
from extract import dump_files, iter_pages
from tokenize_text import tokenize_file
from tokens import EOT, gpt2_encoding


def sample_articles(mirror: Path) -> list[str]:
    """Cleaned text of every article page of every part in the sample mirror (its single-stream files)."""
    texts = []
    for path in dump_files(mirror):
        if "multistream" in path.name:  # the same pages again, and their indexes
            continue
        with indexed_bzip2.open(str(path)) as raw:
            for page in iter_pages(raw):
                cleaned, disambiguation = wikitext.clean_page(page.text, None, page.site)
                if cleaned and not disambiguation:
                    texts.append(cleaned)
    return texts


def write_input(texts: list[str], min_mb: float, path: Path) -> tuple[list[str], int]:
    """Repeat `texts` to >= min_mb MB of UTF-8 and write them as extract output; returns (docs, bytes)."""
    docs, size, page_id = [], 0, 0
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as out:
        while size < min_mb * 1e6:
            for text in texts:
                page_id += 1
                docs.append(text)
                size += len(text.encode("utf-8"))
                out.write(json.dumps({"id": str(page_id), "url": "", "title": "", "text": text},
                                     ensure_ascii=False) + "\n")
    return docs, size


def nanogpt_loop(text_path: Path, out: Path) -> np.ndarray:
    """nanoGPT's prepare.py per document (encode_ordinary, append EOT) over the same input and output:
    read the gzip JSON Lines, encode one document at a time, write the uint16 tokens."""
    enc = gpt2_encoding()
    arrays = []
    with gzip.open(text_path, "rt", encoding="utf-8") as lines:
        for line in lines:
            ids = enc.encode_ordinary(json.loads(line)["text"])
            ids.append(EOT)
            arrays.append(np.array(ids, dtype=np.uint16))
    tokens = np.concatenate(arrays)
    tokens.tofile(out)
    return tokens


def best_of(repeat: int, run):
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=20, help="MB of text to tokenize")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mirror", type=Path, default=REPO / "data/mirror/enwiki/20251101")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_tokenize_") as tmp:
        tmp = Path(tmp)
        text_path = tmp / "text.jsonl.gz"
        docs, size = write_input(sample_articles(args.mirror), args.mb, text_path)
        print(f"input: {len(docs):,} documents, {size / 1e6:.1f} MB of text; {args.threads} thread(s) "
              f"for the parallel run; best of {args.repeat}", flush=True)

        seconds, tokens = best_of(args.repeat, lambda: nanogpt_loop(text_path, tmp / "baseline.bin"))
        rows = [("baseline: nanoGPT loop (read, encode, write)", 1, seconds, len(tokens))]
        for threads in sorted({1, args.threads}):
            out = tmp / f"tokens-{threads}"
            seconds, meta = best_of(args.repeat, lambda out=out, threads=threads:
                                    tokenize_file(text_path, out, 0.0, threads))
            ours = np.fromfile(out / "train.bin", dtype=np.uint16)
            if not np.array_equal(ours, tokens):
                sys.exit(f"error: tokenize_file with {threads} thread(s) gave other tokens than the loop")
            rows.append(("ours: tokenize stage (read, encode, write)", threads, seconds,
                         meta["train"]["tokens"]))

    baseline = rows[0][3] / rows[0][2]
    print(f"\n{'run':<46}{'threads':>8}{'seconds':>9}{'tokens':>12}{'tokens/s':>12}{'ratio':>8}")
    for name, threads, seconds, count in rows:
        speed = count / seconds
        print(f"{name:<46}{threads:>8}{seconds:>9.2f}{count:>12,}{speed:>12,.0f}{speed / baseline:>7.2f}x")
    print("(same tokens from every run: checked)")


if __name__ == "__main__":
    main()
