"""Vary variants in the store (issue 16 #3): keyed lookup (no scan), a bound per URL, LRU per variant."""

from __future__ import annotations

import random

from services.common.http1 import Headers
from services.proxy.cache.entry import Entry, make_entry
from services.proxy.cache.policy import select
from services.proxy.store import Store


def variant(key: str, vary: str, request: list[tuple[str, str]], *, at: float = 0.0,
            body: bytes = b"x" * 100) -> Entry:
    headers = Headers([("Cache-Control", "max-age=60"), ("Vary", vary)] if vary else
                      [("Cache-Control", "max-age=60")])
    return make_entry(key, 200, "OK", headers, body, Headers(request), at, at)


def test_a_url_keeps_at_most_max_variants_and_drops_its_least_recently_used() -> None:
    store = Store(max_bytes=1 << 30, max_object_bytes=1 << 20, max_variants=4)
    for i in range(4):
        assert store.put(variant("/v", "X-K", [("X-K", str(i))]))
    assert store.select("/v", Headers([("X-K", "0")])) is not None  # 0 is now the most recent
    store.put(variant("/v", "X-K", [("X-K", "4")]))
    kept = sorted(dict(e.vary)["x-k"] for e in store.lookup("/v"))
    assert kept == ["0", "2", "3", "4"] and store.variant_evictions == 1 and len(store) == 4


def test_thousands_of_values_stay_bounded_and_other_urls_survive() -> None:
    store = Store(max_bytes=1 << 30, max_object_bytes=1 << 20, max_variants=32)
    store.put(variant("/other", "", []))
    for i in range(2_000):
        store.put(variant("/flood", "X-K", [("X-K", str(i))]))
    assert len(store.lookup("/flood")) == 32 and store.select("/other", Headers()) is not None
    assert store.select("/flood", Headers([("X-K", "1999")])) is not None
    assert store.select("/flood", Headers([("X-K", "0")])) is None


def test_eviction_by_bytes_is_per_variant_not_per_url() -> None:
    one = variant("/v", "X-K", [("X-K", "a")]).size
    store = Store(max_bytes=3 * one, max_object_bytes=1 << 20)
    for value in ("a", "b", "c"):
        store.put(variant("/v", "X-K", [("X-K", value)]))
    store.select("/v", Headers([("X-K", "a")]))
    store.put(variant("/v", "X-K", [("X-K", "d")]))
    kept = sorted(dict(e.vary)["x-k"] for e in store.lookup("/v"))
    assert kept == ["a", "c", "d"] and store.evictions == 1  # only "b", the least recently used, went


def test_keyed_lookup_agrees_with_the_policy_scan() -> None:
    """Differential: `Store.select` (dict lookups) == `policy.select` over every variant (the rule)."""
    rng = random.Random(16)
    names = ["Accept-Encoding", "X-A", "X-B"]
    values = ["gzip", "gzip,  br", "gzip,br", " br ", "", "x"]

    def request() -> list[tuple[str, str]]:
        return [(n, rng.choice(values)) for n in names if rng.random() < 0.7]

    for _ in range(200):
        store = Store(max_bytes=1 << 30, max_object_bytes=1 << 20, max_variants=1000)
        for step in range(rng.randint(1, 12)):
            vary = ", ".join(rng.sample(names, rng.randint(0, 2)))
            store.put(variant("/u", vary, request(), at=float(rng.randint(0, 5) + step / 100)))
        for _ in range(10):
            headers = Headers(request())
            assert store.select("/u", headers) is select(store.lookup("/u"), headers)


def test_replace_discard_and_remove_keep_the_byte_count() -> None:
    store = Store(max_bytes=1 << 30, max_object_bytes=1 << 20)
    a, b = variant("/v", "X-K", [("X-K", "a")]), variant("/v", "X-K", [("X-K", "b")])
    store.put(a)
    store.put(b)
    bigger = variant("/v", "X-K", [("X-K", "a")], body=b"y" * 500)
    store.replace(a, bigger)
    assert store.used_bytes == bigger.size + b.size
    store.discard(b)
    store.discard(b)
    assert store.used_bytes == bigger.size and store.remove("/v") == 1
    assert store.used_bytes == 0 and len(store) == 0 and store.keys() == []
