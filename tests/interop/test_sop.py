"""OpenPGP with Stateless OpenPGP implementations from Debian: ``sqop`` (Sequoia) and ``gosop``
(GopenPGP, Proton's library). e2email's PGP/MIME decrypted and verified by each, and their
encrypted+signed PGP/MIME read by ``e2email imap decrypt``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.interop.engines import Sop
from tests.interop.readback import decrypted_by_e2email
from tests.services import imapcorpus as corpus
from tests.services.protect_helpers import armored, make_cli, parse
from tests.support import OPENPGP, fingerprint

pytestmark = pytest.mark.stack

BODY = "Hello Bob,\n\nread by SOP: SOP-MARKER. Grüße.\n"
SUBJECT = "Garden party — hidden subject"
SOPS = {"sqop": "sqop 0.27 (Sequoia)", "gosop": "gosop (GopenPGP)"}


@pytest.fixture(params=sorted(SOPS))
def sop(request: pytest.FixtureRequest) -> Iterator[Sop]:
    s = Sop(request.param)
    request.node.add_marker(
        pytest.mark.interop(
            producer="e2email", consumer=SOPS[s.command], form="PGP/MIME signed+encrypted"
        )
    )
    yield s
    s.close()


@pytest.fixture(scope="module")
def e2email_pgp_mime(stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[bytes]:
    """One message e2email sent to bob through Postfix (PGP/MIME, signed by alice)."""
    tmp = tmp_path_factory.mktemp("sop-send")
    alice = corpus.make_home("alice", "bob")
    try:
        before = stack.sink.snapshot()
        p = make_cli(tmp, stack, alice.path, smime=False)(
            "send", "--from", "alice@example.test", "--to", "bob@example.test",
            "--subject", SUBJECT, stdin=BODY.encode(),
        )  # fmt: skip
        assert p.returncode == 0, p.stderr.decode()
        [raw] = stack.sink.wait_new(before, 1)
        yield raw
    finally:
        alice.close()


def test_e2email_pgp_mime_read_by_sop(e2email_pgp_mime: bytes, sop: Sop) -> None:
    assert b"SOP-MARKER" not in e2email_pgp_mime
    p, verifications = sop.decrypt(
        armored(e2email_pgp_mime), OPENPGP / "bob.sec.asc", verify_with=OPENPGP / "alice.pub.asc"
    )
    assert p.returncode == 0, p.stderr.decode()
    inner = parse(p.stdout)
    assert inner["Subject"] == SUBJECT and inner.get_param("hp") == "cipher"
    assert "SOP-MARKER" in inner.get_body().get_content()  # type: ignore[union-attr]
    [line] = verifications.splitlines()
    assert fingerprint("alice").upper() in line.upper(), verifications


def test_e2email_pgp_mime_refused_by_sop_with_the_wrong_signer(
    e2email_pgp_mime: bytes, sop: Sop
) -> None:
    _, verifications = sop.decrypt(
        armored(e2email_pgp_mime), OPENPGP / "bob.sec.asc", verify_with=OPENPGP / "carol.pub.asc"
    )
    assert verifications.strip() == "", "a signature by alice must not verify as carol's"


def pgp_mime_by(sop: Sop, marker: str, message_id: str) -> bytes:
    """What a SOP-based client sends: a MIME entity, encrypted to bob and signed by alice."""
    entity = corpus.crlf(
        f"Content-Type: text/plain; charset=utf-8\n\nfrom SOP: {marker}\n".encode()
    )
    ct = sop.encrypt(entity, OPENPGP / "bob.pub.asc", sign_with=OPENPGP / "alice.sec.asc")
    return corpus.pgp_mime(message_id, "from SOP", ct)


@pytest.mark.parametrize("command", sorted(SOPS))
def test_sop_mail_read_by_imap_decrypt(
    stack: Any, tmp_path: Path, command: str, request: pytest.FixtureRequest
) -> None:
    request.node.add_marker(
        pytest.mark.interop(
            producer=SOPS[command],
            consumer="e2email imap decrypt",
            form="PGP/MIME signed+encrypted",
        )
    )
    sop = Sop(command)
    try:
        raw = pgp_mime_by(sop, "SOP-BACK-MARKER", f"<{uuid.uuid4().hex}@sop.example.test>")
    finally:
        sop.close()
    decrypted_by_e2email(stack, tmp_path, raw, "pgp-mime", "SOP-BACK-MARKER")
