"""The sendmail path loads only what a send with local keys needs (performance.md).

Each module kept off the path saves its import on every message mutt or git send-email hands
over: the network discovery methods (HTTP, LDAP, the key store), transport policy (MTA-STS,
DANE, MX probes) and dnspython when the server is an address.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.support import GpgHome

PLAN = """
import sys
from e2email import config
from e2email.core import compose
from e2email.core.compose import Draft, Mailbox
from e2email.model import Address, Recipient, Role
from e2email.services.protect import copies as protect
from e2email.services import send
from e2email.services.runtime import Runtime

rt = Runtime(config.parse(sys.argv[1], env={"HOME": sys.argv[2]}))
alice, bob = Address("alice", "example.test"), Address("bob", "example.test")
plan = send.make_plan(rt, alice, (Recipient(bob, Role.TO),))
assert plan.decisions[0].key is not None, plan
draft = Draft(Mailbox(alice), (Mailbox(bob),), "hi", "a short note\\n",
              "Sun, 22 Nov 2026 10:00:00 +0000", "<light@example.test>")
[copy] = protect.build_copies(rt, plan, compose.outgoing(draft))
assert b"-----BEGIN PGP MESSAGE-----" in copy.data
print(" ".join(sorted(sys.modules)))
"""

OFF_THE_PATH = (
    "e2email.services.discovery.judge",
    "e2email.services.discovery.wkd",
    "e2email.services.discovery.ldap",
    "e2email.services.discovery.dane",
    "e2email.services.transport.verdicts",
    "e2email.services.transport.mxpath",
    "e2email.adapters.ldap",
    "e2email.adapters.http",
    "e2email.adapters.store.keystore",
    "e2email.core.mtasts",
    "concurrent.futures",
    "dns.resolver",
    "ldap3",
    "difflib",
    "html",
    "ctypes",
)


def test_a_small_message_to_a_local_key_loads_no_network_method_and_no_ctypes(
    tmp_path: Path, gpg_home: Callable[..., GpgHome]
) -> None:
    home = gpg_home(secret=["alice"], public=["bob"])
    text = f'[openpgp]\ngnupghome = "{home.path}"\nsign = false\n[discovery]\nmethods = ["local"]\n'
    p = subprocess.run(
        [sys.executable, "-c", PLAN, text, str(tmp_path)],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr.decode()
    loaded = set(p.stdout.decode().split())
    assert "e2email.services.discovery.discover" in loaded  # the plan did run discovery
    assert not loaded.intersection(OFF_THE_PATH), sorted(loaded.intersection(OFF_THE_PATH))
