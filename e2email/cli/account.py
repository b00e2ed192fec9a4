"""``e2email account``: credentials for an account, and a check that they work."""

from __future__ import annotations

import sys

import click

from e2email.adapters import secrets
from e2email.cli.common import runtime
from e2email.cli.output import STATE, print_json
from e2email.errors import UsageError


@click.group("account")
def account_group() -> None:
    """Manage accounts' credentials (see docs/accounts.md).

    \b
    Examples:
      e2email account set-password work     store the password in the system keyring
      e2email account check work            TLS, certificate fingerprint, AUTH: no mail sent
    """


@account_group.command("set-password")
@click.argument("name")
@click.pass_context
def set_password(ctx: click.Context, name: str) -> None:
    """Store the password of account NAME in the system keyring (service "e2email").

    The password is read from the terminal without echo, or from the first line of stdin
    when stdin is not a terminal. It is never taken from the command line. Keyring backends
    that store secrets in plain files, or not at all, are refused unless
    `secrets.allow_insecure_keyring = true`; `password_command` is the alternative.

    \b
    Example:
      e2email account set-password work
      pass show mail/work | e2email account set-password work
    """
    rt = runtime(ctx)
    rt.account(name, None)
    allow = rt.settings.secrets.allow_insecure_keyring
    secrets.keyring_backend(allow_insecure=allow)  # refuse before asking for anything
    if sys.stdin.isatty():
        password = click.prompt(f"Password for {name}", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise UsageError("empty password; nothing stored")
    backend = secrets.store_in_keyring(name, password, allow_insecure=allow)
    STATE.info(f"password for {name} stored in {backend}")


@account_group.command("check")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.pass_context
def check(ctx: click.Context, name: str, as_json: bool) -> None:
    """Connect to account NAME's server, verify TLS, authenticate, and quit.

    Sends no mail. Prints the TLS version, the certificate's SHA-256 fingerprint (the value
    for `tls_fingerprint` if you want to pin it), the SASL mechanism used and whether the
    server offers REQUIRETLS. Exits 77 when the credentials are refused, 75 when the server
    cannot be reached or TLS fails, 78 when the configuration or keyring is unusable.
    """
    from e2email.services.submit import probe

    rt = runtime(ctx)
    p = probe(rt, rt.account(name, None))
    if as_json:
        print_json({"account": name, **p.__dict__})
        return
    STATE.info(f"{name}: {p.host}:{p.port} ({p.security}), {p.tls_version}, certificate verified")
    STATE.info(f"  certificate {p.fingerprint}")
    auth = f"authenticated with {p.mechanism}" if p.mechanism else "no authentication configured"
    STATE.info(f"  {auth}")
    STATE.info(f"  REQUIRETLS {'offered' if p.requiretls else 'not offered'}")
