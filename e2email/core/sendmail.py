"""The sendmail(8) command line and message conventions, as pure functions.

What MUAs, git send-email, mail(1) and cron pass to ``/usr/sbin/sendmail`` is parsed here into
a :class:`SendmailArgs` value; nothing here reads stdin, files or the environment.

Option syntax is getopt(3)'s, as in Postfix's sendmail: flags may be clustered (``-ti``,
``-vvv``), an option's argument may be attached (``-fme@x``, ``-oi``, ``-B8BITMIME``) or the
next word (``-f me@x``, ``-N never``), and the first word that is not an option ends the options
(``--`` ends them explicitly). Every later word is a recipient; one that starts with ``-`` is
refused, so an option smuggled in as an address (``-oQ/tmp``, CVE-style argument injection)
never changes behaviour.
"""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Literal, NamedTuple

from e2email.core.addresses import LINE_BREAKS
from e2email.errors import UsageError

if TYPE_CHECKING:
    from e2email.model import Address

# Kept light on purpose: ``e2email-sendmail --help`` imports only this module (a NamedTuple,
# not a dataclass; the address parser only when addresses are parsed). performance.md.

Mode = Literal["send", "list", "flush", "help", "version"]

# Options that take an argument (attached or the next word) and are accepted and ignored,
# with what they mean to sendmail: -B body type, -N DSN notify, -R DSN return, -X traffic log,
# -o/-O options (except -oi), -C config file, -L syslog tag, -V envelope id, -h hop count,
# -p protocol, -e/-A error and submit modes.
IGNORED_WITH_ARGUMENT = frozenset("BNRXOCLVhpeA")
# Flags accepted and ignored: -G gateway, -I init aliases, -U initial submission, -m me too,
# -n no aliasing, -x, -c.
IGNORED_FLAGS = frozenset("GIUmnxc")
WITH_ARGUMENT = IGNORED_WITH_ARGUMENT | frozenset("bofrF")
MODES: dict[str, Mode] = {"m": "send", "p": "list"}
LONG_OPTIONS = ("--account", "--config")
LONG_FLAGS = ("--require-tls", "--help", "--version")

USAGE = """\
usage: e2email-sendmail [-t] [-i] [-f ADDR] [-F NAME] [-v] [--account NAME]
                        [--config PATH] [--require-tls] [--] [RECIPIENT ...]
       e2email-sendmail -bp        list the outbox (like mailq)
       e2email-sendmail -q         send what waits in the outbox

A sendmail(8) drop-in that encrypts: reads one RFC 5322 message on stdin, encrypts it for
each recipient with a key (PGP/MIME), and submits it over authenticated TLS.

  -t            recipients from the To, Cc and Bcc headers, plus any RECIPIENT given
  -i, -oi       a line with a single '.' does not end the message
  -f ADDR       envelope sender (also picks the account); -r ADDR is the same
  -F NAME       full name for the From header when the message has none
  -v            more detail on stderr (repeat for protocol traces; secrets are never shown)
  -bm           deliver (the default)
  --account NAME  submit through this account instead of the one matching the sender
  --config PATH   configuration file (also $E2EMAIL_CONFIG)
  --require-tls   ask every later hop for TLS (RFC 8689 REQUIRETLS); fail if not offered

Accepted and ignored: -o... -O... -B... -N... -R... -X... -C... -L... -V... -h... -p... -e...
-A... -G -I -U -m -n -x -c. Exit codes follow sysexits(3): 0 accepted or queued, 64 usage,
65 bad message, 67 no key, 69 refused by the server, 75 try again, 77 refused by policy or
credentials, 78 configuration. See docs/sendmail.md.
"""


class SendmailArgs(NamedTuple):
    """One sendmail invocation, decoded."""

    mode: Mode = "send"
    extract: bool = False
    ignore_dots: bool = False
    sender: str | None = None
    full_name: str | None = None
    verbose: int = 0
    recipients: tuple[str, ...] = ()
    account: str | None = None
    config: str | None = None
    require_tls: bool = False
    ignored: tuple[str, ...] = ()


