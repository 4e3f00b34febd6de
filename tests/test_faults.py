"""Faults injected for real, stage by stage, and what each costs: nothing that was already done.

Every test breaks something the way it breaks in the field (a stalled or failing mirror, a self-signed
certificate, a hostile dumpstatus.json, a truncated or corrupt bz2, XML bombs and external entities,
bad params, a NaN loss, a kill -9, a pickled payload in a checkpoint, a disk that fills mid-write, a
second `dvc repro`), runs the real stage script or `dvc` on it, and asserts the outcome and that the
earlier outputs are intact byte for byte. Each test adds a row to the table printed at the end of the
session (tests/conftest.py): fault injected | outcome | data lost.

A full disk is played by RLIMIT_FSIZE: the kernel fails the write that crosses the limit with EFBIG,
as a full disk fails it with ENOSPC, at a byte the test chooses. The disk preflight is driven by
real sizes: a sparse bz2 file or a dumpstatus.json that lists more bytes than the disk has free.
"""

from __future__ import annotations

import bz2
import gzip
import json
import os
import random
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from conftest import REPO, SAMPLE_DUMP, SAMPLE_MIRROR, TEST_PARAMS
from mirror_server import MirrorServer
from test_train import FAST_TRAIN
from workflow import make_clone, set_params

import preflight
from preflight import TEXT_PER_BZ2_BYTE, download_need, extract_need

WIKI, DATE = "enwiki", "20251101"
PART_1 = sorted(SAMPLE_DUMP.glob("*-pages-articles1.xml-p*.bz2"))
NAME_1 = PART_1[0].name
STATUS_PATH = f"/{WIKI}/{DATE}/dumpstatus.json"
SECRET = "wikigrow-secret-7f3a9c"


# ------------------------------------------------------------------------------------------ helpers

def env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # stages' `python`


def stage_cmd(name: str, init: str = "checkpoints/scratch") -> list[str]:
    """A stage's command exactly as dvc.yaml writes it, for part 1."""
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"][name]
    words = shlex.split((stage.get("do") or stage)["cmd"].replace("${item}", "1")
                        .replace("${train.init_from}", init))
    assert words[0] == "python"
    return [sys.executable, str(REPO / words[1]), *words[2:]]


