"""``e2email trace`` on Received headers that the stack's Postfix really wrote.

One message goes through three real hops: authenticated submission over STARTTLS
(``ESMTPSA``), an MX without STARTTLS (``ESMTP``), an MX with STARTTLS that writes TLS
details (``smtpd_tls_received_header = yes``). The delivered file is what ``trace`` reads.
"""

from __future__ import annotations

import email
import json
import smtplib
import ssl
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.services.transport_scenarios import Scenarios, scenarios_fixture  # noqa: F401
from tests.support import cli_env


def _strip_delivery(raw: bytes) -> bytes:
    """Drop what the sink's delivery agent added, so the next hop sees a relayed message."""
    lines = raw.split(b"\n")
    return b"\n".join(x for x in lines if not x.startswith((b"Delivered-To:", b"Return-Path:")))


def _deliver(stack: Any, ip: str, port: int, raw: bytes, rcpt: str, *, tls: bool) -> bytes:
    before = stack.sink.snapshot()
    with smtplib.SMTP(ip, port, local_hostname="client.example.test", timeout=10) as s:
        if tls:
            ctx = ssl.create_default_context(cafile=str(stack.ca_pem))
            ctx.check_hostname = False  # connected by address; the chain is still verified
            s.starttls(context=ctx)
            s.ehlo("client.example.test")
        if port == 587:
            s.login("alice@example.test", stack.users["alice@example.test"])
        s.sendmail("alice@example.test", [rcpt], raw)
    wanted = f"Delivered-To: {rcpt}".encode()
    for message in stack.sink.wait_new(before, 1):
        if wanted in message:
            return message
    raise AssertionError(f"{rcpt} not delivered")


@pytest.fixture(scope="module")
def three_hops(stack: Any, scenarios: Scenarios, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tag = uuid.uuid4().hex[:8]
    raw = (
        f"From: alice@example.test\r\nTo: t{tag}@example.test\r\nSubject: trace {tag}\r\n"
        f"Message-ID: <{tag}@example.test>\r\n\r\nhello\r\n"
    ).encode()
    sub = stack.submission
    first = _deliver(stack, sub.ip, 587, raw, f"h1-{tag}@example.test", tls=True)
    second = _deliver(
        stack, scenarios.ips["mxplain"], 25, _strip_delivery(first), f"h2-{tag}@x.test", tls=False
    )
    third = _deliver(
        stack, scenarios.ips["mxv"], 25, _strip_delivery(second), f"h3-{tag}@x.test", tls=True
    )
    path = tmp_path_factory.mktemp("trace") / "delivered.eml"
    path.write_bytes(third)
    return path


def trace(path: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "e2email.cli.main", "trace", *args, str(path)]
    return subprocess.run(
        cmd, capture_output=True, text=True, env=cli_env(tmp_path), timeout=30, check=False
    )


def test_the_message_really_has_three_postfix_received_headers(three_hops: Path) -> None:
    msg = email.message_from_bytes(three_hops.read_bytes())
    received = msg.get_all("Received") or []
    assert len(received) == 3
    assert all("(Postfix)" in r for r in received)


def test_trace_json_reports_each_hop(three_hops: Path, tmp_path: Path) -> None:
    p = trace(three_hops, tmp_path, "--json")
    assert p.returncode == 0, p.stderr
    hops = json.loads(p.stdout)
    assert [(h["hop"], h["protocol"], h["tls"]) for h in hops] == [
        (1, "ESMTPSA", "yes"),
        (2, "ESMTP", "no"),
        (3, "ESMTPS", "yes"),
    ]
    assert all(h["by"] == "smtp.example.test" for h in hops)
    assert hops[2]["tls_version"] in ("TLSv1.2", "TLSv1.3") and hops[2]["cipher"]
    assert hops[0]["tls_version"] is None  # Postfix wrote no details on that listener
    assert all(h["from"].startswith("client.example.test") and h["date"] for h in hops)


def test_trace_human_output(three_hops: Path, tmp_path: Path) -> None:
    p = trace(three_hops, tmp_path)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    hop_lines = [line for line in lines if line[:2] in ("1.", "2.", "3.")]
    assert len(hop_lines) == 3
    assert "with ESMTPSA: TLS" in hop_lines[0]
    assert "with ESMTP: NO TLS" in hop_lines[1]
    assert "with ESMTPS: TLS TLSv1." in hop_lines[2]
    assert "\x1b[" not in p.stdout


def test_stdin_and_missing_file(three_hops: Path, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "e2email.cli.main", "trace", "-"]
    p = subprocess.run(
        cmd, input=three_hops.read_bytes(), capture_output=True, env=cli_env(tmp_path), check=False
    )
    assert p.returncode == 0 and b"3. " in p.stdout
    missing = trace(tmp_path / "nope.eml", tmp_path)
    assert missing.returncode == 64 and missing.stderr.startswith("e2email: cannot read")
