"""Helpers for the message-protection tests: configs, independent readers, message surgery.

The readers are separate programs with their own homes: gpg, sq, gpgsm and openssl. Nothing
here uses e2email's own code to read what e2email wrote.
"""

from __future__ import annotations

import base64
import email
import email.policy
import re
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from tests.support import OPENPGP, SMIME, Cli, account_toml, cli_env, write_config

SMIME_ALICE = f"""
[smime]
certificate = "{SMIME}/alice.pem"
private_key = "{SMIME}/alice.key"
trust_anchors = "{SMIME}/ca.pem"
"""


def make_cli(
    tmp: Path,
    stack: Any,
    gnupghome: Path,
    *,
    certs: tuple[str, ...] = (),
    smime: bool = True,
    extra: str = "",
) -> Cli:
    """A config: alice's account, local discovery only, S/MIME identity and recipient certs."""
    body = account_toml(stack) + '\n[discovery]\nmethods = ["local"]\n'
    if smime:
        cert_dir = tmp / "certs"
        cert_dir.mkdir(exist_ok=True)
        for name in certs:
            shutil.copy(SMIME / f"{name}.pem", cert_dir)
        body += SMIME_ALICE + f'certificates_dir = "{cert_dir}"\n'
    body += textwrap.dedent(extra)
    return Cli(write_config(tmp, stack, gnupghome, body), cli_env(tmp))


CLEAR_OK = """
[policy.recipients."plain@example.test"]
encrypt = "never"
transport_floor = "unknown"
"""


def parse(raw: bytes) -> EmailMessage:
    """A delivered message, parsed."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def by_recipient(raws: list[bytes]) -> dict[str, bytes]:
    """Delivered copies keyed by their envelope recipient (Delivered-To)."""
    out = {}
    for raw in raws:
        out[str(parse(raw)["Delivered-To"])] = raw
    return out


def armored(message: bytes) -> bytes:
    """The ASCII-armored OpenPGP block of a message."""
    start = message.index(b"-----BEGIN PGP MESSAGE-----")
    end = message.index(b"-----END PGP MESSAGE-----") + len(b"-----END PGP MESSAGE-----")
    return message[start:end]


def outer_headers(raw: bytes) -> list[tuple[str, str]]:
    """The header fields the sender wrote (what Postfix added removed), minus Content-Type."""
    skip = {"return-path", "x-original-to", "delivered-to", "received", "content-type"}
    return [(n, str(v)) for n, v in parse(raw).items() if n.lower() not in skip]


def p7m(raw: bytes) -> bytes:
    """The DER of an application/pkcs7-mime message."""
    payload = parse(raw).get_payload()
    assert isinstance(payload, str)
    return base64.b64decode(payload)


@dataclass
class SignedParts:
    """The two halves of a multipart/signed body, cut at the byte level (RFC 1847 2.1)."""

    signed: bytes
    signature: bytes
    signature_type: str


def split_signed(raw: bytes) -> SignedParts:
    """The exact signed bytes and the decoded signature of a multipart/signed entity."""
    raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    m = re.search(rb'boundary="?([^";\r\n]+)"?', head)
    assert m, head
    delim = b"--" + m.group(1)
    first = body.index(delim + b"\r\n") + len(delim) + 2
    second = body.index(b"\r\n" + delim + b"\r\n", first)
    end = body.index(b"\r\n" + delim + b"--", second + 1)
    sig_part = body[second + len(delim) + 4 : end]
    sig_head, _, sig_body = sig_part.partition(b"\r\n\r\n")
    ctype = re.search(rb"(?i)content-type:\s*([^;\r\n]+)", sig_head)
    assert ctype
    kind = ctype.group(1).decode().strip().lower()
    sig = base64.b64decode(sig_body) if kind.endswith("pkcs7-signature") else sig_body
    return SignedParts(body[first:second], sig, kind)


def run(*cmd: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """A command with captured output, never raising on failure."""
    return subprocess.run(cmd, input=data, capture_output=True, check=False, timeout=120)


class Workdir:
    """A private scratch directory for an oracle's input and output files."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="e2p-", dir="/tmp"))

    def file(self, name: str, data: bytes) -> Path:
        p = self.path / name
        p.write_bytes(data)
        return p

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def sq_decrypt(
    message: bytes, who: str, signer: str, work: Workdir
) -> subprocess.CompletedProcess[bytes]:
    """Sequoia: decrypt with ``who``'s secret key, require a good signature by ``signer``."""
    ct = work.file("ct.asc", armored(message))
    return run(
        "sq",
        "decrypt",
        "--recipient-key",
        str(OPENPGP / f"{who}.sec.asc"),
        "--signer-cert",
        str(OPENPGP / f"{signer}.pub.asc"),
        str(ct),
    )