class _Parser:
    """getopt(3) over sendmail's option letters, collecting into keyword values."""

    def __init__(self, argv: list[str]) -> None:
        self.argv, self.i = argv, 0
        self.values: dict[str, object] = {}
        self.verbose = 0
        self.ignored: list[str] = []

    def run(self) -> SendmailArgs:
        while self.i < len(self.argv):
            word = self.argv[self.i]
            if word == "--":
                self.i += 1
                break
            if not word.startswith("-") or word == "-":
                break
            self.i += 1
            if word.startswith("--"):
                self._long(word)
            else:
                self._cluster(word[1:])
        recipients = tuple(self.argv[self.i :])
        return SendmailArgs(
            verbose=self.verbose,
            recipients=recipients,
            ignored=tuple(self.ignored),
            **self.values,  # type: ignore[arg-type]
        )

    def _argument(self, letter: str, rest: str) -> str:
        if rest:
            return rest
        if self.i >= len(self.argv):
            raise UsageError(f"option -{letter} requires an argument")
        self.i += 1
        return self.argv[self.i - 1]

    def _long(self, word: str) -> None:
        name, eq, value = word.partition("=")
        if name in LONG_FLAGS and not eq:
            if name == "--require-tls":
                self.values["require_tls"] = True
            else:
                self.values["mode"] = name[2:]
            return
        if name not in LONG_OPTIONS:
            raise UsageError(f"unknown option {name}")
        if not eq:
            if self.i >= len(self.argv):
                raise UsageError(f"option {name} requires an argument")
            value, self.i = self.argv[self.i], self.i + 1
        if not value:
            raise UsageError(f"option {name} requires a non-empty argument")
        self.values[name[2:]] = value

    def _cluster(self, letters: str) -> None:
        for pos, letter in enumerate(letters):
            rest = letters[pos + 1 :]
            if letter == "q":  # -q, -q15m, -qR...: one queue run, now
                self.values["mode"] = "flush"
                if rest:
                    self.ignored.append(f"-q{rest}")
                return
            if letter in WITH_ARGUMENT:
                self._with_argument(letter, rest)
                return
            self._flag(letter)

    def _flag(self, letter: str) -> None:
        if letter == "t":
            self.values["extract"] = True
        elif letter == "i":
            self.values["ignore_dots"] = True
        elif letter == "v":
            self.verbose += 1
        elif letter in IGNORED_FLAGS:
            self.ignored.append(f"-{letter}")
        else:
            raise UsageError(f"unknown option -{letter} (see e2email-sendmail --help)")

    def _with_argument(self, letter: str, rest: str) -> None:
        if letter == "b":
            self._mode(self._argument("b", rest))
        elif letter == "o":
            value = self._argument("o", rest)
            if value == "i":
                self.values["ignore_dots"] = True
            else:
                self.ignored.append(f"-o{value}")
        elif letter in "fr":
            self.values["sender"] = self._argument(letter, rest)
        elif letter == "F":
            self.values["full_name"] = self._argument("F", rest)
        else:
            self.ignored.append(f"-{letter}{self._argument(letter, rest)}")

    def _mode(self, value: str) -> None:
        if value not in MODES:
            raise UsageError(f"-b{value} is not supported (only -bm to send and -bp to list)")
        self.values["mode"] = MODES[value]


def parse_args(argv: list[str]) -> SendmailArgs:
    """Decode sendmail's command line (sendmail(8), Postfix sendmail(1)); UsageError if wrong."""
    args = _Parser(argv).run()
    for word in args.recipients:
        if word.startswith("-"):
            raise UsageError(f"refusing recipient that starts with '-': {word!r}")
    if args.mode != "send" and (args.recipients or args.extract):
        raise UsageError("-bp and -q take no recipients")
    if args.mode == "send" and not args.extract and not args.recipients:
        raise UsageError("no recipients: give them as arguments or use -t")
    return args


def recipient_addresses(words: tuple[str, ...]) -> tuple[Address, ...]:
    """Each recipient argument as an address; one word may hold a comma-separated list."""
    from e2email.core.addresses import parse_recipient_argument

    found: list[Address] = []
    for word in words:
        for part in _split_list(word):
            found.append(parse_recipient_argument(part))
    return tuple(dict.fromkeys(found))


