"""Extract the articles of one dump part as plain text (JSON Lines, gzip).

Usage (from the repository root):
    python src/extract.py --dump data/dump/1 --out data/text/1.jsonl.gz --stats data/text/1.stats.json

Reads every `*.bz2` file in `--dump` (in order of first page id), keeps articles (namespace 0, not a
redirect, wikitext, not a disambiguation page, at least `extract.min_chars` characters once cleaned)
and writes one line per article, in dump order:
    {"id": "12", "url": "https://en.wikipedia.org/wiki?curid=12", "title": "Anarchism", "text": "..."}
`--stats` gets the counts: pages seen, articles kept, pages dropped per reason, MB of XML, characters.
Prints one closing line (here for part 1 of the sample mirror):
    extract: 11 articles, 453,500 chars, 63 skipped, 0.6 s, 1.9 MB/s of XML

The bz2 stream is decompressed by indexed_bzip2 (in parallel threads beyond two workers) and parsed
by one streaming parser in this process; cleaning runs in `resources.processes` worker processes,
fed through a bounded queue, so memory stays flat whatever the size of the part. The output is byte-identical for the same input
whatever the number of processes: each chunk of pages becomes one gzip member (mtime 0), and chunk
boundaries depend on the input alone.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import re
import sys
import time
from collections import Counter, deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import indexed_bzip2
from isal import igzip
from lxml import etree
from tqdm import tqdm

import wikitext
from atomic import atomic_path
from params import load_params, process_count
from preflight import DiskSpaceError, check_space, extract_need

# A chunk of pages sent to a worker holds about this many characters of wikitext: big enough that
# pickling and gzip headers cost little, small enough to keep every worker busy. It fixes the gzip
# member boundaries, so it must not depend on the number of processes.
CHUNK_CHARS = 1_000_000
# Chunks in flight per worker: bounds memory (about this many x CHUNK_CHARS x processes, a few MB each).
CHUNKS_IN_FLIGHT = 3
# ISA-L's gzip (isal), level 2: plain gzip, 12% bigger than zlib's level 6 at a sixteenth of its time
# (25.7 MB of JSON -> 10.6 MB in 0.10 s; zlib: 11.1 MB in 0.37 s at level 1, 9.4 MB in 1.6 s at 6).
GZIP_LEVEL = 2
READ_BUFFER = 1 << 20
PART_FILE = re.compile(r"-p(\d+)p(\d+)\.bz2$")
REASONS = ("namespace", "redirect", "not_wikitext", "disambiguation", "too_short", "error")


class DumpError(Exception):
    """A dump file that cannot be read to its end (truncated, corrupt, not XML)."""


def dump_files(dump_dir: Path) -> list[Path]:
    """The part's `*.bz2` files, in order of their first page id (`...-p{FIRST}p{LAST}.bz2`)."""
    files = [path for path in dump_dir.glob("*.bz2") if path.is_file()]

    def first_page(path: Path) -> tuple[int, str]:
        match = PART_FILE.search(path.name)
        return (int(match.group(1)) if match else 0, path.name)

    return sorted(files, key=first_page)


