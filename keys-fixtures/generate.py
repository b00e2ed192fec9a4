#!/usr/bin/env python3
"""Generate e2email's TEST-ONLY OpenPGP keys and S/MIME certificates.

Never a real key: every private key this script writes is committed on purpose, so that
tests can decrypt and sign. Nothing here may ever protect real mail.

Run from the project root:  .venv/bin/python keys-fixtures/generate.py

The script wipes and rewrites keys-fixtures/openpgp/ and keys-fixtures/smime/. OpenPGP keys
are made by gpg in a throwaway GNUPGHOME with the clock frozen at 2025-01-01 00:00:00 UTC, so
creation times, expiry times and signature times are identical on every run (the key
material is random). S/MIME certificates are made with `cryptography` and have fixed names,
serial numbers and validity periods. See README.md for what each file is for.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HERE = Path(__file__).resolve().parent
OPENPGP_DIR = HERE / "openpgp"
SMIME_DIR = HERE / "smime"

# ---------------------------------------------------------------------------------------------
# OpenPGP
# ---------------------------------------------------------------------------------------------

# gpg's clock while it makes keys ("!" freezes it): every key, self-signature and revocation
# is dated 2025-01-01 00:00:00 UTC; a "1d" expiry therefore ends on 2025-01-02.
FAKED_SYSTEM_TIME = "20250101T000000!"
# gpg refuses to replace a self-signature by one with the same timestamp ("Time conflict"),
# so the primary-UID flag on dave's key is set one second later.
FAKED_SYSTEM_TIME_PLUS_1S = "20250101T000001!"
GPG_BASE = ("gpg", "--no-options", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", "")
# Answers to `gpg --gen-revoke` prompts: sure? / reason 1 = "Key has been compromised" /
# description line / empty line ends the description / okay?
REVOKE_ANSWERS = b"y\n1\ne2email test fixture: revoked on purpose\n\ny\n"


@dataclass(frozen=True)
class PgpSpec:
    """One OpenPGP fixture key."""

    name: str
    user_ids: tuple[str, ...]
    kind: str
    primary_algo: str = "ed25519"
    subkey_algo: str | None = "cv25519"
    primary_expire: str = "never"
    subkey_expire: str = "never"
    revoke: bool = False
    secret: bool = True
    # what gpg must say about the exported public key when listed today
    usable_for_encryption: bool = True
    expected_validity: str = "-"  # field 2 of the pub record; "-" = valid, trust unknown
    subkey_validity: tuple[str, ...] = ("-",)  # field 2 of each sub record


PGP_SPECS: tuple[PgpSpec, ...] = (
    PgpSpec(
        "alice",
        ("Alice <alice@example.test>",),
        "usual sender: ed25519 primary [SC] + cv25519 subkey [E], no expiry",
    ),
    PgpSpec(
        "bob",
        ("Bob <bob@example.test>",),
        "usual recipient: ed25519 primary [SC] + cv25519 subkey [E], no expiry",
    ),
    PgpSpec(
        "carol",
        ("Carol <carol@example.test>",),
        "RSA-3072 primary [SC] + RSA-3072 subkey [E], no expiry",
        primary_algo="rsa3072",
        subkey_algo="rsa3072",
    ),
    PgpSpec(
        "dave",
        (
            "Dave <dave@example.test>",
            "Dave <dave@other.test>",
            "Dave Work <d.work@example.org>",
        ),
        "three user IDs on one ed25519/cv25519 key; primary UID dave@example.test",
    ),
    PgpSpec(
        "erin",
        ("Erin <erin@example.test>",),
        "valid primary, its ONLY encryption subkey expired on 2025-01-02",
        subkey_expire="1d",
        usable_for_encryption=False,
        subkey_validity=("e",),
    ),
    PgpSpec(
        "frank",
        ("Frank <frank@example.test>",),
        "sign/certify-only ed25519 primary, no encryption subkey at all",
        subkey_algo=None,
        usable_for_encryption=False,
        subkey_validity=(),
    ),
    PgpSpec(
        "grace",
        ("Grace <grace@example.test>",),
        "revoked key (reason: compromised); public key includes the revocation signature",
        revoke=True,
        usable_for_encryption=False,
        expected_validity="r",
        subkey_validity=("r",),
    ),
    PgpSpec(
        "heidi",
        ("Heidi <heidi@example.test>",),
        "whole key expired: primary expired 2025-01-02 (subkey itself has no expiry)",
        primary_expire="1d",
        usable_for_encryption=False,
        expected_validity="e",
        subkey_validity=("e",),
    ),
    PgpSpec(
        "mallory-foreign",
        ("Mallory <mallory@evil.test>",),
        "valid key whose only user ID is mallory@evil.test (no-matching-user-ID tests)",
        secret=False,
    ),
)


@dataclass
class ColonKey:
    """The interesting parts of one key in `gpg --with-colons` output."""

    fingerprint: str = ""
    validity: str = ""
    capabilities: str = ""
    user_ids: list[str] = field(default_factory=list)
    # (fingerprint, validity, capabilities) for each subkey
    subkeys: list[tuple[str, str, str]] = field(default_factory=list)


def parse_colons(text: str) -> list[ColonKey]:
    """Parse `gpg --with-colons` key listings (pub/sub/uid/fpr records)."""
    keys: list[ColonKey] = []
    last = ""
    for line in text.splitlines():
        rec = line.split(":")
        tag = rec[0]
        if tag == "pub":
            keys.append(ColonKey(validity=rec[1], capabilities=rec[11]))
        elif tag == "sub":
            keys[-1].subkeys.append(("", rec[1], rec[11]))
        elif tag == "uid":
            keys[-1].user_ids.append(rec[9])
        elif tag == "fpr" and last == "pub":
            keys[-1].fingerprint = rec[9]
        elif tag == "fpr" and last == "sub":
            _, validity, caps = keys[-1].subkeys[-1]
            keys[-1].subkeys[-1] = (rec[9], validity, caps)
        if tag in {"pub", "sub", "uid"}:
            last = tag
    return keys


class Gpg:
    """gpg on one throwaway home directory, always non-interactive and passphrase-less."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def run(
        self, *args: str, stdin: bytes | None = None, clock: str | None = FAKED_SYSTEM_TIME
    ) -> str:
        """Run gpg with its clock set to `clock` (None: the real clock); return stdout."""
        cmd = [*GPG_BASE, "--homedir", str(self.home)]
        if clock is not None:
            cmd += ["--faked-system-time", clock]
        if stdin is None:
            cmd.append("--batch")  # --gen-revoke refuses --batch; it reads --command-fd
        proc = subprocess.run(
            [*cmd, *args], input=stdin, capture_output=True, check=False, timeout=60
        )
        if proc.returncode != 0:
            raise RuntimeError(f"gpg {' '.join(args)} failed:\n{proc.stderr.decode()}")
        return proc.stdout.decode()

    def make_key(self, spec: PgpSpec) -> str:
        """Create the key described by spec; return its fingerprint."""
        status = self.run(
            "--status-fd",
            "1",
            "--quick-gen-key",
            spec.user_ids[0],
            spec.primary_algo,
            "sign,cert",
            spec.primary_expire,
        )
        created = [ln.split() for ln in status.splitlines() if "KEY_CREATED" in ln]
        fpr = created[0][3]
        for uid in spec.user_ids[1:]:
            self.run("--quick-add-uid", fpr, uid)
        if len(spec.user_ids) > 1:
            # With the frozen clock all self-signatures share one timestamp and gpg would then
            # call the LAST added user ID primary; flag the first one explicitly.
            self.run(
                "--quick-set-primary-uid", fpr, spec.user_ids[0], clock=FAKED_SYSTEM_TIME_PLUS_1S
            )
        if spec.subkey_algo:
            self.run("--quick-add-key", fpr, spec.subkey_algo, "encr", spec.subkey_expire)
        if spec.revoke:
            rev = self.run(
                "--command-fd", "0", "--armor", "--gen-revoke", fpr, stdin=REVOKE_ANSWERS
            )
            rev_file = self.home / f"{spec.name}.rev"
            rev_file.write_text(rev)
            self.run("--import", str(rev_file))
        return fpr

    def show(self, path: Path) -> ColonKey:
        """List a key file as gpg sees it today (real clock), without importing it.

        Use a Gpg on an EMPTY home: in the home that made the key, it shows as ultimately
        trusted (validity u).
        """
        out = self.run(
            "--with-colons", "--import-options", "show-only", "--import", str(path), clock=None
        )
        keys = parse_colons(out)
        if len(keys) != 1:
            raise RuntimeError(f"{path}: expected exactly one key, found {len(keys)}")
        return keys[0]


