"""The matrix: every test here says which producer, consumer and form it checks, and the session
ends with the table (producer x consumer, PASS/FAIL) that docs/interop.md keeps."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.interop.matrix import Cell, Matrix
from tests.services.protect_helpers import Workdir

MATRIX = Matrix()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "interop(producer, consumer, form): one cell of the client interop matrix"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    marker = item.get_closest_marker("interop")
    if marker is not None and (report.when == "call" or report.outcome != "passed"):
        MATRIX.record(Cell(**marker.kwargs), report.outcome)
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if MATRIX:
        terminalreporter.write_sep("=", "client interop matrix")
        terminalreporter.write_line(MATRIX.table())


@pytest.fixture
def work() -> Iterator[Workdir]:
    """A scratch directory for the engines' input and output files."""
    w = Workdir()
    yield w
    w.close()
