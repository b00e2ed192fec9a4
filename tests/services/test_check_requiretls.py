"""REQUIRETLS (RFC 8689) by default for what leaves without end-to-end encryption.

Postfix does not implement REQUIRETLS, so the submission server here is the scripted fake
(tests/fakes/smtp.py) that advertises it; the recipients' MX paths are the real stack's.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from e2email import config
from e2email.core.compose import Mailbox
from e2email.model import Address
from e2email.services.runtime import Runtime
from e2email.services.send import SendRequest, send
from tests.fakes.fixtures import fake_pki_fixture  # noqa: F401
from tests.fakes.pki import FakePki
from tests.fakes.smtp import Script, serve
from tests.services.fakes_support import PASSWORD, USER
from tests.support import GpgHome

from .transport_scenarios import ZONE, Scenarios, scenarios_fixture  # noqa: F401

OFFERS = ("AUTH PLAIN LOGIN", "SIZE 10000000", "REQUIRETLS")


def runtime(tmp: Path, port: int, pki: FakePki, sc: Scenarios, home: GpgHome) -> Runtime:
    anchors = tmp / "anchors.pem"
    anchors.write_bytes(pki.ca_pem.read_bytes() + sc.stack.ca_pem.read_bytes())
    network = sc.network_toml(tmp).replace(f'"{sc.stack.ca_pem}"', f'"{anchors}"')
    text = (
        textwrap.dedent(f"""\
        [accounts.work]
        from = ["{USER}"]
        smtp_host = "127.0.0.1"
        smtp_port = {port}
        username = "{USER}"
        password_command = "printf '%s\\\\n' '{PASSWORD}'"

        [openpgp]
        gnupghome = "{home.path}"

        [discovery]
        methods = ["local"]

        [outbox]
        enabled = false
        """)
        + network
    )
    return Runtime(config.parse(text, env={"HOME": str(tmp)}))


def request(*rcpts: str) -> SendRequest:
    to = tuple(Mailbox(Address(*r.split("@"))) for r in rcpts)
    return SendRequest(Mailbox(Address("alice", "example.test")), to, "s", "hello\n")


def test_cleartext_copy_asks_for_requiretls_encrypted_copy_does_not(
    tmp_path: Path,
    fake_pki: FakePki,
    scenarios: Scenarios,
    gpg_home: Callable[..., GpgHome],
) -> None:
    home = gpg_home(secret=["alice"], public=["bob"])
    clear = f"dave@valid.{ZONE}"
    with serve(Script(tls_caps=OFFERS), (fake_pki.cert, fake_pki.key)) as fake:
        rt = runtime(tmp_path, fake.port, fake_pki, scenarios, home)
        outcome = send(rt, request("bob@example.test", clear))
        assert outcome.result is not None
        by_rcpt = {tuple(m.recipients): m.params.split() for m in fake.messages}
    assert "REQUIRETLS" in by_rcpt[(clear,)]
    assert "REQUIRETLS" not in by_rcpt[("bob@example.test",)]


def test_not_offered_still_sends(
    tmp_path: Path, fake_pki: FakePki, scenarios: Scenarios, gpg_home: Callable[..., Any]
) -> None:
    home = gpg_home(secret=["alice"])
    with serve(Script(), (fake_pki.cert, fake_pki.key)) as fake:
        rt = runtime(tmp_path, fake.port, fake_pki, scenarios, home)
        send(rt, request(f"dave@valid.{ZONE}"))
        [message] = fake.messages
    assert "REQUIRETLS" not in message.params
