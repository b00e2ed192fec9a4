"""REQUIRETLS (RFC 8689) by default for what leaves without end-to-end encryption, and
``policy.require_tls`` ("auto" | "always" | "never") to change that.

Postfix does not implement REQUIRETLS, so the submission server here is the scripted fake
(tests/fakes/smtp.py) that advertises it; the recipients' MX paths are the real stack's.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from e2email import config
from e2email.core.compose import Mailbox
from e2email.errors import ConfigError, PolicyRefusedError
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


@dataclass(frozen=True)
class World:
    """What every test here needs: a directory, the fake server's PKI, the MX scenarios, and
    alice's GnuPG home (her secret key, bob's public key)."""

    tmp: Path
    pki: FakePki
    scenarios: Scenarios
    home: GpgHome


@pytest.fixture
def world(
    tmp_path: Path, fake_pki: FakePki, scenarios: Scenarios, gpg_home: Callable[..., GpgHome]
) -> World:
    return World(tmp_path, fake_pki, scenarios, gpg_home(secret=["alice"], public=["bob"]))


def runtime(w: World, port: int, policy: str = "") -> Runtime:
    tmp, pki, sc, home = w.tmp, w.pki, w.scenarios, w.home
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

        [policy]
        {policy}
        """)
        + network
    )
    return Runtime(config.parse(text, env={"HOME": str(tmp)}))


def request(*rcpts: str) -> SendRequest:
    to = tuple(Mailbox(Address(*r.split("@"))) for r in rcpts)
    return SendRequest(Mailbox(Address("alice", "example.test")), to, "s", "hello\n")


def test_cleartext_copy_asks_for_requiretls_encrypted_copy_does_not(world: World) -> None:
    clear = f"dave@valid.{ZONE}"
    with serve(Script(tls_caps=OFFERS), (world.pki.cert, world.pki.key)) as fake:
        rt = runtime(world, fake.port)
        outcome = send(rt, request("bob@example.test", clear))
        assert outcome.result is not None
        by_rcpt = {tuple(m.recipients): m.params.split() for m in fake.messages}
    assert "REQUIRETLS" in by_rcpt[(clear,)]
    assert "REQUIRETLS" not in by_rcpt[("bob@example.test",)]


def test_not_offered_still_sends(world: World) -> None:
    with serve(Script(), (world.pki.cert, world.pki.key)) as fake:
        rt = runtime(world, fake.port)
        send(rt, request(f"dave@valid.{ZONE}"))
        [message] = fake.messages
    assert "REQUIRETLS" not in message.params


def _params(
    w: World, policy: str, *, require_tls: bool = False, caps: tuple[str, ...] = OFFERS
) -> dict[tuple[str, ...], list[str]]:
    """Send to bob (has a key) and dave (cleartext); the MAIL FROM parameters per copy."""
    clear = f"dave@valid.{ZONE}"
    with serve(Script(tls_caps=caps), (w.pki.cert, w.pki.key)) as fake:
        rt = runtime(w, fake.port, policy)
        req = request("bob@example.test", clear)
        send(rt, SendRequest(req.sender, req.to, req.subject, req.body, require_tls=require_tls))
        return {tuple(m.recipients): m.params.split() for m in fake.messages}


def test_never_keeps_requiretls_off_although_offered(world: World) -> None:
    by_rcpt = _params(world, 'require_tls = "never"')
    assert len(by_rcpt) == 2
    assert all("REQUIRETLS" not in params for params in by_rcpt.values())


def test_the_command_line_flag_beats_never(world: World) -> None:
    policy = 'require_tls = "never"'
    by_rcpt = _params(world, policy, require_tls=True)
    assert all("REQUIRETLS" in params for params in by_rcpt.values())


def test_always_asks_on_every_copy(world: World) -> None:
    by_rcpt = _params(world, 'require_tls = "always"')
    assert by_rcpt.keys() == {("bob@example.test",), (f"dave@valid.{ZONE}",)}
    assert all("REQUIRETLS" in params for params in by_rcpt.values())


def test_always_refuses_when_not_offered_and_sends_nothing(world: World) -> None:
    caps = ("AUTH PLAIN LOGIN", "SIZE 10000000")
    with serve(Script(tls_caps=caps), (world.pki.cert, world.pki.key)) as fake:
        rt = runtime(world, fake.port, 'require_tls = "always"')
        with pytest.raises(PolicyRefusedError) as caught:
            send(rt, request("bob@example.test", f"dave@valid.{ZONE}"))
        assert fake.messages == []
        assert not any(b"MAIL FROM" in s.everything for s in fake.sessions)
    assert "does not offer REQUIRETLS" in str(caught.value)
    assert caught.value.exit_code == 77


def test_bad_value_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        config.parse('[policy]\nrequire_tls = "sometimes"\n', env={"HOME": str(tmp_path)})
    assert "policy.require_tls" in str(caught.value) and caught.value.exit_code == 78
    assert config.parse("", env={"HOME": str(tmp_path)}).policy.require_tls == "auto"