def article_url(base: str, page_id: str) -> str:
    """Siteinfo's base ("https://en.wikipedia.org/wiki/Main_Page") -> the page's curid URL."""
    match = re.match(r"(\w+:)?//[^/]+", base)
    host = match.group(0) if match else "https://en.wikipedia.org"
    return f"{host}/wiki?curid={page_id}"


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def iter_pages(stream, counts: Counter):
    """Yield (id, url, title, wikitext, timestamp) for every article page of an XML dump stream.

    Counts the pages it skips (other namespaces, redirects, non-wikitext) in `counts`.
    """
    base = ""
    parser = etree.iterparse(stream, events=("end",), tag=("{*}page", "{*}base"), huge_tree=True,
                             resolve_entities=False, no_network=True, remove_comments=True)
    doctype = None
    for _, element in parser:
        if doctype is None:
            # Wikimedia dumps have no DTD. Entities declared in one are never resolved, so a page that
            # used one would silently lose its text after the reference: refuse the file instead.
            doctype = element.getroottree().docinfo.doctype
            if doctype:
                raise ValueError(f"it declares a document type ({doctype[:200]}); a Wikimedia dump has "
                                 "none, and its entities are never resolved: refusing the file")
        if _local(element.tag) == "base":
            base = element.text or ""
            continue
        counts["pages"] += 1
        fields = {_local(child.tag): child for child in element}
        revision = {_local(child.tag): child.text for child in fields.get("revision", ())}
        ns = (fields["ns"].text or "").strip() if "ns" in fields else "0"
        page_id = (fields["id"].text or "").strip() if "id" in fields else ""
        if ns != "0":
            counts["namespace"] += 1
        elif "redirect" in fields:
            counts["redirect"] += 1
        elif revision.get("model", "wikitext") != "wikitext":
            counts["not_wikitext"] += 1
        elif not page_id.isdigit():
            counts["error"] += 1  # a page without a usable id: counted, not fatal
        else:
            title = fields["title"].text if "title" in fields else None
            yield (page_id, article_url(base, page_id), title or "", revision.get("text") or "",
                   revision.get("timestamp") or "")
        # Free the page and everything parsed before it: memory stays flat.
        element.clear(keep_tail=True)
        while element.getprevious() is not None:
            del element.getparent()[0]


def decompression_threads(processes: int) -> int:
    """Threads for indexed_bzip2: one per worker, except for one or two workers.

    One thread decompresses ~25 MB/s of XML, faster than two workers clean (~13 MB/s each); parallel
    decoding costs ~50% more CPU (measured on 2 cores), which only pays once it is the bottleneck.
    """
    return processes if processes > 2 else 1


def iter_chunks(files: list[Path], processes: int, counts: Counter):
    """Article pages of every file, grouped in chunks of about CHUNK_CHARS characters."""
    chunk, size = [], 0
    for path in files:
        try:
            with indexed_bzip2.open(str(path), parallelization=decompression_threads(processes)) as raw:
                for page in iter_pages(raw, counts):
                    chunk.append(page)
                    size += len(page[3])
                    if size >= CHUNK_CHARS:
                        yield chunk
                        chunk, size = [], 0
                counts["xml_bytes"] += raw.tell()
        except (etree.XMLSyntaxError, OSError, RuntimeError, ValueError) as exc:
            raise DumpError(f"{path}: cannot read to the end (truncated or corrupt?): {exc}") from exc
    if chunk:
        yield chunk


_MIN_CHARS = 0


def _init_worker(min_chars: int) -> None:
    global _MIN_CHARS
    _MIN_CHARS = min_chars


def _revision_date(timestamp: str) -> tuple[int, int, int] | None:
    # "2016-04-22T10:19:33Z" -> (2016, 4, 22): age templates count to the revision's date
    try:
        return int(timestamp[0:4]), int(timestamp[5:7]), int(timestamp[8:10])
    except ValueError:
        return None


def clean_chunk(chunk: list[tuple]) -> tuple[bytes, Counter]:
    """Worker: a chunk of pages -> (one gzip member of JSON lines, counts)."""
    counts: Counter = Counter()
    lines = []
    for page_id, url, title, text, timestamp in chunk:
        try:
            cleaned, disambiguation = wikitext.clean_page(text, _revision_date(timestamp))
        except Exception:  # one bad page must not stop the part; it is counted
            counts["error"] += 1
            continue
        if disambiguation:
            counts["disambiguation"] += 1
            continue
        if len(cleaned) < _MIN_CHARS:
            counts["too_short"] += 1
            continue
        counts["articles"] += 1
        counts["chars"] += len(cleaned)
        lines.append(json.dumps({"id": page_id, "url": url, "title": title, "text": cleaned},
                                ensure_ascii=False))
    if not lines:
        return b"", counts
    data = ("\n".join(lines) + "\n").encode("utf-8")
    return igzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0), counts


