"""SMTP TLS Reporting (RFC 8460): the ``_smtp._tls`` TXT record, for the ``check`` report.

Pure. e2email does not send reports; it shows whether a domain asks for them and where.
"""

from __future__ import annotations

import re

TXT_PREFIX = "_smtp._tls."

_DELIM = re.compile(r"[ \t]*;[ \t]*")


class TlsRptError(ValueError):
    """The record is not a valid TLSRPTv1 record."""


def select_rua(records: list[str]) -> tuple[str, ...] | None:
    """The ``rua`` URIs of the one ``v=TLSRPTv1`` record (RFC 8460 3), None when absent.

    More than one such record, or a malformed one, raises TlsRptError: RFC 8460 says
    reports are then not sent, which the user should hear about.
    """
    found = [r for r in records if re.match(r"v=TLSRPTv1(?:[ \t;]|$)", r)]
    if not found:
        return None
    if len(found) > 1:
        raise TlsRptError(f"{len(found)} v=TLSRPTv1 records; exactly one is allowed")
    return parse(found[0])


def parse(text: str) -> tuple[str, ...]:
    """The rua list of one record (RFC 8460 3): ``mailto:`` and ``https:`` URIs."""
    fields = [f for f in _DELIM.split(text.strip()) if f]
    if not fields or fields[0] != "v=TLSRPTv1":
        raise TlsRptError("record does not start with v=TLSRPTv1")
    rua: tuple[str, ...] | None = None
    for item in fields[1:]:
        name, eq, value = item.partition("=")
        if not eq:
            raise TlsRptError(f"field without '=': {item!r}")
        if name == "rua":
            if rua is not None:
                raise TlsRptError("more than one rua field")
            rua = tuple(u.strip() for u in value.split(","))
            bad = [u for u in rua if not u.lower().startswith(("mailto:", "https:"))]
            if bad or not rua:
                raise TlsRptError(f"rua must list mailto: or https: URIs: {value!r}")
    if rua is None:
        raise TlsRptError("record has no rua")
    return rua
