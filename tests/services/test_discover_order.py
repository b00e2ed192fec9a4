"""contract.md ``discovery.methods = [...]  # in order``: when two methods offer a key for the
same address, the first method in the configured order wins, whichever answers first.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2email.model import Address
from e2email.services.discovery import discover
from tests.services.discover_helpers import KeyMaker, ldap_table, publish, runtime

ORDER = Address("order", "example.test")


@pytest.fixture(scope="module")
def two_keys(stack: Any) -> Iterator[tuple[str, str]]:
    """One key for order@example.test on WKD, another in LDAP: (wkd fingerprint, ldap's)."""
    keys = KeyMaker()
    try:
        wkd_fpr, wkd_key = keys.make(f"Order <{ORDER}>")
        ldap_fpr, _ = keys.make(f"Order Directory <{ORDER}>")
        publish(stack, ORDER, wkd_key)
        armored = keys._gpg("--armor", "--export", ldap_fpr)
        stack.ldap.add(
            f"dn: pgpCertID={ldap_fpr[-16:]},{stack.ldap.pgp_base}\nobjectClass: pgpKeyInfo\n"
            f"pgpCertID: {ldap_fpr[-16:]}\npgpKey:: {base64.b64encode(armored).decode()}\n"
            f"gpgMailbox: {ORDER}\npgpUserID: Order Directory <{ORDER}>\n"
        )
        yield wkd_fpr, ldap_fpr
    finally:
        keys.close()


@pytest.mark.parametrize("first", ["wkd", "ldap"])
def test_the_first_configured_method_wins(
    stack: Any, tmp_path: Path, two_keys: tuple[str, str], first: str
) -> None:
    wkd_fpr, ldap_fpr = two_keys
    methods = '["wkd", "ldap"]' if first == "wkd" else '["ldap", "wkd"]'
    table = ldap_table(stack.ldap.url, stack.ldap.base, ["example.test"])
    found = discover.discover(runtime(tmp_path, stack, methods=methods, extra=table), [ORDER])
    key = found[ORDER].key
    assert key is not None
    expected = (wkd_fpr, "wkd-advanced") if first == "wkd" else (ldap_fpr, "ldap")
    assert (key.fingerprint, key.source) == expected
    assert {k.fingerprint for k in found[ORDER].keys} == {wkd_fpr, ldap_fpr}
