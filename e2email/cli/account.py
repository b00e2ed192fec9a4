"""``e2email account``: credentials for an account."""

from __future__ import annotations

import sys

import click

from e2email.adapters import secrets
from e2email.cli.common import runtime
from e2email.cli.output import STATE
from e2email.errors import UsageError


@click.group("account")
def account_group() -> None:
    """Manage accounts' credentials."""


@account_group.command("set-password")
@click.argument("name")
@click.pass_context
def set_password(ctx: click.Context, name: str) -> None:
    """Store the password of account NAME in the system keyring (service "e2email").

    The password is read from the terminal without echo, or from the first line of stdin
    when stdin is not a terminal. It is never taken from the command line.
    """
    rt = runtime(ctx)
    rt.account(name, None)
    if sys.stdin.isatty():
        password = click.prompt(f"Password for {name}", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise UsageError("empty password; nothing stored")
    backend = secrets.store_in_keyring(
        name, password, allow_insecure=rt.settings.secrets.allow_insecure_keyring
    )
    STATE.info(f"password for {name} stored in {backend}")
