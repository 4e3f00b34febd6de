"""Benchmark: the pipeline on parts of real size. Grow against scratch, each stage's time and peak
memory, DVC's own share of the time, `dvc status` and a no-op `dvc repro`, and disk used.

    python benchmarks/bench_scale.py [--xml-mb 950] [--workdir DIR]

Builds (offline, once per --workdir) a mirror of 3 parts the size of enwiki's pages-articles1 (about
1 GB of XML and 270 MB of bz2 each): the sample mirror's pages repeated with fresh page ids, published
as Wikimedia does, one bz2 stream per part and multistream (100 pages a stream, with its index), with
dumpstatus.json. Then, in fresh clones of the project pointed at it (real `dvc repro`; training uses
the tests' quick settings, a fixed budget, so the figures are about the data stages):

  A  data.parts [1], then grown to [1, 2, 3]     (the grow step is timed)
  B  data.parts [1, 2, 3] from nothing           (the baseline: scratch)

Every stage command runs under a `python` shim that times it and samples the RSS of its process tree,
so DVC's own time (hashing, checkout, lock files) is the rest of each `dvc repro`'s wall time. Prints a
table in this format (measured figures: docs/benchmarks.md, "Scale")

    grow [1] -> [1, 2, 3] / scratch [1, 2, 3]    0.69   (goal <= 0.72)
    ...
"""

from __future__ import annotations

import argparse
import bz2
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))
from make_sample_mirror import read_pages  # noqa: E402
from workflow import commit, make_clone, set_params  # noqa: E402

WIKI, DATE = "enwiki", "20251101"
SAMPLE = ROOT / "data" / "mirror" / WIKI / DATE
PAGES_PER_STREAM = 100  # Wikimedia's multistream files: one bz2 stream per 100 pages
PAGE_ID = re.compile(rb"<id>\d+</id>")
TITLE = re.compile(rb"<title>(.*?)</title>")
MB = 1 << 20

# ------------------------------------------------------------------------------------ the big mirror


def sample_pages() -> tuple[bytes, list[bytes]]:
    """The sample mirror's header and every page of its parts, in page-id order."""
    header, pages = b"", []
    for path in sorted(SAMPLE.glob(f"{WIKI}-{DATE}-pages-articles[0-9]*.bz2")):
        header, part_pages = read_pages(path)
        pages += part_pages
    return header, [raw for _, raw in sorted(pages)]


def file_entry(path: Path) -> dict:
    md5, sha1 = hashlib.md5(), hashlib.sha1()
    with open(path, "rb") as f:
        while block := f.read(MB):
            md5.update(block)
            sha1.update(block)
    return {"size": path.stat().st_size, "md5": md5.hexdigest(), "sha1": sha1.hexdigest(),
            "url": f"/{WIKI}/{DATE}/{path.name}"}


def build_part(number: int, first_id: int, xml_bytes: int, out: Path) -> tuple[int, dict[str, dict]]:
    """Write part `number` (about `xml_bytes` of XML) in both of Wikimedia's formats; returns its last
    page id and its files' dumpstatus entries."""
    header, pages = sample_pages()
    footer = b"</mediawiki>\n"
    single_tmp, multi_tmp = out / f".single{number}", out / f".multi{number}"
    single, index, group = bz2.BZ2Compressor(9), [], []
    page_id, size, i = first_id, len(header), 0
    with open(single_tmp, "wb") as one, open(multi_tmp, "wb") as multi:
        one.write(single.compress(header))
        multi.write(bz2.compress(header, 9))  # the first stream: the header and siteinfo alone

        def flush_group() -> None:
            multi.write(bz2.compress(b"".join(group), 9))
            group.clear()

        while size < xml_bytes:
            raw = PAGE_ID.sub(f"<id>{page_id}</id>".encode(), pages[i % len(pages)], count=1)
            one.write(single.compress(raw))
            if not group:
                offset = multi.tell()  # the byte offset of the stream that will hold this page
            index.append(f"{offset}:{page_id}:{TITLE.search(raw).group(1).decode()}\n")
            group.append(raw)
            if len(group) == PAGES_PER_STREAM:
                flush_group()
            size += len(raw)
            page_id, i = page_id + 1, i + 1
        if group:
            flush_group()
        one.write(single.compress(footer) + single.flush())
        multi.write(bz2.compress(footer, 9))  # the last stream: the closing tag
    span = f"p{first_id}p{page_id - 1}"
    names = {
        single_tmp: f"{WIKI}-{DATE}-pages-articles{number}.xml-{span}.bz2",
        multi_tmp: f"{WIKI}-{DATE}-pages-articles-multistream{number}.xml-{span}.bz2",
    }
    for tmp, name in names.items():
        tmp.rename(out / name)
    index_name = f"{WIKI}-{DATE}-pages-articles-multistream-index{number}.txt-{span}.bz2"
    (out / index_name).write_bytes(bz2.compress("".join(index).encode(), 9))
    return page_id - 1, {name: file_entry(out / name) for name in [*names.values(), index_name]}


