"""Our own S/MIME identity from ``[smime]``: certificate, private key and its passphrase.

The passphrase comes from ``smime.passphrase_command`` or the keyring entry ``smime``
(service "e2email"), which ``e2email smime set-passphrase`` fills after checking it opens
the key.
"""

from __future__ import annotations

from pathlib import Path

from e2email.adapters import secrets
from e2email.adapters.cms.identity import Identity, load_identity, needs_passphrase
from e2email.config import RESERVED_ACCOUNT
from e2email.errors import ConfigError, SecretError
from e2email.services.runtime import Runtime

KEYRING_USER = RESERVED_ACCOUNT  # keyring entry (service "e2email") of the key's passphrase


def identity(rt: Runtime) -> Identity | None:
    """Our certificate and key from ``[smime]``; None when not configured."""
    s = rt.settings.smime
    if s.certificate is None and s.private_key is None:
        return None
    if s.certificate is None or s.private_key is None:
        raise ConfigError("[smime] needs both certificate and private_key (or neither)")
    try:
        pem = s.private_key.read_bytes()
    except OSError as e:
        raise ConfigError(f"smime.private_key: cannot read {s.private_key}: {e.strerror}") from None
    phrase = _passphrase(rt) if needs_passphrase(pem) else None
    return load_identity(s.certificate, s.private_key, phrase)


def key_needs_passphrase(rt: Runtime) -> bool:
    """True when our ``[smime] private_key`` is encrypted (ConfigError when not configured)."""
    _cert, _key, pem = _own_key(rt)
    return needs_passphrase(pem)


def store_passphrase(rt: Runtime, phrase: str) -> str:
    """Check that ``phrase`` opens our private key, then keep it in the keyring; its backend.

    A wrong passphrase is refused before anything is stored, so a typo is found now rather
    than at the next send.
    """
    cert, key, _pem = _own_key(rt)
    try:
        load_identity(cert, key, phrase.encode())  # opens the key, which fits the cert
    except SecretError as e:
        raise SecretError(f"{e}; nothing was stored") from None
    allow = rt.settings.secrets.allow_insecure_keyring
    return secrets.store_in_keyring(KEYRING_USER, phrase, allow_insecure=allow)


def _own_key(rt: Runtime) -> tuple[Path, Path, bytes]:
    """Our certificate's and key's paths, and the key's PEM."""
    s = rt.settings.smime
    if s.certificate is None or s.private_key is None:
        raise ConfigError("[smime] certificate and private_key are not configured")
    try:
        return s.certificate, s.private_key, s.private_key.read_bytes()
    except OSError as e:
        raise ConfigError(f"smime.private_key: cannot read {s.private_key}: {e.strerror}") from None


def _passphrase(rt: Runtime) -> bytes:
    s = rt.settings.smime
    if s.passphrase_command:
        return secrets.from_command(s.passphrase_command, "smime.passphrase_command").encode()
    backend = secrets.keyring_backend(allow_insecure=rt.settings.secrets.allow_insecure_keyring)
    try:
        phrase = backend.get_password(secrets.SERVICE, KEYRING_USER)
    except Exception as e:
        raise SecretError(f"keyring: cannot read the S/MIME key passphrase: {e}") from None
    if not phrase:
        raise SecretError(
            "the S/MIME private key is encrypted: store its passphrase with "
            "'e2email smime set-passphrase', or set smime.passphrase_command"
        )
    return str(phrase).encode()
