"""The last check before encrypting: protect re-validates every S/MIME certificate itself.

Discovery already judged the certificates; this proves that a plan carrying a bad one (a
signing-only certificate, someone else's, an expired or untrusted one) still encrypts
nothing, because ``PKCS7EnvelopeBuilder`` itself would encrypt to any of them.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from e2email import config
from e2email.core import compose, x509check
from e2email.core.compose import Draft, Mailbox
from e2email.errors import NoUsableKeyError
from e2email.model import Action, Address, Decision, Key, Plan, Protocol, Recipient, Role
from e2email.services.protect import copies as protect
from e2email.services.runtime import Runtime
from tests.support import SMIME

ALICE = Address("alice", "example.test")


def runtime(tmp: Path) -> Runtime:
    text = textwrap.dedent(f"""
        [smime]
        certificate = "{SMIME}/alice.pem"
        private_key = "{SMIME}/alice.key"
        trust_anchors = "{SMIME}/ca.pem"
        [openpgp]
        gnupghome = "{tmp}"
        """)
    return Runtime(config.parse(text, source=tmp / "config.toml", env={"HOME": str(tmp)}))


def plan_for(cert_name: str, address: Address) -> Plan:
    cert = x509.load_pem_x509_certificate((SMIME / f"{cert_name}.pem").read_bytes())
    key = Key(
        Protocol.SMIME,
        x509check.fingerprint(cert),
        "local",
        material=cert.public_bytes(serialization.Encoding.DER),
    )
    return Plan(ALICE, (Decision(Recipient(address, Role.TO), Action.SMIME, key),))


def outgoing(to: Address) -> compose.Outgoing:
    draft = Draft(
        Mailbox(ALICE), (Mailbox(to),), "s", "body\n", "Sun, 22 Nov 2026 10:00:00 +0000", "<m@x>"
    )
    return compose.outgoing(draft)


@pytest.mark.parametrize(
    ("cert", "address", "problem"),
    [
        ("signing-only", Address("sigonly", "example.test"), "no-key-encipherment"),
        ("wrong-address", Address("wrongaddr", "example.test"), "address-mismatch"),
        ("expired", Address("expired", "example.test"), "expired"),
        ("untrusted", Address("untrusted", "example.test"), "untrusted"),
        ("bad-eku", Address("badeku", "example.test"), "bad-eku"),
        ("ca", Address("ca", "example.test"), "ca-certificate"),
    ],
)
def test_protect_refuses_a_bad_certificate_in_the_plan(
    tmp_path: Path, cert: str, address: Address, problem: str
) -> None:
    with pytest.raises(NoUsableKeyError, match=problem):
        protect.build_copies(runtime(tmp_path), plan_for(cert, address), outgoing(address))


def test_a_certificate_other_than_the_planned_one_is_refused(tmp_path: Path) -> None:
    plan = plan_for("bob", Address("bob", "example.test"))
    d = plan.decisions[0]
    assert d.key is not None
    other = Key(Protocol.SMIME, "00" * 32, "local", material=d.key.material)
    bad = Plan(ALICE, (Decision(d.recipient, Action.SMIME, other),))
    with pytest.raises(NoUsableKeyError, match="fingerprint"):
        protect.build_copies(runtime(tmp_path), bad, outgoing(d.recipient.address))


def test_a_good_certificate_passes_the_same_check(tmp_path: Path) -> None:
    bob = Address("bob", "example.test")
    [copy] = protect.build_copies(runtime(tmp_path), plan_for("bob", bob), outgoing(bob))
    assert copy.recipients == (bob,)
    assert b"application/pkcs7-mime" in copy.data and b"Subject: [...]" in copy.data
