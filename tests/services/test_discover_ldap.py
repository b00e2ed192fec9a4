"""Discovery through LDAP (slapd with the GnuPG keyserver schema); the keys CLI."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from e2email.adapters import ldap as ldap_adapter
from e2email.cli.keys import keys_group
from e2email.model import Address, Protocol
from e2email.services.discovery import discover
from tests.services.discover_helpers import (
    ZONE,
    World,
    build_world,
    fixture_key,
    ldap_table,
    publish,
    runtime,
)
from tests.services.protect_helpers import SMIME_ALICE, Workdir, openssl_decrypt
from tests.support import OPENPGP, SMIME, Cli, account_toml, cli_env, fingerprint, write_config


@pytest.fixture(scope="module")
def world(stack: Any) -> Iterator[World]:
    w = build_world(stack)
    _load_directory(stack)
    _load_chain_entries(stack)
    yield w
    w.keys.close()


def _der(name: str) -> bytes:
    return x509.load_pem_x509_certificate((SMIME / f"{name}.pem").read_bytes()).public_bytes(
        Encoding.DER
    )


CHAIN = Address("chain", "example.test")  # keys-fixtures chain-user: issued by the intermediate
CHAIN_LAYOUTS = {
    # how a directory can hand out the intermediate along with chain@'s certificate
    "multi": [("userCertificate;binary", ["chain-user", "intermediate"])],
    "pkiCA": [
        ("userCertificate;binary", ["chain-user"]),
        ("cACertificate;binary", ["intermediate"]),
    ],
    "p7": [("userSMIMECertificate", ["chain-user+intermediate"])],
    "alone": [("userCertificate;binary", ["chain-user"])],  # no intermediate: untrusted
}


def chain_base(stack: Any, layout: str) -> str:
    return f"ou=chain-{layout},{stack.ldap.base}"


def _load_chain_entries(stack: Any) -> None:
    """One entry for chain@example.test per layout, each under an OU of its own."""
    from cryptography.hazmat.primitives.serialization import pkcs7

    bundle = pkcs7.serialize_certificates(
        [x509.load_der_x509_certificate(_der(n)) for n in ("chain-user", "intermediate")],
        Encoding.DER,
    )
    ldif = ""
    for layout, attributes in CHAIN_LAYOUTS.items():
        base = chain_base(stack, layout)
        ldif += f"dn: {base}\nobjectClass: organizationalUnit\nou: chain-{layout}\n\n"
        ldif += f"dn: cn=Chain,{base}\nobjectClass: inetOrgPerson\n"
        ldif += "objectClass: pkiCA\n" if layout == "pkiCA" else ""
        ldif += "cn: Chain\nsn: Example\nmail: chain@example.test\n"
        for attribute, names in attributes:
            for name in names:
                blob = bundle if "+" in name else _der(name)
                ldif += f"{attribute}:: {base64.b64encode(blob).decode()}\n"
        ldif += "\n"
    try:
        stack.ldap.add(ldif)
    except Exception as e:  # already there from an earlier module of this session
        if "Already exists" not in str(e) and "68" not in str(e):
            raise


def _load_directory(stack: Any) -> None:
    # pgpKey is an IA5String: the armored key (base64 in LDIF because of its newlines)
    pgp = base64.b64encode((OPENPGP / "carol.pub.asc").read_bytes()).decode()
    cert = x509.load_pem_x509_certificate((SMIME / "bob.pem").read_bytes())
    der = base64.b64encode(cert.public_bytes(Encoding.DER)).decode()
    keyid = fingerprint("carol")[-16:]
    ldif = f"""\
dn: pgpCertID={keyid},{stack.ldap.pgp_base}
objectClass: pgpKeyInfo
pgpCertID: {keyid}
pgpKey:: {pgp}
gpgMailbox: carol@example.test
pgpUserID: Carol <carol@example.test>

