"""``e2email imap decrypt`` at the command line: modes, TLS rules, output, exit codes.

Fakes only for what Dovecot will not do: greet a STARTTLS connection with ``* PREAUTH``, or
leave STARTTLS out of its capabilities. Everything else talks to the stack's Dovecot.
"""

from __future__ import annotations

import json
import os
import pty
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.services import imapcheck as check
from tests.services import imapcorpus as corpus
from tests.support import SMIME, Cli, GpgHome, cli_env

CLI = [sys.executable, "-m", "e2email.cli.main"]


def offline_config(tmp: Path, port: int) -> Path:
    cfg = tmp / "config.toml"
    cfg.write_text(
        "[accounts.bob]\nfrom = ['bob@example.test']\nsmtp_host = 'smtp.example.test'\n"
        "username = 'bob@example.test'\npassword_command = \"printf '%s\\\\n' 'fake-secret-pw'\"\n"
        f"imap_host = '127.0.0.1'\nimap_port = {port}\nimap_security = 'starttls'\n"
    )
    return cfg


def test_exactly_one_mode_is_required(tmp_path: Path) -> None:
    cli = Cli(offline_config(tmp_path, 1), cli_env(tmp_path))
    for modes in ([], ["--in-place", "--to-folder", "X"], ["--to-maildir", "m", "--in-place"]):
        p = cli("imap", "decrypt", "--account", "bob", "--folder", "INBOX", *modes)
        assert p.returncode == 64, p.stderr
        assert b"exactly one of" in p.stderr


def test_help_teaches_the_three_modes(tmp_path: Path) -> None:
    p = Cli(offline_config(tmp_path, 1), cli_env(tmp_path))("imap", "decrypt", "--help")
    assert p.returncode == 0
    for word in (b"--to-folder", b"--to-maildir", b"--in-place", b"EFAIL", b"UIDPLUS"):
        assert word in p.stdout


class FakeImap:
    """Greets, answers CAPABILITY (without STARTTLS) and BAD to anything else, and records
    every byte the client sends."""

    def __init__(self, greeting: bytes) -> None:
        self.greeting, self.received = greeting, b""
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(10)
            conn.sendall(self.greeting)
            try:
                while chunk := conn.recv(4096):
                    self.received += chunk
                    for line in chunk.split(b"\r\n")[:-1]:
                        conn.sendall(self._answer(line))
            except OSError:
                pass

    @staticmethod
    def _answer(line: bytes) -> bytes:
        tag, _, command = line.partition(b" ")
        if command.upper() == b"CAPABILITY":
            return b"* CAPABILITY IMAP4rev1 AUTH=PLAIN LOGIN\r\n" + tag + b" OK done\r\n"
        return tag + b" BAD no\r\n"

    def close(self) -> bytes:
        self.thread.join(timeout=10)
        self.sock.close()
        return self.received


@pytest.mark.parametrize(
    "greeting",
    [
        b"* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] logged in already\r\n",
        b"* PREAUTH logged in already\r\n",
    ],
)
def test_preauth_on_a_starttls_connection_is_refused_before_any_command(
    tmp_path: Path, greeting: bytes
) -> None:
    server = FakeImap(greeting)
    cli = Cli(offline_config(tmp_path, server.port), cli_env(tmp_path))
    p = cli("imap", "decrypt", "--account", "bob", "--folder", "INBOX", "--to-folder", "D")
    received = server.close()
    assert p.returncode == 75, p.stderr
    assert b"PREAUTH" in p.stderr and p.stderr.count(b"\n") == 1
    assert received == b"", "nothing may be sent after a PREAUTH greeting on a STARTTLS connection"


def test_a_server_without_starttls_gets_no_login(tmp_path: Path) -> None:
    server = FakeImap(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN LOGIN] no TLS here\r\n")
    cli = Cli(offline_config(tmp_path, server.port), cli_env(tmp_path))
    p = cli("imap", "decrypt", "--account", "bob", "--folder", "INBOX", "--to-folder", "D")
    received = server.close()
    assert p.returncode == 75 and b"STARTTLS" in p.stderr, p.stderr
    assert b"LOGIN" not in received.upper() and b"fake-secret-pw" not in received


