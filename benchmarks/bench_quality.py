"""Text quality of src/wikitext.py against wikiextractor 3.1.0 (`--no-templates`), on the sample, on
pages the cleaner was not tuned on, on held-out pages, and on pages of other languages' Wikipedias;
and whether any paragraph of prose is lost.

Usage (from the repository root; about two minutes; needs PyPI for wikiextractor):
    python benchmarks/bench_quality.py [--source data/mirror/enwiki/20251101]
                                       [--untuned benchmarks/data/untuned_pages.jsonl.bz2]
                                       [--heldout benchmarks/data/heldout_pages.jsonl.bz2]
                                       [--languages tests/data/languages]
                                       [--languages-heldout benchmarks/data/heldout_languages.jsonl.bz2]
                                       [--baseline-rev 446d2ba]

Other languages: each `<language>.jsonl.bz2` of tests/data/languages/ (tuned on) and each language's
pages in heldout_languages.jsonl.bz2 (held out: figures only) are cleaned with the site their real
siteinfo gives (tests/data/languages/siteinfo/; else one written from src/languages.yaml's names).
Their junk adds the language's file and category namespace names before a ":", its image options
before a "|" and its behaviour switches (in place of "Category:" and "thumb|"), and is compared with
the junk of the cleaner at `--baseline-rev` (446d2ba: English rules only). Their holes are the
patterns any language shows (HOLES' English word patterns left out) and fullwidth "（）", "（、".
Words are words, but each Chinese or Japanese character counts as one. Every table also gives GPT-2's
tokens per UTF-8 byte of our text.

Three corpora: "sample", every article of the sample mirror's single-stream parts (the pages the
cleaner was tuned on), read by the stage's own reader; "untuned", the real English Wikipedia pages of
benchmarks/data/untuned_pages.jsonl.bz2; and "held-out", those of heldout_pages.jsonl.bz2 (see
benchmarks/data/README.md), which nobody tuning the cleaner looks at: for them only figures are
printed, never a page's text, title or words. Each page goes through `wikitext.clean_page(text,
(2025, 11, 1))` and, wrapped into a MediaWiki XML dump with the sample's <siteinfo> (so namespaces are
right), through wikiextractor installed into a temporary venv. Disambiguation pages are left out, as
the stage drops them. Prints one table per corpus, for ours and for wikiextractor:
  - junk per MB of output (bench_extract's JUNK: markup left over; goal: <= 10);
  - words kept: wikiextractor's words (bench_extract's `normalized`, counted with multiplicity per
    page) found in ours, summed over pages (goal: >= 99%);
  - holes per MB: places where removed markup left a visible gap in the prose (HOLES below; goals:
    ours <= a fifth of wikiextractor's, and <= 2 per MB on the untuned and held-out pages);
  - wikiextractor's sentences (>= 40 chars) found in ours (bench_extract's `sentence_coverage`);
  - prose paragraphs of the source and how many of them ours lost entirely (benchmarks/prose.py:
    none of the paragraph's runs of 5 plain words is in our text; goal: 0), on every page we keep;
  - lines of our text that are a trailing section's heading (prose.py's own list per language; goal: 0);
then the goals with pass/fail, and (sample and untuned only) our most frequent junk and holes with 40
characters of context, the pages that miss the most of wikiextractor's words and those words, and the
first lost paragraphs. Measured figures: docs/benchmarks.md, "Quality on real pages".
"""

from __future__ import annotations

import argparse
import bz2
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from xml.sax.saxutils import escape

from lxml import etree

from bench_clean import baseline_module
from bench_extract import (JUNK, matches_per_mb, normalized, read_wikiextractor,
                           sentence_coverage)
from prose import lost_paragraphs, prose_paragraphs, trailing_headings_kept

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
import extract  # noqa: E402  (src/ is not a package)
import languages  # noqa: E402
import wikitext  # noqa: E402
from make_sample_mirror import read_pages  # noqa: E402
from tokens import gpt2_encoding  # noqa: E402

