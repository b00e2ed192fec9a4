"""One Postfix instance: submission listeners (587 STARTTLS, 465 implicit TLS), MX listeners on
port 25, and a sink Maildir that receives every accepted message.

The master runs directly (``master -c CONF -s``, what ``postfix start-fg`` ends up running), so
the pid we spawn is the master's and its process group holds every Postfix child. Config file
mtimes are set 60 s into the past (Postfix re-reads files changed within the last second,
sleeping 300 ms per try) and the queue directories are created here, so start-up takes
well under 0.1 s.
"""

from __future__ import annotations

import grp
import os
import pwd
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .procs import Daemon, Processes, StackError, tail, tcp_open, which

MESSAGE_SIZE_LIMIT = 300 * 1024 * 1024  # 120 MB messages, base64 and all, with room to spare
NOBODY = 65534

# (name, owner, group, mode) under queue_directory, as in Postfix's postfix-files
_QUEUE_DIRS = [
    ("active", "postfix", None, 0o700),
    ("bounce", "postfix", None, 0o700),
    ("corrupt", "postfix", None, 0o700),
    ("defer", "postfix", None, 0o700),
    ("deferred", "postfix", None, 0o700),
    ("flush", "postfix", None, 0o700),
    ("hold", "postfix", None, 0o700),
    ("incoming", "postfix", None, 0o700),
    ("saved", "postfix", None, 0o700),
    ("trace", "postfix", None, 0o700),
    ("private", "postfix", None, 0o700),
    ("maildrop", "postfix", "postdrop", 0o730),
    ("public", "postfix", "postdrop", 0o710),
    ("pid", "root", None, 0o755),
]

_INTERNAL_SERVICES = """\
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


@dataclass(frozen=True)
class Listener:
    """One smtpd listener: address, port and its ``-o`` overrides."""

    ip: str
    port: int
    options: Mapping[str, str] = field(default_factory=dict)

    def line(self) -> str:
        """Its master.cf line."""
        opts = " ".join(f"-o {k}={v}" for k, v in self.options.items())
        return f"{self.ip}:{self.port} inet n - n - - smtpd {opts}".rstrip()


def submission_options(cert: Path, key: Path, *, wrapper: bool = False) -> dict[str, str]:
    """smtpd overrides for a submission service: TLS required, SASL, relay only after AUTH."""
    options = {
        "syslog_name": "postfix/submissions" if wrapper else "postfix/submission",
        "smtpd_tls_security_level": "encrypt",
        "smtpd_tls_auth_only": "yes",
        "smtpd_sasl_auth_enable": "yes",
        "smtpd_relay_restrictions": "permit_sasl_authenticated,reject",
        "smtpd_tls_chain_files": f"{key},{cert}",
    }
    if wrapper:
        options["smtpd_tls_wrappermode"] = "yes"
    return options


def mx_options(tls: str, cert: Path | None, key: Path | None) -> dict[str, str]:
    """smtpd overrides for an MX listener with TLS level ``none``, ``may`` or ``encrypt``."""
    if tls not in ("none", "may", "encrypt"):
        raise ValueError(f"tls must be none, may or encrypt, not {tls!r}")
    options = {"syslog_name": "postfix/mx", "smtpd_tls_security_level": tls}
    if tls != "none":
        if cert is None or key is None:
            raise ValueError(f"tls={tls!r} needs cert and key")
        options["smtpd_tls_chain_files"] = f"{key},{cert}"
    return options


RELOAD_RETRY = 3.0  # seconds before a reload signal is sent again
RELOAD_SIGNALS = 3  # signals before the master is restarted instead


class Postfix:
    """A Postfix instance under ``directory``; listeners are added before or after start."""

    def __init__(
        self, directory: Path, procs: Processes, *, myhostname: str, sasl_path: Path, sink: Path
    ) -> None:
        self.dir = directory
        self.procs = procs
        self.conf_dir = directory / "conf"
        self.queue_dir = directory / "queue"
        self.log = directory / "postfix.log"
        self.myhostname = myhostname
        self.sasl_path = sasl_path
        self.sink_dir = sink
        self.listeners: dict[tuple[str, int], Listener] = {}
        self.services: list[str] = []  # extra master.cf lines (pipe transports)
        self.transports: dict[str, str] = {}  # recipient -> transport (transport_maps)
        self.mailboxes: dict[str, str] = {}  # recipient -> Maildir, instead of the sink
        self.master: Daemon | None = None
        self.restarts = 0  # reloads that needed a restart (see reload())

    # -- configuration -----------------------------------------------------------------------

    def add_listener(self, ip: str, port: int, options: Mapping[str, str]) -> Listener:
        """Register an smtpd listener (call :meth:`reload` if already running)."""
        listener = Listener(ip, port, dict(options))
        self.listeners[(ip, port)] = listener
        return listener

    def _main_cf(self) -> str:
        d = self.dir
        return f"""\
