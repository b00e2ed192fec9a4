"""The installed ``e2email-sendmail`` as mutt, git send-email, mail(1) and cron call it, against
the stack's Postfix: what arrives in the sink is what is checked (Delivered-To gives the envelope)."""

from __future__ import annotations

import email
import email.policy
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from e2email.adapters.store.outbox import Outbox
from tests.support import GpgHome, account_toml, cli_env, secret_forms, write_config

SENDMAIL = Path(sys.executable).parent / "e2email-sendmail"
PLAINTEXT = "The launch code is 0000. Tell nobody."


@pytest.fixture
def alice(gpg_home: Callable[..., GpgHome]) -> GpgHome:
    return gpg_home(secret=["alice"], public=["bob", "carol"])


@pytest.fixture
def bob(gpg_home: Callable[..., GpgHome]) -> GpgHome:
    return gpg_home(secret=["bob"], public=["alice"])


@pytest.fixture
def carol(gpg_home: Callable[..., GpgHome]) -> GpgHome:
    return gpg_home(secret=["carol"], public=["alice"])


class Sendmail:
    """Runs the console script with E2EMAIL_CONFIG, like an MUA configured for it would."""

    def __init__(self, tmp: Path, config: Path) -> None:
        self.env = cli_env(tmp) | {"E2EMAIL_CONFIG": str(config)}
        self.outbox = Outbox(tmp / "xdg-state" / "e2email" / "outbox")
        self.env["XDG_STATE_HOME"] = str(tmp / "xdg-state")

    def __call__(self, *args: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [str(SENDMAIL), *args],
            input=stdin,
            capture_output=True,
            env=self.env,
            timeout=120,
            check=False,
        )


def make(stack: Any, tmp: Path, home: GpgHome, **account: Any) -> Sendmail:
    extra = account.pop("config_extra", "")
    body = account_toml(stack, **account) + '\n[discovery]\nmethods = ["local"]\n' + extra
    return Sendmail(tmp, write_config(tmp, stack, home.path, body))


def message(*headers: str, body: str = PLAINTEXT) -> bytes:
    return ("\n".join(headers) + "\n\n" + body + "\n").encode()


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def decrypted(home: GpgHome, raw: bytes) -> bytes:
    start = raw.index(b"-----BEGIN PGP MESSAGE-----")
    end = raw.index(b"-----END PGP MESSAGE-----") + len(b"-----END PGP MESSAGE-----")
    d = home.decrypt(raw[start:end])
    assert d.returncode == 0, d.stderr.decode()
    return d.stdout


def assert_nothing_delivered(stack: Any, before: set[str]) -> None:
    time.sleep(0.5)  # Postfix delivers within milliseconds; give it time to prove a negative
    assert stack.sink.snapshot() == before


def test_mutt_style_encrypts_and_delivers(
    stack: Any, tmp_path: Path, alice: GpgHome, bob: GpgHome
) -> None:
    sm = make(stack, tmp_path, alice)
    before = stack.sink.snapshot()
    msg = message("From: Alice <alice@example.test>", "To: bob@example.test", "Subject: plan")
    p = sm("-oem", "-oi", "--", "bob@example.test", stdin=msg)
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout == b"" and p.stderr == b""  # a sendmail is silent on success
    [raw] = stack.sink.wait_new(before, 1)
    m = parse(raw)
    assert m["Delivered-To"] == "bob@example.test"
    assert m.get_content_type() == "multipart/encrypted"
    assert PLAINTEXT.encode() not in raw
    assert PLAINTEXT.encode() in decrypted(bob, raw)
    assert sm.outbox.entries() == []


