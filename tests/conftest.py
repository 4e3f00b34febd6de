"""Shared test fixtures: the repo paths, `src/` on sys.path, and a local HTTP mirror."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"
SAMPLE_MIRROR = REPO / "data" / "mirror"
SAMPLE_DUMP = SAMPLE_MIRROR / "enwiki" / "20251101"
sys.path.insert(0, str(SRC))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mirror_server import MirrorServer


@pytest.fixture
def http_mirror():
    """The sample mirror served over HTTP on 127.0.0.1, with faults the test can switch on."""
    with MirrorServer(SAMPLE_MIRROR) as server:
        yield server
