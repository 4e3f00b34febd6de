"""Wikitext -> plain text for language-model training. Pure: strings in, strings out, no I/O.

`clean(wikitext)` gives the text a reader sees on the page MediaWiki renders, laid out as lines: a
paragraph is one line (MediaWiki joins the lines of a paragraph), and so is each heading, list item,
definition-list term and definition, and preformatted line; a blank line ends a paragraph or a list.
It keeps the visible text of links and the words and numbers of inline templates ({{convert}},
{{lang}}, IPA, transliterations, dates, ...), so sentences keep no holes. It drops other templates,
tables, references, files, categories, comments and the trailing "References / See also / ..."
sections, and decodes HTML entities once. benchmarks/bench_fidelity.py measures it against
MediaWiki's parser tests.
`is_disambiguation(wikitext)` tells disambiguation and set-index pages apart.

Speed and safety: every pass is a compiled regex without nested quantifiers or a linear scan, so the
work per page is linear in its size (no page can hang a worker; tests/test_linear_time.py feeds it
adversarial pages). Template and link nesting is resolved innermost first by one token scan; nesting
deeper than MediaWiki's own limit is dropped. A repeat that what follows it can never match is
possessive (*+, ++): giving characters back could not help, so a failed match stops at once.
"""

from __future__ import annotations

import functools
import html
import html.entities
import re
import unicodedata
import urllib.parse
from collections.abc import Callable

import languages
from languages import Site

# MediaWiki stops expanding templates at depth 40; deeper content is dropped. This also bounds the
# copying done when kept templates pass their text up the nesting (<= 40 copies per character).
MAX_DEPTH = 40

# Private-use characters mark spans and places while the markup passes run; they are stripped from
# the input first, so they cannot collide.
_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"  # a protected span (math, nowiki, code): its number
_PIPE = "\ue002"  # an escaped pipe ({{!}})
_LINE_BREAK = "\ue003"  # a line break in a paragraph (<br>, a poem's line end), kept while lines join
_COMMENT = "\ue004"  # where a comment was, until the lines of comments alone are dropped
_COMMENT_SPACE = " \t\ue004"  # what a line of comments alone holds
_DEFINITION = "\ue005"  # the colon that ends a definition list's term (_mark_definitions)
# A line that starts with a space in the source, before templates and links are rendered: it is
# preformatted (a line of its own), unlike one that rendering left starting with a space.
_PRE = "\ue006"
_BLOCK_OPEN, _BLOCK_CLOSE = "\ue007", "\ue008"  # where a block tag was (_block_line)
_APOSTROPHE = "\ue009"  # one in a link's target: text, not a bold or italic mark ("[[Lista d''e]]")
_TEXT_START = "\ue00a"  # before a link's text that starts with "*#:;" ("[[#]]"): no list mark
# All but _MARK_OPEN, which `str.count` finds faster than `in` (see clean_page)
_OTHER_MARKS = (_MARK_CLOSE, _PIPE, _LINE_BREAK, _COMMENT, _DEFINITION, _PRE, _BLOCK_OPEN, _BLOCK_CLOSE,
                _APOSTROPHE, _TEXT_START)
_PRIVATE = re.compile("[\ue000-\ue00a]")
_BLOCK_MARKS = re.compile("([\ue007\ue008])")
_PLACEHOLDER = re.compile("\ue000(\\d+)\ue001")

_COMMENT_OPEN, _COMMENT_CLOSE = "<!--", "-->"

# Elements whose content is kept verbatim (no markup inside them is interpreted).
_PROTECTED = ("nowiki", "math", "chem", "ce", "pre", "syntaxhighlight", "source")
# Elements dropped with their content.
_DROPPED = ("ref", "references", "gallery", "timeline", "imagemap", "graph", "mapframe", "maplink",
            "templatedata", "templatestyles", "includeonly", "score", "hiero", "inputbox",
            "categorytree", "charinsert", "table", "indicator", "noinclude", "chart", "talkpage")
# Tags removed while their text stays: inline ones, and unpaired tags of the elements above.
_INLINE_TAGS = ("b", "i", "u", "s", "span", "small", "big", "sup", "sub", "font", "abbr", "cite",
                "code", "tt", "var", "em", "strong", "del", "ins", "q", "mark", "kbd", "samp", "ruby",
                "rb", "rbc", "rt", "rtc", "rp", "bdi", "bdo", "data", "time", "wbr", "strike", "dfn",
                "onlyinclude", "section", "nowiki", "ref", "references", "math", "chem", "ce",
                "syntaxhighlight", "source", "includeonly", "noinclude", "templatestyles",
                "langconvert", "link", "meta", "phonos", "poem")
# Block tags: a paragraph ends at each, so the words on either side are not glued.
_BLOCK_TAGS = ("div", "p", "center", "blockquote", "li", "ul", "ol", "dl", "dd", "dt", "h1", "h2",
               "h3", "h4", "h5", "h6", "hr", "caption", "tr", "td", "th", "tbody", "thead", "tfoot",
               "pre", "figure", "figcaption", "table")


def _alternatives(names: tuple[str, ...]) -> str:
    """Tag names -> a regex alternation of them grouped by first letter ("s(?:pan|mall|)|b(?:ig|)"),
    so that at each "<" the engine tests a letter once per group rather than once per name. Longest
    first; the word boundary after the alternation keeps a name from matching a longer one."""
    groups: dict[str, list[str]] = {}
    for name in sorted(set(names), key=len, reverse=True):
        groups.setdefault(name[0], []).append(name[1:])
    return "|".join(first + ("(?:%s)" % "|".join(rests) if rests != [""] else "")
                    for first, rests in groups.items())


# A tag's name ends at a space, "/" or ">" ("<b→>", "<s.foo>" are no tags: MediaWiki shows them).
_ELEMENT_OPEN = re.compile(
    r"<(%s)(?=[\s/>])([^<>]*+)>" % _alternatives(_PROTECTED + _DROPPED + ("poem",)), re.IGNORECASE)
_CLOSERS = {name: re.compile(r"</%s\s*>" % name, re.IGNORECASE) for name in _PROTECTED + _DROPPED}
_TAG = re.compile(r"</?(?:%s)(?=[\s/>])[^<>]*+>" % _alternatives(_INLINE_TAGS), re.IGNORECASE)
_POEM = re.compile(r"<poem(?=[\s/>])[^<>]*+>", re.IGNORECASE)
_NOWIKI = re.compile(r"<nowiki>([^<]*+(?:<(?!/nowiki>)[^<]*+)*+)</nowiki>|<nowiki\s*/>")
_POEM_CLOSE = re.compile(r"</poem\s*>", re.IGNORECASE)
_BLOCK_TAG = re.compile(r"<(/?)(?:" + _alternatives(_BLOCK_TAGS) + r")(?=[\s/>])[^<>]*+>", re.IGNORECASE)
# A ref's body up to the first </ref>, unrolled ([^<]* runs in one C loop; each "<" is checked once)
# rather than a lazy .*? that tests for the closer at every character: half the time, same matches.
_REF = re.compile(r"<ref(?=[\s/>])[^<>]*/>|<ref(?=[\s/>])[^<>]*+>[^<]*+(?:<(?!/ref\s*>)[^<]*+)*+</ref\s*>",
                  re.IGNORECASE)
_REF_OPEN = re.compile(r"<ref(?=[\s/>])([^<>]*+)>", re.IGNORECASE)
# <br>, <br/>, <br style="clear:both">, </br>: a line break MediaWiki renders (it reads </br> as <br>)
_BR = re.compile(r"</?br(?=[\s/>])[^<>]*+>", re.IGNORECASE)

# The tokens of template and link nesting; a token is coded as position * 4 + index in this tuple,
# so that sorting the codes sorts the tokens by position.
_NEST_TOKENS = ("{{", "}}", "[[", "]]")
_OPEN_TEMPLATE, _CLOSE_TEMPLATE, _OPEN_LINK, _CLOSE_LINK = range(4)
# Plain article links (no namespace, no nesting) are most links; re.split with one group keeps the
# visible text and runs in C, leaving only the rest to the token scan.
# (Targets with "<", ">", "%", "&", a placeholder, or a leading "." or "/" go the slow way, to be
# checked; so do a plain link's apostrophes, and links right after "[" or "|", which may stand in
# another link's text. The literal "[[" comes first, the look behind it after, so that the engine
# still skips from one "[[" to the next.)
_PLAIN_LINK = re.compile(r"\[\[(?<![\[|]\[\[)(?![./*#;])([^\[\]{}|:<>%&'\n" + _MARK_OPEN + r"]++)\]\]")
_PIPED_LINK = re.compile(
    r"\[\[(?<![\[|]\[\[)(?![./])[^\[\]{}|:<>%&\n" + _MARK_OPEN + r"]*+\|([^\[\]{}|\n]++)\]\]")
_EXTERNAL_LINK = re.compile(
    # URL, spaces, then the label up to the first "]" on the line, as MediaWiki reads it (the label may
    # hold "[", "<" or quotes). The label is bounded (500 characters), so a "[http" without its "]"
    # costs at most that many: linear time on any page.
    # The URL ends at "''" (italics after it). A scheme needs its "//" ("[http:/x y]" is text).
    r"\[(?:(?:https?:|ftp:|irc:|ircs:|gopher:)?//|mailto:|news:)(?:[^\s\[\]<>\"']|'(?!'))*+[ \t]*+"
    r"([^\]\n]{0,500}+)\]",
    re.IGNORECASE)
