"""Read a Wikimedia-style dump mirror: which files make part N, how big they are, their hashes.

A mirror is an https:// or file:// URL or a local path under which `<wiki>/<date>/dumpstatus.json`
lists the dump's files: `jobs.articlesdump.files` for the single-stream parts (`dump.format: single`),
`jobs.articlesmultistreamdump.files` for the multistream parts and their indexes (`multistream`). Mirrors that publish no hashes in dumpstatus.json
are completed from `<wiki>-<date>-sha1sums.txt` (or `-md5sums.txt`) beside it. A file name is used only
when it is a plain part file name (no folders, no `..`, not absolute). HTTPS certificates are verified
(urllib's default context: the system's CA certificates, or `SSL_CERT_FILE`); nothing turns that off.
"""

from __future__ import annotations

import json
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path


class MirrorError(RuntimeError):
    """The mirror lacks what params.yaml asks for, or answered with something unusable."""

    def __init__(self, message: str, missing: bool = False):
        super().__init__(message)
        self.missing = missing  # the file is not there (HTTP 404, no such file), as opposed to unreadable


@dataclass(frozen=True)
class DumpFile:
    name: str
    size: int | None
    sha1: str | None
    md5: str | None
    first_page: int
    last_page: int


def dump_base(mirror: str, wiki: str, date: str) -> str:
    """URL or path of the folder that holds a dump's files."""
    return f"{mirror.rstrip('/')}/{wiki}/{date}"


def is_url(location: str) -> bool:
    return urllib.parse.urlsplit(location).scheme in ("http", "https", "file")


def read_small(location: str, timeout: float) -> bytes:
    """The bytes of a small file (dumpstatus.json, a sums file) from a URL or a local path."""
    try:
        if is_url(location):
            with urllib.request.urlopen(location, timeout=timeout) as response:
                return response.read()
        return Path(location).read_bytes()
    except urllib.error.HTTPError as exc:
        raise MirrorError(f"{location}: HTTP {exc.code} {exc.reason}", missing=exc.code in (404, 410)) from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise MirrorError(f"{location}: the mirror's TLS certificate does not verify ({reason.verify_message}); "
                              "fix the system's CA certificates (or SSL_CERT_FILE), or use another "
                              "dump.mirror") from exc
        raise MirrorError(f"{location}: cannot read it ({reason})",
                          missing=isinstance(reason, FileNotFoundError) or "No such file" in str(reason)) from exc


def list_dates(mirror: str, wiki: str, timeout: float) -> list[str] | None:
    """The dump dates a mirror's `<wiki>/` folder lists (its index page over HTTP); None if unlisted."""
    folder = f"{mirror.rstrip('/')}/{wiki}"
    try:
        if urllib.parse.urlsplit(folder).scheme in ("http", "https"):
            listing = read_small(folder + "/", timeout).decode("utf-8", "replace")
            names = re.findall(r'href="(?:[^"]*/)?(\d{8})/?"', listing)
        else:
            if is_url(folder):  # file://
                folder = urllib.request.url2pathname(urllib.parse.urlsplit(folder).path)
            names = [entry.name for entry in Path(folder).iterdir() if entry.is_dir()]
    except (MirrorError, OSError):
        return None
    return sorted({name for name in names if re.fullmatch(r"\d{8}", name)})


# dump.format -> the dumpstatus.json job that lists its files, and the kind of file name it takes
JOBS = {"single": "articlesdump", "multistream": "articlesmultistreamdump"}
KINDS = {"single": "pages-articles", "multistream": "pages-articles-multistream"}


def part_pattern(wiki: str, date: str, dump_format: str) -> re.Pattern:
    """File names of a format's parts (multistream: the dumps and their indexes); anything else in the
    listing is ignored."""
    prefix = rf"{re.escape(wiki)}-{re.escape(date)}"
    if dump_format == "multistream":
        return re.compile(rf"{prefix}-pages-articles-multistream(?:-index)?(\d+)\.(?:xml|txt)-p(\d+)p(\d+)\.bz2")
    return re.compile(rf"{prefix}-pages-articles(\d+)\.xml-p(\d+)p(\d+)\.bz2")


def whole_dump_pattern(wiki: str, date: str, dump_format: str) -> re.Pattern:
    """The file (multistream: the file and its index) that holds a format's whole dump. A wiki with
    numbered parts lists it too, as one more copy of every page; a smaller wiki has only this: part 1."""
    prefix = rf"{re.escape(wiki)}-{re.escape(date)}"
    if dump_format == "multistream":
        return re.compile(rf"{prefix}-pages-articles-multistream(?:-index)?\.(?:xml|txt)\.bz2")
    return re.compile(rf"{prefix}-pages-articles\.xml\.bz2")


def index_name(dump_name: str) -> str:
    """The index of a multistream dump file: `...-multistream1.xml-p1p9.bz2` -> `...-multistream-index1.txt-p1p9.bz2`,
    `...-multistream.xml.bz2` (a whole dump) -> `...-multistream-index.txt.bz2`."""
    return re.sub(r"-multistream(\d*)\.xml([-.])", r"-multistream-index\1.txt\2", dump_name)


def parse_sums(text: str) -> dict[str, str]:
    """`<hash>  <name>` lines -> {name: hash}."""
    sums = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2:
            sums[fields[1].lstrip("*")] = fields[0].lower()
    return sums


