"""``e2email keys publish`` against a real Web Key Service: gpg-wks-server behind Postfix.

The provider is the test stack set up as tests/stack/wks.py says: Postfix hands mail for
``key-submission@wks.test`` to ``gpg-wks-server --receive`` (Debian package gpg-wks-server),
whose confirmation request comes back through Postfix into the user's Dovecot INBOX; the
directory it publishes into is what the stack's HTTPS server serves as WKD. The oracles are
gpg-wks-server's own published file and gpg reading what a plain HTTPS client gets from WKD.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from e2email.cli.keys import keys_group
from tests.stack.wks import Wks, add_wks

DOMAIN = "wks.test"
USER = f"pub@{DOMAIN}"
PASSWORD = "pub-password"


@pytest.fixture(scope="module")
def provider(stack: Any) -> Iterator[Wks]:
    wks = add_wks(stack, DOMAIN, {USER: PASSWORD})
    yield wks
    wks.close()


def gpg(home: Path, *args: str, data: bytes | None = None) -> bytes:
    cmd = ["gpg", "--homedir", str(home), "--batch", "--no-tty", "--passphrase", ""]
    done = subprocess.run(
        [*cmd, "--pinentry-mode", "loopback", *args], input=data, capture_output=True, check=True
    )
    return done.stdout


@pytest.fixture
def user(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """The user's GnuPG home with a key for USER (and another user ID that must not go out)."""
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    gpg(home, "--quick-gen-key", f"Pub <{USER}>", "future-default", "default", "never")
    listing = gpg(home, "--with-colons", "--list-keys", USER).decode()
    fpr = next(x.split(":")[9] for x in listing.splitlines() if x.startswith("fpr:"))
    gpg(home, "--quick-add-uid", fpr, "Pub Private <pub@private.test>")
    yield home, fpr
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)


def config(tmp: Path, stack: Any, home: Path) -> str:
    cfg = tmp / "config.toml"
    cfg.write_text(
        textwrap.dedent(f"""\
        [accounts.pub]
        from = ["{USER}"]
        smtp_host = "smtp.example.test"
        username = "{USER}"
        password_command = "printf '%s\\\\n' '{PASSWORD}'"
        imap_host = "imap.example.test"
        imap_port = 993
        imap_security = "tls"

        [openpgp]
        gnupghome = "{home}"

        [network]
        nameservers = ["{stack.nameserver}"]
        ca_file = "{stack.ca_pem}"
        timeout = 10

        [outbox]
        path = "{tmp / "state" / "outbox"}"

        [discovery]
        store_dir = "{tmp / "store"}"
        cache_dir = "{tmp / "cache"}"
        """)
    )
    return str(cfg)


def test_publish_round_trip_with_gpg_wks_server(
    stack: Any, provider: Wks, user: tuple[Path, str], tmp_path: Path
) -> None:
    home, fpr = user
    cfg = config(tmp_path, stack, home)
    out = CliRunner().invoke(keys_group, ["publish", "--json", "--timeout", "60"], obj=cfg)
    assert out.exit_code == 0, (out.output, provider.log.read_text())
    state = json.loads(out.output)
    assert state["state"] == "published"
    assert [s["step"] for s in state["steps"]] == [
        "found", "submitted", "confirmed", "responded", "published"
    ]  # fmt: skip
    assert state["submission_address"] == provider.submission
    published = provider.published("pub")
    assert published.exists(), provider.log.read_text()
    oracle = tmp_path / "oracle"
    oracle.mkdir(mode=0o700)
    gpg(oracle, "--import", data=published.read_bytes())
    listing = gpg(oracle, "--with-colons", "--list-keys").decode()
    assert f":{fpr}:" in listing
    assert "private.test" not in listing, "only the published address's user ID goes out"
