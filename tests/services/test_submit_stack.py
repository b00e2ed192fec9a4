"""Submission to the real Postfix of the test stack (Dovecot SASL), observed through its sink.

Each AUTH mechanism Postfix offers works; refused credentials are 77 and queue nothing;
certificate problems (untrusted, wrong host name, pin mismatch) send nothing at all.
"""

from __future__ import annotations

import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from e2email import config
from e2email.adapters.spool import GrowingSpool
from e2email.adapters.store.outbox import Outbox
from e2email.errors import EX_NOPERM, AuthenticationError, CryptoError, TemporaryFailure
from e2email.model import Address
from e2email.services.runtime import Runtime
from e2email.services.submit import Copy, submit

ALICE, BOB = Address("alice", "example.test"), Address("bob", "example.test")


def runtime(
    stack: Any,
    tmp: Path,
    *,
    endpoint: Any = None,
    security: str = "starttls",
    password: str | None = None,
    extra: str = "",
    outbox: bool = True,
) -> Runtime:
    ep = endpoint or stack.submission
    pw = stack.users["alice@example.test"] if password is None else password
    text = textwrap.dedent(f"""\
        [accounts.work]
        from = ["alice@example.test"]
        smtp_host = "{ep.host}"
        smtp_port = {ep.port}
        smtp_security = "{security}"
        username = "alice@example.test"
        password_command = "printf '%s\\\\n' '{pw}'"
        {extra}

        [network]
        nameservers = ["{stack.nameserver}"]
        ca_file = "{stack.ca_pem}"
        timeout = 10

        [outbox]
        enabled = {str(outbox).lower()}
        path = "{tmp / "outbox"}"
        """)
    return Runtime(config.parse(text, env={}))


def message(tag: str) -> bytes:
    return (
        f"From: alice@example.test\r\nTo: bob@example.test\r\nSubject: {tag}\r\n"
        f"Message-ID: <{tag}@example.test>\r\n\r\n.a line with a dot\r\n{tag}\r\n"
    ).encode()


def delivered_tags(stack: Any, before: set[str], count: int) -> list[bytes]:
    return stack.sink.wait_new(before, count)


def assert_nothing_delivered(stack: Any, tmp: Path, before: set[str]) -> None:
    """Send a marker through a good account: if it is the only new message, nothing else came."""
    rt = runtime(stack, tmp / "marker")
    submit(rt, rt.account("work", None), ALICE, [Copy((BOB,), message("marker"))])
    [raw] = stack.sink.wait_new(before, 1)
    assert b"Subject: marker" in raw
    time.sleep(0.2)  # anything queued before the marker would have arrived with it
    assert len(stack.sink.snapshot() - before) == 1


@pytest.mark.parametrize("mechanism", ["plain", "login", "auto"])
def test_each_auth_mechanism_postfix_offers(stack: Any, tmp_path: Path, mechanism: str) -> None:
    rt = runtime(stack, tmp_path, extra=f'auth_mechanism = "{mechanism}"')
    before = stack.sink.snapshot()
    data = message(f"auth-{mechanism}")
    result = submit(rt, rt.account("work", None), ALICE, [Copy((BOB,), data)])
    assert result.accepted == (BOB,) and not result.queued
    assert "250" in result.replies[0]
    [raw] = delivered_tags(stack, before, 1)
    assert b"Delivered-To: bob@example.test" in raw
    assert raw.endswith(data.split(b"\r\n\r\n", 1)[1].replace(b"\r\n", b"\n"))
    log = stack.postfix.log_tail()
    expected = "PLAIN" if mechanism == "auto" else mechanism.upper()
    assert f"sasl_method={expected}" in log


def test_implicit_tls_465(stack: Any, tmp_path: Path) -> None:
    rt = runtime(stack, tmp_path, endpoint=stack.submission_tls, security="tls")
    before = stack.sink.snapshot()
    submit(rt, rt.account("work", None), ALICE, [Copy((BOB,), message("implicit"))])
    assert len(delivered_tags(stack, before, 1)) == 1


def test_wrong_password_is_77_and_nothing_queued(stack: Any, tmp_path: Path) -> None:
    rt = runtime(stack, tmp_path, password="not-the-password")
    before = stack.sink.snapshot()
    with pytest.raises(AuthenticationError, match="535") as e:
        submit(rt, rt.account("work", None), ALICE, [Copy((BOB,), message("wrongpw"))])
    assert e.value.exit_code == EX_NOPERM
    assert "not-the-password" not in str(e.value)
    assert Outbox(tmp_path / "outbox").entries() == []
    assert_nothing_delivered(stack, tmp_path, before)


@pytest.mark.parametrize("case", ["untrusted", "wrong-host", "pin-mismatch"])
def test_certificate_problems_send_nothing(stack: Any, tmp_path: Path, case: str) -> None:
    endpoint, extra = stack.submission, ""
    if case == "untrusted":
        endpoint = stack.submission_selfsigned
    elif case == "wrong-host":
        endpoint = stack.submission_wronghost
    else:
        extra = f'tls_fingerprint = "sha256:{"ab" * 32}"'
    rt = runtime(stack, tmp_path, endpoint=endpoint, extra=extra, outbox=False)
    before = stack.sink.snapshot()
    with pytest.raises(TemporaryFailure) as e:
        submit(rt, rt.account("work", None), ALICE, [Copy((BOB,), message(f"cert-{case}"))])
    reason = {"untrusted": "not trusted", "wrong-host": "not trusted", "pin-mismatch": "pinned"}
    assert reason[case] in str(e.value) and "not queued" in str(e.value)
    assert_nothing_delivered(stack, tmp_path, before)


def test_a_copy_whose_building_fails_mid_data_is_never_delivered(
    stack: Any, tmp_path: Path
) -> None:
    # A large copy is sent while it is still being encrypted (protect.start_copies). If the
    # encryption fails half-way, the final dot is never sent: Postfix must keep nothing.
    rt = runtime(stack, tmp_path)
    spool = GrowingSpool(tmp_path)
    spool.write(message("half-built") + b"-----BEGIN PGP MESSAGE-----\r\n" + b"A" * 76 + b"\r\n")
    before = stack.sink.snapshot()

    def fail_later() -> None:
        time.sleep(0.3)  # the client is in DATA by now, waiting for more
        spool.fail(CryptoError("gpg could not encrypt: FAILURE"))

    worker = threading.Thread(target=fail_later)
    worker.start()
    with pytest.raises(CryptoError, match="could not encrypt"):
        submit(rt, rt.account("work", None), ALICE, [Copy((BOB,), spool)])
    worker.join()
    queue = tmp_path / "outbox" / "queue"
    assert not queue.exists() or not any(queue.iterdir())  # not a temporary failure
    deadline = time.monotonic() + 5  # Postfix logs the abort once it notices the close
    while "lost connection after DATA" not in stack.postfix.log_tail(200):
        assert time.monotonic() < deadline, stack.postfix.log_tail()  # it was in DATA
        time.sleep(0.05)
    assert_nothing_delivered(stack, tmp_path, before)
