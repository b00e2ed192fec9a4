"""The layering of architecture.md, enforced: cli -> services -> (core | adapters) -> model, errors.

Every import statement counts, including the lazy ones inside functions and those under
TYPE_CHECKING; no circle of imports anywhere in e2email/.
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
    """Every module of a layer, its sub-packages included."""
    return sorted((PKG / layer).rglob("*.py"))


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


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the e2email modules it imports (``from pkg import mod`` names the module)."""
    paths = {module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            edges |= {t for t in targets if t in paths and t != name}
        graph[name] = edges
    return graph


def reach(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module ``start`` imports, directly or not."""
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += graph.get(m, ())
    return seen


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each group of modules that import each other, directly or not (sorted)."""
    groups = {
        frozenset(m for m in graph if m == v or (m in reach(graph, v) and v in reach(graph, m)))
        for v in graph
        if v in reach(graph, v)
    }
    return sorted(sorted(g) for g in groups)


def test_no_import_circles() -> None:
    # a package's __init__ re-exporting its own modules is not a circle of concerns
    graph = {
        m: {t for t in ts if not (m.endswith(".config") and t.startswith("e2email.config."))}
        for m, ts in import_graph().items()
    }
    assert not cycles(graph), cycles(graph)


def test_the_circle_check_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_package_says_what_it_is_for() -> None:
    bare = [
        str(p.relative_to(PKG.parent))
        for p in PKG.rglob("__init__.py")
        if not (ast.get_docstring(ast.parse(p.read_text())) or "").strip()
    ]
    assert not bare, bare
