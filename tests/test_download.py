"""download@N against the sample mirror served on 127.0.0.1: multi-file parts, resume, retry, verify."""

from __future__ import annotations

import hashlib
import json

import pytest
from conftest import SAMPLE_DUMP, SAMPLE_MIRROR

import download
from download import DownloadError, download_part
from mirror import MirrorError, resolve_part

WIKI, DATE = "enwiki", "20251101"


def published_sha1(name: str) -> str:
    status = json.loads((SAMPLE_DUMP / "dumpstatus.json").read_text())
    return status["jobs"]["articlesdump"]["files"][name]["sha1"]


def fetch(mirror: str, part: int, out, retries: int = 2, dump_format: str = "single"):
    base, files = resolve_part(mirror, WIKI, DATE, part, 5, dump_format)
    download_part(base, files, out, retries=retries, timeout=5)
    return files


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # partial downloads go to ./data/.downloads
    monkeypatch.setattr(download.time, "sleep", lambda seconds: None)


def test_part_with_two_files_over_http_is_verified(http_mirror, tmp_path):
    files = fetch(http_mirror.url, 10, tmp_path / "out")
    assert [f.name for f in files] == [
        "enwiki-20251101-pages-articles10.xml-p746p764.bz2",
        "enwiki-20251101-pages-articles10.xml-p765p775.bz2",
    ]
    for f in files:
        data = (tmp_path / "out" / f.name).read_bytes()
        assert hashlib.sha1(data).hexdigest() == published_sha1(f.name)


def test_local_path_and_file_url_mirrors(tmp_path):
    fetch(str(SAMPLE_MIRROR), 1, tmp_path / "a")
    fetch(SAMPLE_MIRROR.as_uri(), 1, tmp_path / "b")
    (a,), (b,) = list((tmp_path / "a").iterdir()), list((tmp_path / "b").iterdir())
    assert a.read_bytes() == b.read_bytes() == (SAMPLE_DUMP / a.name).read_bytes()


def test_cut_connection_resumes_with_range(http_mirror, tmp_path):
    name = "enwiki-20251101-pages-articles1.xml-p10p325.bz2"
    http_mirror.faults[name] = ["cut", 100_000]
    fetch(http_mirror.url, 1, tmp_path / "out")
    ranges = [rng for path, rng in http_mirror.requests if path.endswith(name)]
    assert ranges == [None, "bytes=100000-"]
    assert (tmp_path / "out" / name).read_bytes() == (SAMPLE_DUMP / name).read_bytes()


def test_server_errors_are_retried(http_mirror, tmp_path):
    name = "enwiki-20251101-pages-articles2.xml-p330p572.bz2"
    http_mirror.faults[name] = ["status", 503, 2]
    fetch(http_mirror.url, 2, tmp_path / "out", retries=3)
    assert (tmp_path / "out" / name).exists()


def test_corrupt_file_is_deleted_refetched_once_then_refused(http_mirror, tmp_path):
    name = "enwiki-20251101-pages-articles2.xml-p330p572.bz2"
    http_mirror.faults[name] = ["corrupt"]
    with pytest.raises(DownloadError, match="sha1 .* again after a fresh download"):
        fetch(http_mirror.url, 2, tmp_path / "out")
    assert sum(path.endswith(name) for path, _ in http_mirror.requests) == 2
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "data" / ".downloads" / name).exists()


def test_missing_part_names_what_the_mirror_has(http_mirror):
    with pytest.raises(MirrorError, match=r"no pages-articles part 11 \(it has parts: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10\)"):
        resolve_part(http_mirror.url, WIKI, DATE, 11, 5, "single")


def test_missing_date_says_to_check_the_date(http_mirror):
    with pytest.raises(MirrorError, match="HTTP 404.*Check dump.mirror and dump.date"):
        resolve_part(http_mirror.url, WIKI, "20990101", 1, 5, "multistream")


