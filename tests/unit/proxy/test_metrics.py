"""The proxy's /metrics families: what it observes per request and what it takes from /_proxy/stats."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from services.proxy.metrics import HttpCounts, ProxyMetrics

UDP = {"sessions": 2, "sessions_expired": 3, "sessions_evicted": 1, "upstream_errors": 0, "client_errors": 4,
       "dropped": 5, "packets_up_total": 100, "packets_down_total": 98, "packets_up_active": 10,
       "packets_down_active": 9}


def _values(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text.decode()) for s in f.samples}


def _stats(**udp: Any) -> dict[str, Any]:
    stats = HttpCounts(hits=4, misses=2, bytes_from_cache=1000, bytes_from_upstream=500)
    data = stats.as_dict(entries=1, bytes_used=300, max_bytes=4096, evictions=0)
    data.update(upstream_connects=1, upstream_reuses=1)
    return {**data, **({"udp": udp} if udp else {})}


def test_requests_bytes_and_upstream_latency_move_with_answers() -> None:
    metrics = ProxyMetrics()
    metrics.answered(200, "MISS", 1200, upstream_ms=3.0)
    metrics.answered(200, "HIT", 1100, upstream_ms=0.0)  # served from the cache: no upstream time
    metrics.answered(200, "HIT", 1100, upstream_ms=0.0)
    values = _values(metrics.exposition(_stats()))
    assert values[("qoslab_proxy_http_requests_total", (("cache", "HIT"), ("status", "200")))] == 2
    assert values[("qoslab_proxy_http_requests_total", (("cache", "MISS"), ("status", "200")))] == 1
    assert values[("qoslab_proxy_http_response_bytes_total", (("cache", "HIT"),))] == 2200
    assert values[("qoslab_proxy_upstream_latency_seconds_count", ())] == 1
    assert values[("qoslab_proxy_upstream_latency_seconds_bucket", (("le", "0.0025"),))] == 0
    assert values[("qoslab_proxy_upstream_latency_seconds_bucket", (("le", "0.005"),))] == 1
    assert values[("qoslab_proxy_cache_lookups_total", (("result", "hit"),))] == 4
    assert values[("qoslab_proxy_cache_bytes_served_total", (("source", "upstream"),))] == 500


def test_udp_relay_families_only_when_the_relay_runs() -> None:
    metrics = ProxyMetrics()
    assert not any(name.startswith("qoslab_proxy_udp") for name, _ in _values(metrics.exposition(_stats())))
    values = _values(metrics.exposition(_stats(**UDP)))
    assert values[("qoslab_proxy_udp_datagrams_total", (("direction", "up"),))] == 100
    assert values[("qoslab_proxy_udp_datagrams_total", (("direction", "down"),))] == 98
    assert values[("qoslab_proxy_udp_sessions", ())] == 2
    assert values[("qoslab_proxy_udp_sessions_closed_total", (("reason", "expired"),))] == 3
    assert values[("qoslab_proxy_udp_dropped_total", ())] == 5
    assert values[("qoslab_proxy_udp_errors_total", (("side", "client"),))] == 4
