"""Fidelity of src/wikitext.py's `clean` to MediaWiki's own rendering, on MediaWiki's parser tests.

Usage (from the repository root; under a second, offline):
    python benchmarks/bench_fidelity.py [--baseline-rev 2896496] [--show N [--show-held-out]]
                                        [--cases benchmarks/data/parser_tests.jsonl.bz2]
    python benchmarks/bench_fidelity.py --build-from DIR_OR_GITDIR   # rewrite the case file

Cases: the parser tests of MediaWiki core (as kept in the Parsoid repository; see benchmarks/data/
README.md) whose wikitext is plain prose markup (no templates, tables, references, media, extension
tags, test options or config) and whose expected HTML for the legacy (PHP) parser holds nothing but
prose (no tables, images, forms, error boxes, ...); `select_case` lists every rule.
Each case is compared as the text a reader sees:
    expected  the legacy parser's HTML, read by lxml: text of inline elements kept, a line break at
              each block element (p, div, li, dd, dt, h1-h6, pre, br, ...), HTML's own whitespace
              rule (outside <pre> a newline is a space); reference markers and the "[1]" of
              unlabelled external links (both pointers, not prose), edit-section links, the TOC,
              <style> and <script> dropped (`visible_text`)
    ours      wikitext.clean(wikitext) of the working tree, and of `--baseline-rev` beside it
and both go through one normalisation (`normalised`): Unicode NFC, each run of whitespace inside a
line (U+00A0 and other Unicode spaces too) one space, lines stripped, empty lines dropped. A case
agrees when the two normalised texts are equal. A paragraph boundary is thus a line break, and a
single newline inside a MediaWiki paragraph must come out as a space.
Held out: cases with zlib.crc32("file::title") % 4 == 0 (about a quarter), never to be looked at while
tuning the cleaner; "tuned" are the others.
Prints agreement per file and per set for the baseline and ours, the misses by class (the constructs
their wikitext holds; one miss can count in several), the misses each of the cleaner's deliberate
choices explains (DELIBERATE: undoing the choice in the expected text gives ours), and with --show N
the first N misses of the tuned set (--show-held-out: of both sets). Goal: >= 95% of all cases. Measured
figures: docs/benchmarks.md, "Fidelity to MediaWiki".
"""

from __future__ import annotations

import argparse
import bz2
import json
import re
import subprocess
import sys
import tempfile
import unicodedata
import zlib
from collections import Counter
from pathlib import Path

import lxml.html

from bench_clean import baseline_module

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
import wikitext  # noqa: E402  (src/ is not a package)

CASES = REPO / "benchmarks" / "data" / "parser_tests.jsonl.bz2"
PARSER_TESTS = "tests/parser"

# Test files about Parsoid's internals (serialising HTML back to wikitext, selective serialisation,
# DOM passes), media, language variants, pre-save transform, the preprocessor, extension tags or
# redirects: none is about the prose an article shows.
SKIPPED_FILES = frozenset({
    "annotationParserTests.txt", "attributeExpanderTests.txt", "domNormalizerTests.txt",
    "encapParserTests.txt", "i18nParserTests.txt", "indicators.txt", "langParserTests.txt",
    "langParserTests2.txt", "media.txt", "mediaLinks.txt", "pFragmentHandlerTests.txt",
    "preprocessor.txt", "pst.txt", "redirects.txt", "sectionWrappingParserTests.txt",
    "selserWrappingParserTests.txt", "separatorTests.txt", "tableFixupsParserTests.txt",
    "timedMediaHandlerParserTests.txt", "tokenStreamPatcher.txt", "treeBuilder.txt",
    "v3ParserFunctions.txt", "wtEscaping.txt", "wtsTests.txt",
})
# Options that leave the legacy parser's HTML as it is: Parsoid's own (its modes, its integrated
# mode), "php" (a legacy-only test) and those that only add to the !! metadata section.
HARMLESS_OPTIONS = frozenset({
    "parsoid", "parsoid-compatible", "php", "cat", "ill", "iwl", "links", "extlinks", "special",
    "templates", "showflags", "showtocdata", "showtitle", "showindicators", "showmedia", "property",
    "extension",
})
# The legacy parser's expected output, in MediaWiki's own order of preference (its Test.php).
LEGACY_HTML_SECTIONS = ("html/php", "html/*", "html")
# Extension tags, the test runner's hook tags (ParserHook.php) and transclusion tags: their output is
# no core rendering of the wikitext (and <img>, <style>, ... are media or page furniture).
EXTENSION_TAG = re.compile(
    r"<(?:ref|references|gallery|math|chem|ce|poem|indicator|templatestyles|section|tag|tåg"
    r"|statictag|spantag|divtag|embedtag|asidetag|sealtag|pwraptest|translate|tvar|syntaxhighlight"
    r"|source|timeline|imagemap|graph|mapframe|maplink|templatedata|score|hiero|inputbox"
    r"|categorytree|charinsert|langconvert|html|img|pagelist|pages|dynamicpagelist"
    r"|includeonly|onlyinclude|noinclude"
    r"|style|head|body|link|meta|audio|video|track|object|embed|iframe)[\s/>]",
    re.IGNORECASE)