def openssl_decrypt(raw: bytes, who: str, work: Workdir) -> subprocess.CompletedProcess[bytes]:
    """openssl cms -decrypt with ``who``'s S/MIME key (reads the whole delivered message)."""
    path = work.file("in.eml", raw)
    return run(
        "openssl",
        "cms",
        "-decrypt",
        "-in",
        str(path),
        "-recip",
        str(SMIME / f"{who}.pem"),
        "-inkey",
        str(SMIME / f"{who}.key"),
    )


def openssl_verify(entity: bytes, work: Workdir) -> subprocess.CompletedProcess[bytes]:
    """openssl cms -verify of a multipart/signed S/MIME entity against the test CA."""
    path = work.file("signed.eml", entity)
    return run("openssl", "cms", "-verify", "-in", str(path), "-CAfile", str(SMIME / "ca.pem"))


class Gpgsm:
    """A gpgsm home holding one S/MIME identity and trusting the test CA."""

    def __init__(self, who: str) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="e2s-", dir="/tmp"))
        self.home.chmod(0o700)
        (self.home / "gpg-agent.conf").write_text("s2k-count 65536\n")
        (self.home / "gpgsm.conf").write_text("disable-crl-checks\n")
        self.run(
            "--pinentry-mode",
            "loopback",
            "--passphrase-fd",
            "0",
            "--import",
            str(SMIME / f"{who}.p12"),
            data=b"test\n",
        )
        self.run("--import", str(SMIME / "ca.pem"))
        fpr = run(
            "openssl", "x509", "-in", str(SMIME / "ca.pem"), "-noout", "-fingerprint", "-sha1"
        )
        (self.home / "trustlist.txt").write_text(
            fpr.stdout.decode().split("=", 1)[1].strip() + " S relax\n"
        )

    def run(self, *args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return run(
            "gpgsm",
            "--homedir",
            str(self.home),
            "--batch",
            "--disable-dirmngr",
            "--status-fd",
            "2",
            *args,
            data=data,
        )

    def decrypt(self, der: bytes, work: Workdir) -> subprocess.CompletedProcess[bytes]:
        path = work.file("in.p7m", der)
        return self.run(
            "--pinentry-mode",
            "loopback",
            "--passphrase-fd",
            "0",
            "--decrypt",
            str(path),
            data=b"test\n",
        )

    def verify(self, parts: SignedParts, work: Workdir) -> subprocess.CompletedProcess[bytes]:
        sig = work.file("sig.p7s", parts.signature)
        data = work.file("data.bin", parts.signed)
        return self.run("--verify", str(sig), str(data))

    def close(self) -> None:
        run("gpgconf", "--homedir", str(self.home), "--kill", "all")
        shutil.rmtree(self.home, ignore_errors=True)


def status_lines(stderr: bytes) -> Iterator[str]:
    """The [GNUPG:] status keywords in a gpg/gpgsm stderr."""
    for line in stderr.decode("utf-8", "replace").splitlines():
        if line.startswith("[GNUPG:] "):
            yield line[9:]
