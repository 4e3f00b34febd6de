"""Wikipedias in other languages: the real pages of tests/data/languages/ come out without namespace
links, image options, template braces or localised trailing sections, with their prose kept; the
extract stage reads each dump's namespaces and language and says which table it used."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
import yaml
from conftest import REPO, TEST_PARAMS
from lxml import etree

import languages
import mirror
import wikitext
from make_sample_mirror import multistream_bytes

# benchmarks/prose.py: the check bench_quality.py reports
from prose import lost_paragraphs, trailing_headings_kept

DATA = Path(__file__).resolve().parent / "data" / "languages"
SHIPPED = ("en", "es", "de", "fr", "it", "pt", "ru", "ja", "zh")
TODAY = (2021, 9, 1)  # the dumps' pages date from 2016-2021


def header(language: str, siteinfo: bytes) -> bytes:
    return (f'<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" xml:lang="{language}">\n'
            .encode() + siteinfo)


def site_of(language: str) -> languages.Site:
    """The language's site from its real siteinfo where tests/data/languages/siteinfo/ has one."""
    path = DATA / "siteinfo" / f"{language}.xml"
    if not path.exists():
        return languages.site_for(language)
    root = etree.fromstring(header(language, path.read_bytes()) + b"</mediawiki>")
    return languages.read_siteinfo(root.find("{*}siteinfo"), root)


def real_pages() -> list[tuple[str, str, str]]:
    """(language, title, wikitext) of every page in tests/data/languages/*.jsonl.bz2."""
    pages = []
    for path in sorted(DATA.glob("*.jsonl.bz2")):
        with bz2.open(path, "rt", encoding="utf-8") as lines:
            pages += [(path.name.split(".")[0], page["title"], page["text"]) for page in map(json.loads, lines)]
    return pages


PAGES = real_pages()


def leaks(text: str, site: languages.Site, language: str, source: str = "") -> list[str]:
    """What must never stand in the text: braces and brackets of templates and links, a file or category
    namespace name before a colon, an image option before a "|", a behaviour switch, a trailing
    section's heading (benchmarks/prose.py's own list, not the cleaner's) but where the source has
    that word as a line of text too ("'''Literatur'''" over a paragraph on Berlin's writers)."""
    names = "|".join(map(re.escape, sorted(site.files | site.categories, key=len, reverse=True)))
    options = "|".join(re.escape(option) for option in site.image_options
                       if len(option) > 2 and not option.endswith("="))
    found = re.findall(r"\{\{|\}\}|\[\[|\]\]|(?<![^\W\d_])(?:%s)[ \t]*:[^ \t\n]|(?<![^\W\d_])(?:%s)[ \t]*\|"
                       % (names, options), text, re.IGNORECASE)
    shown = re.findall(r"\[\[:([^|\]]+)", source)  # "[[:Category:X]]" is a link MediaWiki shows as written
    found = [leak for leak in found if not any(link.startswith(leak) for link in shown)]
    found += [match.group() for match in site.switch.finditer(text)]
    return found + trailing_headings_kept(source, text, language)


def test_every_shipped_language_has_a_table():
    tables = languages.tables()
    for language in SHIPPED:
        table = tables["languages"][language]
        site = languages.site_for(language)
        assert site.table == language
        assert table["image_options"] and table["disambiguation_templates"], language
        assert site.section_titles or site.citation_words, language
        assert {"de", "fr", "ja", "zh", "simple", "be-tarask"} <= site.interlanguage


@pytest.mark.parametrize("language, title, source", PAGES, ids=[f"{l}:{t}" for l, t, _ in PAGES])
def test_real_pages_leak_no_markup_and_keep_their_prose(language, title, source):
    site = site_of(language)
    text, disambiguation = wikitext.clean_page(source, TODAY, site)
    assert not disambiguation
    found = leaks(text, site, language, source)
    assert not found, f"{language}:{title}: {found[:10]}"
    lost = lost_paragraphs(source, text, language)
    assert not lost, f"{language}:{title}: {len(lost)} prose paragraph(s) lost, the first: {lost[0][:200]!r}"


