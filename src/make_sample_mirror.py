"""Build a dump mirror laid out like Wikimedia's from any pages-articles dump, split by page-id range.

    python src/make_sample_mirror.py SOURCE.xml.bz2 --out data/mirror --wiki enwiki --date 20251101 \
        --parts 10 --split-last 2

writes `data/mirror/enwiki/20251101/` with `enwiki-20251101-pages-articlesN.xml-pFIRSTpLAST.bz2` (N = 1..parts,
page-id ranges with nearly equal article counts, each file a complete, valid dump: the source's header and
siteinfo, its pages verbatim, the closing tag), the same pages again as Wikimedia's multistream files
(`...-pages-articles-multistreamN.xml-pFIRSTpLAST.bz2`: one bz2 stream for the header, one per
`--pages-per-stream` pages, one for the closing tag; with `...-pages-articles-multistream-indexN.txt-pFIRSTpLAST.bz2`,
one `OFFSET:PAGE_ID:TITLE` line per page), `dumpstatus.json` (size, md5, sha1, url per file under the
`articlesdump` and `articlesmultistreamdump` jobs, as Wikimedia publishes them) and the `-sha1sums.txt` and
`-md5sums.txt` files. `--split-last K` cuts the last part into K files, the way Wikimedia splits parts
11 and up, so the multi-file code path runs on the sample too. The committed sample mirror was made
this way from a real 2016 dump part (206 pages); pages are copied byte for byte.
"""

from __future__ import annotations

import argparse
import bz2
import hashlib
import html
import json
import re
from pathlib import Path

PAGE_ID = re.compile(rb"<id>(\d+)</id>")
TITLE = re.compile(rb"<title>([^<]*)</title>")
FOOTER = b"</mediawiki>\n"


def read_pages(source: Path) -> tuple[bytes, list[tuple[int, bytes]]]:
    """The dump's header (everything before the first <page>) and its pages as (page id, raw bytes)."""
    header = b""
    pages: list[tuple[int, bytes]] = []
    current: list[bytes] | None = None
    with bz2.open(source, "rb") as stream:
        for line in stream:
            stripped = line.strip()
            if current is None:
                if stripped == b"<page>":
                    current = [line]
                elif not pages and stripped != b"</mediawiki>":
                    header += line
                continue
            current.append(line)
            if stripped == b"</page>":
                raw = b"".join(current)
                match = PAGE_ID.search(raw)
                if match is None:
                    raise ValueError(f"{source}: a page without <id> near page {len(pages) + 1}")
                pages.append((int(match.group(1)), raw))
                current = None
    if not pages:
        raise ValueError(f"{source}: no <page> elements found; is it a pages-articles dump?")
    return header, pages


def split_evenly(items: list, count: int) -> list[list]:
    """`count` consecutive chunks whose sizes differ by at most one."""
    size, extra = divmod(len(items), count)
    chunks, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        chunks.append(items[start:end])
        start = end
    return chunks


def status_entry(data: bytes) -> dict:
    """A file's dumpstatus entry (without url)."""
    return {"size": len(data), "md5": hashlib.md5(data).hexdigest(), "sha1": hashlib.sha1(data).hexdigest()}


def write_part_file(path: Path, header: bytes, pages: list[tuple[int, bytes]]) -> dict:
    """Write one single-stream dump file; returns its dumpstatus entry (without url)."""
    compressed = bz2.compress(header + b"".join(raw for _, raw in pages) + FOOTER, 9)
    path.write_bytes(compressed)
    return status_entry(compressed)


def multistream_bytes(header: bytes, pages: list[tuple[int, bytes]], pages_per_stream: int) -> tuple[bytes, bytes]:
    """The multistream dump of `pages` and its index, both compressed, the way Wikimedia writes them.

    The dump is the concatenation of independent bz2 streams: the header, then `pages_per_stream` pages
    per stream, then the closing tag. The index has one `OFFSET:PAGE_ID:TITLE` line per page, OFFSET
    being where the stream holding the page starts in the dump (in bytes), TITLE unescaped.
    """
    streams = [bz2.compress(header, 9)]
    lines = []
    for start in range(0, len(pages), pages_per_stream):
        group = pages[start:start + pages_per_stream]
        offset = sum(map(len, streams))
        for page_id, raw in group:
            title = html.unescape(TITLE.search(raw).group(1).decode("utf-8"))
            lines.append(f"{offset}:{page_id}:{title}\n")
        streams.append(bz2.compress(b"".join(raw for _, raw in group), 9))
    streams.append(bz2.compress(FOOTER, 9))
    return b"".join(streams), bz2.compress("".join(lines).encode("utf-8"), 9)


