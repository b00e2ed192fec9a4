"""pytest fixtures for the fakes; import the ``*_fixture`` names into a test module to use them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.pki import FakePki, make_pki


@pytest.fixture(scope="session", name="fake_pki")
def fake_pki_fixture(tmp_path_factory: pytest.TempPathFactory) -> FakePki:
    """A CA and server certificates for 127.0.0.1 / fake.example.test, once per session."""
    directory: Path = tmp_path_factory.mktemp("fake-pki")
    return make_pki(directory)
