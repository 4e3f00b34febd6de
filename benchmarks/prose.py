"""No prose lost: which paragraphs of plain running prose in a page's wikitext are missing from its
cleaned text.

A prose paragraph is a run of source lines (MediaWiki joins consecutive lines into one paragraph) that
stands outside every block of markup (templates `{{...}}`, tables `{|...|}`, file and category links,
comments, `<ref>`, `<gallery>` and the other elements the cleaner drops), is no heading, list item,
indented pre line or table row, lies outside the trailing sections a cleaner drops ("References",
"External links", ...), and holds at least MIN_WORDS plain words: words outside all markup, links and
bold/italic quotes included. Its evidence is its shingles: every run of SHINGLE consecutive plain
words inside one markup-free segment of it. It is kept when any of its shingles is in the cleaned text
(both sides lower case, words of letters and digits only), and lost when none is; one with no shingle
at all (every plain segment shorter than SHINGLE words) counts neither way. So a flag means that none
of the paragraph's plain text survived anywhere: a dropped paragraph, not a reworded one.

Scripts written without spaces (Chinese, Japanese): each of their characters counts as a word, and a
paragraph needs WIDE_FACTOR times as many of them (MIN_WORDS, SHINGLE), a character saying less than a
word. Trailing sections are known per language (`language`), by a list of this module's own.

    from prose import lost_paragraphs
    lost_paragraphs(wikitext, wikitext_module.clean_page(wikitext)[0])  # -> [source paragraph, ...]

Its cost per page: docs/benchmarks.md, "Small measurements behind code choices".
"""

from __future__ import annotations

import re

MIN_WORDS = 12  # plain words a paragraph needs to count as prose
SHINGLE = 5  # consecutive plain words that must survive together
WIDE_FACTOR = 3  # characters of a script without spaces per word (about 2-4 in Chinese and Japanese)
# Headings of the trailing sections a cleaner drops with their subsections: a list of its own, not
# src/wikitext.py's rule (its words: "Works cited", "Primary sources", ...), so that a section the
# cleaner wrongly took for citations still counts as prose here.
DROPPED_SECTIONS = frozenset((
    "see also", "references", "external links", "further reading", "notes", "bibliography",
    "sources", "footnotes", "citations", "works cited", "notes and references",
    "references and notes", "gallery", "links", "external link", "reference",
    "sources and further reading", "further information", "notes and citations",
    "explanatory notes", "cited sources", "general references", "specific references",
    "related pages", "selected bibliography", "references and further reading",
))
DROPPED_SECTIONS_BY_LANGUAGE = {
    "en": DROPPED_SECTIONS,
    "es": frozenset(("referencias", "notas", "bibliografía", "véase también", "enlaces externos",
                     "notas y referencias", "fuentes", "referencias y notas", "bibliografía adicional")),
    "de": frozenset(("einzelnachweise", "weblinks", "literatur", "siehe auch", "anmerkungen", "quellen",
                     "fußnoten", "belege", "referenzen")),
    "fr": frozenset(("notes et références", "références", "notes", "voir aussi", "liens externes",
                     "bibliographie", "articles connexes", "sources", "annexes", "lien externe")),
    "it": frozenset(("note", "bibliografia", "voci correlate", "collegamenti esterni", "altri progetti",
                     "fonti", "riferimenti")),
    "pt": frozenset(("referências", "notas", "ligações externas", "ver também", "bibliografia",
                     "fontes", "notas e referências", "leitura adicional")),
    "ru": frozenset(("примечания", "литература", "ссылки", "см. также", "источники", "комментарии")),
    "ja": frozenset(("脚注", "注釈", "出典", "参考文献", "関連項目", "外部リンク", "脚注・出典", "注釈・出典")),
    "zh": frozenset(("参考文献", "參考文獻", "参考资料", "參考資料", "外部链接", "外部連結", "参见", "參見",
                     "注释", "註釋", "延伸阅读", "延伸閱讀", "相关条目", "相關條目", "脚注", "腳註")),
}

# Elements dropped with their content (as src/wikitext.py does), and those whose text is no running
# prose (code, math, poems, quotations set apart).
_ELEMENTS = ("ref", "references", "gallery", "timeline", "imagemap", "graph", "mapframe", "maplink",
             "templatedata", "templatestyles", "includeonly", "noinclude", "score", "hiero",
             "inputbox", "categorytree", "charinsert", "indicator", "math", "chem", "ce", "pre",
             "syntaxhighlight", "source", "nowiki", "poem", "code", "table")
_HIDDEN = re.compile(
    r"<!--.*?(?:-->|\Z)"
    r"|<(%s)\b[^<>]*/>" % "|".join(_ELEMENTS)
    + r"|<(%s)\b[^<>]*>.*?(?:</\2\s*>|\Z)" % "|".join(_ELEMENTS), re.IGNORECASE | re.DOTALL)
# Openers and closers of nested markup; a table opens and closes only at the start of a line ("|}}"
# there closes a template).
_NEST = re.compile(r"^[ \t:]*(\{\|)|^[ \t]*(\|\})(?!\})|(\{\{)|(\}\})|(\[\[)|(\]\])", re.MULTILINE)
_KINDS = {1: ("table", True), 2: ("table", False), 3: ("template", True), 4: ("template", False),
          5: ("link", True), 6: ("link", False)}
# Inline markup that ends a plain segment: external links, tags, bold/italic quotes, entities,
# magic words, signatures' tildes.
_INLINE = re.compile(r"\[(?:https?:|ftp:|//)[^\]\n]*\]|https?://\S+|<[^<>\n]*>|''+|&#?\w+;|__[A-Z]+__"
                     r"|~~~+")
