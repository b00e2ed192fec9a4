"""Write the seed corpora of tests/fuzz/corpus/ from real inputs (run once; the output is committed).

    .venv/bin/python -m tests.fuzz.make_seeds

Sources: the RFC examples and real-server samples the unit tests already hold (their module-level
constants), the committed key fixtures, and CMS structures made by openssl and NSS's cmsutil.
Existing files are kept (crashers found by ``make fuzz`` live beside the seeds); a seed is named
by the SHA-256 of its bytes, so re-running adds only what is new.
"""

from __future__ import annotations

import hashlib
import importlib
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from tests.fuzz.targets import CORPUS, FIXTURES

SMIME = FIXTURES / "smime"
OPENPGP = FIXTURES / "openpgp"


def constants(module: str, *, prefix: bytes = b"") -> list[bytes]:
    """The str/bytes constants (UPPER_CASE names) of a test module, as bytes."""
    mod = importlib.import_module(module)
    out = []
    for name, value in vars(mod).items():
        if name.isupper() and isinstance(value, str | bytes) and value:
            out.append(prefix + (value.encode() if isinstance(value, str) else value))
    return out


MESSAGES = [
    b"From: Alice <alice@example.test>\r\nTo: Bob <bob@example.test>, carol@example.test\r\n"
    b"Cc: =?utf-8?q?D=C3=A4ve?= <dave@example.test>\r\nBcc: erin@example.test\r\n"
    b"Subject: Hello\r\nMessage-ID: <1@example.test>\r\nDate: Thu, 04 Mar 2021 05:06:07 +0000\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHi Bob.\r\n",
    b"From: alice@example.test\nTo: bob@example.test\nSubject: attachment\nMIME-Version: 1.0\n"
    b'Content-Type: multipart/mixed; boundary="XX"\n\n--XX\nContent-Type: text/plain\n\nbody\n'
    b"--XX\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n"
    b"Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf\n\nAAEC\n--XX--\n",
    b"From: alice@example.test\nTo: bob@example.test\nSubject: alternative\nMIME-Version: 1.0\n"
    b'Content-Type: multipart/alternative; boundary="a"\n\n--a\nContent-Type: text/plain\n\nx\n'
    b'--a\nContent-Type: multipart/related; boundary="r"\n\n--r\nContent-Type: text/html\n\n'
    b"<p>x</p>\n--r--\n--a--\n",
]

PGP_MIME = (
    b"From: Alice <alice@example.test>\r\nTo: Bob <bob@example.test>\r\nSubject: [...]\r\n"
    b"Message-ID: <2@example.test>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b"\r\n'
    b"\r\n--b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n--b\r\n"
    b'Content-Type: application/octet-stream; name="encrypted.asc"\r\n\r\n'
)

PAYLOADS = [
    b'Content-Type: text/plain; charset=utf-8; hp="cipher"\r\nSubject: Real subject\r\n'
    b"HP-Outer: Subject: [...]\r\nHP-Outer: From: alice@example.test\r\nFrom: alice@example.test\r\n"
    b"\r\nThe body.\r\n",
    b'Content-Type: multipart/signed; protocol="application/pgp-signature"; micalg=pgp-sha256;'
    b' boundary="s"; hp="cipher"\r\nSubject: Signed\r\n\r\n--s\r\nContent-Type: text/plain\r\n\r\n'
    b"signed\r\n--s\r\nContent-Type: application/pgp-signature\r\n\r\n-----BEGIN PGP SIGNATURE-----"
    b"\r\n\r\nxx\r\n-----END PGP SIGNATURE-----\r\n--s--\r\n",
    b'Content-Type: multipart/mixed; boundary="m"\r\n\r\n--m\r\nContent-Type: text/rfc822-headers;'
    b' protected-headers="v1"\r\n\r\nSubject: legacy display\r\n--m\r\nContent-Type: text/plain\r\n'
    b"\r\nbody\r\n--m--\r\n",
]


def openssl(*args: str, data: bytes = b"") -> bytes:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


def cms_seeds() -> tuple[list[bytes], list[bytes]]:
    """(signed, enveloped) CMS DER made by openssl the ways mail clients make them."""
    content = b"Content-Type: text/plain\r\n\r\nhello\r\n"
    alice = ["-signer", str(SMIME / "alice.pem"), "-inkey", str(SMIME / "alice.key")]
    signed = [
        openssl("cms", "-sign", *alice, "-outform", "DER", "-nodetach", data=content),
        openssl("cms", "-sign", *alice, "-outform", "DER", data=content),
        openssl("crl2pkcs7", "-nocrl", "-certfile", str(SMIME / "alice.pem"), "-outform", "DER"),
    ]
    bob = str(SMIME / "bob.pem")
    enveloped = [
        openssl("cms", "-encrypt", "-aes-256-cbc", "-outform", "DER", bob, data=content),
        openssl("cms", "-encrypt", "-aes-256-gcm", "-outform", "DER", bob, data=content),
        openssl(
            "cms",
            "-encrypt",
            "-aes-128-cbc",
            "-recip",
            bob,
            "-keyopt",
            "rsa_padding_mode:oaep",
            "-outform",
            "DER",
            data=content,
        ),
        openssl(
            "cms",
            "-encrypt",
            "-aes-256-cbc",
            "-outform",
            "DER",
            str(SMIME / "ec.pem"),
            data=content,
        ),
    ]
    return signed, enveloped