def build_mirror(root: Path, parts: int, xml_mb: int) -> Path:
    """The mirror under `root` (kept and reused when it already holds these parts at this size)."""
    dump = root / WIKI / DATE
    stamp = dump / "built.json"
    wanted = {"parts": parts, "xml_mb": xml_mb}
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        return root
    shutil.rmtree(root, ignore_errors=True)
    dump.mkdir(parents=True)
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=min(parts, os.cpu_count() or 1)) as pool:
        built = list(pool.map(build_part, range(1, parts + 1), [10 + k * 10_000_000 for k in range(parts)],
                              [xml_mb * MB] * parts, [dump] * parts))
    single, multi = {}, {}
    for _, entries in built:
        for name, entry in entries.items():
            (multi if "multistream" in name else single)[name] = entry
    status = {"jobs": {job: {"status": "done", "updated": f"{DATE[:4]}-{DATE[4:6]}-{DATE[6:]} 00:00:00",
                             "files": files}
                       for job, files in (("articlesdump", single), ("articlesmultistreamdump", multi))},
              "version": "0.8"}
    (dump / "dumpstatus.json").write_text(json.dumps(status, indent=1, sort_keys=True) + "\n")
    stamp.write_text(json.dumps(wanted))
    total = sum(e["size"] for e in single.values())
    print(f"mirror: {parts} parts, {total / MB:,.0f} MB of single-stream bz2 ({xml_mb:,} MB of XML each), "
          f"built in {time.perf_counter() - started:.0f} s")
    return root

# ------------------------------------------------------------------------------ timing every stage

SHIM = '''#!{python}
"""Times one stage command and samples the RSS of its process tree (bench_scale.py)."""
import json, os, subprocess, sys, time

def tree(pid):
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{{p}}/task"):
                with open(f"/proc/{{p}}/task/{{task}}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return pids

def rss_mb(pid):
    try:
        with open(f"/proc/{{pid}}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0

started = time.perf_counter()
proc = subprocess.Popen([{python!r}, *sys.argv[1:]])
tree_peak = process_peak = 0.0
while proc.poll() is None:
    sizes = [rss_mb(p) for p in tree(proc.pid)]
    tree_peak, process_peak = max(tree_peak, sum(sizes)), max(process_peak, max(sizes, default=0))
    time.sleep(0.05)
with open(os.environ["BENCH_STAGE_LOG"], "a") as log:
    log.write(json.dumps({{"cmd": sys.argv[1:], "seconds": time.perf_counter() - started,
                          "tree_mb": tree_peak, "process_mb": process_peak, "rc": proc.returncode}}) + "\\n")
sys.exit(proc.returncode)
'''


def stage_name(cmd: list[str]) -> str:
    script = Path(cmd[0]).stem
    part = cmd[cmd.index("--part") + 1] if "--part" in cmd else None
    if script in ("extract", "tokenize_text"):
        part = Path(cmd[cmd.index("--dump") + 1]).name if "--dump" in cmd else Path(cmd[cmd.index("--text") + 1]).name.split(".")[0]
    names = {"tokenize_text": "tokenize", "check": "check", "dataset": "dataset"}
    name = names.get(script, script)
    return f"{name}@{part}" if part else name


