"""No prose lost: every paragraph of plain running prose in the real pages (the sample dump's articles
and benchmarks/data/untuned_pages.jsonl.bz2) keeps some of its words in `clean_page`'s text."""

from __future__ import annotations

import bz2
import json

import pytest
from conftest import REPO, SAMPLE_DUMP

import extract
import wikitext

# benchmarks/prose.py: the check bench_quality.py reports
from prose import lost_paragraphs

TODAY = (2025, 11, 1)  # the sample dump's date


def real_pages() -> list[tuple[str, str]]:
    """(name, wikitext) of every article of the sample dump's single-stream parts, and of every
    untuned page."""
    pages = []
    for path in sorted(SAMPLE_DUMP.glob("*-pages-articles[0-9]*.xml-p*.bz2")):
        with bz2.open(path, "rb") as stream:
            pages += [(f"sample: {title}", text) for _, _, title, text, *_ in extract.iter_pages(stream)]
    with bz2.open(REPO / "benchmarks/data/untuned_pages.jsonl.bz2", "rt", encoding="utf-8") as lines:
        pages += [(f"untuned: {page['title']}", page["text"]) for page in map(json.loads, lines)]
    return pages


PAGES = real_pages()


@pytest.mark.parametrize("name, source", PAGES, ids=[name for name, _ in PAGES])
def test_no_prose_paragraph_lost(name, source):
    text, is_disambiguation = wikitext.clean_page(source, TODAY)
    if is_disambiguation:
        pytest.skip("disambiguation pages are dropped whole")
    lost = lost_paragraphs(source, text)
    assert not lost, f"{name}: {len(lost)} prose paragraph(s) lost, the first: {lost[0][:200]!r}"