# -- against Dovecot ----------------------------------------------------------------------------


@pytest.fixture
def small_box(stack: Any, homes: dict[str, GpgHome]) -> tuple[str, list[corpus.Sample]]:
    samples = [
        s
        for s in corpus.build(corpus.Producer(homes["alice"]), uuid.uuid4().hex[:8])
        if s.name in ("signed", "nomdc")
    ]
    box = "Cli-" + uuid.uuid4().hex[:8]
    check.append(stack, box, samples)
    return box, samples


@pytest.mark.stack
def test_starttls_on_143_works_and_the_human_summary_lists_failures(
    stack: Any, homes: dict[str, GpgHome], tmp_path: Path, small_box: tuple[str, list[Any]]
) -> None:
    box, samples = small_box
    cfg = check.config(tmp_path, stack, homes["bob"].path, security="starttls", port=143)
    p = Cli(cfg, cli_env(tmp_path))("imap", "decrypt", "--account", "bob", "--folder", box,
                                    "--to-folder", box + ".D")  # fmt: skip
    assert p.returncode == 65, p.stderr
    out = p.stdout.decode()
    assert "decrypted     1" in out and "failed        1" in out
    assert "integrity check" in out
    nomdc = next(s for s in samples if s.name == "nomdc")
    assert nomdc.message_id in out and nomdc.marker not in out
    assert check.count(stack, box + ".D") == 1


@pytest.mark.stack
def test_an_untrusted_server_certificate_stops_the_run(
    stack: Any, homes: dict[str, GpgHome], tmp_path: Path, small_box: tuple[str, list[Any]]
) -> None:
    box, _ = small_box
    cfg = check.config(tmp_path, stack, homes["bob"].path, ca=SMIME / "ca.pem")
    p = Cli(cfg, cli_env(tmp_path))("imap", "decrypt", "--account", "bob", "--folder", box,
                                    "--to-folder", box + ".D")  # fmt: skip
    assert p.returncode == 75 and b"certificate" in p.stderr, p.stderr
    assert not check.folder_exists(stack, box + ".D")
    assert all("$E2emailDecrypted" not in m.flags for m in check.messages(stack, box))


@pytest.mark.stack
def test_a_wrong_password_exits_77_without_echoing_it(
    stack: Any, homes: dict[str, GpgHome], tmp_path: Path
) -> None:
    cfg = check.config(tmp_path, stack, homes["bob"].path)
    cfg.write_text(cfg.read_text().replace(stack.users[check.BOB], "wrong-pw-123"))
    p = Cli(cfg, cli_env(tmp_path))("imap", "decrypt", "--account", "bob", "--folder", "INBOX",
                                    "--in-place")  # fmt: skip
    assert p.returncode == 77, p.stderr
    assert b"wrong-pw-123" not in p.stderr + p.stdout


@pytest.mark.stack
def test_progress_bar_on_a_terminal(
    stack: Any, homes: dict[str, GpgHome], tmp_path: Path, small_box: tuple[str, list[Any]]
) -> None:
    box, _ = small_box
    cfg = check.config(tmp_path, stack, homes["bob"].path)
    leader, follower = pty.openpty()
    try:
        p = subprocess.run(
            [
                sys.executable,
                "-m",
                "e2email.cli.main",
                "--config",
                str(cfg),
                "imap",
                "decrypt",
                "--account",
                "bob",
                "--folder",
                box,
                "--to-folder",
                box + ".D",
            ],
            env=cli_env(tmp_path),
            stdout=subprocess.PIPE,
            stderr=follower,
            timeout=120,
            check=False,
        )
        os.close(follower)
        follower = -1
        shown = os.read(leader, 65536)
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    assert p.returncode == 65
    assert b"decrypting" in shown and b"2/2" in shown, shown


