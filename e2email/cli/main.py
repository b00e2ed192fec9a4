"""Entry point of the ``e2email`` console script.

Kept tiny on purpose: ``--version`` answers before click or anything else is imported, and
the click application is imported only when a real command runs (see performance.md).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Run ``e2email``; exits with a sysexits code."""
    from e2email.cli import process

    process.starting()
    try:
        _main(sys.argv[1:] if argv is None else argv)
    finally:
        process.exiting()


def _main(args: list[str]) -> None:
    if args == ["--version"]:
        from e2email import __version__

        sys.stdout.write(f"e2email {__version__}\n")
        sys.exit(0)
    routed = _sendmail_argv(args)
    if routed is not None:
        from e2email.cli.sendmail import run as sendmail

        sendmail_args, quiet = routed
        if quiet:
            from e2email.cli.output import STATE

            STATE.quiet = True
        sys.exit(sendmail(sendmail_args))
    from e2email.cli.app import run

    run(args)


def _sendmail_argv(args: list[str]) -> tuple[list[str], bool] | None:
    """``e2email [--config P] [-v...] [-q] sendmail ARGS`` -> (sendmail argv, quiet), else None.

    The sendmail words go to the sendmail parser exactly as given: click would swallow the
    ``--`` that protects a recipient like ``-oQ/tmp`` from being read as an option. So every
    global option is recognised here: one left to click (``e2email -q sendmail -- -t``) would
    turn the recipient ``-t`` into a flag. ``--quiet`` is returned apart: to the sendmail
    parser ``-q`` means "flush the queue".
    """
    prefix: list[str] = []
    quiet = False
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--config" and i + 1 < len(args):
            prefix += ["--config", args[i + 1]]
            i += 1
        elif word.startswith("--config="):
            prefix.append(word)
        elif word in ("--verbose", "--quiet"):
            prefix += ["-v"] if word == "--verbose" else []
            quiet = quiet or word == "--quiet"
        elif len(word) > 1 and word[0] == "-" and set(word[1:]) <= {"v", "q"}:  # -vv, -q, -qv
            prefix += ["-" + "v" * word.count("v")] if "v" in word else []
            quiet = quiet or "q" in word
        else:
            break
        i += 1
    if i < len(args) and args[i] == "sendmail":
        return prefix + args[i + 1 :], quiet
    return None


if __name__ == "__main__":  # pragma: no cover
    main()
