"""Benchmark src/extract.py against wikiextractor 3.1.0 (`--no-templates --json`): speed, memory, junk.

Usage (from the repository root; about 10 minutes on 2 cores; needs PyPI for wikiextractor):
    python benchmarks/bench_extract.py [--mb 180] [--processes 1 2] [--repeat 2]
                                       [--source data/mirror/enwiki/20251101] [--project-gb 25]

Builds a >= `--mb` MB XML dump by repeating the sample mirror's pages with fresh page ids, twice: as
one bz2 stream (`pages-articles`) and as Wikimedia's multistream file with its index (streams of 100
pages), in a temp dir. Installs wikiextractor==3.1.0 into a temporary venv. Runs the stage exactly as
`dvc repro` does (dvc.yaml's `cmd` for part 1, a fresh process, in a scratch root holding params.yaml
and data/dump/1) and wikiextractor on the same pages:
  - "1 core": ours (multistream and single-stream) and wikiextractor, each pinned to one CPU with one
    worker process (the goal: ours >= 3.3x wikiextractor; bz2 decoding alone takes close to half of
    that budget: docs/benchmarks.md, "Extraction");
  - "N proc": each `--processes` N, unpinned (the goal: 2 processes >= 1.8x one).
Runs alternate between the tools; the best of `--repeat` counts, so a busy machine slows all alike.
Checks that every run of ours wrote the same bytes. Prints a table: MB of XML per second (and per CPU
second), peak RSS of the process tree and of its biggest process; junk per MB of output (markup left
over: {{ }} [[ ]] {| |} <ref thumb| Category:, HTML tags, entities, formula_1/codice_1 placeholders)
and the share of wikiextractor's sentences (>= 40 chars) that our text contains; where one core's
time goes (bz2 decoding, the cleaner, the rest, in CPU ms per MB of XML, against the 3.3x goal's
budget); and a projection to `--project-gb` GB of XML on 8 and 16 cores.
"""

from __future__ import annotations

import argparse
import bz2
import glob
import gzip
import hashlib
import html
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SPEED_GOAL = 3.3  # ours on one core against wikiextractor on one core, MB/s
PAGE_ID = re.compile(r"(<ns>[^<]*</ns>\s*<id>)(\d+)(</id>)")
JUNK = {
    "{{ }}": re.compile(r"\{\{|\}\}"),
    "[[ ]]": re.compile(r"\[\[|\]\]"),
    "{| |}": re.compile(r"\{\||\|\}"),
    "<ref": re.compile(r"<ref", re.IGNORECASE),
    "thumb|": re.compile(r"thumb\|"),
    "Category:": re.compile(r"Category:"),
    "html tag": re.compile(r"</?(?:ref|div|span|br|small|sup|sub|table|td|tr|center|blockquote|"
                           r"gallery|math|nowiki|references|code|pre|poem|abbr|b|i|u|s|p)\b[^<>]{0,200}>",
                           re.IGNORECASE),
    "entity": re.compile(r"&(?:[a-zA-Z]{2,8}|#\d{1,6}|#x[0-9a-fA-F]{1,6});"),
    "placeholder": re.compile(r"\b(?:formula|codice)_\d+"),
}
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])|\n+")
# A word; each character of a script written without spaces (Chinese, Japanese) is one on its own
WIDE = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
WORD = re.compile(r"[%s]|[^\W%s]+" % (WIDE, WIDE))


