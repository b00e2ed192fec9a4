"""Process handling for the test stack: start daemons, wait for them, stop exactly them.

Every daemon runs in its own session (``start_new_session=True``), so its process group id is
its pid and signalling the group reaches the children it forked. Daemons that call ``setsid()``
again (the Postfix master) keep that pid as their group id, which is what we signal.

Nothing outlives the stack: the test process becomes a child subreaper (orphans of our daemons
are reaped by us, not left as zombies under a container's PID 1), and a watchdog process
SIGKILLs our process groups if the test process dies without stopping them.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Where each daemon binary comes from, to name the Debian package when one is missing.
PACKAGES = {
    "master": "postfix",
    "postfix": "postfix",
    "postconf": "postfix",
    "dovecot": "dovecot-core (and dovecot-imapd)",
    "knotd": "knot",
    "knotc": "knot",
    "keymgr": "knot",
    "unbound": "unbound",
    "unbound-control": "unbound",
    "slapd": "slapd",
    "slapadd": "slapd",
    "ldapadd": "ldap-utils",
}

POSTFIX_DAEMON_DIR = Path("/usr/lib/postfix/sbin")


class StackError(RuntimeError):
    """A test-stack daemon could not be set up, started or reached."""


def which(name: str) -> str:
    """Return the path of a daemon binary, or raise naming the Debian package to install.

    Postfix's ``master`` is only looked up in Postfix's daemon directory.
    """
    if name == "master":
        candidates = [str(POSTFIX_DAEMON_DIR / name)]
    else:
        candidates = [name, f"/usr/sbin/{name}"]
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return found
    package = PACKAGES.get(name, name)
    raise StackError(
        f"{name!r} not found: install the Debian package {package} "
        "(see /work/shared/design/test-stack.md)"
    )


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file, for error messages (empty string if unreadable)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, interval: float = 0.01
) -> None:
    """Poll ``check`` until it returns True; raise StackError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() >= deadline:
            raise StackError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(interval)


def tcp_open(ip: str, port: int) -> bool:
    """True if something accepts TCP connections on ip:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((ip, port)) == 0


def run(argv: Sequence[str], *, timeout: float = 20, what: str | None = None) -> str:
    """Run a short command; return stdout; raise StackError with its output on failure."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"{what or argv[0]}: timed out after {timeout} s") from exc
    if done.returncode != 0:
        raise StackError(
            f"{what or ' '.join(argv)} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}"
        )
    return done.stdout


@dataclass
class Daemon:
    """One started daemon: the process we spawned and the group we may signal."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    pgids: set[int] = field(default_factory=set)
    other_logs: list[Path] = field(default_factory=list)

    def log_tails(self) -> str:
        """The tails of the daemon's stdout/stderr capture and of its own log files."""
        parts = []
        for path in [self.log, *self.other_logs]:
            if path.exists() and path.stat().st_size:
                parts.append(f"--- {path}:\n{tail(path)}")
        return "\n".join(parts) or "(logs are empty)"

    def alive(self) -> bool:
        """True while the spawned process runs."""
        return self.proc.poll() is None

    def check_alive(self) -> None:
        """Raise StackError with the log tail if the daemon has exited."""
        if not self.alive():
            raise StackError(
                f"{self.name} exited with status {self.proc.returncode}\n{self.log_tails()}"
            )

    def wait_ready(self, check: Callable[[], bool], timeout: float = 10) -> None:
        """Poll ``check`` until true, failing early (with the log tail) if the daemon dies."""

        def ready() -> bool:
            self.check_alive()
            return check()

        try:
            wait_until(ready, timeout, f"{self.name} to become ready")
        except StackError as exc:
            if "timed out" in str(exc):
                raise StackError(f"{exc}\n{self.log_tails()}") from None
            raise


PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """Make daemons' orphans (e.g. Postfix children outliving their master) our children.

    In a container PID 1 may never reap orphans, leaving zombies; as subreaper we reap those of
    our own process groups in :meth:`Processes.stop`. Harmless if prctl is unavailable.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _group_members(pgids: set[int]) -> list[tuple[int, str, int]]:
    """(pid, state, ppid) of every process whose group is in ``pgids``, from /proc.

    Read from /proc rather than ``killpg(pgid, 0)``: a zombie still counts as a group member.
    """
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):  # gone meanwhile
            continue
        state, ppid, pgid = fields[0], int(fields[1]), int(fields[2])
        if pgid in pgids:
            members.append((int(entry), state, ppid))
    return members


def _live_groups(pgids: set[int]) -> set[int]:
    """The subset of ``pgids`` that still has a member which is not a zombie."""
    live = set()
    for pid, state, _ in _group_members(pgids):
        if state not in ("Z", "X"):
            with contextlib.suppress(OSError):
                live.add(os.getpgid(pid))
    return live


def _reap_orphans(pgids: set[int]) -> None:
    """Reap the zombies of our groups that were reparented to us (we are subreaper)."""
    me = os.getpid()
    for pid, state, ppid in _group_members(pgids):
        if state == "Z" and ppid == me:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


# Runs beside the test process; SIGKILLs the listed process groups (and removes the temp dir)
# when its stdin reaches EOF without "done", i.e. when the test process died without cleaning up.
_WATCHDOG = """
import os, shutil, signal, sys
groups = []
for line in sys.stdin:
    if line.strip() == "done":
        sys.exit(0)
    groups.append(int(line))
for group in groups:
    try:
        os.killpg(group, signal.SIGKILL)
    except OSError:
        pass
if sys.argv[1]:
    shutil.rmtree(sys.argv[1], ignore_errors=True)
"""


class Processes:
    """The set of daemons one stack started; ``stop_all`` ends exactly those.

    A watchdog process (own session, fed through a pipe only we hold) kills them and removes
    ``cleanup_dir`` if this process dies without calling :meth:`close` (kill -9, crash).
    """

    def __init__(self, cleanup_dir: Path | None = None) -> None:
        self.daemons: list[Daemon] = []
        become_subreaper()
        read_end, self._watch_fd = os.pipe()
        try:
            self.watchdog = subprocess.Popen(
                [sys.executable, "-c", _WATCHDOG, str(cleanup_dir or "")],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            os.close(read_end)

    def _watch(self, pgid: int) -> None:
        os.write(self._watch_fd, f"{pgid}\n".encode())

    def close(self) -> None:
        """Stop every daemon, then dismiss the watchdog."""
        try:
            self.stop_all()
        finally:
            if self._watch_fd >= 0:
                os.write(self._watch_fd, b"done\n")
                os.close(self._watch_fd)
                self._watch_fd = -1
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.watchdog.wait(timeout=5)

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        log: Path,
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        other_logs: Sequence[Path] = (),
    ) -> Daemon:
        """Start ``argv`` in a new session, stdout/stderr appended to ``log``."""
        with log.open("ab") as out:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                cwd=cwd,
            )
        daemon = Daemon(name, proc, log, {proc.pid}, list(other_logs))
        self.daemons.append(daemon)
        self._watch(proc.pid)
        return daemon

    def stop(self, daemons: Iterable[Daemon], timeout: float = 5) -> None:
        """Stop ``daemons`` (see :meth:`_stop_politely`); SIGKILL their groups if that fails."""
        daemons = list(daemons)
        try:
            self._stop_politely(daemons, timeout)
        except BaseException:
            for pgid in {pgid for d in daemons for pgid in d.pgids}:
                _signal_group(pgid, signal.SIGKILL)
            raise
        finally:
            for d in daemons:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    d.proc.wait(timeout=2)
                if d in self.daemons:
                    self.daemons.remove(d)

    def _stop_politely(self, daemons: list[Daemon], timeout: float) -> None:
        """SIGTERM the daemons' groups, wait, SIGKILL what is left, reap orphans.

        SIGTERM is repeated every 0.2 s: a master may fork a child (Dovecot's imap-login for a
        connection already queued) just after the first signal, then wait seconds for it. Once
        a master has exited, what is left of its group gets SIGKILL: the Postfix master ignores
        SIGTERM while it relays it, so a child forked in that instant ignores it too.
        """
        groups = {pgid for d in daemons for pgid in d.pgids}
        deadline = time.monotonic() + timeout
        next_term = 0.0
        while (live := _live_groups(groups)) and time.monotonic() < deadline:
            if time.monotonic() >= next_term:
                for pgid in live:
                    _signal_group(pgid, signal.SIGTERM)
                next_term = time.monotonic() + 0.2
            time.sleep(0.01)
            for d in daemons:
                if d.proc.poll() is not None:
                    for pgid in d.pgids & live:
                        _signal_group(pgid, signal.SIGKILL)
        for pgid in live:
            _signal_group(pgid, signal.SIGKILL)
        for d in daemons:
            with contextlib.suppress(subprocess.TimeoutExpired):
                d.proc.wait(timeout=2)
        _reap_orphans(groups)

    def stop_all(self, timeout: float = 5) -> None:
        """Stop every daemon this set started."""
        self.stop(list(self.daemons), timeout)
