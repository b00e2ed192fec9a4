"""``e2email doctor``: check the set-up and say what to fix."""

from __future__ import annotations

import click

from e2email.cli.common import runtime
from e2email.cli.output import STATE, print_json
from e2email.errors import EX_CONFIG, E2emailError
from e2email.services.doctor import Check, run_checks


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.pass_context
def doctor_command(ctx: click.Context, as_json: bool) -> None:
    """Check the set-up before the first message finds what is missing.

    \b
    config    the configuration file parses
    gpg       gpg runs; its version and home
    keyring   the keyring backend can keep secrets (needed without password_command)
    resolver  the configured resolver answers; dnssec: it validates and its AD bit is trusted
    openpgp   a secret key for every sender address, when openpgp.sign is true
    smime     your certificate and key load (passphrase included) and can sign
    account   each account's server: TLS, certificate, AUTH mechanisms (nothing is sent)

    Exits 0 when nothing failed (warnings allowed), 78 otherwise.
    """
    try:
        rt = runtime(ctx)
    except E2emailError as e:
        checks = [Check("config", "fail", str(e))]
    else:
        checks = run_checks(rt)
    if as_json:
        print_json([{"name": c.name, "status": c.status, "detail": c.detail} for c in checks])
    else:
        for c in checks:
            STATE.info(f"{c.status.upper():5} {c.name}: {c.detail}")
    if any(c.status == "fail" for c in checks):
        ctx.exit(EX_CONFIG)
