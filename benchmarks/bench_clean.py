"""Benchmark the wikitext cleaner (src/wikitext.py's clean_page) against its version at a git revision.

Usage (from the repository root; about half a minute on one core):
    python benchmarks/bench_clean.py [--baseline-rev 3bac17d] [--repeat 3] [--changed-output]
                                     [--fixture PART.bz2] [--sample data/mirror/enwiki/20251101]

Input: the wikitext of every article (namespace 0, not a redirect) of two corpora, read once into
memory with src/extract.py's page parser:
    fixture  a real dump part, by default ../shared/fixtures/wikipedia/enwiki-latest-pages-articles1
             .xml-p000000010p000030302-shortened.bz2 (skipped when absent)
    sample   every part of the sample mirror
Measured in the same run, best of `--repeat` (runs alternate, so a busy machine slows both alike),
in CPU seconds of this process (time.process_time) with today = (2025, 11, 1):
    baseline  src/wikitext.py as of `--baseline-rev`, loaded from `git show` into a temporary module
    ours      src/wikitext.py of the working tree
Prints MB of wikitext (UTF-8) per CPU second for each and the ratio, and checks that both give the same
output (text and disambiguation flag) for every page (with --changed-output, for a change that renders
other text on purpose, it counts the pages that differ instead), one row per corpus. Measured
figures: docs/benchmarks.md, "The wikitext cleaner".
"""

from __future__ import annotations

import argparse
import bz2
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

import wikitext
from extract import dump_files, iter_pages

FIXTURE = (REPO.parent / "shared" / "fixtures" / "wikipedia"
           / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2")
TODAY = (2025, 11, 1)


def articles(files: list[Path]) -> list[str]:
    """The wikitext of every article page in `files` (bz2 dump parts, single-stream or multistream)."""
    texts = []
    for path in files:
        with bz2.open(path) as stream:  # a multistream file is a concatenation of bz2 streams
            texts += [text for _, _, _, text, *_ in iter_pages(stream)]
    return texts


def baseline_module(rev: str, tmp: Path):
    """src/wikitext.py as of git revision `rev`, imported under another name."""
    source = subprocess.run(["git", "show", f"{rev}:src/wikitext.py"], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout
    path = tmp / "wikitext_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("wikitext_baseline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def clean_all(module, pages: list[str]) -> tuple[float, list[tuple[str, bool]]]:
    """(CPU seconds, outputs) of module.clean_page over every page."""
    started = time.process_time()
    outputs = [module.clean_page(page, TODAY) for page in pages]
    return time.process_time() - started, outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline-rev", default="3bac17d", help="git revision of the baseline cleaner")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--changed-output", action="store_true",
                        help="the baseline renders other text (a change of behaviour): count the pages "
                             "that differ rather than fail")
    parser.add_argument("--fixture", type=Path, default=FIXTURE, help="a dump part (.bz2)")
    parser.add_argument("--sample", type=Path, default=REPO / "data/mirror/enwiki/20251101")
    args = parser.parse_args()

    corpora = {}
    if args.fixture.is_file():
        corpora["fixture"] = articles([args.fixture])
    else:
        print(f"(no fixture at {args.fixture}: skipped)")
    corpora["sample"] = articles([path for path in dump_files(args.sample) if "-index" not in path.name])

    with tempfile.TemporaryDirectory(prefix="bench_clean_") as tmp:
        baseline = baseline_module(args.baseline_rev, Path(tmp))
    print(f"baseline: src/wikitext.py at {args.baseline_rev}; ours: the working tree; "
          f"best of {args.repeat} (CPU seconds)\n")
    print(f"{'corpus':<9}{'pages':>7}{'MB':>7}{'baseline MB/s':>15}{'ours MB/s':>11}{'ratio':>8}  outputs")
    all_identical = True
    for name, pages in corpora.items():
        mb = sum(len(page.encode("utf-8")) for page in pages) / 1e6
        best = {"baseline": float("inf"), "ours": float("inf")}
        outputs = {}
        for _ in range(args.repeat):
            for label, module in (("baseline", baseline), ("ours", wikitext)):
                seconds, outputs[label] = clean_all(module, pages)
                best[label] = min(best[label], seconds)
        differ = sum(a != b for a, b in zip(outputs["baseline"], outputs["ours"]))
        all_identical &= not differ
        print(f"{name:<9}{len(pages):>7,}{mb:>7.1f}{mb / best['baseline']:>15.1f}{mb / best['ours']:>11.1f}"
              f"{best['baseline'] / best['ours']:>7.2f}x  "
              + (f"{differ:,} pages differ" if differ else "identical"))
    if not all_identical and not args.changed_output:
        sys.exit("error: the cleaner's output differs from the baseline's on some pages")


if __name__ == "__main__":
    main()