TODAY = (2025, 11, 1)  # the sample mirror's dump date: age templates count to it
WORDS_KEPT_GOAL = 0.99
JUNK_GOAL = 10.0  # markup left over, per MB of output
HOLES_RATIO_GOAL = 0.2
HOLES_GOAL = 2.0  # per MB of output, on pages nobody tuned on (the sample's holes are mostly its own text)
CONTEXT = 40
LOST_SHOWN = 5  # lost paragraphs printed per corpus, 200 characters each
# A hole is a place where removed markup (mostly a template) left a visible gap in the prose. Each
# pattern is one that a reader would call broken text wherever it stands in an encyclopedia article;
# whitespace alone (a double space) is not counted, nor is anything inside a word ("f()", ".NET").
# "lost words" and "lost numbers" do not depend on spacing, so they count a gap whether or not the
# space before its punctuation was tidied away; a tidied "born in, Paris" is not seen by any of them.
HOLES = {
    # "Paris () is", "( , )", "(; )", "[ ]": brackets holding nothing but spaces and punctuation
    # (not "[...]", an editor's ellipsis)
    "empty brackets": re.compile(r"(?<![\w.])[(\[][ \t]*[,;:\u2013\u2014-]*[ \t]*[)\]]"),
    # "( , born 1950", "(; French:", "1950, )": a bracket next to a comma or semicolon
    "bracket + comma": re.compile(r"[(\[][ \t]*[,;]|[,;][ \t]*[)\]]"),
    # "(– 1950)", "(1950 – )": a date range whose one end was a removed template
    "dangling dash": re.compile(r"\([ \t]*[\u2013\u2014][ \t]*(?=\S)|(?<=\S)[ \t]*[\u2013\u2014][ \t]*\)"),
    # "Paris , France", "in 1990 .": a space before a comma or a period that ends a sentence (not a
    # spaced ellipsis ". . .")
    "space before , .": re.compile(r"(?<=[^\s.])[ \t]+[,.](?=\s|$)(?![ \t]*\.)"),
    # ", ,", ",.", "; ;": doubled punctuation where a list item or a clause was removed (not ", ...",
    # nor LaTeX's thin space "\,")
    "doubled , ; .": re.compile(r"(?<!\\)[,;][ \t]*[,;.](?!\.)"),
    # A word whose object (a date, a number, a name) was a removed template: "the ,", "the of", "of
    # the in March", "as of .", "between and", "from to", "born on in", "(born )", "which, at, is", a
    # sentence opening "At , Alabama". Only words that cannot stand there in English: "drawing on,",
    # "made from.", "Since, according to", "the is-ought problem", "the in vivo" and ".NET" can.
    "lost words": re.compile(
        r"\b[Tt]he[ \t]*[,.;:](?=\s|$)|\b[Tt]he[ \t]+(?:of|and|to|is|was|from|by|on|at|for)\b(?![-\u2013])"
        r"|\b[Tt]he[ \t]+in[ \t]+(?=[A-Z0-9])|\b[Aa]s of[ \t]*[,.;:)]|\b[Bb]etween[ \t]+and\b"
        r"|\b[Ff]rom[ \t]+(?:to|until)\b|\b[Bb]orn[ \t]+(?:on|in)[ \t]*(?:[,.;:)]|in\b)"
        r"|\([ \t]*born[ \t]*[,;)]|,[ \t]*(?:at|of|about|approximately|around)[ \t]*[,.]"
        r"|(?:^|(?<=[.!?][ \t]))(?:In|On|At|By|From|Between|Of)[ \t]*,", re.MULTILINE),
    # "an area of km2", "is % of", "about miles": a quantity whose number was a removed template (after
    # "of" only unit symbols: "hundreds of miles" is prose)
    "lost numbers": re.compile(
        r"\b(?:is|was|about|approximately|around|over|nearly|than)[ \t]+(?:km|mi|ft|kg|lb|cm|mm|km2|mi2"
        r"|sq mi|square (?:kilometres|kilometers|miles|metres|meters)|per ?cent|miles|kilometres"
        r"|kilometers|metres|meters|feet|inches)\b|\bof[ \t]+(?:km|mi|ft|kg|lb|cm|mm|km2|mi2|sq mi)\b"
        r"|\b(?:of|is|was|about|approximately|around|over|nearly|than)[ \t]+%"),
}


