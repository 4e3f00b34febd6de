"""Tokenizing real article text, the token files' format, the dataset manifest, params checks."""

from __future__ import annotations

import bz2
import gzip
import json
import re
import socket

import numpy as np
import pytest
import yaml
from conftest import REPO, SAMPLE_DUMP, TEST_PARAMS

from dataset import build_manifest, prune_unselected
from params import ParamsError, validate
from tokenize_text import tokenize_file
from tokens import EOT, gpt2_encoding, is_validation, read_tokens

# A sentence of the sample's "Anarchism" article (page 12), as extracted text.
ANARCHISM = "Anarchism is a political philosophy that advocates self-governed societies based on voluntary institutions."


def sample_articles(limit: int = 40) -> list[dict]:
    """Real article text from the sample dump (wikitext with markup stripped crudely; enough to encode)."""
    articles = []
    for path in sorted(SAMPLE_DUMP.glob("*.bz2")):
        xml = bz2.decompress(path.read_bytes()).decode()
        for page in re.findall(r"<page>.*?</page>", xml, re.DOTALL):
            if "<ns>0</ns>" in page and "<redirect" not in page:
                page_id = re.search(r"<id>(\d+)</id>", page).group(1)
                text = re.search(r"<text[^>]*>(.*?)</text>", page, re.DOTALL).group(1)
                articles.append({"id": page_id, "title": "", "url": "", "text": text[:5000]})
    return articles[:limit]


def write_jsonl(path, articles) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for article in articles:
            f.write(json.dumps(article) + "\n")


def test_tokenizer_loads_without_network(monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise AssertionError("the tokenizer tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))  # an empty cache: nothing to fall back on
    encoding = gpt2_encoding()
    ids = encoding.encode_ordinary(ANARCHISM)
    assert ids[:4] == [2025, 998, 1042, 318]  # "An", "arch", "ism", " is": GPT-2's published ids
    assert encoding.decode(ids) == ANARCHISM
    assert encoding.encode_ordinary(" the") == [262] and encoding.eot_token == EOT == 50256


def test_tokenize_writes_documents_separated_by_eot(tmp_path):
    articles = sample_articles()
    write_jsonl(tmp_path / "1.jsonl.gz", articles)
    meta = tokenize_file(tmp_path / "1.jsonl.gz", tmp_path / "tokens" / "1", val_fraction=0.2, threads=2)
    train, val = read_tokens(tmp_path / "tokens" / "1", "train"), read_tokens(tmp_path / "tokens" / "1", "val")
    assert train.dtype == np.uint16 and meta["train"]["tokens"] == len(train)
    assert (train == EOT).sum() == meta["train"]["documents"] and train[-1] == EOT
    assert (val == EOT).sum() == meta["val"]["documents"] >= 1
    assert meta["train"]["documents"] + meta["val"]["documents"] == len(articles)
    # The first training document decodes back to its text.
    first = next(a for a in articles if not is_validation(int(a["id"]), 0.2))
    end = int(np.argmax(train == EOT))
    assert gpt2_encoding().decode(train[:end].tolist()) == first["text"]
    assert not (tmp_path / "tokens" / "1.tmp").exists()


def test_split_depends_on_page_id_only():
    ids = range(1, 20_001)
    held_out = [i for i in ids if is_validation(i, 0.1)]
    assert 0.09 < len(held_out) / len(ids) < 0.11
    assert held_out == [i for i in reversed(ids) if is_validation(i, 0.1)][::-1]  # order-free
    assert not any(is_validation(i, 0.0) for i in ids)


def test_truncated_token_file_is_refused_with_a_hint(tmp_path):
    write_jsonl(tmp_path / "t.jsonl.gz", sample_articles(5))
    tokenize_file(tmp_path / "t.jsonl.gz", tmp_path / "1", val_fraction=0.0, threads=1)
    path = tmp_path / "1" / "train.bin"
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(ValueError, match="stale or truncated: run `dvc repro`"):
        read_tokens(tmp_path / "1", "train")


def test_manifest_counts_parts_and_prunes_unselected(tmp_path):
    articles = sample_articles(30)
    tokens_dir = tmp_path / "tokens"
    for part, chunk in enumerate((articles[:10], articles[10:20], articles[20:]), start=1):
        write_jsonl(tmp_path / f"{part}.jsonl.gz", chunk)
        tokenize_file(tmp_path / f"{part}.jsonl.gz", tokens_dir / str(part), val_fraction=0.3, threads=1)
    (tokens_dir / "7.tmp").mkdir()  # leftover of an interrupted run
    v3 = build_manifest(tokens_dir, [1, 2, 3], [1])
    assert v3["totals"]["documents"] == 30
    assert v3["totals"]["tokens"] == sum(e["tokens"] for e in v3["train"] + v3["val"])
    assert v3["eval"] == [v3["val"][0]] and v3["eval"][0]["path"].endswith("tokens/1/val.bin")
    assert prune_unselected(tokens_dir, [1, 3]) == ["2", "7.tmp"]
    v13 = build_manifest(tokens_dir, [1, 3], [1])
    assert v13["eval"] == v3["eval"] and v13["totals"]["documents"] == 30 - 10


@pytest.mark.parametrize("key, value, message", [
    ("parts", [], "`data.parts` must be a non-empty list"),
    ("parts", [1, 1, 2], r"`data.parts` lists part\(s\) \[1\] more than once"),
    ("parts", [1, "2"], r"`data.parts` must be a non-empty list of dump part numbers \(1, 2, ...\).*, got \[1, '2'\]"),
    ("parts", [0], r"`data.parts` must be a non-empty list of dump part numbers \(1, 2, ...\).*, got \[0\]"),
    ("parts", 3, "`data.parts` must be a non-empty list"),
    ("eval_parts", [2], r"`data.eval_parts` names part\(s\) \[2\] that `data.parts` \[1\] does not select"),
])
def test_params_errors_name_the_key(key, value, message):
    params = yaml.safe_load(TEST_PARAMS.read_text())
    params["data"][key] = value
    with pytest.raises(ParamsError, match=message):
        validate(params)
