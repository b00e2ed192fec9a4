"""The engines real mail clients read and write with, each in its own throwaway home.

- :class:`Nss`: Mozilla NSS (Thunderbird's S/MIME) through ``cmsutil``/``certutil``/``pk12util``.
- :class:`Notmuch`: GMime (notmuch, astroid, balsa) through ``notmuch show --decrypt=true``.
- :class:`Sop`: a Stateless OpenPGP implementation (``sqop``: Sequoia, ``gosop``: GopenPGP).

Nothing here uses e2email's code: these are the consumers and producers e2email is judged by.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import OPENPGP, SMIME


def run(
    *cmd: str, data: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """A command with captured output, never raising on failure."""
    return subprocess.run(cmd, input=data, capture_output=True, check=False, timeout=120, env=env)


def scratch(prefix: str) -> Path:
    """A private directory under /tmp (short paths: gpg's socket length limit)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o700)
    return path


@dataclass(frozen=True)
class NssSigner:
    """One signer line of ``cmsutil -D -h``: who, and NSS's verdict."""

    name: str
    status: str


class Nss:
    """An NSS database holding one S/MIME identity (PKCS#12) and trusting the test CA."""

    def __init__(self, who: str) -> None:
        self.dir = scratch("e2nss-")
        self.db = f"sql:{self.dir}"
        self._ok(run("certutil", "-N", "-d", self.db, "--empty-password"))
        self._ok(run("pk12util", "-i", str(SMIME / f"{who}.p12"), "-d", self.db, "-W", "test"))
        # The CA arrives with the PKCS#12 but untrusted: trust it for e-mail, as a user would.
        nick = self._nickname_of_ca()
        self._ok(run("certutil", "-M", "-d", self.db, "-n", nick, "-t", "C,C,C"))

    def _nickname_of_ca(self) -> str:
        listing = run("certutil", "-L", "-d", self.db).stdout.decode()
        for line in listing.splitlines():
            if "Test CA" in line:
                return re.split(r"\s{2,}", line.strip())[0]
        raise AssertionError(f"no CA in the NSS database:\n{listing}")

    @staticmethod
    def _ok(p: subprocess.CompletedProcess[bytes]) -> None:
        assert p.returncode == 0, (p.args, p.stdout.decode(), p.stderr.decode())

    def add_certificate(self, pem: Path, nick: str) -> None:
        """A correspondent's certificate (for encrypting to them)."""
        self._ok(run("certutil", "-A", "-d", self.db, "-n", nick, "-t", ",,", "-i", str(pem)))

    def decode(
        self, der: bytes, *, content: bytes | None = None
    ) -> tuple[subprocess.CompletedProcess[bytes], list[NssSigner]]:
        """``cmsutil -D``: decrypt or verify; ``content`` for a detached signature.

        cmsutil exits 0 for a bad signature too, so the signer status printed by ``-h 0`` is
        parsed and returned.
        """
        src = self.dir / "in.der"
        src.write_bytes(der)
        args = ["cmsutil", "-D", "-d", self.db, "-i", str(src), "-h", "0", "-p", ""]
        if content is not None:
            data = self.dir / "content.bin"
            data.write_bytes(content)
            args += ["-c", str(data)]
        p = run(*args)
        return p, parse_signers(p.stdout.decode("utf-8", "replace"))

    def envelope(self, data: bytes, recipient_nick: str) -> bytes:
        """``cmsutil -E``: EnvelopedData to a certificate in this database (NSS's defaults)."""
        src = self.dir / "plain.bin"
        src.write_bytes(data)
        p = run("cmsutil", "-E", "-d", self.db, "-r", recipient_nick, "-i", str(src))
        self._ok(p)
        return p.stdout

    def sign(self, data: bytes, signer_nick: str) -> bytes:
        """``cmsutil -S``: an opaque (encapsulated) SignedData by this database's identity."""
        src = self.dir / "tosign.bin"
        src.write_bytes(data)
        p = run(
            "cmsutil", "-S", "-d", self.db, "-N", signer_nick, "-H", "SHA256", "-p", "",
            "-i", str(src),
        )  # fmt: skip
        self._ok(p)
        return p.stdout

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def parse_signers(text: str) -> list[NssSigner]:
    """The ``signerN.id="..."; signerN.status=...;`` pairs ``cmsutil -h`` prints."""
    ids = dict(re.findall(r'signer(\d+)\.id="([^"]*)"', text))
    statuses = dict(re.findall(r"signer(\d+)\.status=(\w+)", text))
    return [NssSigner(ids.get(i, ""), statuses[i]) for i in sorted(statuses)]


def strip_nss_header(stdout: bytes) -> bytes:
    """The content cmsutil wrote after its ``SMIME:`` report (``-h`` prints it first)."""
    marker = re.search(rb"\tlevel=[^\n]*type=data;[^\n]*\n", stdout)
    return stdout[marker.end() :] if marker else stdout


class Notmuch:
    """A notmuch database over a maildir, with a gpg home (and gpgsm) holding one identity."""

    def __init__(self, who: str, *, public: tuple[str, ...] = ()) -> None:
        self.dir = scratch("e2nm-")
        self.gnupg = self.dir / "gnupg"
        self.gnupg.mkdir(mode=0o700)
        self.maildir = self.dir / "mail"
        for sub in ("cur", "new", "tmp"):
            (self.maildir / sub).mkdir(parents=True)
        self.config = self.dir / "notmuch-config"
        self.config.write_text(
            f"[database]\npath={self.maildir}\n[user]\nname=Test\n"
            f"primary_email={who}@example.test\n[new]\ntags=new\n"
            "[crypto]\n[index]\n"
        )
        self.env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.dir),
            "GNUPGHOME": str(self.gnupg),
            "NOTMUCH_CONFIG": str(self.config),
        }
        self._gpg("--import", str(OPENPGP / f"{who}.sec.asc"))
        for name in public:
            self._gpg("--import", str(OPENPGP / f"{name}.pub.asc"))
            self._trust(name)
        self._gpgsm_identity(who)
        self._ok(self.notmuch("new", "--quiet"))
        self._count = 0

    @staticmethod
    def _ok(p: subprocess.CompletedProcess[bytes]) -> None:
        assert p.returncode == 0, (p.args, p.stdout.decode(), p.stderr.decode())

    def _gpg(self, *args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        p = run("gpg", "--homedir", str(self.gnupg), "--batch", "--yes", *args, data=data)
        self._ok(p)
        return p

    def _trust(self, name: str) -> None:
        """Ownertrust ultimate for a fixture key, so GMime reports its signature as valid."""
        fpr = json.loads((OPENPGP / "fixtures.json").read_text())[name]["fingerprint"]
        self._gpg("--import-ownertrust", data=f"{fpr}:6:\n".encode())

    def _gpgsm_identity(self, who: str) -> None:
        """gpgsm holds the S/MIME key without a passphrase: GMime cannot answer a pinentry."""
        (self.gnupg / "gpgsm.conf").write_text("disable-crl-checks\n")
        p12 = self.dir / "nopass.p12"
        self._ok(run(
            "openssl", "pkcs12", "-export", "-in", str(SMIME / f"{who}.pem"),
            "-inkey", str(SMIME / f"{who}.key"), "-passout", "pass:", "-out", str(p12),
            # gpgsm 2.2 reads only the legacy PKCS#12 encryption
            "-certpbe", "PBE-SHA1-3DES", "-keypbe", "PBE-SHA1-3DES", "-macalg", "sha1",
        ))  # fmt: skip
        self._ok(run("gpgconf", "--homedir", str(self.gnupg), "--launch", "gpg-agent"))
        p = run(
            "gpgsm", "--homedir", str(self.gnupg), "--batch", "--disable-dirmngr",
            "--pinentry-mode", "loopback", "--passphrase-fd", "0", "--import", str(p12),
            data=b"\n",
        )  # fmt: skip
        self._ok(p)
        assert b"secret keys imported: 1" in p.stderr, p.stderr.decode()
        self._ok(run("gpgsm", "--homedir", str(self.gnupg), "--batch", "--import",
                     str(SMIME / "ca.pem")))  # fmt: skip
        fpr = run(
            "openssl", "x509", "-in", str(SMIME / "ca.pem"), "-noout", "-fingerprint", "-sha1"
        )
        (self.gnupg / "trustlist.txt").write_text(
            fpr.stdout.decode().split("=", 1)[1].strip() + " S relax\n"
        )

    def notmuch(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return run("notmuch", *args, env=self.env)

    def deliver(self, raw: bytes) -> None:
        """Put a message in the maildir and index it, as a delivery then ``notmuch new``."""
        self._count += 1
        (self.maildir / "new" / f"{self._count}.e2email:2,").write_bytes(raw)
        self._ok(self.notmuch("new", "--quiet"))

    def show(self, query: str) -> list[dict[str, Any]]:
        """``notmuch show --format=json --decrypt=true``: the first message's parts, flattened."""
        p = self.notmuch("show", "--format=json", "--decrypt=true", "--entire-thread=false", query)
        self._ok(p)
        thread = json.loads(p.stdout)
        message = thread[0][0][0]
        assert isinstance(message, dict)
        return [message]

    def close(self) -> None:
        run("gpgconf", "--homedir", str(self.gnupg), "--kill", "all")
        shutil.rmtree(self.dir, ignore_errors=True)


def walk_parts(part: dict[str, Any]) -> list[dict[str, Any]]:
    """Every MIME part of a notmuch JSON body tree, depth first."""
    out = [part]
    content = part.get("content")
    if isinstance(content, list):
        for child in content:
            if isinstance(child, dict):
                out += walk_parts(child)
    return out


class Sop:
    """A Stateless OpenPGP command (draft-dkg-openpgp-stateless-cli): ``sqop`` or ``gosop``."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.dir = scratch("e2sop-")
        # gosop (2022) still spells the option the way SOP drafts before -04 did.
        self.verifications_out = "--verify-out" if command == "gosop" else "--verifications-out"

    def _file(self, name: str, data: bytes) -> str:
        path = self.dir / name
        path.write_bytes(data)
        return str(path)

    def decrypt(
        self, ciphertext: bytes, key: Path, *, verify_with: Path | None = None
    ) -> tuple[subprocess.CompletedProcess[bytes], str]:
        """``sop decrypt KEY``; with ``verify_with``, the verifications it reports."""
        out = self.dir / "verifications.txt"
        out.unlink(missing_ok=True)
        args = [self.command, "decrypt"]
        if verify_with is not None:
            args += [f"--verify-with={verify_with}", f"{self.verifications_out}={out}"]
        p = run(*args, str(key), data=ciphertext)
        return p, out.read_text() if out.exists() else ""

    def verify(
        self, signature: bytes, data: bytes, cert: Path
    ) -> subprocess.CompletedProcess[bytes]:
        """``sop verify SIG CERT < data``: exit 0 and a verification line when good."""
        return run(self.command, "verify", self._file("sig.asc", signature), str(cert), data=data)

    def encrypt(self, data: bytes, *certs: Path, sign_with: Path | None = None) -> bytes:
        """``sop encrypt [--sign-with KEY] CERTS``: armored ciphertext."""
        args = [self.command, "encrypt"]
        if sign_with is not None:
            args.append(f"--sign-with={sign_with}")
        p = run(*args, *map(str, certs), data=data)
        assert p.returncode == 0, (p.args, p.stderr.decode())
        return p.stdout

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