# A template parameter ({{{1}}}, {{{name|default}}}): outside a template it shows its default.
_TEMPLATE_ARGUMENT = re.compile(r"\{\{\{[^{}|]*+(?:\|([^{}]*+))?\}\}\}")
# Runs of two or more apostrophes: bold and italic marks, balanced line by line (_drop_bold_italic).
# Not '{2,}: a literal "''" first lets the engine skip ahead (docs/benchmarks.md, "Small measurements
# behind code choices").
_QUOTE_RUNS = re.compile(r"(''+)")
# An entity with its semicolon ("&amp;", "&#160;", "&#x2013;"): MediaWiki decodes no other.
_ENTITY = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,12}|#[xX][0-9A-Fa-f]{1,12}|רלמ|رلم);")
_ENTITY_ALIASES = {"&רלמ;": "\u200f", "&رلم;": "\u200f"}  # MediaWiki's own names of &rlm;
# "(e.g.,)", "(see)": a parenthesis whose examples or citation were removed, but for its introducer
# (matched from a run of spaces' start only: a try inside the run fails at once).
_INTRODUCER = r"(?:e\.g|i\.e|cf|see|see also|for example|including|citation)\b[.,:;]*+[ \t]*+\)"
_EMPTY_INTRODUCTION = re.compile(r"(?<![ \t])[ \t]*+\(" + _INTRODUCER, re.IGNORECASE)
# "Alabama () is": what a dropped template leaves; "printf()" (no space before) is left alone
# A literal "(" first lets the regex engine skip to candidates; the lookbehind then checks the
# parenthesis follows a space or starts a line.
_EMPTY_PARENS = re.compile(r"\((?<!\S\()[ \t]*+(?:[,;:][ \t]*+)?\)")
_OPEN_PAREN_PUNCT = re.compile(r"\([ \t]*+[,;][ \t]*+")
# "(" and then what any pattern above would match: one scan tells whether they have anything to
# do, and on most pages they have not. (Both alternatives after one literal "(", so that the engine
# still skips from "(" to "(".)
_PAREN_MARKS = re.compile(r"\((?:(?<!\S\()[ \t]*+(?:[,;:][ \t]*+)?\)|[ \t]*+[,;]|" + _INTRODUCER + ")")
_DOUBLE_COMMA = re.compile(r",[ \t]*+,")
# "(Berlin, [bɛɐ̯ˈliːn], )", "(1st edition 2001; )": a comma, or a semicolon and a space, left before a
# closing parenthesis; found from the ")" (a literal: the engine skips to candidates), then mended. A
# semicolon right before it may end an entity ("(&Psi;)"), decoded later.
_PAREN_CLOSE_MARK = re.compile(r"\)(?:(?<=,\))|(?<=[,;] \)))")
_CLOSE_PAREN_PUNCT = re.compile(r"[ \t]*+(?:,[ \t]*+|;[ \t]++)\)")
# The same in Chinese and Japanese, with fullwidth brackets and commas: "（）", "（、", "、）"
_EMPTY_WIDE_PARENS = re.compile(r"（[ \t、，,；]*+）")
_WIDE_PAREN_PUNCT = re.compile(r"（[ \t]*+[、，,；][ \t]*+|[ \t]*+[、，,；][ \t]*+）")
_ODD_SPACES = ("\t", "\u00a0", "\u2002", "\u2003", "\u2007", "\u2009", "\u202f")
# (stray, mended): spaces that removed templates leave before punctuation or at line ends; " ."
# only before a space or line end, so ".NET" keeps its dot. Applied in this order, after runs of
# spaces are collapsed, but only to the runs of these characters that need it (see _mend_spaces).
_STRAY_SPACES = ((" ,", ","), (" ;", ";"), (" . ", ". "), (" .\n", ".\n"), ("\n ", "\n"),
                 (" \n", "\n"))
_SPACING_CHARS = " ,;.\n"  # every character of the patterns above, and of their replacements
# A run of spaces or a space before , ; . or a line end: the literal " " first lets the regex
# engine skip to candidates. "\n " (the one pattern not starting with a space) is searched apart,
# and " ." counts only before a space or a line end (".NET"), which _mend_spaces checks: one class
# after the space costs the engine less at each space than a choice between two branches.
_STRAY_SPACE = re.compile(r" [ ,;.\n]")
_NEWLINE_SPACE = re.compile("\n ")
_SPACING_RUN = re.compile(r"[ ,.;\n]*")
# \n{3,}, spelt with a literal prefix so that the engine skips to candidates
_BLANK_LINES = re.compile(r"\n\n\n+")
# (From a run's first character only: a run not followed by "\n" is then passed over once.)
_TRAILING_SPACE = re.compile(r"(?<![ \t\r\f\v])[ \t\r\f\v]++\n")
# " \n", found from the line ends (rare) rather than from the spaces (every word)
_SPACE_NEWLINE = re.compile(r"\n(?<= \n)")
_INVISIBLE = ("\u200b", "\u200e", "\u200f", "\ufeff", "\u00ad")

# A definition list line (";term: definition", "*;term"); group 1 is its list marks. The colon that
# ends its term is marked while the markup that may hold colons is still there (_mark_definitions).
# (A "\n" first lets the engine skip from line to line; the page's first line is read with one too.)
_DEFINITION_LINE = re.compile(r"\n([*#:;]*;[*#:;]*)[^\n]*")
_PRE_LINE = re.compile(r"\n(?= )")  # (one regex pass: faster than '"\n " in text' alone)
_DEFINITION_STOPS = re.compile(r"[:\[\]{}<]")

# The separators of a heading's words or parts ("Notes and references", "脚注・出典")
_SECTION_SPLIT = re.compile(r"[\s,/・、，]+")

# Interwiki prefixes that render as visible links (not interlanguage links, which are dropped).
_INTERWIKI = frozenset(("wikt", "wiktionary", "w", "wikipedia", "s", "wikisource", "q", "wikiquote",
                        "n", "wikinews", "b", "wikibooks", "v", "wikiversity", "c", "commons", "d",
                        "wikidata", "m", "meta", "mw", "species", "voy", "wikivoyage", "doi",
                        "rfc", "hdl", "arxiv", "oeis", "iso", "wp"))
# What no page title holds (MediaWiki's Title rules): these characters, a %-escape, a relative path
_INVALID_TITLE = re.compile(r"[<>\[\]{}|\x00-\x1f\x7f]|%[0-9A-Fa-f]{2}|&[A-Za-z0-9#]+;"
                            r"|^\.\.?(?:/|$)|/\.\.?(?:/|$)|^:|~~~")
_URL_START = re.compile(r"(?:https?:|ftp:|irc:|ircs:|news:|mailto:|gopher:)?//|mailto:|news:",
                        re.IGNORECASE)
# LanguageConverter markup, on wikis whose language has script variants (zh, sr, kk, ...); see _convert
_CONVERTER = re.compile(r"-\{([^{}]*+)\}-")
_VARIANT_CODE = r"[a-z]{2,3}(?:-[a-z]{2,4})?"
_CONVERTER_FLAGS = re.compile(r"[A-Z+\-; ]{1,8}|%s(?: *; *%s)*+ *;?" % (_VARIANT_CODE, _VARIANT_CODE))
_VARIANT = re.compile(r"\s*+%s\s*+:(.*)" % _VARIANT_CODE, re.DOTALL)
# A media file's name, and any file's (an extension): a link to one in a namespace the site does not
# list shows an image (_is_image)
_MEDIA_FILE = re.compile(r"\.(?:jpe?g|png|gif|svg|tiff?|webp|xcf|pdf|djvu|og[gva]|opus|webm|mpe?g|mp3|wav"
                         r"|flac|midi?|stl)\s*$", re.IGNORECASE)
_FILE_NAME = re.compile(r"\.[A-Za-z0-9]{2,5}\s*$")
_WIDTH = re.compile(r"\d*(?:x\d+)?")
# A language code's shape: the first argument of {{IPA|fr|...}}
_LANGUAGE_PREFIX = re.compile(r"[a-z]{2,3}(?:-[a-z]{1,8}){0,2}$|simple$")

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")


# ---------------------------------------------------------------------------------------------
# Template arguments and inline-template renderers


def _split_args(parts: list[str]) -> tuple[list[str], dict[str, str]]:
    """Template arguments -> (positional values, named values), both stripped."""
    positional, named = [], {}
    for part in parts:
        key, eq, value = part.partition("=")
        if eq and key.strip() and "\n" not in key and "<" not in key and len(key) < 40:
            key = key.strip().lower()
            if key.isascii() and key.isdigit():
                index = int(key) - 1
                while len(positional) <= index < 20:
                    positional.append("")
                if index < 20:
                    positional[index] = value.strip()
            else:
                named[key] = value.strip()
        else:
            positional.append(part.strip())
    return positional, named


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None


def _format_date(pos: list[str], named: dict[str, str]) -> str:
    """(year, month, day) arguments -> "March 5, 1990" or, with df=y, "5 March 1990"."""
    year, month, day = (pos + ["", "", ""])[:3]
    m, d = _int(month), _int(day)
    if not year:
        return ""
    if not m or not 1 <= m <= 12:
        return year
    name = _MONTHS[m - 1]
    if not d:
        return f"{name} {year}"
    if named.get("df", "").lower() in ("y", "yes", "1", "true"):
        return f"{d} {name} {year}"
    return f"{name} {d}, {year}"


def _age(born: list[str], at: list[str] | tuple) -> int | None:
    try:
        y1, m1, d1 = (int(x) for x in (list(born) + ["1", "1"])[:3])
        y2, m2, d2 = (int(x) for x in (list(at) + ["1", "1"])[:3])
    except ValueError:
        return None
    return y2 - y1 - ((m2, d2) < (m1, d1))


