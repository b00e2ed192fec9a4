"""`make demo`: one encrypted message, end to end, on this machine only.

What it does, all under a throwaway directory and on 127.0.0.1:
1. makes a throwaway CA and a certificate for "localhost";
2. starts an embedded submission server (aiosmtpd) that requires STARTTLS and AUTH;
3. makes throwaway OpenPGP keys for alice (sender) and bob (recipient);
4. runs the real `e2email send` command from the installed package;
5. shows what went over the wire, then bob decrypting it with gpg in his own home.

Needs only python3 (with this package installed) and gpg. No root, no internet.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER, PASSWORD = "alice@example.test", "demo-password"
BODY = "Hello Bob,\n\nthis message crossed the wire encrypted. Only your key opens it.\n\nAlice\n"
BOLD, DIM, RESET = ("\033[1m", "\033[2m", "\033[0m") if sys.stdout.isatty() else ("", "", "")


def step(text: str) -> None:
    print(f"\n{BOLD}== {text}{RESET}")


def make_tls(root: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for localhost/127.0.0.1, written as PEM files."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "e2email demo CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = root / "ca.pem", root / "server.pem", root / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


class Sink:
    """aiosmtpd handler: keep every accepted message and its envelope."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 accepted by the demo server"


def authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(cert: Path, key: Path, sink: Sink) -> tuple[Controller, int]:
    import ssl

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    port = free_port()
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=port,
        server_hostname="localhost",
        tls_context=ctx,
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
        ident="e2email demo submission server",
    )
    controller.start()
    return controller, port


def gpg(home: Path, *args: str, data: bytes | None = None) -> bytes:
    cmd = ["gpg", "--homedir", str(home), "--batch", "--quiet", "--pinentry-mode", "loopback",
           "--passphrase", "", *args]  # fmt: skip
    return subprocess.run(cmd, input=data, capture_output=True, check=True).stdout


def make_keys(root: Path) -> tuple[Path, Path]:
    homes = root / "alice-gnupg", root / "bob-gnupg"
    for home, who in zip(
        homes, ("Alice <alice@example.test>", "Bob <bob@example.test>"), strict=True
    ):
        home.mkdir(mode=0o700)
        gpg(home, "--quick-gen-key", who, "ed25519", "sign,cert", "never")
        fpr = (
            gpg(home, "--list-keys", "--with-colons")
            .decode()
            .split("fpr:::::::::")[1]
            .split(":")[0]
        )
        gpg(home, "--quick-add-key", fpr, "cv25519", "encr", "never")
    gpg(homes[0], "--import", data=gpg(homes[1], "--export", "bob@example.test"))
    gpg(homes[1], "--import", data=gpg(homes[0], "--export", "alice@example.test"))
    return homes


def write_config(root: Path, port: int, ca: Path, alice_home: Path) -> Path:
    (root / "password").write_text(PASSWORD + "\n")
    cfg = root / "config.toml"
    cfg.write_text(
        textwrap.dedent(f"""\
        [accounts.demo]
        from = ["{USER}"]
        smtp_host = "localhost"
        smtp_port = {port}
        smtp_security = "starttls"
        username = "{USER}"
        password_command = "cat password"

        [openpgp]
        gnupghome = "{alice_home}"

        [network]
        ca_file = "ca.pem"

        [policy]
        encrypt = "required"
        """)
    )
    ca.chmod(0o644)
    return cfg


def run_send(cfg: Path) -> None:
    cmd = [
        shutil.which("e2email") or "e2email", "--config", str(cfg), "-v", "send",
        "--from", USER, "--to", "Bob <bob@example.test>", "--subject", "Lunch on Friday?",
    ]  # fmt: skip
    print(f"{DIM}$ {' '.join(cmd[1:])} <<< (the body){RESET}")
    proc = subprocess.run(cmd, input=BODY.encode(), cwd=cfg.parent, check=False)
    if proc.returncode != 0:
        sys.exit(f"demo: e2email send failed with exit code {proc.returncode}")


def show_wire(sink: Sink) -> bytes:
    mail_from, rcpts, content = sink.messages[-1]
    print(f"envelope: MAIL FROM:<{mail_from}> RCPT TO:{', '.join(f'<{r}>' for r in rcpts)}")
    text = content.decode("ascii", "replace").replace("\r\n", "\n")
    lines = text.splitlines()
    shown = [ln for ln in lines[:40]]
    print(DIM + "\n".join(shown) + f"\n[... {len(lines) - len(shown)} more lines ...]" + RESET)
    if b"this message crossed the wire" in content or b"Lunch on Friday" in content:
        sys.exit("demo: FAILED - the body or the real Subject went over the wire")
    return content


def decrypt(bob_home: Path, content: bytes) -> None:
    armored = content[content.index(b"-----BEGIN PGP MESSAGE-----") :]
    armored = armored[: armored.index(b"-----END PGP MESSAGE-----") + 25]
    cmd = ["gpg", "--homedir", str(bob_home), "--batch", "--trust-model", "always", "--decrypt"]
    proc = subprocess.run(cmd, input=armored, capture_output=True, check=False)
    print(DIM + proc.stderr.decode(errors="replace").strip() + RESET)
    plain = proc.stdout.decode()
    print(plain.replace("\r\n", "\n"))
    if BODY.strip().splitlines()[-1] not in plain:
        sys.exit("demo: FAILED - decryption did not give the body back")


def main() -> None:
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # aiosmtpd's own internals
    root = Path(tempfile.mkdtemp(prefix="e2email-demo-"))
    controller = None
    try:
        step("1. a throwaway CA and a submission server on 127.0.0.1 (STARTTLS + AUTH required)")
        ca, cert, key = make_tls(root)
        sink = Sink()
        controller, port = start_server(cert, key, sink)
        print(f"listening on 127.0.0.1:{port}, certificate for 'localhost' from {ca.name}")
        step("2. throwaway OpenPGP keys: alice (sender) and bob (recipient)")
        alice_home, bob_home = make_keys(root)
        print(gpg(alice_home, "--list-keys", "--keyid-format", "long").decode().strip())
        step("3. e2email send")
        run_send(write_config(root, port, ca, alice_home))
        step("4. what the server received (what every hop would store)")
        content = show_wire(sink)
        step("5. bob decrypts with his own key (gpg --decrypt in his home)")
        decrypt(bob_home, content)
        print(
            f"{BOLD}demo OK{RESET}: encrypted and signed end to end, readable only by bob; "
            "the real Subject travelled inside the encryption (RFC 9788), outside it reads [...]."
        )
    finally:
        if controller is not None:
            controller.stop()
        for home in ("alice-gnupg", "bob-gnupg"):
            subprocess.run(["gpgconf", "--homedir", str(root / home), "--kill", "all"], check=False)
        if not os.environ.get("E2EMAIL_DEMO_KEEP"):
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
