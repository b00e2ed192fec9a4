"""The click application: global options, subcommands, and the one place errors become exits."""

from __future__ import annotations

import sys
import traceback
from typing import NoReturn

import click

from e2email import __version__
from e2email.cli.output import STATE, error
from e2email.errors import EX_SOFTWARE, EX_USAGE, E2emailError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="e2email", message="%(prog)s %(version)s")
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    envvar="E2EMAIL_CONFIG",
    help="Configuration file [default: $XDG_CONFIG_HOME/e2email/config.toml; env E2EMAIL_CONFIG].",
)
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="More detail; -vv protocol traces (secrets hidden), -vvv tracebacks.",
)
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: int, quiet: bool) -> None:
    """e2email: end-to-end encryption for outgoing mail.

    Sends mail PGP/MIME- or S/MIME-encrypted when the recipient has a key, and otherwise
    only when the recipient's MX path meets your transport floor. Exit codes follow
    sysexits(3): 0 sent or queued, 64 usage, 65 bad message, 67 no key, 69 refused by the
    server, 75 try again later, 77 refused by policy or credentials, 78 configuration.
    """
    STATE.verbose, STATE.quiet = verbose, quiet
    STATE.setup_logging()
    ctx.obj = config_path


def _register() -> None:
    from e2email.cli import account, doctor, queue, send, sendmail

    cli.add_command(send.send_command)
    cli.add_command(doctor.doctor_command)
    cli.add_command(account.account_group)
    cli.add_command(sendmail.click_command())
    cli.add_command(queue.queue_group)
    from e2email.cli import keys

    cli.add_command(keys.keys_group)
    from e2email.cli import check, trace

    cli.add_command(check.check_command)
    cli.add_command(trace.trace_command)
    from e2email.cli import imap

    cli.add_command(imap.imap_group)


def run(args: list[str]) -> NoReturn:
    """Invoke the click app and turn every outcome into one exit code (contract.md)."""
    _register()
    try:
        result = cli.main(args=args, prog_name="e2email", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(EX_USAGE)
    except click.Abort:
        error("aborted")
        sys.exit(EX_USAGE)
    except E2emailError as e:
        _report(e)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        error("interrupted")
        sys.exit(130)
    except Exception as e:
        _report(e, bug=True)
        sys.exit(EX_SOFTWARE)
    sys.exit(result if isinstance(result, int) else 0)


def _report(e: BaseException, *, bug: bool = False) -> None:
    if STATE.tracebacks:
        traceback.print_exception(e, file=sys.stderr)
    if bug:
        error(
            f"internal error ({type(e).__name__}: {e}); please report it "
            "(run with -vvv for a traceback)"
        )
    else:
        error(str(e))