def _render_convert(pos: list[str], named: dict[str, str]) -> str:
    # {{convert|10|km|mi}} -> "10 km"; {{convert|1|to|2|km}} -> "1 to 2 km"; {{convert|5|ft|6|in}}
    if not pos:
        return ""
    out, i = [_with_commas(pos[0])], 1
    if len(pos) > 2 and pos[1] in ("-", "–", "to", "and", "or", "x", "by", "+", "&", "to(-)",
                                    "and(-)", "or(-)", "+/-", "±", "×"):
        out += [pos[1] if pos[1] not in ("-", "to(-)") else "to", _with_commas(pos[2])]
        i = 3
    if i < len(pos):
        out.append(_UNITS.get(pos[i], pos[i]))
        # feet and inches, stones and pounds: a second value with its unit
        if i + 2 < len(pos) and _NUMBER.fullmatch(pos[i + 1]) and pos[i + 2] in ("in", "lb", "oz"):
            out += [pos[i + 1], pos[i + 2]]
    text = " ".join(p for p in out if p)
    if named.get("adj", "").lower() in ("on", "yes", "y") and len(out) == 2:
        # "a {{convert|40|acre|adj=on}} ranch" -> "a 40-acre ranch": the unit as written, singular
        return f"{out[0]}-{pos[i]}"
    return text.replace(" - ", "–")


def _with_commas(number: str) -> str:
    """"52419" -> "52,419", as {{convert}} shows it; anything else unchanged."""
    whole, dot, fraction = number.partition(".")
    if not 4 <= len(whole) < 40 or not whole.isascii() or not whole.isdigit() or (
            dot and not fraction.isdigit()):
        return number
    return f"{int(whole):,}{dot}{fraction}"


# (Possessive, and a digit checked behind rather than matched twice: linear on a long run of digits.)
_NUMBER = re.compile(r"[-+−]?(?:[\d,]*+\.\d++|[\d,]++(?<=\d))(?:e\d++)?")
_UNITS = {"km2": "km²", "m2": "m²", "sqmi": "sq mi", "mi2": "sq mi", "sqft": "sq ft", "ft2": "sq ft",
          "C": "°C", "F": "°F", "K": "K", "e6acre": "million acres", "e3acre": "thousand acres",
          "e6km2": "million km²", "e6sqmi": "million sq mi", "km/h": "km/h", "kph": "km/h",
          "mph": "mph", "e6m3": "million m³", "m3": "m³", "cuft": "cu ft", "e6mi": "million miles",
          "e6km": "million km", "e9m3": "billion m³", "ftin": "ft", "sqkm": "km²", "ha": "ha",
          "cm3": "cm³", "km3": "km³", "cumi": "cu mi", "cuyd": "cu yd", "usgal": "US gal",
          "impgal": "imp gal", "kn": "kn", "mm": "mm", "cm": "cm", "m": "m", "km": "km", "mi": "mi",
          "ft": "ft", "in": "in", "yd": "yd", "nmi": "nmi", "kg": "kg", "lb": "lb", "t": "t",
          "LT": "long tons", "ST": "short tons", "g": "g", "oz": "oz", "acre": "acres", "L": "L"}


def _render_ipac(pos: list[str], named: dict[str, str]) -> str:
    # {{IPAc-en|ˌ|æ|l|ə|ˈ|b|æ|m|ə}} -> "/ˌæləˈbæmə/"; leading labels like "us", "pron" are dropped
    start = 0
    while start < len(pos) and pos[start].lower() in _IPAC_LABELS:
        start += 1
    sounds = [p for p in pos[start:] if p]
    return "/" + "".join(sounds).replace("_", " ") + "/" if sounds else ""


# Labels IPAc-en accepts before the sounds ("{{IPAc-en|us|ˈ|...}}" -> "US pronunciation: ...").
_IPAC_LABELS = frozenset(("lang", "local", "pron", "us", "uk", "ipa", "also", "audio", "nz", "au",
                          "ca", "ie", "sa", "in", "sc", "ir", "english", "uk and us"))


def _render_val(pos: list[str], named: dict[str, str]) -> str:
    if not pos:
        return ""
    text = pos[0]
    if len(pos) > 1 and pos[1]:
        text += pos[1] if pos[1].startswith("(") else "±" + pos[1]
    if named.get("e"):
        text += "×10^" + named["e"]
    unit = named.get("u") or named.get("ul") or named.get("up") or named.get("upl")
    return f"{text} {unit}" if unit else text


def _render_frac(pos: list[str], named: dict[str, str]) -> str:
    if len(pos) >= 3:
        return f"{pos[0]} {pos[1]}/{pos[2]}"
    if len(pos) == 2:
        return f"{pos[0]}/{pos[1]}"
    return f"1/{pos[0]}" if pos else ""


def _render_as_of(pos: list[str], named: dict[str, str]) -> str:
    date = _format_date(pos, named)
    lead = "as of" if named.get("lc", "").lower() in ("y", "yes", "on", "true") else "As of"
    if named.get("since", "").lower() in ("y", "yes"):
        lead = "since" if lead == "as of" else "Since"
    return f"{lead} {date}" if date else ""


def _render_date_and_age(pos: list[str], named: dict[str, str], today: tuple | None) -> str:
    date = _format_date(pos, named)
    age = _age(pos[:3], today) if today else None
    return f"{date} (age {age})" if date and age is not None and age >= 0 else date


def _render_death_date_and_age(pos: list[str], named: dict[str, str]) -> str:
    date = _format_date(pos, named)
    age = _age(pos[3:6], pos[:3]) if len(pos) >= 4 else None
    return f"{date} (aged {age})" if date and age is not None and age >= 0 else date


def _render_age(pos: list[str], named: dict[str, str], today: tuple | None) -> str:
    at = pos[3:6] if len(pos) >= 4 else today
    age = _age(pos[:3], at) if at and pos else None
    return str(age) if age is not None and age >= 0 else ""


def _render_nihongo(pos: list[str], named: dict[str, str]) -> str:
    # {{Nihongo|headquarters|本部道場|honbu dōjō}} -> "headquarters (本部道場, honbu dōjō)"
    english, rest = (pos + [""])[0], [p for p in pos[1:3] if p]
    if english and rest:
        return f"{english} ({', '.join(rest)})"
    return english or ", ".join(rest)


def _render_ordinal(pos: list[str], named: dict[str, str]) -> str:
    n = _int(pos[0]) if pos else None
    if n is None:
        return pos[0] if pos else ""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _render_quote(pos: list[str], named: dict[str, str]) -> str:
    text = named.get("text") or named.get("quote") or (pos[0] if pos else "")
    return f"\n{text}\n" if text else ""


def _render_height(pos: list[str], named: dict[str, str]) -> str:
    parts = [f"{named[u]} {u}" for u in ("m", "cm", "ft", "in") if named.get(u)]
    return " ".join(parts)


def _render_rail_gauge(pos: list[str], named: dict[str, str]) -> str:
    gauge = pos[0] if pos else ""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*mm", gauge)
    if match:
        return f"{match.group(1)} mm"
    match = re.fullmatch(r"(\d++)\s*+ft\s*+(\d+(?:\.\d+)?)?\s*+(?:in)?", gauge)
    if match:
        return f"{match.group(1)} ft" + (f" {match.group(2)} in" if match.group(2) else "")
    return gauge


def _first(pos, named):
    return pos[0] if pos else ""


def _second(pos, named):
    return pos[1] if len(pos) > 1 else (pos[0] if pos else "")


def _last(pos, named):
    return pos[-1] if pos else ""


def _joined(pos, named):
    return "".join(pos)


def _constant(text):
    return lambda pos, named: text


def _prefixed(prefix):
    return lambda pos, named: f"{prefix}{pos[0]}" if pos else ""


def _render_coord(pos, named):
    """{{coord|13|19|N|169|9|W|type:event}} -> "13°19′N 169°9′W"; {{coord|43.65|-79.38}} -> "43.65°N
    79.38°W". Coordinates shown only at the page title (display=title) are not in the prose."""
    display = named.get("display", "inline")
    if "title" in display and "inline" not in display:
        return ""
    values = [p for p in pos if p and ":" not in p]  # "type:city" and the like are parameters
    hemispheres = [i for i, p in enumerate(values) if p.upper() in ("N", "S", "E", "W")]
    if len(hemispheres) >= 2 and hemispheres[0] <= 3 and hemispheres[1] - hemispheres[0] <= 4:
        marks = ("°", "′", "″")
        lat = values[:hemispheres[0]]
        lon = values[hemispheres[0] + 1:hemispheres[1]]
        parts = []
        for numbers, hemisphere in ((lat, values[hemispheres[0]]), (lon, values[hemispheres[1]])):
            parts.append("".join(f"{n}{mark}" for n, mark in zip(numbers, marks)) + hemisphere.upper())
        return " ".join(parts)
    try:
        lat, lon = float(values[0]), float(values[1])
    except (IndexError, ValueError):
        return ""
    return (f"{values[0].lstrip('-')}°{'S' if lat < 0 else 'N'} "
            f"{values[1].lstrip('-')}°{'W' if lon < 0 else 'E'}")


def _render_patent(prefix):
    def render(pos, named):
        number = pos[0] if pos else ""
        if number.isascii() and number.isdigit() and len(number) < 40:
            return f"{prefix} {int(number):,}"
        return f"{prefix} {number}" if number else ""
    return render


def _render_ipa(pos: list[str], named: dict[str, str]) -> str:
    """{{IPA|/ˈæ/}} -> "/ˈæ/"; {{IPA|fr|bɔ̃.ʒuʁ}} (a language code first) -> "[bɔ̃.ʒuʁ]"."""
    if len(pos) > 1 and _LANGUAGE_PREFIX.match(pos[0].lower()):
        return f"[{pos[1]}]" if pos[1] and pos[1][0] not in "/[" else pos[1]
    return pos[0] if pos else ""


def _render_ipa_bracketed(pos: list[str], named: dict[str, str]) -> str:
    return f"[{pos[0]}]" if pos else ""


