"""Benchmark src/extract.py against wikiextractor 3.1.0 (`--no-templates --json`): speed, memory, junk.

Usage (from the repository root; about 5 minutes on 2 cores; needs PyPI for wikiextractor):
    python benchmarks/bench_extract.py [--mb 50] [--processes 1 2] [--repeat 3]
                                       [--source data/mirror/enwiki/20251101]

Builds a >= `--mb` MB XML dump by repeating the sample mirror's pages with fresh page ids (bz2, in a
temp dir), installs wikiextractor==3.1.0 into a temporary venv and runs both on the same file: first
pinned to one CPU with one worker process each (the "one core" speed goal: >= 3x wikiextractor),
then with each `--processes` count unpinned. Runs alternate between the tools and the best of
`--repeat` counts, so a busy machine slows both alike. Prints a table:
    MB of XML per second (and per worker process, and per CPU second), peak RSS of the process tree,
    junk per MB of output (markup left over: {{ }} [[ ]] {| |} <ref thumb| Category:, HTML tags,
    entities, formula_1/codice_1 placeholders), and the share of wikiextractor's sentences
    (>= 40 chars) that our text contains.
"""

from __future__ import annotations

import argparse
import bz2
import glob
import gzip
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
PAGE_ID = re.compile(r"(<page>\s*<title>[^<]*</title>\s*<ns>[^<]*</ns>\s*<id>)(\d+)(</id>)")
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
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
WORD = re.compile(r"\w+")


def build_input(source: Path, out_dir: Path, min_mb: float) -> Path:
    """A single-stream bz2 dump of >= min_mb MB of XML: the source pages repeated, ids made unique."""
    xml = "".join(bz2.decompress(path.read_bytes()).decode("utf-8")
                  for path in sorted(source.glob("*-pages-articles[0-9]*.xml-p*.bz2")))
    header = xml[:xml.index("<page>")]
    header = header[:header.index("</siteinfo>") + len("</siteinfo>")] + "\n"
    pages = re.findall(r"<page>.*?</page>\n", xml, re.DOTALL)
    body = "".join(pages)
    copies = int(min_mb * 1e6 // len(body.encode("utf-8"))) + 1
    path = out_dir / f"enwiki-20251101-pages-articles1.xml-p1p{copies * 10**7}.bz2"
    compressor = bz2.BZ2Compressor(9)
    with open(path, "wb") as out:
        out.write(compressor.compress(header.encode("utf-8")))
        for copy in range(copies):
            offset = copy * 10**7
            renumbered = PAGE_ID.sub(
                lambda m, offset=offset: f"{m.group(1)}{int(m.group(2)) + offset}{m.group(3)}", body)
            out.write(compressor.compress(renumbered.encode("utf-8")))
        out.write(compressor.compress(b"</mediawiki>\n"))
        out.write(compressor.flush())
    return path


def run_measured(command: list[str], cwd: Path, pinned: bool) -> tuple[float, float, float]:
    """Run a command (on one CPU if `pinned`; its child processes inherit that); returns (wall
    seconds, CPU seconds of it and its descendants, peak RSS in MB summed over its process tree,
    polled every 50 ms)."""
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
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss(process.pid))
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    if process.returncode:
        sys.exit(f"error: {' '.join(command)} failed:\n{process.stderr.read().decode()[-3000:]}")
    return seconds, cpu, peak / 1e6


def tree_rss(root: int) -> int:
    """Resident bytes of `root` and all its descendants (Linux /proc)."""
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
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


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


