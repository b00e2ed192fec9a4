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
    sendmail_args = _sendmail_argv(args)
    if sendmail_args is not None:
        from e2email.cli.sendmail import run as sendmail

        sys.exit(sendmail(sendmail_args))
    from e2email.cli.app import run

    run(args)


def _sendmail_argv(args: list[str]) -> list[str] | None:
    """``e2email [--config P] [-v...] sendmail ARGS`` -> the sendmail argv, else None.

    The sendmail words go to the sendmail parser exactly as given: click would swallow the
    ``--`` that protects a recipient like ``-oQ/tmp`` from being read as an option.
    """
    prefix: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--config" and i + 1 < len(args):
            prefix += ["--config", args[i + 1]]
            i += 2
        elif word.startswith("--config="):
            prefix.append(word)
            i += 1
        elif word == "--verbose" or (word.startswith("-v") and set(word[1:]) == {"v"}):
            prefix.append("-v" if word == "--verbose" else word)
            i += 1
        else:
            break
    if i < len(args) and args[i] == "sendmail":
        return prefix + args[i + 1 :]
    return None


if __name__ == "__main__":  # pragma: no cover
    main()