class Bench:
    def __init__(self, work: Path):
        self.bin = work / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        shim = self.bin / "python"
        shim.write_text(SHIM.format(python=sys.executable))
        shim.chmod(0o755)
        self.log = work / "stages.jsonl"

    def dvc(self, repo: Path, *args: str) -> tuple[float, list[dict], str]:
        """Wall seconds of `dvc ARGS`, the stage commands it ran (with their figures), its output."""
        self.log.write_text("")
        env = dict(os.environ, BENCH_STAGE_LOG=str(self.log),
                   PATH=f"{self.bin}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, env=env, capture_output=True,
                                text=True)
        seconds = time.perf_counter() - started
        if result.returncode:
            raise SystemExit(f"dvc {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        stages = [json.loads(line) for line in self.log.read_text().splitlines()]
        for stage in stages:
            stage["stage"] = stage_name(stage["cmd"][1:] if stage["cmd"][0] == "-m" else stage["cmd"])
        return seconds, stages, result.stdout


def disk_bytes(repo: Path) -> int:
    """Bytes on disk of the workspace's outputs and DVC's cache, a hard-linked file counted once."""
    paths = [str(repo / p) for p in ("data", "models", "reports", ".dvc/cache") if (repo / p).exists()]
    out = subprocess.run(["du", "-s", "-B1", "--exclude=mirror", *paths], capture_output=True, text=True,
                         check=True).stdout
    return sum(int(line.split()[0]) for line in out.splitlines())


def outputs_bytes(repo: Path) -> int:
    """The outputs' own size, as dvc.lock records it."""
    import yaml

    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    return sum(out.get("size", 0) for entry in lock.values() for out in entry.get("outs", []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--xml-mb", type=int, default=950, help="MB of XML per part (enwiki's part 1: ~1 GB)")
    parser.add_argument("--parts", type=int, default=3)
    parser.add_argument("--workdir", type=Path, help="keep the mirror (and clones) here; default: a temp dir")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_scale_"))
    mirror = build_mirror(work / "mirror", args.parts, args.xml_mb)
    bench = Bench(work)
    every = list(range(1, args.parts + 1))

    clones = {}
    for name in ("grow", "scratch"):
        shutil.rmtree(work / name, ignore_errors=True)
        clones[name] = make_clone(work / name)
        set_params(clones[name], dump__mirror=str(mirror), resources__processes=0)
        commit(clones[name], "the big mirror")

    load_before = open("/proc/loadavg").read().split()[0]
    rows = []
    set_params(clones["grow"], data__parts=[1])
    first_s, first, _ = bench.dvc(clones["grow"], "repro")
    rows.append(("A: [1]", first_s, first))
    commit(clones["grow"], "v1")
    set_params(clones["grow"], data__parts=every)
    grow_s, grow, _ = bench.dvc(clones["grow"], "repro")
    rows.append((f"A: grow [1] -> {every}", grow_s, grow))
    set_params(clones["scratch"], data__parts=every)
    scratch_s, scratch, _ = bench.dvc(clones["scratch"], "repro")
    rows.append((f"B: scratch {every}", scratch_s, scratch))
    status_s, _, status_out = bench.dvc(clones["scratch"], "status")
    noop_s, noop, _ = bench.dvc(clones["scratch"], "repro")
    disk, outs = disk_bytes(clones["scratch"]), outputs_bytes(clones["scratch"])
    assert "up to date" in status_out and not noop, (status_out, noop)

    print(f"\nbench_scale: {args.parts} parts of {args.xml_mb:,} MB of XML; {os.cpu_count()} cores; "
          f"1-minute load average {load_before} before the runs, {open('/proc/loadavg').read().split()[0]} after")
    for label, _, stages in rows:
        print(f"\n{label:<28}{'seconds':>9}{'peak RSS, tree':>16}{'largest process':>17}")
        for stage in stages:
            print(f"  {stage['stage']:<26}{stage['seconds']:9.1f}{stage['tree_mb']:13.0f} MB"
                  f"{stage['process_mb']:14.0f} MB")
    print(f"\n{'dvc repro':<34}{'wall s':>8}{'stages s':>10}{'DVC share':>11}")
    for label, seconds, stages in rows:
        inside = sum(s["seconds"] for s in stages)
        print(f"{label:<34}{seconds:8.1f}{inside:10.1f}{(seconds - inside) / seconds:10.1%}")
    ratio = grow_s / scratch_s
    print(f"\ngrow / scratch                    {ratio:6.2f}   (goal <= 0.72)")
    print(f"dvc status, everything present    {status_s:6.2f} s (goal <= 3 s)")
    print(f"no-op dvc repro                   {noop_s:6.2f} s (goal <= 3 s)")
    peak = max(s["tree_mb"] for s in scratch + grow + first)
    print(f"largest stage peak RSS (tree)     {peak:6.0f} MB (goal <= 1,024 MB)")
    print(f"workspace + cache / outputs       {disk / outs:6.3f}   ({disk / MB:,.0f} MB on disk for "
          f"{outs / MB:,.0f} MB of outputs; cache.type hardlink,symlink; goal <= 1.05)")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
