"""The python-gnupg client starts no gpg until one is needed, yet is set up like the library's."""

from __future__ import annotations

import subprocess
from pathlib import Path

import gnupg
import pytest

from e2email.adapters.openpgp.gpg import ASSUMED_VERSION, Gpg, client
from e2email.errors import ConfigError
from e2email.model import Address
from tests.support import OPENPGP


def test_the_light_client_sets_every_attribute_the_library_sets(tmp_path: Path) -> None:
    real = gnupg.GPG(gnupghome=str(tmp_path))  # runs gpg --list-config to learn the version
    light = client("gpg", tmp_path)
    missing = set(vars(real)) - set(vars(light))
    assert not missing, f"python-gnupg now sets {missing}: update adapters/gpg.client()"
    assert real.version >= ASSUMED_VERSION  # the version the light client assumes holds here


def test_keys_are_listed_without_a_version_probe(tmp_path: Path) -> None:
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    cmd = ["gpg", "--homedir", str(home), "--batch", "--import", str(OPENPGP / "bob.pub.asc")]
    try:
        subprocess.run(cmd, check=True, capture_output=True)
        [key] = Gpg(home).keys_for(Address("bob", "example.test"))
        assert key.can_encrypt and key.matches(Address("bob", "example.test"))
        assert Gpg(home).version().startswith("2.")  # asked for explicitly, runs gpg --version
    finally:  # the import started an agent for this home: leave no daemon behind
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)


def test_a_missing_gpg_is_a_config_error_at_first_use(tmp_path: Path) -> None:
    gpg = Gpg(tmp_path, binary=str(tmp_path / "no-such-gpg"))  # constructing runs nothing
    with pytest.raises(ConfigError, match="cannot run gpg"):
        gpg.keys("<bob@example.test>")
    with pytest.raises(ConfigError, match="cannot run gpg"):
        gpg.version()
    with pytest.raises(ConfigError, match="no GnuPG home"):
        Gpg(tmp_path / "missing").keys()