def test_git_send_email_style(stack: Any, tmp_path: Path, alice: GpgHome, bob: GpgHome) -> None:
    sm = make(stack, tmp_path, alice)
    before = stack.sink.snapshot()
    patch = message(
        "From: alice@example.test",
        "To: bob@example.test",
        "Subject: [PATCH] fix",
        "Message-ID: <patch-1@example.test>",
        body="---\n file | 2 +-\n.\n.leading dot line\n",
    )
    p = sm("-i", "-f", "alice@example.test", "bob@example.test", stdin=patch)
    assert p.returncode == 0, p.stderr.decode()
    [raw] = stack.sink.wait_new(before, 1)
    inner = parse(decrypted(bob, raw))
    part = inner.get_body(("plain",)) if inner.is_multipart() else inner
    assert part is not None
    # with -i the lone "." line is content, not the end of the message
    content = part.get_content().replace("\r\n", "\n")
    assert content == "---\n file | 2 +-\n.\n.leading dot line\n\n"


def test_t_takes_to_cc_bcc_plus_arguments_and_hides_bcc(
    stack: Any, tmp_path: Path, alice: GpgHome, bob: GpgHome, carol: GpgHome
) -> None:
    sm = make(stack, tmp_path, alice)
    before = stack.sink.snapshot()
    msg = message(
        "From: alice@example.test",
        "To: bob@example.test",
        "Bcc: carol@example.test",
        "Subject: secret plan",
    )
    p = sm("-t", "-i", "alice@example.test", stdin=msg)  # plus a command-line recipient
    assert p.returncode == 0, p.stderr.decode()
    delivered = stack.sink.wait_new(before, 3)
    by_rcpt = {parse(r)["Delivered-To"]: r for r in delivered}
    assert set(by_rcpt) == {"bob@example.test", "carol@example.test", "alice@example.test"}
    for rcpt, raw in by_rcpt.items():
        assert "Bcc" not in parse(raw)  # no copy carries a Bcc field
        if rcpt != "carol@example.test":
            assert b"carol" not in raw.lower()  # nor names the Bcc recipient anywhere
    assert PLAINTEXT.encode() in decrypted(carol, by_rcpt["carol@example.test"])
    assert b"carol" not in decrypted(bob, by_rcpt["bob@example.test"]).lower()


def test_cron_style_requalifies_from_and_delivers(
    stack: Any, tmp_path: Path, alice: GpgHome, bob: GpgHome
) -> None:
    sm = make(stack, tmp_path, alice)
    before = stack.sink.snapshot()
    msg = message(
        "From: root (Cron Daemon)",
        "To: bob@example.test",
        "Subject: Cron <root@host> backup",
        body="backup finished",
    )
    p = sm("-FCronDaemon", "-i", "-B8BITMIME", "-oem", "-oi", "-t", stdin=msg)
    assert p.returncode == 0, p.stderr.decode()
    [raw] = stack.sink.wait_new(before, 1)
    assert b"backup finished" in decrypted(bob, raw)
    assert parse(raw)["From"] == "Cron Daemon <alice@example.test>"


def test_mail1_style_without_from_gets_one(
    stack: Any, tmp_path: Path, alice: GpgHome, bob: GpgHome
) -> None:
    sm = make(stack, tmp_path, alice)
    before = stack.sink.snapshot()
    p = sm("-i", "-F", "Alice Liddell", "--", "bob@example.test", stdin=message("Subject: hi"))
    assert p.returncode == 0, p.stderr.decode()
    [raw] = stack.sink.wait_new(before, 1)
    assert parse(raw)["From"] == "Alice Liddell <alice@example.test>"


def test_encoded_word_header_injection_is_65_and_nothing_sent(
    stack: Any, tmp_path: Path, alice: GpgHome
) -> None:
    sm = make(stack, tmp_path, alice)
    before = stack.sink.snapshot()
    msg = message(
        "From: alice@example.test",
        "To: bob@example.test",
        "Subject: =?utf-8?q?hi=0ABcc:_evil@example.test?=",
    )
    p = sm("-t", "-i", stdin=msg)
    assert p.returncode == 65, p.stderr.decode()
    assert "Traceback" not in p.stderr.decode()
    assert_nothing_delivered(stack, before)
    assert sm.outbox.entries() == []