def build_input(source: Path, out_dir: Path, min_mb: float) -> tuple[Path, Path, float]:
    """The source pages repeated to >= min_mb MB of XML, ids made unique, written as a single-stream dump
    into out_dir/single and as a multistream dump with its index into out_dir/multistream; returns the
    two folders and the MB of XML."""
    sys.path.insert(0, str(REPO / "src"))
    from make_sample_mirror import multistream_bytes, read_pages

    header, pages = b"", []
    for path in sorted(source.glob("*-pages-articles[0-9]*.xml-p*.bz2")):
        header, more = read_pages(path)
        pages += more
    pages.sort()
    body = sum(len(raw) for _, raw in pages)
    copies = int(min_mb * 1e6 // body) + 1
    last = copies * 10**7
    single, multi = out_dir / "single", out_dir / "multistream"
    single.mkdir()
    multi.mkdir()
    everything = []  # (page id, raw bytes) of every copy: ~min_mb MB in memory
    for copy in range(copies):
        everything += [(page_id + copy * 10**7, PAGE_ID.sub(
            lambda m, copy=copy: f"{m.group(1)}{int(m.group(2)) + copy * 10**7}{m.group(3)}",
            raw.decode("utf-8"), count=1).encode("utf-8")) for page_id, raw in pages]
    xml = header + b"".join(raw for _, raw in everything) + b"</mediawiki>\n"
    (single / f"enwiki-20251101-pages-articles1.xml-p1p{last}.bz2").write_bytes(bz2.compress(xml, 9))
    data, index = multistream_bytes(header, everything, 100)  # Wikimedia's 100 pages per stream
    (multi / f"enwiki-20251101-pages-articles-multistream1.xml-p1p{last}.bz2").write_bytes(data)
    (multi / f"enwiki-20251101-pages-articles-multistream-index1.txt-p1p{last}.bz2").write_bytes(index)
    return single, multi, len(xml) / 1e6


def run_measured(command: list[str], cwd: Path, pinned: bool) -> tuple[float, float, float, float]:
    """Run a command (on one CPU if `pinned`; its child processes inherit that); returns (wall
    seconds, CPU seconds of it and its descendants, peak RSS in MB summed over its process tree, peak
    RSS in MB of its biggest process; polled every 50 ms)."""
    allowed = os.sched_getaffinity(0)
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    if pinned:  # the child inherits this process's CPU set; this process gets its own back at once
        os.sched_setaffinity(0, {min(allowed)})
    try:
        process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE)
    finally:
        os.sched_setaffinity(0, allowed)
    peak = biggest = 0
    while process.poll() is None:
        total, largest = tree_rss(process.pid)
        peak, biggest = max(peak, total), max(biggest, largest)
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    if process.returncode:
        sys.exit(f"error: {' '.join(command)} failed:\n{process.stderr.read().decode()[-3000:]}")
    return seconds, cpu, peak / 1e6, biggest / 1e6


