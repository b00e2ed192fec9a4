"""Shared set-up for the keyserver tests: zone ``ks.test``, the fake VKS/HKP server, configs.

Names in the signed zone ``ks.test``: ``keys.ks.test`` (the VKS), ``hkp.ks.test`` (an HKPS
server) and ``badcert.ks.test`` (the same server, whose certificate does not name it) all
point at the fake keyserver (tests/fakes/keyserver.py: no keyserver is packaged for Debian);
``ks.test`` and ``openpgpkey.ks.test`` point at the stack's HTTPS server, for WKD.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from e2email import config
from e2email.core import pgpkeys
from e2email.services.runtime import Runtime
from tests.fakes.keyserver import FakeKeyserver
from tests.services.discover_helpers import KeyMaker

ZONE = "ks.test"
VKS_HOST = f"keys.{ZONE}"
HKP_HOST = f"hkp.{ZONE}"
BADCERT_HOST = f"badcert.{ZONE}"


@dataclass
class KsWorld:
    """The module's keyserver, key maker and stack."""

    stack: Any
    server: FakeKeyserver
    keys: KeyMaker


def build(stack: Any) -> KsWorld:
    """Start the fake keyserver and publish the zone (once per session)."""
    ip = stack.alloc_ip()
    server = FakeKeyserver(stack.pki, ip, [VKS_HOST, HKP_HOST])
    https = stack.https.ip
    records = [
        f"keys A {ip}",
        f"hkp A {ip}",
        f"badcert A {ip}",
        f"@ A {https}",
        f"openpgpkey A {https}",
    ]
    if ZONE in stack.dns.zones:
        stack.dns.set_records(ZONE, records)
    else:
        stack.dns.add_zone(ZONE, records, signed=True)
    return KsWorld(stack, server, KeyMaker())


def by_email(address: str) -> str:
    """The VKS path for an address."""
    return "/vks/v1/by-email/" + quote(address, safe="@")


def by_fingerprint(fpr: str) -> str:
    """The VKS path for a fingerprint."""
    return "/vks/v1/by-fingerprint/" + fpr.upper()


def hkp(search: str) -> str:
    """The HKP op=get path for a search string."""
    return "/pks/lookup?op=get&options=mr&search=" + quote(search)


def keyserver_toml(host: str, kind: str = "vks", trust: str | None = None) -> str:
    """One [[discovery.keyserver]] table."""
    line = f'trust = "{trust}"\n' if trust else ""
    return f'\n[[discovery.keyserver]]\nurl = "https://{host}"\nkind = "{kind}"\n{line}'


def settings_text(
    tmp: Path, stack: Any, *, methods: str = '["vks"]', servers: str = "", timeout: float = 4
) -> str:
    """A configuration for the stack with its own store, cache and keyservers."""
    home = tmp / "gnupg"
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    return textwrap.dedent(f"""\
        [openpgp]
        gnupghome = "{home}"
        [network]
        nameservers = ["{stack.nameserver}"]
        ca_file = "{stack.ca_pem}"
        timeout = 5
        [discovery]
        methods = {methods}
        store_dir = "{tmp / "store"}"
        cache_dir = "{tmp / "cache"}"
        timeout = {timeout}
        """) + (servers or keyserver_toml(VKS_HOST))


def runtime(tmp: Path, stack: Any, **kw: Any) -> Runtime:
    """A Runtime for :func:`settings_text`."""
    return Runtime(config.parse(settings_text(tmp, stack, **kw), env={"HOME": str(tmp)}))


def without_user_ids(data: bytes) -> bytes:
    """The key with every user ID (and its signatures) removed: what a VKS serves for a key
    whose addresses nobody confirmed."""
    block = pgpkeys.key_blocks(data)[0]
    kept = []
    keeping = True
    for p in block.packets:
        if p.tag in (pgpkeys.TAG_USER_ID, pgpkeys.TAG_USER_ATTRIBUTE):
            keeping = False
        elif p.tag in (pgpkeys.TAG_PUBLIC_KEY, pgpkeys.TAG_PUBLIC_SUBKEY):
            keeping = True
        if keeping:
            kept.append(p.raw)
    return b"".join(kept)
