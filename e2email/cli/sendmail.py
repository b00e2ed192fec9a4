"""``e2email sendmail`` and the ``e2email-sendmail`` console script (a sendmail drop-in)."""

from __future__ import annotations

import sys

import click

from e2email.cli.output import error
from e2email.errors import EX_UNAVAILABLE


@click.command(
    "sendmail",
    context_settings={
        "ignore_unknown_options": True,
        "allow_extra_args": True,
        "help_option_names": [],
    },
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def sendmail_command(args: tuple[str, ...]) -> None:
    """sendmail-compatible drop-in: reads the message on stdin (see docs/sendmail.md)."""
    main(list(args))


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``e2email-sendmail``."""
    _ = sys.argv[1:] if argv is None else argv
    error("the sendmail interface is not available in this version yet")
    sys.exit(EX_UNAVAILABLE)
