"""Counters of the HTTP cache, served as JSON on /_proxy/stats."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class HttpStats:
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
