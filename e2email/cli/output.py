"""How a command talks to the user: verbosity, logging, one-line errors, JSON."""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from typing import Any


@dataclass
class Output:
    """Verbosity shared by every command of one run (``-v`` repeatable, ``--quiet``)."""

    verbose: int = 0
    quiet: bool = False

    def setup_logging(self) -> None:
        """INFO at -v, DEBUG at -vv; only errors with --quiet. Logs go to stderr."""
        level = logging.WARNING
        if self.quiet:
            level = logging.ERROR
        elif self.verbose == 1:
            level = logging.INFO
        elif self.verbose >= 2:
            level = logging.DEBUG
        logging.basicConfig(level=level, stream=sys.stderr, format="e2email: %(name)s: %(message)s")
        if self.verbose >= 3:
            logging.getLogger("gnupg").setLevel(logging.DEBUG)

    @property
    def tracebacks(self) -> bool:
        """Tracebacks only at -vvv."""
        return self.verbose >= 3

    def info(self, text: str) -> None:
        """A line for humans on stdout unless --quiet."""
        if not self.quiet:
            sys.stdout.write(text + "\n")


STATE = Output()


def print_json(value: Any) -> None:
    """One JSON document on stdout."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def error(text: str) -> None:
    """The one-line error format: ``e2email: <message>`` on stderr."""
    first = " ".join(text.split("\n"))
    sys.stderr.write(f"e2email: {first}\n")