# Other languages: each one's real pages (tuned on) and its real <siteinfo> where one was found; the
# held-out pages of every language in one file, a "language" key on each
LANGUAGE_PAGES = REPO / "tests/data/languages"
LANGUAGE_HELDOUT = REPO / "benchmarks/data/heldout_languages.jsonl.bz2"
# The holes any language can show (the English word patterns left out), and those of scripts without
# spaces: "（）", "（、" that a removed template leaves in Chinese and Japanese
NEUTRAL_HOLES = {name: HOLES[name] for name in ("empty brackets", "bracket + comma", "dangling dash",
                                                 "space before , .", "doubled , ; .")}
NEUTRAL_HOLES["empty fullwidth brackets"] = re.compile(r"（[ \t、，,;；]*）|（[ \t]*[、，;；]|[、，;；][ \t]*）")


def language_site(language: str) -> tuple[languages.Site, bytes]:
    """A language's site and a dump header (<mediawiki> and <siteinfo>) for its pages: its real
    siteinfo where tests/data/languages/siteinfo/ has one, else one written from its table's names."""
    path = LANGUAGE_PAGES / "siteinfo" / f"{language}.xml"
    if path.exists():
        siteinfo = path.read_bytes()
    else:
        table = languages.tables()["languages"].get(language, {})
        names = {**{number: names[0] for number, names in languages.CANONICAL.items()},
                 **{int(number): names[0] for number, names in (table.get("namespaces") or {}).items()}}
        # one element a line: wikiextractor reads the dump line by line
        siteinfo = (f"<siteinfo>\n<sitename>Wikipedia</sitename>\n<base>https://{language}.wikipedia.org/wiki/"
                    "</base>\n<namespaces>\n<namespace key=\"0\" case=\"first-letter\" />\n"
                    + "".join(f'<namespace key="{number}" case="first-letter">{escape(name)}</namespace>\n'
                              for number, name in sorted(names.items()))
                    + "</namespaces>\n</siteinfo>\n").encode("utf-8")
    header = (f'<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" xml:lang="{language}">\n'
              .encode() + siteinfo)
    root = etree.fromstring(header + b"</mediawiki>")
    return languages.read_siteinfo(root.find("{*}siteinfo"), root), header


def language_junk(site: languages.Site) -> dict[str, re.Pattern]:
    """JUNK, with the site's file and category namespace names, image options and behaviour switches
    in place of the English "Category:" and "thumb|"."""
    junk = {name: pattern for name, pattern in JUNK.items() if name not in ("Category:", "thumb|")}
    names = "|".join(map(re.escape, sorted(site.files | site.categories, key=len, reverse=True)))
    options = "|".join(map(re.escape, sorted((option for option in site.image_options
                                              if len(option) > 2 and not option.endswith("=")),
                                             key=len, reverse=True)))
    junk["namespace:"] = re.compile(r"(?<![^\W\d_])(?:%s)[ \t]*:" % names, re.IGNORECASE)
    junk["image option|"] = re.compile(r"(?<![^\W\d_])(?:%s)[ \t]*\|" % options, re.IGNORECASE)
    junk["__switch__"] = site.switch
    return junk


def language_pages(path: Path, language: str | None = None) -> dict[str, list[tuple[str, str, str]]]:
    """Pages by language as (page id, title, wikitext), from one language's file or (language None)
    the held-out file of all; ids are line numbers."""
    by_language: dict[str, list] = {}
    with bz2.open(path, "rt", encoding="utf-8") as lines:
        for number, page in enumerate(map(json.loads, lines), start=1):
            by_language.setdefault(language or page["language"], []).append(
                (str(number), page["title"], page["text"]))
    return by_language


