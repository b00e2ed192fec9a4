"""The E2emailError tree.

Every error a user can meet is one of these classes. Each carries the sysexits(3) code that
the command line (and the sendmail drop-in) exits with, and its docstring says when it is
raised. The branches follow what the user can do about it: fix the command line, fix the
message, find a key, change policy, retry later, fix the configuration.

Outcomes that are decisions (a recipient refused by policy in a dry run, a key rejected
during discovery) are values in ``model``; only faults are exceptions.
"""

from __future__ import annotations

from typing import ClassVar

EX_OK = 0
EX_USAGE = 64
EX_DATAERR = 65
EX_NOUSER = 67
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_TEMPFAIL = 75
EX_NOPERM = 77
EX_CONFIG = 78


class E2emailError(Exception):
    """Root of every error e2email raises on purpose; never raised itself."""

    exit_code: ClassVar[int] = EX_SOFTWARE


class UsageError(E2emailError):
    """The command line is wrong: unknown option, missing argument, bad recipient argument."""

    exit_code = EX_USAGE


class MessageError(E2emailError):
    """The message itself is malformed: a bad header, a bad address, unreadable MIME."""

    exit_code = EX_DATAERR


class HeaderInjectionError(MessageError):
    """A header value would smuggle in another header (CR or LF after decoding)."""


class NoUsableKeyError(E2emailError):
    """Encryption is required for a recipient and no usable key or certificate was found."""

    exit_code = EX_NOUSER


class PolicyRefusedError(E2emailError):
    """Policy refused to send (e.g. no key and the MX path is below the transport floor)."""

    exit_code = EX_NOPERM


class AuthenticationError(E2emailError):
    """The server refused our credentials (535 and friends); retrying will not help."""

    exit_code = EX_NOPERM


class ConfigError(E2emailError):
    """The configuration is missing, unreadable or wrong; the message names key and file."""

    exit_code = EX_CONFIG


class SecretError(ConfigError):
    """A password could not be obtained: unusable keyring backend, failing password command."""


class CryptoError(E2emailError):
    """gpg or the S/MIME engine failed to encrypt, sign or decrypt."""

    exit_code = EX_SOFTWARE


class IntegrityError(CryptoError):
    """Decryption found the ciphertext tampered with or unprotected; no plaintext released."""

    exit_code = EX_DATAERR


class UnsupportedError(E2emailError):
    """A key, certificate or message uses a format e2email does not support (yet)."""

    exit_code = EX_DATAERR


class TemporaryFailure(E2emailError):
    """Network, TLS or 4xx trouble: nothing was accepted; the message may be retried."""

    exit_code = EX_TEMPFAIL


class TLSError(TemporaryFailure):
    """TLS could not be established or verified (bad certificate, failed handshake, no STARTTLS)."""


class ProtocolViolation(TemporaryFailure):
    """The server broke the protocol in a way that may be an attack (e.g. STARTTLS injection)."""


class PermanentFailure(E2emailError):
    """The server refused permanently (5xx); retrying the same message will not help."""

    exit_code = EX_UNAVAILABLE


class NoKeyServiceError(PermanentFailure):
    """The provider runs no Web Key Service: it publishes no submission address (WKS 4.1)."""


class PartialDeliveryError(PermanentFailure):
    """Some recipients were refused; the message names them. Nothing was sent unless --partial."""


class InternalError(E2emailError):
    """A bug: an invariant did not hold. Please report it."""

    exit_code = EX_SOFTWARE
