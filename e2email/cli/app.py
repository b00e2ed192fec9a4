"""The click application: global options, subcommands, and the one place errors become exits."""

from __future__ import annotations

import importlib
import sys
import traceback
from typing import Any, NoReturn

import click

from e2email import __version__
from e2email.cli import process
from e2email.cli.output import STATE, error
from e2email.errors import EX_SOFTWARE, EX_USAGE, E2emailError


class LazyGroup(click.Group):
    """Subcommands imported when used: ``e2email send`` loads the send command's modules, not
    those of check, imap or keys (125 ms of imports for all of them, performance.md).
    ``--help`` lists every command, importing them all."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, tuple[str, str]] = {}

    def add_lazy(self, name: str, module: str, attribute: str) -> None:
        """Register ``module.attribute`` (a command, or a function returning one) as ``name``."""
        self.lazy[name] = (module, attribute)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, sorted."""
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command, imported on first use."""
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, attribute = self.lazy[cmd_name]
            found = getattr(importlib.import_module(module), attribute)
            self.add_command(found if isinstance(found, click.Command) else found(), cmd_name)
            process.imported()  # the command's modules are in: its work starts
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
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


# name -> (module, attribute): a command, or a function that builds one (sendmail's)
COMMANDS = {
    "send": ("e2email.cli.send", "send_command"),
    "doctor": ("e2email.cli.doctor", "doctor_command"),
    "account": ("e2email.cli.account", "account_group"),
    "sendmail": ("e2email.cli.sendmail", "click_command"),
    "queue": ("e2email.cli.queue", "queue_group"),
    "keys": ("e2email.cli.keys", "keys_group"),
    "check": ("e2email.cli.check", "check_command"),
    "trace": ("e2email.cli.trace", "trace_command"),
    "imap": ("e2email.cli.imap", "imap_group"),
    "smime": ("e2email.cli.smime", "smime_group"),
}


def _register() -> None:
    for name, (module, attribute) in COMMANDS.items():
        cli.add_lazy(name, module, attribute)


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
