"""Trust on first use, end to end: keys from WKD, real sends through Postfix, the keys CLI.

A key is pinned when a message is first *sent* with it, never by ``keys locate`` or a dry
run. Under ``key_change = "refuse"`` a changed key stops the send until ``keys accept``; under
``"warn"`` the send that uses the new key warns once and pins it, so the same key does not
warn again, and the next change (back to the old key included) does.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from e2email.adapters.store.keystore import KeyStore
from e2email.model import Address
from tests.services.discover_helpers import ZONE, World, build_world, publish
from tests.support import Cli, GpgHome, account_toml, cli_env, write_config

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def world(stack: Any) -> Iterator[World]:
    w = build_world(stack)
    yield w
    w.keys.close()


@pytest.fixture
def alice(gpg_home: Callable[..., GpgHome]) -> GpgHome:
    return gpg_home(secret=["alice"])


class Tofu:
    """One recipient on the WKD domain, two keys for it, and a configured e2email."""

    def __init__(self, world: World, tmp: Path, alice: GpgHome, key_change: str) -> None:
        self.stack = world.stack
        name = f"t{uuid.uuid4().hex[:8]}"
        self.address = Address(name, f"adv.{ZONE}")
        self.old, self._old = world.keys.make(f"Old <{self.address}>")
        self.new, self._new = world.keys.make(f"New <{self.address}>")
        body = account_toml(self.stack)
        body += f'[discovery]\nmethods = ["wkd"]\nkey_change = "{key_change}"\n'
        body += f'store_dir = "{tmp / "store"}"\ncache_dir = "{tmp / "cache"}"\n'
        self.store = KeyStore(tmp / "store", tmp / "cache")
        body += "positive_ttl = 0\n"  # every send asks WKD again: the published key is the truth
        body += '[policy]\nencrypt = "required"\n'
        self.cli = Cli(write_config(tmp, self.stack, alice.path, body), cli_env(tmp))

    def publish(self, which: str) -> str:
        publish(self.stack, self.address, self._old if which == "old" else self._new)
        return self.old if which == "old" else self.new

    def send(self, *flags: str) -> subprocess.CompletedProcess[bytes]:
        return self.cli("send", "--json", *flags, "--from", "alice@example.test", "--to",
                        str(self.address), "--subject", "s", stdin=b"hello\n")  # fmt: skip

    def sent_with(self, *flags: str) -> tuple[str, bytes]:
        """Send; the fingerprint the plan used, and stderr. Asserts one copy was delivered."""
        before = self.stack.sink.snapshot()
        p = self.send(*flags)
        assert p.returncode == 0, p.stderr.decode()
        if "--dry-run" not in flags:
            self.stack.sink.wait_new(before, 1)
        [plan] = json.loads(p.stdout)["recipients"]
        return plan["fingerprint"], p.stderr

    def keys(self, *args: str) -> Any:
        p = self.cli("keys", *args)
        assert p.returncode in (0, 67), p.stderr.decode()
        return json.loads(p.stdout) if "--json" in args else p.stdout.decode()

    def pins(self) -> list[tuple[str, str | None]]:
        """(fingerprint, previous) of each pin, read from the store (``keys list`` shows it)."""
        return [(p.fingerprint, p.previous) for p in self.store.pins()]


def test_locate_pins_nothing_the_first_send_does_and_a_change_waits_for_accept(
    world: World, tmp_path: Path, alice: GpgHome
) -> None:
    t = Tofu(world, tmp_path, alice, "refuse")
    t.publish("old")
    [found] = t.keys("locate", "--json", str(t.address))
    assert found["keys"][0]["fingerprint"] == t.old
    assert t.pins() == []
    t.publish("new")  # a lookup made no promise: the new key is no "change"
    [found] = t.keys("locate", "--json", "--no-cache", str(t.address))
    assert found["keys"][0]["fingerprint"] == t.new and found["keys"][0]["warning"] is None
    assert t.sent_with("--dry-run") == (t.new, b"")
    assert t.pins() == []  # nor does a dry run
    assert t.sent_with()[0] == t.new
    assert t.pins() == [(t.new, None)]
    t.publish("old")
    before = t.stack.sink.snapshot()
    p = t.send()
    assert p.returncode == 77, p.stderr.decode()
    assert b"key-changed" in p.stderr and f"keys accept {t.address} {t.old}".encode() in p.stderr
    [found] = t.keys("locate", "--json", str(t.address))
    assert ("wkd-advanced", "key-changed") in [
        (r["source"], r["reason"]) for r in found["rejected"]
    ]
    t.keys("accept", str(t.address), t.old)
    assert t.pins() == [(t.old, t.new)]
    listed = t.keys("list", "--json")["pins"]
    assert [(p["fingerprint"], p["previous"], p["source"]) for p in listed] == [
        (t.old, t.new, "accepted")
    ]
    assert t.sent_with()[0] == t.old
    assert t.stack.sink.snapshot() - before, "the accepted key's message was delivered"


def test_warn_mode_warns_once_per_new_key(world: World, tmp_path: Path, alice: GpgHome) -> None:
    t = Tofu(world, tmp_path, alice, "warn")
    t.publish("old")
    assert t.sent_with() == (t.old, b"")
    t.publish("new")
    fpr, err = t.sent_with("--dry-run")
    assert fpr == t.new and t.pins() == [(t.old, None)]  # a dry run records nothing
    fpr, err = t.sent_with()
    assert fpr == t.new
    assert err.count(b"key-changed") == 1 and t.old.encode() in err and t.new.encode() in err
    assert t.pins() == [(t.new, t.old)]
    assert t.sent_with() == (t.new, b"")  # the same new key: quiet
    t.publish("old")  # a change back is a change too
    fpr, err = t.sent_with()
    assert fpr == t.old and err.count(b"key-changed") == 1
    assert t.pins() == [(t.old, t.new)]
    assert "replacing" in t.keys("list")
