"""``e2email keys publish`` against a real Web Key Service: gpg-wks-server behind Postfix.

The provider is the test stack set up as tests/stack/wks.py says: Postfix hands mail for
``key-submission@wks.test`` to ``gpg-wks-server --receive`` (Debian package gpg-wks-server),
whose confirmation request comes back through Postfix into the user's Dovecot INBOX; the
directory it publishes into is what the stack's HTTPS server serves as WKD. The oracles are
gpg-wks-server's own published file (named by gpg-wks-client's WKD hash) and gpg reading what
a plain HTTPS client gets from WKD. ``gpg --locate-keys --auto-key-locate wkd`` cannot be the
oracle here: its dirmngr resolves names through /etc/resolv.conf (its ``nameserver`` option
applies only in Tor mode, tried 2026-12-07), and the stack must not touch system files.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from e2email.cli.keys import keys_group
from tests.stack.wks import Wks, add_wks
from tests.support import cli_env

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


def wkd_served(stack: Any, local: str) -> bytes:
    """What a plain HTTPS client gets from the advanced WKD URL (GnuPG's hash)."""
    from tests.stack.clients import https_get

    done = subprocess.run(
        ["/usr/lib/gnupg/gpg-wks-client", "--print-wkd-hash", f"{local}@{DOMAIN}"],
        capture_output=True,
        check=True,
    )
    hu = done.stdout.decode().split()[0]
    path = f"/.well-known/openpgpkey/{DOMAIN}/hu/{hu}?l={local}"
    status, _, body = https_get(f"openpgpkey.{DOMAIN}", stack.https.ip, path, stack.ca_pem)
    assert status == 200, (status, body[:200])
    return body


def inbox_flags(stack: Any) -> list[bytes]:
    """The FLAGS of every message in USER's INBOX (an independent IMAP client)."""
    from tests.stack.clients import IMAP4_SSL, tls_context

    with IMAP4_SSL(stack.imap_tls, tls_context(stack.ca_pem)) as c:
        c.login(USER, PASSWORD)
        c.select("INBOX", readonly=True)
        _, data = c.fetch("1:*", "(FLAGS)")
    return [d for d in data if isinstance(d, bytes)]


def forged_request(stack: Any, home: Path, fpr: str, provider: Wks) -> None:
    """A confirmation request from the submission address, encrypted to the user's key, but
    for another key: it must be ignored with its reason, never answered."""
    from e2email.core import wks
    from e2email.core.addresses import parse_mailbox
    from tests.stack.clients import SMTP

    body = (
        "Content-Type: application/vnd.gnupg.wks\r\n\r\n"
        f"type: confirmation-request\r\nsender: {provider.submission}\r\n"
        f"address: {USER}\r\nfingerprint: {'AB' * 20}\r\nnonce: {'n' * 32}\r\n"
    ).encode()
    armored = gpg(home, "--armor", "--trust-model", "always", "-e", "-r", fpr, data=body)
    env = wks.Envelope(
        parse_mailbox(provider.submission)[1],
        parse_mailbox(USER)[1],
        "Confirm your key publication",
        "Mon, 07 Dec 2026 10:00:00 +0000",
        "<forged@wks.test>",
        "forged-boundary",
    )
    with SMTP(stack.mx1, local_hostname="forger.test") as smtp:
        smtp.sendmail(provider.submission, [USER], wks.mail(env, armored))


def test_a_request_not_for_us_is_ignored_and_the_inbox_untouched(
    stack: Any, provider: Wks, user: tuple[Path, str], tmp_path: Path
) -> None:
    home, fpr = user
    before = len(inbox_flags(stack))
    forged_request(stack, home, fpr, provider)
    cfg = config(tmp_path, stack, home)
    out = CliRunner().invoke(keys_group, ["publish", "--json", "--timeout", "60"], obj=cfg)
    assert out.exit_code == 0, (out.output, provider.log.read_text())
    state = json.loads(out.output)
    reasons = [r["reason"] for r in state["refused"]]
    assert any(f"it is for key {'AB' * 20}, not {fpr}" in r for r in reasons), reasons
    flags = inbox_flags(stack)
    assert len(flags) >= before + 2  # the forged request and the real one
    assert not any(b"\\Seen" in f for f in flags), "the inbox was only read (EXAMINE, PEEK)"
    served = gpg(tmp_path / "gnupg", "--show-keys", "--with-colons", data=wkd_served(stack, "pub"))
    assert f":{fpr}:" in served.decode()


def test_an_interrupted_publication_resumes_without_resubmitting(
    stack: Any, provider: Wks, user: tuple[Path, str], tmp_path: Path
) -> None:
    from e2email import config as cfgmod
    from e2email.services.publish import wks
    from e2email.services.runtime import Runtime

    home, fpr = user
    cfg = Path(config(tmp_path, stack, home))
    submissions = provider.log.read_text().count("'application/pgp-keys'")

    def stop(step: str, _text: str) -> None:
        if step == "waiting":
            raise KeyboardInterrupt

    rt = Runtime(cfgmod.load(str(cfg)))
    with pytest.raises(KeyboardInterrupt):
        wks.publish(rt, USER, timeout=60, report=stop)
    out = CliRunner().invoke(keys_group, ["publish", "--from", USER], obj=str(cfg))
    assert out.exit_code == 0, (out.output, provider.log.read_text())
    assert "submitted:" not in out.output, "the key was sent again"
    assert f"published: WKD serves {fpr}" in out.output
    assert provider.log.read_text().count("'application/pgp-keys'") == submissions + 1


def test_a_provider_without_wks_is_a_clear_69(stack: Any, tmp_path: Path) -> None:
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    gpg(home, "--quick-gen-key", "Alice <alice@example.test>", "future-default", "default")
    cfg = Path(config(tmp_path, stack, home))
    cfg.write_text(cfg.read_text().replace(USER, "alice@example.test"))
    cmd = [sys.executable, "-m", "e2email.cli.main", "--config", str(cfg), "keys", "publish"]
    try:
        done = subprocess.run(
            cmd, capture_output=True, env=cli_env(tmp_path), timeout=60, check=False
        )
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)
    err = done.stderr.decode()
    assert done.returncode == 69, err
    assert err.startswith("e2email: example.test has no Web Key Service: no submission address")
    assert err.count("\n") == 1, "one line, no traceback"


def test_a_timeout_is_75_and_the_next_run_finishes(
    stack: Any, provider: Wks, user: tuple[Path, str], tmp_path: Path
) -> None:
    """No confirmation yet within the time given: exit 75 saying to run it again, which
    then waits for the request already on its way, without a second submission."""
    from e2email import config as cfgmod
    from e2email.errors import TemporaryFailure
    from e2email.services.publish import wks
    from e2email.services.runtime import Runtime

    home, fpr = user
    cfg = Path(config(tmp_path, stack, home))
    submissions = provider.log.read_text().count("'application/pgp-keys'")
    rt = Runtime(cfgmod.load(str(cfg)))
    with pytest.raises(TemporaryFailure, match="run `e2email keys publish` again") as caught:
        wks.publish(rt, USER, timeout=0.05)
    assert caught.value.exit_code == 75
    out = CliRunner().invoke(keys_group, ["publish", "--json"], obj=str(cfg))
    assert out.exit_code == 0, (out.output, provider.log.read_text())
    assert json.loads(out.output)["state"] == "published"
    assert provider.log.read_text().count("'application/pgp-keys'") == submissions + 1
    assert fpr in provider.log.read_text()
