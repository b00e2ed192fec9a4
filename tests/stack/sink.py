"""The Maildir where Postfix delivers every message it accepts, one copy per envelope recipient.

Each copy starts with ``Delivered-To: <envelope recipient>`` and ``Return-Path:``, prepended by
Postfix's virtual(8) agent. Files are renamed into ``new/`` only once complete.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from .procs import StackError


class Sink:
    """Read what Postfix delivered. Names are file names in the Maildir's ``new/``."""

    def __init__(self, maildir: Path, log_tail: Callable[[], str]) -> None:
        self.dir = maildir
        self._log_tail = log_tail

    @property
    def new(self) -> Path:
        """The Maildir's ``new/`` directory."""
        return self.dir / "new"

    def snapshot(self) -> set[str]:
        """The names of the messages present now."""
        return {p.name for p in self.new.iterdir()}

    def _read(self, names: set[str]) -> list[bytes]:
        paths = [self.new / name for name in names]
        paths.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))
        return [p.read_bytes() for p in paths]

    def wait_new(self, since: set[str], count: int, timeout: float = 10) -> list[bytes]:
        """Wait until ``count`` messages appeared after the snapshot ``since``; return them.

        Messages come in delivery order (by modification time). Returns
        all new messages if more than ``count`` arrived. Raises StackError with the tail of
        Postfix's log if they do not arrive within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            fresh = self.snapshot() - since
            if len(fresh) >= count:
                return self._read(fresh)
            if time.monotonic() >= deadline:
                raise StackError(
                    f"sink: {len(fresh)} of {count} expected message(s) after {timeout} s; "
                    f"Postfix log:\n{self._log_tail()}"
                )
            time.sleep(0.01)

    def read_all(self) -> list[bytes]:
        """Every message in the sink, in delivery order."""
        return self._read(self.snapshot())
