"""The network methods by name: each turns one address into tasks that ``discover`` runs concurrently.

A method module is imported only when the configuration names it and an address needs it
(the sendmail path with every key local loads none of them). To add a method: a module with
``tasks(address, ctx, protocols) -> list[Task]``, its name in ``config.DISCOVERY_METHODS``
and a line in :func:`tasks`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from e2email.model import Address, Protocol

if TYPE_CHECKING:
    from e2email.services.discovery.judge import Context, Task


def tasks(
    method: str, address: Address, ctx: Context, protocols: Collection[Protocol]
) -> list[Task]:
    """The lookups ``method`` makes for ``address`` (none when it cannot answer for it)."""
    if method == "wkd":
        from e2email.services.discovery import wkd

        return wkd.tasks(address, ctx, protocols)
    if method == "dane":
        from e2email.services.discovery import dane

        return dane.tasks(address, ctx, protocols)
    if method == "ldap":
        from e2email.services.discovery import ldap

        return ldap.tasks(address, ctx, protocols)
    if method == "vks":  # every [[discovery.keyserver]]: verifying (vks) and HKPS alike
        from e2email.services.discovery import hkps, vks

        return vks.tasks(address, ctx, protocols) + hkps.tasks(address, ctx, protocols)
    return []
