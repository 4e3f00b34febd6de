"""Extract the articles of one dump part as plain text (JSON Lines, gzip).

Usage (from the repository root):
    python src/extract.py --dump data/dump/1 --out data/text/1.jsonl.gz --stats data/text/1.stats.json

Reads the part's `*.bz2` files in `--dump` (in order of first page id), keeps articles (namespace 0, not a
redirect, wikitext, not a disambiguation page, at least `extract.min_chars` characters once cleaned)
and writes one line per article, in dump order:
    {"id":"12","url":"https://en.wikipedia.org/wiki?curid=12","title":"Anarchism","text":"..."}
The text is cleaned with the wiki's own namespace names and its language's rules, read from the part's
`<siteinfo>` (src/languages.py; in a multistream part, from its header stream).
`--stats` gets the counts: pages seen, articles kept, pages dropped per reason, MB of XML, characters,
and the site: the wiki's language, the language table used ("en" where the language has none) and how
many namespace names the dump gave.
Prints progress (bz2 MB read, rate, ETA: src/progress.py) and one closing line, here for part 1 of
the sample mirror:
    extract: 11 articles, 453,500 chars, 63 skipped, 0.6 s, 1.9 MB/s of XML

Multistream parts (`...-multistreamN.xml-...bz2` with its `-multistream-indexN.txt-...bz2`): the
index gives every bz2 stream's offset, so each of `resources.processes` workers reads, decompresses,
parses and cleans its own runs of streams; nothing is done by a single reader, and the stage scales with
the processes. Single-stream parts: indexed_bzip2 decompresses the stream (in parallel threads beyond
two workers) into one streaming parser in this process, which feeds chunks of pages to the workers.
Either way at most CHUNKS_IN_FLIGHT tasks per worker are queued, so memory stays flat whatever the
size of the part, and the output is byte-identical whatever the format and the number of processes:
articles come out in dump order and are cut into gzip members (mtime 0) at fixed offsets of the text.
"""

from __future__ import annotations

import argparse
import bz2
import io
import json
import multiprocessing
import os
import re
import time
from collections import Counter, deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import NamedTuple

import indexed_bzip2
import orjson
from isal import igzip
from lxml import etree

import languages
import wikitext
from atomic import atomic_path
from params import load_params, process_count
from preflight import DiskSpaceError, check_space, extract_need
from progress import Progress
from runlog import StageError, record, run_stage

# A chunk of pages sent to a worker (single-stream parts) holds about this many characters of
# wikitext: big enough that pickling costs little, small enough to keep every worker busy.
CHUNK_CHARS = 1_000_000
# A worker's run of streams (multistream parts): about this many bytes of bz2 (~4 MB of XML, ~15
# streams of 100 pages on enwiki), read, decompressed and cleaned by the worker alone.
TASK_BZ2_BYTES = 1 << 20
# Tasks in flight per worker: one running, one queued. Answers wait in this process until their turn
# (~1.6 MB of JSON each), so this bounds its memory: ~50 MB of them with 16 processes.
CHUNKS_IN_FLIGHT = 2
# Output gzip members hold this many bytes of JSON lines each: fixed offsets of the text, so the bytes
# depend on the text alone (a member per chunk would depend on how the pages were grouped).
GZIP_BLOCK = 4 << 20
# ISA-L's gzip (isal), level 2: plain gzip, a little bigger than zlib's level 6 at a small fraction of
# its time and smaller than zlib's level 1 (docs/benchmarks.md, "Small measurements behind code choices").
GZIP_LEVEL = 2
PART_FILE = re.compile(r"-p(\d+)p(\d+)\.bz2$")
REASONS = ("namespace", "redirect", "not_wikitext", "disambiguation", "too_short", "error")
MULTISTREAM, MULTISTREAM_INDEX = "-pages-articles-multistream", "-pages-articles-multistream-index"


class DumpError(StageError):
    """A dump file that cannot be read to its end (truncated, corrupt, not XML)."""


