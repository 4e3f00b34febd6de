"""Checkpoint files: written whole or not at all, read as plain data only.

`save_atomic` writes through a temporary file and a rename, so a kill or a full disk leaves the old
file or the new one, never half of one. `load` reads with `torch.load(weights_only=True)`: tensors,
numbers, strings, lists and dicts. A file that holds any other pickled object (a class, a function such
as `os.system`: code that would run while loading) is refused with an error, and nothing in it runs.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import torch


class CheckpointError(RuntimeError):
    """A checkpoint file that must not or cannot be loaded."""


def save_atomic(obj, path: Path) -> None:
    """torch.save through a temporary file and a rename: a kill leaves the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            try:
                torch.save(obj, f)
            except RuntimeError as exc:
                # torch reports a failed write as "enforce fail ... unexpected pos"; the OSError it
                # caught says why (disk full, file too large)
                if isinstance(exc.__context__, OSError):
                    raise OSError(exc.__context__.errno, exc.__context__.strerror, str(tmp)) from exc
                raise
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # no half file left behind
        raise


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
