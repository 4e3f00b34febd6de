"""src/extract.py run for real on parts of the sample mirror, plus its reader on odd dumps."""

from __future__ import annotations

import bz2
import gzip
import html
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO, SAMPLE_DUMP, TEST_PARAMS

import extract
from extract import DumpError, Page, clean_chunk, dump_files, iter_pages
from make_sample_mirror import multistream_bytes, read_pages

SINGLE_STREAM_FILES = sorted(SAMPLE_DUMP.glob("*-pages-articles[0-9]*.xml-p*.bz2"))
PART_1 = sorted(SAMPLE_DUMP.glob("*-pages-articles1.xml-p*.bz2"))
PART_10 = sorted(SAMPLE_DUMP.glob("*-pages-articles10.xml-p*.bz2"))
PART_1_MULTISTREAM = sorted(SAMPLE_DUMP.glob("*-pages-articles-multistream*1.*-p10p*.bz2"))  # index, dump
CLOSING_LINE = r"extract: [\d,]+ articles, [\d,]+ chars, [\d,]+ skipped, .* MB/s of XML"


def run_extract(tmp_path: Path, dump_files_: list[Path], processes: int, name: str = "out"):
    """Run the stage script from a scratch root holding params.yaml; returns (result, out, stats)."""
    root = tmp_path / name
    (root / "dump").mkdir(parents=True)
    for path in dump_files_:
        shutil.copy(path, root / "dump" / path.name)
    params = yaml.safe_load(TEST_PARAMS.read_text())
    params["resources"]["processes"] = processes
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    out, stats = root / "text" / "1.jsonl.gz", root / "text" / "1.stats.json"
    result = subprocess.run(
        [sys.executable, str(REPO / "src" / "extract.py"), "--dump", "dump", "--out", "text/1.jsonl.gz",
         "--stats", "text/1.stats.json"], cwd=root, capture_output=True, text=True, timeout=120)
    return result, out, stats


def pages_of(paths: list[Path]) -> list[dict]:
    """The sample's pages read crudely with regexes: an independent check of the parser."""
    pages = []
    for path in paths:
        xml = bz2.decompress(path.read_bytes()).decode("utf-8")
        for page in re.findall(r"<page>.*?</page>", xml, re.S):
            pages.append({"id": re.search(r"<id>(\d+)</id>", page).group(1),
                          "ns": re.search(r"<ns>(\d+)</ns>", page).group(1),
                          "redirect": "<redirect" in page})
    return pages


@pytest.fixture(scope="module")
def part_1_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("extract")
    return run_extract(tmp, PART_1, 1, "p1"), run_extract(tmp, PART_1, 2, "p2")


def test_output_is_articles_as_json_lines(part_1_runs):
    (result, out, stats), _ = part_1_runs
    assert result.returncode == 0, result.stderr
    with gzip.open(out, "rt", encoding="utf-8") as lines:
        docs = [json.loads(line) for line in lines]
    pages = pages_of(PART_1)
    not_articles = {p["id"] for p in pages if p["ns"] != "0" or p["redirect"]}
    assert docs and len(docs) < len(pages)
    for doc in docs:
        assert list(doc) == ["id", "url", "title", "text"]
        assert doc["id"].isdigit() and doc["id"] not in not_articles
        assert doc["url"] == f"https://en.wikipedia.org/wiki?curid={doc['id']}"
        assert len(doc["text"]) >= 200
        assert "[[" not in doc["text"] and "<ref" not in doc["text"] and "Category:" not in doc["text"]
    ids = [int(doc["id"]) for doc in docs]
    assert ids == sorted(ids)  # dump order
    anarchism = next(doc for doc in docs if doc["title"] == "Anarchism")
    assert anarchism["text"].startswith("Anarchism is a political philosophy")


def test_stats_add_up(part_1_runs):
    (result, out, stats_path), _ = part_1_runs
    stats = json.loads(stats_path.read_text())
    pages = pages_of(PART_1)
    assert stats["pages_seen"] == len(pages)
    assert stats["dropped"]["redirect"] == sum(p["redirect"] and p["ns"] == "0" for p in pages)
    assert stats["dropped"]["namespace"] == sum(p["ns"] != "0" for p in pages)
    assert stats["pages_seen"] == stats["articles_kept"] + sum(stats["dropped"].values())
    with gzip.open(out, "rt", encoding="utf-8") as lines:
        docs = [json.loads(line) for line in lines]
    assert stats["articles_kept"] == len(docs)
    assert stats["chars_written"] == sum(len(doc["text"]) for doc in docs)
    assert stats["xml_mb"] == pytest.approx(len(bz2.decompress(PART_1[0].read_bytes())) / 1e6, abs=1e-3)
    assert "seconds" not in stats  # timings are printed, never written: the same input, the same bytes
    *progress_lines, closing = result.stdout.splitlines()
    assert re.fullmatch(CLOSING_LINE, closing)
    assert all(line.startswith("extract dump: ") and "MB/s" in line for line in progress_lines)


