"""`e2email send` against the real stack: Postfix submission (Dovecot SASL), Knot + Unbound DNS.

Every case reads what Postfix delivered into its sink, so "nothing sent" is observed, not assumed.
"""

from __future__ import annotations

import email
import email.policy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import (
    Cli,
    GpgHome,
    account_toml,
    assert_nothing_delivered,
    cli_env,
    fingerprint,
    secret_forms,
    write_config,
)
from tests.syscalls import executed, traced

BODY = "Hello Bob,\n\nthe quarterly numbers are attached in spirit. ünïcödé too.\n\n-- \nAlice\n"


@pytest.fixture
def alice(gpg_home: Callable[..., GpgHome]) -> GpgHome:
    return gpg_home(secret=["alice"], public=["bob", "carol", "erin", "frank", "grace", "heidi"])


def make_cli(tmp_path: Path, stack: Any, alice: GpgHome, accounts: str, policy: str = "") -> Cli:
    cfg = write_config(tmp_path, stack, alice.path, accounts + policy)
    return Cli(cfg, cli_env(tmp_path))


def send_as_alice(
    cli: Cli,
    *recipients: str,
    subject: str = "s",
    stdin: bytes = b"x\n",
    verbose: str | None = None,
    flags: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[bytes]:
    """``e2email send --from alice@example.test RECIPIENT-OPTIONS... --subject S``."""
    pre = (verbose,) if verbose else ()
    return cli(
        *pre,
        "send",
        *flags,
        "--from",
        "alice@example.test",
        *recipients,
        "--subject",
        subject,
        stdin=stdin,
    )


def armored(message: bytes) -> bytes:
    start = message.index(b"-----BEGIN PGP MESSAGE-----")
    end = message.index(b"-----END PGP MESSAGE-----") + len(b"-----END PGP MESSAGE-----")
    return message[start:end]


def test_encrypted_message_reaches_the_recipient(
    stack: Any, tmp_path: Path, alice: GpgHome, bob: GpgHome
) -> None:
    cli = make_cli(tmp_path, stack, alice, account_toml(stack))
    before = stack.sink.snapshot()
    p = send_as_alice(cli, "--to", "Bob <bob@example.test>", subject="Q3", stdin=BODY.encode())
    assert p.returncode == 0, p.stderr.decode()
    [raw] = stack.sink.wait_new(before, 1)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Delivered-To"] == "bob@example.test"
    assert msg.get_content_type() == "multipart/encrypted"
    assert msg.get_param("protocol") == "application/pgp-encrypted"
    assert BODY.encode() not in raw and b"quarterly" not in raw
    d = bob.decrypt(armored(raw))
    assert d.returncode == 0, d.stderr.decode()
    status = d.stderr.decode()
    assert "[GNUPG:] GOODMDC" in status
    assert "[GNUPG:] VALIDSIG" in status and fingerprint("alice") in status  # signed by alice
    inner = email.message_from_bytes(d.stdout, policy=email.policy.default)
    assert inner.get_content().replace("\r\n", "\n") == BODY


def test_implicit_tls_on_465(stack: Any, tmp_path: Path, alice: GpgHome, bob: GpgHome) -> None:
    cli = make_cli(
        tmp_path, stack, alice, account_toml(stack, endpoint=stack.submission_tls, security="tls")
    )
    before = stack.sink.snapshot()
    p = send_as_alice(cli, "--to", "bob@example.test")
    assert p.returncode == 0, p.stderr.decode()
    [raw] = stack.sink.wait_new(before, 1)
    assert bob.decrypt(armored(raw)).returncode == 0


def test_wrong_password_is_77_and_nothing_delivered(
    stack: Any, tmp_path: Path, alice: GpgHome
) -> None:
    cli = make_cli(tmp_path, stack, alice, account_toml(stack, password="not-the-password"))
    before = stack.sink.snapshot()
    p = send_as_alice(cli, "--to", "bob@example.test", verbose="-vv")
    assert p.returncode == 77, p.stderr.decode()
    assert b"authentication failed" in p.stderr
    for form in secret_forms("not-the-password", "alice@example.test"):
        assert form not in p.stderr and form not in p.stdout
    assert_nothing_delivered(stack, before)


def test_password_never_in_verbose_output(stack: Any, tmp_path: Path, alice: GpgHome) -> None:
    cli = make_cli(tmp_path, stack, alice, account_toml(stack))
    p = send_as_alice(cli, "--to", "bob@example.test", verbose="-vvv")
    assert p.returncode == 0, p.stderr.decode()
    assert b"AUTH PLAIN <credentials hidden>" in p.stderr  # the trace is there, the secret is not
    for form in secret_forms(stack.users["alice@example.test"], "alice@example.test"):
        assert form not in p.stderr and form not in p.stdout


def test_password_never_in_any_programs_argv_or_environment(
    stack: Any, tmp_path: Path, alice: GpgHome
) -> None:
    # security.md item 10: argv is world-readable (/proc/PID/cmdline, ps). Watch every program
    # the real command starts (the password command's shell, gpg, ...) with strace.
    secret_file = tmp_path / "smtp-password"
    secret_file.write_text(stack.users["alice@example.test"] + "\n")
    secret_file.chmod(0o600)
    account = account_toml(stack).replace("printf '%s\\\\n' 'alice-password'", f"cat {secret_file}")
    assert f"cat {secret_file}" in account
    cli = make_cli(tmp_path, stack, alice, account)
    argv = [sys.executable, "-m", "e2email.cli.main", "--config", str(cli.config), "-vvv", "send"]
    argv += ["--from", "alice@example.test", "--to", "bob@example.test", "--subject", "argv"]
    proc, calls = traced(
        argv, tmp_path / "strace.log", calls="execve", stdin=b"x\n", env=cli.env, verbose=True
    )
    assert proc.returncode == 0, proc.stderr.decode()
    programs = executed(calls)
    assert any("gpg" in p for p in programs) and any(f"cat {secret_file}" in p for p in programs)
    for form in secret_forms(stack.users["alice@example.test"], "alice@example.test"):
        assert not [p for p in programs if form.decode() in p], form
        assert form not in proc.stderr and form not in proc.stdout


@pytest.mark.parametrize(
    ("endpoint", "needle"),
    [
        ("submission_selfsigned", b"certificate not trusted"),
        ("submission_wronghost", b"certificate not trusted"),
    ],
)
def test_untrusted_certificate_sends_nothing(
    stack: Any, tmp_path: Path, alice: GpgHome, endpoint: str, needle: bytes
) -> None:
    cli = make_cli(tmp_path, stack, alice, account_toml(stack, endpoint=getattr(stack, endpoint)))
    before = stack.sink.snapshot()
    p = send_as_alice(cli, "--to", "bob@example.test", stdin=b"untrusted-body-marker\n")
    out = p.stderr + p.stdout
    # security.md item 1: nothing sent; exit 75, or 0 only when durably queued in the outbox
    assert p.returncode == 75 or (p.returncode == 0 and b"queue" in out), out.decode()
    assert needle in out
    if p.returncode == 0:  # queued: as ciphertext, and a flush meets the same refusal
        [entry] = json.loads(cli("queue", "list", "--json").stdout)
        assert needle.decode() in entry["last_error"]
        stored = b"".join(f.read_bytes() for f in tmp_path.rglob("outbox/queue/*.msg"))
        assert b"-----BEGIN PGP MESSAGE-----" in stored and b"untrusted-body-marker" not in stored
        flush = cli("queue", "flush")
        assert flush.returncode == 75 and needle in flush.stderr, flush.stderr.decode()
    assert_nothing_delivered(stack, before)


def test_fingerprint_pin_mismatch_sends_nothing(stack: Any, tmp_path: Path, alice: GpgHome) -> None:
    pin = 'tls_fingerprint = "sha256:' + "00" * 32 + '"'
    cli = make_cli(tmp_path, stack, alice, account_toml(stack, extra=pin))
    before = stack.sink.snapshot()
    p = send_as_alice(cli, "--to", "bob@example.test")
    out = p.stderr + p.stdout
    assert p.returncode == 75 or (p.returncode == 0 and b"queue" in out), out.decode()
    assert b"does not match the pinned" in out
    assert_nothing_delivered(stack, before)


@pytest.mark.parametrize(
    ("who", "reason"),
    [
        ("erin", "expired"),  # its only encryption subkey expired
        ("frank", "no-encryption-subkey"),
        ("grace", "revoked"),
        ("heidi", "expired"),
        ("nobody", "no-usable-key"),
    ],
)
def test_no_usable_key_is_67_and_nothing_sent_to_anyone(
    stack: Any, tmp_path: Path, alice: GpgHome, who: str, reason: str
) -> None:
    cli = make_cli(
        tmp_path, stack, alice, account_toml(stack), '\n[policy]\nencrypt = "required"\n'
    )
    before = stack.sink.snapshot()
    p = send_as_alice(cli, "--to", "bob@example.test", "--cc", f"{who}@example.test")
    assert p.returncode == 67, p.stderr.decode()
    assert f"{who}@example.test".encode() in p.stderr
    assert_nothing_delivered(stack, before)
    dry = send_as_alice(
        cli,
        "--to",
        f"{who}@example.test",
        flags=(
            "--dry-run",
            "--json",
        ),
    )
    assert dry.returncode == 0
    [plan] = json.loads(dry.stdout)["recipients"]
    assert plan["action"] == "refuse"
    reasons = {r["reason"] for r in plan["rejected"]} | {plan["reason"]}
    assert reason in reasons


def test_without_key_opportunistic_refuses_below_floor(
    stack: Any, tmp_path: Path, alice: GpgHome
) -> None:
    cli = make_cli(
        tmp_path, stack, alice, account_toml(stack), '\n[policy]\ntransport_floor = "dane"\n'
    )
    before = stack.sink.snapshot()
    p = send_as_alice(cli, "--to", "nobody@example.test")
    assert p.returncode == 77, p.stderr.decode()
    assert b"nobody@example.test" in p.stderr and b"floor" in p.stderr
    assert_nothing_delivered(stack, before, wait=0.5)


def test_doctor_against_the_stack(stack: Any, tmp_path: Path, alice: GpgHome) -> None:
    cli = make_cli(tmp_path, stack, alice, account_toml(stack))
    p = cli("doctor", "--json")
    checks = {c["name"]: c for c in json.loads(p.stdout)}
    assert checks["config"]["status"] == "ok"
    assert checks["gpg"]["status"] == "ok" and "2." in checks["gpg"]["detail"]
    assert checks["resolver"]["status"] == "ok"
    assert (
        checks["dnssec"]["status"] == "ok"
        and "example.test is DNSSEC-secure" in checks["dnssec"]["detail"]
    )
    assert (
        checks["openpgp"]["status"] == "ok" and "alice@example.test" in checks["openpgp"]["detail"]
    )
    assert checks["account work"]["status"] == "ok", checks["account work"]
    assert "certificate verified" in checks["account work"]["detail"]
    assert p.returncode == 0, p.stdout.decode()


def test_doctor_fails_signing_without_a_secret_key(
    stack: Any, tmp_path: Path, gpg_home: Callable[..., GpgHome]
) -> None:
    cli = make_cli(tmp_path, stack, gpg_home(public=["alice", "bob"]), account_toml(stack))
    p = cli("doctor", "--json")
    checks = {c["name"]: c for c in json.loads(p.stdout)}
    assert p.returncode == 78
    assert checks["openpgp"]["status"] == "fail"
    assert "no usable secret key for alice@example.test" in checks["openpgp"]["detail"]


def test_doctor_reports_untrusted_account(stack: Any, tmp_path: Path, alice: GpgHome) -> None:
    cli = make_cli(
        tmp_path, stack, alice, account_toml(stack, endpoint=stack.submission_selfsigned)
    )
    p = cli("doctor")
    assert p.returncode == 78
    assert b"FAIL  account work" in p.stdout and b"certificate not trusted" in p.stdout