def _split_list(word: str) -> list[str]:
    """Split ``a@x, B <b@y>`` at commas outside quotes and angle brackets."""
    parts, depth, quoted, start = [], 0, False, 0
    for pos, ch in enumerate(word):
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "<>":
            depth += 1 if ch == "<" else -1
        elif ch == "," and not quoted and depth == 0:
            parts.append(word[start:pos])
            start = pos + 1
    parts.append(word[start:])
    return [p.strip() for p in parts if p.strip()]


def envelope_sender(value: str) -> Address:
    """The ``-f`` argument: ``addr``, ``<addr>`` or ``Name <addr>``; the null sender is refused."""
    text = value.strip()
    if text in ("<>", ""):
        raise UsageError("-f <>: the null sender is for bounces; e2email submits as a user")
    if text.startswith("-"):
        raise UsageError(f"-f: refusing an address that starts with '-': {text!r}")
    from e2email.core.addresses import parse_mailbox

    return parse_mailbox(text)[1]


_DOT_LINE = re.compile(rb"^\.\r?$", re.MULTILINE)


def cut_at_dot(data: bytes) -> bytes:
    """Without ``-i``, a line holding a single ``.`` ends the message (sendmail(8))."""
    m = _DOT_LINE.search(data)
    return data if m is None else data[: m.start()]


def header_block(data: bytes) -> bytes:
    """The header section of a message: up to the first empty line (RFC 5322 2.1)."""
    m = re.search(rb"\r?\n\r?\n", data)
    if data.startswith((b"\n", b"\r\n")):
        return b""
    return data if m is None else data[: m.end()]


def has_header(data: bytes, name: str) -> bool:
    """True if the header section has a field called ``name`` (case-insensitive)."""
    pattern = re.compile(rb"^" + re.escape(name.encode()) + rb"[ \t]*:", re.IGNORECASE | re.M)
    return pattern.search(header_block(data)) is not None


def from_header(address: Address, full_name: str | None) -> bytes:
    """A ``From:`` field for a message that has none (sendmail adds one from -f/-F)."""
    addr = str(address)
    if not full_name:
        return f"From: {addr}\r\n".encode()
    if any(c in full_name for c in LINE_BREAKS):
        raise UsageError("-F: the name contains a line break")
    if full_name.isascii():
        quoted = full_name.replace("\\", "\\\\").replace('"', '\\"')
        return f'From: "{quoted}" <{addr}>\r\n'.encode()
    encoded = base64.b64encode(full_name.encode()).decode()
    return f"From: =?utf-8?b?{encoded}?= <{addr}>\r\n".encode()


def with_from(data: bytes, address: Address, full_name: str | None) -> bytes:
    """Prepend a From field unless the message has one."""
    if has_header(data, "From"):
        return data
    return from_header(address, full_name) + data


_FROM_FIELD = re.compile(rb"^From[ \t]*:([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)\r?\n", re.I | re.M)
_COMMENT = re.compile(r"\(([^()]*)\)")


def unqualified_from(data: bytes) -> str | None:
    """The From field's value when it names no domain (cron's ``root (Cron Daemon)``)."""
    m = _FROM_FIELD.search(header_block(data))
    if m is None:
        return None
    value = " ".join(m.group(1).decode("ascii", "replace").split())
    return None if "@" in value else value


def requalify_from(data: bytes, address: Address) -> bytes:
    """Replace a domain-less From field by one naming ``address``, keeping the comment.

    A local MTA would qualify ``root`` with its own domain; a submission server would refuse
    the message. The comment (``Cron Daemon``), else the bare word, becomes the display name.
    """
    value = unqualified_from(data)
    m = _FROM_FIELD.search(header_block(data))
    if value is None or m is None:
        return data
    comment = _COMMENT.search(value)
    name = comment.group(1).strip() if comment else value.strip()
    return data[: m.start()] + from_header(address, name or None) + data[m.end() :]
