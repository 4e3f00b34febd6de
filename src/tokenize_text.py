"""Stage `tokenize@N`: encode part N's articles with GPT-2 BPE into uint16 token files.

    python src/tokenize_text.py --text data/text/1.jsonl.gz --out data/tokens/1

Writes `--out/train.bin`, `--out/val.bin` (uint16 ids, each document followed by EOT 50256) and
`--out/meta.json` (tokens and documents per split). A document's split is decided by its page id
(`tokenize.val_fraction`), so it never changes side when parts are added. Documents are encoded in
batches by tiktoken's thread pool, one thread per core, while this thread reads and parses the next
batch and writes the previous one; memory holds two batches at a time. Shows progress (MB of the
gzip input read, rate, ETA; plain lines when not on a terminal: src/progress.py), then prints: `data/tokens/1: 9 train docs 81,234 tokens, 1 val docs 9,120 tokens, 1.2 s (75,000 tokens/s)`.
"""

from __future__ import annotations

import argparse
import errno
import io
import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path

import numpy as np
from isal import igzip, isal_zlib

from atomic import fresh_folder, swap_folder
from params import load_params, process_count
from progress import Progress
from runlog import StageError, record, run_stage
from tokens import DTYPE, EOT, SPLITS, gpt2_encoding, is_validation, write_json_atomic

BATCH_DOCS = 256  # documents per encode call: enough to keep every thread busy, small in memory


def read_articles(path: Path, progress: Progress | None = None):
    """Yield (page id, text) from a JSON Lines (optionally gzip) file of extracted articles; `progress`
    follows the bytes of the file read."""
    with open(path, "rb") as raw:
        # ISA-L: gzip at twice zlib's speed
        binary = igzip.IGzipFile(fileobj=raw, mode="rb") if path.suffix == ".gz" else raw
        lines = io.TextIOWrapper(binary, encoding="utf-8")
        for number, line in enumerate(lines, start=1):
            try:
                article = json.loads(line)
                yield int(article["id"]), article["text"]
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{number}: not an article line {{\"id\", \"text\", ...}} ({exc})") from exc
            if progress is not None and number % BATCH_DOCS == 0:
                progress.update_to(raw.tell(), f"{number:,} documents")


def encode_batch(encoding, texts: list[str], threads: int) -> list[np.ndarray]:
    """Token arrays of `texts`, each ending with EOT (which separates documents in the stream)."""
    encoded = encoding.encode_ordinary_batch(texts, num_threads=threads)
    return [np.array(ids + [EOT], dtype=DTYPE) for ids in encoded]


def tokenize_file(text_path: Path, out: Path, val_fraction: float, threads: int,
                  progress: Progress | None = None) -> dict:
    """Write out/{train,val}.bin and out/meta.json through a temp folder; returns the meta."""
    encoding = gpt2_encoding()
    staging = fresh_folder(out)
    counts = {split: {"tokens": 0, "documents": 0} for split in SPLITS}
    files = {split: open(staging / f"{split}.bin", "wb") for split in SPLITS}
    def write(batch: list[tuple[int, str]], arrays: list[np.ndarray]) -> None:
        for (page_id, _), array in zip(batch, arrays):
            split = "val" if is_validation(page_id, val_fraction) else "train"
            files[split].write(memoryview(array).cast("B"))  # not tofile(): its short-write error has no errno
            counts[split]["tokens"] += len(array)
            counts[split]["documents"] += 1

    try:
        articles = read_articles(text_path, progress)
        # tiktoken releases the GIL while it encodes: read batch k+1 while batch k is encoded.
        with ThreadPoolExecutor(max_workers=1) as encoder:
            pending = None
            while batch := list(islice(articles, BATCH_DOCS)):
                future = encoder.submit(encode_batch, encoding, [text for _, text in batch], threads)
                if pending:
                    write(pending[0], pending[1].result())
                pending = (batch, future)
            if pending:
                write(pending[0], pending[1].result())
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # never leave a half-written folder behind
        raise
    finally:
        for f in files.values():
            f.close()
    meta = {"encoding": "gpt2", "dtype": "uint16", "eot": EOT, "source": str(text_path),
            "val_fraction": val_fraction, **counts}
    write_json_atomic(staging / "meta.json", meta)
    swap_folder(staging, out)
    return meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    params = load_params()
    started = time.time()
    progress = Progress(f"tokenize {args.text}", args.text.stat().st_size if args.text.exists() else None)
    try:
        meta = tokenize_file(args.text, args.out, params.tokenize.val_fraction, process_count(params),
                             progress)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS):  # writing, not reading
            raise StageError(f"tokenize: cannot write {args.out}: {exc.strerror}; the earlier {args.out} is "
                             "untouched: free space and run again") from exc
        raise StageError(f"tokenize: {args.text}: {exc}; run `dvc repro` to re-extract it") from exc
    except (ValueError, EOFError, isal_zlib.error) as exc:  # EOFError: a truncated gzip
        raise StageError(f"tokenize: {args.text}: {exc}; run `dvc repro` to re-extract it") from exc
    finally:
        progress.close()
    seconds = time.time() - started
    total = meta["train"]["tokens"] + meta["val"]["tokens"]
    record(f"tokenize@{args.out.name}", seconds, tokens=total)
    print(f"{args.out}: {meta['train']['documents']:,} train docs {meta['train']['tokens']:,} tokens, "
          f"{meta['val']['documents']:,} val docs {meta['val']['tokens']:,} tokens, "
          f"{seconds:.1f} s ({total / max(seconds, 1e-9):,.0f} tokens/s)")


if __name__ == "__main__":
    run_stage(main)
