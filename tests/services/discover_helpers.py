"""Shared set-up for the discovery tests: a zone of WKD domains, keys made on the fly, settings.

Zone ``kd.test`` (signed) holds every test domain as a name under it, so one zone reload
serves them all: ``adv.kd.test`` (with an ``openpgpkey.`` subdomain), ``direct.kd.test``
(without), ``tls.kd.test`` (its ``openpgpkey.`` host has a certificate for another name),
``dNN.kd.test`` (20 domains for the concurrency test), ``ldapalias.kd.test`` (the LDAP
server under a name its certificate does not carry) and OPENPGPKEY records for ``dane``.
``kd-insecure.test`` is unsigned.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2email import config
from e2email.core import pgpkeys, wkd
from e2email.model import Address
from e2email.services.runtime import Runtime
from tests.support import SMIME

ZONE = "kd.test"
INSECURE = "kd-insecure.test"
COUNT = 20


def domains(n: int = COUNT) -> list[str]:
    """The 20 domains of the concurrency test."""
    return [f"d{i:02d}.{ZONE}" for i in range(1, n + 1)]


class KeyMaker:
    """Makes ed25519/cv25519 OpenPGP keys with the given user IDs in a throwaway home."""

    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="e2k-", dir="/tmp"))
        self.home.chmod(0o700)

    def _gpg(self, *args: str) -> bytes:
        cmd = ["gpg", "--homedir", str(self.home), "--batch", "--no-tty", "--passphrase", ""]
        cmd += ["--pinentry-mode", "loopback", *args]
        return subprocess.run(cmd, capture_output=True, check=True, timeout=60).stdout

    def make(self, *uids: str, expire: str = "never") -> tuple[str, bytes]:
        """(fingerprint, binary public key) of a new key with ``uids``."""
        self._gpg("--quick-gen-key", uids[0], "future-default", "default", expire)
        listing = self._gpg("--with-colons", "--list-keys", uids[0]).decode()
        fprs = [line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr")]
        fpr = fprs[0]
        for uid in uids[1:]:
            self._gpg("--quick-add-uid", fpr, uid)
        return fpr, self._gpg("--export", fpr)

    def close(self) -> None:
        subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "all"], check=False)
        shutil.rmtree(self.home, ignore_errors=True)


@dataclass
class World:
    """What the module fixture set up."""

    stack: Any
    keys: KeyMaker
    https_ip: str
    many_fpr: str
    dane_fpr: str


def dane_owner(local: str) -> str:
    """RFC 7929 owner label for a local part (relative, ``_openpgpkey`` included)."""
    return hashlib.sha256(local.encode()).digest()[:28].hex() + "._openpgpkey"


def build_world(stack: Any) -> World:
    """Add the zones, certificates and keys once per session."""
    keys = KeyMaker()
    ip = stack.https.ip
    many_fpr, many = keys.make(*[f"Many <many@{d}>" for d in domains()])
    dane_fpr, dane_key = keys.make(f"Dane <dan@dane.{ZONE}>", f"Dane <dan@{INSECURE}>")
    blob = base64.b64encode(dane_key).decode()
    records = [
        f"adv A {ip}",
        f"openpgpkey.adv A {ip}",
        f"direct A {ip}",
        f"tls A {ip}",
        f"openpgpkey.tls A {ip}",
        f"ldapalias A {stack.hosts['ldap.example.test']}",
        f"{dane_owner('dan')}.dane OPENPGPKEY {blob}",
    ]
    for d in domains():
        name = d.removesuffix("." + ZONE)
        records += [f"{name} A {ip}", f"openpgpkey.{name} A {ip}"]
    insecure = [f"{dane_owner('dan')} OPENPGPKEY {blob}"]
    if ZONE not in stack.dns.zones:
        stack.dns.add_zone(ZONE, records, signed=True)
        stack.dns.add_zone(INSECURE, insecure, signed=False)
    else:  # another module built its own world: publish this one's keys, not the stale ones
        stack.dns.set_records(ZONE, records)
        stack.dns.set_records(INSECURE, insecure)
    for host in (f"adv.{ZONE}", f"openpgpkey.adv.{ZONE}", f"direct.{ZONE}", f"tls.{ZONE}"):
        stack.https.docroot(host)
    stack.https.set_cert(f"openpgpkey.tls.{ZONE}", stack.pki.issue([f"other.tls.{ZONE}"]))
    for d in domains():
        publish(stack, Address("many", d), many, advanced=True)
    return World(stack, keys, ip, many_fpr, dane_fpr)


def wkd_file(stack: Any, address: Address, *, advanced: bool) -> Path:
    """The docroot file a WKD request for ``address`` reads."""
    adv, direct = wkd.requests(address)
    req = adv if advanced else direct
    path = req.path.split("?", 1)[0].lstrip("/")
    target: Path = stack.https.docroot(req.host) / path
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def publish(stack: Any, address: Address, data: bytes, *, advanced: bool = True) -> Path:
    """Serve ``data`` as the WKD answer for ``address`` (advanced or direct tree)."""
    target = wkd_file(stack, address, advanced=advanced)
    target.write_bytes(data)
    return target


def fixture_key(name: str) -> bytes:
    """A keys-fixtures OpenPGP public key, binary."""
    from tests.support import OPENPGP

    return pgpkeys.dearmor((OPENPGP / f"{name}.pub.asc").read_bytes())


def runtime(
    tmp: Path,
    stack: Any,
    *,
    methods: str = '["wkd"]',
    gnupghome: Path | None = None,
    extra: str = "",
    timeout: float = 8,
) -> Runtime:
    """A Runtime for the stack with its own store and cache under ``tmp``."""
    home = gnupghome or tmp / "gnupg"
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = textwrap.dedent(f"""\
        [openpgp]
        gnupghome = "{home}"
        [smime]
        trust_anchors = "{SMIME / "ca.pem"}"
        [network]
        nameservers = ["{stack.nameserver}"]
        ca_file = "{stack.ca_pem}"
        timeout = 5
        """)
    text += textwrap.dedent(f"""\
        [discovery]
        methods = {methods}
        store_dir = "{tmp / "store"}"
        cache_dir = "{tmp / "cache"}"
        timeout = {timeout}
        """)
    text += textwrap.dedent(extra)
    return Runtime(config.parse(text, env={"HOME": str(tmp)}))


def ldap_table(url: str, base: str, domains_: list[str]) -> str:
    """A [[discovery.ldap]] table."""
    listed = ", ".join(f'"{d}"' for d in domains_)
    return f'\n[[discovery.ldap]]\nurl = "{url}"\nbase = "{base}"\ndomains = [{listed}]\n'
