"""The one place the proxy's HTTP counters are recorded (the paths report events here), and `/metrics`:
requests by status and cache result, bytes, upstream latency buckets, and the cache and UDP relay counters
of `/_proxy/stats`, in the Prometheus text format."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from services.common.metrics import Family, Histogram, LabelledCounter, counter, gauge, labelled, render

PATH = "/metrics"
P = "qoslab_proxy_"
# seconds: a LAN answer (sub-millisecond) up to a satellite link with retries
UPSTREAM_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_CACHE_COUNTERS = (  # (stats key, metric, help)
    ("uncacheable", "cache_uncacheable_total", "Responses not stored (policy or size)."),
    ("collapsed", "cache_collapsed_total", "Requests that waited for another request's fill."),
    ("evictions", "cache_evictions_total", "Entries evicted to make room (LRU by bytes)."),
    ("purges", "cache_purges_total", "PURGE requests served."),
    ("invalidations", "cache_invalidations_total", "Entries invalidated by unsafe methods."),
    ("upstream_requests", "upstream_requests_total", "Requests sent upstream."),
    ("upstream_errors", "upstream_errors_total", "Upstream failures answered with 5xx."),
    ("upstream_timeouts", "upstream_timeouts_total", "Upstream requests that timed out."),
    ("upstream_connects", "upstream_connects_total", "Upstream TCP connections opened."),
    ("upstream_reuses", "upstream_reuses_total", "Upstream requests on a kept-alive connection."),
    ("client_errors", "client_errors_total", "Requests refused with 4xx."),
)


@dataclass
class HttpCounts:
    """The counters of `/_proxy/stats` (its JSON keys)."""

    requests: int = 0
    hits: int = 0
    misses: int = 0
    revalidations: int = 0
    stale: int = 0
    collapsed: int = 0
    uncacheable: int = 0
    purges: int = 0
    invalidations: int = 0
    upstream_requests: int = 0
    upstream_errors: int = 0
    upstream_timeouts: int = 0
    client_errors: int = 0
    request_timeouts: int = 0
    send_timeouts: int = 0
    bytes_from_cache: int = 0
    bytes_from_upstream: int = 0

    def as_dict(self, entries: int, bytes_used: int, max_bytes: int, evictions: int) -> dict[str, Any]:
        lookups = self.hits + self.misses + self.revalidations + self.stale
        served = self.hits + self.stale
        return {**asdict(self), "entries": entries, "bytes_used": bytes_used, "cache_size": max_bytes,
                "evictions": evictions, "hit_ratio": round(served / lookups, 4) if lookups else 0.0}


Event = Literal["requests", "misses", "collapsed", "uncacheable", "purges", "invalidations",
                "upstream_requests", "upstream_errors", "upstream_timeouts", "client_errors",
                "request_timeouts", "send_timeouts", "bytes_from_upstream"]
_FROM_STORAGE = {"HIT": "hits", "STALE": "stale", "REVALIDATED": "revalidations"}


class ProxyMetrics:
    """The sink every path reports to: `count(event)` for what happened on the way, `answered(...)` once
    per answer written. An answer served from storage also counts its lookup result (HIT, STALE or
    REVALIDATED) and its bytes as `bytes_from_cache`, so those counters have one writer.

    `answered` runs on every request, cache hits included, so it only adds to a tally per (status, cache
    result); the labelled counters are made from the tally at scrape time (`families`)."""

    def __init__(self) -> None:
        self.counts = HttpCounts()
        self._answers: dict[tuple[int, str], list[int]] = {}  # (status, cache): [requests, bytes]
        self.upstream = Histogram(P + "upstream_latency_seconds",
                                  "Time from sending a request upstream to its response head.",
                                  UPSTREAM_BUCKETS_S)

    def request(self) -> None:
        """A request taken by the router."""
        self.counts.requests += 1

    def fast_hit(self, status: int, sent_bytes: int) -> None:
        """A request the fast path answered from storage: `request()` and `answered(…, "HIT", stored=True)`
        in one call (the hot path)."""
        counts = self.counts
        counts.requests += 1
        counts.hits += 1
        counts.bytes_from_cache += sent_bytes
        tally = self._answers.get((status, "HIT"))
        if tally is None:
            tally = self._answers[(status, "HIT")] = [0, 0]
        tally[0] += 1
        tally[1] += sent_bytes

    def count(self, event: Event, amount: int = 1) -> None:
        setattr(self.counts, event, getattr(self.counts, event) + amount)

    def refused(self, status: int) -> None:
        """An error answer the proxy made: the upstream's fault (5xx) or the client's (4xx)."""
        self.count("upstream_errors" if status >= 500 else "client_errors")

    def answered(self, status: int, cache: str, sent_bytes: int, upstream_ms: float = 0.0, *,
                 stored: bool = False) -> None:
        """One answer written; `stored`: served from a stored entry (`cache` says how it was found)."""
        tally = self._answers.get((status, cache))
        if tally is None:
            tally = self._answers[(status, cache)] = [0, 0]
        tally[0] += 1
        tally[1] += sent_bytes
        if upstream_ms > 0:
            self.upstream.observe(upstream_ms / 1000)
        if stored:
            counts = self.counts
            counts.bytes_from_cache += sent_bytes
            if cache == "HIT":
                counts.hits += 1
            else:
                setattr(counts, _FROM_STORAGE[cache], getattr(counts, _FROM_STORAGE[cache]) + 1)

    def _answer_families(self) -> list[Family]:
        requests = LabelledCounter(P + "http_requests_total",
                                   "Requests answered, by status and cache result.", ("status", "cache"))
        sent = LabelledCounter(P + "http_response_bytes_total",
                               "Bytes sent to clients (head and body), by cache result.", ("cache",))
        for (status, cache), (count, nbytes) in self._answers.items():
            requests.inc(str(status), cache, amount=count)
            sent.inc(cache, amount=nbytes)
        return [requests.family(), sent.family()]

    def families(self, stats: Mapping[str, Any]) -> list[Family]:
        lookups = (("hit", stats["hits"]), ("miss", stats["misses"]),
                   ("revalidation", stats["revalidations"]), ("stale", stats["stale"]))
        out = [
            *self._answer_families(), self.upstream.family(),
            labelled(P + "cache_lookups_total", "counter", "Cache lookups, by result.", "result", lookups),
            labelled(P + "cache_bytes_served_total", "counter", "Bytes served, by where they came from.",
                     "source", (("cache", stats["bytes_from_cache"]),
                                ("upstream", stats["bytes_from_upstream"]))),
            *(counter(P + name, text, stats[key]) for key, name, text in _CACHE_COUNTERS),
            gauge(P + "cache_entries", "Objects stored now.", stats["entries"]),
            gauge(P + "cache_bytes", "Bytes stored now.", stats["bytes_used"]),
            gauge(P + "cache_size_bytes", "Cache capacity.", stats["cache_size"]),
        ]
        udp = stats.get("udp")
        return out + (udp_families(udp) if udp is not None else [])

    def exposition(self, stats: Mapping[str, Any]) -> bytes:
        return render(self.families(stats))


def udp_families(udp: Mapping[str, Any]) -> list[Family]:
    """The relay's totals (summed over `--udp-workers`)."""
    return [
        labelled(P + "udp_datagrams_total", "counter", "Datagrams relayed, by direction (up: to the server).",
                 "direction", (("up", udp["packets_up_total"]), ("down", udp["packets_down_total"]))),
        gauge(P + "udp_sessions", "Relay sessions open now (one upstream socket each).", udp["sessions"]),
        labelled(P + "udp_sessions_closed_total", "counter", "Relay sessions closed, by reason.", "reason",
                 (("expired", udp["sessions_expired"]), ("evicted", udp["sessions_evicted"]))),
        counter(P + "udp_dropped_total", "Datagrams the relay dropped.", udp["dropped"]),
        labelled(P + "udp_errors_total", "counter", "Relay socket errors, by side.", "side",
                 (("upstream", udp["upstream_errors"]), ("client", udp["client_errors"]))),
    ]