def check_pgp(spec: PgpSpec, key: ColonKey) -> None:
    """Fail loudly if gpg does not list the exported key the way the fixture promises."""
    problems = []
    if key.validity != spec.expected_validity:
        problems.append(f"validity {key.validity!r} != {spec.expected_validity!r}")
    if ("E" in key.capabilities) != spec.usable_for_encryption:
        problems.append(f"capabilities {key.capabilities!r}")
    if key.user_ids != list(spec.user_ids):
        problems.append(f"user IDs {key.user_ids}")
    if tuple(s[1] for s in key.subkeys) != spec.subkey_validity:
        problems.append(f"subkeys {key.subkeys}, expected validities {spec.subkey_validity}")
    if problems:
        raise RuntimeError(f"OpenPGP fixture {spec.name}: " + "; ".join(problems))


def pgp_entry(spec: PgpSpec, key: ColonKey) -> dict[str, object]:
    """The fixtures.json entry of one key."""
    address = spec.user_ids[0].split("<", 1)[1].rstrip(">")
    return {
        "fingerprint": key.fingerprint,
        "address": address,
        "user_ids": list(spec.user_ids),
        "encryption_subkey_fingerprints": [s[0] for s in key.subkeys if "e" in s[2]],
        "usable_for_encryption": spec.usable_for_encryption,
        "secret": spec.secret,
        "kind": spec.kind,
    }


