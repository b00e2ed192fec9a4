"""Certificates made with the openssl CLI the way private CAs make them, for x509path's tests.

``openssl req -x509 -new`` and ``openssl ca`` run with OpenSSL's own default configuration
(the system openssl.cnf: ``v3_ca`` for roots, ``usr_cert`` for what ``ca`` issues);
anything else is a config section given to ``openssl x509 -req -extfile``, as CA
how-tos do. ``verify`` is the oracle: ``openssl verify -purpose smimeencrypt``.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

from cryptography import x509

from e2email.core.x509check import check_recipient, load_pem_bundle

# Every name under one C/ST/O, which the default config's policy_match demands of `ca`.
DN = "/C=DE/ST=Berlin/O=Example Company"


class Pki:
    """A folder of keys and certificates made by the openssl CLI."""

    def __init__(self, folder: Path) -> None:
        self.dir = folder
        self.extfile = folder / "extensions.cnf"
        self.extfile.write_text("")

    def openssl(self, *args: str) -> str:
        done = subprocess.run(
            ["openssl", *args], cwd=self.dir, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"openssl {' '.join(args)}: {done.stderr}"
        return done.stdout

    def key(self, name: str, kind: str = "ec") -> str:
        opts = ["-pkeyopt", "ec_paramgen_curve:P-256"] if kind == "ec" else []
        algorithm = "EC" if kind == "ec" else "RSA"
        self.openssl("genpkey", "-algorithm", algorithm, *opts, "-out", f"{name}.key")
        return f"{name}.key"

    def section(self, name: str, body: str) -> str:
        """Add an extensions section to the file given to ``-extfile``."""
        with self.extfile.open("a") as f:
            f.write(f"[{name}]\n{body.strip()}\n")
        return name

    def root(self, name: str, *addext: str, days: int = 3650) -> Path:
        """``openssl req -x509 -new`` with the default config (its ``v3_ca``), plus -addext."""
        extra = [a for ext in addext for a in ("-addext", ext)]
        key = self.key(name)
        subject = f"{DN}/CN={name}"
        self.openssl("req", "-x509", "-new", "-key", key, "-subj", subject, "-days", str(days),
                     *extra, "-out", f"{name}.pem")  # fmt: skip
        return self.dir / f"{name}.pem"

    def issue(self, name: str, issuer: str, extensions: str, *, email: str = "",
              kind: str = "ec", days: int = 365, dn: str = DN) -> Path:  # fmt: skip
        """A certificate signed by ``issuer`` with ``openssl x509 -req -extfile``."""
        self._request(name, email, kind, dn)
        self.openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{issuer}.pem",
                     "-CAkey", f"{issuer}.key", "-CAcreateserial", "-days", str(days),
                     "-extfile", str(self.extfile), "-extensions", extensions,
                     "-out", f"{name}.pem")  # fmt: skip
        return self.dir / f"{name}.pem"

    def ca_issue(self, name: str, issuer: str, *extra: str, email: str = "") -> Path:
        """``openssl ca`` with the default config (``usr_cert`` unless ``-extensions``)."""
        demo = self.dir / "demoCA"
        if not demo.exists():
            (demo / "newcerts").mkdir(parents=True)
            (demo / "index.txt").write_text("")
            (demo / "serial").write_text("1000\n")
        self._request(name, email, "ec")
        self.openssl("ca", "-batch", "-notext", "-cert", f"{issuer}.pem", "-keyfile",
                     f"{issuer}.key", "-in", f"{name}.csr", *extra, "-out", f"{name}.pem")  # fmt: skip
        return self.dir / f"{name}.pem"

    def _request(self, name: str, email: str, kind: str, dn: str = DN) -> None:
        key = self.key(name, kind)
        subject = f"{dn}/CN={name}" + (f"/emailAddress={email}" if email else "")
        self.openssl("req", "-new", "-key", key, "-subj", subject, "-out", f"{name}.csr")

    def bundle(self, names: list[str], into: str) -> Path:
        path = self.dir / into
        path.write_bytes(b"".join((self.dir / f"{n}.pem").read_bytes() for n in names))
        return path


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def openssl_accepts(pki: Pki, leaf: Path, anchors: Path, untrusted: Path | None = None) -> bool:
    """The oracle: ``openssl verify -purpose smimeencrypt`` (no network: no AIA, no CRL)."""
    args = ["verify", "-purpose", "smimeencrypt", "-CAfile", str(anchors)]
    args += ["-untrusted", str(untrusted)] if untrusted else []
    done = subprocess.run(
        ["openssl", *args, str(leaf)], cwd=pki.dir, capture_output=True, text=True, check=False
    )
    return done.returncode == 0


def e2email_problems(
    leaf: Path, address: str, anchors: Path, untrusted: Path | None = None
) -> list[str]:
    return check_recipient(
        load(leaf),
        address,
        anchors=load_pem_bundle(anchors.read_bytes()),
        intermediates=load_pem_bundle(untrusted.read_bytes()) if untrusted else [],
        now=dt.datetime.now(dt.UTC),
    )
