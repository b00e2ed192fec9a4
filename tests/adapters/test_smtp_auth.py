"""SASL mechanisms (RFC 4616 PLAIN, LOGIN, RFC 7628 OAUTHBEARER, XOAUTH2), secrets kept out of
logs and errors. The wire is a fake that records every byte; Postfix cases live in
tests/services/test_submit_stack.py."""

from __future__ import annotations

import base64
import logging

import pytest

from e2email.adapters import tls
from e2email.adapters.dns import Resolver
from e2email.adapters.smtp import SmtpSession
from e2email.core import sasl
from e2email.errors import EX_CONFIG, EX_NOPERM, AuthenticationError, ConfigError
from tests.fakes.fixtures import fake_pki_fixture  # noqa: F401
from tests.fakes.pki import FakePki
from tests.fakes.smtp import FakeSmtp, Script, serve

USER, PASSWORD, TOKEN = "alice@example.test", "s3cret", "ya29.token-value"
OAUTH_CAPS = ("AUTH OAUTHBEARER XOAUTH2 PLAIN",)


def connect(fake: FakeSmtp, pki: FakePki) -> SmtpSession:
    return SmtpSession.open(
        "127.0.0.1",
        fake.port,
        security="starttls",
        context=tls.client_context(pki.ca_pem),
        resolver=Resolver(),
        timeout=5,
    )


def test_rfc7628_oauthbearer_response_format() -> None:
    raw = base64.b64decode(
        sasl.oauthbearer_response(
            "user@example.com",
            "server.example.com",
            587,
            "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
        )
    )
    assert raw == (
        b"n,a=user@example.com,\x01host=server.example.com\x01port=587\x01"
        b"auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
    )


def test_saslname_escapes_comma_and_equals() -> None:
    assert sasl.saslname("a,b=c@x") == "a=2Cb=3Dc@x"


def test_plain_response_refuses_nul() -> None:
    with pytest.raises(ConfigError):
        sasl.plain_response("u", "pa\0ss")
    assert base64.b64decode(sasl.plain_response("u", "p")) == b"\0u\0p"


def test_choose_prefers_plain_and_honours_configuration() -> None:
    assert sasl.choose({"LOGIN", "PLAIN"}, "auto", sasl.PASSWORD_MECHANISMS, "h") == "PLAIN"
    assert sasl.choose({"LOGIN", "PLAIN"}, "login", sasl.PASSWORD_MECHANISMS, "h") == "LOGIN"
    with pytest.raises(ConfigError, match="offers: PLAIN") as e:
        sasl.choose({"PLAIN"}, "login", sasl.PASSWORD_MECHANISMS, "h")
    assert e.value.exit_code == EX_CONFIG
    with pytest.raises(AuthenticationError, match="offered: CRAM-MD5") as a:
        sasl.choose({"CRAM-MD5"}, "auto", sasl.PASSWORD_MECHANISMS, "h")
    assert a.value.exit_code == EX_NOPERM


def test_login_mechanism(fake_pki: FakePki) -> None:
    with serve(Script(), (fake_pki.cert, fake_pki.key)) as fake:
        s = connect(fake, fake_pki)
        assert s.login(USER, PASSWORD, "login") == "LOGIN"
        s.quit()
        fake.close()
    session = fake.sessions[0]
    assert session.authenticated == USER
    assert [c for t, c in session.commands if c.startswith("AUTH")] == ["AUTH LOGIN"]


@pytest.mark.parametrize("mech", ["oauthbearer", "xoauth2"])
def test_oauth_mechanisms(fake_pki: FakePki, mech: str) -> None:
    script = Script(tls_caps=OAUTH_CAPS, tokens={USER: TOKEN})
    with serve(script, (fake_pki.cert, fake_pki.key)) as fake:
        s = connect(fake, fake_pki)
        assert s.login_oauth(USER, TOKEN, mech) == mech.upper()
        s.quit()
        fake.close()
    assert fake.sessions[0].authenticated == USER
    assert TOKEN.encode() not in fake.sessions[0].clear


def test_oauth_auto_prefers_oauthbearer(fake_pki: FakePki) -> None:
    script = Script(tls_caps=OAUTH_CAPS, tokens={USER: TOKEN})
    with serve(script, (fake_pki.cert, fake_pki.key)) as fake:
        s = connect(fake, fake_pki)
        assert s.login_oauth(USER, TOKEN) == "OAUTHBEARER"
        s.quit()


def test_oauth_error_challenge_is_answered_and_fails_77(fake_pki: FakePki) -> None:
    script = Script(tls_caps=OAUTH_CAPS, tokens={USER: "the-right-token"})
    with serve(script, (fake_pki.cert, fake_pki.key)) as fake:
        s = connect(fake, fake_pki)
        with pytest.raises(AuthenticationError) as e:
            s.login_oauth(USER, TOKEN)
        assert e.value.exit_code == EX_NOPERM
        assert TOKEN not in str(e.value)
        s.quit()
        fake.close()
    assert b"\r\nAQ==\r\n" in fake.sessions[0].tls  # RFC 7628 3.2.3: the dummy response


def test_wrong_password_is_77_and_secret_free(fake_pki: FakePki) -> None:
    with serve(Script(), (fake_pki.cert, fake_pki.key)) as fake:
        s = connect(fake, fake_pki)
        with pytest.raises(AuthenticationError, match="535") as e:
            s.login(USER, "wrong-password")
        s.quit()
    assert "wrong-password" not in str(e.value)


def test_protocol_trace_hides_every_secret_form(
    fake_pki: FakePki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="e2email.smtp")
    with serve(Script(), (fake_pki.cert, fake_pki.key)) as fake:
        for mech in ("plain", "login"):
            s = connect(fake, fake_pki)
            s.login(USER, PASSWORD, mech)
            s.quit()
    text = caplog.text
    assert "AUTH PLAIN <credentials hidden>" in text and "<credential hidden>" in text
    for form in [*sasl.secret_forms(USER, PASSWORD), sasl.b64(USER)]:
        assert form not in text


def test_scrub() -> None:
    assert sasl.scrub("535 bad s3cret czNjcmV0", sasl.secret_forms("u", "s3cret")) == (
        "535 bad <hidden> <hidden>"
    )
