"""Self-tests of the test stack: each server answers as the rest of the suite expects."""

from __future__ import annotations

import email
import imaplib
import json
import os
import smtplib
import socket
import ssl
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from . import Endpoint, Stack, StackError, start_stack
from .clients import IMAP4, IMAP4_SSL, SMTP, SMTP_SSL, https_get, tls_context
from .net import ENV_VAR

pytestmark = pytest.mark.stack

ALICE = "alice@example.test"
BOB = "bob@example.test"


def _message(subject: str, to: str = BOB) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = ALICE
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(f"{subject}\n")
    return msg


def _ask(stack: Stack, name: str, rdtype: str) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, want_dnssec=True)
    query.flags |= dns.flags.AD
    return dns.query.udp(query, stack.nameserver.split(":")[0], port=53, timeout=5)


def _header(raw: bytes, name: str) -> list[str]:
    return [str(v) for v in email.message_from_bytes(raw).get_all(name, [])]


# -- addresses and DNS ------------------------------------------------------------------------


def test_everything_listens_in_the_session_block(stack: Stack) -> None:
    assert stack.nameserver == f"{stack.net}.1:53"
    assert all(ip.startswith(stack.net + ".") for ip in stack.hosts.values())
    assert stack.submission.address == (stack.ip(10), 587)
    assert stack.dir.stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize(
    ("name", "rcode", "ad"),
    [
        ("example.test", dns.rcode.NOERROR, True),
        ("insecure.test", dns.rcode.NOERROR, False),
        ("bogus.test", dns.rcode.SERVFAIL, False),
    ],
)
def test_dnssec_states(stack: Stack, name: str, rcode: dns.rcode.Rcode, ad: bool) -> None:
    answer = _ask(stack, name, "MX")
    assert answer.rcode() == rcode
    assert bool(answer.flags & dns.flags.AD) is ad


def test_example_test_records(stack: Stack) -> None:
    assert stack.dns.resolve("example.test", "MX") == ["10 mx1.example.test."]
    for name, ip in stack.hosts.items():
        assert stack.dns.resolve(name) == [ip]


def test_zones_can_be_added_and_changed(stack: Stack) -> None:
    ip1, ip2 = stack.alloc_ip(), stack.alloc_ip()
    stack.dns.add_zone("added.test", [f"@ A {ip1}", "_25._tcp.mx TLSA 3 1 1 " + "ab" * 32])
    answer = _ask(stack, "added.test", "A")
    assert answer.flags & dns.flags.AD
    stack.dns.set_records("added.test", [f"@ A {ip2}"])
    assert stack.dns.resolve("added.test") == [ip2]
    stack.dns.add_zone("plain.added.test", [f"@ A {ip1}"], signed=False)
    assert not _ask(stack, "plain.added.test", "A").flags & dns.flags.AD
    stack.dns.add_zone("broken.test", [f"@ A {ip1}"], broken_ds=True)
    assert _ask(stack, "broken.test", "A").rcode() == dns.rcode.SERVFAIL


# -- SMTP submission ---------------------------------------------------------------------------


def test_submission_delivers_one_copy_per_envelope_recipient(stack: Stack) -> None:
    since = stack.sink.snapshot()
    with SMTP(stack.submission) as smtp:
        smtp.starttls(context=tls_context(stack.ca_pem))
        smtp.ehlo()
        assert {"plain", "login"} <= set(smtp.esmtp_features["auth"].lower().split())
        assert int(smtp.esmtp_features["size"]) >= 120 * 1024 * 1024
        assert "smtputf8" in smtp.esmtp_features and "8bitmime" in smtp.esmtp_features
        smtp.login(ALICE, stack.users[ALICE])
        refused = smtp.send_message(_message("submission"), to_addrs=[BOB, "carol@other.test"])
    assert refused == {}
    copies = stack.sink.wait_new(since, 2)
    assert sorted(_header(raw, "Delivered-To")[0] for raw in copies) == [
        BOB,
        "carol@other.test",
    ]
    assert all(_header(raw, "Subject") == ["submission"] for raw in copies)


def test_submission_refuses_auth_and_mail_before_starttls(stack: Stack) -> None:
    with SMTP(stack.submission) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls")
        assert not smtp.has_extn("auth")
        code, _ = smtp.mail(ALICE)
    assert code == 530


def test_submission_refuses_wrong_password(stack: Stack) -> None:
    with SMTP(stack.submission) as smtp:
        smtp.starttls(context=tls_context(stack.ca_pem))
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            smtp.login(ALICE, "wrong-password")
    assert refused.value.smtp_code == 535


