"""MTA-STS (RFC 8461): the ``_mta-sts`` TXT record, the policy file, MX pattern matching.

Pure: strings and bytes in, values out. Fetching and caching live in adapters and services.
Strict on purpose (security.md item 9): exactly one valid TXT record, the policy served with
status 200, ``text/plain``, at most 64 KiB, ``max_age`` at most 31557600, and ``*.x`` matches
exactly one label. A policy in ``testing`` mode is parsed and reported but protects nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

MAX_POLICY_BYTES = 64 * 1024
MAX_AGE_LIMIT = 31_557_600  # RFC 8461 3.2: about one year
POLICY_HOST_PREFIX = "mta-sts."
POLICY_PATH = "/.well-known/mta-sts.txt"
TXT_PREFIX = "_mta-sts."

Mode = Literal["enforce", "testing", "none"]
MODES: tuple[Mode, ...] = ("enforce", "testing", "none")

_ID = re.compile(r"[A-Za-z0-9]{1,32}")
_EXT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
_EXT_VALUE = re.compile(r"[\x21-\x3a\x3c\x3e-\x7e]+")
_FIELD_DELIM = re.compile(r"[ \t]*;[ \t]*")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_POLICY_VALUE = re.compile(
    r"[\x21-\x7e]+(?:[ \t]+[\x21-\x7e]+)*"
)  # [ \t]+, not *: no backtracking blow-up


class MtaStsError(ValueError):
    """A TXT record or policy that RFC 8461 says must be treated as absent or unusable."""


@dataclass(frozen=True)
class TxtRecord:
    """The one valid ``v=STSv1`` record: its policy ``id`` (RFC 8461 3.1)."""

    id: str
    extensions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Policy:
    """A parsed policy file (RFC 8461 3.2)."""

    mode: Mode
    max_age: int
    mx: tuple[str, ...] = field(default=())

    @property
    def protects(self) -> bool:
        """Only ``enforce`` changes what a sender does; ``testing`` asks for reports only."""
        return self.mode == "enforce"


def select_txt(records: list[str]) -> TxtRecord | None:
    """The STS record among a name's TXT strings (RFC 8461 3.1), or None when there is none.

    Records that do not start with ``v=STSv1`` are discarded. Raise MtaStsError when more than
    one remains, or when the one left is not valid: both mean "no usable policy", and the
    report says so instead of calling the domain policy-less.
    """
    sts = [r for r in records if re.match(r"v=STSv1(?:[ \t;]|$)", r)]
    if not sts:
        return None
    if len(sts) > 1:
        raise MtaStsError(f"{len(sts)} v=STSv1 TXT records; exactly one is allowed")
    return parse_txt(sts[0])


def parse_txt(text: str) -> TxtRecord:
    """Parse one ``v=STSv1; id=...;`` record (RFC 8461 3.1) or raise MtaStsError."""
    fields = _FIELD_DELIM.split(text.strip())
    if fields and fields[-1] == "":
        fields.pop()  # a trailing delimiter is allowed
    if not fields or fields[0] != "v=STSv1":
        raise MtaStsError(f"TXT record does not start with v=STSv1: {text!r}")
    ident: str | None = None
    extensions: list[tuple[str, str]] = []
    for item in fields[1:]:
        name, eq, value = item.partition("=")
        if not eq:
            raise MtaStsError(f"TXT record field without '=': {item!r}")
        if name == "id":
            if ident is not None:
                raise MtaStsError("TXT record has more than one id")
            if not _ID.fullmatch(value):
                raise MtaStsError(f"TXT record id must be 1-32 letters or digits: {value!r}")
            ident = value
        elif _EXT_NAME.fullmatch(name) and _EXT_VALUE.fullmatch(value):
            extensions.append((name, value))
        else:
            raise MtaStsError(f"TXT record has a malformed field: {item!r}")
    if ident is None:
        raise MtaStsError("TXT record has no id")
    return TxtRecord(ident, tuple(extensions))


def check_response(status: int, content_type: str | None, size: int) -> None:
    """RFC 8461 3.3: a policy answer counts only as 200, ``text/plain``, within 64 KiB."""
    if 300 <= status < 400:
        raise MtaStsError(f"HTTP {status} redirect (redirects are never followed)")
    if status != 200:
        raise MtaStsError(f"HTTP {status} (only 200 is a policy)")
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "text/plain":
        raise MtaStsError(f"media type {media or 'missing'!r}, not text/plain")
    if size > MAX_POLICY_BYTES:
        raise MtaStsError(f"policy of {size} bytes exceeds {MAX_POLICY_BYTES}")


def parse_policy(body: bytes) -> Policy:
    """Parse a policy file (RFC 8461 3.2) or raise MtaStsError saying what is wrong."""
    if len(body) > MAX_POLICY_BYTES:
        raise MtaStsError(f"policy of {len(body)} bytes exceeds {MAX_POLICY_BYTES}")
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise MtaStsError("policy is not ASCII text") from None
    values: dict[str, str] = {}
    mx: list[str] = []
    for key, value in _policy_fields(text):
        if key == "mx":
            mx.append(_mx_pattern(value))
        elif key in ("version", "mode", "max_age"):
            if key in values:
                raise MtaStsError(f"policy field {key!r} appears twice")
            values[key] = value
    return _policy_from(values, tuple(mx))


def _policy_fields(text: str) -> list[tuple[str, str]]:
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    fields = []
    for number, raw in enumerate(lines, 1):
        line = raw.strip(" \t")
        if "\r" in line:
            raise MtaStsError(f"policy line {number}: stray CR")
        key, colon, value = line.partition(":")
        value = value.strip(" \t")
        if not colon or not _EXT_NAME.fullmatch(key) or not _POLICY_VALUE.fullmatch(value):
            raise MtaStsError(f"policy line {number} is not 'key: value': {raw[:60]!r}")
        fields.append((key, value))
    return fields


def _policy_from(values: dict[str, str], mx: tuple[str, ...]) -> Policy:
    version = values.get("version")
    if version != "STSv1":
        raise MtaStsError("policy version is not STSv1" if version else "policy has no version")
    mode = values.get("mode")
    if mode is None:
        raise MtaStsError("policy has no mode")
    if mode not in MODES:
        raise MtaStsError(f"policy mode {mode!r} is not enforce, testing or none")
    max_age = _max_age(values.get("max_age"))
    if mode != "none" and not mx:
        raise MtaStsError(f"policy in {mode} mode lists no mx")
    return Policy(mode, max_age, mx)


def _max_age(text: str | None) -> int:
    if text is None:
        raise MtaStsError("policy has no max_age")
    if not text.isdigit() or not text.isascii() or len(text) > 10:
        raise MtaStsError(f"policy max_age is not a number of seconds: {text!r}")
    age = int(text)
    if age > MAX_AGE_LIMIT:
        raise MtaStsError(f"policy max_age {age} exceeds {MAX_AGE_LIMIT}")
    return age


def _mx_pattern(value: str) -> str:
    pattern = value.lower().rstrip(".")
    name = pattern[2:] if pattern.startswith("*.") else pattern
    labels = name.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise MtaStsError(f"policy mx {value!r} is not a host name or *.domain pattern")
    return pattern


def mx_matches(pattern: str, host: str) -> bool:
    """RFC 8461 4.1: exact match, or ``*.d`` matching exactly one label to the left of d."""
    pattern = pattern.lower().rstrip(".")
    host = host.lower().rstrip(".")
    if pattern.startswith("*."):
        first, dot, rest = host.partition(".")
        return bool(first) and bool(dot) and rest == pattern[2:]
    return host == pattern


def policy_allows(policy: Policy, host: str) -> bool:
    """True if ``host`` matches one of the policy's mx patterns."""
    return any(mx_matches(p, host) for p in policy.mx)


@dataclass(frozen=True)
class CachedPolicy:
    """A policy as fetched earlier: the TXT ``id`` it belonged to and when (epoch seconds)."""

    id: str
    policy: Policy
    fetched_at: float

    def expired(self, now: float) -> bool:
        """RFC 8461 5.1: a cached policy lives ``max_age`` seconds from its fetch."""
        return now >= self.fetched_at + self.policy.max_age


def needs_fetch(cached: CachedPolicy | None, txt: TxtRecord | None, now: float) -> bool:
    """RFC 8461 5.1: fetch when nothing usable is cached, or the TXT id changed."""
    if cached is None or cached.expired(now):
        return True
    return txt is not None and txt.id != cached.id
