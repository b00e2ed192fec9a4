"""Dovecot with a standalone config: IMAP on 993 (implicit TLS) and 143 (STARTTLS), passwd-file
users with a Maildir each, and the auth socket Postfix uses for SASL.

Failed logins are not penalised (``auth_failure_delay = 0``, no anvil penalty), but Dovecot
2.3.19 still answers a failed AUTH only at its next 500 ms failure-queue tick: count ~0.5 s per
failed IMAP login and ~1 s per failed SMTP AUTH (instead of 2-15 s).

A client connecting from 127.0.0.1 to the block's IMAP address is *not* "secured" in Dovecot's
eyes (remote and local IPs differ), so plaintext LOGIN before STARTTLS on 143 is refused.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from .procs import Daemon, Processes, StackError, tail, tcp_open, which

NOBODY = 65534


class Dovecot:
    """One Dovecot instance under ``directory``."""

    def __init__(
        self,
        directory: Path,
        procs: Processes,
        *,
        ip: str,
        cert: tuple[Path, Path],
        users: dict[str, str],
    ) -> None:
        self.dir = directory
        self.procs = procs
        self.ip = ip
        self.cert, self.key = cert
        self.users = users
        self.conf = directory / "dovecot.conf"
        self.users_file = directory / "users"
        self.base_dir = directory / "run"
        self.mail_dir = directory / "mail"
        self.log = directory / "dovecot.log"
        self.daemon: Daemon | None = None

    @property
    def auth_socket(self) -> Path:
        """The SASL socket for Postfix (``smtpd_sasl_type = dovecot``)."""
        return self.base_dir / "auth-postfix"

    def maildir(self, user: str) -> Path:
        """The Maildir of ``user`` (created by Dovecot on first login)."""
        return self.mail_dir / user / "Maildir"

    def _config(self) -> str:
        return f"""\
instance_name = e2email-{self.ip}
base_dir = {self.base_dir}
state_dir = {self.dir / "state"}
log_path = {self.log}
info_log_path = {self.log}
protocols = imap
listen = {self.ip}
ssl = required
ssl_cert = <{self.cert}
ssl_key = <{self.key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login
auth_failure_delay = 0
auth_verbose = yes
mail_location = maildir:~/Maildir
mail_max_userip_connections = 200
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.users_file}
}}

userdb {{
  driver = static
  args = uid={NOBODY} gid={NOBODY} home={self.mail_dir}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = {self.ip}
    port = 143
  }}
  inet_listener imaps {{
    address = {self.ip}
    port = 993
    ssl = yes
  }}
}}
service auth {{
  unix_listener auth-postfix {{
    mode = 0660
    user = postfix
    group = postfix
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""

    def prepare(self) -> None:
        """Write the config and the users file, create the mail directory."""
        for user in ("dovecot", "dovenull"):
            try:
                pwd.getpwnam(user)
            except KeyError:
                raise StackError(
                    f"user {user!r} missing: install the Debian package dovecot-core"
                ) from None
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(self._config())
        self.write_users()
        self.mail_dir.mkdir(mode=0o755, exist_ok=True)
        os.chown(self.mail_dir, NOBODY, NOBODY)

    def write_users(self) -> None:
        """(Re)write the passwd-file from ``self.users``; Dovecot re-reads it on change."""
        lines = [f"{user}:{{PLAIN}}{password}::::::" for user, password in self.users.items()]
        self.users_file.write_text("\n".join(lines) + "\n")
        self.users_file.chmod(0o644)

    def add_user(self, user: str, password: str) -> None:
        """Add (or change) an IMAP/SASL user; effective immediately."""
        self.users[user] = password
        self.write_users()

    def start(self) -> None:
        """Spawn ``dovecot -F`` (call :meth:`wait_ready` afterwards)."""
        self.daemon = self.procs.spawn(
            "dovecot",
            [which("dovecot"), "-F", "-c", str(self.conf)],
            self.dir / "dovecot.out",
            other_logs=[self.log],
        )

    def wait_ready(self, timeout: float = 10) -> None:
        """Wait until both IMAP ports accept connections and the auth socket exists."""
        if self.daemon is None:
            raise StackError("dovecot was not started")
        daemon = self.daemon
        daemon.wait_ready(lambda: tcp_open(self.ip, 993) and tcp_open(self.ip, 143), timeout)
        daemon.wait_ready(self.auth_socket.exists, timeout)

    def log_tail(self, lines: int = 40) -> str:
        """The end of Dovecot's log."""
        return tail(self.log, lines)
