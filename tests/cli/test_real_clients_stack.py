"""Real clients use e2email-sendmail as their sendmail: git send-email, mutt and s-nail's mail.

Each client is configured the way docs/sendmail.md tells a user to (``sendemail.sendmailcmd``
for git, ``set sendmail=`` for mutt, ``-S mta=`` for s-nail), sends one message through the
installed console script to the stack's Postfix, and what arrives for bob must be PGP/MIME with
the Subject hidden, which bob's own gpg opens to the original text.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_sendmail_stack import SENDMAIL, decrypted, make, parse
from tests.support import GpgHome


@pytest.fixture
def alice(gpg_home: Callable[..., GpgHome]) -> GpgHome:
    return gpg_home(secret=["alice"], public=["bob"])


@pytest.fixture
def bob(gpg_home: Callable[..., GpgHome]) -> GpgHome:
    return gpg_home(secret=["bob"], public=["alice"])


def run(argv: list[str], env: dict[str, str], cwd: Path, stdin: bytes = b"") -> str:
    p = subprocess.run(
        argv, input=stdin, capture_output=True, env=env, cwd=cwd, timeout=120, check=False
    )
    assert p.returncode == 0, (argv, p.stdout.decode(), p.stderr.decode())
    return p.stdout.decode()


def for_bob(stack: Any, before: set[str]) -> bytes:
    [raw] = stack.sink.wait_new(before, 1)
    assert parse(raw)["Delivered-To"] == "bob@example.test"
    assert parse(raw).get_content_type() == "multipart/encrypted"
    return raw


def test_git_send_email(stack: Any, tmp_path: Path, alice: GpgHome, bob: GpgHome) -> None:
    sm = make(stack, tmp_path, alice)
    env = sm.env | {
        "GIT_AUTHOR_NAME": "Alice", "GIT_AUTHOR_EMAIL": "alice@example.test",
        "GIT_COMMITTER_NAME": "Alice", "GIT_COMMITTER_EMAIL": "alice@example.test",
        "GIT_CONFIG_NOSYSTEM": "1",
    }  # fmt: skip
    repo = tmp_path / "repo"
    repo.mkdir()
    run(["git", "init", "-q"], env, repo)
    (repo / "launch.txt").write_text("The launch code is 0000.\n")
    run(["git", "add", "launch.txt"], env, repo)
    run(["git", "commit", "-q", "-m", "Add the launch code"], env, repo)
    [patch] = run(["git", "format-patch", "-1"], env, repo).split()
    # docs/sendmail.md's recipe (HOME is this test's directory, so --global stays in it)
    run(["git", "config", "--global", "sendemail.sendmailcmd", str(SENDMAIL)], env, repo)
    run(["git", "config", "--global", "sendemail.from", "Alice <alice@example.test>"], env, repo)
    before = stack.sink.snapshot()
    run(["git", "send-email", "--to", "bob@example.test", "--confirm=never", "--suppress-cc=all",
         patch], env, repo)  # fmt: skip
    raw = for_bob(stack, before)
    assert b"launch code" not in raw  # neither the patch nor its subject travels in clear
    assert parse(raw)["Subject"] == "[...]"
    inner = decrypted(bob, raw)
    assert b"Subject: [PATCH] Add the launch code" in inner
    assert b"+The launch code is 0000." in inner


def test_mutt(stack: Any, tmp_path: Path, alice: GpgHome, bob: GpgHome) -> None:
    sm = make(stack, tmp_path, alice)
    muttrc = tmp_path / "muttrc"
    muttrc.write_text(
        f'set sendmail = "{SENDMAIL} -oem -oi"\n'  # docs/sendmail.md's recipe
        "set use_envelope_from = yes\n"
        'set from = "Alice <alice@example.test>"\nset record = ""\nset send_charset = "utf-8"\n'
    )
    before = stack.sink.snapshot()
    run(["mutt", "-n", "-F", str(muttrc), "-s", "Dinner plans", "--", "bob@example.test"],
        sm.env, tmp_path, stdin="Meet at 8, the usual place. Ünïcödé.\n".encode())  # fmt: skip
    raw = for_bob(stack, before)
    assert b"Dinner" not in raw and parse(raw)["Subject"] == "[...]"
    inner = decrypted(bob, raw)
    assert b"Subject: Dinner plans" in inner
    text = next(p for p in parse(inner).walk() if p.get_content_type() == "text/plain")
    assert text.get_content().replace("\r\n", "\n") == "Meet at 8, the usual place. Ünïcödé.\n"


def test_s_nail_mail(stack: Any, tmp_path: Path, alice: GpgHome, bob: GpgHome) -> None:
    sm = make(stack, tmp_path, alice)
    before = stack.sink.snapshot()
    # docs/sendmail.md's recipe; the message has no From: e2email adds the account's address
    run(["s-nail", "-S", f"mta={SENDMAIL}", "-s", "df", "bob@example.test"],
        sm.env | {"MAILRC": "/dev/null"}, tmp_path, stdin=b"disk almost full\n")  # fmt: skip
    raw = for_bob(stack, before)
    assert b"disk almost full" not in raw and parse(raw)["From"] == "alice@example.test"
    inner = decrypted(bob, raw)
    assert b"Subject: df" in inner and b"disk almost full" in inner