WIKITEXT_SKIPS = {
    "template": re.compile(r"\{\{"),  # also template parameters {{{ and parser functions
    "table": re.compile(r"^[ \t]*:*[ \t]*\{\|", re.MULTILINE),
    "extension tag": EXTENSION_TAG,
    "media link": re.compile(r"\[\[\s*(?:file|image|media)\s*:", re.IGNORECASE),
    "language converter": re.compile(r"-\{"),
}
HTML_SKIPS = re.compile(
    r"<(?:table|img|figure|gallery|math|video|audio|style|link|form|input|textarea|select|button"
    r"|object|embed|iframe|svg|canvas|source|track)\b"
    r"|class=\"[^\"]*\b(?:error|mw-references|mw-file|mw-ext-|gallery|thumb)"
    r"|typeof=|<ol class=\"references\"", re.IGNORECASE)

# Rendering of the expected HTML: elements that begin and end a line, and those a reader never sees.
BLOCK_TAGS = frozenset(
    "address article aside blockquote br caption center dd details div dl dt fieldset figcaption"
    " figure footer h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary table tbody"
    " td tfoot th thead tr ul".split())
HIDDEN_TAGS = frozenset({"style", "script", "head", "title", "meta", "link", "template"})
# Reference markers ("[1]") and the numbers of external links without a label ("[2]", class
# "autonumber") are pointers, not prose: both are dropped from the text a reader is compared on.
HIDDEN_CLASSES = frozenset({"reference", "autonumber", "mw-editsection", "toc"})
HTML_SPACE = re.compile(r"[ \t\n\r\f]+")  # HTML's whitespace: not U+00A0, which it shows as a space

# Namespaces whose links are internal links, not interwiki or interlanguage prefixes.
NAMESPACES = (r"(?:(?:user|project|help|template|mediawiki|file|category|portal|module|draft)[ _]talk"
              r"|talk|user|project|help|template|mediawiki|special|portal|module|draft)")
# What a miss's wikitext holds, tested in this order; a miss with none of them is "other".
MISS_CLASSES = {
    "bold/italic quotes": re.compile(r"''"),
    "internal link": re.compile(rf"\[\[(?!\s*:?\s*(?!{NAMESPACES}\s*:)[a-z][a-z-]*\s*:)", re.IGNORECASE),
    "external link": re.compile(r"\[(?:https?:|ftp:|mailto:|news:|irc:|//)|\b(?:https?|ftp)://"),
    "magic link (ISBN/RFC/PMID)": re.compile(r"\b(?:ISBN|RFC|PMID)[\s\u00a0]"),
    "heading": re.compile(r"^=.*=[ \t]*$|<h[1-6]", re.MULTILINE),
    "list": re.compile(r"^[*#]|<[ou]l\b|<li\b", re.MULTILINE),
    "definition list": re.compile(r"^[*#:;]*[;:]|<dl\b", re.MULTILINE),
    "indent-pre / pre": re.compile(r"^ |<pre\b", re.MULTILINE | re.IGNORECASE),
    "horizontal rule": re.compile(r"^----|<hr\b", re.MULTILINE),
    "html tag": re.compile(r"</?(?!nowiki\b|pre\b)[a-z][a-z0-9]*\b[^>]*>", re.IGNORECASE),
    "entity": re.compile(r"&#?[a-z0-9]+;", re.IGNORECASE),
    "nowiki": re.compile(r"<nowiki", re.IGNORECASE),
    "comment": re.compile(r"<!--"),
    # two text lines in a row, which MediaWiki joins into one paragraph
    "paragraph/line joining": re.compile(r"^[^\n*#:;= -][^\n]*\n[^\n*#:;= {|<-]", re.MULTILINE),
    "interwiki/interlanguage": re.compile(
        rf"\[\[\s*:?\s*(?!(?:{NAMESPACES}|category|file|image|media)\s*:)[a-z][a-z-]*\s*:", re.IGNORECASE),
    "category": re.compile(r"\[\[\s*:?\s*category\s*:", re.IGNORECASE),
}