def sample_pages(source: Path) -> tuple[bytes, list[tuple[str, str, str]]]:
    """The sample's <siteinfo> header and its articles as (page id, title, wikitext), read by the stage."""
    header, pages = b"", []
    for path in sorted(source.glob("*-pages-articles[0-9]*.xml-p*.bz2")):
        header = header or read_pages(path)[0]
        with bz2.open(path, "rb") as stream:
            pages += [(page_id, title, text)
                      for page_id, _, title, text, *_ in extract.iter_pages(stream)]
    return header, pages


def untuned_pages(path: Path) -> list[tuple[str, str, str]]:
    """The untuned (or held-out) pages as (page id, title, wikitext); ids are their line numbers."""
    with bz2.open(path, "rt", encoding="utf-8") as lines:
        return [(str(number), page["title"], page["text"])
                for number, page in enumerate(map(json.loads, lines), start=1)]


def dump_xml(header: bytes, pages: list[tuple[str, str, str]]) -> bytes:
    """A MediaWiki XML dump of `pages` (namespace 0) under `header` (<mediawiki ...> and <siteinfo>)."""
    parts = [header]
    quote = {'"': "&quot;"}  # as MediaWiki writes it
    for page_id, title, text in pages:
        parts.append(
            f"  <page>\n    <title>{escape(title)}</title>\n    <ns>0</ns>\n    <id>{page_id}</id>\n"
            f"    <revision>\n      <id>{page_id}</id>\n      <model>wikitext</model>\n"
            f"      <format>text/x-wiki</format>\n      <text xml:space=\"preserve\">"
            f"{escape(text, quote)}</text>\n    </revision>\n  </page>\n".encode("utf-8"))
    parts.append(b"</mediawiki>\n")
    return b"".join(parts)


def clean_ours(pages: list[tuple[str, str, str]],
               site: languages.Site | None = None) -> tuple[dict[str, str], int]:
    """Our text of every page that is not a disambiguation page, by page id; and how many were."""
    docs, disambiguation = {}, 0
    for page_id, _, text in pages:
        cleaned, is_disambiguation = wikitext.clean_page(text, TODAY, site)
        if is_disambiguation:
            disambiguation += 1
        else:
            docs[page_id] = cleaned
    return docs, disambiguation


def words_kept(ours: dict[str, str], theirs: dict[str, str]) -> tuple[float, dict[str, Counter]]:
    """Share of wikiextractor's words (with multiplicity, per page) that our text of the page holds,
    and the words each page misses (by page id). Its formula_N/codice_N placeholders are not words."""
    kept = total = 0
    missing = {}
    for page_id, text in theirs.items():
        their_words = Counter(word for word in normalized(text).split()
                              if not JUNK["placeholder"].fullmatch(word))
        our_words = Counter(normalized(ours[page_id]).split())
        kept += sum((their_words & our_words).values())
        total += sum(their_words.values())
        missing[page_id] = their_words - our_words
    return kept / max(total, 1), missing


def frequent_matches(docs: dict[str, str], patterns: dict[str, re.Pattern], count: int = 10):
    """The `count` most frequent (kind, matched text): how often, and the first one in context."""
    seen: Counter = Counter()
    first: dict[tuple[str, str], str] = {}
    for text in docs.values():
        for name, pattern in patterns.items():
            for match in pattern.finditer(text):
                key = (name, match.group(0))
                seen[key] += 1
                if key not in first:
                    around = text[max(match.start() - CONTEXT, 0):match.end() + CONTEXT]
                    first[key] = around.replace("\n", "\u23ce")
    return [(name, found, times, first[name, found]) for (name, found), times in seen.most_common(count)]