dn: cn=Bob,{stack.ldap.people_base}
objectClass: inetOrgPerson
cn: Bob
sn: Example
mail: bob@example.test
userCertificate;binary:: {der}
"""
    try:
        stack.ldap.add(ldif)
    except Exception as e:  # already there from an earlier module of this session
        if "Already exists" not in str(e) and "68" not in str(e):
            raise


def ldap_rt(tmp: Path, stack: Any, url: str | None = None) -> Any:
    table = ldap_table(url or stack.ldap.url, stack.ldap.base, ["example.test"])
    return runtime(tmp, stack, methods='["ldap"]', extra=table)


def test_ldap_openpgp_key_found(world: World, tmp_path: Path) -> None:
    rt = ldap_rt(tmp_path, world.stack)
    carol = Address("carol", "example.test")
    found = discover.discover(rt, [carol])[carol]
    assert found.key is not None
    assert (found.key.fingerprint, found.key.source) == (fingerprint("carol"), "ldap")


@pytest.mark.parametrize("ldaps", [False, True])
def test_ldap_smime_certificate_found(world: World, tmp_path: Path, ldaps: bool) -> None:
    stack = world.stack
    rt = ldap_rt(tmp_path, stack, stack.ldap.ldaps_url if ldaps else stack.ldap.url)
    bob = Address("bob", "example.test")
    found = discover.discover(rt, [bob], protocols=[Protocol.SMIME])[bob]
    assert found.key is not None
    data = json.loads((SMIME / "fixtures.json").read_text())
    assert found.key.fingerprint == data["bob"]["sha256"]
    assert (found.key.protocol, found.key.source) == (Protocol.SMIME, "ldap")


@pytest.mark.parametrize("layout", ["multi", "pkiCA", "p7"])
def test_ldap_certificate_keeps_the_intermediates_it_needs(
    world: World, tmp_path: Path, layout: str
) -> None:
    stack = world.stack
    table = ldap_table(stack.ldap.url, chain_base(stack, layout), ["example.test"])
    rt = runtime(tmp_path, stack, methods='["ldap"]', extra=table)
    found = discover.discover(rt, [CHAIN], protocols=[Protocol.SMIME])[CHAIN]
    assert found.key is not None, found.rejected
    data = json.loads((SMIME / "fixtures.json").read_text())
    assert found.key.fingerprint == data["chain-user"]["sha256"]
    assert found.key.material is not None
    kept = x509.load_pem_x509_certificates(found.key.material)
    assert [c.public_bytes(Encoding.DER) for c in kept] == [
        _der("chain-user"),
        _der("intermediate"),
    ]
    again = discover.discover(rt, [CHAIN], protocols=[Protocol.SMIME])[CHAIN]
    assert again.key is not None and again.key.source == "cache"  # still valid from the store


def test_send_to_a_certificate_found_in_ldap_through_an_intermediate(
    world: World, tmp_path: Path, gpg_home: Any
) -> None:
    # the intermediate is nowhere but in the directory: protect's last check needs it too
    stack = world.stack
    table = ldap_table(stack.ldap.url, chain_base(stack, "pkiCA"), ["example.test"])
    body = account_toml(stack) + SMIME_ALICE
    body += f'[discovery]\nmethods = ["ldap"]\n{table}\n[policy]\nencrypt = "required"\n'
    home = gpg_home(secret=["alice"])
    cli = Cli(write_config(tmp_path, stack, home.path, body), cli_env(tmp_path))
    work = Workdir()
    try:
        for round_ in ("network", "cache"):
            before = stack.sink.snapshot()
            marker = f"chain-{round_}-{uuid.uuid4().hex}"
            p = cli("send", "--from", "alice@example.test", "--to", str(CHAIN), "--subject", "s",
                    stdin=marker.encode())  # fmt: skip
            assert p.returncode == 0, p.stderr.decode()
            [raw] = stack.sink.wait_new(before, 1)
            assert marker.encode() not in raw
            d = openssl_decrypt(raw, "chain-user", work)
            assert d.returncode == 0, d.stderr.decode()
            assert marker.encode() in d.stdout
    finally:
        work.close()


def test_ldap_certificate_without_its_intermediate_is_untrusted(
    world: World, tmp_path: Path
) -> None:
    stack = world.stack
    table = ldap_table(stack.ldap.url, chain_base(stack, "alone"), ["example.test"])
    rt = runtime(tmp_path, stack, methods='["ldap"]', extra=table)
    found = discover.discover(rt, [CHAIN], protocols=[Protocol.SMIME])[CHAIN]
    assert found.key is None
    reason = (
        'untrusted: no issuer among the trust anchors (issued by "e2email Test Intermediate CA")'
    )
    assert [(r.source, r.reason) for r in found.rejected] == [("ldap", reason)]


def test_ldap_host_name_is_verified(world: World, tmp_path: Path) -> None:
    # ldapalias.kd.test points at slapd, whose certificate names ldap.example.test only
    rt = ldap_rt(tmp_path, world.stack, f"ldap://ldapalias.{ZONE}:389")
    carol = Address("carol", "example.test")
    found = discover.discover(rt, [carol])[carol]
    assert found.key is None
    assert [(r.source, r.reason) for r in found.rejected] == [("ldap", "tls-error")]


@pytest.mark.parametrize(
    "local", ["*", "carol*", "*)(mail=*", "carol)(|(mail=*", "\\2a", "carol\0", "(", ")"]
)
def test_ldap_filter_injection_is_harmless(world: World, local: str) -> None:
    stack = world.stack
    from e2email.adapters import tls
    from e2email.adapters.dns import Resolver

    found = ldap_adapter.lookup(
        stack.ldap.url,
        stack.ldap.base,
        Address(local, "example.test"),
        resolver=Resolver((stack.nameserver,)),
        context=tls.client_context(stack.ca_pem),
    )
    assert found == ldap_adapter.Found()


def test_cli_keys_locate_list_forget(world: World, tmp_path: Path) -> None:
    stack = world.stack
    publish(stack, Address("bob", "example.test"), fixture_key("bob"))
    publish(stack, Address("heidi", "example.test"), fixture_key("heidi"))
    cfg = tmp_path / "config.toml"
    rt = runtime(tmp_path, stack)  # writes nothing; reuse its text for the CLI
    del rt
    cfg.write_text(_config_text(tmp_path, stack))
    runner = CliRunner()
    out = runner.invoke(
        keys_group,
        ["locate", "--json", "bob@example.test", "heidi@example.test"],
        obj=str(cfg),
    )
    assert out.exit_code == 67, out.output  # heidi has no usable key
    bob, heidi = json.loads(out.output)
    assert bob["address"] == "bob@example.test"
    assert bob["keys"][0]["fingerprint"] == fingerprint("bob")
    assert bob["keys"][0]["source"] == "wkd-advanced"
    assert {"protocol", "fingerprint", "source", "user_ids", "expires"} <= set(bob["keys"][0])
    assert heidi["keys"] == []
    assert heidi["rejected"][0]["source"] == "wkd-advanced"
    assert heidi["rejected"][0]["reason"] == "expired"
    listed = runner.invoke(keys_group, ["list", "--json"], obj=str(cfg))
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.output)
    assert [k["fingerprint"] for k in data["keys"]] == [fingerprint("bob")]
    assert data["pins"] == []  # a lookup pins nothing (tests/services/test_tofu_stack.py)
    forgot = runner.invoke(keys_group, ["forget", "bob@example.test"], obj=str(cfg))
    assert forgot.exit_code == 0 and "forgot" in forgot.output
    listed = json.loads(runner.invoke(keys_group, ["list", "--json"], obj=str(cfg)).output)
    assert listed == {"keys": [], "pins": []}
    bad = runner.invoke(keys_group, ["locate", "-oQ/tmp/x"], obj=str(cfg))
    assert bad.exit_code != 0


def _config_text(tmp: Path, stack: Any) -> str:
    home = tmp / "gnupg"
    return f"""\
