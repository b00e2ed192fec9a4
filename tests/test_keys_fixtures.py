"""keys-fixtures/ holds what its README promises: test-only OpenPGP keys and S/MIME certificates.

The expectations below are written out independently of keys-fixtures/generate.py, so a change
to the generator that breaks a fixture's purpose fails here. gpg, gpgsm and openssl serve as
oracles; nothing touches the network.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

FIXTURES = Path(__file__).resolve().parent.parent / "keys-fixtures"
PGP_DIR = FIXTURES / "openpgp"
SMIME_DIR = FIXTURES / "smime"
NOW = dt.datetime.now(dt.UTC)

# ---------------------------------------------------------------------------------------------
# OpenPGP
# ---------------------------------------------------------------------------------------------

PGP_USER_IDS = {
    "alice": ["Alice <alice@example.test>"],
    "bob": ["Bob <bob@example.test>"],
    "carol": ["Carol <carol@example.test>"],
    "dave": [
        "Dave <dave@example.test>",
        "Dave <dave@other.test>",
        "Dave Work <d.work@example.org>",
    ],
    "erin": ["Erin <erin@example.test>"],
    "frank": ["Frank <frank@example.test>"],
    "grace": ["Grace <grace@example.test>"],
    "heidi": ["Heidi <heidi@example.test>"],
    "mallory-foreign": ["Mallory <mallory@evil.test>"],
}
ENCRYPTABLE = ["alice", "bob", "carol", "dave", "mallory-foreign"]
NOT_ENCRYPTABLE = ["erin", "frank", "grace", "heidi"]
PUBLIC_ONLY = {"mallory-foreign"}
CAN_SIGN = ["alice", "bob", "carol", "dave", "erin", "frank"]
FPR_RE = re.compile(r"[0-9A-F]{40}")


@dataclass
class Key:
    """One pub or sub record of `gpg --with-colons --fixed-list-mode` output."""

    validity: str
    length: int
    algo: int
    expires: str
    caps: str
    curve: str
    fpr: str = ""


@dataclass
class Listing:
    """A primary key with its user IDs and subkeys."""

    primary: Key
    uids: list[tuple[str, str]] = field(default_factory=list)  # (validity, user ID)
    subs: list[Key] = field(default_factory=list)


def parse_colons(text: str) -> dict[str, Listing]:
    """Parse pub/sub/uid/fpr records into listings keyed by primary fingerprint."""
    listings: list[Listing] = []
    current: Key | None = None
    for line in text.splitlines():
        f = line.split(":")
        if f[0] in {"pub", "sub"}:
            current = Key(f[1], int(f[2]), int(f[3]), f[6], f[11], f[16])
            if f[0] == "pub":
                listings.append(Listing(current))
            else:
                listings[-1].subs.append(current)
        elif f[0] == "fpr" and current is not None:
            current.fpr = f[9]
            current = None
        elif f[0] == "uid":
            listings[-1].uids.append((f[1], f[9]))
    return {lst.primary.fpr: lst for lst in listings}


def gpg(home: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run gpg non-interactively on home; no passphrase is ever supplied but ''."""
    cmd = ["gpg", "--homedir", str(home), "--no-options", "--batch", "--no-tty"]
    cmd += ["--pinentry-mode", "loopback", "--passphrase", ""]
    return subprocess.run([*cmd, *args], input=stdin, capture_output=True, check=False, timeout=60)


def kill_agent(home: Path) -> None:
    """Stop whatever gpg-agent/dirmngr a test started in home."""
    subprocess.run(
        ["gpgconf", "--homedir", str(home), "--kill", "all"],
        capture_output=True,
        check=False,
        timeout=30,
    )


def new_home(base: Path) -> Path:
    """An empty GNUPGHOME (0700) under base."""
    home = base / "g"
    home.mkdir(mode=0o700)
    # gpgsm makes the agent protect an imported PKCS#12 key with its passphrase; the default
    # calibrated S2K count costs more than a second per import.
    (home / "gpg-agent.conf").write_text("s2k-count 65536\n")
    return home


@pytest.fixture(scope="module")
def pgp_meta() -> dict[str, dict[str, object]]:
    """openpgp/fixtures.json."""
    meta: dict[str, dict[str, object]] = json.loads((PGP_DIR / "fixtures.json").read_text())
    return meta


