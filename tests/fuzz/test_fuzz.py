"""Every parser of outside bytes, fuzzed within make test's budget (make fuzz runs them for hours).

For each target: every corpus file (seeds and kept crashers) must pass, then hypothesis feeds
mutated seeds. A target fails on an exception other than the project's own, on an input under
64 KiB that takes over a second, and on memory growing past a bound.
"""

from __future__ import annotations

import os
import resource
import time

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz.mutate import mutated
from tests.fuzz.targets import ALLOWED, TARGETS, Target

EXAMPLES = int(os.environ.get("E2EMAIL_FUZZ_EXAMPLES", "150"))
SLOW = 1.0  # seconds for one input under 64 KiB
RSS_GROWTH_MB = 256


def feed(target: Target, data: bytes) -> None:
    """One input: only the project's errors may come out, and quickly."""
    start = time.perf_counter()
    try:
        target.run(data)
    except ALLOWED + target.also:
        pass
    elapsed = time.perf_counter() - start
    assert elapsed < SLOW or len(data) >= 1 << 16, f"{target.name}: {elapsed:.2f}s on {data[:80]!r}"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_corpus_replays(name: str) -> None:
    target = TARGETS[name]
    seeds = target.seeds()
    assert seeds, f"tests/fuzz/corpus/{name}/ is empty"
    for data in seeds:
        feed(target, data)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_mutations(name: str) -> None:
    target = TARGETS[name]
    before = rss_mb()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(mutated(target.seeds()))
    def run(data: bytes) -> None:
        feed(target, data)

    run()
    assert rss_mb() - before < RSS_GROWTH_MB, f"{name}: peak RSS grew past {RSS_GROWTH_MB} MiB"
