"""Shared test support: GnuPG homes from keys-fixtures, configs for the stack, running the CLI.

Fixtures here are registered in tests/conftest.py.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "keys-fixtures"
OPENPGP = FIXTURES / "openpgp"
SMIME = FIXTURES / "smime"


def fingerprint(name: str) -> str:
    """The fingerprint of an OpenPGP fixture key."""
    data = json.loads((OPENPGP / "fixtures.json").read_text())
    return str(data[name]["fingerprint"])


class GpgHome:
    """A throwaway GnuPG home (short path: agent sockets) with fixture keys imported."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def run(
        self, *args: str, data: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        cmd = [
            "gpg",
            "--homedir",
            str(self.path),
            "--batch",
            "--yes",
            "--trust-model",
            "always",
            *args,
        ]
        return subprocess.run(cmd, input=data, capture_output=True, check=check, timeout=60)

    def import_public(self, *names: str) -> None:
        for n in names:
            self.run("--import", str(OPENPGP / f"{n}.pub.asc"))

    def import_secret(self, *names: str) -> None:
        for n in names:
            self.run("--import", str(OPENPGP / f"{n}.sec.asc"))

    def decrypt(self, data: bytes) -> subprocess.CompletedProcess[bytes]:
        return self.run("--status-fd", "2", "--decrypt", data=data, check=False)

    def close(self) -> None:
        subprocess.run(
            ["gpgconf", "--homedir", str(self.path), "--kill", "all"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.path, ignore_errors=True)


@pytest.fixture
def gpg_home() -> Iterator[Callable[..., GpgHome]]:
    """Factory: ``gpg_home(secret=[...], public=[...])`` -> a GpgHome, cleaned up afterwards."""
    homes: list[GpgHome] = []

    def make(
        secret: tuple[str, ...] | list[str] = (), public: tuple[str, ...] | list[str] = ()
    ) -> GpgHome:
        path = Path(tempfile.mkdtemp(prefix="e2g-", dir="/tmp"))
        path.chmod(0o700)
        home = GpgHome(path)
        homes.append(home)
        home.import_secret(*secret)
        home.import_public(*public)
        return home

    yield make
    for h in homes:
        h.close()


@dataclass
class Cli:
    """Runs the real ``e2email`` command with a given configuration."""

    config: Path
    env: dict[str, str]

    def __call__(
        self, *args: str, stdin: bytes = b"", timeout: float = 120
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "e2email.cli.main", "--config", str(self.config), *args],
            input=stdin,
            capture_output=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )


def account_toml(
    stack: Any,
    *,
    name: str = "work",
    endpoint: Any = None,
    user: str = "alice@example.test",
    password: str | None = None,
    security: str = "starttls",
    extra: str = "",
) -> str:
    """An [accounts.NAME] table for a stack submission endpoint."""
    ep = endpoint or stack.submission
    pw = stack.users[user] if password is None else password
    return textwrap.dedent(f"""\
        [accounts.{name}]
        from = ["{user}"]
        smtp_host = "{ep.host}"
        smtp_port = {ep.port}
        smtp_security = "{security}"
        username = "{user}"
        password_command = "printf '%s\\\\n' '{pw}'"
        {extra}
        """)


def write_config(directory: Path, stack: Any, gnupghome: Path, body: str) -> Path:
    """A full config file: the given account tables plus network settings for the stack."""
    cfg = directory / "config.toml"
    cfg.write_text(
        body
        + textwrap.dedent(f"""
        [openpgp]
        gnupghome = "{gnupghome}"

        [network]
        nameservers = ["{stack.nameserver}"]
        ca_file = "{stack.ca_pem}"
        timeout = 10
        """)
    )
    return cfg


def cli_env(tmp: Path) -> dict[str, str]:
    """A clean environment: no user config, no keyring surprises."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "PYTHONPATH")}
    env.update(
        HOME=str(tmp),
        XDG_CONFIG_HOME=str(tmp / "xdg-config"),
        XDG_CACHE_HOME=str(tmp / "xdg-cache"),
        XDG_DATA_HOME=str(tmp / "xdg-data"),
    )
    return env


def secret_forms(secret: str, user: str) -> list[bytes]:
    """Every form a password could leak in: plain, base64 alone, AUTH PLAIN and LOGIN tokens."""
    forms = [secret.encode(), base64.b64encode(secret.encode())]
    forms.append(base64.b64encode(f"\0{user}\0{secret}".encode()))
    return forms


def assert_nothing_delivered(stack: Any, before: set[str], wait: float = 1.5) -> None:
    """No new message in the stack's sink, after giving Postfix time to deliver one."""
    time.sleep(wait)  # Postfix delivers within milliseconds; give it ample time to prove a negative
    assert stack.sink.snapshot() == before, "a message was delivered although it must not be"
