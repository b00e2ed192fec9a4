"""The command line: one-line errors with the sysexits code of contract.md, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import e2email


def run(
    *args: str, stdin: bytes = b"", env_config: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    if env_config is not None:
        env["E2EMAIL_CONFIG"] = str(env_config)
    return subprocess.run(
        [sys.executable, "-m", "e2email.cli.main", *args],
        input=stdin,
        capture_output=True,
        env=env,
        check=False,
        timeout=60,
    )


SEND_A_TO_B = ("send", "--from", "a@example.test", "--to", "b@example.test", "--subject", "s")
ACCOUNT_A = '[accounts.a]\nfrom = "a@example.test"\nsmtp_host = "localhost"\n'


def config_file(tmp_path: Path, text: str = ACCOUNT_A) -> Path:
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    return cfg


def one_line_error(p: subprocess.CompletedProcess[bytes]) -> str:
    err = p.stderr.decode()
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) >= 1
    return err


def test_version() -> None:
    p = run("--version")
    assert p.returncode == 0
    assert p.stdout.decode().strip() == f"e2email {e2email.__version__}"


@pytest.mark.parametrize("cmd", [[], ["send"], ["doctor"], ["account", "set-password"]])
def test_help_everywhere(cmd: list[str]) -> None:
    p = run(*cmd, "--help")
    assert p.returncode == 0, p.stderr
    assert b"Usage:" in p.stdout


def test_unknown_option_is_64() -> None:
    p = run("send", "--frm", "a@b.test")
    assert p.returncode == 64
    one_line_error(p)


def test_bad_config_is_78_naming_file_and_key(tmp_path: Path) -> None:
    cfg = config_file(tmp_path, "[network]\nnameserver = ['127.0.0.1']\n")
    p = run(
        *SEND_A_TO_B,
        env_config=cfg,
        stdin=b"x",
    )
    assert p.returncode == 78
    err = one_line_error(p)
    assert str(cfg) in err and "network.nameserver" in err and "nameservers" in err


def test_missing_named_config_is_78(tmp_path: Path) -> None:
    p = run(
        "--config",
        str(tmp_path / "none.toml"),
        *SEND_A_TO_B,
        stdin=b"x",
    )
    assert p.returncode == 78
    assert "not found" in one_line_error(p)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--to", "not an address"], 65),
        (["--to", "-oQ/tmp/evil"], 64),
        (["--to", "b@example.test", "--subject", "hi\nBcc: eve@evil.test"], 65),
        ([], 64),  # no recipient
    ],
)
def test_bad_input(tmp_path: Path, args: list[str], code: int) -> None:
    cfg = config_file(tmp_path)
    base = ["send", "--from", "a@example.test"]
    if "--subject" not in args:
        base += ["--subject", "s"]
    p = run(*base, *args, env_config=cfg, stdin=b"body")
    assert p.returncode == code, p.stderr
    one_line_error(p)


def test_body_not_utf8_is_65(tmp_path: Path) -> None:
    cfg = config_file(tmp_path)
    p = run(
        *SEND_A_TO_B,
        env_config=cfg,
        stdin=b"\xff\xfe",
    )
    assert p.returncode == 65
    assert "UTF-8" in one_line_error(p)


def test_unknown_sender_account_is_usage(tmp_path: Path) -> None:
    cfg = config_file(tmp_path)
    p = run(
        "send",
        "--from",
        "z@example.test",
        "--to",
        "b@example.test",
        "--subject",
        "s",
        env_config=cfg,
        stdin=b"x",
    )
    assert p.returncode == 64
    assert "no account sends as z@example.test" in one_line_error(p)