def test_hashes_missing_from_dumpstatus_come_from_sha1sums(http_mirror, tmp_path):
    status = json.loads((SAMPLE_DUMP / "dumpstatus.json").read_text())
    for entry in status["jobs"]["articlesdump"]["files"].values():
        del entry["sha1"], entry["md5"]
    http_mirror.overrides[f"/{WIKI}/{DATE}/dumpstatus.json"] = json.dumps(status).encode()
    base, files = resolve_part(http_mirror.url, WIKI, DATE, 3, 5, "single")
    assert files[0].sha1 == published_sha1(files[0].name)
    download_part(base, files, tmp_path / "out", retries=0, timeout=5)


def test_names_with_paths_are_never_used(http_mirror):
    status = json.loads((SAMPLE_DUMP / "dumpstatus.json").read_text())
    files = status["jobs"]["articlesdump"]["files"]
    files["../../enwiki-20251101-pages-articles12.xml-p1p2.bz2"] = {"size": 1, "sha1": "0" * 40}
    files["/etc/enwiki-20251101-pages-articles13.xml-p1p2.bz2"] = {"size": 1, "sha1": "0" * 40}
    http_mirror.overrides[f"/{WIKI}/{DATE}/dumpstatus.json"] = json.dumps(status).encode()
    for part in (12, 13):
        with pytest.raises(MirrorError, match=f"part {part} lists file names with folders in them"):
            resolve_part(http_mirror.url, WIKI, DATE, part, 5, "single")


def test_multistream_part_is_each_dump_with_its_index(http_mirror, tmp_path):
    files = fetch(http_mirror.url, 10, tmp_path / "out", dump_format="multistream")
    assert [f.name for f in files] == [
        "enwiki-20251101-pages-articles-multistream-index10.txt-p746p764.bz2",
        "enwiki-20251101-pages-articles-multistream10.xml-p746p764.bz2",
        "enwiki-20251101-pages-articles-multistream-index10.txt-p765p775.bz2",
        "enwiki-20251101-pages-articles-multistream10.xml-p765p775.bz2",
    ]
    status = json.loads((SAMPLE_DUMP / "dumpstatus.json").read_text())["jobs"]["articlesmultistreamdump"]
    for f in files:
        data = (tmp_path / "out" / f.name).read_bytes()
        assert hashlib.sha1(data).hexdigest() == status["files"][f.name]["sha1"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f.name for f in files)


def test_multistream_without_its_index_or_job_says_which_format_to_use(http_mirror):
    status = json.loads((SAMPLE_DUMP / "dumpstatus.json").read_text())
    del status["jobs"]["articlesmultistreamdump"]["files"]["enwiki-20251101-pages-articles-multistream-index2.txt-p330p572.bz2"]
    http_mirror.overrides[f"/{WIKI}/{DATE}/dumpstatus.json"] = json.dumps(status).encode()
    with pytest.raises(MirrorError, match="multistream2.xml-p330p572.bz2 has no index .* dump.format: single"):
        resolve_part(http_mirror.url, WIKI, DATE, 2, 5, "multistream")
    del status["jobs"]["articlesmultistreamdump"]
    http_mirror.overrides[f"/{WIKI}/{DATE}/dumpstatus.json"] = json.dumps(status).encode()
    with pytest.raises(MirrorError, match="no jobs.articlesmultistreamdump.files.*dump.format: single"):
        resolve_part(http_mirror.url, WIKI, DATE, 2, 5, "multistream")
    assert resolve_part(http_mirror.url, WIKI, DATE, 2, 5, "single")[1][0].name.endswith("articles2.xml-p330p572.bz2")


def test_progress_counts_every_byte_once_across_a_resume(http_mirror, tmp_path):
    from progress import Progress
    name = "enwiki-20251101-pages-articles-multistream1.xml-p10p325.bz2"
    http_mirror.faults[name] = ["cut", 100_000]
    base, files = resolve_part(http_mirror.url, WIKI, DATE, 1, 5, "multistream")
    progress = Progress("download@1", sum(f.size for f in files), terminal=False)
    download_part(base, files, tmp_path / "out", retries=2, timeout=5, progress=progress)
    assert [rng for path, rng in http_mirror.requests if path.endswith(name)] == [None, "bytes=100000-"]
    assert progress.done == progress.total == sum((tmp_path / "out" / f.name).stat().st_size for f in files)
