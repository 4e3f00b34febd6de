"""Load params.yaml and check it once, at the door.

Stages call `load_params()` and then trust what they get: every key they read is checked here, with an
error that names the key and says what to do.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml

PARAMS_FILE = Path("params.yaml")


class ParamsError(ValueError):
    """A value in params.yaml that the pipeline cannot use."""


def _fail(key: str, message: str) -> None:
    raise ParamsError(f"params.yaml: `{key}` {message}")


def _get(params: dict, dotted: str):
    node = params
    for name in dotted.split("."):
        if not isinstance(node, dict) or name not in node:
            _fail(dotted, "is missing; add it (see the README for its meaning)")
        node = node[name]
    return node


def _check_int(params: dict, key: str, minimum: int) -> None:
    value = _get(params, key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        _fail(key, f"must be an integer >= {minimum}, got {value!r}")


def _check_number(params: dict, key: str, low: float, high: float | None = None) -> None:
    value = _get(params, key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low or (
        high is not None and value > high
    ):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        _fail(key, f"must be a number {bound}, got {value!r}")


def check_parts(params: dict, key: str) -> list[int]:
    """A non-empty list of distinct positive part numbers."""
    parts = _get(params, key)
    if not isinstance(parts, list) or not parts:
        _fail(key, f"must be a non-empty list of dump part numbers such as [1, 2, 3], got {parts!r}")
    for part in parts:
        if isinstance(part, bool) or not isinstance(part, int) or part < 1:
            _fail(key, f"must hold positive integers (dump part numbers), got {part!r}")
    duplicates = sorted({p for p in parts if parts.count(p) > 1})
    if duplicates:
        _fail(key, f"lists part(s) {duplicates} more than once; list each part once")
    return parts


def validate(params: dict) -> dict:
    """Check the keys every stage relies on; returns `params` unchanged."""
    for key in ("dump.mirror", "dump.wiki"):
        value = _get(params, key)
        if not isinstance(value, str) or not value.strip():
            _fail(key, f"must be a non-empty string, got {value!r}")
    date = str(_get(params, "dump.date"))
    if not (date.isdigit() and len(date) == 8) and date != "latest":
        _fail("dump.date", f"must be a dump date like \"20251101\" (or \"latest\"), got {date!r}")
    parts = check_parts(params, "data.parts")
    eval_parts = check_parts(params, "data.eval_parts")
    missing = [p for p in eval_parts if p not in parts]
    if missing:
        _fail("data.eval_parts", f"names part(s) {missing} that `data.parts` {parts} does not select; "
              "add them to data.parts or evaluate on selected parts")
    _check_int(params, "extract.min_chars", 0)
    _check_number(params, "tokenize.val_fraction", 0.0, 0.5)
    _check_int(params, "resources.processes", 0)
    _check_int(params, "resources.download_retries", 0)
    _check_number(params, "resources.download_timeout_s", 1)
    return params


def load_params(path: Path | str = PARAMS_FILE) -> dict:
    """Read and validate params.yaml; exits with a one-line error when a value is unusable."""
    path = Path(path)
    try:
        params = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        sys.exit(f"error: {path} not found; run from the repository root")
    except yaml.YAMLError as exc:
        sys.exit(f"error: {path} is not valid YAML: {exc}")
    if not isinstance(params, dict):
        sys.exit(f"error: {path} must be a mapping of sections (dump, data, ...)")
    try:
        params["dump"]["date"] = str(_get(params, "dump.date"))
        return validate(params)
    except ParamsError as exc:
        sys.exit(f"error: {exc}")


def process_count(params: dict) -> int:
    """Worker processes to use: `resources.processes`, 0 meaning every core this process may use."""
    wanted = params["resources"]["processes"]
    if wanted:
        return wanted
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