def generate_openpgp() -> None:
    """Make every OpenPGP fixture in a throwaway GNUPGHOME and export it."""
    OPENPGP_DIR.mkdir()
    # A short path: gpg-agent's socket lives in the home directory and sun_path is 108 bytes.
    home = Path(tempfile.mkdtemp(prefix="e2k-", dir="/tmp"))
    gpg = Gpg(home)
    (home / "v").mkdir(mode=0o700)
    viewer = Gpg(home / "v")
    fixtures: dict[str, dict[str, object]] = {}
    try:
        for spec in PGP_SPECS:
            fpr = gpg.make_key(spec)
            pub = OPENPGP_DIR / f"{spec.name}.pub.asc"
            pub.write_text(gpg.run("--armor", "--export", fpr))
            if spec.secret:
                sec = OPENPGP_DIR / f"{spec.name}.sec.asc"
                sec.write_text(gpg.run("--armor", "--export-secret-keys", fpr))
            key = viewer.show(pub)
            check_pgp(spec, key)
            fixtures[spec.name] = pgp_entry(spec, key)
    finally:
        for h in (home, viewer.home):
            subprocess.run(
                ["gpgconf", "--homedir", str(h), "--kill", "all"], check=False, capture_output=True
            )
        shutil.rmtree(home, ignore_errors=True)
    write_json(OPENPGP_DIR / "fixtures.json", fixtures)


# ---------------------------------------------------------------------------------------------
# S/MIME
# ---------------------------------------------------------------------------------------------

START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
END = dt.datetime(2125, 1, 1, tzinfo=dt.UTC)
EXPIRED_START = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
EXPIRED_END = dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
EMAIL_PROTECTION = ExtendedKeyUsageOID.EMAIL_PROTECTION
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
P12_PASSWORD = b"test"
# SHA1/3DES PKCS#12 (PBES1) on purpose: gpgsm 2.2.40 fails on cryptography's default
# PBES2/AES-256/hmacWithSHA256 ("encryptedData error at pkcs5PBES2-params"); openssl 3 and
# cryptography read both, and a fixture's password protects nothing.
P12_ENCRYPTION = (
    serialization.PrivateFormat.PKCS12.encryption_builder()
    .kdf_rounds(2048)
    .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
    .hmac_hash(hashes.SHA1())  # noqa: S303 - gpgsm compatibility, see above
    .build(P12_PASSWORD)
)
SIGN_ENCIPHER = frozenset({"digital_signature", "key_encipherment"})
CA_USAGE = frozenset({"key_cert_sign", "crl_sign"})
KEY_USAGE_FIELDS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class CertSpec:
    """One S/MIME fixture certificate (a CA when is_ca)."""

    name: str
    serial: int
    issuer: str | None  # name of the issuing CA spec; None = self-signed root
    purpose: str
    address: str | None = None  # the address tests ask for
    san_override: tuple[str, ...] | None = None  # SAN rfc822Names if not just (address,)
    common_name: str = ""  # default: "NAME (e2email test)"
    key_type: str = "rsa3072"
    key_usage: frozenset[str] = SIGN_ENCIPHER
    eku: tuple[x509.ObjectIdentifier, ...] | None = (EMAIL_PROTECTION,)
    is_ca: bool = False
    path_length: int | None = None
    not_before: dt.datetime = START
    not_after: dt.datetime = END

    @property
    def san(self) -> tuple[str, ...]:
        """The rfc822Name entries actually written into the certificate."""
        if self.san_override is not None:
            return self.san_override
        return () if self.address is None else (self.address,)

    @property
    def cn(self) -> str:
        """The subject commonName."""
        return self.common_name or f"{self.name} (e2email test)"


