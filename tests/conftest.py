"""Shared test fixtures: the repo paths, a local HTTP mirror, and the faults table. (pyproject.toml puts
src/, tests/ and benchmarks/ on the import path.)"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE_MIRROR = REPO / "data" / "mirror"
SAMPLE_DUMP = SAMPLE_MIRROR / "enwiki" / "20251101"

from mirror_server import MirrorServer  # noqa: E402
from workflow import TEST_PARAMS  # noqa: E402,F401  (the tests' own params.yaml)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items):
    """Under `--dist loadgroup` (make test, make check), the tests that share a module-scoped project
    (built once, grown test by test) run in one process, in order; every other test goes to whichever
    process is free."""
    for item in items:
        fixtures = getattr(item, "_fixtureinfo", None)
        if fixtures and any(defs[-1].scope == "module" for defs in fixtures.name2fixturedefs.values()):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))


@pytest.fixture
def http_mirror():
    """The sample mirror served over HTTP on 127.0.0.1, with faults the test can switch on."""
    with MirrorServer(SAMPLE_MIRROR) as server:
        yield server


# ------------------------------------------------------------------------------------- faults table

# The rows of the tests that ran, by test id (in this process, or gathered from the workers' reports
# when pytest-xdist runs the tests in several processes).
FAULT_ROWS: dict[str, dict] = {}


@pytest.fixture
def fault(request):
    """One row of the table printed at the end of the session: the fault a test injects, what the
    pipeline did, and how much earlier data it lost. The test fills `injected` first, then `outcome`
    and `lost` once it has asserted them; the row's result is the test's."""
    row = {"test": request.node.name, "injected": "", "outcome": "", "lost": "not reached", "result": "?"}
    request.node.fault_row = row
    return row


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    row = getattr(item, "fault_row", None)
    if row is None:
        return
    if report.when == "call" or report.outcome != "passed":
        row["result"] = "xfail" if hasattr(report, "wasxfail") else report.outcome
        if hasattr(report, "wasxfail") and not row["outcome"]:
            row["outcome"] = f"not yet: {report.wasxfail}"
    # the report carries the row to the process that prints the table (reports cross from xdist workers)
    report.user_properties = [*report.user_properties, ("fault_row", dict(row))]


def pytest_runtest_logreport(report):
    for name, value in report.user_properties:
        if name == "fault_row":
            FAULT_ROWS[report.nodeid] = value


def pytest_terminal_summary(terminalreporter):
    if not FAULT_ROWS:
        return
    header = ("fault injected", "outcome", "data lost", "test")
    rows = [(r["injected"], r["outcome"], r["lost"], f"{r['result']}: {r['test']}") for r in FAULT_ROWS.values()]
    widths = [max(len(str(cells[i])) for cells in [header, *rows]) for i in range(len(header))]
    terminalreporter.section("faults: injected, outcome, data lost")
    for cells in [header, tuple("-" * w for w in widths), *rows]:
        terminalreporter.write_line(" | ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip())