# Deliberate choices of the cleaner where MediaWiki shows something else: a miss is put down to one
# when undoing that choice in the expected text gives ours. Each: (what the cleaner does, why, the
# change it makes to a reader's text).
_DEBRIS_LINE = re.compile(r"^[|!][^\n]*(?:\n|$)", re.MULTILINE)
_INVISIBLE = re.compile("[\u200b\u200e\u200f\ufeff\u00ad]")
DELIBERATE = (
    ("drops lines that start with | or ! outside a table",
     "in dumps they are the rows of a table a template opened",
     lambda text: _DEBRIS_LINE.sub("", text)),
    ("drops the space before , and ;",
     "removed templates leave it (\"Paris {{ref}}, France\"); French spacing loses it too",
     lambda text: re.sub(r"[ \u00a0]+([,;])", r"\1", text)),
    ("shows an unclosed [[ without its brackets", "they are markup left over, not words",
     lambda text: text.replace("[[", "")),
    ("drops invisible formatting characters (LRM, RLM, zero-width space, soft hyphen)",
     "they are no words, and split tokens", lambda text: _INVISIBLE.sub("", text)),
)


def deliberate_choice(expected: str, ours: str) -> str | None:
    """The deliberate choice a miss comes from, or None."""
    for choice, _, undo in DELIBERATE:
        if normalised(undo(expected)) == ours:
            return choice
    return None


# ---------------------------------------------------------------------------------------------
# Building the case file from parser test files


def parse_test_file(text: str) -> list[dict[str, str]]:
    """The tests of one parser test file, each {section name: text}, e.g. {"test": title,
    "wikitext": ..., "html/php": ..., "options": ...}. Articles, hooks and file options are left out.

    As MediaWiki's reader: a line "!! name ..." opens section `name` (lower-cased, rest ignored) and
    "!! end" / "!! endarticle" / "!! endhooks" closes the block; other lines belong to the open section
    (lines outside any block are comments)."""
    tests, block, section = [], None, None
    for line in text.split("\n"):
        header = re.match(r"!!\s*(\S+)", line)
        if header is None:
            if section is not None:
                block[section].append(line)
            continue
        name = header.group(1).lower()
        if name in ("end", "endarticle", "endhooks"):
            if block is not None and "test" in block:
                tests.append({key: "\n".join(lines) for key, lines in block.items()})
            block = section = None
        elif name != "version":
            block = {} if block is None else block
            section = name
            block[section] = []
    return tests


def option_names(options: str) -> set[str]:
    """Names in a test's !! options section: `a b=1 title=[[X y]] parsoid={ JSON }` -> {a, b, title,
    parsoid}."""
    text = options
    while (start := re.search(r"=\s*\{", text)) is not None:  # drop a JSON value, braces balanced
        depth, end = 0, start.end() - 1
        for end in range(start.end() - 1, len(text)):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            if depth == 0:
                break
        text = text[:start.start()] + "=x" + text[end + 1:]
    return {match.group(1).lower() for match in
            re.finditer(r'([\w-]+)(?:\s*=\s*(?:\[\[.*?\]\]|(?:"[^"]*"|[^\s"])+))?', text)}


def select_case(test: dict[str, str]) -> tuple[str | None, str | None]:
    """(the legacy parser's expected HTML, None) for a test that is a prose case, or (None, reason)."""
    if "wikitext" not in test:
        return None, "no wikitext"
    if "config" in test:
        return None, "config"
    if "options" in test:
        names = option_names(test["options"])
        if "disabled" in names:
            return None, "disabled"
        if names - HARMLESS_OPTIONS:
            return None, "options"
    html = next((test[key] for key in LEGACY_HTML_SECTIONS if key in test), None)
    if html is None:
        return None, "no legacy-parser html"
    for reason, pattern in WIKITEXT_SKIPS.items():
        if pattern.search(test["wikitext"]):
            return None, reason
    if HTML_SKIPS.search(html):
        return None, "non-prose html"
    return html, None


