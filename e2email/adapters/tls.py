"""The only place an ``ssl.SSLContext`` is built.

Every context verifies the peer's certificate chain and host name, refuses anything below
TLS 1.2, and trusts the system store plus ``network.ca_file`` when configured. There is no
switch to turn verification off: a probe that wants to *observe* a bad certificate uses
``observing_context()``, whose result is never used to send anything that needs secrecy.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import ssl
from pathlib import Path

from e2email.errors import ConfigError, TLSError

_HASH_NAME = re.compile(r"[0-9a-f]{8}\.[0-9]+")


def client_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """A verifying client context: system trust store, plus ``ca_file`` as an extra anchor."""
    ctx = _with_system_anchors()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    if ca_file is not None:
        try:
            ctx.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(f"network.ca_file: cannot load {ca_file}: {e}") from None
    return ctx


def _with_system_anchors() -> ssl.SSLContext:
    """``create_default_context()`` with the system anchors looked up lazily when possible.

    Loading the system CA bundle parses every certificate in it: 21 ms of CPU on each start
    of the sendmail path (performance.md). A hashed certificate directory (``c_rehash``,
    Debian's /etc/ssl/certs) holds the same anchors and OpenSSL reads only the issuer it
    needs. An explicit ``SSL_CERT_FILE``, or a directory without hash links, gets the bundle.
    """
    paths = ssl.get_default_verify_paths()
    capath = paths.capath
    if os.environ.get(paths.openssl_cafile_env) or not capath or not _hashed(capath):
        return ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH, capath=capath)


def _hashed(directory: str) -> bool:
    """True if ``directory`` has OpenSSL subject-hash links (``1a2b3c4d.0``)."""
    try:
        with os.scandir(directory) as entries:
            return any(_HASH_NAME.fullmatch(e.name) for e in entries)
    except OSError:
        return False


def observing_context() -> ssl.SSLContext:
    """A context that completes handshakes with bad certificates so they can be *reported*.

    Only for transport probes (``e2email check``) that verify the chain separately. Never
    used for submission, IMAP, LDAP or HTTPS.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def certificate_sha256(sock: ssl.SSLSocket) -> str:
    """``sha256:<hex>`` of the peer's DER certificate."""
    der = sock.getpeercert(binary_form=True)
    if der is None:
        raise TLSError("the server presented no certificate")
    return "sha256:" + hashlib.sha256(der).hexdigest()


def check_pin(sock: ssl.SSLSocket, pin: str | None, host: str) -> None:
    """Raise TLSError unless the peer certificate matches the ``tls_fingerprint`` pin."""
    if pin is None:
        return
    seen = certificate_sha256(sock)
    if not hmac.compare_digest(seen, pin):
        raise TLSError(f"{host}: certificate fingerprint {seen} does not match the pinned {pin}")


def explain(err: BaseException, host: str) -> TLSError:
    """Turn an ssl/OS error during a handshake into a one-line TLSError."""
    if isinstance(err, ssl.SSLCertVerificationError):
        reason = err.verify_message or err.reason or str(err)
        return TLSError(f"{host}: certificate not trusted: {reason}")
    if isinstance(err, ssl.SSLError):
        return TLSError(f"{host}: TLS handshake failed: {err.reason or err}")
    return TLSError(f"{host}: TLS handshake failed: {err}")
