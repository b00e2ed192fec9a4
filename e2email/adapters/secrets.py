"""Passwords and tokens: from the system keyring or from a command the user configured.

A secret never appears in argv (ours or a child's), in logs, or in error messages. The
password command runs through ``/bin/sh -c`` with stdin closed; its first output line is the
secret. keyring's plaintext, null and fail backends are refused unless the user opts in
(``secrets.allow_insecure_keyring``): a "saved" password in a readable file is worse than
being asked for a password command.
"""

from __future__ import annotations

import subprocess
from typing import Any

from e2email.errors import SecretError

SERVICE = "e2email"
# Backends that store nothing (fail, null) or store secrets readable by anyone who can read
# the file (keyrings.alt's PlaintextKeyring, and anything calling itself plaintext).
INSECURE_BACKENDS = frozenset({"keyring.backends.fail.Keyring", "keyring.backends.null.Keyring"})
COMMAND_TIMEOUT = 120.0


def from_command(command: str, what: str) -> str:
    """Run ``command`` in a shell and return the first line of its output."""
    try:
        proc = subprocess.run(
            ["/bin/sh", "-c", command],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SecretError(f"{what}: command did not finish in {COMMAND_TIMEOUT:.0f} s") from None
    except OSError as e:
        raise SecretError(f"{what}: cannot run command: {e.strerror}") from None
    if proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        hint = f": {detail[0][:200]}" if detail else ""
        raise SecretError(f"{what}: command exited with status {proc.returncode}{hint}")
    lines = proc.stdout.decode("utf-8", "replace").splitlines()
    if not lines or not lines[0]:
        raise SecretError(f"{what}: command printed nothing")
    return lines[0]


def backend_name(backend: Any) -> str:
    """``module.Class`` of a keyring backend, for messages."""
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def effective(backend: Any) -> Any:
    """The backend that really stores: a ChainerBackend's first (highest-priority) member.

    keyring chains every backend with a positive priority, keyrings.alt's plaintext file
    included; a chained ``set_password`` that fails on the secure store falls through to
    the plaintext one. e2email talks to the first member only.
    """
    chained = getattr(backend, "backends", None)
    if chained is None:
        return backend
    return chained[0] if chained else None


def insecure(backend: Any) -> bool:
    """True for a backend that cannot keep a secret (stores nothing, or stores it readable)."""
    if backend is None:
        return True
    name = backend_name(backend)
    priority = getattr(backend, "priority", 1)
    return priority <= 0 or name in INSECURE_BACKENDS or "plaintext" in name.lower()


def keyring_backend(*, allow_insecure: bool) -> Any:
    """The usable keyring backend, or SecretError saying why there is none."""
    try:
        import keyring
    except ImportError as e:  # pragma: no cover - keyring is a dependency
        raise SecretError(f"the keyring module is not available: {e}") from None
    try:
        backend = effective(keyring.get_keyring())
    except Exception as e:  # a broken keyringrc or PYTHON_KEYRING_BACKEND
        raise SecretError(f"keyring: no usable backend: {type(e).__name__}: {e}") from None
    if backend is None:
        raise SecretError("keyring: no backend available; use password_command")
    if insecure(backend) and not allow_insecure:
        raise SecretError(
            f"keyring backend {backend_name(backend)} cannot store secrets safely; "
            "use password_command, install a Secret Service keyring, or set "
            "secrets.allow_insecure_keyring = true"
        )
    return backend


def from_keyring(account: str, *, allow_insecure: bool) -> str:
    """The password stored for ``account`` under service "e2email"."""
    backend = keyring_backend(allow_insecure=allow_insecure)
    try:
        secret = backend.get_password(SERVICE, account)
    except Exception as e:
        raise SecretError(f"keyring: cannot read the password of account {account}: {e}") from None
    if not secret:
        raise SecretError(
            f"no password stored for account {account!r}: run "
            f"'e2email account set-password {account}' or set password_command"
        )
    return str(secret)


def store_in_keyring(user: str, secret: str, *, allow_insecure: bool) -> str:
    """Store ``secret`` under service "e2email" and ``user`` (an account's name, or "smime"
    for the S/MIME key's passphrase); return the backend's name."""
    backend = keyring_backend(allow_insecure=allow_insecure)
    try:
        backend.set_password(SERVICE, user, secret)
    except Exception as e:
        raise SecretError(f"keyring: cannot store the secret of {user}: {e}") from None
    return backend_name(backend)
