"""STARTTLS that cannot be stripped or injected into (security.md items 1, 2 and 10).

Every case runs against a fake server that records each byte the client sent, in clear and
inside TLS, so "no AUTH in clear, ever" is observed on the wire rather than assumed.
"""

from __future__ import annotations

import pytest

from e2email.adapters import tls
from e2email.adapters.dns import Resolver
from e2email.adapters.smtp import SmtpSession
from e2email.errors import AuthenticationError, MessageError, ProtocolViolation, TLSError
from tests.fakes.fixtures import fake_pki_fixture  # noqa: F401
from tests.fakes.pki import FakePki
from tests.fakes.smtp import FakeSmtp, Script, Session, serve

PASSWORD = "s3cret"
USER = "alice@example.test"


def connect(
    fake: FakeSmtp, pki: FakePki, *, security: str = "starttls", pin: str | None = None
) -> SmtpSession:
    return SmtpSession.open(
        "127.0.0.1",
        fake.port,
        security=security,
        context=tls.client_context(pki.ca_pem),
        resolver=Resolver(),
        timeout=5,
        pin=pin,
    )


def only(fake: FakeSmtp) -> Session:
    fake.close()  # joins the connection thread: the recording is complete
    [session] = fake.sessions
    return session


def clear_verbs(session: Session) -> list[str]:
    return [c.split(" ")[0].upper() for tls_, c in session.commands if not tls_]


def assert_nothing_secret_in_clear(session: Session) -> None:
    clear = bytes(session.clear).upper()
    assert b"AUTH" not in clear and b"MAIL FROM" not in clear and b"RCPT" not in clear
    for form in (b"s3cret", b"czNjcmV0", b"AGFsaWNlQGV4YW1wbGUudGVzdABzM2NyZXQ="):
        assert form not in session.clear


def test_starttls_then_auth_only_inside_tls(fake_pki: FakePki) -> None:
    with serve(Script(), (fake_pki.cert, fake_pki.key)) as fake:
        s = connect(fake, fake_pki)
        assert s.tls_version in ("TLSv1.2", "TLSv1.3")
        assert s.login(USER, PASSWORD) == "PLAIN"
        s.quit()
        session = only(fake)
    assert clear_verbs(session) == ["EHLO", "STARTTLS"]
    assert_nothing_secret_in_clear(session)
    assert session.authenticated == USER
    assert b"AUTH PLAIN " in session.tls  # it was sent, inside TLS


def test_capabilities_are_read_again_after_tls(fake_pki: FakePki) -> None:
    # The clear EHLO advertises AUTH; inside TLS the server offers none. A client that kept the
    # clear capabilities would try AUTH; ours must see that no mechanism is offered.
    script = Script(
        clear_caps=("STARTTLS", "AUTH PLAIN LOGIN", "REQUIRETLS"), tls_caps=("SIZE 1000",)
    )
    with serve(script, (fake_pki.cert, fake_pki.key)) as fake:
        s = connect(fake, fake_pki)
        assert not s.capabilities.has("AUTH") and not s.capabilities.has("REQUIRETLS")
        assert not s.capabilities.has("STARTTLS")
        with pytest.raises(AuthenticationError, match="no usable AUTH mechanism"):
            s.login(USER, PASSWORD)
        s.close()
        session = only(fake)
    assert b"AUTH" not in session.everything


def test_bytes_injected_after_the_starttls_reply_are_fatal(fake_pki: FakePki) -> None:
    script = Script(starttls_reply=b"220 2.0.0 Ready\r\n250 AUTH PLAIN INJECTED\r\n")
    with serve(script, (fake_pki.cert, fake_pki.key)) as fake:
        with pytest.raises(ProtocolViolation, match="STARTTLS injection"):
            connect(fake, fake_pki)
        session = only(fake)
    assert clear_verbs(session) == ["EHLO", "STARTTLS"]
    assert not session.tls  # no handshake, nothing after it
    assert_nothing_secret_in_clear(session)


@pytest.mark.parametrize(
    "greeting",
    [
        b"220 fake.example.test ESMTP\r\n250 AUTH PLAIN INJECTED\r\n",
        # a whole forged EHLO reply queued behind the greeting, STARTTLS included
        b"220 fake.example.test ESMTP\r\n250-fake\r\n250-AUTH PLAIN\r\n250 STARTTLS\r\n",
    ],
)
def test_lines_queued_behind_the_greeting_never_lead_to_auth_in_clear(
    fake_pki: FakePki, greeting: bytes
) -> None:
    # The injected lines answer the client's EHLO (and then STARTTLS) out of step with what
    # it asked: whatever it concludes, it must not authenticate or start a transaction in clear.
    with serve(Script(greeting=greeting), (fake_pki.cert, fake_pki.key)) as fake:
        with pytest.raises((TLSError, ProtocolViolation)):
            connect(fake, fake_pki).login(USER, PASSWORD)
        session = only(fake)
    assert_nothing_secret_in_clear(session)
    assert b"AUTH" not in session.everything.upper()