def prose_lost(pages: list[tuple[str, str, str]], ours: dict[str, str],
               language: str = "en") -> tuple[int, list[tuple[str, str]]]:
    """How many prose paragraphs the pages we keep hold, and the (title, paragraph) of those we lost."""
    total, lost = 0, []
    for page_id, title, text in pages:
        if page_id in ours:
            total += len(prose_paragraphs(text, language))
            lost += [(title, paragraph) for paragraph in lost_paragraphs(text, ours[page_id], language)]
    return total, lost


def trailing_sections_kept(pages: list[tuple[str, str, str]], ours: dict[str, str], language: str) -> int:
    """Lines of our text that are the heading of a trailing section (prose.py's list for the language)."""
    return sum(len(trailing_headings_kept(text, ours[page_id], language))
               for page_id, _, text in pages if page_id in ours)


def run_wikiextractor(python: Path, xml: bytes, work: Path) -> dict[str, str]:
    """wikiextractor's text of every page in `xml`, by page id."""
    (work / "input.xml.bz2").write_bytes(bz2.compress(xml, 9))
    subprocess.run([str(python), "-m", "wikiextractor.WikiExtractor", str(work / "input.xml.bz2"),
                    "--json", "--no-templates", "-q", "-b", "100M", "--processes", "1",
                    "-o", str(work / "out")], check=True)
    return read_wikiextractor(work / "out")


def measure(name: str, pages, header: bytes, python: Path, work: Path, site: languages.Site | None = None,
            tuned: bool = True, baseline=None) -> dict:
    """Every figure of one corpus, for ours and for wikiextractor, on the pages both keep. `site`: the
    wiki's (English Wikipedia's by default); another language's corpus also gets the junk of `baseline`
    (src/wikitext.py at --baseline-rev, English rules only) and GPT-2's tokens per byte."""
    language = site.language if site else "en"
    ours, disambiguation = clean_ours(pages, site)
    paragraphs = prose_lost(pages, ours, language)
    junk, holes = (JUNK, HOLES) if site is None else (language_junk(site), NEUTRAL_HOLES)
    work.mkdir()
    theirs = run_wikiextractor(python, dump_xml(header, pages), work)
    lost = sorted(set(ours) - set(theirs))
    if lost:
        print(f"  {name}: wikiextractor wrote nothing for {len(lost)} page(s) ({', '.join(lost[:5])}); "
              "they are left out")
    theirs = {page_id: theirs[page_id] for page_id in ours if page_id in theirs}
    ours = {page_id: ours[page_id] for page_id in theirs}
    kept, missing = words_kept(ours, theirs)
    result = {"name": name, "pages": len(pages), "disambiguation": disambiguation, "ours": ours,
              "theirs": theirs, "titles": {page_id: title for page_id, title, _ in pages},
              "junk_patterns": junk, "holes_patterns": holes,
              "junk": (matches_per_mb(ours, junk)[0], matches_per_mb(theirs, junk)[0]),
              "junk_counts": (matches_per_mb(ours, junk)[1], matches_per_mb(theirs, junk)[1]),
              "holes": (matches_per_mb(ours, holes), matches_per_mb(theirs, holes)), "words_kept": kept,
              "missing": missing, "coverage": sentence_coverage(ours, theirs), "prose": paragraphs,
              "tuned": tuned, "language": language,
              "sections_kept": trailing_sections_kept(pages, ours, language)}
    text = "".join(ours.values())
    result["tokens_per_byte"] = len(gpt2_encoding().encode_ordinary(text)) / max(len(text.encode()), 1)
    if site is not None:
        before = {page_id: baseline.clean_page(text, TODAY)[0] for page_id, _, text in pages if page_id in ours}
        result["baseline_junk"] = matches_per_mb(before, junk)[0]
    return result