def _render_minor_planet(pos: list[str], named: dict[str, str]) -> str:
    """{{mp|2004 MN|4}} -> "2004 MN4" (the digits are a subscript); {{mpl|(433) Eros}} -> "(433) Eros"."""
    if len(pos) > 1 and pos[1].isdigit():
        return pos[0] + pos[1] + (f" {pos[2]}" if len(pos) > 2 and pos[2] else "")
    return " ".join(p for p in pos[:2] if p)


def _named_values(*keys: str) -> Callable:
    """{{zh|t=臺灣|p=Táiwān}} -> "臺灣; Táiwān": the values of `keys` present, in that order."""
    return lambda pos, named: "; ".join(named[key] for key in keys if named.get(key))


# Families of templates whose words belong to the sentence, by how their names start: {{lang-fr|...}},
# {{IPA-de|...}}, {{IPAc-en|...}}, {{transl|...}}, {{Script/Arabic|...}}, {{abbrlink|...}},
# {{Nihongo foot|...}}, {{mpl-|...}}, {{sclass|...}}. A name in _RENDERERS is looked up there first.
_FAMILIES = (
    ("lang-", _first), ("ipac-", _render_ipac),
    ("ipa-", _render_ipa_bracketed), ("ipa ", _render_ipa_bracketed),
    ("transl", _last), ("script/", _first), ("abbr", _first), ("nihongo", _render_nihongo),
    ("mpl", _render_minor_planet), ("sclass", lambda pos, named: f"{pos[0]}-class {' '.join(pos[1:2])}"
                                    .strip() if pos else ""),
    ("nowrap", _first), ("nobr", _first), ("small caps", _first), ("smallcaps", _first),
)


_RENDERERS = {
    "convert": _render_convert, "cvt": _render_convert, "convinfobox": _render_convert,
    "lang": _second, "langx": _second, "script": _second, "transl": _last, "transliteration": _last,
    "native name": _second, "native phrase": _second, "ipa": _render_ipa, "ipa-all": _first,
    "ipa link": _first, "ipalink": _first, "ipa symbol": _first, "ipablink": _render_ipa_bracketed,
    "ipaslink": lambda pos, named: f"/{pos[0]}/" if pos else "", "mp": _render_minor_planet,
    "lbb": lambda pos, named: f"{pos[0]}-class lifeboat" if pos else "",
    "lbc": lambda pos, named: f"{pos[0]}-class lifeboat" if pos else "",
    "zh": _named_values("t", "s", "c", "p", "w", "j", "l"), "zho": _named_values("t", "s", "c", "p"),
    "chinese": _named_values("t", "s", "c", "p", "w", "j", "l"),
    "korean": _named_values("hangul", "hanja", "rr", "mr"),
    "ipac-en": _render_ipac, "ipac-ar": _render_ipac, "ipac-de": _render_ipac, "audio": _second,
    "respell": lambda pos, named: "-".join(p for p in pos if p),
    "nihongo": _render_nihongo, "nihongo2": _first, "nihongo3": _first,
    "nowrap": lambda pos, named: "|".join(pos), "nobr": _first, "nobreak": _first, "j": _joined,
    "small": _first, "smaller": _first, "big": _first, "larger": _first, "large": _first,
    "huge": _first, "midsize": _first, "resize": _last, "nobold": _first, "noitalic": _first,
    "em": _first, "strong": _first, "var": _first, "varserif": _first, "code": _first,
    "mono": _first, "monospace": _first, "tt": _first, "sub": _first, "sup": _first, "su": _first,
    "abbr": _first, "abbrlink": _first, "tooltip": _first, "h:title": _second, "vanchor": _first,
    "visible anchor": _first, "sic": _last, "not a typo": _joined, "proper name": _first,
    "as written": _first, "sc": _first, "smallcaps": _first, "small caps": _first,
    "allcaps": lambda pos, named: pos[0].upper() if pos else "", "lowercase": _first,
    "math": _first, "mvar": _first, "tmath": _first, "chem2": _first, "chem": _joined,
    "ill": _first, "interlanguage link": _first, "interlanguage link multi": _first, "illm": _first,
    "flag": lambda pos, named: named.get("name") or (pos[0] if pos else ""), "flagcountry": _first,
    "flagu": _first, "flag country": _first, "linktext": _joined, "lsj": _second,
    "keypress": lambda pos, named: "+".join(pos), "key press": lambda pos, named: "+".join(pos),
    "gloss": lambda pos, named: f"'{pos[0]}'" if pos else "",
    "lit": lambda pos, named: f"lit. '{pos[0]}'" if pos else "",
    "angbr": lambda pos, named: f"⟨{pos[0]}⟩" if pos else "", "angle bracket": _first,
    "url": lambda pos, named: pos[1] if len(pos) > 1 else (pos[0] if pos else ""),
    "as of": _render_as_of, "asof": _render_as_of,
    "birth date": _format_date, "death date": _format_date, "start date": _format_date,
    "end date": _format_date, "dts": _format_date, "film date": _format_date,
    "start date and age": _format_date, "death date and age": _render_death_date_and_age,
    "death year and age": lambda pos, named: pos[0] if pos else "",
    "birth year and age": lambda pos, named: pos[0] if pos else "",
    "circa": _prefixed("c. "), "c.": _prefixed("c. "), "floruit": _prefixed("fl. "),
    "fl.": _prefixed("fl. "), "reign": lambda pos, named: "r. " + "–".join(p for p in pos[:2] if p),
    "r.": lambda pos, named: "r. " + "–".join(p for p in pos[:2] if p),
    "p.": lambda pos, named: "p. " + "–".join(pos[:2]) if pos else "",
    "pp.": lambda pos, named: "pp. " + "–".join(pos[:2]) if pos else "",
    "nts": _first, "ntsh": _first, "val": _render_val, "frac": _render_frac,
    "sfrac": _render_frac, "fraction": _render_frac, "ordinal": _render_ordinal,
    "simplenuclide": lambda pos, named: "-".join(pos[:2]),
    "simplenuclide2": lambda pos, named: "-".join(pos[:2]),
    "us$": _prefixed("US$"), "usd": _prefixed("US$"), "£": _prefixed("£"), "gbp": _prefixed("£"),
    "€": _prefixed("€"), "eur": _prefixed("€"), "¥": _prefixed("¥"), "a$": _prefixed("A$"),
    "aud": _prefixed("A$"), "cad": _prefixed("CA$"), "inr": _prefixed("₹"), "₹": _prefixed("₹"),
    "formatprice": _first, "format price": _first,
    "hlist": lambda pos, named: ", ".join(p for p in pos if p),
    "flatlist": _first, "plainlist": _first, "plain list": _first, "bulleted list":
        lambda pos, named: "\n".join(p for p in pos if p),
    "unbulleted list": lambda pos, named: "\n".join(p for p in pos if p),
    "ubl": lambda pos, named: "\n".join(p for p in pos if p),
    "quote": _render_quote, "blockquote": _render_quote, "quotation": _render_quote,
    "cquote": _render_quote, "quote box": _render_quote, "rquote": _render_quote,
    "poem quote": _render_quote, "centered pull quote": _render_quote,
    "sortname": lambda pos, named: " ".join(pos[:2]),
    "height": _render_height, "railgauge": _render_rail_gauge, "rail gauge": _render_rail_gauge,
    "ship": lambda pos, named: " ".join(pos[:2]),
    "isbn": _prefixed("ISBN "), "issn": _prefixed("ISSN "),
    "'": _constant("'"), "'s": _constant("'s"), "!": _constant(_PIPE), "pipe": _constant(_PIPE),
    "=": _constant("="), "nbsp": _constant(" "), "spaces": _constant(" "), "space": _constant(" "),
    "·": _constant(" · "), "dot": _constant(" · "), "middot": _constant(" · "),
    "bull": _constant(" • "), "bullet": _constant(" • "), "ndash": _constant("–"),
    "en dash": _constant("–"), "snd": _constant(" – "), "spaced ndash": _constant(" – "),
    "spaced en dash": _constant(" – "), "mdash": _constant("—"), "em dash": _constant("—"),
    "spaced mdash": _constant(" — "), "pi": _constant("π"), "okina": _constant("ʻ"),
    "hamza": _constant("ʾ"), "deg": _constant("°"), "degree": _constant("°"),
    "times": _constant("×"), "×": _constant("×"), "minus": _constant("−"), "plusminus": _constant("±"),
    "±": _constant("±"), "shy": _constant(""), "wbr": _constant(""), "zwsp": _constant(""),
    "sqrt": _prefixed("√"), "overline": _first, "overset": _first, "underline": _first,
    "bc": _constant("BC"), "ad": _constant("AD"), "bce": _constant("BCE"), "ce": _constant("CE"),
    "snds": _constant(" – "), "sndash": _constant(" – "), "spndash": _constant(" – "),
    "mdashb": _constant("—"), "iast": _first, "vr": _first, "coord": _render_coord,
    "us patent": _render_patent("U.S. patent"), "ussc": lambda pos, named: " U.S. ".join(pos[:2]),
}
# Templates whose output needs the date of the revision ("age 75").
_DATED_RENDERERS = {
    "currentyear": lambda pos, named, today: str(today[0]) if today else "",
    "birth date and age": _render_date_and_age, "bda": _render_date_and_age,
    "age": _render_age, "age in years": _render_age,
}
# Ship prefixes: {{HMS|Victory}} -> "HMS Victory", {{USS|Enterprise|CV-6}} -> "USS Enterprise (CV-6)".
_SHIP_PREFIXES = frozenset(("hms", "uss", "ss", "rms", "hmas", "hmcs", "hmnzs", "usns", "usat",
                            "usc&gs", "uscgc", "ins", "sms", "ms", "mv", "hnlms", "fs", "hdms"))