def test_502_to_starttls_gets_nothing_more(fake_pki: FakePki) -> None:
    script = Script(starttls_reply=b"502 5.5.1 STARTTLS not available\r\n")
    with serve(script, (fake_pki.cert, fake_pki.key)) as fake:
        with pytest.raises(TLSError, match="STARTTLS refused"):
            connect(fake, fake_pki)
        session = only(fake)
    assert clear_verbs(session) == ["EHLO", "STARTTLS"]
    assert_nothing_secret_in_clear(session)


def test_no_starttls_advertised_gets_nothing_more(fake_pki: FakePki) -> None:
    # a stripped EHLO that even offers AUTH in clear: the bait must not be taken
    script = Script(clear_caps=("PIPELINING", "AUTH PLAIN LOGIN", "8BITMIME"))
    with serve(script, (fake_pki.cert, fake_pki.key)) as fake:
        with pytest.raises(TLSError, match="does not offer STARTTLS"):
            connect(fake, fake_pki)
        session = only(fake)
    assert clear_verbs(session) == ["EHLO"]
    assert_nothing_secret_in_clear(session)


@pytest.mark.parametrize("which", ["untrusted", "wrong-host"])
def test_certificate_problems_stop_before_anything_is_sent(
    fake_pki: FakePki, tmp_path_factory: pytest.TempPathFactory, which: str
) -> None:
    from tests.fakes.pki import make_pki

    if which == "untrusted":  # a chain to a CA the client does not trust
        other = make_pki(tmp_path_factory.mktemp("other-pki"))
        cert = (other.cert, other.key)
    else:  # trusted chain, but issued for other.example.test
        cert = (fake_pki.other_cert, fake_pki.other_key)
    with serve(Script(), cert) as fake:
        with pytest.raises(TLSError, match="certificate not trusted"):
            connect(fake, fake_pki)
        session = only(fake)
    assert not session.tls
    assert_nothing_secret_in_clear(session)


def test_fingerprint_pin(fake_pki: FakePki) -> None:
    wrong = "sha256:" + "00" * 32
    with serve(Script(), (fake_pki.cert, fake_pki.key)) as fake:
        with pytest.raises(TLSError, match="does not match the pinned"):
            connect(fake, fake_pki, pin=wrong)
        s = connect(fake, fake_pki)  # learn the real one, then pin it
        good = tls.certificate_sha256(s._conn.sock)  # type: ignore[arg-type]
        s.quit()
        connect(fake, fake_pki, pin=good).quit()
        fake.close()
    pinned_out = fake.sessions[0]
    assert not pinned_out.tls and clear_verbs(pinned_out) == ["EHLO", "STARTTLS"]


def test_implicit_tls(fake_pki: FakePki) -> None:
    script = Script(implicit_tls=True, tls_caps=("AUTH PLAIN LOGIN",))
    with serve(script, (fake_pki.cert, fake_pki.key)) as fake:
        s = connect(fake, fake_pki, security="tls")
        assert s.tls_version is not None
        s.login(USER, PASSWORD)
        s.quit()
        session = only(fake)
    assert not session.clear  # with implicit TLS nothing at all travels in clear
    assert session.authenticated == USER


def test_a_line_break_never_reaches_the_wire(fake_pki: FakePki) -> None:
    with serve(Script(), (fake_pki.cert, fake_pki.key)) as fake:
        s = connect(fake, fake_pki)
        s.login(USER, PASSWORD)
        s.mail(USER)
        with pytest.raises(MessageError, match="line break"):
            s.rcpt("bob@example.test>\r\nRCPT TO:<evil@example.test")
        s.quit()
        session = only(fake)
    assert b"evil" not in session.everything


def test_dot_stuffing_survives_the_wire(fake_pki: FakePki) -> None:
    body = b"Subject: dots\r\n\r\n.starts with a dot\r\n.\r\n..two\r\nend"
    with serve(Script(), (fake_pki.cert, fake_pki.key)) as fake:
        s = connect(fake, fake_pki)
        s.login(USER, PASSWORD)
        s.mail(USER)
        assert s.rcpt("bob@example.test").ok
        assert s.data([body]).ok
        s.quit()
        session = only(fake)
    assert session.messages[0].data == body + b"\r\n"