def run_stage(root: Path, name: str, file_limit: int | None = None, init: str = "checkpoints/scratch",
              extra_env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    """Run one stage's script from `root`; with `file_limit`, every write past that byte fails (EFBIG)."""
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    return subprocess.run(stage_cmd(name, init), cwd=root, env={**env(), **(extra_env or {})},
                          capture_output=True, text=True, timeout=timeout,
                          preexec_fn=limit if file_limit else None)


def run_measured(root: Path, name: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run a stage under a 4 GiB address-space cap; returns (result, seconds, peak RSS in MiB)."""
    wrapper = ("import resource, subprocess, sys; "
               "resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30)); "
               "code = subprocess.run(sys.argv[1:]).returncode; "
               "print(f'PEAK_RSS_KB={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}', file=sys.stderr); "
               "sys.exit(code)")
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", wrapper, *stage_cmd(name)], cwd=root, env=env(),
                            capture_output=True, text=True, timeout=timeout)
    seconds = time.monotonic() - started
    peak = int(re.search(r"PEAK_RSS_KB=(\d+)", result.stderr).group(1)) / 1024
    return result, seconds, peak


def make_root(path: Path, mirror: str = str(SAMPLE_MIRROR), **changes) -> Path:
    """A project root holding params.yaml (tiny training, one process) for running stages by hand."""
    path.mkdir(parents=True, exist_ok=True)
    params = yaml.safe_load(TEST_PARAMS.read_text())
    params["dump"].update(mirror=mirror, format="single")  # the faults below name part 1's single-stream file
    params["resources"].update(processes=1, download_timeout_s=5, download_retries=2)
    params["train"].update(FAST_TRAIN)
    params["data"].update(eval_tokens=2048)
    params["evaluate"].update(sample_tokens=8)
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (path / "checkpoints").mkdir(exist_ok=True)
    (path / "checkpoints" / "scratch").write_text("placeholder\n")
    set_param(path, **changes)
    return path


def set_param(root: Path, **changes) -> None:
    """set_param(root, train__learning_rate=1e30): edit root/params.yaml (keys joined by __)."""
    params = yaml.safe_load((root / "params.yaml").read_text())
    for dotted, value in changes.items():
        *parents, key = dotted.split("__")
        node = params
        for name in parents:
            node = node[name]
        node[key] = value
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def copy_root(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns(".resume"))
    return dest


def snapshot(root: Path, *paths: str) -> dict[str, bytes]:
    """The bytes of every file under `paths` (files or folders), to check later that none changed."""
    files = {}
    for rel in paths:
        path = root / rel
        for f in [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()):
            files[f.relative_to(root).as_posix()] = f.read_bytes()
    assert files, f"nothing to snapshot in {paths}"
    return files


def data_lost(root: Path, before: dict[str, bytes]) -> str:
    """Assert every snapshotted file is still there, byte for byte; the table's 'data lost' cell."""
    changed = [rel for rel, data in before.items() if not (root / rel).is_file() or (root / rel).read_bytes() != data]
    assert changed == [], f"earlier data lost or changed: {changed}"
    return f"0 ({len(before)} earlier files intact)"


def leftovers(root: Path) -> list[str]:
    """Temporary files or folders a failed stage left behind."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.tmp"))


def status_with(mutate) -> bytes:
    """The sample's dumpstatus.json after `mutate(files)` edits its file entries."""
    status = json.loads((SAMPLE_DUMP / "dumpstatus.json").read_text())
    mutate(status["jobs"]["articlesdump"]["files"])
    return json.dumps(status).encode()


def requested(server: MirrorServer, name: str) -> list[str | None]:
    """The Range headers of the server's requests for `name` (None: the whole file)."""
    return [rng for path, rng in server.requests if path.endswith("/" + name)]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """Every stage run once for part 1 by hand, as dvc.yaml runs them: the outputs faults must spare."""
    root = make_root(tmp_path_factory.mktemp("faults") / "pipeline")
    for name in ("download", "extract", "tokenize", "dataset", "train", "evaluate"):
        result = run_stage(root, name)
        assert result.returncode == 0, f"{name}: {result.stderr[-3000:]}"
    return root


# ---------------------------------------------------------------------------------------- downloads

def test_a_stalled_download_times_out_and_resumes_with_range(http_mirror, tmp_path, fault):
    fault["injected"] = "mirror stops sending mid-body (connection left open)"
    root = make_root(tmp_path, mirror=http_mirror.url, resources__download_timeout_s=1)
    http_mirror.faults[NAME_1] = ["stall", 100_000]
    started = time.monotonic()
    result = run_stage(root, "download", timeout=60)
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert f"{NAME_1}: no byte for 1 s (resources.download_timeout_s); retrying in 1 s" in result.stderr
    assert seconds < 15  # the stall lasts until the server stops: only the client's timeout ends it
    assert requested(http_mirror, NAME_1) == [None, "bytes=100000-"]  # resumed, not restarted
    assert (root / "data" / "dump" / "1" / NAME_1).read_bytes() == PART_1[0].read_bytes()
    fault.update(outcome=f"timeout after 1 s, resumed at byte 100,000, verified ({seconds:.1f} s)",
                 lost="0 (the 100,000 bytes before the stall are not fetched again)")


def test_server_errors_are_retried_with_backoff_then_stop_clearly(http_mirror, tmp_path, fault):
    fault["injected"] = "HTTP 503 twice, then 503 on every try"
    root = make_root(tmp_path, mirror=http_mirror.url, resources__download_retries=3)
    http_mirror.faults[NAME_1] = ["status", 503, 2]
    started = time.monotonic()
    result = run_stage(root, "download")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 3  # backoff: 1 s, then 2 s
    assert "HTTP 503; retrying in 1 s" in result.stderr and "HTTP 503; retrying in 2 s" in result.stderr
    before = snapshot(root, "data/dump/1")
    set_param(root, resources__download_retries=1)
    http_mirror.faults[NAME_1] = ["status", 503, 99]
    result = run_stage(root, "download")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"{NAME_1}: HTTP 503 Service Unavailable, 2 tries; the mirror is failing" in result.stderr
    fault.update(outcome="retried after 1 s and 2 s and verified; a mirror that keeps failing: "
                         "one clear error after 2 tries", lost=data_lost(root, before))
    assert leftovers(root) == []


def test_a_corrupt_download_is_deleted_fetched_once_more_then_refused(http_mirror, tmp_path, fault):
    fault["injected"] = "mirror serves a file with one byte flipped"
    root = make_root(tmp_path, mirror=http_mirror.url)
    assert run_stage(root, "download").returncode == 0
    before = snapshot(root, "data/dump/1")
    http_mirror.faults[NAME_1] = ["corrupt"]
    result = run_stage(root, "download")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert re.search(rf"{NAME_1}: sha1 \w+, the mirror lists \w+; deleted it", result.stderr)
    assert "again after a fresh download; the mirror's copy is bad" in result.stderr
    assert len(requested(http_mirror, NAME_1)) == 1 + 2  # the good run, then the bad copy twice
    assert not (root / "data" / ".downloads" / NAME_1).exists()  # the bad bytes are gone
    fault.update(outcome="sha1 mismatch: deleted, fetched once more, then a clear error",
                 lost=data_lost(root, before))
    assert leftovers(root) == []


def test_hashes_missing_from_dumpstatus_come_from_md5sums_when_sha1sums_is_missing(http_mirror, tmp_path, fault):
    fault["injected"] = "dumpstatus.json without hashes; no sha1sums.txt"

    def strip(files):
        for entry in files.values():
            del entry["sha1"], entry["md5"]

    http_mirror.overrides[STATUS_PATH] = status_with(strip)
    http_mirror.faults[f"{WIKI}-{DATE}-sha1sums.txt"] = ["status", 404, 99]
    root = make_root(tmp_path, mirror=http_mirror.url)
    result = run_stage(root, "download")
    assert result.returncode == 0, result.stderr
    assert (root / "data" / "dump" / "1" / NAME_1).read_bytes() == PART_1[0].read_bytes()
    before = snapshot(root, "data/dump/1")
    # the md5 is really checked: a wrong one in md5sums.txt refuses the file
    md5sums = (SAMPLE_DUMP / f"{WIKI}-{DATE}-md5sums.txt").read_text()
    wrong = re.sub(rf"^\w+(\s+{re.escape(NAME_1)})$", lambda m: "0" * 32 + m.group(1), md5sums, flags=re.M)
    http_mirror.overrides[f"/{WIKI}/{DATE}/{WIKI}-{DATE}-md5sums.txt"] = wrong.encode()
    result = run_stage(root, "download")
    assert result.returncode != 0 and f"md5 {'0' * 32}" not in result.stderr
    assert f"the mirror lists {'0' * 32}" in result.stderr
    # no sums file at all: the download cannot be verified, so it does not start
    http_mirror.faults[f"{WIKI}-{DATE}-md5sums.txt"] = ["status", 404, 99]
    result = run_stage(root, "download")
    assert result.returncode != 0 and "no sha1 or md5 published" in result.stderr
    fault.update(outcome="verified by md5sums.txt; a wrong md5 or no sums at all: clear error",
                 lost=data_lost(root, before))


def test_a_missing_part_or_date_names_what_was_asked_and_what_the_mirror_has(http_mirror, tmp_path, fault):
    fault["injected"] = "data.parts [42]; dump.date 20990101 (HTTP and local mirrors)"
    for number, mirror in enumerate((http_mirror.url, str(SAMPLE_MIRROR))):
        root = make_root(tmp_path / str(number), mirror=mirror, data__parts=[42], data__eval_parts=[42])
        result = subprocess.run(stage_cmd("download")[:2] + ["--part", "42", "--out", "data/dump/42"],
                                cwd=root, env=env(), capture_output=True, text=True, timeout=60)
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert "has no pages-articles part 42 (it has parts: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)" in result.stderr
        set_param(root, data__parts=[1], data__eval_parts=[1], dump__date="20990101")
        result = run_stage(root, "download")
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert "no dump enwiki 20990101 on this mirror; it lists enwiki dates: 20251101" in result.stderr
        assert not (root / "data").exists()
    fault.update(outcome="one clear error: the part or date asked and the ones the mirror has",
                 lost="0 (nothing written)")


def test_file_names_with_paths_are_never_used(http_mirror, tmp_path, fault):
    fault["injected"] = "dumpstatus.json lists ../ and absolute names for part 1"
    outside = tmp_path / "outside"
    evil = [f"../../../{outside.name}/{WIKI}-{DATE}-pages-articles1.xml-p1p2.bz2",
            f"{outside}/{WIKI}-{DATE}-pages-articles1.xml-p3p4.bz2"]

    def add_evil(files):
        for name in evil:
            files[name] = {"size": 10, "sha1": "0" * 40, "md5": "0" * 32}

    root = make_root(tmp_path / "root", mirror=http_mirror.url)
    assert run_stage(root, "download").returncode == 0
    before = snapshot(root, "data/dump/1")
    http_mirror.overrides[STATUS_PATH] = status_with(add_evil)
    result = run_stage(root, "download")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "part 1 lists file names with folders in them" in result.stderr
    assert all(repr(name) in result.stderr for name in evil)
    assert not outside.exists() and not any(".." in path or path.count("/") > 3 for path, _ in http_mirror.requests)
    fault.update(outcome="refused before fetching: names the bad entries", lost=data_lost(root, before))


def test_tls_certificates_are_verified(tmp_path, fault):
    fault["injected"] = "HTTPS mirror with a self-signed certificate"
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    # nothing in the code turns verification off
    code = "".join(path.read_text() for path in (REPO / "src").glob("*.py"))
    for weakening in ("CERT_NONE", "_create_unverified_context", "check_hostname = False", "verify=False",
                      "PYTHONHTTPSVERIFY"):
        assert weakening not in code
    with MirrorServer(SAMPLE_MIRROR, tls=(cert, key)) as server:
        root = make_root(tmp_path / "root", mirror=server.url)
        started = time.monotonic()
        result = run_stage(root, "download")
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert "TLS certificate does not verify (self-signed certificate)" in result.stderr
        assert time.monotonic() - started < 10  # refused at once, not retried
        assert server.requests == [] and not (root / "data").exists()
        # the same server, trusted on purpose: the refusal above was the certificate check
        trusted = run_stage(root, "download", extra_env={"SSL_CERT_FILE": str(cert)})
        assert trusted.returncode == 0, trusted.stderr
        assert (root / "data" / "dump" / "1" / NAME_1).read_bytes() == PART_1[0].read_bytes()
    fault.update(outcome="refused before any request (no retries); accepted once the cert is trusted",
                 lost="0 (nothing written)")


# ------------------------------------------------------------------------------------ disk preflight

def test_download_stops_before_writing_when_the_disk_is_too_small(http_mirror, tmp_path, fault):
    fault["injected"] = "part larger than the free disk (dumpstatus sizes); a reserve above it"
    root = make_root(tmp_path, mirror=http_mirror.url)
    free = shutil.disk_usage(tmp_path).free
    huge = 2 * free

    def grow(files):
        files[NAME_1]["size"] = huge

    http_mirror.overrides[STATUS_PATH] = status_with(grow)
    result = run_stage(root, "download")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    message = re.search(r"data/.downloads needs ([\d.]+ \w+) for part 1's download plus ([\d.]+ \w+) kept free "
                        r"\(resources.disk_reserve_mb\), but its disk has ([\d.]+) (\w+) free", result.stderr)
    assert message, result.stderr
    assert message.group(1) == preflight.human(huge)
    unit = {"TiB": 1 << 40, "GiB": 1 << 30, "MiB": 1 << 20}[message.group(4)]
    assert float(message.group(3)) * unit == pytest.approx(free, rel=0.02)
    assert requested(http_mirror, NAME_1) == [] and not (root / "data").exists()
    # the real sizes, but a reserve larger than the free space: stopped the same way
    http_mirror.overrides.clear()
    set_param(root, resources__disk_reserve_mb=free // (1 << 20) + 1)
    result = run_stage(root, "download")
    assert result.returncode != 0 and "but its disk has" in result.stderr
    assert requested(http_mirror, NAME_1) == [] and not (root / "data").exists()
    fault.update(outcome="stopped before the first byte, naming folder, need and free space",
                 lost="0 (nothing written)")


def test_download_need_counts_what_an_interrupted_download_left(tmp_path):
    partial = tmp_path / "a.bz2"
    with open(partial, "wb") as f:  # sparse: 5 TB that take no room
        f.truncate(5 * 10**12)
    assert download_need({"a.bz2": 5 * 10**12 + 123, "b.bz2": 1000}, tmp_path) == 123 + 1000
    assert download_need({"a.bz2": 10, "b.bz2": None}, tmp_path) is None


def test_extract_stops_before_writing_when_the_text_would_not_fit(pipeline, tmp_path, fault):
    fault["injected"] = "bz2 part whose text is larger than the free disk (sparse file)"
    root = make_root(tmp_path)
    shutil.copytree(pipeline / "data" / "text", root / "data" / "text")
    before = snapshot(root, "data/text")
    free = shutil.disk_usage(tmp_path).free
    size = min(int(2 * free / TEXT_PER_BZ2_BYTE), 8 << 40)  # ext4 holds files up to 16 TiB
    if size * TEXT_PER_BZ2_BYTE < free:  # a disk with more than 7 TiB free: let the reserve make up
        set_param(root, resources__disk_reserve_mb=free // (1 << 20))
    dump = root / "data" / "dump" / "1" / NAME_1
    dump.parent.mkdir(parents=True)
    with open(dump, "wb") as f:
        f.truncate(size)
    started = time.monotonic()
    result = run_stage(root, "extract")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert re.search(r"error: extract: data/text needs [\d.]+ \w+ for the text of data/dump/1 plus [\d.]+ \w+ kept "
                     r"free \(resources.disk_reserve_mb\), but its disk has [\d.]+ \w+ free", result.stderr)
    assert time.monotonic() - started < 15  # it never read the file
    assert leftovers(root) == []
    fault.update(outcome="stopped before the first byte, naming folder, need and free space",
                 lost=data_lost(root, before))


def test_the_text_estimate_bounds_the_samples_real_output(pipeline, tmp_path):
    """TEXT_PER_BZ2_BYTE holds for part 1 (the largest) and part 5 (the highest ratio measured)."""
    sizes = {1: sum((pipeline / "data" / "text" / name).stat().st_size for name in ("1.jsonl.gz", "1.stats.json"))}
    root = make_root(tmp_path)
    (root / "data" / "dump" / "1").mkdir(parents=True)
    part_5 = sorted(SAMPLE_DUMP.glob("*-pages-articles5.xml-p*.bz2"))
    for path in part_5:
        shutil.copy(path, root / "data" / "dump" / "1" / path.name)
    assert run_stage(root, "extract").returncode == 0
    sizes[5] = sum((root / "data" / "text" / name).stat().st_size for name in ("1.jsonl.gz", "1.stats.json"))
    for part, files in ((1, PART_1), (5, part_5)):
        bz2_bytes = sum(path.stat().st_size for path in files)
        assert sizes[part] <= TEXT_PER_BZ2_BYTE * bz2_bytes, f"part {part}: re-measure TEXT_PER_BZ2_BYTE"
        assert sizes[part] <= extract_need(files)


# ----------------------------------------------------------------------------------- broken dumps

def broken_dump_root(tmp_path: Path, pipeline: Path, data: bytes) -> tuple[Path, dict]:
    """A root whose part 1 is `data` (bz2 bytes), holding the pipeline's earlier text outputs."""
    root = make_root(tmp_path)
    shutil.copytree(pipeline / "data" / "text", root / "data" / "text")
    (root / "data" / "dump" / "1").mkdir(parents=True)
    (root / "data" / "dump" / "1" / NAME_1).write_bytes(data)
    return root, snapshot(root, "data/text")


def sample_xml() -> bytes:
    return bz2.decompress(PART_1[0].read_bytes())


def assert_refused(result, seconds: float, peak_mb: float, *phrases: str) -> None:
    assert result.returncode != 0, result.stderr
    assert f"data/dump/1/{NAME_1}" in result.stderr and "Traceback" not in result.stderr
    for phrase in phrases:
        assert re.search(phrase, result.stderr), (phrase, result.stderr)
    assert seconds < 30 and peak_mb < 500, (seconds, peak_mb)


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_damaged_bz2_is_a_clear_error_naming_the_file(pipeline, tmp_path, fault, damage):
    data = PART_1[0].read_bytes()
    if damage == "truncated":
        fault["injected"] = "bz2 part cut at half its length"
        data = data[: len(data) // 2]
    else:
        fault["injected"] = "bz2 part with one byte flipped mid-block"
        data = data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1:]
    root, before = broken_dump_root(tmp_path, pipeline, data)
    result, seconds, peak = run_measured(root, "extract")
    assert_refused(result, seconds, peak, "truncated or corrupt")
    assert leftovers(root) == []
    fault.update(outcome=f"error naming the file ({seconds:.1f} s, peak {peak:.0f} MiB)",
                 lost=data_lost(root, before))


@pytest.mark.parametrize("damage", ["malformed XML", "invalid UTF-8"])
def test_broken_xml_is_a_clear_error_naming_the_file_and_line(pipeline, tmp_path, fault, damage):
    xml = sample_xml()
    if damage == "malformed XML":
        fault["injected"] = "a page's </title> removed (tags mismatch)"
        at = xml.index(b"<title>Anarchism</title>") + len(b"<title>Anarchism")
        xml = xml[:at] + xml[at + len(b"</title>"):]
        line = xml[:at].count(b"\n") + 1
        expected = rf"Opening and ending tag mismatch: title line {line} and page, line \d+, column \d+"
    else:
        fault["injected"] = "bytes FF FE (invalid UTF-8) inside a page's text"
        at = xml.index(b"'''Anarchism''' is")
        xml = xml[:at] + b"\xff\xfe" + xml[at:]
        line = xml[:at].count(b"\n") + 1
        expected = rf"Invalid bytes in character encoding, line {line}, column \d+"
    root, before = broken_dump_root(tmp_path, pipeline, bz2.compress(xml))
    result, seconds, peak = run_measured(root, "extract")
    assert_refused(result, seconds, peak, expected)
    assert leftovers(root) == []
    fault.update(outcome=f"error naming the file, line and column ({seconds:.1f} s)", lost=data_lost(root, before))


def with_doctype(doctype: str, reference: str) -> bytes:
    """The sample's part 1 with `doctype` before the root element and `reference` inside Anarchism's text."""
    xml = sample_xml().decode("utf-8")
    at = xml.index("'''Anarchism''' is")
    return (doctype + "\n" + xml[:at] + reference + " " + xml[at:]).encode("utf-8")


BILLION_LAUGHS = ('<!DOCTYPE mediawiki [\n<!ENTITY lol0 "lollollollollollollollollollol">\n'
                  + "".join(f'<!ENTITY lol{k} "{f"&lol{k - 1};" * 10}">\n' for k in range(1, 10)) + "]>")


def test_a_billion_laughs_dump_stops_fast_in_flat_memory(pipeline, tmp_path, fault):
    fault["injected"] = "billion laughs: 10^9 nested entity expansions in a page"
    root, before = broken_dump_root(tmp_path, pipeline, bz2.compress(with_doctype(BILLION_LAUGHS, "&lol9;")))
    result, seconds, peak = run_measured(root, "extract")
    assert_refused(result, seconds, peak, "truncated or corrupt")
    assert leftovers(root) == []
    fault.update(outcome=f"error naming the file, {seconds:.1f} s, peak {peak:.0f} MiB (no expansion)",
                 lost=data_lost(root, before))


def external_entity_dumps(secret: Path, url: str) -> dict[str, bytes]:
    return {
        "file": with_doctype(f'<!DOCTYPE mediawiki [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>', "&xxe;"),
        "http": with_doctype(f'<!DOCTYPE mediawiki [<!ENTITY xxe SYSTEM "{url}/xxe">]>', "&xxe;"),
        "dtd": with_doctype(f'<!DOCTYPE mediawiki SYSTEM "{url}/evil.dtd">', "&leak;"),
        "parameter": with_doctype(f'<!DOCTYPE mediawiki [<!ENTITY % p SYSTEM "{url}/p.dtd"> %p;]>', "&leak;"),
    }


def test_external_entities_read_no_file_and_touch_no_network(pipeline, tmp_path, fault):
    fault["injected"] = "XXE: file:// and http://127.0.0.1 entities, external DTD, % entity"
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    with MirrorServer(tmp_path / "nothing") as listener:
        listener.overrides["/xxe"] = SECRET.encode()  # what an attacker's server would answer
        for path in ("/evil.dtd", "/p.dtd"):
            listener.overrides[path] = f'<!ENTITY leak "{SECRET}">'.encode()
        outcomes = set()
        for kind, xml in external_entity_dumps(secret, listener.url).items():
            root, before = broken_dump_root(tmp_path / kind, pipeline, bz2.compress(xml))
            result, seconds, peak = run_measured(root, "extract")
            written = b"".join(gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
                               for p in (root / "data" / "text").iterdir())
            assert SECRET.encode() not in written, kind
            assert SECRET not in result.stdout + result.stderr, kind
            assert seconds < 30 and peak < 500
            if result.returncode != 0:  # refused: the earlier outputs are intact
                assert f"data/dump/1/{NAME_1}" in result.stderr
                data_lost(root, before)
            outcomes.add("refused" if result.returncode else "ran, entity left out")
        assert listener.requests == []
    fault.update(outcome=f"no request to 127.0.0.1, secret absent; {' / '.join(sorted(outcomes))}",
                 lost="0 (earlier outputs intact or rewritten whole)")


def test_a_dump_that_declares_entities_is_refused_not_silently_truncated(pipeline, tmp_path, fault):
    fault["injected"] = "a page using an entity its DTD declares"
    xml = with_doctype('<!DOCTYPE mediawiki [<!ENTITY e "entity text">]>', "&e;")
    root, before = broken_dump_root(tmp_path, pipeline, bz2.compress(xml))
    result, seconds, peak = run_measured(root, "extract")
    assert_refused(result, seconds, peak, "document type")
    fault.update(outcome="error naming the file", lost=data_lost(root, before))


# ------------------------------------------------------------------------------------------- params

BAD_PARAMS = [
    ("data__parts", [], "`data.parts` must be a non-empty list"),
    ("data__parts", [1, 1], r"`data.parts` lists part\(s\) \[1\] more than once"),
    ("data__parts", [1, "2"], r"`data.parts` must be a non-empty list of dump part numbers .*, got \[1, '2'\]"),
    ("data__parts", [0], r"`data.parts` must be a non-empty list of dump part numbers .*, got \[0\]"),
    ("data__eval_parts", [2], r"`data.eval_parts` names part\(s\) \[2\]"),
    ("dump__wiki", "../../etc", "`dump.wiki` must be a wiki's database name"),
    ("dump__date", "2025-11-01", "`dump.date` must be a dump date"),
    ("extract__min_chars", -1, "`extract.min_chars` must be an integer >= 0"),
    ("tokenize__val_fraction", "0.2", "`tokenize.val_fraction` must be a number"),
    ("resources__download_timeout_s", 0, "`resources.download_timeout_s` must be a number >= 1"),
    ("resources__disk_reserve_mb", -5, "`resources.disk_reserve_mb` must be an integer >= 0"),
    ("train__batch_size", 0, "`train.batch_size` must be an integer >= 1"),
    ("train__token_budget", -1, "`train.token_budget` must be an integer >= 1"),
    ("train__grad_accum", 2.0, "`train.grad_accum` must be an integer >= 1"),
    ("train__learning_rate", float("nan"), "`train.learning_rate` must be a number >= 0"),
    ("train__learning_rate", float("inf"), "`train.learning_rate` must be a number >= 0"),
    ("train__compile", 1, r"`train.compile` must be one of \['auto', True, False\]"),
    ("train__model", {"n_layer": 0}, "`train.model.n_layer` must be an integer >= 1"),
    ("train__model", {"dropout": "0.1"}, r"`train.model.dropout` must be a number in \[0, 1\)"),
    ("train__model", {"n_layers": 2}, r"`train.model.n_layers` is not a key; did you mean `n_layer`\?"),
    ("train__warmup_iter", 10, r"`train.warmup_iter` is not a key; did you mean `warmup_iters`\?"),
    ("data__eval_tokens", 0, "`data.eval_tokens` must be an integer >= 1"),
    ("evaluate__temperature", 0, "`evaluate.temperature` must be a number > 0"),
    ("evaluate__prompts", [], "`evaluate.prompts` must be a non-empty list"),
]


def test_bad_params_stop_the_first_stage_naming_the_key(tmp_path, fault):
    fault["injected"] = f"{len(BAD_PARAMS)} bad values: empty/duplicate parts, wrong types, 0/negative, NaN"
    for number, (key, value, message) in enumerate(BAD_PARAMS):
        root = make_root(tmp_path / str(number), **{key: value})
        result = run_stage(root, "download", timeout=60)
        assert result.returncode != 0 and "Traceback" not in result.stderr, (key, value)
        assert re.search(rf"error: params.yaml: {message}", result.stderr), (key, value, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1  # one clear line
        assert not (root / "data").exists(), (key, value)  # before any work
    fault.update(outcome="each: one line naming the key, from the first stage (download@N)",
                 lost="0 (nothing written)")


def test_bad_train_params_leave_the_last_checkpoint_alone(pipeline, tmp_path, fault):
    fault["injected"] = "train.batch_size -1 with a model and resume state present"
    root = copy_root(pipeline, tmp_path / "root")
    (root / ".resume" / "train").mkdir(parents=True)
    shutil.copy(root / "models" / "model.pt", root / ".resume" / "train" / "state.pt")
    before = snapshot(root, "models", "reports", ".resume")
    set_param(root, train__batch_size=-1)
    result = run_stage(root, "train")
    assert result.returncode != 0 and "`train.batch_size` must be an integer >= 1 or 'auto', got -1" in result.stderr
    fault.update(outcome="stopped at the door naming the key", lost=data_lost(root, before))


# ----------------------------------------------------------------------------------------- training

def test_a_nan_loss_stops_training_and_keeps_the_last_good_state(pipeline, tmp_path, fault):
    fault["injected"] = "train.learning_rate 1e30 (weights overflow, loss turns NaN)"
    root = copy_root(pipeline, tmp_path / "root")
    # reports/train/ is DVCLive's live folder, rewritten from the first step by design
    before = {name: data for name, data in snapshot(root, "models", "reports").items()
              if not name.startswith("reports/train/")}
    set_param(root, train__learning_rate=1e30, train__warmup_iters=0, train__checkpoint_interval=1,
              train__eval_interval=100)
    result = run_stage(root, "train")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    found = re.search(r"train: training diverged: train loss (nan|inf)[^;]* by step (\d+); nothing was saved, "
                      r"the last good state, \.resume/train/state\.pt \(step (\d+)\), and models/model\.pt are kept",
                      result.stderr)
    assert found, result.stderr
    state = torch.load(root / ".resume" / "train" / "state.pt", weights_only=True)
    assert state["step"] == int(found.group(3)) < int(found.group(2))
    assert all(torch.isfinite(t).all() for t in state["model"].values())  # no NaN weights were saved
    assert leftovers(root) == []
    fault.update(outcome=f"clear error at step {found.group(2)}; state of step {found.group(3)} kept, finite",
                 lost=data_lost(root, before))


def test_kill_9_at_random_moments_loses_at_most_one_checkpoint_interval(pipeline, tmp_path, fault):
    fault["injected"] = "kill -9 of train 3 times at random moments (a state written every step)"
    root = copy_root(pipeline, tmp_path / "root")
    reference = torch.load(pipeline / "models" / "model.pt", weights_only=True)["model"]
    (root / "models" / "model.pt").unlink()
    set_param(root, train__checkpoint_interval=1)  # not part of the run's fingerprint: same result
    state_path = root / ".resume" / "train" / "state.pt"
    rng = random.Random(20251101)
    mid_write = 0
    on_disk = None
    for target in (2, 5, 8):
        proc = subprocess.Popen(stage_cmd("train"), cwd=root, env=env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        target = max(target, (on_disk or 0) + 1)  # a state this run wrote, not the one it started from
        seen, deadline = -1, time.monotonic() + 120
        while seen < target and proc.poll() is None and time.monotonic() < deadline:
            if state_path.exists():
                seen = torch.load(state_path, weights_only=True)["step"]
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.2))
        assert proc.poll() is None, "training ended before the kill; raise train.token_budget"
        os.kill(proc.pid, signal.SIGKILL)
        stdout, _ = proc.communicate()
        if on_disk is not None:  # the run started from the state the previous kill left
            assert f"resuming from step {on_disk:,} of 12" in stdout
        mid_write += (state_path.parent / "state.pt.tmp").exists()
        on_disk = torch.load(state_path, weights_only=True)["step"]  # whole and loadable after any kill
        assert on_disk >= seen  # at most the steps since the newest state are lost
    result = run_stage(root, "train")
    assert result.returncode == 0, result.stderr
    assert f"resuming from step {on_disk:,} of 12" in result.stdout
    resumed = torch.load(root / "models" / "model.pt", weights_only=True)["model"]
    for name, tensor in reference.items():  # the uninterrupted run's weights
        torch.testing.assert_close(resumed[name], tensor, rtol=1e-5, atol=1e-6)
    assert not state_path.exists() and leftovers(root) == []
    fault.update(outcome=f"each rerun resumed from the newest state ({mid_write} kills hit a state write); "
                         "final weights = uninterrupted run's",
                 lost="0 saved states (redone: < 1 checkpoint interval per kill)")


class Payload:
    """Pickles as a call to os.system: code that runs when the file is unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"echo pwned > {self.marker}",)


def test_checkpoints_holding_pickled_code_are_refused(pipeline, tmp_path, fault):
    fault["injected"] = "checkpoint with a pickled os.system call: init_from, resume state, evaluate"
    root = copy_root(pipeline, tmp_path / "root")
    marker = tmp_path / "pwned"
    evil = torch.load(root / "models" / "model.pt", weights_only=True)
    evil["payload"] = Payload(marker)
    torch.save(evil, root / "checkpoints" / "evil.pt")
    # the payload is live: an unguarded load runs it
    subprocess.run([sys.executable, "-c", f"import torch; torch.load({str(root / 'checkpoints' / 'evil.pt')!r}, "
                    "weights_only=False)"], check=True, capture_output=True)
    assert marker.read_text() == "pwned\n"
    marker.unlink()
    before = snapshot(root, "models", "reports", "checkpoints")
    refusal = "holds pickled Python objects (posix.system), not only tensors and plain values; refusing to load it"

    set_param(root, train__init_from="checkpoints/evil.pt")
    result = run_stage(root, "train", init="checkpoints/evil.pt")
    assert result.returncode != 0 and f"train.init_from: checkpoints/evil.pt {refusal}" in result.stderr
    set_param(root, train__init_from="checkpoints/scratch")
    (root / ".resume" / "train").mkdir(parents=True)
    shutil.copy(root / "checkpoints" / "evil.pt", root / ".resume" / "train" / "state.pt")
    result = run_stage(root, "train")
    assert result.returncode != 0 and f"resume state: .resume/train/state.pt {refusal}" in result.stderr
    assert "delete it to start from step 0" in result.stderr
    assert (root / ".resume" / "train" / "state.pt").read_bytes() == (root / "checkpoints" / "evil.pt").read_bytes()
    evaluate = [word if word != "models/model.pt" else "checkpoints/evil.pt" for word in stage_cmd("evaluate")]
    result = subprocess.run(evaluate, cwd=root, env=env(), capture_output=True, text=True, timeout=180)
    assert result.returncode != 0 and f"evaluate: checkpoints/evil.pt {refusal}" in result.stderr
    assert not marker.exists() and "Traceback" not in result.stderr
    fault.update(outcome="refused 3 times with a clear error; the payload never ran", lost=data_lost(root, before))


# --------------------------------------------------------------------------------- atomic outputs

# stage: (its outputs, a file-size limit that stops it in the middle of writing them)
MID_WRITE = {
    "download": (["data/dump/1"], 100_000),
    "extract": (["data/text"], 50_000),
    "tokenize": (["data/tokens/1"], 20_000),
    "dataset": (["data/dataset.json"], 300),
    "train": (["models/model.pt", "reports/train_log.csv"], 1_000_000),
    "evaluate": (["reports/metrics.json", "reports/training_curve.png", "reports/samples.txt"], 5_000),
}


@pytest.mark.parametrize("stage", list(MID_WRITE))
def test_a_disk_full_mid_write_leaves_earlier_outputs_whole(pipeline, fault, stage):
    outputs, limit = MID_WRITE[stage]
    fault["injected"] = f"{stage}: every write past byte {limit:,} fails (EFBIG)"
    before = snapshot(pipeline, *outputs)
    result = run_stage(pipeline, stage, file_limit=limit)
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert re.search(r"error: .*cannot write \S+: File too large", result.stderr), result.stderr
    lost = data_lost(pipeline, before)
    assert leftovers(pipeline) == []
    outcome = "clear error, no temp file left"
    if stage == "download":  # the bytes fetched before the failure are kept, and the next run resumes
        partial = pipeline / "data" / ".downloads" / NAME_1
        assert partial.stat().st_size == limit and f"the {limit:,} bytes already there are kept" in result.stderr
        assert run_stage(pipeline, stage).returncode == 0
        data_lost(pipeline, before)
        outcome += f"; {limit:,} bytes kept, next run resumed"
    fault.update(outcome=outcome, lost=lost)


def test_a_disk_full_mid_write_leaves_the_report_whole(pipeline, tmp_path, fault):
    fault["injected"] = "report: every write past byte 5,000 fails (EFBIG)"
    script = f"""
import json, resource, sys
from pathlib import Path
sys.path.insert(0, {str(REPO / 'src')!r})
import report
root = Path({str(pipeline)!r})
metrics = json.loads((root / "reports" / "metrics.json").read_text())
log = report.parse_log((root / "reports" / "train_log.csv").read_text())
versions = [report.Version("a" * 40, ["data-v1"], "tag", metrics, [1], log),
            report.Version("b" * 40, ["data-v2"], "tag", dict(metrics, dataset_tokens=2 * metrics["dataset_tokens"]),
                           [1, 2], log)]
if len(sys.argv) > 1:
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
report.write_report(versions, Path({str(tmp_path / 'versions')!r}))
"""
    assert subprocess.run([sys.executable, "-c", script], env=env(), capture_output=True).returncode == 0
    before = snapshot(tmp_path, "versions")
    result = subprocess.run([sys.executable, "-c", script, "5000"], env=env(), capture_output=True, text=True)
    assert result.returncode != 0 and "File too large" in result.stderr
    assert leftovers(tmp_path) == []
    fault.update(outcome="write fails; no temp file left", lost=data_lost(tmp_path, before))


# ------------------------------------------------------------------------------------------- dvc lock

@pytest.mark.e2e
def test_a_second_dvc_repro_stops_at_the_lock_and_the_first_finishes(http_mirror, tmp_path, fault):
    fault["injected"] = "a second `dvc repro` while the first is mid-download"
    repo = make_clone(tmp_path)
    set_params(repo, dump__mirror=http_mirror.url, dump__format="single", resources__download_timeout_s=60)
    http_mirror.faults[NAME_1] = ["stall", 100_000]  # holds the first run inside download@1
    first = subprocess.Popen([sys.executable, "-m", "dvc", "repro", "download@1"], cwd=repo, env=env(),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not requested(http_mirror, NAME_1) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert requested(http_mirror, NAME_1) and first.poll() is None
    second = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=repo, env=env(), capture_output=True,
                            text=True, timeout=120)
    # DVC releases its repo lock ("Unable to acquire lock") while a stage's command runs; the
    # read/write lock on the stages' deps and outputs (data/checked, read by download@1) stops the
    # second run then, naming the first
    said = second.stdout + second.stderr
    assert second.returncode != 0 and re.search(r"data/(checked|dump/1)' is busy, it is being blocked by", said), said
    assert re.search(rf"\(PID {first.pid}\): .*dvc.* repro download@1", said) and "Running stage" not in said
    http_mirror.stopping.set()  # the stalled connection closes: the first run resumes and finishes
    output, _ = first.communicate(timeout=120)
    assert first.returncode == 0, output
    assert (repo / "data" / "dump" / "1" / NAME_1).read_bytes() == PART_1[0].read_bytes()
    status = subprocess.run([sys.executable, "-m", "dvc", "status", "download@1"], cwd=repo, env=env(),
                            capture_output=True, text=True, timeout=120)
    assert "Data and pipelines are up to date." in status.stdout, status.stdout + status.stderr
    fault.update(outcome="second stops at once: 'data/checked is busy' (names the first's PID); first finishes",
                 lost="0 (dvc status: up to date)")
