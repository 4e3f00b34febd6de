"""Benchmark the wikitext cleaner's worst case: adversarial pages against the sample's real pages.

Usage (from the repository root; a minute, more while quadratic patterns remain):
    python benchmarks/bench_worst_case.py [--rev REV] [--sizes 25000 100000] [--search 200]
                                          [--repeat 2] [--cap 30] [--sample data/mirror/enwiki/20251101]

Each pattern family is a page built by repetition, prefix + unit * k + closing * k + suffix (as in
tests/test_linear_time.py): runs of one character, unclosed and nested constructs, each inline, one
per line or between sentences, and the known super-linear patterns. Each is cleaned at every size in
CPU seconds (time.process_time, best of `--repeat`); "x" is the time's growth from the first size to
the last: the size ratio (4) for linear work, its square (16) for quadratic. A size whose time,
extrapolated quadratically, would pass `--cap` seconds is skipped ("-"). `--search N` then draws N
random patterns of the test's pieces (seeded, so runs compare) and times the slowest 10 at every size.
`--rev` times src/wikitext.py as of a git revision instead of the working tree's. Baseline, measured
in the same run with the same cleaner: the sample's articles (read as benchmarks/bench_clean.py does),
in CPU seconds per MB of wikitext. Measured figures: docs/benchmarks.md, "Worst case".
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

import wikitext
from bench_clean import TODAY, articles, baseline_module

sys.path.insert(0, str(REPO / "tests"))
from test_linear_time import PIECES  # noqa: E402  (the pieces the random search draws from: the test's)
from extract import dump_files

PROSE = "The river flows north past the old mill, and the town grew around it. "
# (name, prefix, unit, closing, suffix): the page is prefix + unit * k + closing * k + suffix
KNOWN = [
    ("run of spaces after ==", "==", " ", "", "x"),
    ("run of tabs after ==", "==", "\t", "", "x"),
    ("run of spaces after <br", "a<br", " ", "", "x"),
    ("<ref>s then </references>", "", "<ref>", "", "</references>"),
    ("<ref>s then </ref without >", "", "<ref>a", "", "</ref"),
    ("run of spaces in a pipe trick", "[[a", " ", "", "b|]]"),
    ("run of spaces in a {{rail gauge}}", "{{rail gauge|1ft", " ", "", "x}}"),
    ("run of digits in a {{convert}}", "{{convert|5|ft|", "1", "", "x|in}}"),
    ("run of \\r, then a tab entity", "x", "\r", "", "y &#9;"),
    ("run of &nbsp;, then a tab entity", "x", "&nbsp;", "", "y&#9;"),
    ("run of spaces, then ()", "x", " ", "", "y ()"),
    ("[[s then }}s", "", "[[", "}}", ""),
    ("{{ then [[a s then }}", "{{", "[[a", "", "}}"),
    ("<Ref>a</Ref>s", "", "<Ref>a</Ref>", "", ""),
    ("<MATH>a</MATH>s", "", "<MATH>a</MATH>", "", ""),
    ("[// inline", "", "[//", "", ""),
    ("deep templates", "", "{{a|", "}}", ""),
    ("deep links", "", "[[a|", "]]", ""),
    ("deep kept templates", "", "{{nowrap|", "}}", ""),
]
RUN_CHARACTERS = {"spaces": " ", "tabs": "\t", "=": "=", "'": "'", "[": "[", "]": "]", "{": "{",
                  "}": "}", "|": "|", "<": "<", "!": "!", ":": ":", "*": "*", "&": "&", "-": "-",
                  "(": "(", "\\r": "\r", "nbsp": "\u00a0"}
UNCLOSED = ("{{", "[[", "[[a", "{{a|", "<ref>", "<ref name=x>", "<!--", "<math>", "<nowiki>",
            "[http://", "[http://a ", "<span", "<span ", "<br", "&#", "&amp", "''' x", "{|", "]]", "}}")
def families() -> list[tuple[str, str, str, str, str]]:
    """The grid: known patterns, runs of each character (inline and after "=="), and each unclosed
    construct inline, one per line and between sentences, then prose alone."""
    grid = list(KNOWN)
    for name, character in RUN_CHARACTERS.items():
        grid.append((f"run of {name} inline", "x", character, "", "x"))
        grid.append((f"run of {name} after ==", "==", character, "", "x"))
    for unit in UNCLOSED:
        grid.append((f"{unit} inline", "x ", unit, "", " y"))
        grid.append((f"{unit} one per line", "x\n", unit + "\n", "", "\ny"))
        grid.append((f"{unit} between sentences", "", PROSE + unit, "", ""))
    grid.append(("prose", "", PROSE, "", ""))
    known = {tuple(pattern) for _, *pattern in KNOWN}
    return grid[:len(KNOWN)] + [row for row in grid[len(KNOWN):] if tuple(row[1:]) not in known]


def build(prefix: str, unit: str, closing: str, suffix: str, size: int) -> str:
    k = max(1, (size - len(prefix) - len(suffix)) // (len(unit) + len(closing)))
    return prefix + unit * k + closing * k + suffix


def cpu_seconds(cleaner, pages: list[str], repeat: int) -> float:
    """Best CPU time of cleaner.clean_page over `pages`, of `repeat` runs (one when a run takes over 1 s)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for page in pages:
            cleaner.clean_page(page, TODAY)
        best = min(best, time.process_time() - started)
        if best > 1:
            break
    return best