_HEADING = re.compile(r"(={1,6})(.+?)\1[ \t]*$")
# A word: a run of letters and digits, but each character of a script without spaces on its own
_WIDE = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TRAIL = re.compile(r"[^\W\d_]*")
_WORD = re.compile(r"[%s]|[^\W_%s]+" % (_WIDE, _WIDE))
_WIDE_CHAR = re.compile("[%s]" % _WIDE)
_MASK = "\x00"


def _masked(wikitext: str) -> str:
    """`wikitext` with every hidden element, template, table and link overwritten by NUL characters,
    offsets unchanged. Unbalanced openers and closers are left as text, as MediaWiki shows them."""
    text = _HIDDEN.sub(lambda m: _MASK * len(m.group(0)), wikitext)
    spans, stack = [], []
    for match in _NEST.finditer(text):
        kind, opens = _KINDS[match.lastindex]
        start = match.start(match.lastindex)
        if opens:
            stack.append((kind, start))
            continue
        depth = next((i for i in range(len(stack) - 1, -1, -1) if stack[i][0] == kind), None)
        if depth is not None:  # closes the innermost open of its kind; opens left inside never close
            end = match.end()
            if kind == "link":  # its trail ("[[Беларусь]]ю", "[[dog]]s") is part of its text
                end = _TRAIL.match(text, end).end()
            spans.append((stack[depth][1], end))
            del stack[depth:]
    chars = list(text)
    for start, end in spans:
        chars[start:end] = _MASK * (end - start)
    return "".join(chars)


def _heading_title(line: str) -> str:
    """A heading line's title in lower case, without links, quotes and markup."""
    title = re.sub(r"\[\[(?:[^\]|]*\|)?([^\]]*)\]\]", r"\1", _HEADING.match(line).group(2))
    return re.sub(r"''+|<[^>]*>|\x00", "", title).strip(" :.\t").lower()


def _segments(visible: str) -> list[list[str]]:
    """The normalised words of each markup-free segment of a masked paragraph."""
    plain = _INLINE.sub(_MASK, visible)
    return [words for part in plain.split(_MASK) if (words := _WORD.findall(part.lower()))]


def _weight(words: list[str]) -> float:
    """Words, where a character of a script without spaces counts 1 / WIDE_FACTOR."""
    wide = sum(len(word) == 1 and bool(_WIDE_CHAR.match(word)) for word in words)
    return len(words) - wide + wide / WIDE_FACTOR


def _paragraphs(wikitext: str, language: str = "en") -> list[tuple[str, list[list[str]]]]:
    """(source paragraph, plain segments' words) of every prose paragraph."""
    dropped_sections = DROPPED_SECTIONS_BY_LANGUAGE.get(language, DROPPED_SECTIONS)
    masked = _masked(wikitext)
    paragraphs, run, dropped_level, offset = [], [], 0, 0
    lines = wikitext.split("\n")

    def close_run():
        if run:
            segments = [words for line_segments in (segments for _, segments in run)
                        for words in line_segments]
            if sum(map(_weight, segments)) >= MIN_WORDS:
                paragraphs.append(("\n".join(line for line, _ in run), segments))
            run.clear()

    for line in lines:
        start, offset = offset, offset + len(line) + 1
        visible = masked[start:start + len(line)]
        inside = start > 0 and masked[start - 1] == _MASK and visible[:1] == _MASK
        heading = None if inside else _HEADING.match(visible.rstrip(_MASK + " \t"))
        if heading:
            close_run()
            level = len(heading.group(1))
            if dropped_level and level <= dropped_level:
                dropped_level = 0
            if not dropped_level and _heading_title(line[:heading.end()]) in dropped_sections:
                dropped_level = level
            continue
        if (dropped_level or inside or not visible.strip(_MASK + " \t") or line[:1] in "*#:; \t|!"
                or line.startswith("----")):
            close_run()
            continue
        run.append((line, _segments(visible)))
    close_run()
    return paragraphs


def _normalised_words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _shingles(words: list[str], size: int | None = None) -> set[str]:
    """Runs of SHINGLE words, or of SHINGLE * WIDE_FACTOR where most words are single wide characters."""
    if size is None:
        size = SHINGLE * WIDE_FACTOR if _weight(words) < len(words) * 2 / 3 else SHINGLE
    return {" ".join(words[i:i + size]) for i in range(len(words) - size + 1)}


def prose_paragraphs(wikitext: str, language: str = "en") -> list[str]:
    """The source of every paragraph of plain running prose in `wikitext` (see the module docstring)."""
    return [source for source, _ in _paragraphs(wikitext, language)]


def lost_paragraphs(wikitext: str, text: str, language: str = "en") -> list[str]:
    """The prose paragraphs of `wikitext` none of whose shingles is in `text`, the page's cleaned text;
    paragraphs without a shingle are left out. `language` picks the trailing sections' headings."""
    words = _normalised_words(text)
    kept = _shingles(words, SHINGLE) | _shingles(words, SHINGLE * WIDE_FACTOR)
    lost = []
    for source, segments in _paragraphs(wikitext, language):
        candidates = set().union(*map(_shingles, segments))
        if candidates and candidates.isdisjoint(kept):
            lost.append(source)
    return lost


def trailing_headings_kept(wikitext: str, text: str, language: str = "en") -> list[str]:
    """The lines of `text`, a page's cleaned text, that are a trailing section's heading (this module's
    list for `language`), but for those its wikitext holds as a line of text too ("'''Literatur'''"
    over a paragraph on Berlin's writers)."""
    headings = DROPPED_SECTIONS_BY_LANGUAGE.get(language, DROPPED_SECTIONS)
    as_text = {line.strip(" '").lower() for line in wikitext.split("\n") if not line.startswith("=")}
    return [line for line in text.split("\n")
            if line.strip(" :.").lower() in headings and line.lower() not in as_text]
