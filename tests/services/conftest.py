"""Fixtures shared by the service tests that send through the stack and read what arrived."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.services.protect_helpers import Workdir
from tests.support import GpgHome


@pytest.fixture
def bob(gpg_home: Callable[..., GpgHome]) -> GpgHome:
    """Bob's own GnuPG home: his secret key, alice's public key (to verify her signatures)."""
    return gpg_home(secret=["bob"], public=["alice"])


@pytest.fixture
def work() -> Iterator[Workdir]:
    """A scratch directory for oracles (openssl, gpgsm, sq), removed afterwards."""
    w = Workdir()
    yield w
    w.close()
