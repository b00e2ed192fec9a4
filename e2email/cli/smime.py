"""``e2email smime``: your own S/MIME identity (docs/smime.md)."""

from __future__ import annotations

import sys

import click

from e2email.adapters import secrets
from e2email.cli.common import runtime
from e2email.cli.output import STATE
from e2email.errors import UsageError


@click.group("smime")
def smime_group() -> None:
    """Your S/MIME identity: the [smime] certificate and private key (docs/smime.md).

    \b
    Examples:
      e2email smime set-passphrase      store the private key's passphrase in the keyring
    """


@smime_group.command("set-passphrase")
@click.pass_context
def set_passphrase(ctx: click.Context) -> None:
    """Store the passphrase of the [smime] private key in the system keyring.

    The passphrase is checked first: one that does not open the key is refused and nothing
    is stored. It is read from the terminal without echo, or from the first line of stdin
    when stdin is not a terminal; never from the command line. It goes to service "e2email",
    user "smime", and is used when smime.passphrase_command is not set. Keyring backends that
    keep secrets in plain files, or not at all, are refused unless
    `secrets.allow_insecure_keyring = true`.

    \b
    Example:
      e2email smime set-passphrase
      pass show mail/smime-key | e2email smime set-passphrase
    """
    from e2email.services.protect import identity

    rt = runtime(ctx)
    if not identity.key_needs_passphrase(rt):
        raise UsageError(
            f"{rt.settings.smime.private_key} is not encrypted: it needs no passphrase"
        )
    secrets.keyring_backend(allow_insecure=rt.settings.secrets.allow_insecure_keyring)
    if sys.stdin.isatty():
        phrase = click.prompt("Passphrase of the S/MIME key", hide_input=True)
    else:
        phrase = sys.stdin.readline().rstrip("\r\n")
    if not phrase:
        raise UsageError("empty passphrase; nothing stored")
    backend = identity.store_passphrase(rt, phrase)
    STATE.info(f"passphrase of {rt.settings.smime.private_key} stored in {backend}")