def ca(
    name: str,
    common_name: str,
    serial: int,
    purpose: str,
    issuer: str | None,
    path_length: int | None = None,
) -> CertSpec:
    """A CA certificate spec: keyCertSign + cRLSign, no EKU, no SAN."""
    return CertSpec(
        name=name,
        serial=serial,
        issuer=issuer,
        purpose=purpose,
        common_name=common_name,
        key_usage=CA_USAGE,
        eku=None,
        is_ca=True,
        path_length=path_length,
    )


CERT_SPECS: tuple[CertSpec, ...] = (  # issuers before the certificates they sign
    ca("ca", "e2email Test CA", 0x0E2E0001, "root CA: the S/MIME trust anchor", None),
    ca(
        "intermediate",
        "e2email Test Intermediate CA",
        0x0E2E0002,
        "intermediate CA (pathLen 0) signed by the root; issues chain-user",
        "ca",
        path_length=0,
    ),
    ca(
        "other-ca",
        "e2email Other CA (NOT a trust anchor)",
        0x0E2E0003,
        "unrelated root that issues untrusted; never configure it as a trust anchor",
        None,
    ),
    CertSpec("alice", 0x0E2E1001, "ca", "usual sender: sign + encrypt", "alice@example.test"),
    CertSpec("bob", 0x0E2E1002, "ca", "usual recipient: sign + encrypt", "bob@example.test"),
    CertSpec(
        "signing-only",
        0x0E2E1003,
        "ca",
        "keyUsage digitalSignature only: must not be encrypted to",
        "sigonly@example.test",
        key_usage=frozenset({"digital_signature"}),
    ),
    CertSpec(
        "expired",
        0x0E2E1004,
        "ca",
        "expired: valid 2020-01-01 .. 2021-01-01 only",
        "expired@example.test",
        not_before=EXPIRED_START,
        not_after=EXPIRED_END,
    ),
    CertSpec(
        "wrong-address",
        0x0E2E1005,
        "ca",
        "offered for wrongaddr@example.test but its only SAN is someone.else@example.test",
        "wrongaddr@example.test",
        san_override=("someone.else@example.test",),
    ),
    CertSpec(
        "no-eku-ok",
        0x0E2E1006,
        "ca",
        "no EKU extension at all: acceptable (EKU is checked only if present)",
        "noeku@example.test",
        eku=None,
    ),
    CertSpec(
        "bad-eku",
        0x0E2E1007,
        "ca",
        "EKU serverAuth only: must be refused",
        "badeku@example.test",
        eku=(SERVER_AUTH,),
    ),
    CertSpec(
        "ec",
        0x0E2E1008,
        "ca",
        "EC P-256 key: keyUsage digitalSignature + keyAgreement",
        "ec@example.test",
        key_type="ec-p256",
        key_usage=frozenset({"digital_signature", "key_agreement"}),
    ),
    CertSpec(
        "untrusted",
        0x0E2E1009,
        "other-ca",
        "valid-looking certificate issued by other-ca: must fail chain validation",
        "untrusted@example.test",
    ),
    CertSpec(
        "chain-user",
        0x0E2E100A,
        "intermediate",
        "issued by the intermediate; chain-user-chain.pem = cert + intermediate",
        "chain@example.test",
    ),
)


@dataclass(frozen=True)
class Issued:
    """A generated certificate with its private key."""

    spec: CertSpec
    key: PrivateKey
    cert: x509.Certificate


def new_key(key_type: str) -> PrivateKey:
    """A fresh private key of the given fixture key type."""
    if key_type == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=3072)


def key_usage(names: frozenset[str]) -> x509.KeyUsage:
    """A KeyUsage extension with exactly the named bits set."""
    unknown = names - set(KEY_USAGE_FIELDS)
    if unknown:
        raise ValueError(f"unknown key usage {unknown}")
    return x509.KeyUsage(**{f: f in names for f in KEY_USAGE_FIELDS})