def dump_files(dump_dir: Path) -> list[Path]:
    """The part's `*.bz2` files, in order of their first page id (`...-p{FIRST}p{LAST}.bz2`)."""
    files = [path for path in dump_dir.glob("*.bz2") if path.is_file()]

    def first_page(path: Path) -> tuple[int, str]:
        match = PART_FILE.search(path.name)
        return (int(match.group(1)) if match else 0, path.name)

    return sorted(files, key=first_page)


def multistream_pairs(files: list[Path]) -> list[tuple[Path, Path]] | None:
    """[(multistream dump, its index)] when `files` are a multistream part, None for a single-stream one.

    Raises DumpError when an index lacks its dump or the reverse, or both formats are mixed.
    """
    indexes = {path.name: path for path in files if MULTISTREAM_INDEX in path.name}
    dumps = [path for path in files if path.name not in indexes]
    multistream = [path for path in dumps if MULTISTREAM in path.name]
    if not indexes and not multistream:
        return None
    if len(multistream) != len(dumps):
        raise DumpError(f"{files[0].parent}: holds both single-stream and multistream files; run the "
                        "download stage again")
    pairs = []
    for path in multistream:
        # its index: "-multistream1.xml-p1p9.bz2" -> "-multistream-index1.txt-p1p9.bz2"; a smaller wiki's
        # whole dump "-multistream.xml.bz2" -> "-multistream-index.txt.bz2"
        index = re.sub(r"-multistream(\d*)\.xml([-.])", r"-multistream-index\1.txt\2", path.name)
        if index not in indexes:
            raise DumpError(f"{path}: its index {index} is missing; run the download stage again")
        pairs.append((path, indexes.pop(index)))
    if indexes:
        raise DumpError(f"{', '.join(map(str, indexes.values()))}: an index without its dump; run the "
                        "download stage again")
    return pairs


def article_url(base: str, page_id: str) -> str:
    """Siteinfo's base ("https://en.wikipedia.org/wiki/Main_Page") -> the page's curid URL."""
    match = re.match(r"(\w+:)?//[^/]+", base)
    host = match.group(0) if match else "https://en.wikipedia.org"
    return f"{host}/wiki?curid={page_id}"


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


class Page(NamedTuple):
    id: str
    url: str
    title: str
    text: str  # wikitext
    timestamp: str  # the revision's ("2016-04-22T10:19:33Z")
    site: languages.Site  # the wiki's namespaces and language rules, from the dump's siteinfo


class Returning:
    """A generator whose return value is kept: a for loop drops it (`yield from` keeps it, but only
    inside another generator). Iterate, then read `returned`:
        pages = Returning(iter_pages(stream))
        for page in pages: ...
        counts = pages.returned
    """

    def __init__(self, generator):
        self.generator, self.returned = generator, None

    def __iter__(self):
        self.returned = yield from self.generator