def tree_rss(root: int) -> tuple[int, int]:
    """Resident bytes of `root` and all its descendants, and of the biggest of them (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    total, largest, todo = 0, 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        largest = max(largest, rss.get(pid, 0))
        todo.extend(children.get(pid, []))
    return total, largest


def read_ours(path: Path) -> dict[str, str]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return {doc["id"]: doc["text"] for doc in map(json.loads, lines)}


def read_wikiextractor(out_dir: Path) -> dict[str, str]:
    docs = {}
    for name in sorted(glob.glob(str(out_dir / "*" / "wiki_*"))):
        with open(name, encoding="utf-8") as lines:
            for doc in map(json.loads, lines):
                docs[doc["id"]] = doc["text"]
    return docs


def matches_per_mb(docs: dict[str, str], patterns: dict[str, re.Pattern]) -> tuple[float, dict[str, int]]:
    """Matches of all `patterns` per MB of the texts (UTF-8), and the count of each pattern."""
    counts = {name: 0 for name in patterns}
    size = 0
    for text in docs.values():
        size += len(text.encode("utf-8"))
        for name, pattern in patterns.items():
            counts[name] += len(pattern.findall(text))
    return sum(counts.values()) / max(size / 1e6, 1e-9), counts


def junk_per_mb(docs: dict[str, str]) -> tuple[float, dict[str, int]]:
    return matches_per_mb(docs, JUNK)


def normalized(text: str) -> str:
    # Words only: wikiextractor writes ''italics'' as "quotes" and leaves entities; neither is text.
    return " ".join(WORD.findall(html.unescape(text).lower()))


def sentence_coverage(ours: dict[str, str], theirs: dict[str, str]) -> tuple[float, int, int]:
    """Share of wikiextractor's sentences (>= 40 chars) found, word for word, in our text of the
    same page; sentences holding its formula_N/codice_N placeholders are left out (no text has them)."""
    found = total = 0
    for page_id, text in theirs.items():
        if page_id not in ours:
            continue
        mine = " " + normalized(ours[page_id]) + " "
        for sentence in SENTENCE_END.split(text):
            if len(sentence) < 40 or JUNK["placeholder"].search(sentence):
                continue
            sentence = " " + normalized(sentence) + " "
            if len(sentence) > 2:
                total += 1
                found += sentence in mine
    return found / max(total, 1), found, total


def amdahl(speed_1: float, speed_2: float, processes: int) -> float:
    """Speed on `processes` cores from the speeds on 1 and 2: time = serial + parallel / processes."""
    parallel = 2 * (1 / speed_1 - 1 / speed_2)
    serial = max(1 / speed_1 - parallel, 0.0)
    return 1 / (serial + parallel / processes)


def cpu_split(multi_dir: Path) -> tuple[float, float, float, float]:
    """Where one core's time goes: the stage's extract() run in this process on the multistream input
    with one process, bz2 decoding and the wikitext cleaner timed apart; returns CPU milliseconds per
    MB of XML for (everything, bz2 decoding, the cleaner, the rest: lxml parsing, JSON, gzip, ...)."""
    sys.path.insert(0, str(REPO / "src"))
    import extract
    import wikitext
    import yaml

    min_chars = yaml.safe_load((REPO / "params.yaml").read_text())["extract"]["min_chars"]
    spent = {"bz2": 0.0, "clean": 0.0}

    def timed(name, function):
        def run(*args):
            started = time.process_time()
            try:
                return function(*args)
            finally:
                spent[name] += time.process_time() - started
        return run

    class Quiet:
        def update_to(self, done, postfix=""):
            pass

    decode, clean = extract.decompress_window, wikitext.clean_page
    extract.decompress_window, wikitext.clean_page = timed("bz2", decode), timed("clean", clean)
    try:
        with tempfile.TemporaryDirectory() as out:
            started = time.process_time()
            counts, _ = extract.extract(extract.dump_files(multi_dir), Path(out) / "1.jsonl.gz", min_chars, 1,
                                     Quiet())
            total = time.process_time() - started
    finally:
        extract.decompress_window, wikitext.clean_page = decode, clean
    per_mb = 1e3 / (counts["xml_bytes"] / 1e6)
    return (total * per_mb, spent["bz2"] * per_mb, spent["clean"] * per_mb,
            (total - spent["bz2"] - spent["clean"]) * per_mb)


def stage_command(root: Path) -> list[str]:
    """dvc.yaml's extract command for part 1, run from `root` (the stage's `python` is this one)."""
    import yaml
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["extract"]["do"]
    words = stage["cmd"].replace("${item}", "1").split()
    assert words[:2] == ["python", "src/extract.py"], words
    return [sys.executable, str(REPO / "src/extract.py")] + words[2:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=180, help="MB of XML in the benchmark input")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2],
                        help="worker processes for the unpinned runs")
    parser.add_argument("--repeat", type=int, default=2, help="runs per tool and setting; best counts")
    parser.add_argument("--source", type=Path, default=REPO / "data/mirror/enwiki/20251101")
    parser.add_argument("--project-gb", type=float, default=25,
                        help="GB of XML to project the stage's time for (enwiki parts 1-10: ~25, estimated)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_extract_") as tmp:
        tmp = Path(tmp)
        print(f"building a {args.mb:g} MB input from {args.source} ...", flush=True)
        single_dir, multi_dir, xml_mb = build_input(args.source, tmp, args.mb)
        single = next(single_dir.iterdir())
        bz2_mb = {name: sum(p.stat().st_size for p in folder.iterdir()) / 1e6
                  for name, folder in (("single", single_dir), ("multistream", multi_dir))}
        print(f"input: {xml_mb:.1f} MB of XML; {bz2_mb['single']:.1f} MB bz2 single-stream, "
              f"{bz2_mb['multistream']:.1f} MB multistream with its index")

        print("installing wikiextractor==3.1.0 into a temporary venv ...", flush=True)
        venv = tmp / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin/pip"), "install", "-q", "wikiextractor==3.1.0"], check=True)

        # (label, processes, pinned, tools): one core first (the speed goal), then each N unpinned.
        configs = [("1 core", 1, True, ("ours multistream", "ours single", "wikiextractor"))]
        configs += [(f"{n} proc", n, False, ("ours multistream", "ours single", "wikiextractor"))
                    for n in args.processes]
        rows, outputs, theirs_docs, ours_out = [], set(), {}, None
        for label, processes, pinned, tools in configs:
            commands = {}
            for tool in tools:
                if tool.startswith("ours"):
                    root = tmp / f"{tool.split()[1]}-{processes}"
                    (root / "data" / "dump").mkdir(parents=True, exist_ok=True)
                    if not (root / "data" / "dump" / "1").exists():
                        (root / "data" / "dump" / "1").symlink_to(multi_dir if "multi" in tool else single_dir)
                    params = (REPO / "params.yaml").read_text()
                    params = re.sub(r"(?m)^(\s*processes:)\s*\d+", rf"\g<1> {processes}", params)
                    (root / "params.yaml").write_text(params)
                    commands[tool] = (stage_command(root), root)
                else:
                    wx_out = tmp / f"wx-{processes}"
                    commands[tool] = ([str(venv / "bin/python"), "-m", "wikiextractor.WikiExtractor",
                                       str(single), "--json", "--no-templates", "-q", "-b", "100M",
                                       "--processes", str(processes), "-o", str(wx_out)], tmp)
            best: dict[str, tuple] = {}
            for attempt in range(args.repeat):
                for tool, (command, cwd) in commands.items():
                    shutil.rmtree(tmp / f"wx-{processes}", ignore_errors=True)
                    result = run_measured(command, cwd, pinned)
                    if tool not in best or result[0] < best[tool][0]:
                        best[tool] = result
                    if tool.startswith("ours"):
                        ours_out = cwd / "data" / "text" / "1.jsonl.gz"
                        outputs.add(hashlib.sha256(ours_out.read_bytes()).hexdigest())
                    print(f"  {label:<7} {tool:<17} run {attempt + 1}: {result[0]:.1f} s, load average "
                          f"{os.getloadavg()[0]:.1f}", flush=True)
            for tool in tools:
                rows.append((tool, label, processes) + best[tool])
            theirs_docs = read_wikiextractor(tmp / f"wx-{processes}")
        if len(outputs) != 1:
            sys.exit(f"error: our runs wrote {len(outputs)} different outputs; they must be byte-identical")
        ours_docs = read_ours(ours_out)

        ours_junk, ours_counts = junk_per_mb(ours_docs)
        theirs_junk, theirs_counts = junk_per_mb(theirs_docs)
        coverage, found, total = sentence_coverage(ours_docs, theirs_docs)
        ours_chars = sum(map(len, ours_docs.values()))
        theirs_chars = sum(map(len, theirs_docs.values()))

        load = os.getloadavg()
        print(f"\ninput {xml_mb:.1f} MB of XML; {os.cpu_count()} CPUs (load average {load[0]:.1f} / "
              f"{load[1]:.1f} / {load[2]:.1f} at the end); python {sys.version.split()[0]}")
        print("1 core: all pinned to one CPU (taskset), one worker process each; N proc: N worker "
              "processes, unpinned\nMB/s: MB of XML per wall second (best of "
              f"{args.repeat}); MB/CPU-s: MB of XML per CPU second of the whole process tree; RSS: "
              "peak of the process tree and of its biggest process")
        print(f"{'tool':<18}{'setting':>8}{'seconds':>9}{'MB/s':>8}{'CPU s':>8}"
              f"{'MB/CPU-s':>10}{'tree RSS MB':>13}{'max/proc MB':>13}")
        speed, efficiency = {}, {}
        for tool, label, processes, seconds, cpu, rss, biggest in rows:
            speed[tool, label] = xml_mb / seconds
            efficiency[tool, label] = xml_mb / cpu
            print(f"{tool:<18}{label:>8}{seconds:>9.1f}{speed[tool, label]:>8.1f}{cpu:>8.1f}"
                  f"{efficiency[tool, label]:>10.1f}{rss:>13.0f}{biggest:>13.0f}")
        for label, *_ in configs:
            for ours in ("ours multistream", "ours single"):
                print(f"ratio {ours}/wikiextractor, {label}: "
                      f"{speed[ours, label] / speed['wikiextractor', label]:.2f}x MB/s, "
                      f"{efficiency[ours, label] / efficiency['wikiextractor', label]:.2f}x MB/CPU-s"
                      + (f"  (goal: >= {SPEED_GOAL:g}x MB/s)" if label == "1 core" else ""))
        cpu_total, decoding, cleaning, rest = cpu_split(multi_dir)
        budget = 1e3 / (SPEED_GOAL * speed["wikiextractor", "1 core"])
        print(f"\none core's CPU per MB of XML (ours multistream, in this process): {cpu_total:.1f} ms = bz2 "
              f"decoding {decoding:.1f} + wikitext cleaner {cleaning:.1f} + the rest {rest:.1f} (lxml "
              f"parsing, JSON, gzip); {SPEED_GOAL:g}x wikiextractor's 1-core speed allows {budget:.1f} ms")
        if {1, 2} <= set(args.processes):
            print()
            for tool in ("ours multistream", "ours single", "wikiextractor"):
                scaling = speed[tool, "2 proc"] / speed[tool, "1 proc"]
                print(f"{tool}: 2 vs 1 process(es) x{scaling:.2f}"
                      + ("  (goal: >= 1.8x)" if tool == "ours multistream" else ""))
            print(f"\nprojection, {args.project_gb:g} GB of XML. Ours multistream has no serial reader (the "
                  "stage's own process only writes; ~6% of the CPU): N x its MB per CPU-second at 1 process. "
                  "The others: Amdahl's law fitted to their 1- and 2-process speeds.")
            for cores in (8, 16):
                cells = []
                for tool in ("ours multistream", "ours single", "wikiextractor"):
                    if tool == "ours multistream":
                        rate = cores * efficiency[tool, "1 proc"]
                    else:
                        rate = amdahl(speed[tool, "1 proc"], speed[tool, "2 proc"], cores)
                    cells.append(f"{tool} {rate:.0f} MB/s, {args.project_gb * 1e3 / rate / 60:.0f} min")
                print(f"  {cores} cores: " + "; ".join(cells))
            if max(os.getloadavg()[1], 0) > (os.cpu_count() or 1):
                print(f"  (the machine was busy: load average {os.getloadavg()[1]:.1f} on {os.cpu_count()} "
                      "CPUs; the 2-process figures measure that contention more than the tools)")
        print(f"\narticles: ours {len(ours_docs):,} ({ours_chars / 1e6:.1f} M chars), "
              f"wikiextractor {len(theirs_docs):,} ({theirs_chars / 1e6:.1f} M chars)")
        print(f"junk per MB of output: ours {ours_junk:.1f}, wikiextractor {theirs_junk:.1f}")
        print(f"{'junk kind':<14}{'ours':>10}{'wikiextractor':>15}")
        for name in JUNK:
            print(f"{name:<14}{ours_counts[name]:>10,}{theirs_counts[name]:>15,}")
        print(f"wikiextractor sentences (>= 40 chars) found in ours: {coverage:.1%} "
              f"({found:,} of {total:,}, pages both keep)")
        shutil.rmtree(venv, ignore_errors=True)


if __name__ == "__main__":
    main()
