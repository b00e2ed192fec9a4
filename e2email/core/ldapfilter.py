"""LDAP search filters built only from escaped values (RFC 4515 section 3).

Pure. A recipient address is attacker-chosen text: ``*``, ``(``, ``)``, ``\\`` and NUL in it
must never change the shape of a filter (security.md item 10). Every assertion value goes
through :func:`escape`; attribute names are checked against RFC 4512 1.4 ``descr`` (with
options) so they cannot smuggle anything either.
"""

from __future__ import annotations

import re

_SPECIAL = {"*": "\\2a", "(": "\\28", ")": "\\29", "\\": "\\5c", "\0": "\\00"}
_ATTRIBUTE = re.compile(r"[A-Za-z][A-Za-z0-9-]*(?:;[A-Za-z0-9-]+)*")


def escape(value: str) -> str:
    """The RFC 4515 3 ``valueencoding`` of ``value``: specials as ``\\XX``, UTF-8 kept."""
    return "".join(_SPECIAL.get(c, c) for c in value)


def _attribute(name: str) -> str:
    if not _ATTRIBUTE.fullmatch(name):
        raise ValueError(f"not an LDAP attribute description: {name!r}")
    return name


def equals(attribute: str, value: str) -> str:
    """``(attribute=value)``, value escaped (RFC 4515 3, ``equal``)."""
    return f"({_attribute(attribute)}={escape(value)})"


def contains(attribute: str, value: str) -> str:
    """``(attribute=*value*)``, a substring match on escaped ``value`` (RFC 4515 3)."""
    return f"({_attribute(attribute)}=*{escape(value)}*)"


def present(attribute: str) -> str:
    """``(attribute=*)`` (RFC 4515 3, ``present``)."""
    return f"({_attribute(attribute)}=*)"


def all_of(*filters: str) -> str:
    """``(&f1f2...)`` of filters built by this module."""
    return "(&" + "".join(filters) + ")"


def any_of(*filters: str) -> str:
    """``(|f1f2...)`` of filters built by this module."""
    return "(|" + "".join(filters) + ")"