def test_submission_relays_only_after_auth(stack: Stack) -> None:
    with SMTP(stack.submission) as smtp:
        smtp.starttls(context=tls_context(stack.ca_pem))
        smtp.mail(ALICE)
        code, _ = smtp.rcpt(BOB)
    assert code == 554


def test_submission_implicit_tls_on_465(stack: Stack) -> None:
    since = stack.sink.snapshot()
    with SMTP_SSL(stack.submission_tls, tls_context(stack.ca_pem)) as smtp:
        smtp.login(BOB, stack.users[BOB])
        smtp.send_message(_message("implicit tls", to=ALICE))
    [copy] = stack.sink.wait_new(since, 1)
    assert _header(copy, "Delivered-To") == [ALICE]


@pytest.mark.parametrize("which", ["submission_selfsigned", "submission_wronghost"])
def test_bad_certificates_fail_verification(stack: Stack, which: str) -> None:
    endpoint = getattr(stack, which)
    with SMTP(endpoint) as smtp, pytest.raises(ssl.SSLCertVerificationError):
        smtp.starttls(context=tls_context(stack.ca_pem))
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    with SMTP(endpoint) as smtp:
        smtp.starttls(context=unverified)
        smtp.login(ALICE, stack.users[ALICE])


def test_swaks_submits_through_the_stack(stack: Stack) -> None:
    since = stack.sink.snapshot()
    done = subprocess.run(
        ["swaks", "--server", stack.submission.ip, "--port", "587", "--tls",
         "--helo", "client.example.test", "--from", ALICE, "--to", BOB,
         "--auth", "LOGIN", "--auth-user", ALICE, "--auth-password", stack.users[ALICE],
         "--header", "Subject: swaks"],
        capture_output=True, text=True, timeout=20, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    [copy] = stack.sink.wait_new(since, 1)
    assert _header(copy, "Subject") == ["swaks"]


# -- MX listeners --------------------------------------------------------------------------------


def test_mx1_accepts_mail_over_verified_starttls(stack: Stack) -> None:
    since = stack.sink.snapshot()
    with SMTP(stack.mx1) as smtp:
        smtp.starttls(context=tls_context(stack.ca_pem))
        smtp.send_message(_message("to the mx"))
    [copy] = stack.sink.wait_new(since, 1)
    assert _header(copy, "Delivered-To") == [BOB]


def test_mx_listeners_can_be_added(stack: Stack) -> None:
    plain_ip, expired_ip = stack.alloc_ip(), stack.alloc_ip()
    stack.postfix.add_mx(plain_ip, tls="none")
    stack.postfix.add_mx(expired_ip, tls="may", cert=stack.certs["expired"])
    with SMTP(Endpoint("mx-plain.example.test", plain_ip, 25)) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("starttls")
    expired = Endpoint("mx-expired.example.test", expired_ip, 25)
    with SMTP(expired) as smtp, pytest.raises(ssl.SSLCertVerificationError, match="expired"):
        smtp.starttls(context=tls_context(stack.ca_pem))


# -- IMAP ----------------------------------------------------------------------------------------


def test_imap_tls_login_append_fetch(stack: Stack) -> None:
    with IMAP4_SSL(stack.imap_tls, tls_context(stack.ca_pem)) as imap:
        imap.login(ALICE, stack.users[ALICE])
        imap.append("INBOX", None, None, _message("appended").as_bytes())
        status, data = imap.select("INBOX")
        assert status == "OK"
        status, data = imap.search(None, "SUBJECT", '"appended"')
        assert status == "OK" and data[0]
    assert stack.dovecot.maildir(ALICE).is_dir()


def test_imap_starttls_required_before_login(stack: Stack) -> None:
    with IMAP4(stack.imap_starttls) as imap:
        with pytest.raises(imaplib.IMAP4.error, match=r"(?i)plaintext|disallowed|privacy"):
            imap.login(BOB, stack.users[BOB])
        imap.starttls(ssl_context=tls_context(stack.ca_pem))
        status, _ = imap.login(BOB, stack.users[BOB])
    assert status == "OK"


def test_imap_wrong_password_has_no_growing_penalty(stack: Stack) -> None:
    # Dovecot 2.3.19 answers failures on a 500 ms tick; a brute-force penalty would add 2-15 s.
    start = time.monotonic()
    with IMAP4_SSL(stack.imap_tls, tls_context(stack.ca_pem)) as imap:
        for _ in range(3):
            with pytest.raises(imaplib.IMAP4.error):
                imap.login(ALICE, "wrong-password")
        imap.login(ALICE, stack.users[ALICE])
    assert time.monotonic() - start < 2.5


# -- HTTPS and LDAP -------------------------------------------------------------------------------


def test_https_serves_docroots_by_host(stack: Stack) -> None:
    host = "openpgpkey.example.test"
    path = "/.well-known/openpgpkey/example.test/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q"
    target = stack.https.docroot(host) / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"key bytes")
    ip = stack.dns.resolve(host)[0]
    assert https_get(host, ip, path, stack.ca_pem)[::2] == (200, b"key bytes")
    assert https_get("example.test", ip, path, stack.ca_pem)[0] == 404
    stack.https.respond("mta-sts.example.test", "/.well-known/mta-sts.txt", 503, b"busy")
    assert https_get("mta-sts.example.test", ip, "/.well-known/mta-sts.txt", stack.ca_pem)[::2] == (
        503,
        b"busy",
    )
    (stack.https.docroot("new.example.test") / "x").write_text("new")  # cert made on demand
    assert https_get("new.example.test", ip, "/x", stack.ca_pem)[::2] == (200, b"new")
    assert (host, path) in stack.https.requests


