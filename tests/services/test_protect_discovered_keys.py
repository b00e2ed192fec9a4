"""Keys found by discovery (WKD, LDAP, DANE) encrypt without entering the user's keyring."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from e2email import config
from e2email.core import compose
from e2email.core.compose import Draft, Mailbox
from e2email.model import Action, Address, Decision, Key, Plan, Protocol, Recipient, Role
from e2email.services.protect import copies as protect
from e2email.services.runtime import Runtime
from tests.services.protect_helpers import armored, parse
from tests.support import GpgHome, fingerprint

ALICE, BOB = Address("alice", "example.test"), Address("bob", "example.test")


def test_discovered_key_material_is_used_and_not_imported(
    tmp_path: Path, gpg_home: Callable[..., GpgHome]
) -> None:
    alice = gpg_home(secret=["alice"])  # no key for bob in the user's keyring
    bob = gpg_home(secret=["bob"], public=["alice"])
    material = bob.run("--export", fingerprint("bob")).stdout
    text = f'[openpgp]\ngnupghome = "{alice.path}"\n'
    rt = Runtime(config.parse(text, source=tmp_path / "c.toml", env={"HOME": str(tmp_path)}))
    key = Key(Protocol.OPENPGP, fingerprint("bob"), "wkd-advanced", material=material)
    plan = Plan(ALICE, (Decision(Recipient(BOB, Role.TO), Action.OPENPGP, key),))
    draft = Draft(
        Mailbox(ALICE),
        (Mailbox(BOB),),
        "found on WKD",
        "hello\n",
        "Sun, 22 Nov 2026 10:00:00 +0000",
        "<wkd@example.test>",
    )
    [copy] = protect.build_copies(rt, plan, compose.outgoing(draft))
    d = bob.decrypt(armored(copy.data))
    assert d.returncode == 0, d.stderr.decode()
    assert parse(d.stdout)["Subject"] == "found on WKD"
    listed = alice.run("--list-keys", "--with-colons", check=False).stdout.decode()
    assert fingerprint("bob") not in listed  # never imported into the user's keyring
    assert fingerprint("alice") in listed
