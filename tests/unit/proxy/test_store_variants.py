"""Vary variants in the store (issue 16 #3): keyed lookup (no scan), a bound per URL, LRU per variant; the
bound's victim chosen by use (2Q, issue 25)."""

from __future__ import annotations

import random

import pytest

from services.common.http1 import Headers
from services.proxy.cache.entry import Entry, make_entry
from services.proxy.cache.policy import select
from services.proxy.store import GHOST_BYTES, Store


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


# -- the bound per URL picks its victim by use (2Q, issue 25) ---------------------------------------------

def use(store: Store, value: str) -> bool:
    """One request for `/v` with `X-K: value`: a hit, or a miss whose response is stored."""
    if store.select("/v", Headers([("X-K", value)])) is not None:
        return True
    store.put(variant("/v", "X-K", [("X-K", value)]))
    return False


def flood_with(hot: dict[str, int], requests: int) -> list[str]:
    """`requests` requests: each value in `hot` every so many requests, one-off values in between."""
    out = []
    for i in range(requests):
        due = [name for name, every in hot.items() if i % every == 0]
        out.append(due[0] if due else f"once-{i}")
    return out


@pytest.mark.parametrize(("max_variants", "hot", "requests", "hits_after_warmup"), [
    # one value asked for every 40 requests among one-off values, bound 32: plain LRU missed it every time
    (32, {"hot": 40}, 3000, {"hot": 1.0}),
    (32, {"hot": 100}, 3000, {"hot": 1.0}),   # the Vary key is remembered for 4 × 32 drops
    (32, {"a": 40, "b": 45, "c": 50}, 3000, {"a": 1.0, "b": 1.0, "c": 1.0}),
    (32, {"hot": 4}, 400, {"hot": 1.0}),      # often enough for plain LRU too
    (4, {"hot": 10}, 400, {"hot": 1.0}),
    (32, {"rare": 400}, 3000, {"rare": 0.0}),  # once per 400 one-off values: forgotten, like the others
])
def test_the_variants_asked_for_again_stay_while_one_off_values_leave(
        max_variants: int, hot: dict[str, int], requests: int, hits_after_warmup: dict[str, float]) -> None:
    store = Store(max_bytes=1 << 30, max_object_bytes=1 << 20, max_variants=max_variants)
    seen: dict[str, list[bool]] = {name: [] for name in hot}
    for value in flood_with(hot, requests):
        hit = use(store, value)
        if value in seen:
            seen[value].append(hit)
    assert {name: sum(hits[2:]) / len(hits[2:]) for name, hits in seen.items()} == hits_after_warmup
    assert len(store.lookup("/v")) == max_variants  # the bound holds
    assert store.variant_evictions == requests - sum(map(sum, seen.values())) - max_variants


@pytest.mark.parametrize(("max_variants", "steps", "kept"), [
    # plain arrivals: the oldest leaves
    (3, "a b c d", "b c d"),
    # a hit makes a variant reused: the oldest on probation leaves instead
    (3, "a b c a d", "a c d"),
    (3, "a b c a d e f", "a e f"),
    # reused variants fill at most 3 - max(1, 3 // 4) = 2 slots: the least recently reused is demoted
    (3, "a b c a b c d", "b c d"),
    # a value dropped by the bound and stored again soon is reused at once
    (3, "a b c d a e f", "a e f"),
    # max_variants 1: nothing is ever kept over a newer one
    (1, "a a b", "b"),
])
def test_bound_per_url_table(max_variants: int, steps: str, kept: str) -> None:
    store = Store(max_bytes=1 << 30, max_object_bytes=1 << 20, max_variants=max_variants)
    for value in steps.split():
        use(store, value)
    assert sorted(dict(e.vary)["x-k"] for e in store.lookup("/v")) == kept.split()


def test_remembered_keys_are_charged_and_released() -> None:
    """`used_bytes` = the entries' sizes + GHOST_BYTES per remembered Vary key, and 0 once the URL is gone."""
    rng = random.Random(25)
    store = Store(max_bytes=1 << 30, max_object_bytes=1 << 20, max_variants=8)
    for _ in range(2000):
        use(store, str(rng.randint(0, 200)))
    entries = sum(e.size for e in store.lookup("/v"))
    remembered = (store.used_bytes - entries) // GHOST_BYTES
    assert (store.used_bytes - entries) % GHOST_BYTES == 0 and 0 < remembered <= 4 * 8
    store.remove("/v")
    assert store.used_bytes == 0 and len(store) == 0
