"""A throwaway CA and server certificates for the fake servers (the stack's issuer, own CA)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.stack.pki import Pki

FAKE_HOST = "fake.example.test"
FAKE_IP = "127.0.0.1"
FAKE_CA_NAME = "e2email fake CA"


@dataclass(frozen=True)
class FakePki:
    """``ca_pem`` to trust; ``cert``/``key`` for a server at 127.0.0.1 and fake.example.test."""

    ca_pem: Path
    cert: Path
    key: Path
    other_cert: Path  # valid chain, but for other.example.test only
    other_key: Path


def make_pki(directory: Path) -> FakePki:
    """Write a CA and two leaves into ``directory``."""
    pki = Pki(directory, ca_name=FAKE_CA_NAME)
    cert, key = pki.issue([FAKE_HOST, FAKE_IP])
    other_cert, other_key = pki.issue(["other.example.test"])
    return FakePki(pki.ca_pem, cert, key, other_cert, other_key)
