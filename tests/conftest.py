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


def pytest_xdist_make_scheduler(config, log):
    """`--dist loadgroup` (make test, make check): a test file that builds a project once (a
    module-scoped fixture) and grows it test by test runs whole in one process, in order; every other
    test goes to whichever process is free. (pytest-xdist 3.8's own `xdist_group` marks are lost under
    pytest 9, which no longer reads the node id they rewrite.)"""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    shared = {path.name for path in Path(__file__).parent.glob("test_*.py") if 'scope="module"' in path.read_text()}

    class SharedProjects(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if Path(module).name in shared else nodeid

    return SharedProjects(config, log)


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
