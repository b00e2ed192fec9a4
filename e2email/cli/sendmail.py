"""``e2email-sendmail`` and ``e2email sendmail``: the sendmail(8) drop-in (docs/sendmail.md).

This module must stay light: it runs once per message from mutt, git send-email or cron, so
it imports neither click nor any engine at start-up (performance.md). The help path touches
only ``core.sendmail``; sending imports the send service when it is needed. ``click_command``
builds the ``e2email sendmail`` subcommand for the click application on demand.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, NoReturn

from e2email.core.sendmail import USAGE, SendmailArgs, parse_args
from e2email.errors import EX_SOFTWARE, EX_TEMPFAIL, E2emailError, MessageError, UsageError

if TYPE_CHECKING:
    from e2email.adapters.store.outbox import Entry
    from e2email.model import Address
    from e2email.services.queue import Outcome
    from e2email.services.runtime import Runtime

PROG = "e2email-sendmail"


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of the ``e2email-sendmail`` console script."""
    from e2email.cli import process

    process.starting()
    try:
        sys.exit(run(sys.argv[1:] if argv is None else argv))
    finally:
        process.exiting()


def run(argv: list[str]) -> int:
    """Run one sendmail invocation and return its sysexits code (contract.md)."""
    try:
        args = parse_args(argv)
        if args.mode == "help":
            sys.stdout.write(USAGE)
            return 0
        if args.mode == "version":
            from e2email import __version__

            sys.stdout.write(f"e2email-sendmail {__version__}\n")
            return 0
        _verbosity(args.verbose)
        return _dispatch(args)
    except E2emailError as e:
        _report(e)
        return e.exit_code
    except KeyboardInterrupt:
        _error("interrupted; the message was not sent")
        return EX_TEMPFAIL
    except Exception as e:
        _report(e)
        _error(f"internal error ({type(e).__name__}); please report it (-vvv shows a traceback)")
        return EX_SOFTWARE


def _error(text: str) -> None:
    from e2email.cli.output import error

    error(text)


def _report(e: BaseException) -> None:
    from e2email.cli.output import STATE, error

    if STATE.tracebacks:
        import traceback

        traceback.print_exception(e, file=sys.stderr)
    if isinstance(e, E2emailError):
        error(str(e))


def _verbosity(count: int) -> None:
    import logging

    from e2email.cli.output import STATE

    STATE.verbose = max(STATE.verbose, count)
    STATE.setup_logging()
    if STATE.verbose >= 2:
        logging.getLogger().setLevel(logging.DEBUG)
    elif STATE.verbose == 1:
        logging.getLogger().setLevel(logging.INFO)


def _note(text: str) -> None:
    """A progress line on stderr at -v (stdout stays clean for the calling program)."""
    from e2email.cli.output import STATE, error

    if STATE.verbose >= 1 and not STATE.quiet:
        error(text)


def _runtime(args: SendmailArgs) -> Runtime:
    """The configuration loaded: every mode has imported what it needs, the work starts."""
    from e2email import config
    from e2email.cli import process
    from e2email.services.runtime import Runtime

    rt = Runtime(config.load(args.config))
    process.imported()
    return rt


def _dispatch(args: SendmailArgs) -> int:
    if args.mode == "list":
        from e2email.services import queue

        print_entries(queue.entries(_runtime(args)))
        return 0
    if args.mode == "flush":
        return _flush(args)
    return _send(args)


def _flush(args: SendmailArgs) -> int:
    from e2email.services import queue

    outcomes = queue.flush(_runtime(args))
    print_outcomes(outcomes)
    problem = queue.worst(outcomes)
    if problem is not None:
        raise problem
    return 0


def read_message(ignore_dots: bool) -> bytes:
    """All of stdin, before anything else happens; without -i a lone '.' line ends it."""
    from e2email.core.sendmail import cut_at_dot

    data = sys.stdin.buffer.read()
    if not ignore_dots:
        data = cut_at_dot(data)
    if not data.strip():
        raise MessageError("no message on standard input")
    return data


