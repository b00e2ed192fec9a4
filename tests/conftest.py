"""Shared fixtures. ``stack``: the real local servers (tests/stack), started once per session
and only when a test asks for it, so unit tests run without root or daemons."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .stack import Stack, start_stack
from .support import gpg_home  # noqa: F401  (fixture registration)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """Knot+Unbound, Postfix, Dovecot, HTTPS and slapd on a private 127.A.B.0/24 block.

    Fails (never skips) with the missing Debian package named if a daemon is not installed.
    """
    with start_stack() as running:
        yield running
