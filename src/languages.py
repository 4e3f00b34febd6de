"""What the cleaner knows of one wiki: its namespace names and its language's rules.

`site_for(language, namespaces)` builds the `Site` that `wikitext.clean_page` takes. `namespaces` are
the wiki's own names, as its dump's `<siteinfo><namespaces>` lists them (`read_siteinfo`); the rules
come from src/languages.yaml, one small table per language: namespace aliases, image options,
behaviour switches, disambiguation markers, trailing sections and inline templates; and, for every
language MediaWiki ships, the other names of its File, Media and Category namespaces. A wiki whose
language has no table gets the English one, with its own namespace names: `Site.table` says which
was used, and the extract stats repeat it. MediaWiki accepts the English canonical namespace names,
behaviour switches and image options on every wiki, so a site always has them too.

Sites are interned (one object per language and namespaces), so a worker that unpickles the same site
with every chunk keeps one object, and the cleaner's caches keyed on it stay warm.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

TABLES = Path(__file__).with_name("languages.yaml")
FALLBACK = "en"
# MediaWiki's canonical namespace names, which every wiki accepts besides its local ones.
CANONICAL = {
    -2: ("Media",), -1: ("Special",), 1: ("Talk",), 2: ("User",), 3: ("User talk",), 4: ("Project",),
    5: ("Project talk",), 6: ("File", "Image"), 7: ("File talk", "Image talk"), 8: ("MediaWiki",),
    9: ("MediaWiki talk",), 10: ("Template",), 11: ("Template talk",), 12: ("Help",), 13: ("Help talk",),
    14: ("Category",), 15: ("Category talk",),
}
MEDIA, FILE, TEMPLATE, CATEGORY = -2, 6, 10, 14
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_HOST_LANGUAGE = re.compile(r"(?:\w+:)?//([a-z][a-z0-9-]*)\.wikipedia\.org/")


def normalized(name: str) -> str:
    """A namespace, section or template name as the cleaner compares it: lower case, "_" as a space."""
    return " ".join(name.replace("_", " ").split()).lower()


@functools.cache
def tables() -> dict:
    """src/languages.yaml, read once per process."""
    with open(TABLES, encoding="utf-8") as file:
        return yaml.load(file, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@dataclass(frozen=True, eq=False)  # compared by identity: sites are interned (see site_for)
class Site:
    language: str  # the wiki's content language ("es"), "" where its dump does not say
    table: str  # the language table used: the wiki's own, or FALLBACK
    namespaces_given: tuple[tuple[int, str], ...]  # (number, name) from the dump's siteinfo
    files: frozenset[str]  # names of the File and Media namespaces, normalized (links to them: images)
    categories: frozenset[str]
    template_prefixes: tuple[str, ...]  # "template:", "plantilla:": what may stand before a template's name
    namespaces: frozenset[str]  # every namespace name the wiki accepts
    interlanguage: frozenset[str]  # the language codes that prefix interlanguage links
    image_options: frozenset[str]  # "thumb", "miniatura"; options with a value as their prefix ("upright=")
    image_option_suffixes: tuple[str, ...]  # "px" of "$1px"
    switch: re.Pattern  # a behaviour switch ("__NOTOC__", "__SINTDC__"); group 1 its name
    disambiguation_switches: frozenset[str]  # upper case ("DISAMBIG", "DESAMBIGUACIÓN")
    disambiguation_templates: frozenset[str]
    disambiguation_prefixes: tuple[str, ...]  # "set index" of "set index*": names that start so count too
    disambiguation_suffixes: tuple[str, ...]  # "disambiguation" of "*disambiguation"
    section_titles: frozenset[str]  # headings of the trailing sections dropped, normalized
    citation_words: frozenset[str]
    section_words: frozenset[str]
    inline_templates: dict = field(default_factory=dict)  # local name -> a renderer's name, or "século {1}"
    converter: bool = False  # whether the wiki reads LanguageConverter markup ("-{...}-"): zh, sr, kk, ...

    def __reduce__(self):  # pickled as its key: unpickling interns it again
        return site_for, (self.language, self.namespaces_given)

    def describe(self) -> dict:
        """What the extract stats say of the site."""
        return {"language": self.language or None, "table": self.table,
                "namespaces_from_dump": len(self.namespaces_given)}


def _names(values) -> frozenset[str]:
    return frozenset(normalized(str(value)) for value in values or ())


@functools.lru_cache(maxsize=64)
def site_for(language: str = "", namespaces: tuple[tuple[int, str], ...] = ()) -> Site:
    """The site of a wiki in `language` ("es"; "" when unknown) with the `namespaces` its dump lists."""
    known = tables()["languages"]
    table_name = language if language in known else FALLBACK
    table, english = known[table_name], known[FALLBACK]
    by_number: dict[int, set[str]] = {}
    for number, names in list(CANONICAL.items()) + [(n, (name,)) for n, name in namespaces]:
        by_number.setdefault(number, set()).update(normalized(name) for name in names)
    aliases = (tables().get("namespace_aliases") or {}).get(language) or {}
    for number, names in list((table.get("namespaces") or {}).items()) + list(aliases.items()):
        by_number.setdefault(int(number), set()).update(_names(names))
    options = {normalized(option) for option in english["image_options"] + (table.get("image_options") or [])}
    switches = set(english["switches"]) | set(table.get("switches") or ())
    disambiguation = set(english["disambiguation_switches"]) | set(table.get("disambiguation_switches") or ())
    switches |= disambiguation
    sections = table.get("sections") or {}
    templates = _names(table.get("disambiguation_templates"))
    return Site(
        language=language,
        table=table_name,
        namespaces_given=tuple(namespaces),
        files=frozenset(by_number.get(FILE, set()) | by_number.get(MEDIA, set())),
        categories=frozenset(by_number.get(CATEGORY, set())),
        template_prefixes=tuple(sorted((name + ":" for name in by_number.get(TEMPLATE, set())), key=len,
                                       reverse=True)),
        namespaces=frozenset(name for number, names in by_number.items() if number for name in names),
        interlanguage=_names(tables()["interlanguage"]),
        image_options=frozenset(option.replace("$1", "") for option in options
                                if not option.startswith("$1")),
        image_option_suffixes=tuple(sorted(option[2:] for option in options if option.startswith("$1"))),
        switch=re.compile("__(%s)__" % "|".join(map(re.escape, sorted(switches, key=len, reverse=True))),
                          re.IGNORECASE),
        disambiguation_switches=frozenset(name.upper() for name in disambiguation),
        disambiguation_templates=frozenset(name for name in templates if "*" not in name),
        disambiguation_prefixes=tuple(name[:-1] for name in templates if name.endswith("*")),
        disambiguation_suffixes=tuple(name[1:] for name in templates if name.startswith("*")),
        section_titles=_names(sections.get("titles")),
        citation_words=_names(sections.get("citation_words")),
        section_words=_names(sections.get("section_words")) | _names(sections.get("citation_words")),
        inline_templates={normalized(name): renderer if "{" in renderer else normalized(renderer)
                          for name, renderer in (table.get("inline_templates") or {}).items()},
        converter=language in tables().get("converter_languages", ()),
    )


def english() -> Site:
    """The site of a wiki in English with no names of its own: what the cleaner uses by default."""
    return site_for(FALLBACK)


def read_siteinfo(siteinfo, root=None) -> Site:
    """A dump's `<siteinfo>` element (lxml) -> its site. The language is the `xml:lang` of the dump's
    `<mediawiki>` element (`root`), else the host of siteinfo's `<base>` URL ("es.wikipedia.org")."""
    namespaces, base = [], ""
    for child in siteinfo:
        tag = child.tag.rpartition("}")[2]
        if tag == "base":
            base = child.text or ""
        elif tag == "namespaces":
            for namespace in child:
                key, name = namespace.get("key", ""), (namespace.text or "").strip()
                if name and key.lstrip("-").isdigit():
                    namespaces.append((int(key), name))
    language = (root.get(_XML_LANG) or "") if root is not None else ""
    if not language:
        match = _HOST_LANGUAGE.match(base)
        language = match.group(1) if match else ""
    return site_for(language.lower(), tuple(sorted(namespaces)))