def iter_pages(stream, base: str = "", site: languages.Site | None = None):
    """Yield a Page for every article page of an XML dump stream; return the counts of the pages seen
    and of those skipped (other namespaces, redirects, non-wikitext, no usable id).

    `base` and `site` are the siteinfo's base URL and site when the stream has no siteinfo (a run of
    multistream streams); a stream with none at all is read as English Wikipedia's.
    """
    counts: Counter = Counter()
    site = site or languages.english()
    parser = etree.iterparse(stream, events=("end",), tag=("{*}page", "{*}siteinfo"), huge_tree=True,
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
        if _local(element.tag) == "siteinfo":
            base, site = read_siteinfo(element)
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
            yield Page(page_id, article_url(base, page_id), title or "", revision.get("text") or "",
                       revision.get("timestamp") or "", site)
        # Free the page and everything parsed before it: memory stays flat.
        element.clear(keep_tail=True)
        while element.getprevious() is not None:
            del element.getparent()[0]
    return counts


def read_siteinfo(siteinfo) -> tuple[str, languages.Site]:
    """A `<siteinfo>` element -> (its base URL, the wiki's site: namespaces and language rules)."""
    base = siteinfo.find("{*}base")
    return (base.text or "") if base is not None else "", languages.read_siteinfo(siteinfo, siteinfo.getparent())


def decompression_threads(processes: int) -> int:
    """Threads for indexed_bzip2: one per worker, except for one or two workers.

    One thread decodes bz2 faster than two workers clean what it gives them (decoding is under half of
    one core's time per MB: docs/benchmarks.md, "Extraction"); parallel decoding costs more CPU, which
    only pays once decoding is the bottleneck.
    """
    return processes if processes > 2 else 1


def iter_chunks(files: list[Path], processes: int):
    """Yield the article pages of every single-stream file, grouped in chunks of about CHUNK_CHARS
    characters, as (chunk, compressed bytes of the files read so far: for progress); return the counts
    of reading them: pages seen and skipped (iter_pages), and "xml_bytes"."""
    counts: Counter = Counter()
    chunk, size, done = [], 0, 0
    for path in files:
        try:
            with indexed_bzip2.open(str(path), parallelization=decompression_threads(processes)) as raw:
                pages = Returning(iter_pages(raw))
                for page in pages:
                    chunk.append(page)
                    size += len(page[3])
                    if size >= CHUNK_CHARS:
                        yield chunk, done + raw.tell_compressed() // 8
                        chunk, size = [], 0
                counts.update(pages.returned)
                counts["xml_bytes"] += raw.tell()
        except (etree.XMLSyntaxError, OSError, RuntimeError, ValueError) as exc:
            raise DumpError(f"{path}: cannot read to the end (truncated or corrupt?): {exc}") from exc
        done += path.stat().st_size
    if chunk:
        yield chunk, done
    return counts


def read_index(path: Path) -> tuple[list[int], int]:
    """A multistream index (`OFFSET:PAGE_ID:TITLE` lines, bz2) -> (stream offsets in order, pages listed)."""
    offsets: list[int] = []
    pages = 0
    try:
        with bz2.open(path, "rb") as lines:
            for number, line in enumerate(lines, start=1):
                offset = line.split(b":", 1)[0]
                if not offset.isdigit():
                    raise ValueError(f"line {number} is not OFFSET:PAGE_ID:TITLE: {line[:200]!r}")
                pages += 1
                if not offsets or int(offset) != offsets[-1]:
                    offsets.append(int(offset))
    except (OSError, EOFError, ValueError) as exc:
        raise DumpError(f"{path}: cannot read the index (truncated or corrupt?): {exc}") from exc
    if offsets != sorted(set(offsets)) or not offsets:
        raise DumpError(f"{path}: its stream offsets are not increasing (or it is empty); download it again")
    return offsets, pages


class Header(NamedTuple):
    """The first stream of a multistream dump: `<mediawiki>` and its siteinfo."""
    prolog: bytes  # the XML up to and with the `<mediawiki ...>` start tag, put before each run of pages
    base: str  # the siteinfo's base URL
    site: languages.Site
    size: int  # bytes of XML


def read_header(path: Path, size: int) -> Header:
    """The first `size` bytes of a multistream dump, its header stream, read."""
    xml = read_streams(path, 0, size)
    start = re.search(rb"<mediawiki\b[^>]*>", xml)
    if start is None or b"<page>" in xml:
        raise ValueError("its first bz2 stream is not a <mediawiki> header")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    root = etree.fromstring(xml + b"</mediawiki>", parser)
    doctype = root.getroottree().docinfo.doctype
    if doctype:  # as in iter_pages: entities a DTD declares would never be resolved
        raise ValueError(f"it declares a document type ({doctype[:200]}); a Wikimedia dump has none, and "
                         "its entities are never resolved: refusing the file")
    siteinfo = root.find("{*}siteinfo")
    base, site = read_siteinfo(siteinfo) if siteinfo is not None else ("", languages.english())
    return Header(xml[:start.end()], base, site, len(xml))


def stream_runs(path: Path, offsets: list[int], size: int) -> list[tuple[str, list[int]]]:
    """The page streams of a multistream dump, grouped into runs of about TASK_BZ2_BYTES: a run is
    (path, [start of each stream..., end of the last]); the last run ends at the end of the file, so it
    also holds the closing `</mediawiki>` stream."""
    if offsets[-1] >= size:
        raise DumpError(f"{path}: its index points past the end of the file ({offsets[-1]:,} >= {size:,} "
                        "bytes): truncated? download it again")
    bounds = offsets + [size]
    runs, first = [], 0
    for i in range(1, len(bounds)):
        if bounds[i] - bounds[first] >= TASK_BZ2_BYTES or i == len(bounds) - 1:
            runs.append((str(path), bounds[first:i + 1]))
            first = i
    return runs


def _revision_date(timestamp: str) -> tuple[int, int, int] | None:
    # "2016-04-22T10:19:33Z" -> (2016, 4, 22): age templates count to the revision's date
    try:
        return int(timestamp[0:4]), int(timestamp[5:7]), int(timestamp[8:10])
    except ValueError:
        return None


def clean_chunk(pages, min_chars: int) -> tuple[bytes, Counter]:
    """Worker: pages -> (their articles of at least `min_chars` characters as JSON lines, UTF-8; the
    counts of articles, characters and pages dropped)."""
    counts: Counter = Counter()
    lines = []
    for page_id, url, title, text, timestamp, site in pages:
        try:
            cleaned, disambiguation = wikitext.clean_page(text, _revision_date(timestamp), site)
            kept = not disambiguation and len(cleaned) >= min_chars
            # orjson writes UTF-8 JSON far faster than json.dumps and encode (docs/benchmarks.md,
            # "Extraction"); it refuses a lone surrogate, which counts as an error here.
            line = orjson.dumps({"id": page_id, "url": url, "title": title, "text": cleaned}) if kept else b""
        except Exception:  # one bad page must not stop the part; it is counted
            counts["error"] += 1
            continue
        if disambiguation:
            counts["disambiguation"] += 1
            continue
        if len(cleaned) < min_chars:
            counts["too_short"] += 1
            continue
        counts["articles"] += 1
        counts["chars"] += len(cleaned)
        lines.append(line)
    return b"\n".join(lines) + b"\n" if lines else b"", counts


class _FileWindow(io.RawIOBase):
    """Bytes [start, end) of an open file (a descriptor, read with os.pread), as a file of their own.

    indexed_bzip2 (1.7.0) never lets go of a Python file object it has decoded, so what it is given
    must be small: a window holds four numbers, where a BytesIO of the run would keep its ~1 MB of bz2
    (RSS measured both ways: docs/benchmarks.md, "Extraction"; tests/test_extract.py keeps it flat)."""

    def __init__(self, fd: int, start: int, end: int):
        super().__init__()
        self.fd, self.start, self.end, self.position = fd, start, end, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.end - self.start}[whence]
        self.position = max(base + offset, 0)
        return self.position

    def read(self, size: int | None = -1) -> bytes:
        left = max(self.end - self.start - self.position, 0)
        size = left if size is None or size < 0 else min(size, left)
        data = os.pread(self.fd, size, self.start + self.position)
        self.position += len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def decompress_window(fd: int, start: int, end: int) -> bytes:
    """Bytes [start, end) of a file, a run of whole bz2 streams, decompressed by indexed_bzip2 (less CPU
    than the bz2 module: docs/benchmarks.md, "Extraction"); anything but whole streams in them is an error."""
    with indexed_bzip2.open(_FileWindow(fd, start, end), parallelization=1) as raw:
        xml = raw.read()
        decoded = (raw.tell_compressed() + 7) // 8  # bytes: it counts bits
    # Bytes after the last stream end the decoding with a warning only; they are damage here.
    if decoded != end - start:
        raise EOFError(f"bytes {start + decoded:,}-{end:,} are not bz2 streams")
    return xml


