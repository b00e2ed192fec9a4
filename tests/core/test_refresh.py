"""core/refresh: durations, what to ask again for a sighting, and the spread schedule."""

from __future__ import annotations

import itertools
import random

import pytest

from e2email.core import refresh
from e2email.errors import UsageError


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("30s", 30), ("15m", 900), ("2h", 7200), ("1d", 86400)]
)
def test_durations(text: str, seconds: float) -> None:
    assert refresh.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "-5m", "2 weeks", "1w", "8d", "abc"])
def test_bad_durations_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        refresh.parse_duration(text)


def test_targets() -> None:
    vks = refresh.target("vks", "https://keys.example:8443/vks/v1/by-email/a@b", "a@b")
    assert vks == refresh.Target("vks", "a@b", "keys.example", 8443)
    assert refresh.by_fingerprint(vks, "ab" * 20).path == "/vks/v1/by-fingerprint/" + "AB" * 20
    hkps = refresh.target("hkps", "https://hkp.example/pks/lookup?op=get", "a@b")
    assert hkps is not None
    assert refresh.by_fingerprint(hkps, "ab" * 20).path.endswith("search=0x" + "AB" * 20)
    assert refresh.target("wkd-advanced", "https://openpgpkey.b/x", "a@b") == refresh.Target(
        "wkd", "a@b"
    )
    assert refresh.target("vks", "http://keys.example/", "a@b") is None  # never clear text
    assert refresh.target("local", "", "a@b") is None
    assert refresh.target("vks", "https://keys.example:99999/", "a@b") is None


def test_schedule_spreads_and_interleaves() -> None:
    items = [("a", f"a{i}") for i in range(6)] + [("b", f"b{i}") for i in range(6)]
    plan = refresh.schedule(items, 100.0, random.Random(1))
    offsets = [o for o, _ in plan]
    assert offsets == sorted(offsets) and offsets[0] >= 0 and offsets[-1] < 100
    assert offsets[-1] - offsets[0] > 50  # over the span, not in one burst
    servers = [item[0] for _, item in plan]
    assert all(x != y for x, y in itertools.pairwise(servers))  # interleaved
    assert sorted(item for _, item in plan) == sorted(item for _, item in items)


def test_schedule_without_spread_is_at_once() -> None:
    plan = refresh.schedule([("a", 1), ("a", 2)], 0, random.Random(1))
    assert [o for o, _ in plan] == [0.0, 0.0] and sorted(x for _, x in plan) == [1, 2]
