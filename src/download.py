"""Stage `download@N`: fetch dump part N's file(s) from the mirror and verify their size and hash.

    python src/download.py --part 1 --out data/dump/1

Reads dump.mirror / dump.wiki / dump.date from params.yaml, finds part N's files in the mirror's
dumpstatus.json (parts 11+ of real dumps are several files) and writes them into `--out`. Bytes land
in `data/.downloads/` first, so an interrupted download resumes with an HTTP Range request instead of
starting over (DVC deletes a stage's outputs before it runs; this folder is not one). A file enters
`--out` only whole and verified; a hash mismatch deletes it and downloads it once more.

A file already in DVC's cache is not fetched again: DVC's cache is addressed by md5, which the mirror
publishes, so when the stage re-runs (its code changed, or `dump.date` went back to an earlier dump)
each file found there is verified (size and sha1) and linked into `--out`, and no byte is transferred.

Faults: a stalled or dropped connection (no byte for `resources.download_timeout_s`) and HTTP 5xx are
retried `resources.download_retries` times with backoff, resuming where the bytes stopped; a TLS
certificate that does not verify, HTTP 4xx and a failed write to the local disk stop at once (the bytes
already fetched are kept for the next run). Before any byte is written, the disk must hold what is
left to fetch plus `resources.disk_reserve_mb` (src/preflight.py).
Shows progress (MB, rate, ETA; plain lines when not on a terminal: src/progress.py), then prints
`part 1: 1 file(s), 308,689 bytes (308,689 fetched, 0 from DVC's cache), 0.1 s (2.9 MB/s)`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import ssl
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from atomic import fresh_folder, swap_folder
from mirror import DumpFile, MirrorError, is_url, resolve_part
from params import load_params
from preflight import DiskSpaceError, check_space, download_need
from progress import Progress
from runlog import StageError, record, run_stage

PARTIAL_DIR = Path("data/.downloads")
CHUNK = 1 << 20


class DownloadError(RuntimeError):
    pass


class LocalWriteError(DownloadError):
    """Writing to our own disk failed (full, read-only, quota): retrying the network will not help."""


def file_digest(path: Path, algo: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algo).hexdigest()


def verify(path: Path, expected: DumpFile) -> str | None:
    """None when the file is what the mirror published, else what is wrong."""
    size = path.stat().st_size
    if expected.size is not None and size != expected.size:
        return f"{size:,} bytes, the mirror lists {expected.size:,}"
    algo, want = ("sha1", expected.sha1) if expected.sha1 else ("md5", expected.md5)
    got = file_digest(path, algo)
    if got != want.lower():
        return f"{algo} {got}, the mirror lists {want}"
    return None


def append_from(stream, partial: Path, progress: Progress | None = None) -> None:
    """Copy `stream` to the end of `partial`. Read errors (the network's) propagate as they are; a
    failed write (our disk's) becomes LocalWriteError, keeping the bytes written so far."""
    # read1: the bytes that have arrived, so a read that then times out loses none of them
    read = getattr(stream, "read1", stream.read)
    with open(partial, "ab", buffering=0) as dst:  # unbuffered: a write error surfaces at write()
        while block := read(CHUNK):
            view = memoryview(block)
            while view:  # a write to a nearly full disk may be short before it fails
                try:
                    view = view[dst.write(view):]
                except OSError as exc:
                    raise LocalWriteError(
                        f"cannot write {partial}: {exc.strerror or exc}; the {dst.tell():,} bytes already "
                        "there are kept: free space on that disk and run the stage again to resume"
                    ) from exc
            if progress is not None:
                progress.update(len(block))


def fetch_once(source: str, partial: Path, timeout: float, progress: Progress | None = None) -> None:
    """Append the bytes `partial` lacks from `source` (a URL or a local path)."""
    have = partial.stat().st_size if partial.exists() else 0
    if not is_url(source):
        with open(source, "rb") as src:
            src.seek(have)
            append_from(src, partial, progress)
        return
    request = urllib.request.Request(source, headers={"User-Agent": "wikigrow-download"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to fetch: the file is complete (or too long)
            return
        raise
    with response:
        if have and response.status != 206:  # the server ignored Range: start over
            partial.unlink()
        append_from(response, partial, progress)
        # http.client ends a body quietly when the connection drops early; what is missing tells.
        missing = getattr(response, "length", None)  # HTTP only; file:// answers have no length
        if missing:
            raise ConnectionError(f"connection closed with {missing:,} bytes still to come")


def download_file(base: str, expected: DumpFile, dest: Path, retries: int, timeout: float,
                  progress: Progress | None = None) -> None:
    """Fetch one file into `dest`, resuming and retrying; a bad file is deleted and fetched once more."""
    source = f"{base}/{expected.name}"
    PARTIAL_DIR.mkdir(parents=True, exist_ok=True)
    partial = PARTIAL_DIR / expected.name
    before = progress.done if progress is not None else 0  # bytes of the part's earlier files
    for attempt in range(2):  # the second attempt follows a failed verification
        for retry in range(retries + 1):
            if progress is not None:  # a resumed file starts where its bytes stopped
                progress.update_to(before + (partial.stat().st_size if partial.exists() else 0))
            try:
                fetch_once(source, partial, timeout, progress)
                break
            except urllib.error.HTTPError as exc:
                if exc.code < 500:
                    raise DownloadError(f"{source}: HTTP {exc.code} {exc.reason}") from exc
                if retry == retries:
                    raise DownloadError(f"{source}: HTTP {exc.code} {exc.reason}, {retries + 1} tries; the "
                                        "mirror is failing: run the stage later, or set another dump.mirror") from exc
                reason = f"HTTP {exc.code}"
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
                if isinstance(getattr(exc, "reason", None), ssl.SSLCertVerificationError):
                    raise DownloadError(f"{source}: the mirror's TLS certificate does not verify "
                                        f"({exc.reason.verify_message}); fix the system's CA certificates, "
                                        "or use another dump.mirror") from exc
                stalled = isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError)
                reason = f"no byte for {timeout:g} s (resources.download_timeout_s)" if stalled else str(exc)
                if retry == retries:
                    raise DownloadError(f"{source}: {reason}; gave up after {retries + 1} tries") from exc
            wait = min(2**retry, 60)
            print(f"{expected.name}: {reason}; retrying in {wait} s", file=sys.stderr)
            time.sleep(wait)
        problem = verify(partial, expected)
        if problem is None:
            os.replace(partial, dest)
            return
        partial.unlink()
        print(f"{expected.name}: {problem}; deleted it", file=sys.stderr)
    raise DownloadError(f"{source}: {problem} again after a fresh download; the mirror's copy is bad, "
                        "try another mirror")


def dvc_cache_dir() -> Path | None:
    """The folder of DVC's local cache objects (`<cache>/files/md5`), None outside a DVC repo."""
    try:
        from dvc.repo import Repo  # imported here: the stage also runs by hand, outside a DVC repo

        with Repo(".") as repo:
            return Path(repo.cache.local.path)
    except Exception:  # not a DVC repo, no local cache configured: there is nothing to take
        return None


def cache_object(cache: Path | None, expected: DumpFile) -> Path | None:
    """Where DVC's cache would hold `expected` (by its published md5), if it is there."""
    if cache is None or not expected.md5:
        return None
    md5 = expected.md5.lower()
    path = cache / md5[:2] / md5[2:]
    return path if path.is_file() else None


def take_from_cache(cache: Path | None, expected: DumpFile, dest: Path) -> bool:
    """Link (or copy) `expected` from DVC's cache into `dest` when it is there and verifies."""
    cached = cache_object(cache, expected)
    if cached is None or verify(cached, expected) is not None:
        return False
    try:
        os.link(cached, dest)  # DVC's cache objects are read-only: sharing the inode is safe
    except OSError:  # another disk, or links not allowed
        shutil.copyfile(cached, dest)
    return True


def download_part(base: str, files: list[DumpFile], out: Path, retries: int, timeout: float,
                  cache: Path | None = None, progress: Progress | None = None) -> tuple[int, int]:
    """Every file of a part into `out` (created whole: a temp folder renamed at the end), from DVC's
    cache where it holds them, else from the mirror. Returns (bytes in `out`, bytes fetched)."""
    staging = fresh_folder(out)
    cached = 0
    try:
        for expected in files:
            if take_from_cache(cache, expected, staging / expected.name):
                taken = (staging / expected.name).stat().st_size
                cached += taken
                if progress is not None:
                    progress.update(taken)
            else:
                download_file(base, expected, staging / expected.name, retries, timeout, progress)
    except BaseException:
        # verified files go back to the partial folder: the next run finds them whole, fetches nothing
        for done in staging.iterdir():
            os.replace(done, PARTIAL_DIR / done.name)
        staging.rmdir()
        raise
    swap_folder(staging, out)
    size = sum((out / f.name).stat().st_size for f in files)
    return size, size - cached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    params = load_params()
    dump, resources = params.dump, params.resources
    started = time.time()
    try:
        base, files = resolve_part(dump.mirror, dump.wiki, dump.date, args.part,
                                   resources.download_timeout_s, dump.format)
        cache = dvc_cache_dir()
        # what DVC's cache holds is not fetched, so it needs no room
        to_fetch = [f for f in files if cache_object(cache, f) is None]
        need = download_need({f.name: f.size for f in to_fetch}, PARTIAL_DIR)
        if need is None:
            print(f"download@{args.part}: the mirror lists no sizes; the disk space is not checked", file=sys.stderr)
        else:
            check_space(PARTIAL_DIR, need, resources.disk_reserve_mb, f"part {args.part}'s download")
        sizes = [f.size for f in files]
        progress = Progress(f"download@{args.part}", None if None in sizes else sum(sizes))
        try:
            size, fetched = download_part(base, files, args.out, resources.download_retries,
                                          resources.download_timeout_s, cache, progress)
        finally:
            progress.close()
    except (MirrorError, DownloadError, DiskSpaceError) as exc:
        raise StageError(f"download@{args.part}: {exc}") from exc
    seconds = time.time() - started
    record(f"download@{args.part}", seconds, bytes=size, fetched_bytes=fetched)
    print(f"part {args.part}: {len(files)} file(s), {size:,} bytes ({fetched:,} fetched, {size - fetched:,} from "
          f"DVC's cache), {seconds:.1f} s ({size / 1e6 / max(seconds, 1e-9):.1f} MB/s)")


if __name__ == "__main__":
    run_stage(main)