def read_streams(path: str | Path, start: int, end: int) -> bytes:
    """Bytes [start, end) of a multistream dump, whole bz2 streams, decompressed (decompress_window)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size < end:
            raise EOFError(f"the file ends at byte {size:,}, before {end:,}")
        return decompress_window(fd, start, end)
    finally:
        os.close(fd)


def clean_streams(path: str, bounds: list[int], header: Header, min_chars: int) -> tuple[bytes, Counter]:
    """Worker: a run of multistream streams (bytes [offsets..., end] of `path`) -> (JSON lines, counts:
    clean_chunk's, iter_pages' and "xml_bytes").

    Reads and decompresses its own bytes, so no single reader limits the stage."""
    try:
        xml = read_streams(path, bounds[0], bounds[-1])
        body = xml.rstrip()
        if body.endswith(b"</mediawiki>"):  # the last run holds the closing stream
            body = body[:-len(b"</mediawiki>")]
        xml_of_run = io.BytesIO(header.prolog + body + b"</mediawiki>")
        pages = Returning(iter_pages(xml_of_run, header.base, header.site))
        lines, counts = clean_chunk(pages, min_chars)
        counts.update(pages.returned)
        counts["xml_bytes"] = len(xml)
        return lines, counts
    except (etree.XMLSyntaxError, OSError, EOFError, RuntimeError, ValueError) as exc:
        raise DumpError(f"{path}: cannot read the streams at bytes {bounds[0]:,}-{bounds[-1]:,} "
                        f"(truncated or corrupt?): {exc}") from exc


def _in_order(work, tasks, processes: int):
    """(work(*arguments), note) for every task (arguments, note), in order: here with one process, else
    in `processes` workers. A note stays in this process: what the reader knew of the task (how far it
    had read, the site).

    At most CHUNKS_IN_FLIGHT tasks per worker are queued, so the reader never runs ahead of the
    workers. A worker that dies (killed, out of memory) raises BrokenProcessPool instead of hanging.
    """
    if processes == 1:
        # One process: work here, no pickling or worker start-up (a third less CPU than a pool of
        # one on a single core); the same tasks, so the same bytes.
        for arguments, note in tasks:
            yield work(*arguments), note
        return
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork")) as pool:
        pending: deque = deque()  # (future, note)
        for arguments, note in tasks:
            pending.append((pool.submit(work, *arguments), note))
            if len(pending) >= CHUNKS_IN_FLIGHT * processes:
                future, note = pending.popleft()
                yield future.result(), note
        while pending:
            future, note = pending.popleft()
            yield future.result(), note


def cleaned_parts(files: list[Path], min_chars: int, processes: int):
    """Yield the part's articles in dump order as (JSON lines, compressed bytes read so far, articles so
    far), from its single-stream files (one reader feeding the workers) or its multistream files (each
    worker reads its own streams); return (the counts, the sites their siteinfo describe).

    The one place that adds up the counts: the reader's, and those each task brings back."""
    counts: Counter = Counter()
    sites: set = set()
    pairs = multistream_pairs(files)
    if pairs is None:
        chunks = Returning(iter_chunks(files, processes))
        # a task: (clean_chunk's arguments, its note: the bytes read when it was cut, its site)
        tasks = (((chunk, min_chars), (read, chunk[0].site)) for chunk, read in chunks)
        for (lines, chunk_counts), (read, site) in _in_order(clean_chunk, tasks, processes):
            counts.update(chunk_counts)
            sites.add(site)
            yield lines, read, counts["articles"]
        counts.update(chunks.returned)
        # all read: the last chunk may have been cut before the end of its file (parallel decoding
        # even reports 0 bytes read near the end)
        yield b"", sum(path.stat().st_size for path in files), counts["articles"]
        return counts, sites
    done = 0  # compressed bytes of the files before this one
    for path, index in pairs:
        offsets, listed = read_index(index)
        size = path.stat().st_size
        try:
            header = read_header(path, offsets[0])
        except (etree.XMLSyntaxError, OSError, EOFError, RuntimeError, ValueError) as exc:
            raise DumpError(f"{path}: cannot read its header stream (truncated or corrupt?): {exc}") from exc
        sites.add(header.site)
        counts["xml_bytes"] += header.size
        # a task: (clean_streams' arguments, its note: the bytes read once its run is done)
        runs = [((run_path, bounds, header, min_chars), done + bounds[-1])
                for run_path, bounds in stream_runs(path, offsets, size)]
        pages = 0
        for (lines, run_counts), read in _in_order(clean_streams, runs, processes):
            counts.update(run_counts)
            pages += run_counts["pages"]
            yield lines, read, counts["articles"]
        if pages != listed:
            raise DumpError(f"{path}: holds {pages:,} pages, its index lists {listed:,}; download the part "
                            "again")
        done += size
    return counts, sites