def _cleaned_in_pool(chunks, min_chars: int, processes: int):
    """(gzip member, counts) of every chunk, in order, cleaned by `processes` worker processes.

    At most CHUNKS_IN_FLIGHT chunks per worker are queued, so the reader never runs ahead of the
    workers. A worker that dies (killed, out of memory) raises BrokenProcessPool instead of hanging.
    """
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"),
                             initializer=_init_worker, initargs=(min_chars,)) as pool:
        pending: deque = deque()
        for chunk in chunks:
            pending.append(pool.submit(clean_chunk, chunk))
            if len(pending) >= CHUNKS_IN_FLIGHT * processes:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def extract(files: list[Path], out_path: Path, min_chars: int, processes: int) -> Counter:
    """Clean every article of `files` into `out_path` (gzip JSON Lines); returns the counts."""
    counts: Counter = Counter()
    chunks = iter_chunks(files, processes, counts)
    if processes == 1:
        # One process: clean here, no pickling or worker start-up (a third less CPU than a pool of
        # one on a single core); the same chunks, so the same bytes.
        _init_worker(min_chars)
        results = map(clean_chunk, chunks)
    else:
        results = _cleaned_in_pool(chunks, min_chars, processes)
    progress = tqdm(unit=" articles", desc="extract", mininterval=1.0, disable=None)
    try:
        with open(out_path, "wb") as out:
            for member, chunk_counts in results:
                out.write(member)
                counts.update(chunk_counts)
                progress.update(chunk_counts["articles"])
            if not counts["articles"]:
                out.write(gzip.compress(b"", mtime=0))  # a valid, empty gzip file, not zero bytes
    except BrokenProcessPool as exc:
        raise DumpError(f"{files[0].parent}: a worker process died (killed, or out of memory?); "
                        "run the stage again, with fewer `resources.processes` if memory is short") from exc
    finally:
        progress.close()
    return counts


def stats_of(counts: Counter, files: list[Path], seconds: float) -> dict:
    return {
        "files": [path.name for path in files],
        "pages_seen": counts["pages"],
        "articles_kept": counts["articles"],
        "dropped": {reason: counts[reason] for reason in REASONS},
        "xml_mb": round(counts["xml_bytes"] / 1e6, 3),
        "chars_written": counts["chars"],
        "seconds": round(seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dump", type=Path, required=True, help="directory with the part's *.bz2")
    parser.add_argument("--out", type=Path, required=True, help="output .jsonl.gz")
    parser.add_argument("--stats", type=Path, required=True, help="output stats .json")
    args = parser.parse_args()
    params = load_params()
    min_chars = params["extract"]["min_chars"]
    processes = process_count(params)

    if not args.dump.is_dir():
        sys.exit(f"error: {args.dump} is not a directory; run the download stage first")
    files = dump_files(args.dump)
    if not files:
        sys.exit(f"error: no *.bz2 files in {args.dump}; run the download stage first")
    try:  # before a byte is written: the text must fit, with resources.disk_reserve_mb to spare
        check_space(args.out.parent, extract_need(files), params["resources"]["disk_reserve_mb"],
                    f"the text of {args.dump}")
    except DiskSpaceError as exc:
        sys.exit(f"error: extract: {exc}")

    started = time.perf_counter()
    try:
        with atomic_path(args.out) as tmp_out, atomic_path(args.stats) as tmp_stats:
            counts = extract(files, tmp_out, min_chars, processes)
            seconds = time.perf_counter() - started
            stats = stats_of(counts, files, seconds)
            tmp_stats.write_text(json.dumps(stats, indent=2) + "\n")
    except DumpError as exc:
        sys.exit(f"error: {exc}")
    except OSError as exc:  # reading errors are DumpErrors: this is a write (disk full, read-only)
        sys.exit(f"error: extract: cannot write {exc.filename or args.out}: {exc.strerror or exc}; "
                 "earlier outputs are untouched: free space there and run the stage again")

    skipped = stats["pages_seen"] - stats["articles_kept"]
    print(f"extract: {stats['articles_kept']:,} articles, {stats['chars_written']:,} chars, "
          f"{skipped:,} skipped, {seconds:.1f} s, {stats['xml_mb'] / seconds:.1f} MB/s of XML")


if __name__ == "__main__":
    main()