def gpg_colons() -> list[bytes]:
    with tempfile.TemporaryDirectory(prefix="e2f-", dir="/tmp") as home:
        gpg = ["gpg", "--homedir", home, "--batch", "--with-colons", "--fixed-list-mode"]
        keys = [str(p) for p in sorted(OPENPGP.glob("*.pub.asc"))]
        out = [subprocess.run([*gpg, "--import-options", "show-only", "--import", k],
                              capture_output=True, check=False).stdout for k in keys]  # fmt: skip
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], check=False)
    return [o for o in out if o]


def all_seeds() -> dict[str, Iterable[bytes]]:
    signed, enveloped = cms_seeds()
    pubs = [p.read_bytes() for p in sorted(OPENPGP.glob("*.pub.asc"))]
    pems = [p.read_bytes() for p in sorted(SMIME.glob("*.pem"))]
    return {
        "message": MESSAGES,
        "sendmail_argv": [
            b"-oi\0-t",
            b"-f\0alice@example.test\0bob@example.test",
            b"-F\0Alice A.\0-i\0--\0bob@example.test",
            b"-bp",
            b"-odq\0-oem\0x@y.test",
            b"-Ac\0-N\0never\0-R\0hdrs\0-V\0id\0b@example.test",
        ],
        "sendmail_stdin": [
            MESSAGES[0],
            b"Subject: no from\n\nbody\n.\nafter dot\n",
            b"From: alice\nTo: b@example.test\n\n..leading dot\n",
        ],
        "addresses": [
            b"Bob <bob@example.test>",
            b'"Bob, Jr." <bob@example.test>',
            b"=?utf-8?q?B=C3=B6b?= <bob@example.test>",
            b"bob@[127.0.0.1]",
            b'"a b"@example.test',
            b"bob@example.test (comment)",
            b"undisclosed-recipients:;",
        ],
        "rawmime": [*MESSAGES, PGP_MIME],
        "incoming": [
            *MESSAGES,
            PGP_MIME + b"-----BEGIN PGP MESSAGE-----\r\n\r\nhQEMA\r\n"
            b"-----END PGP MESSAGE-----\r\n--b--\r\n",
            b"From: a@example.test\r\nMIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime;"
            b" smime-type=enveloped-data\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAG\r\n",
            b"From: a@example.test\r\nSubject: inline\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n\r\n"
            b"hQEMA\r\n-----END PGP MESSAGE-----\r\n",
        ],
        "decrypted_payload": PAYLOADS,
        "mtasts_txt": constants("tests.core.test_mtasts") or [b"v=STSv1; id=20160831085700Z;"],
        "mtasts_policy": [
            b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
            b"mx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n",
            *constants("tests.core.test_mtasts"),
        ],
        "tlsrpt": [
            b"v=TLSRPTv1; rua=mailto:reports@example.com",
            b"v=TLSRPTv1;rua=https://reporting.example.com/v1/tlsrpt",
            *constants("tests.core.test_tlsrpt"),
        ],
        "received": constants("tests.core.test_received"),
        "hostport": [
            b"smtp.example.test:587",
            b"[::1]:25",
            b"127.0.0.1",
            b"[2001:db8::1]",
            b"xn--bcher-kva.example:465",
        ],
        "openpgp_keys": pubs + [openssl_dearmor(p) for p in pubs[:3]],
        "x509_certificate": pems,
        "cms_signed": signed,
        "cms_enveloped": enveloped,
        "gpg_colons": gpg_colons(),
        "config_toml": toml_blocks(),
    }


def toml_blocks() -> list[bytes]:
    """Every TOML example of the docs: what users copy into their configuration."""
    out = []
    for doc in sorted((Path(__file__).resolve().parents[2] / "docs").glob("*.md")):
        for block in doc.read_bytes().split(b"```toml")[1:]:
            out.append(block.split(b"```", 1)[0].lstrip(b"\n"))
    return out


def openssl_dearmor(armored: bytes) -> bytes:
    """Binary OpenPGP packets from an armored block (gpg --dearmor)."""
    return subprocess.run(["gpg", "--dearmor"], input=armored, capture_output=True,
                          check=True).stdout  # fmt: skip


def main() -> None:
    for name, seeds in all_seeds().items():
        folder = CORPUS / name
        folder.mkdir(parents=True, exist_ok=True)
        for seed in seeds:
            (folder / ("seed-" + hashlib.sha256(seed).hexdigest()[:16])).write_bytes(seed)
        print(f"{name}: {len(list(folder.iterdir()))} files")


if __name__ == "__main__":
    main()
