"""Multi-client HTTP load: N concurrent clients on persistent connections, latency percentiles, errors."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from services.client.httpc import HttpClientError, HttpConnection, resolve_target
from services.client.qos import metrics


@dataclass
class LoadResult:
    clients: int
    requests: int
    elapsed_s: float = 0.0
    latencies_ns: list[int] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    body_bytes: int = 0
    x_cache: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> int:
        return len(self.latencies_ns)

    def columns(self) -> dict[str, Any]:
        """The load columns of `qos_result.csv`."""
        data = sorted(self.latencies_ns)
        return {
            "clients": self.clients, "requests": self.requests, "requests_ok": self.ok,
            "errors": sum(self.errors.values()),
            "errors_by_kind": ";".join(f"{k}={v}" for k, v in sorted(self.errors.items())),
            "req_per_s": self.ok / self.elapsed_s if self.elapsed_s > 0 else None,
            "latency_median_ms": metrics.percentile(data, 50) / 1e6,
            "latency_p90_ms": metrics.percentile(data, 90) / 1e6,
            "latency_p99_ms": metrics.percentile(data, 99) / 1e6,
            "latency_max_ms": data[-1] / 1e6 if data else None,
            "body_bytes": self.body_bytes,
            "goodput_mbps": self.body_bytes * 8 / self.elapsed_s / 1e6 if self.elapsed_s > 0 else None,
            "ok": self.requests > 0 and self.ok == self.requests,
        }


def _client(url: str, proxy: tuple[str, int] | None, count: int, timeout_s: float,
            result: LoadResult, lock: threading.Lock) -> None:
    target = resolve_target(url, proxy)
    latencies: list[int] = []
    errors: Counter[str] = Counter()
    caches: Counter[str] = Counter()
    body = 0
    with HttpConnection(target.host, target.port, timeout_s) as connection:
        for _ in range(count):
            try:
                response = connection.request(target)
            except HttpClientError as exc:
                errors[exc.kind] += 1
                continue
            if response.status >= 400:
                errors[f"http_{response.status}"] += 1
                continue
            latencies.append(response.total_ns)
            body += response.body_bytes
            caches[response.x_cache or "-"] += 1
    with lock:
        result.latencies_ns.extend(latencies)
        result.errors.update(errors)
        result.x_cache.update(caches)
        result.body_bytes += body


def run_load(url: str, clients: int, requests: int, proxy: tuple[str, int] | None = None,
             timeout_s: float = 10.0) -> LoadResult:
    """Spread `requests` over `clients` threads, each on its own keep-alive connection."""
    if clients < 1 or requests < 1:
        raise ValueError("clients and requests must be at least 1")
    resolve_target(url, proxy)  # bad URLs fail here, in the caller's thread
    result = LoadResult(clients, requests)
    lock = threading.Lock()
    shares = [requests // clients + (1 if i < requests % clients else 0) for i in range(clients)]
    threads = [threading.Thread(target=_client, args=(url, proxy, n, timeout_s, result, lock), daemon=True)
               for n in shares if n]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.elapsed_s = time.monotonic() - started
    return result