def report(result: dict, listings: bool = True) -> dict[str, bool]:
    """Print one corpus's table, the goals and (with `listings`) what to fix: text from its pages, which
    a held-out corpus must not show. Returns the goals' pass/fail."""
    ours, theirs = result["ours"], result["theirs"]
    (our_holes, our_hole_counts), (their_holes, their_hole_counts) = result["holes"]
    coverage, found, total = result["coverage"]
    print(f"\n== {result['name']}: {len(ours):,} pages both keep ({result['pages']:,} articles, "
          f"{result['disambiguation']:,} disambiguation left out); output: ours "
          f"{sum(len(t.encode()) for t in ours.values()) / 1e6:.2f} MB, wikiextractor "
          f"{sum(len(t.encode()) for t in theirs.values()) / 1e6:.2f} MB")
    print(f"{'':<44}{'ours':>10}{'wikiextractor':>15}")
    print(f"{'junk per MB of output':<44}{result['junk'][0]:>10.1f}{result['junk'][1]:>15.1f}")
    for kind, count in result["junk_counts"][0].items():
        if count or result["junk_counts"][1][kind]:
            print(f"{'  ' + kind + ' (count)':<44}{count:>10,}{result['junk_counts'][1][kind]:>15,}")
    if "baseline_junk" in result:
        print(f"{'  the cleaner at the baseline revision':<44}{result['baseline_junk']:>10.1f}{'-':>15}"
              f"   (ours: {result['junk'][0] / max(result['baseline_junk'], 1e-9):.2f}x the baseline's)")
    print(f"{'holes per MB of output':<44}{our_holes:>10.1f}{their_holes:>15.1f}")
    for kind in result["holes_patterns"]:
        print(f"{'  ' + kind + ' (count)':<44}{our_hole_counts[kind]:>10,}{their_hole_counts[kind]:>15,}")
    print(f"{'words of wikiextractor kept':<44}{result['words_kept']:>10.2%}{'-':>15}")
    print(f"{'its sentences (>= 40 chars) found in ours':<44}{coverage:>10.1%}{'-':>15}"
          f"   ({found:,} of {total:,})")
    paragraphs, lost = result["prose"]
    print(f"{'prose paragraphs (pages we keep)':<44}{paragraphs:>10,}{'-':>15}")
    print(f"{'  lost: none of their words in ours':<44}{len(lost):>10,}{'-':>15}"
          f"   ({len(lost) / max(paragraphs, 1):.2%})")
    print(f"{'trailing section headings kept':<44}{result['sections_kept']:>10,}{'-':>15}")
    print(f"{'GPT-2 tokens per UTF-8 byte of our text':<44}{result['tokens_per_byte']:>10.3f}{'-':>15}")
    goals = {"junk": result["junk"][0] <= JUNK_GOAL,
             "words kept": result["words_kept"] >= WORDS_KEPT_GOAL,
             "holes": our_holes <= HOLES_RATIO_GOAL * their_holes, "prose lost": not lost,
             "trailing sections": not result["sections_kept"]}
    if not result["tuned"]:
        goals[f"holes <= {HOLES_GOAL:g}/MB"] = our_holes <= HOLES_GOAL
    print(f"goal junk per MB <= {JUNK_GOAL:g}: {result['junk'][0]:.1f} -> {'PASS' if goals['junk'] else 'FAIL'}")
    print(f"goal words kept >= {WORDS_KEPT_GOAL:.0%}: {result['words_kept']:.2%} -> "
          f"{'PASS' if goals['words kept'] else 'FAIL'}")
    print(f"goal holes per MB <= {HOLES_RATIO_GOAL:g} x wikiextractor's: {our_holes:.1f} vs "
          f"{HOLES_RATIO_GOAL * their_holes:.1f} (ratio {our_holes / max(their_holes, 1e-9):.2f}) -> "
          f"{'PASS' if goals['holes'] else 'FAIL'}")
    if not result["tuned"]:
        print(f"goal holes per MB <= {HOLES_GOAL:g}: {our_holes:.1f} -> "
              f"{'PASS' if goals[f'holes <= {HOLES_GOAL:g}/MB'] else 'FAIL'}")
    print(f"goal prose lost == 0: {len(lost):,} -> {'PASS' if goals['prose lost'] else 'FAIL'}")
    print(f"goal trailing section headings kept == 0: {result['sections_kept']:,} -> "
          f"{'PASS' if goals['trailing sections'] else 'FAIL'}")
    if not listings:
        return goals
    for label, patterns in (("junk", result["junk_patterns"]), ("holes", result["holes_patterns"])):
        print(f"our most frequent {label}:")
        for kind, found, times, around in frequent_matches(ours, patterns):
            print(f"  {times:>4} x {kind} {found!r}: ...{around}...")
    print("pages missing the most of wikiextractor's words (words missed, share of the page's kept):")
    missing = result["missing"]
    for page_id in sorted(missing, key=lambda page_id: -sum(missing[page_id].values()))[:5]:
        missed = sum(missing[page_id].values())
        share = words_kept({page_id: ours[page_id]}, {page_id: theirs[page_id]})[0]
        print(f"  {result['titles'][page_id][:50]:<52}{missed:>6,}{share:>8.1%}  e.g. "
              + " ".join(word for word, _ in missing[page_id].most_common(8)))
    if lost:
        print(f"lost paragraphs (first {min(len(lost), LOST_SHOWN)} of {len(lost):,}):")
        for title, paragraph in lost[:LOST_SHOWN]:
            print(f"  {title}: {paragraph[:200]!r}")
    return goals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=REPO / "data/mirror/enwiki/20251101")
    parser.add_argument("--untuned", type=Path, default=REPO / "benchmarks/data/untuned_pages.jsonl.bz2")
    parser.add_argument("--heldout", type=Path, default=REPO / "benchmarks/data/heldout_pages.jsonl.bz2")
    parser.add_argument("--languages", type=Path, default=LANGUAGE_PAGES,
                        help="a folder of <language>.jsonl.bz2 pages (and siteinfo/<language>.xml)")
    parser.add_argument("--languages-heldout", type=Path, default=LANGUAGE_HELDOUT)
    parser.add_argument("--baseline-rev", default="446d2ba",
                        help="the cleaner whose junk each other language's pages are compared with (446d2ba: "
                             "English rules only, before src/languages.py)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_quality_") as tmp:
        tmp = Path(tmp)
        print("installing wikiextractor==3.1.0 into a temporary venv ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(tmp / "venv")], check=True)
        subprocess.run([str(tmp / "venv/bin/pip"), "install", "-q", "wikiextractor==3.1.0"], check=True)
        python = tmp / "venv/bin/python"
        baseline = baseline_module(args.baseline_rev, tmp)
        header, sample = sample_pages(args.source)
        results = [measure("sample (tuned on)", sample, header, python, tmp / "sample"),
                   measure("untuned pages", untuned_pages(args.untuned), header, python, tmp / "untuned",
                           tuned=False)]
        heldout = [measure("held-out pages", untuned_pages(args.heldout), header, python, tmp / "heldout",
                           tuned=False)]
        heldout_by_language = language_pages(args.languages_heldout) if args.languages_heldout.exists() else {}
        for path in sorted(args.languages.glob("*.jsonl.bz2")):
            language = path.name.split(".")[0]
            site, language_header = language_site(language)
            results.append(measure(f"{language} pages", language_pages(path, language)[language],
                                   language_header, python, tmp / language, site, baseline=baseline))
            if language in heldout_by_language:
                heldout.append(measure(f"{language} held-out pages", heldout_by_language[language],
                                       language_header, python, tmp / f"{language}-heldout", site, tuned=False,
                                       baseline=baseline))
    verdicts = {result["name"]: report(result) for result in results}
    verdicts.update((result["name"], report(result, listings=False)) for result in heldout)
    print("\ngoals:")
    for name, goals in verdicts.items():
        print(f"  {name}: " + "; ".join(f"{goal} {'PASS' if ok else 'FAIL'}" for goal, ok in goals.items()))


if __name__ == "__main__":
    main()
