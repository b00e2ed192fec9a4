"""Generated hostile input for the whole program: messages and command lines.

Deterministic (a seeded ``random.Random``), so a failing vector is reproducible by its index.
Every message carries ``MARKER`` in its body only: it must never reach the wire unencrypted and
never appear in an error.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

MARKER = "HOSTILE-PLAINTEXT-7f3a"
BOB = "bob@example.test"  # has a key: what reaches him must be encrypted
NOKEY = "nokey@example.test"  # has none: policy "required" refuses before any crypto


@dataclass(frozen=True)
class Vector:
    """One run: which kind of hostility, the argv after the program name, and stdin."""

    kind: str
    argv: tuple[str, ...]
    stdin: bytes


def _head(extra: str = "", subject: str = "hello", to: str = BOB) -> str:
    return f"From: Alice <alice@example.test>\r\nTo: {to}\r\nSubject: {subject}\r\n{extra}"


def _body() -> bytes:
    return f"\r\nthe secret: {MARKER}\r\n".encode()


def broken_mime(r: random.Random) -> bytes:
    cases = [
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="never"\r\n',
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n",
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=""\r\n',
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n",
        "MIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n",
        "MIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n",
        "MIME-Version: 1.0\r\nContent-Type: ;;;\r\n",
        'MIME-Version: 1.0\r\nContent-Type: multipart/signed; boundary="b"; protocol=\r\n',
        "Content-Type: message/rfc822\r\n",
        'MIME-Version: 1.0\r\nContent-Type: multipart/encrypted; boundary="e"\r\n',
    ]
    body = r.choice(
        [b"--never\r\nContent-Type: text/plain\r\n\r\nx\r\n", b"=ZZ=\r\n", b"", b"--b--"]
    )
    return (_head(r.choice(cases))).encode() + _body() + body


def nul_and_cr(r: random.Random) -> bytes:
    where = r.choice(["subject", "name", "body", "fieldname", "to"])
    bad = r.choice(["\0", "\r", "\r\r\n", "\x0b", "\x1b[31m"])
    if where == "subject":
        return _head(subject=f"a{bad}b").encode() + _body()
    if where == "name":
        return f"From: Ali{bad}ce <alice@example.test>\r\nTo: {BOB}\r\n".encode() + _body()
    if where == "fieldname":
        return (_head() + f"X-Bad{bad}Name: v\r\n").encode() + _body()
    if where == "to":
        return _head(to=f"bob{bad}@example.test").encode() + _body()
    return _head().encode() + _body() + bad.encode() + b"more\r\n"


def eight_bit(r: random.Random) -> bytes:
    raw = bytes(r.randrange(0x80, 0x100) for _ in range(r.randrange(1, 40)))
    field = r.choice([b"Subject: ", b"From: ", b"To: ", b"X-Note: ", b"Comments: "])
    return field + raw + b"\r\n" + _head().encode() + _body()


def encoded_words(r: random.Random) -> bytes:
    word = r.choice([
        "=?utf-8?q?=C3=A4?=", "=?utf-8?b?w6Q=?=", "=?x-unknown?q?a?=", "=?utf-8?b?@@@@?=",
        "=?utf-8?q?=FF=FE?=", "=?=?utf-8?q?nested?=?=", "=?utf-8*de?q?a?=", "=?utf-7?q?+AGEAYgBj-?=",
    ])  # fmt: skip
    count = r.choice([10, 1000, 20000])
    where = r.choice(["Subject", "From-name", "To-name"])
    words = " ".join([word] * count)
    if where == "Subject":
        return _head(subject=words).encode() + _body()
    if where == "From-name":
        return f"From: {words} <alice@example.test>\r\nTo: {BOB}\r\n".encode() + _body()
    return _head(to=f"{words} <{BOB}>").encode() + _body()


def deep_multipart(r: random.Random) -> bytes:
    depth = r.choice([100, 1000, 3000])
    head = _head('MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b0"\r\n')
    parts = [
        f'--b{i}\r\nContent-Type: multipart/mixed; boundary="b{i + 1}"\r\n\r\n'
        for i in range(depth)
    ]
    tail = [f"--b{i}--\r\n" for i in reversed(range(depth))]
    leaf = f"--b{depth}\r\nContent-Type: text/plain\r\n\r\n{MARKER}\r\n"
    return (head + "\r\n" + "".join(parts) + leaf + "".join(tail)).encode()


def huge_header(r: random.Random, size: int) -> bytes:
    value = ("x" * 76 + "\r\n ") * (size // 80)
    name = r.choice(["Subject", "X-Long", "References"])
    return (_head() + f"{name}: {value}\r\n").encode() + _body()


TRICKS = [
    "bob@example.test@evil.test", '"bob@example.test"@evil.test', "bob@example.test <evil@evil.test>",
    "<bob@example.test", "bob@example.test>", "@evil.test:bob@example.test", "bob(@evil.test)@example.test",
    "bob@[IPv6:::1]", "<>", "undisclosed:;", "bob@ex\u0430mple.test", "bob@example.test.", " bob @ example.test",
    "bob@" + "a" * 300 + ".test", "b" * 100 + "@example.test", "bob@-example.test", "bob@example..test",
    '"\\"@example.test', "bob@example.test, , ,", "=?utf-8?q?bob=40example.test?=", "Bob <bob@example.test",
]  # fmt: skip


def address_message(r: random.Random) -> bytes:
    trick = r.choice(TRICKS)
    field = r.choice(["To", "Cc", "Bcc", "From", "Reply-To", "Sender"])
    lines = {"From": "Alice <alice@example.test>", "To": BOB}
    lines[field] = trick
    head = "".join(f"{k}: {v}\r\n" for k, v in lines.items())
    return (head + "Subject: tricks\r\n").encode() + _body()


INJECTIONS = [
    "-oQ/tmp/e2email-hostile", "-X/tmp/e2email-hostile.log", "-C/etc/passwd", "--config=/etc/passwd",
    "-be", "-bv", "-bs", "-bd", "-q1h", "-O", "-oi", "-f", "-F", "-N", "--", "-", "-t", "-v" * 9,
    "-fbob@example.test -oQ/tmp", "--help", "--version", "-bm", "-bp",
]  # fmt: skip


def argv_vector(r: random.Random) -> tuple[str, ...]:
    words: list[str] = []
    for _ in range(r.randrange(0, 6)):
        words.append(r.choice(INJECTIONS + TRICKS + [BOB, "-i", "-oi", "-t"]))
    return tuple(words)


def vectors(count: int, *, seed: int = 20261207) -> Iterator[Vector]:
    """``count`` vectors, mixing hostile messages (recipient bob) and hostile command lines."""
    r = random.Random(seed)
    makers: list[tuple[str, Callable[[random.Random], bytes]]] = [
        ("broken-mime", broken_mime), ("nul-cr", nul_and_cr), ("8bit-header", eight_bit),
        ("encoded-words", encoded_words), ("deep-multipart", deep_multipart),
        ("address-trick", address_message),
    ]  # fmt: skip
    for i in range(count):
        if i % 4 == 3:
            yield Vector("argv", argv_vector(r), _head().encode() + _body())
            continue
        kind, make = makers[r.randrange(len(makers))]
        vector = Vector(kind, ("-i", "-t") if r.random() < 0.5 else ("-i", BOB), make(r))
        yield vector if r.random() < 0.15 else _to_nokey(vector)


def _to_nokey(v: Vector) -> Vector:
    """The same vector addressed to a recipient without a key (cheap: refused before crypto)."""
    argv = tuple(NOKEY if w == BOB else w for w in v.argv)
    return Vector(v.kind, argv, v.stdin.replace(BOB.encode(), NOKEY.encode()))