def read_test_files(source: Path) -> tuple[dict[str, str], str]:
    """{file name: text} of the parser test files in `source`, and where they came from: a git dir
    (its HEAD's tests/parser/, commit given), a checkout (its tests/parser/) or a folder of .txt files."""
    if (source / "HEAD").is_file() and (source / "objects").is_dir():
        def git(*args):
            return subprocess.run(["git", f"--git-dir={source}", *args], check=True,
                                  capture_output=True, text=True).stdout
        commit = git("rev-parse", "HEAD").strip()
        names = [name for name in git("ls-tree", "--name-only", f"HEAD:{PARSER_TESTS}").split()
                 if name.endswith(".txt")]
        return {name: git("show", f"HEAD:{PARSER_TESTS}/{name}") for name in names}, f"commit {commit}"
    folder = source / PARSER_TESTS if (source / PARSER_TESTS).is_dir() else source
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.txt"))}, str(folder)


def build_cases(files: dict[str, str]) -> tuple[list[dict[str, str]], Counter]:
    """The prose cases of the parser test files, in file order, and the count of tests skipped per reason."""
    cases, skipped = [], Counter()
    for name in sorted(files):
        tests = parse_test_file(files[name])
        if name in SKIPPED_FILES:
            skipped["file skipped"] += len(tests)
            continue
        for test in tests:
            html, reason = select_case(test)
            if reason:
                skipped[reason] += 1
            else:
                cases.append({"file": name, "title": test["test"].strip(), "wikitext": test["wikitext"],
                              "html": html})
    return cases, skipped


def write_cases(cases: list[dict[str, str]], path: Path) -> None:
    with bz2.open(path, "wt", encoding="utf-8") as out:
        for case in cases:
            out.write(json.dumps(case, ensure_ascii=False) + "\n")


