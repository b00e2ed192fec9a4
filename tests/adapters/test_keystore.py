"""e2email's key store on disk: S/MIME material with its chain, and stores written before that."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from e2email.adapters.store.keystore import KeyStore
from e2email.core import x509check
from e2email.model import Key, Protocol
from tests.support import SMIME

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def cert(name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((SMIME / f"{name}.pem").read_bytes())


def test_a_certificate_and_its_chain_come_back_as_stored(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "store", tmp_path / "cache")
    leaf, inter = cert("chain-user"), cert("intermediate")
    bundle = leaf.public_bytes(Encoding.PEM) + inter.public_bytes(Encoding.PEM)
    key = Key(Protocol.SMIME, x509check.fingerprint(leaf), "ldap", material=bundle)
    store.put(key, "chain@example.test", "ldap://ldap.example.test:389", NOW)
    store.remember("chain@example.test", (key,), (), NOW)
    answer = store.cached("chain@example.test")
    assert answer is not None and answer.keys[0].material == bundle
    assert store.path(Protocol.SMIME, key.fingerprint).suffix == ".pem"


def test_a_der_certificate_stored_by_an_earlier_version_is_still_read_and_forgotten(
    tmp_path: Path,
) -> None:
    store = KeyStore(tmp_path / "store", tmp_path / "cache")
    bob = cert("bob")
    der = bob.public_bytes(Encoding.DER)
    key = Key(Protocol.SMIME, x509check.fingerprint(bob), "ldap", material=der)
    store.put(key, "bob@example.test", "ldap://x", NOW)
    store.path(Protocol.SMIME, key.fingerprint).rename(
        store.path(Protocol.SMIME, key.fingerprint).with_suffix(".der")
    )
    assert store.material(Protocol.SMIME, key.fingerprint) == der
    store.forget("bob@example.test")
    assert store.material(Protocol.SMIME, key.fingerprint) is None
    assert not list((tmp_path / "store" / "smime").iterdir())