def test_the_same_pages_with_english_rules_alone_leak():
    """The check above can fail: with English Wikipedia's rules alone, the Spanish page keeps its
    categories and its "Bibliografía" and "Enlaces externos" sections."""
    language, title, source = next(page for page in PAGES if page[:2] == ("es", "Berlín"))
    text = wikitext.clean(source, TODAY)
    found = leaks(text, site_of("es"), "es", source)
    assert any(leak.startswith("Categoría:") for leak in found), found
    assert {"Bibliografía", "Enlaces externos"} <= set(found)


def test_namespaces_come_from_the_dump_and_the_table_adds_aliases():
    site = site_of("ja")
    assert site.language == "ja" and site.table == "ja"
    assert {"ファイル", "file", "image"} <= site.files  # siteinfo's, and the canonical names
    assert "画像" in site.files  # an alias siteinfo does not list
    assert "category" in site.categories and "カテゴリ" in site.categories
    text = wikitext.clean("東京は日本の首都である。[[ファイル:Tokyo.jpg|サムネイル|東京]]\n"
                          "[[画像:Tokyo2.jpg|thumb|東京]][[Category:日本の都市]][[カテゴリ:首都]]", site=site)
    assert text == "東京は日本の首都である。"


def test_a_wiki_without_a_table_uses_its_dump_names_and_the_english_rules(tmp_path):
    """A Bulgarian page: its categories and files go by the names its siteinfo lists (and MediaWiki's
    aliases for Bulgarian, such as Картинка), and the stats say that the English table was used."""
    siteinfo = ('<siteinfo><sitename>Уикипедия</sitename><dbname>bgwiki</dbname>'
                '<base>https://bg.wikipedia.org/wiki/Начална_страница</base><namespaces>'
                '<namespace key="0" case="first-letter" />'
                '<namespace key="6" case="first-letter">Файл</namespace>'
                '<namespace key="14" case="first-letter">Категория</namespace>'
                '</namespaces></siteinfo>\n').encode()
    page = ("'''София''' е столицата на [[България]] и най-големият град в страната. " * 4
            + "\n[[Картинка:Sofia.jpg|мини|София]]\n[[Файл:Sofia2.jpg|thumb|Изглед]]\n"
            "[[Категория:Столици в Европа]]\n[[en:Sofia]]")
    text, stats = run_extract(tmp_path, "bg", siteinfo, [(1, "София", page)])
    assert stats["site"] == {"language": "bg", "table": "en", "namespaces_from_dump": 2}
    assert text["София"].startswith("София е столицата на България")
    assert not re.search(r"Картинка|Файл|Категория|мини|Sofia", text["София"])


def page_xml(page_id: int, title: str, text: str) -> bytes:
    return (f"  <page>\n    <title>{escape(title)}</title>\n    <ns>0</ns>\n    <id>{page_id}</id>\n"
            f"    <revision>\n      <id>{page_id}</id>\n      <timestamp>2021-07-19T00:00:00Z</timestamp>\n"
            f"      <model>wikitext</model>\n      <format>text/x-wiki</format>\n"
            f"      <text xml:space=\"preserve\">{escape(text)}</text>\n    </revision>\n  </page>\n").encode()