def seconds_per_mb(cleaner, pattern: tuple[str, str, str, str], sizes: list[int], repeat: int,
                   cap: float) -> list[float | None]:
    """CPU seconds per MB of the pattern's page at each size; None where skipped (over `cap`)."""
    out: list[float | None] = []
    previous = 0  # the last size timed
    for size in sizes:
        if out and (out[-1] is None or out[-1] * previous / 1e6 * (size / previous) ** 2 > cap):
            out.append(None)
            continue
        page = build(*pattern, size)
        out.append(cpu_seconds(cleaner, [page], repeat) / (len(page.encode("utf-8")) / 1e6))
        previous = size
    return out


def search(count: int, seed: int = 0) -> list[tuple[str, str, str, str, str]]:
    """`count` random patterns of 1-4 pieces each part (closing often empty), named by their parts."""
    rng = random.Random(seed)
    draw = lambda low: "".join(rng.choice(PIECES) for _ in range(rng.randint(low, 4)))
    patterns = []
    for _ in range(count):
        parts = (draw(0), draw(1), draw(1) if rng.random() < 0.3 else "", draw(0))
        patterns.append((repr(parts), *parts))
    return patterns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[25_000, 100_000], help="characters")
    parser.add_argument("--search", type=int, default=200, help="random patterns to draw (0: none)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--cap", type=float, default=30.0, help="skip a size whose time would pass this")
    parser.add_argument("--rev", help="time src/wikitext.py at this git revision, not the working tree's")
    parser.add_argument("--sample", type=Path, default=REPO / "data/mirror/enwiki/20251101")
    args = parser.parse_args()
    sizes = sorted(args.sizes)
    cleaner = wikitext
    if args.rev:
        with tempfile.TemporaryDirectory(prefix="bench_worst_case_") as tmp:
            cleaner = baseline_module(args.rev, Path(tmp))

    pages = articles([path for path in dump_files(args.sample) if "-index" not in path.name])
    sample_mb = sum(len(page.encode("utf-8")) for page in pages) / 1e6
    baseline = cpu_seconds(cleaner, pages, args.repeat) / sample_mb

    grid = families()
    if args.search:
        # one size first for all, then every size for the slowest ten
        drawn = [(seconds_per_mb(cleaner, p[1:], sizes[:1], 1, args.cap)[0], p) for p in search(args.search)]
        grid += [p for _, p in sorted(drawn, key=lambda item: -item[0])[:10]]
    print(f"{'family':<40}" + "".join(f"{f'{size // 1000} KB s/MB':>13}" for size in sizes) + f"{'x':>8}")
    worst = (0.0, "", 0)
    for name, *pattern in grid:
        times = seconds_per_mb(cleaner, tuple(pattern), sizes, args.repeat, args.cap)
        growth = times[-1] / times[0] * sizes[-1] / sizes[0] if times[-1] is not None else None
        for size, spent in zip(sizes, times):
            if spent is not None and spent > worst[0]:
                worst = (spent, name, size)
        superlinear = times[-1] is None or (growth > 2 * sizes[-1] / sizes[0] and times[-1] > 0.1)
        print(f"{name[:39]:<40}" + "".join(f"{t:>13.2f}" if t is not None else f"{'-':>13}" for t in times)
              + (f"{growth:>8.1f}" if growth is not None else f"{'-':>8}")
              + ("   <-- super-linear" if superlinear else ""), flush=True)
    print(f"baseline ({len(pages):,} sample pages, {sample_mb:.1f} MB): {baseline:.3f} s/MB")
    print(f"worst: {worst[1]} at {worst[2] // 1000} KB, {worst[0]:.2f} s/MB = "
          f"{worst[0] / baseline:,.0f}x the baseline")


if __name__ == "__main__":
    main()
