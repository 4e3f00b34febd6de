"""src/progress.py: plain lines when not on a terminal (how often, what they say), a bar on one."""

from __future__ import annotations

import io
import re

import pytest

import progress
from progress import Progress, duration


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress.time, "monotonic", clock)
    return clock


def test_plain_lines_every_5_percent_or_10_seconds_never_in_the_first_second(clock, capsys):
    bar = Progress("extract@1", total=1_000_000_000, terminal=False)
    clock.now += 0.5
    bar.update_to(300_000_000)  # 30% in half a second: too early for a line
    clock.now += 1.0
    bar.update_to(310_000_000)  # 1.5 s: 31% since the start: a line
    clock.now += 1.0
    bar.update_to(320_000_000)  # 1% more, 1 s later: nothing
    clock.now += 10.0
    bar.update_to(330_000_000, "1,234 articles")  # 10 s since the last line: a line
    clock.now += 0.5
    bar.update_to(900_000_000)  # 57% more but half a second later: nothing
    bar.close()
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "extract@1: 310.0 of 1,000.0 MB (31.0%), 206.7 MB/s, ETA 3.3 s",
        "extract@1: 330.0 of 1,000.0 MB (33.0%), 26.4 MB/s, ETA 25.4 s, 1,234 articles",
    ]


def test_unknown_total_and_long_etas_read_plainly(clock, capsys):
    bar = Progress("download@3", total=None, terminal=False)
    clock.now += 20
    bar.update(50_000_000)
    assert capsys.readouterr().out == "download@3: 50.0 MB, 2.5 MB/s\n"
    assert duration(754) == "12 min 34 s" and duration(7384) == "2 h 03 min" and duration(9.94) == "9.9 s"


def test_on_a_terminal_a_bar_on_stderr_and_nothing_on_stdout(clock, capsys, monkeypatch):
    stderr = io.StringIO()
    monkeypatch.setattr(progress.sys, "stderr", stderr)
    bar = Progress("tokenize", total=2_000_000, terminal=True)
    clock.now += 20
    bar.update_to(1_000_000, "10 documents")
    bar.close()
    assert capsys.readouterr().out == ""
    assert re.search(r"tokenize:\s+50%.*1\.00M/2\.00M.*10 documents", stderr.getvalue()), stderr.getvalue()