def _formatted(pattern: str) -> Callable:
    """A renderer that fills `pattern`'s {1}, {2}, ... with the positional arguments ("" if missing)."""
    return lambda pos, named: pattern.format("", *pos, *[""] * 9).strip()


# The renderers a language table may name for its inline templates, besides English template names
_GENERIC_RENDERERS = {"first": _first, "second": _second, "last": _last, "joined": _joined, "nothing": None}


def _render_template(body: str, today: tuple | None, marks: list[str], site: Site) -> str:
    """One template's wikitext (its inner templates and links already rendered) -> visible text.

    Appends the names of disambiguation templates to `marks`.
    """
    raw_name, _, rest = body.partition("|")
    name, disambiguation, renderer, dated = _template_kind(raw_name, site)
    if disambiguation:
        marks.append(name)
    if renderer is None:
        return ""
    if renderer is _render_parser_function:
        return renderer(body)
    pos, named = _split_args(rest.split("|")) if rest else ([], {})
    return renderer(pos, named, today) if dated else renderer(pos, named)


# Pages use a few thousand template names over and over, and normalizing a name costs more than
# rendering most templates (which render nothing): the answers for the names seen last are kept.
@functools.lru_cache(maxsize=1 << 16)
def _template_kind(raw_name: str, site: Site) -> tuple[str, bool, Callable | None, bool]:
    """A template's name as written -> (its name, whether it marks a disambiguation page, its
    renderer or None, whether that renderer takes `today` too). The site's table names the local
    templates' renderers ({{仮リンク}}: "first"); English names render as on English Wikipedia."""
    name = " ".join(raw_name.replace("_", " ").split()).lower()
    if name.startswith(("subst:", "safesubst:")):
        name = name.partition(":")[2].strip()
    for prefix in site.template_prefixes:  # "template:", "plantilla:"
        if name.startswith(prefix):
            name = name[len(prefix):].strip()
            break
    disambiguation = (name in site.disambiguation_templates or name.endswith(site.disambiguation_suffixes)
                      or name.startswith(site.disambiguation_prefixes))
    if ":" in name:
        return name, disambiguation, _render_parser_function, False
    local = site.inline_templates.get(name)
    if local is not None:
        if local in _GENERIC_RENDERERS:
            return name, disambiguation, _GENERIC_RENDERERS[local], False
        if "{" in local:  # a pattern of its arguments: "século {1}"
            return name, disambiguation, _formatted(local), False
        name = local  # the English template that renders the same
    renderer = _RENDERERS.get(name)
    if renderer is None:
        if name in _DATED_RENDERERS:
            return name, disambiguation, _DATED_RENDERERS[name], True
        renderer = next((render for prefix, render in _FAMILIES if name.startswith(prefix)), None)
        if renderer is None and name in _SHIP_PREFIXES:
            renderer = lambda pos, named: f"{name.upper()} {pos[0]}" + (
                f" ({pos[1]})" if len(pos) > 1 and pos[1] else "") if pos else ""
    return name, disambiguation, renderer, False


def _render_parser_function(body: str) -> str:
    # {{formatnum:1234}}, {{lc:Text}}; conditionals, #invoke, #tag and the rest render nothing
    name, _, value = body.partition(":")
    name = name.strip().lower()
    value = value.partition("|")[0].strip()
    if name in ("formatnum", "padleft", "padright"):
        return value
    if name in ("lc", "lcfirst"):
        return value.lower() if name == "lc" else value[:1].lower() + value[1:]
    if name in ("uc", "ucfirst"):
        return value.upper() if name == "uc" else value[:1].upper() + value[1:]
    return ""


def _render_link(body: str, site: Site, nested: bool = False) -> str:
    """One internal link's wikitext -> its visible text; files, categories, interlanguage -> "".

    A link MediaWiki cannot make (a target with < > [ ] { } |, an entity or a %-escape left once
    decoded, a relative path, a label left empty for the save-time pipe trick, a link in its text:
    `nested`) shows as written."""
    target, pipe, label = body.partition("|")
    target = target.strip()
    colon_first = target.startswith(":")
    if colon_first:
        target = target[1:].lstrip()
    prefix, colon, rest = target.partition(":")
    if colon:
        namespace = " ".join(prefix.replace("_", " ").split()).lower()
        if not colon_first:
            if namespace in site.files or namespace in site.categories:
                return ""
            if (namespace in site.interlanguage and namespace not in _INTERWIKI
                    and (prefix.strip().islower() or not rest.startswith(" "))):  # not "[[Ice: A Novel]]"
                return ""  # interlanguage link: [[de:Anarchismus]]
            if namespace not in site.namespaces and _is_image(rest, label, site):
                return ""  # a file in a namespace the site does not list: "[[Archivo:x.jpg|miniatura|...]]"
        if not rest.strip() and namespace in site.namespaces:
            return f"[[{body}]]"  # "[[Project:]]": a namespace, no title
    if (colon or target[:1] == "/") and _URL_START.match(target):
        return f"[[{body}]]"  # "[[http://x y]]": "[", then an external link, then "]"
    if "&" in target:
        target = _ENTITY.sub(lambda match: _decode_entity(match.group()), target)
    if "%" in target:
        target = urllib.parse.unquote(target)
    title = target.partition("#")[0]  # a section's name may hold what a title may not
    if (nested or not target or _INVALID_TITLE.search(title) or _MARK_OPEN in title
            or (pipe and not label.strip())):
        return f"[[{body}]]"
    if pipe:
        return label
    if target[0] in "*#:;":
        return _TEXT_START + target
    return target.replace("'", _APOSTROPHE) if "''" in target else target


def _convert(match: re.Match) -> str:
    """"-{text}-" -> text, as written; "-{zh-hans:联邦州; zh-hant:邦}-" -> the first variant's text (one
    script throughout would need the whole page converted: a reader of either script sees one of
    them); "-{H|...}-" and "-{T|...}-" (a rule for the page, a title) and "-{-|...}-" -> nothing."""
    body = match.group(1)
    flags, bar, rest = body.partition("|")
    if bar and _CONVERTER_FLAGS.fullmatch(flags.strip()):
        if "H" in flags or "T" in flags or flags.strip() == "-":
            return ""
        body = rest
    if ":" in body:
        for rule in body.split(";"):
            variant = _VARIANT.match(rule.rpartition("=>")[2])  # "源=>zh-cn:目标": the target
            if variant:
                return variant.group(1).strip()
    return body


def _is_image(title: str, options: str, site: Site) -> bool:
    """Whether a link to `title` with `options` (after its first "|") shows an image: the title is a
    media file's, or a file's and an option is an image option ("thumb", "miniatura", "upright=1.2",
    "220px"). ("[[Politics: Left|left]]" is no file.)"""
    if _MEDIA_FILE.search(title):
        return True
    if not _FILE_NAME.search(title):
        return False
    for option in options.split("|"):
        option = " ".join(option.split()).lower()
        if (option in site.image_options or option.partition("=")[0] + "=" in site.image_options
                or any(option.endswith(suffix) and _WIDTH.fullmatch(option[:-len(suffix)])
                       for suffix in site.image_option_suffixes)):
            return True
    return False


def _resolve_nesting(text: str, today: tuple | None, marks: list[str], site: Site) -> str:
    """Render templates {{...}} and internal links [[...]] innermost first, in one linear scan."""
    if "[[" in text:
        text = "".join(_PIPED_LINK.split("".join(_PLAIN_LINK.split(text))))
    codes, arguments = _nest_tokens(text)
    if arguments:  # "{{{": a template parameter shows its default (nested ones innermost first)
        for _ in range(3):
            text = _TEMPLATE_ARGUMENT.sub(lambda m: m.group(1) or "", text)
        codes = _nest_tokens(text)[0]
    codes.append(len(text) * 4 + _OPEN_TEMPLATE)  # a sentinel: the code after the last is read
    # Each frame: (kind, pieces); kind "{" for a template, "[" for a link ("]" once a link stood in
    # its text); frame 0 is the page.
    kinds = ["page"]
    stack: list[list[str]] = [[]]
    templates = 0  # open template frames
    previous = 0  # end of the last token
    closed = -1  # index of a closing token already handled with its opening one
    for index in range(len(codes) - 1):
        if index == closed:
            continue
        code = codes[index]
        position, kind = code >> 2, code & 3
        if position > previous:
            stack[-1].append(text[previous:position])
        previous = position + 2
        if kind == _OPEN_TEMPLATE or kind == _OPEN_LINK:
            following = codes[index + 1]
            if following & 3 == kind + 1:
                # Most templates and links hold no other: rendered at once, without a frame.
                closed, previous = index + 1, (following >> 2) + 2
                if len(stack) <= MAX_DEPTH:
                    body = text[position + 2:following >> 2]
                    if kind == _OPEN_TEMPLATE:
                        stack[-1].append(_render_template(body, today, marks, site))
                    else:
                        stack[-1].append(_render_link(body, site))
                        if kinds[-1] == "[":
                            kinds[-1] = "]"  # a link with a link in its text
                continue
            kinds.append("{" if kind == _OPEN_TEMPLATE else "[")
            stack.append([])
            templates += kind == _OPEN_TEMPLATE
        elif kind == _CLOSE_TEMPLATE:
            if templates:
                if kinds[-1] != "{":  # unclosed links inside the template: their text stays
                    _collapse_links(kinds, stack)
                kinds.pop()
                templates -= 1
                body = "".join(stack.pop())
                stack[-1].append(_render_template(body, today, marks, site) if len(stack) <= MAX_DEPTH else "")
            else:
                stack[-1].append("}}")
        elif kinds[-1] == "[" or kinds[-1] == "]":  # "]]" closing a link
            nested = kinds.pop() == "]"
            body = "".join(stack.pop())
            stack[-1].append(_render_link(body, site, nested) if len(stack) <= MAX_DEPTH else "")
            if kinds[-1] == "[":
                kinds[-1] = "]"
        else:
            stack[-1].append("]]")
    stack[-1].append(text[previous:])
    # Unclosed {{ and [[ are literal in MediaWiki; keep their text, drop the brackets.
    return "".join(piece for pieces in stack for piece in pieces)