def extract(files: list[Path], out_path: Path, min_chars: int, processes: int,
            progress: Progress) -> tuple[Counter, list[languages.Site]]:
    """Clean every article of `files` into `out_path` (gzip JSON Lines); returns the counts and the
    sites (namespaces and language rules) that the files' siteinfo describe.

    The JSON lines are cut into gzip members at fixed offsets of the text (GZIP_BLOCK bytes each), so
    the file's bytes depend on the text alone: not on the format of the dump, nor on the processes.
    """
    parts = Returning(cleaned_parts(files, min_chars, processes))
    pending = bytearray()
    try:
        with open(out_path, "wb") as out:
            for lines, bz2_read, articles in parts:
                pending += lines
                while len(pending) >= GZIP_BLOCK:
                    out.write(igzip.compress(pending[:GZIP_BLOCK], compresslevel=GZIP_LEVEL, mtime=0))
                    del pending[:GZIP_BLOCK]
                progress.update_to(bz2_read, f"{articles:,} articles")
            if pending or not out.tell():  # the rest, or a valid empty gzip file when no article was kept
                out.write(igzip.compress(bytes(pending), compresslevel=GZIP_LEVEL, mtime=0))
    except BrokenProcessPool as exc:
        raise DumpError(f"{files[0].parent}: a worker process died (killed, or out of memory?); "
                        "run the stage again, with fewer `resources.processes` if memory is short") from exc
    counts, sites = parts.returned
    return counts, sorted(sites, key=lambda site: (site.language, site.namespaces_given))


