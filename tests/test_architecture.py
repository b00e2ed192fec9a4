"""The layering of architecture.md, enforced: cli -> services -> (core | adapters) -> model, errors.

Every import statement counts, including the lazy ones inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "e2email"
IO_MODULES = {
    "socket", "ssl", "subprocess", "http", "urllib", "urllib3", "gnupg", "ldap3", "imapclient",
    "dns", "keyring", "smtplib", "imaplib", "asyncio", "selectors", "shutil", "tempfile",
}  # fmt: skip
PURE_EXCEPTIONS = {"urllib.parse"}  # quoting only, no I/O
FORBIDDEN = {
    "core": {"e2email.adapters", "e2email.services", "e2email.cli"},
    "adapters": {"e2email.services", "e2email.cli"},
    "services": {"e2email.cli"},
}


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules(layer: str) -> list[Path]:
    return sorted((PKG / layer).glob("*.py"))


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_imports_point_one_way(layer: str) -> None:
    bad = [
        f"{p.relative_to(PKG.parent)} imports {name}"
        for p in modules(layer)
        for name in imports(p)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[layer])
    ]
    assert not bad, bad


def test_core_does_no_io() -> None:
    bad = [
        f"{p.relative_to(PKG.parent)} imports {name}"
        for p in modules("core")
        for name in imports(p)
        if name.split(".")[0] in IO_MODULES and name not in PURE_EXCEPTIONS
    ]
    assert not bad, bad


def test_only_the_tls_adapter_builds_ssl_contexts() -> None:
    builders = ("create_default_context", "SSLContext(")
    offenders = [
        str(p.relative_to(PKG.parent))
        for p in PKG.rglob("*.py")
        if p.name != "tls.py" and any(b in p.read_text() for b in builders)
    ]
    assert not offenders, offenders