def run_extract(tmp_path: Path, language: str, siteinfo: bytes, pages: list[tuple[int, str, str]],
                multistream: bool = False, whole: bool = False) -> tuple[dict[str, str], dict]:
    """The extract stage on a one-part dump of `pages` under `siteinfo`: (text by title, stats). The
    part is numbered, as on a big wiki, or (`whole`) a smaller wiki's whole dump."""
    (tmp_path / "dump").mkdir()
    head = header(language, siteinfo)
    raw = [(page_id, page_xml(page_id, title, text)) for page_id, title, text in pages]
    wiki = f"{language}wiki-20210720-pages-articles"
    number, pages_range = ("", ".") if whole else ("1", "-p1p9.")
    if multistream:
        dump, index = multistream_bytes(head, raw, 1)
        (tmp_path / "dump" / f"{wiki}-multistream{number}.xml{pages_range}bz2").write_bytes(dump)
        (tmp_path / "dump" / f"{wiki}-multistream-index{number}.txt{pages_range}bz2").write_bytes(index)
    else:
        xml = head + b"".join(xml for _, xml in raw) + b"</mediawiki>\n"
        (tmp_path / "dump" / f"{wiki}{number}.xml{pages_range}bz2").write_bytes(bz2.compress(xml))
    params = yaml.safe_load(TEST_PARAMS.read_text())
    params["resources"]["processes"] = 2
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = subprocess.run([sys.executable, str(REPO / "src/extract.py"), "--dump", "dump", "--out",
                             "text/1.jsonl.gz", "--stats", "text/1.stats.json"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    with gzip.open(tmp_path / "text/1.jsonl.gz", "rt", encoding="utf-8") as lines:
        text = {doc["title"]: doc["text"] for doc in map(json.loads, lines)}
    return text, json.loads((tmp_path / "text/1.stats.json").read_text())


@pytest.mark.parametrize("multistream, whole", [(False, False), (True, False), (True, True)],
                         ids=["single-stream", "multistream", "whole-multistream-dump"])
def test_extract_reads_a_jawiki_part_with_its_own_namespaces(tmp_path, multistream, whole):
    """The real jawiki page under the real jawiki siteinfo, in both dump formats and as a smaller wiki's
    whole dump: the same text as the cleaner gives with that site, and the stats name the Japanese table."""
    (_, title, source), = [page for page in PAGES if page[0] == "ja"][:1]
    text, stats = run_extract(tmp_path, "ja", (DATA / "siteinfo/ja.xml").read_bytes(), [(1, title, source)],
                              multistream, whole)
    assert stats["site"]["language"] == "ja" and stats["site"]["table"] == "ja"
    assert stats["site"]["namespaces_from_dump"] > 15
    assert text[title] == wikitext.clean(source, (2021, 7, 19), site_of("ja"))
    assert not leaks(text[title], site_of("ja"), "ja")


@pytest.mark.parametrize("dump_format", ["single", "multistream"])
def test_a_smaller_wiki_has_one_part_its_whole_dump(dump_format):
    """bgwiki lists no numbered parts, only its whole dump: that is part 1. enwiki lists both: its whole
    dump (every page again, in one file) is no part."""
    job = mirror.JOBS[dump_format]
    whole = {"single": ["pages-articles.xml.bz2"],
             "multistream": ["pages-articles-multistream.xml.bz2", "pages-articles-multistream-index.txt.bz2"]}
    numbered = {"single": ["pages-articles1.xml-p1p41242.bz2"],
                "multistream": ["pages-articles-multistream1.xml-p1p41242.bz2",
                                "pages-articles-multistream-index1.txt-p1p41242.bz2"]}

    def listing(wiki, names):
        files = {f"{wiki}-20251101-{name}": {"size": 10, "sha1": "0" * 40} for name in names}
        return {"jobs": {job: {"status": "done", "files": files}}}

    parts, _ = mirror.list_parts(listing("bgwiki", whole[dump_format]), "bgwiki", "20251101", "bg", dump_format)
    assert sorted(f.name for f in parts[1]) == sorted(f"bgwiki-20251101-{name}" for name in whole[dump_format])
    assert list(parts) == [1]
    parts, _ = mirror.list_parts(listing("enwiki", whole[dump_format] + numbered[dump_format]), "enwiki",
                                 "20251101", "en", dump_format)
    assert sorted(f.name for f in parts[1]) == sorted(f"enwiki-20251101-{name}" for name in numbered[dump_format])


def test_a_smaller_wiki_downloads_and_extracts_its_whole_dump_as_part_1(tmp_path):
    """A mirror of a wiki with no numbered parts (bgwiki-...-pages-articles-multistream.xml.bz2 and its
    index): check passes for part 1 and names the parts there are for part 2; download@1 and extract@1
    read the whole dump."""
    siteinfo = ('<siteinfo>\n<dbname>bgwiki</dbname>\n<base>https://bg.wikipedia.org/wiki/Начална_страница</base>'
                '\n<namespaces>\n<namespace key="14" case="first-letter">Категория</namespace>\n</namespaces>\n'
                '</siteinfo>\n').encode()
    text = "'''Пловдив''' е вторият по големина град в [[България]]. " * 8 + "\n[[Категория:Градове в България]]"
    dump, index = multistream_bytes(header("bg", siteinfo), [(7, page_xml(7, "Пловдив", text))], 1)
    folder = tmp_path / "mirror" / "bgwiki" / "20251101"
    folder.mkdir(parents=True)
    files = {}
    for kind, data in (("multistream.xml", dump), ("multistream-index.txt", index)):
        name = f"bgwiki-20251101-pages-articles-{kind}.bz2"
        (folder / name).write_bytes(data)
        files[name] = {"size": len(data), "sha1": hashlib.sha1(data).hexdigest()}
    (folder / "dumpstatus.json").write_text(json.dumps(
        {"jobs": {"articlesmultistreamdump": {"status": "done", "files": files}}}))
    params = yaml.safe_load(TEST_PARAMS.read_text())
    params["dump"] = {"mirror": str(tmp_path / "mirror"), "wiki": "bgwiki", "date": "20251101",
                      "format": "multistream"}

    def stage(script: str, *args: str, parts: tuple = (1,)) -> subprocess.CompletedProcess:
        params["data"]["parts"] = list(parts)
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
        return subprocess.run([sys.executable, str(REPO / "src" / script), *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)

    refused = stage("check.py", "--out", "data/checked", parts=(1, 2))
    assert refused.returncode == 1
    assert "has no pages-articles-multistream part 2 (it has parts: 1)" in refused.stderr
    for script, *args in (("check.py", "--out", "data/checked"),
                          ("download.py", "--part", "1", "--out", "data/dump/1"),
                          ("extract.py", "--dump", "data/dump/1", "--out", "data/text/1.jsonl.gz",
                           "--stats", "data/text/1.stats.json")):
        result = stage(script, *args)
        assert result.returncode == 0, result.stderr
    with gzip.open(tmp_path / "data/text/1.jsonl.gz", "rt", encoding="utf-8") as lines:
        (doc,) = map(json.loads, lines)
    assert doc["text"].startswith("Пловдив е вторият по големина град в България.")
    assert "Категория" not in doc["text"]
    stats = json.loads((tmp_path / "data/text/1.stats.json").read_text())
    assert stats["site"] == {"language": "bg", "table": "en", "namespaces_from_dump": 1}


def test_lines_of_a_paragraph_join_without_a_space_between_wide_characters():
    site = languages.site_for("ja")
    assert wikitext.clean("ベルリンは\nドイツの首都である。\nIt is\nbig.", site=site) == (
        "ベルリンはドイツの首都である。 It is big.")
    assert wikitext.clean("서울은\n한국의 수도이다.") == "서울은 한국의 수도이다."  # Korean writes spaces


def test_a_file_in_a_namespace_the_dump_does_not_list_is_dropped_but_a_title_with_a_colon_stays():
    """Without siteinfo (the English site), files of another wiki are known by their name or an image
    option of the wiki's language; a link whose title merely holds a colon keeps its text."""
    spanish = languages.site_for("es")
    assert wikitext.clean("Un [[Fichero:Mapa.svg]] y [[Datei:Plano.xyz|miniatura|Plano]] fin.",
                          site=spanish) == "Un y fin."
    assert wikitext.clean("See [[Politics: Left|left]] and [[Star Wars: Episode IV]].") == (
        "See left and Star Wars: Episode IV.")


def test_a_site_travels_to_workers_as_its_key_and_comes_back_the_same_object():
    """Chunks carry their site to the worker processes: pickled as (language, namespaces) and interned
    again, so a worker keeps one site and its template cache across chunks."""
    import pickle
    site = site_of("ja")
    data = pickle.dumps(site)
    assert len(data) < 2_000
    assert pickle.loads(data) is site
