"""``host:port`` strings as used by ``network.nameservers`` ("127.0.0.1:5354", "[::1]:53")."""

from __future__ import annotations

import ipaddress


def parse_hostport(text: str, *, default_port: int) -> tuple[str, int]:
    """Split ``host[:port]`` / ``[v6]:port`` / bare IPv6; raise ValueError with a reason."""
    host, port_text = text, ""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"bad address {text!r}: expected [IPv6]:port")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    if not host:
        raise ValueError(f"bad address {text!r}: empty host")
    port = default_port
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"bad address {text!r}: port must be 1-65535")
        port = int(port_text)
    return host, port


def is_ip(text: str) -> bool:
    """True for an IPv4 or IPv6 literal."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_loopback(text: str) -> bool:
    """True for an address in 127.0.0.0/8 or ::1."""
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False