def _send(args: SendmailArgs) -> int:
    from e2email.cli.output import error
    from e2email.core import sendmail as sm
    from e2email.services.send import MessageRequest, send_message

    data = read_message(args.ignore_dots)
    rt = _runtime(args)
    sender = sm.envelope_sender(args.sender) if args.sender else None
    recipients = sm.recipient_addresses(args.recipients)
    if not sm.has_header(data, "From") or sm.unqualified_from(data) is not None:
        sender = sender or _default_sender(rt, args)
        data = sm.requalify_from(sm.with_from(data, sender, args.full_name), sender)
    req = MessageRequest(
        raw=data,
        sender=sender,
        recipients=None if args.extract else recipients,
        extra_recipients=recipients if args.extract else (),
        account=args.account,
        require_tls=args.require_tls,
    )
    outcome = send_message(rt, req)
    result = outcome.result
    if result is not None and result.queued:
        error(
            f"not sent yet ({result.deferred}); queued as {', '.join(result.queued)}: "
            "'e2email queue flush' (or sendmail -q) sends it"
        )
    elif result is not None:
        _note(f"sent {outcome.message_id} via {outcome.account}")
    return 0


def _default_sender(rt: Runtime, args: SendmailArgs) -> Address:
    """The sender when the message has no usable From and no -f: the account's address."""
    from e2email.core.addresses import parse_addr_spec

    accounts = rt.settings.accounts
    if args.account is not None:
        account = rt.account(args.account, None)
    elif len(accounts) == 1:
        account = next(iter(accounts.values()))
    else:
        raise UsageError(
            "the message has no From field with an address and no -f was given: "
            "pass -f ADDR or --account NAME"
        )
    return parse_addr_spec(account.from_[0])


def print_entries(entries: list[Entry]) -> None:
    """The outbox, like mailq(1): one block per entry."""
    import time

    if not entries:
        sys.stdout.write("Outbox is empty\n")
        return
    for e in entries:
        when = time.strftime("%a %b %d %H:%M:%S", time.localtime(e.envelope.created))
        mark = " (failed)" if e.failed else ""
        sys.stdout.write(f"{e.id}{mark} {e.size:>8} {when}  {e.envelope.sender}\n")
        if e.status.last_error:
            sys.stdout.write(f"    ({e.status.last_error}; {e.status.attempts} attempt(s))\n")
        for r in e.envelope.recipients:
            sys.stdout.write(f"    {r}\n")
    total = sum(e.size for e in entries)
    sys.stdout.write(f"-- {total // 1024 + 1} Kbytes in {len(entries)} message(s).\n")


def print_outcomes(outcomes: list[Outcome]) -> None:
    """One line per entry that a flush touched (errors always, sent ones at -v)."""
    from e2email.cli.output import error

    for o in outcomes:
        if o.state == "sent":
            _note(f"{o.id}: sent ({o.detail})")
        elif o.state == "busy":
            _note(f"{o.id}: skipped, {o.detail}")
        else:
            error(f"{o.id}: {o.state}: {o.detail}")


def click_command() -> Any:
    """The ``e2email sendmail`` subcommand (built on demand: this module never imports click)."""
    import click

    @click.command(
        "sendmail",
        context_settings={
            "ignore_unknown_options": True,
            "allow_extra_args": True,
            "help_option_names": [],
        },
        add_help_option=False,
    )
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    @click.pass_context
    def sendmail_command(ctx: click.Context, args: tuple[str, ...]) -> None:
        """sendmail(8)-compatible drop-in: reads one message on stdin (--help for flags)."""
        argv = list(args)
        config_path = ctx.find_root().obj
        if isinstance(config_path, str) and not any(a.startswith("--config") for a in argv):
            argv = ["--config", config_path, *argv]
        sys.exit(run(argv))

    return sendmail_command
