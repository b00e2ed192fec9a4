"""Shared fixtures. ``stack``: the real local servers (tests/stack), started once per session
and only when a test asks for it, so unit tests run without root or daemons."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .stack import Stack, start_stack
from .support import GpgHome, gpg_home  # noqa: F401  (fixture registration)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """Knot+Unbound, Postfix, Dovecot, HTTPS and slapd on a private 127.A.B.0/24 block.

    Fails (never skips) with the missing Debian package named if a daemon is not installed.
    """
    with start_stack() as running:
        yield running


@pytest.fixture(scope="module")
def homes() -> Iterator[dict[str, GpgHome]]:
    """alice's and bob's GnuPG homes, each with the other's public key (folder decryption)."""
    from tests.services.imapcorpus import make_home

    made = {"alice": make_home("alice", "bob"), "bob": make_home("bob", "alice")}
    yield made
    for h in made.values():
        h.close()
