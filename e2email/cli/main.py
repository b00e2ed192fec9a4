"""Entry point of the ``e2email`` console script.

Kept tiny on purpose: ``--version`` answers before click or anything else is imported, and
the click application is imported only when a real command runs (see performance.md).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Run ``e2email``; exits with a sysexits code."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        from e2email import __version__

        sys.stdout.write(f"e2email {__version__}\n")
        sys.exit(0)
    from e2email.cli.app import run

    run(args)


if __name__ == "__main__":  # pragma: no cover
    main()