@pytest.fixture(scope="module")
def public_ring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Listing]]:
    """Every public fixture key imported into one fresh keyring, listed with the real clock."""
    home = new_home(tmp_path_factory.mktemp("pubring"))
    try:
        files = sorted(str(p) for p in PGP_DIR.glob("*.pub.asc"))
        imported = gpg(home, "--import", *files)
        assert imported.returncode == 0, imported.stderr.decode()
        listed = gpg(home, "--with-colons", "--fixed-list-mode", "--list-keys")
        assert listed.returncode == 0, listed.stderr.decode()
        yield parse_colons(listed.stdout.decode())
    finally:
        kill_agent(home)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A fresh GNUPGHOME whose agent is stopped afterwards."""
    h = new_home(tmp_path)
    yield h
    kill_agent(h)


def listing_of(ring: dict[str, Listing], meta: dict[str, dict[str, object]], name: str) -> Listing:
    """The imported listing of fixture `name`, found by its fixtures.json fingerprint."""
    fpr = meta[name]["fingerprint"]
    assert isinstance(fpr, str)
    return ring[fpr]


def test_pgp_fixture_set(pgp_meta: dict[str, dict[str, object]]) -> None:
    assert set(pgp_meta) == set(PGP_USER_IDS)
    for name in PGP_USER_IDS:
        has_secret = (PGP_DIR / f"{name}.sec.asc").exists()
        assert (PGP_DIR / f"{name}.pub.asc").exists()
        assert has_secret is (name not in PUBLIC_ONLY)
        assert pgp_meta[name]["secret"] is has_secret
    assert len(list(PGP_DIR.glob("*.asc"))) == 2 * len(PGP_USER_IDS) - len(PUBLIC_ONLY)


@pytest.mark.parametrize("name", sorted(PGP_USER_IDS))
def test_pub_file_matches_fixtures_json(
    name: str, home: Path, pgp_meta: dict[str, dict[str, object]]
) -> None:
    shown = gpg(
        home, "--with-colons", "--fixed-list-mode", "--show-keys", str(PGP_DIR / f"{name}.pub.asc")
    )
    assert shown.returncode == 0, shown.stderr.decode()
    listings = parse_colons(shown.stdout.decode())
    assert len(listings) == 1, "exactly one key per file"
    (fpr, listing), meta = next(iter(listings.items())), pgp_meta[name]
    assert FPR_RE.fullmatch(fpr)
    assert meta["fingerprint"] == fpr
    assert [uid for _, uid in listing.uids] == PGP_USER_IDS[name] == meta["user_ids"]
    assert meta["address"] == re.sub(r".*<(.*)>", r"\1", PGP_USER_IDS[name][0])
    assert meta["encryption_subkey_fingerprints"] == [s.fpr for s in listing.subs if "e" in s.caps]
    assert meta["usable_for_encryption"] is (name in ENCRYPTABLE)
    assert "PRIVATE" not in (PGP_DIR / f"{name}.pub.asc").read_text()


@pytest.mark.parametrize("name", ENCRYPTABLE)
def test_usable_keys_are_valid_and_encryption_capable(
    name: str, public_ring: dict[str, Listing], pgp_meta: dict[str, dict[str, object]]
) -> None:
    key = listing_of(public_ring, pgp_meta, name)
    assert key.primary.validity not in {"e", "r", "i", "d", "n"}
    assert "E" in key.primary.caps
    assert [s.validity for s in key.subs] == ["-"]
    assert [s.caps for s in key.subs] == ["e"]


@pytest.mark.parametrize("name", NOT_ENCRYPTABLE)
def test_unusable_keys_have_no_uppercase_e(
    name: str, public_ring: dict[str, Listing], pgp_meta: dict[str, dict[str, object]]
) -> None:
    assert "E" not in listing_of(public_ring, pgp_meta, name).primary.caps


def test_key_algorithms(
    public_ring: dict[str, Listing], pgp_meta: dict[str, dict[str, object]]
) -> None:
    for name in ("alice", "bob", "dave", "erin", "frank", "grace", "heidi"):
        key = listing_of(public_ring, pgp_meta, name)
        assert (key.primary.algo, key.primary.curve) == (22, "ed25519"), name  # EdDSA
        assert all((s.algo, s.curve) == (18, "cv25519") for s in key.subs), name  # ECDH
    carol = listing_of(public_ring, pgp_meta, "carol")
    assert (carol.primary.algo, carol.primary.length) == (1, 3072)
    assert [(s.algo, s.length) for s in carol.subs] == [(1, 3072)]


def test_erin_only_encryption_subkey_is_expired(
    public_ring: dict[str, Listing], pgp_meta: dict[str, dict[str, object]]
) -> None:
    erin = listing_of(public_ring, pgp_meta, "erin")
    assert erin.primary.validity == "-"
    assert erin.primary.expires == ""
    assert "S" in erin.primary.caps
    assert len(erin.subs) == 1
    sub = erin.subs[0]
    assert sub.caps == "e"
    assert sub.validity == "e"
    assert int(sub.expires) == int(dt.datetime(2025, 1, 2, tzinfo=dt.UTC).timestamp())
    assert int(sub.expires) < NOW.timestamp()


def test_frank_has_no_encryption_capable_key(
    public_ring: dict[str, Listing], pgp_meta: dict[str, dict[str, object]]
) -> None:
    frank = listing_of(public_ring, pgp_meta, "frank")
    assert frank.primary.validity == "-"
    assert frank.subs == []
    assert "e" not in frank.primary.caps.lower()
    assert "S" in frank.primary.caps


def test_grace_is_revoked(
    public_ring: dict[str, Listing], pgp_meta: dict[str, dict[str, object]]
) -> None:
    grace = listing_of(public_ring, pgp_meta, "grace")
    assert grace.primary.validity == "r"
    assert [s.validity for s in grace.subs] == ["r"]
    assert grace.uids[0][0] == "r"


def test_grace_public_file_carries_key_revocation(home: Path) -> None:
    packets = gpg(home, "--list-packets", str(PGP_DIR / "grace.pub.asc"))
    assert packets.returncode == 0
    text = packets.stdout.decode()
    assert "sigclass 0x20" in text  # key revocation signature
    assert "revocation reason 0x02" in text  # key material compromised


def test_heidi_whole_key_expired(
    public_ring: dict[str, Listing], pgp_meta: dict[str, dict[str, object]]
) -> None:
    heidi = listing_of(public_ring, pgp_meta, "heidi")
    assert heidi.primary.validity == "e"
    assert 0 < int(heidi.primary.expires) < NOW.timestamp()
    assert [s.validity for s in heidi.subs] == ["e"]
    assert heidi.subs[0].expires == "", "only the primary carries the expiry"


def test_dave_has_three_user_ids_first_is_primary(
    public_ring: dict[str, Listing], pgp_meta: dict[str, dict[str, object]]
) -> None:
    dave = listing_of(public_ring, pgp_meta, "dave")
    assert len(dave.uids) == 3
    # gpg lists the primary user ID first
    assert [uid for _, uid in dave.uids] == PGP_USER_IDS["dave"]
    assert all(validity == "-" for validity, _ in dave.uids)


@pytest.mark.parametrize("name", sorted(PGP_USER_IDS))
def test_gpg_encrypt_verdict(name: str, home: Path, pgp_meta: dict[str, dict[str, object]]) -> None:
    assert gpg(home, "--import", str(PGP_DIR / f"{name}.pub.asc")).returncode == 0
    fpr = str(pgp_meta[name]["fingerprint"])
    assert gpg(home, "--list-keys", fpr).returncode == 0, "the file holds the fixture's key"
    res = gpg(
        home, "--status-fd", "2", "--trust-model", "always", "--armor", "-e", "-r", fpr,
        stdin=b"hello\n",
    )  # fmt: skip
    if name in ENCRYPTABLE:
        assert res.returncode == 0, res.stderr.decode()
        assert res.stdout.startswith(b"-----BEGIN PGP MESSAGE-----")
    else:
        assert res.returncode != 0
        assert res.stdout == b""
        # gpg 2.2 gives reason 0 for expired, revoked and encryption-less keys alike
        assert re.search(rb"^\[GNUPG:\] INV_RECP \d+ " + fpr.encode(), res.stderr, re.M)
        assert b"[GNUPG:] FAILURE encrypt" in res.stderr


def test_secret_keys_are_unprotected_and_can_sign(
    home: Path, pgp_meta: dict[str, dict[str, object]]
) -> None:
    files = sorted(str(p) for p in PGP_DIR.glob("*.sec.asc"))
    assert gpg(home, "--import", *files).returncode == 0
    listed = gpg(home, "--with-colons", "--list-secret-keys")
    secret_fprs = set(re.findall(r"^fpr:+([0-9A-F]{40}):", listed.stdout.decode(), re.M))
    for name, meta in pgp_meta.items():
        assert (meta["fingerprint"] in secret_fprs) is (name not in PUBLIC_ONLY), name
    for name in CAN_SIGN:
        signed = gpg(home, "-u", str(pgp_meta[name]["fingerprint"]), "--sign", stdin=b"x")
        assert signed.returncode == 0, f"{name}: {signed.stderr.decode()}"


def test_alice_to_bob_round_trip(home: Path, pgp_meta: dict[str, dict[str, object]]) -> None:
    for f in ("alice.sec.asc", "bob.pub.asc"):
        assert gpg(home, "--import", str(PGP_DIR / f)).returncode == 0
    alice, bob = (str(pgp_meta[n]["fingerprint"]) for n in ("alice", "bob"))
    enc = gpg(
        home, "--trust-model", "always", "-u", alice, "-r", bob, "--sign", "--encrypt",
        stdin=b"secret text\n",
    )  # fmt: skip
    assert enc.returncode == 0, enc.stderr.decode()
    bob_home = home.parent / "bob"
    bob_home.mkdir(mode=0o700)
    try:
        for f in ("bob.sec.asc", "alice.pub.asc"):
            assert gpg(bob_home, "--import", str(PGP_DIR / f)).returncode == 0
        dec = gpg(bob_home, "--status-fd", "2", "--decrypt", stdin=enc.stdout)
    finally:
        kill_agent(bob_home)
    assert dec.returncode == 0, dec.stderr.decode()
    assert dec.stdout == b"secret text\n"
    assert b"[GNUPG:] DECRYPTION_OKAY" in dec.stderr
    assert f"[GNUPG:] VALIDSIG {alice} ".encode() in dec.stderr


# ---------------------------------------------------------------------------------------------
# S/MIME
# ---------------------------------------------------------------------------------------------

EMAIL = ExtendedKeyUsageOID.EMAIL_PROTECTION
SIGN_ENC = frozenset({"digital_signature", "key_encipherment"})
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
END = dt.datetime(2125, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Profile:
    """What the README promises about one end-entity certificate."""

    issuer: str
    address: str  # what tests ask for
    san: tuple[str, ...]
    key_usage: frozenset[str] = SIGN_ENC
    eku: tuple[x509.ObjectIdentifier, ...] | None = (EMAIL,)
    key_type: str = "rsa3072"
    not_before: dt.datetime = START
    not_after: dt.datetime = END


def profile(name: str, issuer: str = "ca", **kw: object) -> Profile:
    """Profile of `name`@example.test with the usual sign+encrypt defaults."""
    address = f"{name}@example.test"
    return Profile(issuer, address, (address,), **kw)  # type: ignore[arg-type]


USERS: dict[str, Profile] = {
    "alice": profile("alice"),
    "bob": profile("bob"),
    "signing-only": profile("sigonly", key_usage=frozenset({"digital_signature"})),
    "expired": profile(
        "expired",
        not_before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2021, 1, 1, tzinfo=dt.UTC),
    ),
    "wrong-address": Profile("ca", "wrongaddr@example.test", ("someone.else@example.test",)),
    "no-eku-ok": profile("noeku", eku=None),
    "bad-eku": profile("badeku", eku=(ExtendedKeyUsageOID.SERVER_AUTH,)),
    "ec": profile(
        "ec", key_type="ec-p256", key_usage=frozenset({"digital_signature", "key_agreement"})
    ),
    "untrusted": profile("untrusted", issuer="other-ca"),
    "chain-user": profile("chain", issuer="intermediate"),
}
CAS = {"ca": None, "intermediate": "ca", "other-ca": None}  # name -> issuer
KU_FIELDS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


def cert(name: str) -> x509.Certificate:
    """smime/NAME.pem."""
    return x509.load_pem_x509_certificate((SMIME_DIR / f"{name}.pem").read_bytes())


def issuer_name(name: str) -> str:
    """The fixture name of the CA that issued `name` (itself for a root)."""
    return USERS[name].issuer if name in USERS else (CAS[name] or name)


def key_usage_bits(c: x509.Certificate) -> tuple[bool, frozenset[str]]:
    """(critical, set bits) of the keyUsage extension."""
    ext = c.extensions.get_extension_for_class(x509.KeyUsage)
    return ext.critical, frozenset(f for f in KU_FIELDS if getattr(ext.value, f))


def openssl_verify(*args: str) -> subprocess.CompletedProcess[str]:
    """`openssl verify` run in smime/ (no network: there is no AIA/CRL to fetch)."""
    return subprocess.run(
        ["openssl", "verify", *args],
        cwd=SMIME_DIR,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def test_smime_fixture_set() -> None:
    meta = json.loads((SMIME_DIR / "fixtures.json").read_text())
    assert set(meta) == set(USERS) | set(CAS)
    for name in USERS:
        for suffix in (".pem", ".key", ".p12"):
            assert (SMIME_DIR / f"{name}{suffix}").is_file(), name + suffix
    for name in CAS:
        assert (SMIME_DIR / f"{name}.pem").is_file()
        assert (SMIME_DIR / f"{name}.key").is_file()
        assert not (SMIME_DIR / f"{name}.p12").exists()


@pytest.mark.parametrize("name", sorted(USERS))
def test_smime_fixtures_json(name: str) -> None:
    entry = json.loads((SMIME_DIR / "fixtures.json").read_text())[name]
    der = cert(name).public_bytes(serialization.Encoding.DER)
    assert entry["sha256"] == hashlib.sha256(der).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", entry["sha256"])
    assert entry["address"] == USERS[name].address
    assert entry["key_type"] == USERS[name].key_type
    assert entry["san"] == list(USERS[name].san)
    assert entry["purpose"]


@pytest.mark.parametrize("name", sorted([*USERS, *CAS]))
def test_signed_by_its_issuer(name: str) -> None:
    c, issuer = cert(name), cert(issuer_name(name))
    c.verify_directly_issued_by(issuer)  # raises on a wrong name or a bad signature
    assert c.signature_hash_algorithm is not None
    assert c.signature_hash_algorithm.name == "sha256"
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski.digest == x509.SubjectKeyIdentifier.from_public_key(issuer.public_key()).digest
    if issuer_name(name) != name:
        aki = c.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        assert aki.key_identifier == ski.digest


@pytest.mark.parametrize("name", ["untrusted", "other-ca"])
def test_not_signed_by_the_root(name: str) -> None:
    with pytest.raises((ValueError, InvalidSignature)):
        cert(name).verify_directly_issued_by(cert("ca"))


@pytest.mark.parametrize("name", sorted(CAS))
def test_ca_profile(name: str) -> None:
    c = cert(name)
    bc = c.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical
    assert bc.value.ca
    assert bc.value.path_length == (0 if name == "intermediate" else None)
    assert key_usage_bits(c) == (True, frozenset({"key_cert_sign", "crl_sign"}))
    assert (c.not_valid_before_utc, c.not_valid_after_utc) == (START, END)
    assert isinstance(c.public_key(), rsa.RSAPublicKey)
    assert c.public_key().key_size == 3072
    cn = c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert (cn == "e2email Test CA") is (name == "ca")


@pytest.mark.parametrize("name", sorted(USERS))
def test_user_profile(name: str) -> None:
    c, want = cert(name), USERS[name]
    bc = c.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical
    assert not bc.value.ca
    assert key_usage_bits(c) == (True, want.key_usage)
    san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert tuple(san.get_values_for_type(x509.RFC822Name)) == want.san
    assert not c.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)
    ekus = [e for e in c.extensions if isinstance(e.value, x509.ExtendedKeyUsage)]
    if want.eku is None:
        assert ekus == []
    else:
        assert [tuple(e.value) for e in ekus] == [want.eku]
    ski = c.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski.digest == x509.SubjectKeyIdentifier.from_public_key(c.public_key()).digest
    assert (c.not_valid_before_utc, c.not_valid_after_utc) == (want.not_before, want.not_after)


def test_wrong_address_does_not_name_the_asked_address() -> None:
    c = cert("wrong-address")
    san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "wrongaddr@example.test" not in san.get_values_for_type(x509.RFC822Name)
    pem = (SMIME_DIR / "wrong-address.pem").read_bytes()
    assert b"wrongaddr" not in c.public_bytes(serialization.Encoding.DER) + pem


def test_validity_now() -> None:
    assert cert("expired").not_valid_after_utc < NOW
    for name in [*USERS, *CAS]:
        if name != "expired":
            c = cert(name)
            assert c.not_valid_before_utc <= NOW < c.not_valid_after_utc, name


@pytest.mark.parametrize("name", sorted([*USERS, *CAS]))
def test_private_key_is_pkcs8_and_matches(name: str) -> None:
    pem = (SMIME_DIR / f"{name}.key").read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")  # PKCS#8, not encrypted
    key = serialization.load_pem_private_key(pem, password=None)
    c = cert(name)
    assert key.public_key() == c.public_key()
    if name == "ec":
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert isinstance(key.curve, ec.SECP256R1)
    else:
        assert isinstance(key, rsa.RSAPrivateKey)
        assert key.key_size == 3072


@pytest.mark.parametrize("name", sorted(USERS))
def test_pkcs12(name: str) -> None:
    data = (SMIME_DIR / f"{name}.p12").read_bytes()
    with pytest.raises(ValueError):
        pkcs12.load_pkcs12(data, b"wrong")
    p12 = pkcs12.load_pkcs12(data, b"test")
    assert p12.cert is not None
    assert p12.cert.certificate == cert(name)
    assert p12.cert.friendly_name == name.encode()
    assert p12.key is not None
    assert p12.key.public_key() == cert(name).public_key()
    chain, issuer = [], issuer_name(name)
    while True:
        chain.append(cert(issuer))
        if issuer_name(issuer) == issuer:
            break
        issuer = issuer_name(issuer)
    assert [c.certificate for c in p12.additional_certs] == chain


def test_chain_file() -> None:
    chain = x509.load_pem_x509_certificates((SMIME_DIR / "chain-user-chain.pem").read_bytes())
    assert chain == [cert("chain-user"), cert("intermediate")]


def test_fingerprint_helper_agrees_with_cryptography() -> None:
    c = cert("bob")
    der = c.public_bytes(serialization.Encoding.DER)
    assert c.fingerprint(hashes.SHA256()).hex() == hashlib.sha256(der).hexdigest()


@pytest.mark.parametrize(
    ("args", "ok"),
    [
        (["-CAfile", "ca.pem", "bob.pem"], True),
        (["-CAfile", "ca.pem", "alice.pem"], True),
        (["-CAfile", "ca.pem", "untrusted.pem"], False),
        (["-CAfile", "other-ca.pem", "untrusted.pem"], True),
        (["-CAfile", "ca.pem", "expired.pem"], False),
        (["-CAfile", "ca.pem", "chain-user.pem"], False),
        (["-CAfile", "ca.pem", "-untrusted", "intermediate.pem", "chain-user.pem"], True),
        (["-purpose", "smimeencrypt", "-CAfile", "ca.pem", "bob.pem"], True),
        (["-purpose", "smimeencrypt", "-CAfile", "ca.pem", "signing-only.pem"], False),
        (["-purpose", "smimesign", "-CAfile", "ca.pem", "signing-only.pem"], True),
        (["-purpose", "smimesign", "-CAfile", "ca.pem", "bad-eku.pem"], False),
        (["-purpose", "smimeencrypt", "-CAfile", "ca.pem", "no-eku-ok.pem"], True),
    ],
)
def test_openssl_verify(args: list[str], ok: bool) -> None:
    res = openssl_verify(*args)
    assert (res.returncode == 0) is ok, res.stdout + res.stderr
    if "expired.pem" in args:
        assert "certificate has expired" in res.stdout + res.stderr


def test_gpgsm_imports_p12(home: Path) -> None:
    res = subprocess.run(
        [
            *("gpgsm", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback"),
            *("--disable-dirmngr", "--passphrase-fd", "0", "--import", str(SMIME_DIR / "bob.p12")),
        ],
        input=b"test\n",
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr.decode()
    assert b"secret keys imported: 1" in res.stderr


# ---------------------------------------------------------------------------------------------
# README
# ---------------------------------------------------------------------------------------------


def test_readme_names_every_file_and_only_existing_ones() -> None:
    readme = (FIXTURES / "README.md").read_text()
    assert "Never a real key; private keys are committed on purpose" in readme
    mentioned = set(re.findall(r"`((?:openpgp|smime)/[\w.-]+)`", readme))
    present = {str(p.relative_to(FIXTURES)) for p in FIXTURES.glob("*/*") if p.is_file()}
    assert mentioned == present
    assert "keys-fixtures/generate.py" in readme