def read_cases(path: Path) -> list[dict[str, str]]:
    with bz2.open(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


# ---------------------------------------------------------------------------------------------
# Comparing


def visible_text(html: str) -> str:
    """The text a reader sees in `html`: one line per block element (not yet normalised)."""
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    parts: list[str] = []
    _render(root, parts, in_pre=False)
    return "".join(parts)


def _render(element, parts: list[str], in_pre: bool) -> None:
    """Append the visible text of `element` (not its tail) to `parts`."""
    if not isinstance(element.tag, str) or _hidden(element):  # comments and processing instructions
        return
    block = element.tag in BLOCK_TAGS
    in_pre = in_pre or element.tag == "pre"
    if block:
        parts.append("\n")
    if element.text:
        parts.append(element.text if in_pre else HTML_SPACE.sub(" ", element.text))
    for child in element:
        _render(child, parts, in_pre)
        if child.tail:
            parts.append(child.tail if in_pre else HTML_SPACE.sub(" ", child.tail))
    if block:
        parts.append("\n")


def _hidden(element) -> bool:
    return (element.tag in HIDDEN_TAGS or element.get("id") == "toc"
            or not HIDDEN_CLASSES.isdisjoint(element.get("class", "").split()))


def normalised(text: str) -> str:
    """The one normalisation of both sides: NFC, whitespace runs inside a line -> one space, lines
    stripped, empty lines dropped."""
    lines = (re.sub(r"\s+", " ", line).strip() for line in unicodedata.normalize("NFC", text).split("\n"))
    return "\n".join(line for line in lines if line)


def is_held_out(case: dict[str, str]) -> bool:
    return zlib.crc32(f"{case['file']}::{case['title']}".encode("utf-8")) % 4 == 0


def miss_classes(wikitext_source: str) -> list[str]:
    """The constructs a case's wikitext holds (MISS_CLASSES), or ["other"]."""
    return [name for name, pattern in MISS_CLASSES.items() if pattern.search(wikitext_source)] or ["other"]


def agreements(module, cases: list[dict[str, str]], expected: list[str]) -> tuple[list[bool], list[str]]:
    """(whether each case agrees, our normalised text of each) for module.clean."""
    ours = [normalised(module.clean(case["wikitext"])) for case in cases]
    return [text == want for text, want in zip(ours, expected)], ours


# ---------------------------------------------------------------------------------------------
# Printing


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def print_per_file(cases, base_ok, ours_ok) -> None:
    print(f"{'file':<24}{'cases':>6}{'baseline':>10}{'ours':>10}{'ours %':>10}")
    for name in sorted({case["file"] for case in cases}):
        indices = [i for i, case in enumerate(cases) if case["file"] == name]
        base, ours = sum(base_ok[i] for i in indices), sum(ours_ok[i] for i in indices)
        print(f"{name:<24}{len(indices):>6}{base:>10}{ours:>10}{percent(ours, len(indices)):>10}")


def print_per_set(cases, base_ok, ours_ok) -> None:
    print(f"{'set':<24}{'cases':>6}{'baseline':>10}{'ours':>10}{'ours %':>10}{'base %':>9}"
          f"{'difference':>12}{'ratio':>7}")
    held = [is_held_out(case) for case in cases]
    for label, keep in (("tuned", lambda h: not h), ("held-out", lambda h: h), ("all", lambda h: True)):
        indices = [i for i, h in enumerate(held) if keep(h)]
        base, ours = sum(base_ok[i] for i in indices), sum(ours_ok[i] for i in indices)
        difference = 100 * (ours - base) / len(indices) if indices else 0.0
        ratio = f"{ours / base:.2f}x" if base else "-"
        print(f"{label:<24}{len(indices):>6}{base:>10}{ours:>10}{percent(ours, len(indices)):>10}"
              f"{percent(base, len(indices)):>9}{difference:>+9.1f} pp{ratio:>7}")


def print_miss_classes(cases, base_ok, ours_ok) -> None:
    def count(agreed):
        return Counter(name for case, ok in zip(cases, agreed) if not ok
                       for name in miss_classes(case["wikitext"]))
    base_misses, ours_misses = count(base_ok), count(ours_ok)
    print(f"{'misses by class':<30}{'baseline':>10}{'ours':>10}")
    for name in [*MISS_CLASSES, "other"]:
        print(f"{name:<30}{base_misses[name]:>10}{ours_misses[name]:>10}")


def print_deliberate(cases, ours_ok, ours_text, expected) -> None:
    """How many misses each deliberate choice explains, per set, and how many none does."""
    counts: Counter = Counter()
    for case, ok, ours, want in zip(cases, ours_ok, ours_text, expected):
        if not ok:
            counts[deliberate_choice(want, ours), is_held_out(case)] += 1
    print(f"{'misses by cause':<72}{'tuned':>7}{'held-out':>10}")
    for choice, why, _ in DELIBERATE:
        print(f"{'deliberate: ' + choice:<72}{counts[choice, False]:>7}{counts[choice, True]:>10}")
        print(f"    ({why})")
    print(f"{'not (yet) rendered as MediaWiki does':<72}{counts[None, False]:>7}{counts[None, True]:>10}")


def print_misses(cases, ours_ok, ours_text, expected, count: int, held_out_too: bool) -> None:
    shown = 0
    for case, ok, ours, want in zip(cases, ours_ok, ours_text, expected):
        if ok or shown == count or (is_held_out(case) and not held_out_too):
            continue
        shown += 1
        held = " (held out)" if is_held_out(case) else ""
        print(f"\n--- {case['file']} :: {case['title']}{held}  [{', '.join(miss_classes(case['wikitext']))}]")
        print(f"wikitext: {case['wikitext']!r}\nexpected: {want!r}\nours:     {ours!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline-rev", default="2896496", help="git revision of the baseline cleaner")
    parser.add_argument("--cases", type=Path, default=CASES, help="the case file (.jsonl.bz2)")
    parser.add_argument("--show", type=int, default=0, metavar="N", help="print the first N tuned misses")
    parser.add_argument("--show-held-out", action="store_true", help="--show held-out misses too")
    parser.add_argument("--build-from", type=Path, metavar="DIR_OR_GITDIR",
                        help="rewrite --cases from parser test files: a Parsoid or MediaWiki core git "
                             "dir or checkout, or a folder of *.txt; then exit")
    args = parser.parse_args()

    if args.build_from:
        files, origin = read_test_files(args.build_from)
        cases, skipped = build_cases(files)
        write_cases(cases, args.cases)
        print(f"{len(files)} files ({origin}): {len(cases):,} cases to {args.cases}; skipped "
              + ", ".join(f"{reason} {n:,}" for reason, n in skipped.most_common()))
        return

    cases = read_cases(args.cases)
    expected = [normalised(visible_text(case["html"])) for case in cases]
    with tempfile.TemporaryDirectory(prefix="bench_fidelity_") as tmp:
        baseline = baseline_module(args.baseline_rev, Path(tmp))
    base_ok, _ = agreements(baseline, cases, expected)
    ours_ok, ours_text = agreements(wikitext, cases, expected)

    print(f"{len(cases):,} cases from {args.cases.name}; baseline: src/wikitext.py at {args.baseline_rev}; "
          f"ours: the working tree\n")
    print_per_file(cases, base_ok, ours_ok)
    print()
    print_per_set(cases, base_ok, ours_ok)
    print()
    print_miss_classes(cases, base_ok, ours_ok)
    print()
    print_deliberate(cases, ours_ok, ours_text, expected)
    if args.show:
        print_misses(cases, ours_ok, ours_text, expected, args.show, args.show_held_out)


if __name__ == "__main__":
    main()
