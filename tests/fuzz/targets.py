"""Every parser of outside bytes in e2email, as a fuzz target: ``bytes -> None``.

A target may raise only the project's own error classes (``ALLOWED``): anything else -- an
IndexError, a UnicodeDecodeError, a RecursionError -- is a crash, and a crash is a bug. The same
targets run under hypothesis in ``make test`` (tests/fuzz/test_fuzz.py, bounded) and under
atheris for hours in ``make fuzz`` (scripts/fuzz.py). Each has a seed corpus of real inputs in
tests/fuzz/corpus/<name>/; crashers found are fixed and kept there as regression inputs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from e2email.core.mtasts import MtaStsError
from e2email.core.pgpkeys import PacketError
from e2email.core.tlsrpt import TlsRptError
from e2email.errors import E2emailError

ALLOWED: tuple[type[BaseException], ...] = (E2emailError, MtaStsError, PacketError, TlsRptError)
CORPUS = Path(__file__).parent / "corpus"
FIXTURES = Path(__file__).resolve().parents[2] / "keys-fixtures"
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Target:
    """One parser: its name (the corpus folder), the call, and what it parses."""

    name: str
    run: Callable[[bytes], object]
    what: str
    also: tuple[type[BaseException], ...] = ()  # documented errors of a pure helper

    def seeds(self) -> list[bytes]:
        """The seed corpus: tests/fuzz/corpus/<name>/*, sorted by file name."""
        folder = CORPUS / self.name
        return [p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()]


def _text(data: bytes) -> str:
    """Outside text the way e2email receives it: bytes decoded with replacement."""
    return data.decode("utf-8", "surrogateescape")


def message(data: bytes) -> None:
    from e2email.core import message as m

    ready = m.parse(data)
    m.recipients(ready, None)
    m.strip_bcc(data.partition(b"\n\n")[0])


def sendmail_argv(data: bytes) -> None:
    from e2email.core import sendmail

    argv = [w.decode("utf-8", "surrogateescape") for w in data.split(b"\0")]
    args = sendmail.parse_args(argv)
    sendmail.recipient_addresses(args.recipients)
    if args.sender is not None:
        sendmail.envelope_sender(args.sender)


def sendmail_stdin(data: bytes) -> None:
    from e2email.core import sendmail
    from e2email.model import Address

    body = sendmail.cut_at_dot(data)
    sendmail.header_block(body)
    sendmail.unqualified_from(body)
    sendmail.with_from(body, Address("alice", "example.test"), "Alice")


def addresses(data: bytes) -> None:
    from e2email.core import addresses as a

    text = _text(data)
    for parse in (a.parse_mailbox, a.parse_addr_spec, a.parse_recipient_argument):
        with contextlib.suppress(E2emailError):
            parse(text)
    a.check_header_value("Subject", text)


def rawmime(data: bytes) -> None:
    from e2email.core import rawmime as r

    entity = r.split_entity(data)
    ct = entity.content_type
    boundary = ct.param("boundary")
    if ct.type.startswith("multipart/") and boundary:
        r.split_multipart(entity.body, boundary)
    r.parse_content_type(data[:2000].decode("utf-8", "replace"))  # as split_entity decodes


def incoming(data: bytes) -> None:
    """What ``imap decrypt`` does with a stored message before any key is involved."""
    from e2email.core import reader

    env = reader.classify(data)
    reader.original_sha256(data)
    if env.encrypted:
        reader.inner_entity(env, env.ciphertext)


def decrypted_payload(data: bytes) -> None:
    """What the pipeline does with a plaintext an attacker encrypted to us (RFC 9788 restore)."""
    from e2email.core import protected, reader

    env = reader.classify(_PGP_ENVELOPE)
    inner = reader.inner_entity(env, data)
    reader.signed_layer(inner)
    protected.scheme_of(inner)
    protected.restore(env.outer, inner)


_PGP_ENVELOPE = (
    b"From: a@example.test\r\nTo: b@example.test\r\nSubject: [...]\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b"\r\n'
    b"\r\n--b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n--b\r\n"
    b"Content-Type: application/octet-stream\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n\r\nxx\r\n"
    b"-----END PGP MESSAGE-----\r\n--b--\r\n"
)


def mtasts_txt(data: bytes) -> None:
    from e2email.core import mtasts

    records = [_text(r) for r in data.split(b"\n")]
    mtasts.select_txt(records)
    mtasts.parse_txt(records[0])


def mtasts_policy(data: bytes) -> None:
    from e2email.core import mtasts

    policy = mtasts.parse_policy(data)
    mtasts.policy_allows(policy, "mx1.example.test")


def tlsrpt(data: bytes) -> None:
    from e2email.core import tlsrpt as t

    records = [_text(r) for r in data.split(b"\n")]
    t.select_rua(records)
    t.parse(records[0])


def received(data: bytes) -> None:
    from e2email.core import received as r

    r.trace([_text(v) for v in data.split(b"\0")])


def hostport(data: bytes) -> None:
    from e2email.core.hostport import parse_hostport

    parse_hostport(_text(data), default_port=587)


def openpgp_keys(data: bytes) -> None:
    """A WKD, keyserver or LDAP answer: armored or binary keys, filtered to one address."""
    from e2email.core import pgpkeys, wkd
    from e2email.model import Address

    wkd.filter_answer(data, Address("alice", "example.test"))
    pgpkeys.key_blocks(pgpkeys.dearmor(data) if data.lstrip().startswith(b"-----") else data)


def x509_certificate(data: bytes) -> None:
    """A recipient certificate from LDAP, DANE or a file: DER or a PEM bundle, then judged."""
    from cryptography import x509

    from e2email.core import x509check

    try:
        certs = (
            x509check.load_pem_bundle(data)
            if b"-----BEGIN" in data
            else [x509.load_der_x509_certificate(data)]
        )
    except ValueError:
        return  # cryptography refusing the encoding is the answer "not a certificate"
    for cert in certs:
        x509check.check_recipient(cert, "alice@example.test", anchors=_anchors(), now=NOW)


@functools.cache
def _anchors() -> list[object]:
    from cryptography import x509

    return list(x509.load_pem_x509_certificates((FIXTURES / "smime" / "ca.pem").read_bytes()))


def cms_signed(data: bytes) -> None:
    """An S/MIME signature (opaque and detached) from a message we received."""
    reader = _smime_reader()
    for call in (
        lambda: reader.verify_opaque(data, {"alice@example.test"}),
        lambda: reader.verify_detached(b"content\r\n", data, {"alice@example.test"}),
    ):
        with contextlib.suppress(E2emailError):
            call()


def cms_enveloped(data: bytes) -> None:
    """An S/MIME EnvelopedData / AuthEnvelopedData addressed to us."""
    _smime_reader().decrypt(data)


@functools.cache
def _smime_reader() -> object:
    from e2email.adapters.cms.identity import load_identity
    from e2email.adapters.cms.reader import SmimeReader, load_anchors

    smime = FIXTURES / "smime"
    identity = load_identity(smime / "bob.pem", smime / "bob.key", None)
    return SmimeReader(identity, load_anchors(smime / "ca.pem"))


def gpg_colons(data: bytes) -> None:
    """gpg's --with-colons listing of a key that came from outside."""
    from e2email.adapters.openpgp.inspect import parse_colons

    parse_colons(_text(data))


def keyserver_answer(data: bytes) -> None:
    """A VKS or HKP answer: filtered to the address asked for, or to the key refreshed."""
    from e2email.core import keyserver
    from e2email.model import Address

    keyserver.filter_answer(data, Address("bob", "example.test"))
    keyserver.same_key(data, "F4F237BC0FAAC1F2CD60BD29A89CAA29E8EFA8AB")


def wks_files(data: bytes) -> None:
    """A provider's WKS policy and submission-address files."""
    from e2email.core import wks

    for parse in (wks.parse_policy, wks.parse_submission_address):
        with contextlib.suppress(E2emailError):
            parse(data)


def wks_mail(data: bytes) -> None:
    """A confirmation request mail from a Web Key Service, and its decrypted plaintext."""
    from e2email.core import wks

    with contextlib.suppress(E2emailError):
        wks.request_ciphertext(data)
    wks.parse_request(data)


def config_toml(data: bytes) -> None:
    from e2email import config

    config.parse(_text(data))


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("message", message, "a message on stdin (send, sendmail)"),
        Target("sendmail_argv", sendmail_argv, "sendmail's command line (NUL-separated words)"),
        Target("sendmail_stdin", sendmail_stdin, "sendmail's stdin: dot, headers, From"),
        Target("addresses", addresses, "addresses in headers and arguments"),
        Target("rawmime", rawmime, "MIME entities, Content-Type, multipart bodies"),
        Target("incoming", incoming, "a stored message classified for decryption"),
        Target("decrypted_payload", decrypted_payload, "a decrypted plaintext, RFC 9788 restore"),
        Target("mtasts_txt", mtasts_txt, "_mta-sts TXT records"),
        Target("mtasts_policy", mtasts_policy, "MTA-STS policy files"),
        Target("tlsrpt", tlsrpt, "_smtp._tls TXT records"),
        Target("received", received, "Received: trace fields"),
        Target("hostport", hostport, "host[:port] settings", also=(ValueError,)),
        Target("openpgp_keys", openpgp_keys, "OpenPGP keys from WKD, keyservers, LDAP"),
        Target("x509_certificate", x509_certificate, "certificates from LDAP, DANE, files"),
        Target("cms_signed", cms_signed, "S/MIME signatures"),
        Target("cms_enveloped", cms_enveloped, "S/MIME EnvelopedData for us"),
        Target("gpg_colons", gpg_colons, "gpg --with-colons output about an outside key"),
        Target("config_toml", config_toml, "the configuration file"),
        Target("keyserver_answer", keyserver_answer, "VKS and HKP answers"),
        Target("wks_files", wks_files, "WKS policy and submission-address files"),
        Target("wks_mail", wks_mail, "WKS confirmation requests"),
    )
}
