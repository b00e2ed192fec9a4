"""The other direction of the interop matrix: what ``e2email send`` wrote (through Postfix),
read by ``open_protected`` and by ``imap decrypt`` -- PGP/MIME and S/MIME with RFC 9788 header
protection, signed, CBC and GCM, RSA and EC recipients."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from e2email import config
from e2email.services.read import Opened, open_protected
from e2email.services.runtime import Runtime
from tests.services import imapcheck as check
from tests.services import imapcorpus as corpus
from tests.services.protect_helpers import make_cli, parse
from tests.support import SMIME, Cli, GpgHome, cli_env

pytestmark = pytest.mark.stack

SUBJECT = "Quarterly numbers — hidden subject"
BODY = "Hello Bob,\n\nthe numbers: INTEROP-MARKER. Grüße.\n"


@pytest.fixture(scope="module")
def bob() -> Iterator[GpgHome]:
    home = corpus.make_home("bob", "alice")
    yield home
    home.close()


def reader(gnupghome: Path, cert: str) -> Runtime:
    return Runtime(
        config.parse(
            f'[openpgp]\ngnupghome = "{gnupghome}"\n[smime]\ncertificate = "{SMIME / cert}.pem"\n'
            f'private_key = "{SMIME / cert}.key"\ntrust_anchors = "{SMIME / "ca.pem"}"\n'
        )
    )


def sent(stack: Any, cli: Cli, to: str) -> bytes:
    before = stack.sink.snapshot()
    p = cli("send", "--from", "alice@example.test", "--to", to, "--subject", SUBJECT,
            stdin=BODY.encode())  # fmt: skip
    assert p.returncode == 0, p.stderr.decode()
    [raw] = stack.sink.wait_new(before, 1)
    assert b"INTEROP-MARKER" not in raw and parse(raw)["Subject"] == "[...]"
    return raw


def assert_readable(o: Opened, protocol: str) -> None:
    msg = parse(o.message)
    assert msg["Subject"] == SUBJECT, "the protected Subject was not restored"
    assert o.scheme == "rfc9788"
    assert msg["E2email-Signature"].startswith("good;"), msg["E2email-Signature"]
    assert o.protocol == protocol
    assert b"INTEROP-MARKER" in o.message or "INTEROP-MARKER" in msg.get_body().get_content()  # type: ignore[union-attr]
    assert "HP-Outer" not in msg and "[...]" not in str(msg["Subject"])


def test_pgp_mime_from_e2email_send(
    stack: Any, tmp_path: Path, gpg_home: Callable[..., GpgHome], bob: GpgHome
) -> None:
    alice = gpg_home(secret=["alice"], public=["bob"])
    raw = sent(stack, make_cli(tmp_path, stack, alice.path, smime=False), "bob@example.test")
    assert_readable(open_protected(reader(bob.path, "bob"), raw), "openpgp")


@pytest.mark.parametrize(
    ("cert", "extra"), [("bob", ""), ("bob", 'encryption = "aes256-gcm"\n'), ("ec", "")]
)
def test_smime_from_e2email_send(
    stack: Any,
    tmp_path: Path,
    gpg_home: Callable[..., GpgHome],
    bob: GpgHome,
    cert: str,
    extra: str,
) -> None:
    alice = gpg_home(secret=["alice"])
    cli = make_cli(tmp_path, stack, alice.path, certs=(cert,), extra=extra)
    raw = sent(stack, cli, f"{cert}@example.test")
    o = open_protected(reader(bob.path, cert), raw)
    assert_readable(o, "smime")
    assert ("integrity=none" in parse(o.message)["E2email-Signature"]) is False


def test_imap_decrypt_on_mail_e2email_sent(
    stack: Any, tmp_path: Path, gpg_home: Callable[..., GpgHome], bob: GpgHome
) -> None:
    alice = gpg_home(secret=["alice"], public=["bob"])
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
    raws = [
        sent(stack, make_cli(tmp_path / "a", stack, alice.path, smime=False), "bob@example.test")
    ]
    raws.append(sent(stack, make_cli(tmp_path / "b", stack, gpg_home(secret=["alice"]).path,
                                     certs=("bob",)), "bob@example.test"))  # fmt: skip
    box = "Interop-" + uuid.uuid4().hex[:8]
    check.append(stack, box, [corpus.Sample(str(i), r, "", True) for i, r in enumerate(raws)])
    cfg = check.config(tmp_path, stack, bob.path)
    p = Cli(cfg, cli_env(tmp_path))("imap", "decrypt", "--account", "bob", "--folder", box,
                                    "--to-folder", box + ".D", "--json")  # fmt: skip
    assert p.returncode == 0, p.stderr.decode()
    assert json.loads(p.stdout)["kinds"] == {"pgp-mime": 1, "smime": 1}
    copies = check.messages(stack, box + ".D")
    assert [m.header("Subject") for m in copies] == [SUBJECT, SUBJECT]
    assert all((m.header("E2email-Signature") or "").startswith("good") for m in copies)
