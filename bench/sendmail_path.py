"""Benchmark: the sendmail path against ``gpg --encrypt | msmtp`` (performance.md).

One 4 KB message to one recipient whose key is in the local keyring, PGP/MIME, submitted over
STARTTLS + AUTH PLAIN to the test stack's Postfix (Dovecot SASL). Side by side, alternating:

* ``e2email-sendmail -i bob@example.test < message`` (the installed console script, password
  from ``password_command``, the host name resolved through the stack's resolver);
* ``gpg --encrypt --armor -r bob < message | msmtp bob@example.test`` (password from
  ``passwordeval``, the host given as an address with ``tls_host_override``).

Equal work by default: no signature and no encrypt-to-self on either side (``--defaults`` also
times e2email with its default configuration, which signs and encrypts to self). Wall time and
CPU time (user + system of every child process) per run; medians; targets e2email/reference
<= 2.0 wall and <= 4.0 CPU. Exits 1 on a missed target. Needs root and the stack's packages.

    .venv/bin/python bench/sendmail_path.py [--runs 15] [--defaults]
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from common import loadavg, product_bin, record  # noqa: E402
from stack import start_stack  # noqa: E402
from stack.postfix import submission_options  # noqa: E402

from tests.support import OPENPGP  # noqa: E402

WALL_TARGET, CPU_TARGET = 2.0, 4.0
RCPT = "bob@example.test"


def gnupg_home(tmp: Path) -> Path:
    """alice's secret key and bob's public key (cv25519), as a user would have them."""
    home = tmp / "gnupg"
    home.mkdir(mode=0o700)
    for name in ("alice.sec.asc", "bob.pub.asc"):
        subprocess.run(
            ["gpg", "--homedir", str(home), "--batch", "--import", str(OPENPGP / name)],
            check=True,
            capture_output=True,
        )
    trust = subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--with-colons", "--list-keys", RCPT],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    fpr = next(ln.split(":")[9] for ln in trust.splitlines() if ln.startswith("fpr:"))
    subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--import-ownertrust"],
        input=f"{fpr}:6:\n",
        text=True,
        check=True,
        capture_output=True,
    )
    return home


@dataclass(frozen=True)
class Server:
    """Where both sides submit: ``host`` is what they connect to and verify."""

    host: str
    port: int
    nameservers: str  # TOML list for e2email's [network]


def ip_listener(stack: Any) -> Server:
    """A submission listener on a fresh address with a certificate naming that address.

    msmtp has no resolver of its own to point at the stack's DNS (and the stack has no
    /etc/hosts entries), so both sides connect to an IP literal and verify it against the
    certificate's IP SAN: neither pays for a DNS lookup, as with a host in /etc/hosts.
    """
    ip = stack.alloc_ip()
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ip)]))
        .issuer_name(stack.pki.ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), False
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(stack.pki.ca_key, hashes.SHA256())
    )
    crt, pem = stack.pki.dir / "bench-ip.crt", stack.pki.dir / "bench-ip.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pem.chmod(0o644)
    stack.postfix.add_listener(ip, 587, submission_options(crt, pem))
    stack.postfix.reload()
    return Server(ip, 587, "[]")


def dns_listener(stack: Any) -> Server:
    """The stack's own submission service, its name resolved through the stack's resolver."""
    ep = stack.submission
    return Server(ep.host, ep.port, f'["{stack.nameserver}"]')


def e2email_config(stack: Any, server: Server, tmp: Path, home: Path, *, defaults: bool) -> Path:
    """Account on the stack's submission port; local keys only."""
    password = stack.users["alice@example.test"]
    openpgp = "" if defaults else "sign = false\nencrypt_to_self = false\n"
    cfg = tmp / ("config-defaults.toml" if defaults else "config.toml")
    cfg.write_text(
        textwrap.dedent(f"""\
        [accounts.work]
        from = ["alice@example.test"]
        smtp_host = "{server.host}"
        smtp_port = {server.port}
        username = "alice@example.test"
        password_command = "printf '%s\\\\n' '{password}'"

        [discovery]
        methods = ["local"]

        [network]
        nameservers = {server.nameservers}
        ca_file = "{stack.ca_pem}"

        [outbox]
        path = "{tmp / "outbox"}"

        [openpgp]
        gnupghome = "{home}"
        """)
        + openpgp
    )
    return cfg


def msmtp_config(stack: Any, server: Server, tmp: Path) -> Path:
    """The same account for msmtp: STARTTLS, verified against the test CA, AUTH PLAIN."""
    ip = stack.hosts.get(server.host, server.host)
    rc = tmp / "msmtprc"
    rc.write_text(
        textwrap.dedent(f"""\
        account work
        host {ip}
        port {server.port}
        tls on
        tls_starttls on
        tls_trust_file {stack.ca_pem}
        tls_host_override {server.host}
        auth plain
        user alice@example.test
        passwordeval printf '%s\\n' '{stack.users["alice@example.test"]}'
        from alice@example.test
        account default : work
        """)
    )
    rc.chmod(0o600)
    return rc