@pytest.mark.stack
def test_json_summary_shape(
    stack: Any, homes: dict[str, GpgHome], tmp_path: Path, small_box: tuple[str, list[Any]]
) -> None:
    box, _ = small_box
    cfg = check.config(tmp_path, stack, homes["bob"].path)
    maildir = tmp_path / "md"
    p = Cli(cfg, cli_env(tmp_path))("imap", "decrypt", "--account", "bob", "--folder", box,
                                    "--to-maildir", str(maildir), "--json")  # fmt: skip
    report = json.loads(p.stdout)
    assert report["mode"] == "to-maildir" and report["target"] == str(maildir)
    assert {"found", "decrypted", "skipped_existing", "skipped", "failed", "kinds"} <= set(report)
    assert report["kinds"] == {"pgp-mime": 2}
    [failed] = report["failed"]
    assert "integrity" in failed["reason"]
    assert report["decrypted"] == 1 and len(list((maildir / "cur").iterdir())) == 1


@pytest.mark.stack
def test_verbose_logs_carry_no_plaintext_and_no_password(
    stack: Any, homes: dict[str, GpgHome], tmp_path: Path, small_box: tuple[str, list[Any]]
) -> None:
    box, samples = small_box
    cfg = check.config(tmp_path, stack, homes["bob"].path)
    p = Cli(cfg, cli_env(tmp_path))("-vv", "imap", "decrypt", "--account", "bob", "--folder", box,
                                    "--to-folder", box + ".D")  # fmt: skip
    assert p.returncode == 65, p.stderr
    assert check.count(stack, box + ".D") == 1
    for s in samples:
        assert s.marker.encode() not in p.stderr + p.stdout, s.name
    assert stack.users[check.BOB].encode() not in p.stderr


@pytest.mark.stack
def test_a_missing_folder_is_a_usage_error(
    stack: Any, homes: dict[str, GpgHome], tmp_path: Path
) -> None:
    cfg = check.config(tmp_path, stack, homes["bob"].path)
    p = Cli(cfg, cli_env(tmp_path))("imap", "decrypt", "--account", "bob", "--folder",
                                    "No-Such-Folder", "--in-place")  # fmt: skip
    assert p.returncode == 64 and b"No-Such-Folder" in p.stderr, p.stderr


@pytest.mark.stack
def test_gpg_that_cannot_run_stops_the_run_with_78(
    stack: Any, homes: dict[str, GpgHome], tmp_path: Path, small_box: tuple[str, list[Any]]
) -> None:
    box, _ = small_box
    cfg = check.config(tmp_path, stack, homes["bob"].path)
    cfg.write_text(
        cfg.read_text().replace("[openpgp]\n", '[openpgp]\ngpg_binary = "/nonexistent/gpg"\n')
    )
    p = Cli(cfg, cli_env(tmp_path))("imap", "decrypt", "--account", "bob", "--folder", box,
                                    "--to-folder", box + ".D")  # fmt: skip
    assert p.returncode == 78 and b"gpg" in p.stderr, p.stderr
    assert p.stderr.count(b"\n") == 1
    assert all("$E2emailDecrypted" not in m.flags for m in check.messages(stack, box))


@pytest.mark.stack
def test_smime_mail_without_an_smime_key_fails_alone(
    stack: Any, homes: dict[str, GpgHome], tmp_path: Path
) -> None:
    samples = [
        s
        for s in corpus.build(corpus.Producer(homes["alice"]), uuid.uuid4().hex[:8])
        if s.name in ("signed", "smime")
    ]
    box = "NoSmime-" + uuid.uuid4().hex[:8]
    check.append(stack, box, samples)
    cfg = check.config(tmp_path, stack, homes["bob"].path)
    text = cfg.read_text()
    cfg.write_text(text[: text.index("[smime]")] + text[text.index("[network]") :])
    p = Cli(cfg, cli_env(tmp_path))("imap", "decrypt", "--account", "bob", "--folder", box,
                                    "--to-folder", box + ".D", "--json")  # fmt: skip
    report = json.loads(p.stdout)
    assert p.returncode == 65 and report["decrypted"] == 1
    [failed] = report["failed"]
    assert "no S/MIME key is configured" in failed["reason"]