def test_ldap_search_and_add(stack: Stack) -> None:
    ldap = stack.ldap
    stack.ldap.add(
        # a DN of its own: other tests add their own Bob to the same session's directory
        f"dn: cn=Stack Selftest,{ldap.people_base}\nobjectClass: inetOrgPerson\n"
        f"cn: Stack Selftest\nsn: Selftest\nmail: selftest-{BOB}\n"
    )
    out = subprocess.run(
        ["ldapsearch", "-x", "-LLL", "-H", f"ldap://{ldap.ip}:389", "-b", ldap.base,
         f"(|(mail=selftest-{BOB})(cn=PGPServerInfo))", "mail", "pgpSoftware"],
        capture_output=True, text=True, timeout=10, check=True,
    ).stdout  # fmt: skip
    assert f"mail: selftest-{BOB}" in out and "pgpSoftware: GnuPG" in out
    with (
        socket.create_connection((ldap.ip, 636), timeout=5) as raw,
        tls_context(stack.ca_pem).wrap_socket(raw, server_hostname=ldap.host) as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    with socket.create_connection((ldap.ip, 389), timeout=5) as raw:
        raw.sendall(_LDAP_STARTTLS)
        reply = raw.recv(4096)  # LDAPMessage { 1, ExtendedResponse { resultCode success ...
        assert reply[5] == 0x78 and reply[7:10] == b"\x0a\x01\x00", reply
        with tls_context(stack.ca_pem).wrap_socket(raw, server_hostname=ldap.host) as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")


# LDAPMessage { messageID 1, ExtendedRequest { requestName "1.3.6.1.4.1.1466.20037" } }
_STARTTLS_OID = b"1.3.6.1.4.1.1466.20037"
_LDAP_STARTTLS = b"\x30\x1d\x02\x01\x01\x77\x18\x80\x16" + _STARTTLS_OID


# -- the harness itself ----------------------------------------------------------------------------


def test_a_second_stack_runs_beside_and_stops_clean(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, stack.net)
    with pytest.raises(StackError, match="in use"), start_stack():
        pass
    monkeypatch.delenv(ENV_VAR)
    with start_stack() as other:
        assert other.net != stack.net
        pids = [d.proc.pid for d in other.procs.daemons]
        other_dir = other.dir
        assert other.dns.resolve("smtp.example.test") == [other.ip(10)]
    assert not other_dir.exists()
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()]
    assert all(os.path.exists(f"/proc/{d.proc.pid}") for d in stack.procs.daemons)


_ORPHAN_DRIVER = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from stack import start_stack
with start_stack() as s:
    print(json.dumps({"pids": [d.proc.pid for d in s.procs.daemons], "dir": str(s.dir)}))
    sys.stdout.flush()
    time.sleep(60)
"""


def test_a_killed_test_run_leaves_no_daemons(stack: Stack) -> None:
    tests_dir = str(Path(__file__).resolve().parent.parent)
    driver = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN_DRIVER, tests_dir], stdout=subprocess.PIPE, text=True
    )
    try:
        assert driver.stdout is not None
        started = json.loads(driver.stdout.readline())
    finally:
        driver.kill()
        driver.wait(timeout=5)
        if driver.stdout is not None:
            driver.stdout.close()
    deadline = time.monotonic() + 5

    def cleaned() -> bool:
        alive = any(_running(pid) for pid in started["pids"])
        return not alive and not Path(started["dir"]).exists()

    while not cleaned() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not [pid for pid in started["pids"] if _running(pid)]
    assert not Path(started["dir"]).exists()


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False