def test_output_is_identical_with_one_and_two_processes(part_1_runs, tmp_path):
    (_, out_1, _), (result_2, out_2, _) = part_1_runs
    assert result_2.returncode == 0, result_2.stderr
    assert out_1.read_bytes() == out_2.read_bytes()
    _, out_again, _ = run_extract(tmp_path, PART_1, 1)
    assert out_again.read_bytes() == out_1.read_bytes()  # gzip mtime 0: same bytes every run


def test_several_files_of_one_part_in_page_id_order(tmp_path):
    result, out, stats = run_extract(tmp_path, PART_10, 2)
    assert result.returncode == 0, result.stderr
    with gzip.open(out, "rt", encoding="utf-8") as lines:
        ids = [int(json.loads(line)["id"]) for line in lines]
    assert len(PART_10) == 2 and ids == sorted(ids) and ids[0] < 765 <= ids[-1]
    assert json.loads(stats.read_text())["files"] == [path.name for path in PART_10]


def test_files_are_ordered_by_first_page_id_numerically(tmp_path):
    for name in ("enwiki-20251101-pages-articles27.xml-p100p199.bz2",
                 "enwiki-20251101-pages-articles27.xml-p9p99.bz2",
                 "enwiki-20251101-pages-articles27.xml-p1000p1999.bz2"):
        (tmp_path / name).write_bytes(b"")
    assert [re.search(r"-p(\d+)p", p.name).group(1) for p in dump_files(tmp_path)] == ["9", "100", "1000"]


