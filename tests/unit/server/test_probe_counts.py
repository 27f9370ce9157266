"""The echo's per-test probe counter: counts per test id, forgets the least recent first."""

from __future__ import annotations

import pytest

from services.server.probe_counts import ProbeCounts


def test_counts_each_test_separately() -> None:
    counts = ProbeCounts()
    assert [counts.count(7), counts.count(7), counts.count(9), counts.count(7)] == [1, 2, 1, 3]


def test_bounded_and_forgets_least_recently_seen() -> None:
    counts = ProbeCounts(max_tests=2)
    counts.count(1)
    counts.count(2)
    counts.count(1)  # 1 is now more recent than 2
    counts.count(3)  # evicts 2
    assert len(counts) == 2
    assert counts.count(1) == 3
    assert counts.count(2) == 1


def test_rejects_empty_table() -> None:
    with pytest.raises(ValueError):
        ProbeCounts(max_tests=0)

