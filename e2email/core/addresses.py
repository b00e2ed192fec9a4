"""Strict mailbox parsing (RFC 5321 4.1.2, RFC 5322 3.4, RFC 6531) and header-value checks.

CPython's ``email.utils.parseaddr`` accepts inputs it then misreads (CVE-2023-27043), and
3.11.x can serialise a decoded newline as a new header (CVE-2024-6923). Everything that
reaches an envelope or a header goes through here first.
"""

from __future__ import annotations

import re

from e2email.errors import HeaderInjectionError, MessageError, UsageError
from e2email.model import Address

# atext of RFC 5322 3.2.3, plus any non-ASCII character (RFC 6531 UTF8-non-ascii). The classes
# are written as complements of ASCII sets: a class spanning U+0080..U+10FFFF takes sre tens of
# milliseconds to compile, and this module is imported once per sendmail run (performance.md).
_ATEXT = r'[^\x00-\x20"(),.:;<>@\[\\\]\x7f]'
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_QUOTED = r'"(?:[^\x00-\x1f"\\\x7f]|\\[\x20-\x7e])*"'
_LDH_END = r"[^\x00-/:-@\[-`{-\x7f]"  # letters, digits, non-ASCII
_LABEL = rf"(?:{_LDH_END}(?:[^\x00-,./:-@\[-`{{-\x7f]{{0,61}}{_LDH_END})?)"
_DOMAIN = rf"{_LABEL}(?:\.{_LABEL})*"
_ADDR_SPEC = re.compile(rf"({_DOT_ATOM}|{_QUOTED})@({_DOMAIN})")
_NAME_ADDR = re.compile(r"\s*(?P<name>[^<>]*?)\s*<(?P<spec>[^<>]*)>\s*")

_SPECIALS = '()<>[]:;@\\,"'
# NUL and every character str.splitlines() ends a line at: the email package folds and splits
# header values on these, so one of them in a value is a header injection (VT, FF, FS, GS, RS,
# NEL, LINE/PARAGRAPH SEPARATOR as much as CR and LF).
LINE_BREAKS = "\r\n\0\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
MAX_LOCAL = 64
MAX_DOMAIN = 255


def parse_addr_spec(text: str) -> Address:
    """Parse a bare ``local@domain``; raise MessageError saying what is wrong."""
    if any(c in text for c in LINE_BREAKS):
        raise HeaderInjectionError(f"address contains a line break or NUL: {text!r}")
    if not _is_utf8(text):
        raise MessageError(f"address is not valid UTF-8: {text!r}")
    m = _ADDR_SPEC.fullmatch(text)
    if m is None:
        raise MessageError(f"not a valid mail address: {text!r}")
    local, domain = m.group(1), m.group(2)
    if len(local.encode()) > MAX_LOCAL or len(domain.encode()) > MAX_DOMAIN:
        raise MessageError(f"address too long: {text!r}")
    return Address(local, domain)


def _is_utf8(text: str) -> bool:
    """False for the lone surrogates Python makes of undecodable argv and stdin bytes."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def parse_mailbox(text: str) -> tuple[str, Address]:
    """Parse ``addr`` or ``Display Name <addr>``; return (display name, address)."""
    check_header_value("address", text)
    text = text.strip()
    m = _NAME_ADDR.fullmatch(text)
    if m is None:
        return "", parse_addr_spec(text)
    name = m.group("name").strip()
    if name.startswith('"') and name.endswith('"') and len(name) >= 2:
        name = name[1:-1]
    elif any(c in _SPECIALS for c in name):
        raise MessageError(f"display name has unquoted special characters: {text!r}")
    check_header_value("display name", name)
    return name, parse_addr_spec(m.group("spec").strip())


def parse_recipient_argument(text: str) -> Address:
    """A recipient given on a command line: refuse option look-alikes (``-oQ/tmp``)."""
    if text.startswith("-"):
        raise UsageError(f"refusing recipient that starts with '-': {text!r}")
    return parse_mailbox(text)[1]


def check_header_value(name: str, value: str) -> str:
    """Refuse a decoded header value that would break out of its header line."""
    if any(c in value for c in LINE_BREAKS):
        raise HeaderInjectionError(f"{name} contains a line break or NUL; refusing to send")
    return value