def _nest_tokens(text: str) -> tuple[list[int], bool]:
    """The codes (position * 4 + kind) of the {{ }} [[ ]] in `text`, in order of position, and
    whether a "{{{" (a template parameter) is among them.

    The same tokens as one regex scan for the four would find, as each kind's characters differ (no
    two kinds overlap), found with str.find: one character skips ahead at memchr speed, where a regex
    without a literal prefix tries every position in turn (docs/benchmarks.md, "The wikitext cleaner").
    """
    codes = []
    arguments = False
    for kind, token in enumerate(_NEST_TOKENS):
        char = token[0]
        position = text.find(char)
        while position >= 0:
            if kind == _CLOSE_LINK and text.startswith("]]]", position):
                # An odd run of "]" closes something single first: "[[File:a.jpg|see [http://x y]]]"
                # ends the external link, then the file. So its first "]" is text, then pairs.
                end = position + 3
                while text.startswith("]", end):
                    end += 1
                codes += range(position * 4 + kind + 4 * ((end - position) % 2), (end - 1) * 4, 8)
                position = text.find(char, end)
            elif text.startswith(token, position):
                codes.append(position * 4 + kind)
                position = text.find(char, position + 2)  # "{{{" holds one token, as in a regex scan
                arguments = arguments or position == codes[-1] // 4 + 2 and kind == _OPEN_TEMPLATE
            else:
                position = text.find(char, position + 1)
    codes.sort()
    return codes, arguments


def _collapse_links(kinds: list[str], stack: list[list[str]]) -> None:
    """Fold the unclosed link frames above the innermost template frame into it, all at once."""
    top = len(kinds) - 1
    while kinds[top] != "{":  # each frame passed is folded away: linear over the page
        top -= 1
    for pieces in stack[top + 1:]:
        stack[top].extend(pieces)
    del kinds[top + 1:], stack[top + 1:]


# ---------------------------------------------------------------------------------------------
# Element passes (comments, protected and dropped elements)


def _remove_comments(text: str) -> str:
    """Drop comments; a line that holds nothing but comments goes with its line end, as in MediaWiki
    (so the lines around it stay one paragraph)."""
    start = _find_comment(text, 0)
    if start < 0:
        return text
    out, position = [], 0
    while start >= 0:
        out += (text[position:start], _COMMENT)
        end = text.find(_COMMENT_CLOSE, start + 4)
        if end < 0:  # an unclosed comment runs to the end of the page
            position = len(text)
            break
        position = end + 3
        start = _find_comment(text, position)
    out.append(text[position:])
    return _drop_comment_lines("".join(out))


def _drop_comment_lines(text: str) -> str:
    """Drop the comment marks, and the lines that hold nothing else but spaces with their line end.
    Found from the marks (few) rather than by a scan of every line."""
    out, position = [], 0
    mark = text.find(_COMMENT)
    while mark >= 0:
        start = mark
        while start > position and text[start - 1] in _COMMENT_SPACE:
            start -= 1
        end = mark + 1
        while end < len(text) and text[end] in _COMMENT_SPACE:
            end += 1
        out.append(text[position:start])
        if (start == 0 or text[start - 1] == "\n") and text.startswith("\n", end):
            position = end + 1  # the whole line
        else:
            out.append(text[start:end].replace(_COMMENT, ""))
            position = end
        mark = text.find(_COMMENT, position)
    out.append(text[position:])
    return "".join(out)


def _find_comment(text: str, position: int) -> int:
    """text.find("<!--", position), found from its "!": rare in prose, and str.find skips to one
    character with memchr. str.find("<!--") steps slowly through prose, as its skip test takes "a"
    for "!" and "m" for "-" (same low bits): five times the time over a page."""
    bang = text.find("!", position + 1)
    while bang >= 0:
        if text.startswith(_COMMENT_OPEN, bang - 1):
            return bang - 1
        bang = text.find("!", bang + 1)
    return -1


def _find_closer(text: str, name: str, position: int, ahead: dict[str, int]):
    """The match of `</name>` (any case) after `position`, or None.

    A plain find of the lower-case closer first (fast), remembered in `ahead` while it lies ahead;
    the regex then searches up to it only, for one in another case ("</Ref>") before it. Each
    character is thus scanned a bounded number of times, however the closers are written."""
    lower = ahead.get(name, -1)
    if lower < position:
        lower = text.find("</" + name, position)
        lower = ahead[name] = lower if lower >= 0 else len(text)
    return (_CLOSERS[name].search(text, position, lower + len(name) + 40)
            or _CLOSERS[name].search(text, lower + 1))


def _drop_refs(text: str) -> str:
    """Drop <ref>...</ref> and <ref/> in one C-level pass, when that is safe.

    The regex is linear as long as every <ref> has a closer after it; an open <ref> after the
    last </ref> would make each such ref scan to the end, so those pages take the slower loop.
    """
    last_close = text.rfind("</ref")
    while last_close >= 0 and not _CLOSERS["ref"].match(text, last_close):  # "</references>"
        last_close = text.rfind("</ref", 0, last_close)
    for match in _REF_OPEN.finditer(text, max(last_close, 0)):
        if not match.group(1).rstrip().endswith("/"):
            return text
    return "".join(_REF.split(text))


def _extract_elements(text: str, protected: list[str]) -> str:
    """Drop ref-like elements with their content; replace math/nowiki/code by placeholders; mark
    the line breaks of poems."""
    if "<" not in text:
        return text
    if "<ref" in text:
        text = _drop_refs(text)
    out, position = [], 0
    poems = False
    unclosed: set[str] = set()  # names with no closing tag after some point: never search again
    ahead: dict[str, int] = {}  # where the next lower-case closer of each name is
    for match in _ELEMENT_OPEN.finditer(text):
        start = match.start()
        if start < position:
            continue  # inside an element already consumed
        name = match.group(1).lower()
        if name == "poem":  # its content is wikitext: left for the elements inside it
            poems = True
            continue
        out.append(text[position:start])
        position = match.end()
        if match.group(2).rstrip().endswith("/"):  # <ref name="x" />, <nowiki/>
            if name in _PROTECTED:  # an empty span that still parts what stands either side of it
                protected.append("")
                out.append(f"{_MARK_OPEN}{len(protected) - 1}{_MARK_CLOSE}")
            continue
        closer = None if name in unclosed else _find_closer(text, name, position, ahead)
        if closer is None:
            unclosed.add(name)
            continue  # an unclosed tag: drop the tag alone
        content = text[position:closer.start()]
        position = closer.end()
        if name in _PROTECTED:
            # a display formula or a code block stands apart, between paragraphs
            if name == "math" and "block" in match.group(2).lower():
                content = f"\n\n{content.strip()}\n\n"
            elif name in ("pre", "syntaxhighlight", "source"):
                if name == "pre" and "</nowiki>" in content:  # <nowiki> inside <pre> shows its text
                    end = content.rfind("</nowiki>") + 9  # (opens after the last closer stay text)
                    content = _NOWIKI.sub(r"\1", content[:end]) + content[end:]
                content = f"\n\n{content.strip(chr(10))}\n\n"
            protected.append(content)
            out.append(f"{_MARK_OPEN}{len(protected) - 1}{_MARK_CLOSE}")
    out.append(text[position:])
    return _poem_line_breaks("".join(out)) if poems else "".join(out)


def _block_mark(match: re.Match) -> str:
    return _BLOCK_CLOSE if match.group(1) else _BLOCK_OPEN


def _switch(match: re.Match, marks: list[str], site: Site) -> str:
    """A behaviour switch shows nothing; __DISAMBIG__ (or its local name) marks the page."""
    if match.group(1).upper() in site.disambiguation_switches:
        marks.append("__DISAMBIG__")
    return ""


@functools.lru_cache(maxsize=4096)
def _decode_entity(entity: str) -> str:
    """An entity -> its character, as MediaWiki decodes it: named ones and numeric references to
    characters XML allows; others ("&#0;", "&#xD800;", a name it does not know) stay as written."""
    if entity[1] != "#":
        return html.entities.html5.get(entity[1:]) or _ENTITY_ALIASES.get(entity, entity)
    code = int(entity[3:-1], 16) if entity[2] in "xX" else int(entity[2:-1])
    if (code in (0x9, 0xA) or 0x20 <= code < 0x7F or 0x9F < code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
            or 0x10000 <= code <= 0x10FFFF):
        return chr(code)
    return entity


def _poem_line_breaks(text: str) -> str:
    """Inside <poem>, each line end is a line break: the lines of a stanza are not joined."""
    out, position = [], 0
    for match in _POEM.finditer(text):
        if match.start() < position:
            continue
        closer = _POEM_CLOSE.search(text, match.end())
        if closer is None:
            break  # no closer after this one: none after the later ones either
        out += (text[position:match.start()], "\n\n",
                text[match.end():closer.start()].strip("\n").replace("\n", _LINE_BREAK), "\n\n")
        position = closer.end()
    out.append(text[position:])
    return "".join(out)