def extensions(
    spec: CertSpec, key: PrivateKey, issuer: Issued | None
) -> list[tuple[x509.ExtensionType, bool]]:
    """(extension, critical) pairs for spec, per RFC 5280 and RFC 8550."""
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    exts: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=spec.is_ca, path_length=spec.path_length), True),
        (key_usage(spec.key_usage), True),
        (ski, False),
    ]
    if issuer is not None:
        issuer_ski = issuer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski.value)
        exts.append((aki, False))
    if spec.san:
        exts.append((x509.SubjectAlternativeName([x509.RFC822Name(a) for a in spec.san]), False))
    if spec.eku is not None:
        exts.append((x509.ExtendedKeyUsage(list(spec.eku)), False))
    return exts


def issue(spec: CertSpec, issuer: Issued | None) -> Issued:
    """Generate a key and a certificate for spec, signed by issuer (or self-signed)."""
    key = new_key(spec.key_type)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "e2email tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, spec.cn),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(spec.serial)
        .not_valid_before(spec.not_before)
        .not_valid_after(spec.not_after)
    )
    for ext, critical in extensions(spec, key, issuer):
        builder = builder.add_extension(ext, critical=critical)
    signer = key if issuer is None else issuer.key
    return Issued(spec, key, builder.sign(signer, hashes.SHA256()))


def issuer_chain(item: Issued, done: dict[str, Issued]) -> list[x509.Certificate]:
    """The CA certificates above item, nearest first, up to and including the root."""
    chain = []
    name = item.spec.issuer
    while name is not None:
        chain.append(done[name].cert)
        name = done[name].spec.issuer
    return chain


def write_issued(item: Issued, chain: Sequence[x509.Certificate]) -> None:
    """Write NAME.pem, NAME.key and, for end entities, NAME.p12."""
    name = item.spec.name
    (SMIME_DIR / f"{name}.pem").write_bytes(item.cert.public_bytes(serialization.Encoding.PEM))
    key_pem = item.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (SMIME_DIR / f"{name}.key").write_bytes(key_pem)
    if item.spec.is_ca:
        return
    p12 = pkcs12.serialize_key_and_certificates(
        name.encode(),
        item.key,
        item.cert,
        list(chain),
        P12_ENCRYPTION,
    )
    (SMIME_DIR / f"{name}.p12").write_bytes(p12)


def smime_entry(item: Issued) -> dict[str, object]:
    """The fixtures.json entry of one certificate."""
    spec = item.spec
    der = item.cert.public_bytes(serialization.Encoding.DER)
    return {
        "address": spec.address,
        "sha256": hashlib.sha256(der).hexdigest(),
        "key_type": spec.key_type,
        "purpose": spec.purpose,
        "san": list(spec.san),
        "issuer": spec.issuer,
        "ca": spec.is_ca,
        "not_before": spec.not_before.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "not_after": spec.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def generate_smime() -> None:
    """Make the CAs and every S/MIME fixture certificate."""
    SMIME_DIR.mkdir()
    done: dict[str, Issued] = {}
    for spec in CERT_SPECS:
        item = issue(spec, None if spec.issuer is None else done[spec.issuer])
        done[spec.name] = item
        write_issued(item, issuer_chain(item, done))
    chain_user = done["chain-user"]
    (SMIME_DIR / "chain-user-chain.pem").write_bytes(
        b"".join(
            c.public_bytes(serialization.Encoding.PEM)
            for c in (chain_user.cert, done["intermediate"].cert)
        )
    )
    write_json(SMIME_DIR / "fixtures.json", {n: smime_entry(i) for n, i in done.items()})


# ---------------------------------------------------------------------------------------------


def write_json(path: Path, data: object) -> None:
    """Write data as stable, diff-friendly JSON."""
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def main() -> None:
    """Wipe and regenerate keys-fixtures/openpgp and keys-fixtures/smime."""
    started = time.monotonic()
    for out in (OPENPGP_DIR, SMIME_DIR):
        shutil.rmtree(out, ignore_errors=True)
    generate_openpgp()
    generate_smime()
    files = sorted(p.relative_to(HERE) for p in HERE.glob("*/*") if p.is_file())
    print(f"wrote {len(files)} files in {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()