def stats_of(counts: Counter, files: list[Path], sites: list[languages.Site]) -> dict:
    """The stats file: counts only (no timings), so the same input gives the same bytes. "site" says
    which language's rules cleaned the text (a list if the files were of several wikis)."""
    described = [site.describe() for site in sites]
    return {
        "files": [path.name for path in files],
        "site": described[0] if len(described) == 1 else described,
        "pages_seen": counts["pages"],
        "articles_kept": counts["articles"],
        "dropped": {reason: counts[reason] for reason in REASONS},
        "xml_mb": round(counts["xml_bytes"] / 1e6, 3),
        "chars_written": counts["chars"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dump", type=Path, required=True, help="directory with the part's *.bz2")
    parser.add_argument("--out", type=Path, required=True, help="output .jsonl.gz")
    parser.add_argument("--stats", type=Path, required=True, help="output stats .json")
    args = parser.parse_args()
    params = load_params()
    min_chars = params.extract.min_chars
    processes = process_count(params)

    if not args.dump.is_dir():
        raise StageError(f"{args.dump} is not a directory; run the download stage first")
    files = dump_files(args.dump)
    if not files:
        raise StageError(f"no *.bz2 files in {args.dump}; run the download stage first")
    try:  # before a byte is written: the text must fit, with resources.disk_reserve_mb to spare
        check_space(args.out.parent, extract_need(files), params.resources.disk_reserve_mb,
                    f"the text of {args.dump}")
    except DiskSpaceError as exc:
        raise StageError(f"extract: {exc}") from exc

    started = time.perf_counter()
    progress = Progress(f"extract {args.dump}", sum(path.stat().st_size for path in files))
    try:
        with atomic_path(args.out) as tmp_out, atomic_path(args.stats) as tmp_stats:
            counts, sites = extract(files, tmp_out, min_chars, processes, progress)
            seconds = time.perf_counter() - started
            stats = stats_of(counts, files, sites)
            tmp_stats.write_text(json.dumps(stats, indent=2) + "\n")
    except OSError as exc:  # reading errors are DumpErrors: this is a write (disk full, read-only)
        raise StageError(f"extract: cannot write {exc.filename or args.out}: {exc.strerror or exc}; "
                         "earlier outputs are untouched: free space there and run the stage again") from exc
    finally:
        progress.close()

    skipped = stats["pages_seen"] - stats["articles_kept"]
    record(f"extract@{args.dump.name}", seconds, xml_mb=stats["xml_mb"], articles=stats["articles_kept"],
           processes=processes)
    print(f"extract: {stats['articles_kept']:,} articles, {stats['chars_written']:,} chars, "
          f"{skipped:,} skipped, {seconds:.1f} s, {stats['xml_mb'] / seconds:.1f} MB/s of XML")


if __name__ == "__main__":
    run_stage(main)