def _drop_bold_italic(text: str) -> str:
    """Drop the bold and italic marks, keeping the apostrophes MediaWiki shows (its doQuotes).

    Per line: a run of 4 is an apostrophe then bold, a run of more than 5 is apostrophes then bold
    italics. A line with an odd number of both bold and italic marks reads one bold mark as an
    apostrophe then italics: the first one after a one-letter word, else after a longer word, else
    after a space ("''[[Rashomon]]'''s" -> "Rashomon's").
    """
    parts = _QUOTE_RUNS.split(text)  # text, run, text, run, ..., text
    if len(parts) == 1:
        return text
    out = parts[:]
    out[1::2] = [_VISIBLE_QUOTES.get(run) or "'" * (len(run) - 5) for run in parts[1::2]]
    italics = bold = 0
    bold_runs: list[int] = []  # this line's bold marks, by their index in `parts`
    for index in range(1, len(parts), 2):
        if "\n" in parts[index - 1]:  # a new line: balance the last one
            if italics & bold & 1:
                _bold_to_apostrophe(parts, out, bold_runs)
            italics = bold = 0
            bold_runs = []
        length = len(parts[index])
        if length == 2:
            italics += 1
        elif length < 5:
            bold += 1
            bold_runs.append(index)
        else:
            italics += 1
            bold += 1
    if italics & bold & 1:
        _bold_to_apostrophe(parts, out, bold_runs)
    return "".join(out)


# What a run of apostrophes shows: one of four is an apostrophe then bold; one of more than five,
# all but five (bold italics); the rest are marks.
_VISIBLE_QUOTES = {"''": "", "'''": "", "''''": "'", "'''''": ""}


def _bold_to_apostrophe(parts: list[str], out: list[str], bold_runs: list[int]) -> None:
    """Read one of a line's bold marks as an apostrophe (then italics, which show nothing).

    `out[index]` is the visible text of the mark `parts[index]`; the text before a mark is the line's
    since the mark before it, with the apostrophe of a run of four."""
    single = multi = space = None
    for index in bold_runs:
        before = parts[index - 1].rpartition("\n")[2] + ("'" if len(parts[index]) == 4 else "")
        if before[-1:] == " ":
            space = index if space is None else space
        elif before[-2:-1] == " ":
            single = index
            break
        elif multi is None:
            multi = index
    chosen = single if single is not None else multi if multi is not None else space
    if chosen is not None:
        out[chosen] += "'"


# ---------------------------------------------------------------------------------------------
# Line pass: tables, headings, lists, dropped sections


def _clean_lines(text: str, site: Site) -> tuple[list[str], list[tuple[int, int]], set[int]]:
    """Lines -> (the lines kept, [(index, level)] of the headings among them, the indexes of those with
    nothing under them in the source); tables and the trailing reference sections removed. As MediaWiki
    renders them, a paragraph's lines join into one; each list item, heading and preformatted line is
    a line; a blank line follows a paragraph or list. (Headings are listed apart: few, and lines many.)"""
    lines: list[str] = []
    headings: list[tuple[int, int]] = []
    bare: set[int] = set()  # headings with nothing under them in the source
    heading_number = -2  # the source line number of the last heading kept
    paragraph: list[str] = []  # the lines of the paragraph being read
    after_text = False  # the last line kept is text (not a heading, not blank)
    table_depth = skip_level = 0  # skip_level: inside a dropped section of this heading level
    blocks = _BLOCK_OPEN in text or _BLOCK_CLOSE in text  # block tags: see _block_line
    inline = False  # the paragraph holds the text a line with block tags ended on (_block_line)
    source = text.split("\n")
    for number, raw in enumerate(source):
        line = raw.strip()
        if line:
            first = line[0]
            if first == _PRE:  # it started with a space before templates were rendered
                line = line[1:].lstrip()
        if not line:
            if inline:  # no paragraph break: the text goes on into a next line with block tags
                continue
            _flush(paragraph, lines)
            if after_text and not table_depth and not skip_level:
                lines.append("")
                after_text = False
            continue
        # Tests on the first character first: most lines are prose, list items or table rows.
        if first == _PRE and not (blocks and (_BLOCK_OPEN in line or _BLOCK_CLOSE in line)):
            if not table_depth and not skip_level:  # preformatted: a line of its own
                _flush(paragraph, lines)
                lines.append(line)
                after_text = True
            continue
        if first in ":{" and line.lstrip(":").startswith("{|"):
            table_depth += 1
            _flush(paragraph, lines)
            continue
        if table_depth:
            if first == "|" and line.startswith("|}"):
                table_depth -= 1
            continue
        heading = _heading(line) if first == "=" else None
        if paragraph and (heading or first in "*#:;" or first == "-" and line.startswith("----")):
            _flush(paragraph, lines)  # a heading, a list item or a rule ends the paragraph
        if heading:
            if heading_number == number - 1:
                bare.add(headings[-1][0])
            heading_number, skip_level, after_text = _heading_line(
                heading, number, skip_level, after_text, lines, headings, site)
            continue
        # Table debris (rows whose table was opened by a template) never starts prose.
        if skip_level or first == "|" or first == "!":
            continue
        if blocks and (_BLOCK_OPEN in line or _BLOCK_CLOSE in line) and first not in "*#:;":
            inline = _block_line(line, paragraph, lines, inline)
            after_text = True
            if heading_number == number - 1 and not inline and not _BLOCK_MARKS.sub("", line).strip():
                heading_number = number  # tags alone: nothing stands under the heading yet
            continue
        if inline:  # a line of text after one with block tags starts a paragraph (the last one's
            lines.append(_join_lines(paragraph))  # text, or a blank line where it ended on a tag)
            paragraph.clear()
            inline = False
        if first in "*#:;":
            lines += _list_item(line)
            after_text = True
            continue
        if first == "-" and line.startswith("----"):  # a horizontal rule, then text
            line = line.lstrip("-").lstrip()
            if not line:
                continue
        paragraph.append(line)
        after_text = True
    _flush(paragraph, lines)
    if heading_number >= 0 and not "".join(source[heading_number + 1:]).strip():
        bare.add(headings[-1][0])  # the last heading, with blank lines at most after it
    return lines, headings, bare


def _list_item(line: str) -> list[str]:
    """A list line -> its text without the list marks and the spaces or tabs after them; a definition
    list's term and definition (";term: definition") are two lines."""
    line = line.lstrip("*#:;").lstrip(" \t")
    if _DEFINITION in line:
        return [part for part in map(str.strip, line.split(_DEFINITION, 1)) if part]
    return [line] if line else []


def _flush(paragraph: list[str], lines: list[str]) -> None:
    """The paragraph read so far, if any, becomes a line."""
    if paragraph:
        lines.append(_join_lines(paragraph))
        paragraph.clear()


def _heading_line(heading: tuple[int, str], number: int, skip_level: int, after_text: bool, lines: list[str],
                  headings: list[tuple[int, int]], site: Site) -> tuple[int, int, bool]:
    """A heading (level, title) on source line `number`: skipped inside a dropped section, the start of
    one, or kept (added to `lines` and `headings`). Returns _clean_lines' (heading_number, skip_level,
    after_text) after it."""
    level, title = heading
    if skip_level and level > skip_level:
        return -2, skip_level, after_text
    if _is_dropped_section(title, site):
        return -2, level, after_text
    if not title:
        return -2, 0, after_text
    headings.append((len(lines), level))
    lines.append(title)
    return number, 0, False


def _join_lines(paragraph: list[str]) -> str:
    """The lines of one paragraph as one: a space between two lines, as a browser shows the line end
    MediaWiki keeps, but none between two wide (Chinese, Japanese) characters, as CSS Text's segment
    break rules say, where words have no spaces between them."""
    if len(paragraph) < 2:
        return paragraph[0] if paragraph else ""
    pieces = [paragraph[0]]
    for before, line in zip(paragraph, paragraph[1:]):
        if not (before and line and _is_wide(before[-1]) and _is_wide(line[0])):
            pieces.append(" ")
        pieces.append(line)
    return "".join(pieces)


def _is_wide(char: str) -> bool:
    # East Asian Width F, W or H, but not Hangul: Korean writes spaces between words
    return (char >= "\u1100" and unicodedata.east_asian_width(char) in "FWH"
            and unicodedata.name(char, "").partition(" ")[0] != "HANGUL")


def _block_line(line: str, paragraph: list[str], lines: list[str], inline: bool) -> bool:
    """A line with block tags, laid out as MediaWiki's BlockLevelPass does: the line is no paragraph;
    each block tag ends a run of text; the text before its first tag goes on from the text the last
    such line ended on (`inline`, with blank lines at most between them: no paragraph was opened);
    otherwise it ends the paragraph before it. Returns whether the line ends on text, which goes on."""
    pieces = _BLOCK_MARKS.split(line)
    if paragraph and not inline:
        lines.append(_join_lines(paragraph))
        paragraph.clear()
    for piece in pieces:
        if piece == _BLOCK_OPEN or piece == _BLOCK_CLOSE:
            if paragraph:
                lines.append(_join_lines(paragraph))
                paragraph.clear()
        elif piece.strip():
            paragraph.append(piece.strip())
    return bool(paragraph)


def _mark_definitions(text: str) -> str:
    """Mark the colon that ends the term of each definition list line (";term: definition"): the
    first not inside a link, template or tag, nor after a URL's scheme (MediaWiki's findColonNoLinks)."""
    # (one regex scan, not a chain of '"\n;" in text or "*;" in text or ...', each its own scan)
    if text[:1] not in "*#:;" and not _DEFINITION_LINE.search(text):
        return text
    text = "\n" + text  # the first line is read as the others, after a "\n"
    out, position = [], 0
    for match in _DEFINITION_LINE.finditer(text):
        colon = _definition_colon(text, match.end(1), match.end())
        if colon >= 0:
            out += (text[position:colon], _DEFINITION)
            position = colon + 1
    out.append(text[position:])
    return "".join(out)[1:]