def is_article(raw: bytes) -> bool:
    return b"<ns>0</ns>" in raw and b"<redirect" not in raw


def split_by_articles(pages: list[tuple[int, bytes]], count: int) -> list[list[tuple[int, bytes]]]:
    """Cut id-sorted pages into `count` page-id ranges holding nearly equal numbers of articles.

    Redirects cluster at low page ids in real dumps; cutting by page count would leave parts with no
    article at all. Each range ends just before the first article of the next range.
    """
    article_at = [i for i, (_, raw) in enumerate(pages) if is_article(raw)]
    if len(article_at) < count:
        raise ValueError(f"{len(article_at)} articles cannot fill {count} parts")
    starts = [0] + [group[0] for group in split_evenly(article_at, count)[1:]]
    ends = starts[1:] + [len(pages)]
    return [pages[start:end] for start, end in zip(starts, ends)]


def build_mirror(source: Path, out: Path, wiki: str, date: str, parts: int, split_last: int,
                 pages_per_stream: int) -> Path:
    header, pages = read_pages(source)
    pages.sort(key=lambda page: page[0])
    dump_dir = out / wiki / date
    dump_dir.mkdir(parents=True, exist_ok=True)
    for old in dump_dir.glob(f"{wiki}-{date}-pages-articles*.bz2"):
        old.unlink()
    files, multistream = {}, {}
    for number, chunk in enumerate(split_by_articles(pages, parts), start=1):
        pieces = split_by_articles(chunk, split_last) if number == parts and split_last > 1 else [chunk]
        for piece in pieces:
            pages_range = f"p{piece[0][0]}p{piece[-1][0]}"
            name = f"{wiki}-{date}-pages-articles{number}.xml-{pages_range}.bz2"
            entry = write_part_file(dump_dir / name, header, piece)
            files[name] = {**entry, "url": f"/{wiki}/{date}/{name}"}
            dump, index = multistream_bytes(header, piece, pages_per_stream)
            for name, data in ((f"{wiki}-{date}-pages-articles-multistream{number}.xml-{pages_range}.bz2", dump),
                               (f"{wiki}-{date}-pages-articles-multistream-index{number}.txt-{pages_range}.bz2", index)):
                (dump_dir / name).write_bytes(data)
                multistream[name] = {**status_entry(data), "url": f"/{wiki}/{date}/{name}"}
    updated = f"{date[:4]}-{date[4:6]}-{date[6:]} 00:00:00"
    status = {
        "jobs": {"articlesdump": {"status": "done", "updated": updated, "files": files},
                 "articlesmultistreamdump": {"status": "done", "updated": updated, "files": multistream}},
        "version": "0.8",
    }
    (dump_dir / "dumpstatus.json").write_text(json.dumps(status, indent=1, sort_keys=True) + "\n")
    for algo in ("sha1", "md5"):
        lines = "".join(f"{entry[algo]}  {name}\n" for name, entry in sorted({**files, **multistream}.items()))
        (dump_dir / f"{wiki}-{date}-{algo}sums.txt").write_text(lines)
    return dump_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="a pages-articles .xml.bz2 dump file")
    parser.add_argument("--out", type=Path, default=Path("data/mirror"))
    parser.add_argument("--wiki", default="enwiki")
    parser.add_argument("--date", default="20251101")
    parser.add_argument("--parts", type=int, default=10)
    parser.add_argument("--split-last", type=int, default=2, help="files the last part is cut into")
    parser.add_argument("--pages-per-stream", type=int, default=100,
                        help="pages per bz2 stream of the multistream files (Wikimedia: 100)")
    args = parser.parse_args()
    dump_dir = build_mirror(args.source, args.out, args.wiki, args.date, args.parts, args.split_last,
                            args.pages_per_stream)
    jobs = json.loads((dump_dir / "dumpstatus.json").read_text())["jobs"]
    for job in ("articlesdump", "articlesmultistreamdump"):
        files = jobs[job]["files"]
        total = sum(entry["size"] for entry in files.values())
        print(f"{dump_dir}: {job}: {len(files)} files in {args.parts} parts, {total:,} bytes of bz2")


if __name__ == "__main__":
    main()