[openpgp]
gnupghome = "{home}"
[network]
nameservers = ["{stack.nameserver}"]
ca_file = "{stack.ca_pem}"
[discovery]
methods = ["local", "wkd"]
store_dir = "{tmp / "store"}"
cache_dir = "{tmp / "cache"}"
"""


class Listener:
    """A TCP port that records whether anyone connected (where a referral points)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received = b""
        self.connected = False

    def drain(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except TimeoutError:
            return
        self.connected = True
        with conn:
            conn.settimeout(1)
            with contextlib.suppress(OSError):
                self.received = conn.recv(65536)


def _ldap_tool(stack: Any, tool: str, ldif: str) -> None:
    (stack.ldap.dir / "audit.ldif").write_text(ldif)
    subprocess.run(
        [tool, "-x", "-M", "-H", f"ldap://{stack.ldap.ip}:389", "-D", stack.ldap.bind_dn,
         "-y", str(stack.ldap.dir / "password"), "-f", str(stack.ldap.dir / "audit.ldif")],
        check=True, capture_output=True, timeout=20,
    )  # fmt: skip


def test_referrals_are_never_chased_with_credentials(world: World, tmp_path: Path) -> None:
    # security.md item 10: a directory that answers with a referral (a continuation inside the
    # search, or the base itself moved elsewhere) must not get e2email to bind, credentials
    # and all, to the server it names.
    stack = world.stack
    elsewhere = Listener()
    moved = f"ou=moved,{stack.ldap.base}"
    ref = f"ldap://127.0.0.1:{elsewhere.port}/{stack.ldap.people_base}"
    _ldap_tool(stack, "ldapadd", f"dn: {moved}\nobjectClass: referral\n"
               f"objectClass: extensibleObject\nou: moved\nref: {ref}\n")  # fmt: skip
    password_file = tmp_path / "bind-password"
    password_file.write_text(stack.ldap.bind_password)
    bob = Address("bob", "example.test")
    try:
        for base, found_key in ((stack.ldap.base, True), (moved, False)):
            table = (
                ldap_table(stack.ldap.url, base, ["example.test"])
                + f'bind_dn = "{stack.ldap.bind_dn}"\npassword_command = "cat {password_file}"\n'
            )
            rt = runtime(tmp_path / base.split(",")[0], stack, methods='["ldap"]', extra=table)
            found = discover.discover(rt, [bob], protocols=[Protocol.SMIME])[bob]
            assert (found.key is not None) is found_key, found.rejected
    finally:
        _ldap_tool(stack, "ldapdelete", f"{moved}\n")
    elsewhere.drain()
    elsewhere.sock.close()
    assert not elsewhere.connected, elsewhere.received


def test_keys_refresh_asks_the_directory_again(world: World, tmp_path: Path) -> None:
    """``keys refresh`` of a key found in LDAP asks the same directory (slapd) again."""
    from e2email.services.discovery import refresh

    rt = ldap_rt(tmp_path, world.stack)
    carol = Address("carol", "example.test")
    assert discover.discover(rt, [carol])[carol].key is not None
    [r] = refresh.refresh(ldap_rt(tmp_path, world.stack)).results
    assert (r.fingerprint, r.source, r.status) == (fingerprint("carol"), "ldap", "unchanged")
    assert r.where.startswith("ldap://")
