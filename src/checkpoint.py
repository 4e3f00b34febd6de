"""Checkpoint files: written whole or not at all, read as plain data only; and the resume policy.

`save_atomic` writes through a temporary file and a rename, so a kill or a full disk leaves the old
file or the new one, never half of one. `load` reads with `torch.load(weights_only=True)`: tensors,
numbers, strings, lists and dicts. A file that holds any other pickled object (a class, a function such
as `os.system`: code that would run while loading) is refused with an error, and nothing in it runs.

Resume state (`<resume-dir>/state.pt`): every `train.checkpoint_interval` steps the trainer saves the
model, optimizer, grad scaler, step, log rows and the loss summed since the last log row. A later run
resumes from it only when its `fingerprint` matches: the same model args, train params (except
checkpoint_interval), manifest, start checkpoint and world size, so it replays exactly the run that was
cut short. A state from another configuration is ignored; a damaged one stops the run (it may hold
hours of training, so it is never dropped silently).
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import struct
import zipfile
import zlib
from pathlib import Path

import torch

from atomic import atomic_path


class CheckpointError(RuntimeError):
    """A checkpoint file that must not or cannot be loaded."""


def save_atomic(obj, path: Path) -> None:
    """torch.save through a temporary file and a rename: a kill leaves the old file or the new one.
    The same object gives the same bytes (see pin_serialization_id)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            try:
                torch.save(obj, f)
            except RuntimeError as exc:
                # torch reports a failed write as "enforce fail ... unexpected pos"; the OSError it
                # caught says why (disk full, file too large)
                if isinstance(exc.__context__, OSError):
                    raise OSError(exc.__context__.errno, exc.__context__.strerror, str(tmp)) from exc
                raise
        pin_serialization_id(tmp)


SERIALIZATION_ID = ".data/serialization_id"


def pin_serialization_id(path: Path) -> None:
    """torch.save writes a random `.data/serialization_id` into every file (a fresh one per save):
    replace it, in place, with one derived from the other records (names and CRCs), so the same
    tensors always give the same bytes, and the same hash in dvc.lock."""
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        record = next((i for i in infos if i.filename.endswith("/" + SERIALIZATION_ID)), None)
        if record is None or record.compress_type != zipfile.ZIP_STORED:
            return
        digest = hashlib.sha1()
        for info in infos:
            if info is not record:
                digest.update(f"{info.filename}:{info.CRC:08x}:{info.file_size};".encode())
        old_len = record.file_size
        new = str(int(digest.hexdigest(), 16))[:old_len].rjust(old_len, "0").encode()
        crc = zlib.crc32(new)
        cd_start = zf.start_dir
    with open(path, "r+b") as f:
        f.seek(record.header_offset)
        local = f.read(30)
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        f.seek(record.header_offset + 14)
        f.write(struct.pack("<I", crc))
        f.seek(record.header_offset + 30 + name_len + extra_len)
        f.write(new)
        # the central directory's copy of the CRC
        f.seek(cd_start)
        name = record.filename.encode()
        while True:
            header = f.read(46)
            if header[:4] != b"PK\x01\x02":
                raise ValueError(f"{path}: no central directory entry for {record.filename}")
            n, m, k = struct.unpack("<HHH", header[28:34])
            entry_name = f.read(n)
            if entry_name == name:
                f.seek(-(46 + n) + 16, 1)
                f.write(struct.pack("<I", crc))
                return
            f.seek(m + k, 1)




def load(path: Path, what: str, keys: tuple[str, ...], map_location="cpu") -> dict:
    """The dict saved in `path`, which must hold `keys`; `what` names the file's role in errors."""
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL (\S+)", str(exc))
        raise CheckpointError(
            f"{what}: {path} holds pickled Python objects{f' ({found.group(1)})' if found else ''}, not only "
            "tensors and plain values; refusing to load it, since loading would run their code. Use a "
            "checkpoint written by src/train.py"
        ) from None
    except Exception as exc:  # torch raises RuntimeError, KeyError, EOFError... for a damaged file
        raise CheckpointError(f"{what}: {path} is not a readable checkpoint ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc
    if not isinstance(ckpt, dict) or not all(key in ckpt for key in keys):
        raise CheckpointError(f"{what}: {path} is not a checkpoint of this project (it needs the keys {list(keys)})")
    return ckpt


def nonfinite(state_dict: dict) -> list[str]:
    """Names of the floating-point tensors that hold a NaN or an infinity."""
    return [name for name, t in state_dict.items()
            if torch.is_tensor(t) and t.is_floating_point() and not torch.isfinite(t).all()]


def run_fingerprint(model_args: dict, p: dict, manifest: dict, init_sha1: str | None, world: int) -> str:
    """What a resume state must match: everything that decides the weights, the data order and the
    step count. checkpoint_interval is left out: it changes when state is saved, not the result."""
    config = {k: v for k, v in p.items() if k != "checkpoint_interval"}
    blob = json.dumps([model_args, config, manifest, init_sha1, world], sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()


def checkpoint_due(step: int, start_step: int, interval: int) -> bool:
    """Save a resume state every `interval` steps, never at the step a run started or resumed from."""
    return step > start_step and step % interval == 0


def load_resume(path: Path, fingerprint: str, map_location, verbose: bool = True) -> dict | None:
    """The resume state at `path` when it belongs to this run, else None (and says why if verbose)."""
    if not path.exists():
        return None
    try:
        state = load(path, "train: resume state", ("fingerprint",), map_location)
    except CheckpointError as exc:
        raise CheckpointError(f"{exc}; delete it to start from step 0") from exc
    if state["fingerprint"] != fingerprint:
        if verbose:
            print(f"train: {path} is from another configuration; starting from step 0", flush=True)
        return None
    return state