def _dump_file(name: str, entry: dict, first: int, last: int) -> DumpFile:
    size = entry.get("size")
    return DumpFile(name, int(size) if size is not None else None, entry.get("sha1"), entry.get("md5"), first, last)


def list_parts(status: dict, wiki: str, date: str, where: str,
               dump_format: str) -> tuple[dict[int, list[DumpFile]], dict[str, int]]:
    """{part number: its files in page-id order} of `dump_format` from a parsed dumpstatus.json, and the
    names refused ({name: part}): part file names with a folder, `..` or a leading `/`, never used as paths."""
    job = JOBS[dump_format]
    try:
        files = status["jobs"][job]["files"]
    except (KeyError, TypeError) as exc:
        other = "multistream" if dump_format == "single" else "single"
        raise MirrorError(f"{where}: no jobs.{job}.files; is this a Wikimedia dumpstatus.json? (if the "
                          f"mirror has only the other files, set dump.format: {other} in params.yaml)") from exc
    job_status = status["jobs"][job].get("status")
    if job_status not in (None, "done"):
        raise MirrorError(f"{where}: the {job} job is '{job_status}', not done; pick a finished dump.date")
    pattern = part_pattern(wiki, date, dump_format)
    parts: dict[int, list[DumpFile]] = {}
    refused = {}
    for name, entry in files.items():
        match = pattern.fullmatch(name)
        if match is None:
            if found := pattern.search(name):
                refused[name] = int(found.group(1))
            continue  # e.g. the single-file pages-articles.xml.bz2, or a name we refuse (no paths)
        number, first, last = map(int, match.groups())
        parts.setdefault(number, []).append(_dump_file(name, entry, first, last))
    if not parts:  # a smaller wiki: its whole dump is one file (and its index), part 1
        whole = whole_dump_pattern(wiki, date, dump_format)
        parts = {1: [_dump_file(name, entry, 0, 0) for name, entry in files.items() if whole.fullmatch(name)]}
        parts = {number: listed for number, listed in parts.items() if listed}
    for files_of_part in parts.values():
        files_of_part.sort(key=lambda f: (f.first_page, f.name))
    return parts, refused


def with_published_sums(files: list[DumpFile], base: str, wiki: str, date: str, timeout: float) -> list[DumpFile]:
    """Fill hashes that dumpstatus.json lacks from the published sums files."""
    if all(f.sha1 or f.md5 for f in files):
        return files
    for algo in ("sha1", "md5"):
        try:
            sums = parse_sums(read_small(f"{base}/{wiki}-{date}-{algo}sums.txt", timeout).decode())
        except MirrorError:
            continue
        files = [
            DumpFile(f.name, f.size, f.sha1 or (sums.get(f.name) if algo == "sha1" else None),
                     f.md5 or (sums.get(f.name) if algo == "md5" else None), f.first_page, f.last_page)
            for f in files
        ]
        if all(f.sha1 or f.md5 for f in files):
            return files
    unhashed = [f.name for f in files if not (f.sha1 or f.md5)]
    raise MirrorError(f"{base}: no sha1 or md5 published for {unhashed}; the download cannot be verified")


def resolve_part(mirror: str, wiki: str, date: str, part: int, timeout: float,
                 dump_format: str) -> tuple[str, list[DumpFile]]:
    """The folder URL/path and the verified-able files of part `part` of a dump in `dump_format`
    (`single`: the pages-articles file(s); `multistream`: each multistream file and its index)."""
    base = dump_base(mirror, wiki, date)
    where = f"{base}/dumpstatus.json"
    try:
        raw = read_small(where, timeout)
    except MirrorError as exc:
        if not exc.missing:
            raise
        dates = list_dates(mirror, wiki, timeout)
        if dates is None:
            has = f"listing {dump_base(mirror, wiki, '')} shows no dates either (is dump.wiki right?)"
        else:
            has = f"it lists {wiki} dates: {', '.join(dates) or 'none'}"
        raise MirrorError(
            f"{exc}. There is no dump {wiki} {date} on this mirror; {has}. Check dump.mirror and dump.date "
            "in params.yaml (mirrors keep only the last few dump dates)"
        ) from exc
    try:
        status = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise MirrorError(f"{where}: not valid JSON ({exc}); is dump.mirror a Wikimedia dumps mirror?") from exc
    parts, refused = list_parts(status, wiki, date, where, dump_format)
    bad_names = [name for name, number in refused.items() if number == part]
    if bad_names:  # a part with a file we refuse to fetch would be incomplete: stop instead
        raise MirrorError(
            f"{where}: part {part} lists file names with folders in them ({', '.join(map(repr, bad_names))}); "
            "a file name is never used as a path, so the part cannot be fetched whole: use another dump.mirror"
        )
    if part not in parts:
        have = ", ".join(map(str, sorted(parts))) or "none"
        raise MirrorError(
            f"{where}: dump {wiki} {date} has no {KINDS[dump_format]} part {part} (it has parts: {have}); "
            "fix data.parts in params.yaml"
        )
    names = {f.name for f in parts[part]}
    unindexed = [name for name in sorted(names) if dump_format == "multistream" and "-index" not in name
                 and index_name(name) not in names]
    if unindexed:
        raise MirrorError(f"{where}: part {part}'s {', '.join(unindexed)} has no index file listed beside it; "
                          "set dump.format: single in params.yaml to use the single-stream files")
    return base, with_published_sums(parts[part], base, wiki, date, timeout)
