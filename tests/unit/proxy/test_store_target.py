"""The LRU store (bounded by bytes) and request routing (reverse, forward allow-list, CONNECT)."""

from __future__ import annotations

import pytest

from netem import topology
from services.common.http1 import Headers
from services.proxy.cache.entry import Entry, make_entry
from services.proxy.store import Store
from services.proxy.target import (
    TargetError,
    connect_route,
    forward_route,
    parse_allow,
    related_key,
    reverse_route,
)


def make(key: str, size: int) -> Entry:
    return make_entry(key, 200, "OK", Headers([("Cache-Control", "max-age=60")]), b"x" * size, Headers(),
                      0.0, 0.0)


def test_lru_evicts_least_recently_used_by_bytes() -> None:
    store = Store(max_bytes=3 * make("/x", 1000).size, max_object_bytes=10_000)
    for key in ("/a", "/b", "/c"):
        assert store.put(make(key, 1000))
    store.select("/a", Headers())
    store.put(make("/d", 1000))
    assert sorted(store.keys()) == ["/a", "/c", "/d"]
    assert store.used_bytes <= store.max_bytes and store.evictions == 1


def test_too_big_objects_are_refused_and_remove_counts() -> None:
    store = Store(max_bytes=1 << 20, max_object_bytes=100)
    assert not store.put(make("/big", 101))
    assert store.put(make("/small", 10))
    assert store.remove("/small") == 1 and len(store) == 0 and store.used_bytes == 0


def test_many_objects_stay_bounded() -> None:
    store = Store(max_bytes=100_000, max_object_bytes=10_000)
    for i in range(500):  # about ten times what fits
        store.put(make(f"/{i}", 100))
    assert store.used_bytes <= 100_000 and 0 < len(store) < 500


ORIGIN, PROXY = topology.named_endpoint("server", "http"), topology.named_endpoint("proxy", "http")
ORIGIN_PORT = topology.port("server", "http")


def test_reverse_and_forward_routes() -> None:
    assert reverse_route("/x?y=1", ("server", ORIGIN_PORT)).key == "/x?y=1"
    allow = parse_allow(f"{ORIGIN},example")
    route = forward_route(f"http://{ORIGIN}/p?q", allow)
    assert route.origin == ("server", ORIGIN_PORT) and route.target == "/p?q" and route.host == ORIGIN
    assert forward_route("http://example/", allow).host == "example"
    with pytest.raises(TargetError) as exc:
        forward_route("http://evil:80/", allow)
    assert exc.value.status == 403
    with pytest.raises(TargetError):
        forward_route("/relative", allow)
    assert connect_route(ORIGIN, allow) == ("server", ORIGIN_PORT)
    with pytest.raises(TargetError):
        connect_route("evil:443", allow)


def test_related_key_same_origin_only() -> None:
    route = reverse_route("/a/b", ("127.0.0.1", ORIGIN_PORT))
    assert related_key(route, "/c", PROXY) == "/c"
    assert related_key(route, "d", None) == "/a/d"
    assert related_key(route, f"http://{PROXY}/e", PROXY) == "/e"
    assert related_key(route, "http://other/e", PROXY) is None
