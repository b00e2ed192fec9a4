"""The collector of a short-lived process (cli/process.py): off while importing, on for the
work, and nothing left for the final collection at exit."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2email.cli import process
from tests.support import cli_env


@pytest.fixture
def collector() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()


def test_off_while_importing_then_on_with_the_imports_frozen(collector: None) -> None:
    process.starting()
    assert not gc.isenabled()
    before = gc.get_freeze_count()
    process.imported()
    assert gc.isenabled()
    assert gc.get_freeze_count() > before
    process.exiting()
    assert gc.isenabled()


# Each entry point runs a real command (the empty outbox) whose work reports the collector.
PROBES = {
    "e2email-sendmail -bp": (
        "import gc, sys\n"
        "from e2email.cli import sendmail\n"
        "sendmail.print_entries = lambda entries: print('work', gc.isenabled())\n"
        "sendmail.main(['-bp'])\n"
    ),
    "e2email queue list": (
        "import gc, sys\n"
        "from e2email.cli import main, sendmail\n"
        "sendmail.print_entries = lambda entries: print('work', gc.isenabled())\n"
        "main.main(['queue', 'list'])\n"
    ),
}


@pytest.mark.parametrize("entry", sorted(PROBES))
def test_the_collector_runs_during_the_work(entry: str, tmp_path: Path) -> None:
    p = subprocess.run(
        [sys.executable, "-c", PROBES[entry]],
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout == "work True\n"