def message() -> bytes:
    """About 4 KB: headers and a plain-text body."""
    line = "The quarterly numbers, in more detail than anyone asked for. 0123456789\n"
    body = line * (4096 // len(line))
    head = "From: alice@example.test\nTo: bob@example.test\nSubject: numbers\n\n"
    return (head + body).encode()


def timed(run: Callable[[], None]) -> tuple[float, float]:
    """Wall and CPU (children user + system) seconds of one run."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    run()
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def e2email_run(cfg: Path, msg: Path, env: dict[str, str]) -> Callable[[], None]:
    def run() -> None:
        with msg.open("rb") as stdin:
            p = subprocess.run(
                [str(product_bin() / "e2email-sendmail"), "-i", RCPT],
                stdin=stdin,
                capture_output=True,
                env=env | {"E2EMAIL_CONFIG": str(cfg)},
                check=False,
            )
        if p.returncode != 0 or p.stderr:
            raise SystemExit(f"e2email-sendmail failed ({p.returncode}): {p.stderr.decode()}")

    return run


def reference_run(home: Path, rc: Path, msg: Path) -> Callable[[], None]:
    def run() -> None:
        with msg.open("rb") as stdin:
            gpg = subprocess.Popen(
                ["gpg", "--homedir", str(home), "--batch", "--armor", "--encrypt", "-r", RCPT],
                stdin=stdin,
                stdout=subprocess.PIPE,
            )
            assert gpg.stdout is not None
            smtp = subprocess.run(
                ["msmtp", "-C", str(rc), RCPT], stdin=gpg.stdout, capture_output=True, check=False
            )
            gpg.stdout.close()
            if gpg.wait() != 0 or smtp.returncode != 0:
                raise SystemExit(f"reference failed: {smtp.stderr.decode()}")

    return run


FLOORS = {
    # The least any Python sendmail that submits over TLS and runs gpg must import.
    "(python + ssl, socket, subprocess, not judged)": "import ssl, socket, subprocess",
    # ... and what one that reads TOML, parses MIME and uses python-gnupg also needs.
    "(python floor, not judged)": "import ssl, socket, subprocess, logging, json, tomllib, "
    "email.parser, email.policy, gnupg",
}


def floor_run(imports: str) -> Callable[[], None]:
    """A Python process that only imports ``imports``: the floor, shown for scale."""

    def run() -> None:
        subprocess.run([str(product_bin() / "python"), "-c", imports], check=True)

    return run


def report(results: dict[str, list[tuple[float, float]]]) -> bool:
    """Print medians and ratios; True when every target is met."""
    ref_wall = statistics.median(w for w, _ in results["gpg | msmtp"])
    ref_cpu = statistics.median(c for _, c in results["gpg | msmtp"])
    print(f"{'run':<34} {'wall ms':>8} {'cpu ms':>8} {'wall x':>7} {'cpu x':>7}")
    for label, samples in results.items():
        wall = statistics.median(w for w, _ in samples)
        cpu = statistics.median(c for _, c in samples)
        print(f"{label:<34} {wall * 1000:8.1f} {cpu * 1000:8.1f} "
              f"{wall / ref_wall:7.2f} {cpu / ref_cpu:7.2f}")  # fmt: skip
    ours = results["e2email-sendmail"]
    wall = statistics.median(w for w, _ in ours)
    cpu = statistics.median(c for _, c in ours)
    row = "sendmail path, 4 KB PGP/MIME"
    detail = (f"e2email {wall * 1000:.0f} ms wall, {cpu * 1000:.0f} ms cpu; gpg | msmtp "
              f"{ref_wall * 1000:.0f} ms wall, {ref_cpu * 1000:.0f} ms cpu")  # fmt: skip
    ok = record(row, "wall vs gpg | msmtp", wall / ref_wall, WALL_TARGET, at_least=False,
                detail=detail)  # fmt: skip
    return record(row, "CPU vs gpg | msmtp", cpu / ref_cpu, CPU_TARGET, at_least=False) and ok


def main() -> int:
    """Start the stack, time both sides alternating, judge."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--defaults", action="store_true", help="also time e2email's defaults")
    ap.add_argument(
        "--dns",
        action="store_true",
        help="e2email resolves the server's name through the stack's DNS (msmtp cannot)",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="e2b-", dir="/tmp") as d, start_stack() as stack:
        tmp = Path(d)
        home = gnupg_home(tmp)
        msg = tmp / "message.eml"
        msg.write_bytes(message())
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL")}
        env |= {"HOME": str(tmp), "XDG_STATE_HOME": str(tmp / "state")}
        server = dns_listener(stack) if args.dns else ip_listener(stack)
        cfg = e2email_config(stack, server, tmp, home, defaults=False)
        runs: dict[str, Callable[[], None]] = {
            "gpg | msmtp": reference_run(home, msmtp_config(stack, server, tmp), msg),
            "e2email-sendmail": e2email_run(cfg, msg, env),
        }
        if args.defaults:
            cfg = e2email_config(stack, server, tmp, home, defaults=True)
            runs["e2email-sendmail (sign + self)"] = e2email_run(cfg, msg, env)
        runs |= {label: floor_run(imports) for label, imports in FLOORS.items()}
        before = stack.sink.snapshot()
        for run in runs.values():  # warm-up: caches, .pyc, the agent
            run()
        results: dict[str, list[tuple[float, float]]] = {label: [] for label in runs}
        for _ in range(args.runs):
            for label, run in runs.items():
                results[label].append(timed(run))
        sending = len(runs) - len(FLOORS)  # the floors send nothing
        delivered = stack.sink.wait_new(before, sending * (args.runs + 1), timeout=60)
        assert all(b"-----BEGIN PGP MESSAGE-----" in m for m in delivered)
        print(f"{len(delivered)} messages delivered, all encrypted; medians of {args.runs} runs; "
              f"load {loadavg()}")  # fmt: skip
        ok = report(results)
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
