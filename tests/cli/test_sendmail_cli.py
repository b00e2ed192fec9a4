"""``e2email-sendmail``: start-up without click, help, usage errors and exit codes, -bp and -q.

Sending a message end to end is in test_sendmail_stack.py; here the paths that need no
message protection: argument errors (64), unreadable input (65), configuration (78), and the
queue modes against a fake server.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from e2email.adapters.store.outbox import Envelope, Outbox
from tests.fakes.fixtures import fake_pki_fixture  # noqa: F401
from tests.fakes.pki import FakePki
from tests.fakes.smtp import Script, serve
from tests.services.fakes_support import config_text
from tests.support import cli_env


def sendmail(
    tmp: Path, *args: str, stdin: bytes = b"", config: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = cli_env(tmp)
    if config is not None:
        env["E2EMAIL_CONFIG"] = str(config)
    code = "import sys; from e2email.cli.sendmail import main; main(sys.argv[1:])"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )


def one_error_line(p: subprocess.CompletedProcess[bytes]) -> str:
    err = p.stderr.decode()
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_help_path_imports_neither_click_nor_engines() -> None:
    code = (
        "import sys\n"
        "from e2email.cli.sendmail import run\n"
        "assert run(['--help']) == 0\n"
        "heavy = [m for m in ('click', 'gnupg', 'dns', 'cryptography', 'keyring', 'email.message',"
        " 'ssl', 'e2email.config', 'e2email.services.send') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False, timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    assert b"usage: e2email-sendmail" in p.stdout and b"-bp" in p.stdout


def test_version(tmp_path: Path) -> None:
    p = sendmail(tmp_path, "--version")
    assert p.returncode == 0 and p.stdout.startswith(b"e2email-sendmail ")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-z", "bob@example.test"], "unknown option -z"),
        (["--", "-oQ/tmp/x"], "starts with '-'"),
        (["bob@example.test", "-t"], "starts with '-'"),
        (["-i"], "no recipients"),
        (["-bs"], "-bs is not supported"),
        (["-f"], "requires an argument"),
    ],
)
def test_usage_errors_are_64_before_reading_anything(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    p = sendmail(tmp_path, *args, stdin=b"Subject: x\n\nbody\n")
    assert p.returncode == 64
    assert needle in one_error_line(p)


def test_empty_message_is_65(tmp_path: Path) -> None:
    p = sendmail(tmp_path, "-i", "bob@example.test", stdin=b"")
    assert p.returncode == 65 and "no message" in one_error_line(p)


def test_lone_dot_ends_the_message_without_i(tmp_path: Path) -> None:
    p = sendmail(tmp_path, "bob@example.test", stdin=b".\nSubject: after the dot\n\nx\n")
    assert p.returncode == 65  # everything after the lone dot is ignored: nothing left


def test_no_configuration_is_78(tmp_path: Path) -> None:
    p = sendmail(tmp_path, "-i", "bob@example.test", stdin=b"From: a@example.test\n\nx\n")
    assert p.returncode == 78, p.stderr.decode()
    assert "no account configured" in one_error_line(p)


def test_no_from_and_several_accounts_is_64(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[accounts.a]\nfrom = ["a@example.test"]\nsmtp_host = "h.example.test"\n'
        '[accounts.b]\nfrom = ["b@example.test"]\nsmtp_host = "h.example.test"\n'
    )
    p = sendmail(tmp_path, "-i", "bob@example.test", stdin=b"Subject: s\n\nx\n", config=cfg)
    assert p.returncode == 64 and "pass -f ADDR or --account" in one_error_line(p)


def test_bad_sender_is_rejected_before_any_connection(tmp_path: Path) -> None:
    p = sendmail(tmp_path, "-i", "-f", "<>", "bob@example.test", stdin=b"Subject: s\n\nx\n")
    assert p.returncode == 64 and "null sender" in one_error_line(p)


def test_bp_empty_and_listing(tmp_path: Path, fake_pki: FakePki) -> None:
    with serve(Script(), (fake_pki.cert, fake_pki.key)) as fake:
        cfg = tmp_path / "config.toml"
        cfg.write_text(config_text(tmp_path, fake, fake_pki))
    p = sendmail(tmp_path, "-bp", config=cfg)
    assert p.returncode == 0 and p.stdout == b"Outbox is empty\n"
    box = Outbox(tmp_path / "outbox")
    entry_id = box.add(Envelope("work", "alice@example.test", ("bob@example.test",)), b"x" * 5000)
    p = sendmail(tmp_path, "-bp", config=cfg)
    out = p.stdout.decode()
    assert p.returncode == 0 and entry_id in out and "bob@example.test" in out
    assert "alice@example.test" in out and "5000" in out


def test_q_flushes_and_maps_outcomes_to_exit_codes(tmp_path: Path, fake_pki: FakePki) -> None:
    script = Script(final_replies=[b"451 4.3.0 later\r\n", b"250 2.0.0 ok\r\n"])
    with serve(script, (fake_pki.cert, fake_pki.key)) as fake:
        cfg = tmp_path / "config.toml"
        cfg.write_text(config_text(tmp_path, fake, fake_pki))
        box = Outbox(tmp_path / "outbox")
        box.add(
            Envelope("work", "alice@example.test", ("bob@example.test",)),
            b"Subject: q\r\n\r\nq\r\n",
        )
        p = sendmail(tmp_path, "-q", config=cfg)
        assert p.returncode == 75, p.stderr.decode()
        assert "deferred: " in p.stderr.decode() and "451" in p.stderr.decode()
        p = sendmail(tmp_path, "-q", "-v", config=cfg)
        assert p.returncode == 0, p.stderr.decode()
        assert b": sent (250" in p.stderr
        assert [m.data for m in fake.messages] == [b"Subject: q\r\n\r\nq\r\n"]
    assert box.entries() == []


def test_q_with_wrong_password_is_77(tmp_path: Path, fake_pki: FakePki) -> None:
    with serve(Script(), (fake_pki.cert, fake_pki.key)) as fake:
        cfg = tmp_path / "config.toml"
        cfg.write_text(config_text(tmp_path, fake, fake_pki, password="wrong"))
        Outbox(tmp_path / "outbox").add(Envelope("work", "alice@example.test", ("b@x.test",)), b"x")
        p = sendmail(tmp_path, "-q", config=cfg)
        assert fake.messages == []
    assert p.returncode == 77, p.stderr.decode()


def test_e2email_sendmail_subcommand_is_the_same_code(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    p = subprocess.run(
        [sys.executable, "-m", "e2email.cli.main", "sendmail", "--", "-oQ/tmp/x"],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert p.returncode == 64 and b"starts with '-'" in p.stderr
    p = subprocess.run(
        [sys.executable, "-m", "e2email.cli.main", "sendmail", "--help"],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert p.returncode == 0 and b"usage: e2email-sendmail" in p.stdout


@pytest.mark.parametrize(
    "prefix",
    [[], ["-q"], ["--quiet"], ["-v", "--quiet"], ["-qv"], ["--config=/nonexistent.toml", "-q"]],
)
@pytest.mark.parametrize("word", ["-t", "-fmallory@evil.test", "--config=/tmp/evil.toml"])
def test_double_dash_protects_recipients_whatever_global_options_come_first(
    tmp_path: Path, prefix: list[str], word: str
) -> None:
    # `e2email -q sendmail -- -t` once went through click, which ate the `--`: the recipient
    # "-t" became the -t flag (a caller's recipient turned into an option: security.md 7)
    p = subprocess.run(
        [sys.executable, "-m", "e2email.cli.main", *prefix, "sendmail", "-i", "--", word],
        input=b"From: alice@example.test\nTo: bob@example.test\n\nx\n",
        capture_output=True,
        env=cli_env(tmp_path),
        timeout=60,
        check=False,
    )
    assert p.returncode == 64, p.stderr.decode()
    assert b"starts with '-'" in p.stderr
    assert len(p.stderr.decode().strip().splitlines()) == 1


def test_global_options_reach_the_sendmail_subcommand(tmp_path: Path, fake_pki: FakePki) -> None:
    with serve(Script(), (fake_pki.cert, fake_pki.key)) as fake:
        cfg = tmp_path / "config.toml"
        cfg.write_text(config_text(tmp_path, fake, fake_pki))
    entry_id = Outbox(tmp_path / "outbox").add(
        Envelope("work", "alice@example.test", ("bob@example.test",)), b"x"
    )
    p = subprocess.run(
        [sys.executable, "-m", "e2email.cli.main", "--config", str(cfg), "-v", "sendmail", "-bp"],
        capture_output=True,
        env=cli_env(tmp_path),
        timeout=60,
        check=False,
    )
    assert p.returncode == 0, p.stderr.decode()
    assert entry_id in p.stdout.decode()
