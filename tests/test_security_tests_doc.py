"""docs/security-tests.md tells users which test proves each claim: every test it names must
exist where it says, or the page would send them to nothing."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "security-tests.md"


def defined() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / "tests").rglob("*.py"):
        for m in re.finditer(r"^def (test_\w+)", path.read_text(), re.M):
            found.setdefault(m.group(1), set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_test_named_in_the_page_exists() -> None:
    text, tests = DOC.read_text(), defined()
    missing = []
    for m in re.finditer(r"`(tests/[\w/]+\.py)(?:::(\w+))?", text):
        path, name = m.groups()
        if not (ROOT / path).is_file() or (name and path not in tests.get(name, set())):
            missing.append(f"{path}::{name}" if name else path)
    missing += [m.group(1) for m in re.finditer(r"`::(\w+)", text) if m.group(1) not in tests]
    assert not missing, missing
    numbers = {int(n) for n in re.findall(r"^### (\d+)\. ", text, re.M)}
    assert set(range(1, 13)) <= numbers  # every security.md item (13 and up as they land)