def test_truncated_dump_fails_and_leaves_no_output(tmp_path):
    data = PART_1[0].read_bytes()
    truncated = tmp_path / PART_1[0].name
    truncated.write_bytes(data[: len(data) // 2])
    result, out, stats = run_extract(tmp_path, [truncated], 2)
    assert result.returncode != 0
    assert PART_1[0].name in result.stderr and "truncated or corrupt" in result.stderr
    assert not out.exists() and not stats.exists()
    assert list(out.parent.iterdir()) == []  # no temp files either


def big_dump(path: Path, copies: int) -> Path:
    """A single-stream dump of the sample's pages repeated `copies` times with fresh page ids."""
    xml = "".join(bz2.decompress(p.read_bytes()).decode("utf-8") for p in SINGLE_STREAM_FILES)
    header = xml[:xml.index("</siteinfo>") + len("</siteinfo>")] + "\n"
    body = "".join(re.findall(r"<page>.*?</page>\n", xml, re.S))
    compressor = bz2.BZ2Compressor(1)
    with open(path, "wb") as out:
        out.write(compressor.compress(header.encode()))
        for copy in range(copies):
            out.write(compressor.compress(re.sub(
                r"(<ns>\d+</ns>\s*<id>)(\d+)",
                lambda m, copy=copy: f"{m.group(1)}{int(m.group(2)) + copy * 10**7}", body).encode()))
        out.write(compressor.compress(b"</mediawiki>\n") + compressor.flush())
    return path


def test_a_killed_worker_stops_the_stage_with_a_clear_error(tmp_path):
    """kill -9 of one worker process (what the OOM killer does): an error, not a hang, no output."""
    dump = big_dump(tmp_path / "enwiki-20251101-pages-articles1.xml-p1p99.bz2", 12)
    root = tmp_path / "root"
    (root / "dump").mkdir(parents=True)
    shutil.move(dump, root / "dump" / dump.name)
    params = yaml.safe_load(TEST_PARAMS.read_text())
    params["resources"]["processes"] = 2
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    process = subprocess.Popen(
        [sys.executable, str(REPO / "src" / "extract.py"), "--dump", "dump", "--out", "text/1.jsonl.gz",
         "--stats", "text/1.stats.json"], cwd=root, stderr=subprocess.PIPE, text=True)
    killed = None
    deadline = time.monotonic() + 60
    while killed is None and process.poll() is None and time.monotonic() < deadline:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
        workers = children.read_text().split() if children.exists() else []
        if workers:  # the executor's worker processes (forked from the stage)
            killed = int(workers[0])
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.02)
    _, stderr = process.communicate(timeout=60)  # a hang would fail here
    assert killed, "the stage finished before a worker could be killed; make the input bigger"
    assert process.returncode != 0
    assert "worker process died" in stderr and "resources.processes" in stderr
    assert not (root / "text" / "1.jsonl.gz").exists() and not (root / "text" / "1.stats.json").exists()
    assert list((root / "text").iterdir()) == []


def test_missing_dump_directory_is_a_clear_error(tmp_path):
    result, out, _ = run_extract(tmp_path, [], 1)
    assert result.returncode != 0 and "no *.bz2 files in dump" in result.stderr
    assert not out.exists()


def test_utf16_dump_and_odd_namespace_are_read():
    xml = bz2.decompress(PART_1[0].read_bytes()).decode("utf-8")
    xml = xml.replace("<ns>0</ns>", "<ns>118</ns>", 1)  # first page (a redirect) moved to Draft:
    utf16 = ('<?xml version="1.0" encoding="UTF-16"?>\n' + xml).encode("utf-16")
    reader = extract.Returning(iter_pages(io.BytesIO(utf16)))
    pages = list(reader)
    counts = reader.returned
    expected = [p for p in pages_of(PART_1)[1:] if p["ns"] == "0" and not p["redirect"]]
    assert [page[0] for page in pages] == [p["id"] for p in expected]
    assert counts["namespace"] == 1 + sum(p["ns"] != "0" for p in pages_of(PART_1)[1:])
    assert counts["pages"] == len(pages_of(PART_1))
    anarchism = next(page for page in pages if page[2] == "Anarchism")
    assert "'''Anarchism''' is a [[political philosophy]]" in anarchism[3]


def test_chunks_carry_the_bytes_read_and_the_reader_returns_its_counts(monkeypatch):
    monkeypatch.setattr(extract, "CHUNK_CHARS", 20_000)
    chunks = extract.Returning(extract.iter_chunks(PART_10, 1))
    reads = [read for _, read in chunks]
    assert len(reads) > 2 and reads == sorted(reads) and reads[-1] <= sum(p.stat().st_size for p in PART_10)
    pages = pages_of(PART_10)
    assert chunks.returned["pages"] == len(pages)
    assert chunks.returned["redirect"] == sum(p["ns"] == "0" and p["redirect"] for p in pages)
    assert chunks.returned["xml_bytes"] == sum(len(bz2.decompress(p.read_bytes())) for p in PART_10)


def test_a_page_that_raises_is_counted_as_an_error(monkeypatch):
    real = extract.wikitext.clean_page

    def failing(text, today=None, site=None):
        if "BROKEN" in text:
            raise ValueError("a cleaner bug")
        return real(text, today, site)

    monkeypatch.setattr(extract.wikitext, "clean_page", failing)
    good = "'''Anarchism''' is a [[political philosophy]] that advocates self-governed societies."
    english = extract.languages.english()
    chunk = [Page("1", "u1", "Good", good, "2016-04-22T10:19:33Z", english),
             Page("2", "u2", "Bad", "BROKEN", "", english), Page("3", "u3", "Short", "Stub.", "", english)]
    lines, counts = clean_chunk(chunk, 10)
    assert counts["error"] == 1 and counts["too_short"] == 1 and counts["articles"] == 1
    (doc,) = [json.loads(line) for line in lines.decode().splitlines()]
    assert doc["title"] == "Good" and doc["text"].startswith("Anarchism is a political philosophy")


# ------------------------------------------------------------------------------------------ multistream

def test_sample_multistream_files_are_built_the_way_wikimedia_builds_them():
    """Every index offset starts a bz2 stream of its own that holds the pages the index names, in order;
    the first stream is the header alone, the last the closing tag alone."""
    pairs = [(dump, index) for index in SAMPLE_DUMP.glob("*-multistream-index*.bz2")
             for dump in [SAMPLE_DUMP / index.name.replace("-index", "").replace(".txt-", ".xml-")]]
    assert len(pairs) == 11
    for dump, index in pairs:
        data = dump.read_bytes()
        entries = [line.split(":", 2) for line in bz2.decompress(index.read_bytes()).decode().splitlines()]
        offsets = sorted({int(offset) for offset, _, _ in entries})
        header = bz2.BZ2Decompressor()
        assert header.decompress(data[:offsets[0]]).endswith(b"</siteinfo>\n") and header.eof
        assert not header.unused_data
        for offset in offsets:
            stream = bz2.BZ2Decompressor()
            xml = stream.decompress(data[offset:]).decode("utf-8")
            assert stream.eof and xml.lstrip().startswith("<page>")
            ids = re.findall(r"<page>\s*<title>[^<]*</title>\s*<ns>\d+</ns>\s*<id>(\d+)</id>", xml)
            assert ids == [page_id for at, page_id, _ in entries if int(at) == offset]
        assert bz2.decompress(stream.unused_data) == b"</mediawiki>\n"  # the closing stream
        titles = re.findall(r"<title>([^<]*)</title>", bz2.decompress(data).decode("utf-8"))
        assert [title for _, _, title in entries] == [html.unescape(t) for t in titles]
        single = SAMPLE_DUMP / dump.name.replace("-multistream", "")
        assert bz2.decompress(data) == bz2.decompress(single.read_bytes())  # the same XML, byte for byte


def test_multistream_part_gives_the_bytes_of_the_single_stream_part(part_1_runs, tmp_path):
    (_, single_out, single_stats), _ = part_1_runs
    result, out, stats = run_extract(tmp_path, PART_1_MULTISTREAM, 2)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == single_out.read_bytes()
    stats, single_stats = json.loads(stats.read_text()), json.loads(single_stats.read_text())
    assert sorted(stats.pop("files")) == sorted(p.name for p in PART_1_MULTISTREAM)
    single_stats.pop("files")
    assert stats == single_stats  # pages seen, dropped, MB of XML: the same


def sample_pages() -> tuple[bytes, list[tuple[int, bytes]]]:
    """The header and every page of the sample mirror's single-stream files, in page-id order."""
    header, pages = b"", []
    for path in SINGLE_STREAM_FILES:
        header, more = read_pages(path)
        pages += more
    return header, sorted(pages)


@pytest.fixture(scope="module")
def many_streams(tmp_path_factory):
    """The whole sample as one single-stream file and as a multistream file of 3 pages per stream."""
    tmp = tmp_path_factory.mktemp("many_streams")
    header, pages = sample_pages()
    single = tmp / "single" / "enwiki-20251101-pages-articles1.xml-p1p999.bz2"
    single.parent.mkdir()
    single.write_bytes(bz2.compress(header + b"".join(raw for _, raw in pages) + b"</mediawiki>\n"))
    multi = tmp / "multi" / "enwiki-20251101-pages-articles-multistream1.xml-p1p999.bz2"
    multi.parent.mkdir()
    dump, index = multistream_bytes(header, pages, 3)
    multi.write_bytes(dump)
    (multi.parent / "enwiki-20251101-pages-articles-multistream-index1.txt-p1p999.bz2").write_bytes(index)
    return single.parent, multi, multi.parent / "enwiki-20251101-pages-articles-multistream-index1.txt-p1p999.bz2"


class LastValue:
    """Stands in for src/progress.py's Progress: keeps the last value it was given."""
    done = 0

    def update_to(self, done, postfix=""):
        self.done = done


def test_multistream_output_is_identical_whatever_the_processes(many_streams, tmp_path, monkeypatch):
    """Small runs of streams (many tasks) and small gzip members (many cuts): the single-stream file with
    one process and the multistream file with 1, 2 and 3 processes give the same bytes and counts."""
    single_dir, multi, index = many_streams
    monkeypatch.setattr(extract, "TASK_BZ2_BYTES", 20_000)
    monkeypatch.setattr(extract, "GZIP_BLOCK", 100_000)
    offsets, pages = extract.read_index(index)
    assert len(extract.stream_runs(multi, offsets, multi.stat().st_size)) > 10  # many tasks in flight
    outputs = {}
    for name, folder, processes in [("single", single_dir, 1), ("multi 1", multi.parent, 1),
                                    ("multi 2", multi.parent, 2), ("multi 3", multi.parent, 3)]:
        out = tmp_path / f"{name}.jsonl.gz"
        progress = LastValue()
        counts, sites = extract.extract(dump_files(folder), out, 200, processes, progress)
        assert counts["pages"] == pages
        assert progress.done == sum(p.stat().st_size for p in folder.iterdir() if "-index" not in p.name)
        outputs[name] = (out.read_bytes(), extract.stats_of(counts, [], sites))
    assert len({data for data, _ in outputs.values()}) == 1
    assert len({json.dumps(stats) for _, stats in outputs.values()}) == 1
    data = outputs["single"][0]
    assert data.count(b"\x1f\x8b\x08") > 3  # several gzip members
    docs = [json.loads(line) for line in gzip.decompress(data).decode().splitlines()]
    assert [int(doc["id"]) for doc in docs] == sorted(int(doc["id"]) for doc in docs)
    assert outputs["single"][1]["articles_kept"] == len(docs) > 50


@pytest.mark.parametrize("damage", ["truncated", "index of another file"])
def test_damaged_multistream_part_fails_naming_the_file(many_streams, tmp_path, damage):
    _, multi, index = many_streams
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(index, broken / index.name)
    data = multi.read_bytes()
    if damage == "truncated":
        (broken / multi.name).write_bytes(data[: len(data) * 2 // 3])
        expected = "truncated"
    else:  # the right streams, but an index that lists one page more than the dump holds
        (broken / multi.name).write_bytes(data)
        lines = bz2.decompress(index.read_bytes())
        (broken / index.name).write_bytes(bz2.compress(lines + lines.splitlines(True)[-1]))
        expected = "its index lists"
    result, out, stats = run_extract(tmp_path, dump_files(broken), 2)
    assert result.returncode != 0
    assert multi.name in result.stderr and expected in result.stderr, result.stderr
    assert not out.exists() and not stats.exists() and list(out.parent.iterdir()) == []


def test_a_window_of_streams_decodes_to_the_bytes_the_bz2_module_gives_and_damage_is_an_error(
        many_streams, tmp_path):
    """decompress_window on the sample's pages in streams of 3, stream by stream and all at once: the
    same XML as the bz2 module; bytes after the last stream, a cut stream and a flipped byte are
    errors, not lost pages."""
    _, multi, index = many_streams
    offsets, _ = extract.read_index(index)
    assert len(offsets) > 10
    data = multi.read_bytes()
    bounds = offsets + [len(data)]
    fd = os.open(multi, os.O_RDONLY)
    try:
        for start, end in zip(bounds, bounds[1:]):
            assert extract.decompress_window(fd, start, end) == bz2.decompress(data[start:end])
        assert extract.decompress_window(fd, bounds[0], bounds[-1]) == bz2.decompress(data[bounds[0]:])
    finally:
        os.close(fd)
    first, second = data[bounds[0]:bounds[1]], data[bounds[1]:bounds[2]]
    flipped = bytearray(first)
    flipped[len(first) // 2] ^= 0x55
    for damaged in (first + b"not bz2" + second, first + second[:len(second) // 2], bytes(flipped) + second):
        path = tmp_path / "damaged.bz2"
        path.write_bytes(damaged)
        fd = os.open(path, os.O_RDONLY)
        try:
            with pytest.raises((EOFError, RuntimeError, ValueError)):
                extract.decompress_window(fd, 0, len(damaged))
        finally:
            os.close(fd)


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads RSS from Linux's /proc")
def test_decoding_many_windows_keeps_memory_flat(tmp_path):
    """indexed_bzip2 keeps every file object it decodes: windows must cost nothing to keep (a BytesIO of
    each run of ~0.5 MB would add ~50 MB here)."""
    def rss_mb() -> float:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6

    # Two streams of ~0.27 MB of bz2 each (random hex compresses to about half its size).
    data = b"".join(bz2.compress(os.urandom(250_000).hex().encode(), 9) for _ in range(2))
    path = tmp_path / "streams.bz2"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        extract.decompress_window(fd, 0, len(data))  # allocations that stay for good are made here
        before = rss_mb()
        for _ in range(100):
            assert len(extract.decompress_window(fd, 0, len(data))) == 1_000_000
        grown = rss_mb() - before
    finally:
        os.close(fd)
    assert grown < 15, f"RSS grew by {grown:.0f} MB over 100 windows of {len(data) / 1e6:.2f} MB"


def test_a_multistream_dump_without_its_index_is_a_clear_error():
    with pytest.raises(DumpError, match="its index .* is missing; run the download stage again"):
        extract.multistream_pairs([PART_1_MULTISTREAM[1]])
    with pytest.raises(DumpError, match="both single-stream and multistream"):
        extract.multistream_pairs(PART_1 + PART_1_MULTISTREAM)
    assert extract.multistream_pairs(PART_1) is None