compatibility_level = 3.6
queue_directory = {self.queue_dir}
data_directory = {d / "data"}
maillog_file = {self.log}
maillog_file_prefixes = {d}
myhostname = {self.myhostname}
mydomain = example.test
myorigin = $myhostname
inet_interfaces = loopback-only
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
smtpd_banner = $myhostname ESMTP e2email test stack
biff = no
readme_directory = no
virtual_mailbox_domains = static:all
virtual_mailbox_base = {self.sink_dir.parent}
virtual_mailbox_maps = texthash:{self.conf_dir / "mailboxes"}, static:{self.sink_dir.name}/
transport_maps = texthash:{self.conf_dir / "transport"}
virtual_uid_maps = static:{NOBODY}
virtual_gid_maps = static:{NOBODY}
virtual_mailbox_limit = 0
mailbox_size_limit = 0
message_size_limit = {MESSAGE_SIZE_LIMIT}
smtputf8_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = {self.sasl_path}
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
smtpd_tls_security_level = may
smtpd_tls_loglevel = 0
smtpd_error_sleep_time = 0s
smtpd_soft_error_limit = 100
smtpd_hard_error_limit = 200
in_flow_delay = 0s
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 5s
delay_warning_time = 0h
default_process_limit = 50
"""

    def _master_cf(self) -> str:
        lines = [listener.line() for listener in self.listeners.values()]
        return "\n".join([*lines, *self.services]) + "\n" + _INTERNAL_SERVICES

    def add_service(self, line: str) -> None:
        """Add a master.cf service line, e.g. a pipe transport (call :meth:`reload`)."""
        if line not in self.services:
            self.services.append(line)

    def route(self, recipient: str, transport: str) -> None:
        """Deliver mail for ``recipient`` through ``transport`` (call :meth:`reload`)."""
        self.transports[recipient] = transport

    def mailbox(self, recipient: str, maildir: Path) -> None:
        """Deliver mail for ``recipient`` into ``maildir`` (e.g. a Dovecot user's) instead of
        the sink (call :meth:`reload`); the Maildir is created for user nobody."""
        for sub in ("cur", "new", "tmp"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        for path in (maildir.parent, maildir, *(maildir / s for s in ("cur", "new", "tmp"))):
            os.chown(path, NOBODY, NOBODY)
        self.mailboxes[recipient] = os.path.relpath(maildir, self.sink_dir.parent) + "/"

    def _write_config(self) -> None:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        past = time.time() - 60  # Postfix waits for files changed within the last second
        files = [
            ("main.cf", self._main_cf()),
            ("master.cf", self._master_cf()),
            ("transport", "".join(f"{k} {v}\n" for k, v in self.transports.items())),
            ("mailboxes", "".join(f"{k} {v}\n" for k, v in self.mailboxes.items())),
        ]
        for name, text in files:
            path = self.conf_dir / name
            path.write_text(text)
            os.utime(path, (past, past))

    def _make_dirs(self) -> None:
        postfix = pwd.getpwnam("postfix")
        self.queue_dir.mkdir(parents=True, exist_ok=True)
        for name, owner, group, mode in _QUEUE_DIRS:
            path = self.queue_dir / name
            path.mkdir(mode=mode, exist_ok=True)
            uid = postfix.pw_uid if owner == "postfix" else 0
            gid = grp.getgrnam(group).gr_gid if group else (postfix.pw_gid if uid else 0)
            os.chown(path, uid, gid)
            path.chmod(mode)
        data = self.dir / "data"
        data.mkdir(mode=0o700, exist_ok=True)
        os.chown(data, postfix.pw_uid, postfix.pw_gid)
        for sub in ("", "new", "cur", "tmp"):
            (self.sink_dir / sub).mkdir(mode=0o755, exist_ok=True)
            os.chown(self.sink_dir / sub, NOBODY, NOBODY)

    # -- running -----------------------------------------------------------------------------

    def prepare(self) -> None:
        """Write main.cf/master.cf and create the queue directories and the sink."""
        try:
            pwd.getpwnam("postfix")
        except KeyError:
            raise StackError("user 'postfix' missing: install the Debian package postfix") from None
        self._write_config()
        self._make_dirs()

    def start(self) -> None:
        """Spawn the master (call :meth:`wait_ready` afterwards)."""
        self.master = self.procs.spawn(
            "postfix",
            [which("master"), "-c", str(self.conf_dir), "-s"],
            self.dir / "master.out",
            env={"MAIL_CONFIG": str(self.conf_dir), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            other_logs=[self.log],
        )

    def wait_ready(self, timeout: float = 10) -> None:
        """Wait until every listener accepts connections."""
        if self.master is None:
            raise StackError("postfix was not started")
        master = self.master
        pending = set(self.listeners)

        def all_open() -> bool:
            pending.difference_update({(ip, port) for ip, port in pending if tcp_open(ip, port)})
            return not pending

        master.wait_ready(all_open, timeout)

    def log_tail(self, lines: int = 40) -> str:
        """The end of Postfix's log."""
        return tail(self.log, lines)

    def reload(self, timeout: float = 30) -> None:
        """Rewrite the config and make the master re-read it (``postfix reload``).

        The master can miss a SIGHUP (full runs have shown a reload that never happened and
        listeners that never opened), so the signal is repeated a few times; if the master
        still does not take the new configuration, it is restarted (the queue and the sink
        are on disk). Both are bounded by ``timeout``.
        """
        if self.master is None:
            self._write_config()
            return
        self.master.check_alive()
        self._write_config()
        deadline = time.monotonic() + timeout
        for _ in range(RELOAD_SIGNALS):
            os.kill(self.master.proc.pid, signal.SIGHUP)
            if self._ready_within(min(RELOAD_RETRY, deadline - time.monotonic())):
                return
        self.restarts += 1
        self.procs.stop([self.master])
        self.start()
        self.wait_ready(max(deadline - time.monotonic(), RELOAD_RETRY))

    def _ready_within(self, seconds: float) -> bool:
        """True once every listener is open; False when ``seconds`` pass first."""
        try:
            self.wait_ready(max(seconds, 0.1))
        except StackError as exc:
            if "timed out" not in str(exc):
                raise
            return False
        return True

    # -- MX listeners --------------------------------------------------------------------------

    def add_mx(
        self,
        host_ip: str,
        tls: str = "may",
        cert: tuple[Path, Path] | None = None,
        *,
        port: int = 25,
        options: Mapping[str, str] | None = None,
    ) -> Listener:
        """Add an MX listener on ``host_ip:port`` and reload if running.

        ``tls``: ``"none"`` (no STARTTLS offered), ``"may"`` (STARTTLS with ``cert``, a
        ``(cert_path, key_path)`` pair from ``pki.issue``) or ``"encrypt"``. ``options`` adds
        further smtpd ``-o`` overrides (e.g. ``{"smtpd_tls_protocols": ">=TLSv1.3"}``).
        Every accepted message goes to the sink.
        """
        cert_path, key_path = cert if cert else (None, None)
        merged = {**mx_options(tls, cert_path, key_path), **(options or {})}
        listener = self.add_listener(host_ip, port, merged)
        self.reload()
        return listener

    def remove_listener(self, host_ip: str, port: int = 25) -> None:
        """Drop a listener and reload."""
        del self.listeners[(host_ip, port)]
        self.reload()
