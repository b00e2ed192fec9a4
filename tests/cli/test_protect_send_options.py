"""``e2email send`` options of message protection: --attach, --message, and their misuse."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import cli_env


def run(tmp: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    cfg = tmp / "config.toml"
    cfg.write_text(
        '[accounts.work]\nfrom = ["alice@example.test"]\nsmtp_host = "smtp.example.test"\n'
    )
    return subprocess.run(
        [sys.executable, "-m", "e2email.cli.main", "--config", str(cfg), "send", *args],
        input=stdin,
        capture_output=True,
        env=cli_env(tmp),
        timeout=60,
        check=False,
    )


def test_help_teaches_attach_and_message(tmp_path: Path) -> None:
    p = run(tmp_path, "--help")
    assert p.returncode == 0
    for needle in (b"--attach FILE", b"--message FILE", b"[...]", b"Bcc", b"docs/protection.md"):
        assert needle in p.stdout, needle


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--message", "-", "--to", "bob@example.test"), b"ready message"),
        (("--from", "alice@example.test", "--to", "bob@example.test"), b"--subject is required"),
        (("--to", "bob@example.test", "--subject", "s"), b"--from is required"),
        (
            (
                "--from",
                "alice@example.test",
                "--to",
                "b@example.test",
                "--subject",
                "s",
                "--attach",
                "/nonexistent/file.pdf",
            ),
            b"not a readable file",
        ),
        (("--message", "/nonexistent/draft.eml"), b"cannot read"),
    ],
)
def test_misuse_is_64_with_one_line(tmp_path: Path, args: tuple[str, ...], needle: bytes) -> None:
    p = run(tmp_path, *args, stdin=b"x\n")
    assert p.returncode == 64, p.stderr.decode()
    assert needle in p.stderr
    assert len(p.stderr.decode().strip().splitlines()) == 1


def test_message_without_from_or_recipients_is_refused(tmp_path: Path) -> None:
    p = run(tmp_path, "--message", "-", stdin=b"Subject: hi\n\nbody\n")
    assert p.returncode == 65
    assert b"no From" in p.stderr
    p = run(tmp_path, "--message", "-", stdin=b"From: alice@example.test\nSubject: hi\n\nbody\n")
    assert p.returncode == 64
    assert b"no recipients" in p.stderr
