"""PGP/MIME and S/MIME with GMime, the MIME and crypto engine of notmuch, astroid and balsa:
e2email's mail, delivered by Postfix into a maildir, shown by ``notmuch show --decrypt=true``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.interop.engines import Notmuch, walk_parts
from tests.services.protect_helpers import make_cli, parse
from tests.support import Cli, GpgHome

pytestmark = pytest.mark.stack

BODY = "Hello Bob,\n\nread by GMime: GMIME-MARKER. Grüße.\n"
SUBJECT = "Travel plans — hidden subject"
GMIME = "GMime 3.2 (notmuch 0.37)"


@pytest.fixture(scope="module")
def bob_notmuch() -> Iterator[Notmuch]:
    db = Notmuch("bob", public=("alice",))
    yield db
    db.close()


def sent(stack: Any, cli: Cli) -> bytes:
    before = stack.sink.snapshot()
    p = cli("send", "--from", "alice@example.test", "--to", "bob@example.test",
            "--subject", SUBJECT, stdin=BODY.encode())  # fmt: skip
    assert p.returncode == 0, p.stderr.decode()
    [raw] = stack.sink.wait_new(before, 1)
    assert b"GMIME-MARKER" not in raw and parse(raw)["Subject"] == "[...]"
    return raw


def shown(db: Notmuch, raw: bytes) -> dict[str, Any]:
    db.deliver(raw)
    mid = str(parse(raw)["Message-ID"]).strip("<>")
    [message] = db.show(f"id:{mid}")
    return message


def texts(message: dict[str, Any]) -> str:
    return "".join(
        str(p.get("content", ""))
        for part in message["body"]
        for p in walk_parts(part)
        if p.get("content-type") == "text/plain"
    )


@pytest.mark.interop(producer="e2email", consumer=GMIME, form="PGP/MIME signed+encrypted")
def test_pgp_mime_read_by_notmuch(
    stack: Any, tmp_path: Path, gpg_home: Callable[..., GpgHome], bob_notmuch: Notmuch
) -> None:
    alice = gpg_home(secret=["alice"], public=["bob"])
    message = shown(bob_notmuch, sent(stack, make_cli(tmp_path, stack, alice.path, smime=False)))
    assert message["crypto"].get("decrypted", {}).get("status") == "full", json.dumps(message)
    [sig] = message["crypto"]["signed"]["status"]
    assert sig["status"] == "good", sig
    assert "GMIME-MARKER" in texts(message)
    # notmuch shows the RFC 9788 protected Subject instead of the outer "[...]"
    assert message["headers"]["Subject"] == SUBJECT
    assert message["crypto"].get("decrypted", {}).get("header-mask", {}).get("Subject") == "[...]"


@pytest.mark.interop(
    producer="e2email", consumer=GMIME, form="S/MIME signed+encrypted (AES-CBC, RSA)"
)
def test_smime_read_by_notmuch(
    stack: Any, tmp_path: Path, gpg_home: Callable[..., GpgHome], bob_notmuch: Notmuch
) -> None:
    cli = make_cli(tmp_path, stack, gpg_home(secret=["alice"]).path, certs=("bob",))
    message = shown(bob_notmuch, sent(stack, cli))
    assert message["crypto"].get("decrypted", {}).get("status") == "full", json.dumps(message)
    [sig] = message["crypto"]["signed"]["status"]
    assert sig["status"] == "good", sig
    assert "GMIME-MARKER" in texts(message)
    assert message["headers"]["Subject"] == SUBJECT