def _definition_colon(text: str, start: int, end: int) -> int:
    depth = tags = 0  # open [[ or {{, and open tags
    for stop in _DEFINITION_STOPS.finditer(text, start, end):
        index = stop.start()
        char = text[index]
        if char == ":":
            if not depth and not tags and not text[max(start, index - 6):index].lower().endswith(
                    ("http", "https", "ftp", "news", "mailto", "irc", "gopher")):
                return index
        elif char in "[{" and text[index + 1:index + 2] == char:
            depth += 1
        elif char in "]}" and text[index + 1:index + 2] == char and depth:
            depth -= 1
        elif char == "<":
            if text[index + 1:index + 2] == "/":
                tags = max(tags - 1, 0)
            elif text[index + 1:index + 2].isalpha():
                close = text.find(">", index, end)
                tags += close > 0 and text[close - 1] != "/"
    return -1


def _heading(line: str) -> tuple[int, str] | None:
    """A stripped line -> (level, title) if it is a heading ("== Title =="), else None.

    The level is the smaller count of "=" at either end, at most 6; extra "="s belong to the title.
    Counted, not matched by a regex: one with a repeat before the title backtracks over a long
    run of spaces at each of its characters (quadratic)."""
    opening = len(line) - len(line.lstrip("="))
    closing = len(line) - len(line.rstrip("="))
    if opening == len(line):  # "===" is a heading whose title is "=", as in MediaWiki
        level = min((opening - 1) // 2, 6)
        return (level, line[level:opening - level]) if level else None
    if not closing:
        return None
    level = min(opening, closing, 6)
    return level, line[level:len(line) - level].strip()


def _is_dropped_section(title: str, site: Site) -> bool:
    """Whether a heading titles a section of citations or links: one the site's table lists
    ("Einzelnachweise", "脚注"), or one whose words or parts ("Works cited", "Notes and sources",
    "脚注・出典") are all section words or listed headings, one of them a citation word or heading."""
    title = title.lower().strip(" :.")
    if title in site.section_titles:
        return True
    words = [word for word in _SECTION_SPLIT.split(title) if word]
    titles, citations = site.section_titles, site.citation_words
    return (any(word in citations or word in titles for word in words)
            and all(word in site.section_words or word in titles for word in words))


def _tidy(text: str) -> str:
    """Mend what removed templates leave: "Alabama () is", "( ; born", " ,", double spaces.

    Each substring test scans the whole page, so the passes are regexes that start with a literal
    (the engine jumps between candidates) or one-character tests: one fast scan each.
    """
    tidied = text
    if _PAREN_MARKS.search(tidied):  # rare: one scan instead of one per pass
        tidied = _OPEN_PAREN_PUNCT.sub("(", _EMPTY_PARENS.sub("", _EMPTY_INTRODUCTION.sub("", tidied)))
    if _PAREN_CLOSE_MARK.search(tidied):
        tidied = _CLOSE_PAREN_PUNCT.sub(")", tidied)
    if "（" in tidied:  # one character: a fast scan
        tidied = _WIDE_PAREN_PUNCT.sub(lambda m: "（" if m.group().lstrip()[0] == "（" else "）",
                                       _EMPTY_WIDE_PARENS.sub("", tidied))
    tidied = _DOUBLE_COMMA.sub(",", tidied)
    for space in _ODD_SPACES:
        if space in tidied:  # one character: a fast scan
            tidied = tidied.replace(space, " ")
    # The lines come stripped (see _clean_lines): a line starts with a space only if these passes
    # made one, and they return the very same string when they change nothing.
    return _mend_spaces(tidied, line_spaces=tidied is not text)


def _mend_spaces(text: str, line_spaces: bool = True) -> str:
    """Collapse runs of spaces, then apply _STRAY_SPACES in order; the same result as doing both on
    the whole page, in about a third of the time.

    Every pattern and every replacement is made of _SPACING_CHARS and none is empty, so a pass
    rewrites each maximal run of those characters on its own and never joins two runs. A page then
    needs the passes only on the few runs that hold a pattern: found by one regex scan, mended
    with the passes themselves. `line_spaces` is False when no line can start with a space, which
    spares the search for "\n ".
    """
    pieces, position = [], 0
    match = _STRAY_SPACE.search(text)
    while match:
        start = match.start()
        if text[start + 1] == "." and text[start + 2:start + 3] not in (" ", "\n"):  # " .NET"
            match = _STRAY_SPACE.search(text, start + 2)
            continue
        while start > position and text[start - 1] in _SPACING_CHARS:
            start -= 1
        end = _SPACING_RUN.match(text, match.end()).end()
        pieces.append(text[position:start])
        pieces.append(_mend_run(text[start:end]))
        position = end
        match = _STRAY_SPACE.search(text, position)
    if pieces:
        pieces.append(text[position:])
        text = "".join(pieces)
    # A mended run holds no "\n " any more, and on a run without the other patterns the passes
    # come down to this one replace.
    if line_spaces and _NEWLINE_SPACE.search(text):
        text = text.replace("\n ", "\n")
    return text


def _mend_run(run: str) -> str:
    while "  " in run:
        run = run.replace("  ", " ")
    for stray, mended in _STRAY_SPACES:
        run = run.replace(stray, mended)
    return run


def _drop_empty_headings(lines: list[str], headings: list[tuple[int, int]], bare: set[int]) -> list[str]:
    """Keep a heading only if some text follows it before the next heading of its level or above,
    or if nothing at all stood under it in the source (MediaWiki shows that one too): a heading left
    empty by what the cleaner removed (a table, a gallery, a list of links) is dropped."""
    # Walking up from the end: headings of a level below `open_level` have text after them before
    # a heading of their level or above. Text opens every level; a heading of level L closes L
    # and the levels below it (deeper headings, larger L). Any line between two headings is text,
    # or a blank line after text (see _clean_lines).
    dropped = []
    open_level = 0
    below = len(lines)  # index of the heading below, or the end
    for index, level in reversed(headings):
        if below - index > 1:
            open_level = 8
        if level >= open_level and index not in bare:
            dropped.append(index)
        open_level = min(open_level, level)
        below = index
    if not dropped:
        return lines
    kept, start = [], 0
    for index in reversed(dropped):
        kept += lines[start:index]
        start = index + 1
    kept += lines[start:]
    return kept


# ---------------------------------------------------------------------------------------------
# Public API


def clean(wikitext: str, today: tuple[int, int, int] | None = None, site: Site | None = None) -> str:
    """Wikitext of one page -> plain text: paragraphs, headings and list items on their own lines.

    `today` (year, month, day) is the date that age templates count to; pass the revision date so the
    output depends on the page alone. Without it, ages are left out. `site` is the wiki's namespaces
    and language rules (languages.site_for, languages.read_siteinfo); English Wikipedia's by default.
    """
    return clean_page(wikitext, today, site)[0]


def is_disambiguation(wikitext: str, site: Site | None = None) -> bool:
    """True for disambiguation and set-index pages ({{disambiguation}}, {{dab}}, {{hndis}}, ...)."""
    return clean_page(wikitext, None, site)[1]


def clean_page(wikitext: str, today: tuple[int, int, int] | None = None,
               site: Site | None = None) -> tuple[str, bool]:
    """(plain text, whether the page is a disambiguation or set-index page); see `clean`."""
    site = site or languages.english()
    marks: list[str] = []
    text = wikitext
    # count, not "in", for U+E000: its low byte is zero, so "in" cannot skip ahead with memchr as
    # for the others and falls back to a loop half as fast as count's.
    if text.count(_MARK_OPEN) or any(map(text.__contains__, _OTHER_MARKS)):
        text = _PRIVATE.sub("", text)
    text = _remove_comments(text)
    text = _mark_definitions(text)
    protected: list[str] = []
    text = _extract_elements(text, protected)
    text = _PRE_LINE.sub("\n" + _PRE, "\n" + text if text[:1] == " " else text)
    text = _resolve_nesting(text, today, marks, site)
    if site.converter and "-{" in text:
        text = _CONVERTER.sub(_convert, text)
    text = _EXTERNAL_LINK.sub(r"\1", text)  # before tags go: a URL ends at a "<"
    if "<" in text:  # one character: a fast scan, and a third of the text has no tag left
        text = _TAG.sub("", _BLOCK_TAG.sub(_block_mark, _BR.sub(_LINE_BREAK, text)))
    text = _drop_bold_italic(text)
    if "_" in text:  # one character: a fast scan, and more than a third of pages have none
        text = site.switch.sub(lambda match: _switch(match, marks, site), text)
    text = "\n".join(_drop_empty_headings(*_clean_lines(text, site)))
    if _BLOCK_OPEN in text or _BLOCK_CLOSE in text:  # left in list items and headings
        text = text.replace(_BLOCK_OPEN, "").replace(_BLOCK_CLOSE, "")
    if _LINE_BREAK in text:
        text = text.replace(_LINE_BREAK + " ", "\n").replace(_LINE_BREAK, "\n")
    text = _tidy(text).strip()
    if protected:
        text = _PLACEHOLDER.sub(lambda m: protected[int(m.group(1))], text)
    text = text.replace(_PIPE, "|")
    if _DEFINITION in text:  # one a template moved out of its list line
        text = text.replace(_DEFINITION, ":")
    if _PRE in text:  # one inside a template's text
        text = text.replace(_PRE, "")
    if _APOSTROPHE in text:
        text = text.replace(_APOSTROPHE, "'")
    if _TEXT_START in text:
        text = text.replace(_TEXT_START, "")
    if "&" in text:
        text = _ENTITY.sub(lambda match: _decode_entity(match.group()), text)
    for invisible in _INVISIBLE:
        if invisible in text:
            text = text.replace(invisible, "")
    text = text.replace("\u00a0", " ")
    if "\t" in text or _SPACE_NEWLINE.search(text):  # spaces that decoded entities left at line ends
        text = _TRAILING_SPACE.sub("\n", text)
    text = text.strip()
    text = _BLANK_LINES.sub("\n\n", text)  # a display formula or code block between paragraphs
    return text, bool(marks)
