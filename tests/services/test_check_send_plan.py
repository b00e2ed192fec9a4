"""The plan of ``send`` asks for the MX paths of all keyless recipients' domains at once."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from e2email import config
from e2email.core.compose import Mailbox
from e2email.model import Action, Address
from e2email.services.runtime import Runtime
from e2email.services.send import SendRequest, send
from e2email.services.transport import verdicts as transport
from tests.support import GpgHome, account_toml

from .transport_scenarios import ZONE, Scenarios, scenarios_fixture  # noqa: F401

LABELS = ["sts", "ststesting", "stsnomx", "stshtml"]  # each fetches an MTA-STS policy


def test_keyless_domains_are_observed_concurrently(
    stack: Any, scenarios: Scenarios, tmp_path: Path, gpg_home: Callable[..., GpgHome]
) -> None:
    home = gpg_home(secret=["alice"])
    text = account_toml(stack) + textwrap.dedent(f"""
        [openpgp]
        gnupghome = "{home.path}"
        [discovery]
        methods = ["local"]
        """)
    rt = Runtime(config.parse(text + scenarios.network_toml(tmp_path), env={"HOME": str(tmp_path)}))
    for label in LABELS:
        transport._memo.pop(f"{label}.{ZONE}", None)
    to = tuple(Mailbox(Address("bob", f"{label}.{ZONE}")) for label in LABELS)
    delay = 0.7
    stack.https.delay = delay
    try:
        t0 = time.monotonic()
        outcome = send(
            rt, SendRequest(Mailbox(Address("alice", "example.test")), to, "s", "b", dry_run=True)
        )
        elapsed = time.monotonic() - t0
    finally:
        stack.https.delay = 0.0
    actions = {d.recipient.address.domain: d.action for d in outcome.plan.decisions}
    assert actions == {
        f"sts.{ZONE}": Action.CLEARTEXT,  # mta-sts
        f"ststesting.{ZONE}": Action.CLEARTEXT,  # verified-tls
        f"stsnomx.{ZONE}": Action.CLEARTEXT,
        f"stshtml.{ZONE}": Action.CLEARTEXT,
    }
    assert elapsed < delay * len(LABELS) * 0.75, f"{elapsed:.2f} s: probed one after another?"