def junk_per_mb(docs: dict[str, str]) -> tuple[float, dict[str, int]]:
    counts = {name: 0 for name in JUNK}
    size = 0
    for text in docs.values():
        size += len(text.encode("utf-8"))
        for name, pattern in JUNK.items():
            counts[name] += len(pattern.findall(text))
    return sum(counts.values()) / max(size / 1e6, 1e-9), counts


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=50, help="MB of XML in the benchmark input")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2],
                        help="worker processes for the unpinned runs")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool and setting; best counts")
    parser.add_argument("--source", type=Path, default=REPO / "data/mirror/enwiki/20251101")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_extract_") as tmp:
        tmp = Path(tmp)
        print(f"building a {args.mb:g} MB input from {args.source} ...", flush=True)
        dump_dir = tmp / "dump"
        dump_dir.mkdir()
        dump = build_input(args.source, dump_dir, args.mb)
        xml_mb = len(bz2.decompress(dump.read_bytes())) / 1e6
        print(f"input: {dump.name}, {xml_mb:.1f} MB of XML, {dump.stat().st_size / 1e6:.1f} MB bz2")

        print("installing wikiextractor==3.1.0 into a temporary venv ...", flush=True)
        venv = tmp / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin/pip"), "install", "-q", "wikiextractor==3.1.0"], check=True)

        # One core: both tools pinned to the same CPU, one process each (the speed goal). Then each
        # `--processes` N, unpinned. Runs alternate between the tools; the best of `--repeat` counts.
        configs = [("1 core", 1, True)] + [(f"{n} proc", n, False) for n in args.processes]
        rows, ours_docs, theirs_docs = [], {}, {}
        for label, processes, pinned in configs:
            work = tmp / f"ours-{processes}"
            work.mkdir(exist_ok=True)
            params = (REPO / "params.yaml").read_text()
            params = re.sub(r"(?m)^(\s*processes:)\s*\d+", rf"\g<1> {processes}", params)
            (work / "params.yaml").write_text(params)
            out = work / "text.jsonl.gz"
            wx_out = tmp / f"wx-{processes}"
            commands = {
                "ours": ([sys.executable, str(REPO / "src/extract.py"), "--dump", str(dump_dir),
                          "--out", str(out), "--stats", str(work / "stats.json")], work),
                "wikiextractor": ([str(venv / "bin/python"), "-m", "wikiextractor.WikiExtractor",
                                   str(dump), "--json", "--no-templates", "-q", "-b", "100M",
                                   "--processes", str(processes), "-o", str(wx_out)], tmp),
            }
            best: dict[str, tuple] = {}
            for attempt in range(args.repeat):
                for tool, (command, cwd) in commands.items():
                    shutil.rmtree(wx_out, ignore_errors=True)
                    result = run_measured(command, cwd, pinned)
                    if tool not in best or result[0] < best[tool][0]:
                        best[tool] = result
                    print(f"  {label:<7} {tool:<14} run {attempt + 1}: {result[0]:.1f} s", flush=True)
            for tool in commands:
                rows.append((tool, label, processes) + best[tool])
            ours_docs = read_ours(out)
            theirs_docs = read_wikiextractor(wx_out)

        ours_junk, ours_counts = junk_per_mb(ours_docs)
        theirs_junk, theirs_counts = junk_per_mb(theirs_docs)
        coverage, found, total = sentence_coverage(ours_docs, theirs_docs)
        ours_chars = sum(map(len, ours_docs.values()))
        theirs_chars = sum(map(len, theirs_docs.values()))

        load = os.getloadavg()[0]
        print(f"\ninput {xml_mb:.1f} MB of XML; {os.cpu_count()} CPUs (load average {load:.1f} at the "
              f"end); python {sys.version.split()[0]}")
        print("1 core: both tools pinned to one CPU (taskset), one worker process each; N proc: N "
              "worker processes, unpinned\nMB/s: MB of XML per wall second (best of "
              f"{args.repeat}); MB/s/proc: that per worker process; MB/CPU-s: MB of XML per CPU "
              "second of the whole process tree")
        print(f"{'tool':<15}{'setting':>8}{'seconds':>9}{'MB/s':>8}{'MB/s/proc':>11}{'CPU s':>8}"
              f"{'MB/CPU-s':>10}{'peak RSS MB':>13}")
        speed, per_proc, efficiency = {}, {}, {}
        for tool, label, processes, seconds, cpu, rss in rows:
            speed[tool, label] = xml_mb / seconds
            per_proc[tool, label] = xml_mb / seconds / processes
            efficiency[tool, label] = xml_mb / cpu
            print(f"{tool:<15}{label:>8}{seconds:>9.1f}{speed[tool, label]:>8.1f}"
                  f"{per_proc[tool, label]:>11.1f}{cpu:>8.1f}{efficiency[tool, label]:>10.1f}"
                  f"{rss:>13.0f}")
        for label, processes, _ in configs:
            print(f"ratio ours/wikiextractor, {label}: "
                  f"{speed['ours', label] / speed['wikiextractor', label]:.2f}x MB/s, "
                  f"{efficiency['ours', label] / efficiency['wikiextractor', label]:.2f}x MB/CPU-s"
                  + ("  (goal: >= 3x MB/s)" if label == "1 core" else ""))
        if len(args.processes) > 1:
            low, high = min(args.processes), max(args.processes)
            for tool in ("ours", "wikiextractor"):
                scaling = speed[tool, f"{high} proc"] / speed[tool, f"{low} proc"]
                print(f"{tool}: {high} vs {low} process(es) total throughput x{scaling:.2f}")
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
