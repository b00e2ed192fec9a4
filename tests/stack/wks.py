"""gpg-wks-server (Debian package ``gpg-wks-server``) as a provider's Web Key Service.

:func:`add_wks` turns a mail domain into one with a WKS, the way a provider sets it up:

- the WKS directory ``wks/top/DOMAIN`` with ``submission-address`` and ``policy`` files and
  the submission address's own key installed in ``hu/`` (``gpg-wks-server --install-key``),
  all owned by ``nobody``, the user the server runs as;
- the stack's HTTPS server serves that directory as the domain's WKD (advanced method):
  ``https://openpgpkey.DOMAIN/.well-known/openpgpkey/`` is a link to ``wks/top``, so what
  gpg-wks-server publishes is what WKD clients get (A records in a signed zone DOMAIN);
- Postfix hands mail for ``key-submission@DOMAIN`` to a ``pipe`` transport that runs
  ``gpg-wks-server --receive`` as ``nobody``. The server writes the mails it answers with
  (``-o FILE``: its ``--send`` needs a sendmail whose postdrop would refuse the stack's
  private configuration directory) and the pipe script hands them to the stack's MX
  listener over SMTP, so they come back through Postfix like any other mail;
- mail for the user addresses given goes to their Dovecot Maildir (IMAP), not the sink.

``wks/wks.log`` has gpg-wks-server's output for every message it received. The server's
gpg-agent (it decrypts and signs) is stopped by :meth:`Wks.close`.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .procs import StackError, which

NOBODY = 65534
PIPE_SCRIPT = '''\
#!/usr/bin/python3
"""Postfix pipe -> gpg-wks-server --receive; its answer goes back in over SMTP."""
import email, email.policy, os, smtplib, subprocess, sys, tempfile
BASE, TOP, HOME, MX, SERVER = {base!r}, {top!r}, {home!r}, {mx!r}, {server!r}
env = {{"GNUPGHOME": HOME, "HOME": BASE, "PATH": "/usr/bin:/bin", "LANG": "C"}}
fd, out = tempfile.mkstemp(dir=os.path.join(BASE, "out"), suffix=".eml")
os.close(fd)
os.unlink(out)
done = subprocess.run([SERVER, "-v", "-C", TOP, "--receive", "-o", out], stdin=sys.stdin,
                      capture_output=True, env=env, timeout=60)
with open(os.path.join(BASE, "wks.log"), "ab") as log:
    log.write(b"--- receive, exit %d\\n" % done.returncode + done.stdout + done.stderr)
if os.path.exists(out):
    data = open(out, "rb").read()
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    with smtplib.SMTP(MX, 25, local_hostname="wks.stack.test", timeout=30) as smtp:
        smtp.sendmail(msg["From"], [msg["To"]], data)
sys.exit(0 if done.returncode == 0 else 69)
'''


@dataclass
class Wks:
    """A domain's WKS: its directory, the server's GnuPG home, the submission address."""

    domain: str
    base: Path
    top: Path
    home: Path
    submission: str
    submission_fpr: str

    @property
    def log(self) -> Path:
        """gpg-wks-server's output for each message received."""
        return self.base / "wks.log"

    def published(self, local: str) -> Path:
        """The ``hu/`` file a published key for ``local@domain`` lands in."""
        client = "/usr/lib/gnupg/gpg-wks-client"  # GnuPG's hash, not ours (same package set)
        out = _as_nobody([client, "--print-wkd-hash", f"{local}@{self.domain}"], self)
        return self.top / self.domain / "hu" / out.split()[0]

    def close(self) -> None:
        """Stop the server's gpg-agent."""
        _as_nobody(["gpgconf", "--homedir", str(self.home), "--kill", "all"], self, check=False)


def _as_nobody(argv: list[str], wks: Any, *, check: bool = True) -> str:
    env = {"GNUPGHOME": str(wks.home), "HOME": str(wks.base), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        argv, capture_output=True, env=env, user=NOBODY, group=NOBODY, timeout=60, check=False
    )
    if check and done.returncode != 0:
        raise StackError(f"{' '.join(argv)} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout.decode(errors="replace")


def _chown_tree(path: Path) -> None:
    for root, dirs, files in os.walk(path):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            os.chown(name, NOBODY, NOBODY)


def add_wks(stack: Any, domain: str, users: dict[str, str]) -> Wks:
    """Give ``domain`` a WKS (gpg-wks-server) and IMAP mailboxes for ``users`` (address: pw)."""
    try:
        server = which("gpg-wks-server")
        pwd.getpwuid(NOBODY)
    except (StackError, KeyError) as e:
        raise StackError(f"install the Debian package gpg-wks-server ({e})") from None
    base = stack.dir / "wks"
    top, home = base / "top", base / "gnupg"
    for d in (top / domain / "hu", home, base / "out"):
        d.mkdir(parents=True, exist_ok=True)
    submission = f"key-submission@{domain}"
    (top / domain / "submission-address").write_text(submission + "\n")
    (top / domain / "policy").write_text("protocol-version: 3\n")
    home.chmod(0o700)
    top.chmod(0o750)  # gpg-wks-server refuses a top directory others may read
    _chown_tree(base)
    wks = Wks(domain, base, top, home, submission, "")
    _as_nobody(["gpg-wks-server", "-C", str(top), "--list-domains"], wks)
    keygen = ["gpg", "--batch", "--passphrase", "", "--quick-gen-key", submission]
    _as_nobody([*keygen, "future-default", "default", "never"], wks)
    listing = _as_nobody(["gpg", "--with-colons", "--list-keys", submission], wks)
    wks.submission_fpr = next(x.split(":")[9] for x in listing.splitlines() if x[:4] == "fpr:")
    _as_nobody(["gpg-wks-server", "-C", str(top), "--install-key", wks.submission_fpr,
                submission], wks)  # fmt: skip
    _serve_wkd(stack, domain, top)
    _route_mail(stack, wks, server, users)
    return wks


def _serve_wkd(stack: Any, domain: str, top: Path) -> None:
    well_known = stack.https.docroot(f"openpgpkey.{domain}") / ".well-known"
    well_known.mkdir(exist_ok=True)
    link = well_known / "openpgpkey"
    if not link.is_symlink():
        link.symlink_to(top, target_is_directory=True)
    stack.https.docroot(domain)
    records = [f"@ A {stack.https.ip}", f"openpgpkey A {stack.https.ip}"]
    if domain in stack.dns.zones:
        stack.dns.set_records(domain, records)
    else:
        stack.dns.add_zone(domain, records, signed=True)


def _route_mail(stack: Any, wks: Wks, server: str, users: dict[str, str]) -> None:
    script = wks.base / "pipe.py"
    script.write_text(
        PIPE_SCRIPT.format(
            base=str(wks.base),
            top=str(wks.top),
            home=str(wks.home),
            mx=stack.mx1.ip,
            server=server,
        )
    )
    script.chmod(0o755)
    python = shutil.which("python3", path="/usr/bin:/bin") or "/usr/bin/python3"
    stack.postfix.add_service(
        f"wks unix - n n - - pipe flags=Rq user=nobody argv={python} {script}"
    )
    stack.postfix.route(wks.submission, "wks:")
    for user, password in users.items():
        stack.dovecot.add_user(user, password)
        maildir = stack.dovecot.maildir(user)
        stack.postfix.mailbox(user, maildir)
    stack.postfix.reload()