def test_vvv_trace_never_shows_the_password(stack: Any, tmp_path: Path, alice: GpgHome) -> None:
    sm = make(stack, tmp_path, alice)
    msg = message("From: alice@example.test", "To: bob@example.test", "Subject: trace")
    p = sm("-vvv", "-i", "bob@example.test", stdin=msg)
    assert p.returncode == 0, p.stderr.decode()
    assert b"AUTH PLAIN <credentials hidden>" in p.stderr  # the trace is there...
    for form in secret_forms(stack.users["alice@example.test"], "alice@example.test"):
        assert form not in p.stderr and form not in p.stdout  # ...the secret is not


def test_wrong_password_is_77_and_nothing_queued(
    stack: Any, tmp_path: Path, alice: GpgHome
) -> None:
    sm = make(stack, tmp_path, alice, password="not-the-password")
    before = stack.sink.snapshot()
    msg = message("From: alice@example.test", "To: bob@example.test", "Subject: s")
    p = sm("-i", "bob@example.test", stdin=msg)
    assert p.returncode == 77, p.stderr.decode()
    assert b"not-the-password" not in p.stderr
    assert sm.outbox.entries() == []
    assert_nothing_delivered(stack, before)


def test_unreachable_server_queues_ciphertext_then_flush_delivers(
    stack: Any, tmp_path: Path, alice: GpgHome, bob: GpgHome
) -> None:
    # port 2525 on the submission host: nothing listens there
    down = type(stack.submission)(stack.submission.host, stack.submission.ip, 2525)
    sm = make(stack, tmp_path, alice, endpoint=down)
    before = stack.sink.snapshot()
    msg = message("From: alice@example.test", "To: bob@example.test", "Subject: offline")
    p = sm("-i", "bob@example.test", stdin=msg)
    assert p.returncode == 0, p.stderr.decode()
    assert b"queued as" in p.stderr
    [entry] = sm.outbox.entries()
    stored = next(sm.outbox.queue.glob("*.msg")).read_bytes()
    assert b"-----BEGIN PGP MESSAGE-----" in stored
    assert PLAINTEXT.encode() not in stored and b"offline" not in stored  # subject protected too
    for leftover in sm.outbox.path.rglob("*"):
        assert not leftover.is_file() or PLAINTEXT.encode() not in leftover.read_bytes()
    assert entry.envelope.recipients == ("bob@example.test",)
    p = sm("-bp", stdin=b"")
    assert entry.id in p.stdout.decode() and "cannot connect" in p.stdout.decode()
    # the server is back (the account now points at the real port): -q delivers it, once
    up = make(stack, tmp_path, alice)
    p = up("-q", stdin=b"")
    assert p.returncode == 0, p.stderr.decode()
    [raw] = stack.sink.wait_new(before, 1)
    assert PLAINTEXT.encode() in decrypted(bob, raw)
    assert up.outbox.entries() == []


def test_outbox_off_and_untrusted_certificate_is_75_nothing_sent(
    stack: Any, tmp_path: Path, alice: GpgHome
) -> None:
    sm = make(
        stack,
        tmp_path,
        alice,
        endpoint=stack.submission_selfsigned,
        config_extra="\n[outbox]\nenabled = false\n",
    )
    before = stack.sink.snapshot()
    msg = message("From: alice@example.test", "To: bob@example.test", "Subject: s")
    p = sm("-i", "bob@example.test", stdin=msg)
    assert p.returncode == 75, p.stderr.decode()
    assert b"certificate not trusted" in p.stderr and b"not queued" in p.stderr
    assert_nothing_delivered(stack, before)


def test_require_tls_not_offered_is_77(stack: Any, tmp_path: Path, alice: GpgHome) -> None:
    sm = make(stack, tmp_path, alice)
    before = stack.sink.snapshot()
    msg = message("From: alice@example.test", "To: bob@example.test", "Subject: s")
    p = sm("--require-tls", "-i", "bob@example.test", stdin=msg)
    assert p.returncode == 77, p.stderr.decode()
    assert b"REQUIRETLS" in p.stderr
    assert sm.outbox.entries() == []
    assert_nothing_delivered(stack, before)
