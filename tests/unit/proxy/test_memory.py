"""When the proxy gives memory back (issue 25): the pure policy as a table, the release with fakes
(no real allocator calls), and the store's freed-bytes counter the policy reads."""

from __future__ import annotations

import pytest

from services.common.http1 import Headers
from services.proxy.memory import Release, ReleasePolicy, ReleaseState, Why, _libc_trim, due
from services.proxy.store import Store

from .test_store_variants import variant

POLICY = ReleasePolicy(min_peak=100, settle_s=2.0, freed_bytes=1000, interval_s=5.0)


@pytest.mark.parametrize(("ticks", "expected"), [
    # (connections, freed bytes, now) per sweep tick → released at which ticks
    ([(10, 0, 1), (50, 0, 2), (10, 0, 3)], []),                   # never a burst worth releasing after
    # fell to a quarter of the peak at 4, stayed there settle_s
    ([(400, 0, 1), (300, 0, 2), (101, 0, 3), (100, 0, 4), (90, 0, 5), (100, 0, 6)], [6]),
    ([(400, 0, 1), (100, 0, 2), (101, 0, 3), (100, 0, 4), (0, 0, 5)], []),  # back up at 3: settling again
    ([(400, 0, 1), (0, 0, 2), (0, 0, 4), (400, 0, 5), (0, 0, 6), (0, 0, 8)], [4]),  # within interval_s
    ([(400, 0, 1), (0, 0, 2), (0, 0, 4), (400, 0, 7), (0, 0, 8), (0, 0, 10)], [4, 10]),
    ([(5, 999, 1), (5, 1000, 2), (5, 1500, 3), (5, 2000, 8)], [2, 8]),  # the store let go of 1000 bytes
])
def test_due(ticks: list[tuple[int, int, float]], expected: list[float]) -> None:
    release = Release(POLICY, trim=lambda: 0, collect=lambda: 0, rss=lambda: 0)
    done = [now for connections, freed, now in ticks if release.observe(connections, freed, now)]
    assert done == expected


def test_release_collects_then_trims_and_resets_the_peak() -> None:
    calls: list[str] = []

    def record(name: str, result: int) -> int:
        calls.append(name)
        return result

    release = Release(POLICY, trim=lambda: record("trim", 1), collect=lambda: record("collect", 7),
                      rss=lambda: 0, clock=lambda: 0.0)
    assert release.observe(500, 0, 10.0) is False and release.state.peak == 500
    assert release.observe(20, 0, 11.0) is False and release.state.quiet_since == 11.0
    assert release.observe(20, 0, 13.0) is True and calls == ["collect", "trim"]
    assert release.state == ReleaseState(peak=20, freed_at=0, released_at=13.0) and release.releases == 1
    assert due(POLICY, release.state, 0, 0, 100.0) is None  # the peak starts again from 20


@pytest.mark.parametrize(("ticks", "why", "calls"), [
    ([(400, 0, 1), (0, 0, 2), (0, 2000, 4)], Why.BURST, ["collect", "trim"]),  # a burst (freed too)
    ([(5, 0, 1), (5, 2000, 2)], Why.FREED, ["trim"]),  # evictions only: no full collection
])
def test_only_a_burst_collects(ticks: list[tuple[int, int, float]], why: Why, calls: list[str]) -> None:
    """A full collection walks the whole cache (hundreds of ms with 100,000 entries): after evictions,
    which free by reference count, the trim alone runs."""
    made: list[str] = []

    def call(name: str) -> int:
        made.append(name)
        return 0

    release = Release(POLICY, trim=lambda: call("trim"), collect=lambda: call("collect"), rss=lambda: 0)
    state = ReleaseState()
    assert [due(POLICY, state, *tick) for tick in ticks][-1] is why
    assert [now for c, f, now in ticks if release.observe(c, f, now)] == [ticks[-1][2]]
    assert made == calls


def test_without_a_trim_only_the_collection_runs() -> None:
    collected: list[int] = []

    def collect() -> int:
        collected.append(1)
        return 0

    release = Release(POLICY, use_libc=False, collect=collect, rss=lambda: 0)
    assert release.trim is None and not release.observe(400, 0, 1.0)
    assert not release.observe(0, 0, 2.0) and release.observe(0, 0, 4.0) and collected == [1]


def test_libc_trim_is_found_or_absent_never_an_error() -> None:
    trim = _libc_trim()
    assert trim is None or callable(trim)  # glibc: malloc_trim; musl/macOS: none (not called here)


def test_store_counts_the_bytes_it_lets_go_of() -> None:
    store = Store(max_bytes=1 << 30, max_object_bytes=1 << 20, max_variants=2)
    a, b, c = (variant("/v", "X-K", [("X-K", k)]) for k in "abc")
    for entry in (a, b, c):  # c pushes a out (the bound)
        store.put(entry)
    assert store.freed_bytes == a.size
    bigger = variant("/v", "X-K", [("X-K", "b")], body=b"y" * 500)
    store.replace(b, bigger)
    assert store.freed_bytes == a.size + b.size
    store.remove("/v")
    assert store.freed_bytes == a.size + b.size + bigger.size + c.size and store.used_bytes == 0
    assert store.select("/v", Headers([("X-K", "c")])) is None
