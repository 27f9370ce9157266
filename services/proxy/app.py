"""The proxy's shared state and the synchronous half of the request cycle.

`ProxyApp.handle` answers what it can at once (internal paths, cache hits, refusals) and returns a
coroutine only when the upstream is needed; `cycle.py` carries that out. Policy lives in `cache/`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.common import log
from services.common.http1 import Headers, Limits, Request
from services.common.metrics import CONTENT_TYPE as METRICS_TYPE

from . import respond
from .cache.entry import refresh
from .cache.head import head_effects
from .cache.policy import Action, decide, request_directives
from .cache.ranges import UNSATISFIABLE, ByteRange, plan_range
from .cache.validation import not_modified_for
from .fds import Episodes
from .metrics import PATH as METRICS_PATH
from .metrics import ProxyMetrics
from .stats import HttpStats
from .store import DEFAULT_MAX_VARIANTS, Store
from .target import Origin, Route, TargetError, connect_route, forward_route, reverse_route
from .upstream import Pool

CACHEABLE_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class ProxyConfig:
    upstream: Origin = ("server", 8000)
    mode: str = "reverse"
    cache_size: int = 64 * 1024 * 1024
    max_object_size: int = 8 * 1024 * 1024
    max_variants: int = DEFAULT_MAX_VARIANTS
    allow: frozenset[Origin] = frozenset({("server", 8000)})
    connect_ports: frozenset[int] = frozenset({443, 8000, 8080})
    purge_clients: frozenset[str] = frozenset({"127.0.0.1", "::1"})
    connect_timeout_s: float = 5.0
    upstream_timeout_s: float = 30.0
    client_timeout_s: float = 60.0
    access_log: bool = True
    limits: Limits = field(default_factory=Limits)


class Client(Protocol):
    """What the request cycle needs from a client connection."""

    peer: str

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def abort(self) -> None: ...

    def start_tunnel(self, origin: Origin) -> Coroutine[Any, Any, None]: ...


@dataclass(slots=True)
class Job:
    """One client request with what the cycle learns about it."""

    request: Request
    body: bytes
    close: bool
    client: Client
    start_s: float
    route: Route | None = None
    cache_status: str = "-"
    status: int = 0
    sent_bytes: int = 0
    upstream_ms: float = 0.0

    @property
    def head_only(self) -> bool:
        return self.request.method == "HEAD"


class ProxyApp:
    def __init__(self, config: ProxyConfig, now: Callable[[], float] = time.time) -> None:
        self.config = config
        self.now = now
        self.store = Store(config.cache_size, config.max_object_size, config.max_variants)
        self.fds = Episodes()
        self.pool = Pool(connect_timeout_s=config.connect_timeout_s, on_exhausted=self.fds.exhausted)
        self.stats = HttpStats()
        self.metrics = ProxyMetrics()
        self.inflight: dict[str, asyncio.Future[None]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.udp_stats: Callable[[], dict[str, Any]] | None = None

    # -- entry point --------------------------------------------------------------------------------
    def handle(self, job: Job) -> Coroutine[Any, Any, None] | None:
        self.stats.requests += 1
        req = job.request
        if req.target.startswith("/_proxy/") or req.target.split("?")[0] == METRICS_PATH:
            self.finish(job, self._internal(job), 200, "-")
            return None
        if req.method == "PURGE":
            self._purge(job)
            return None
        try:
            if req.method == "CONNECT":
                return self._connect(job)
            job.route = self._route(req)
        except TargetError as exc:
            self.reply_error(job, exc.status, exc.message)
            return None
        from .cycle import serve_cached_path  # these import app: late import avoids a cycle
        from .forwarding import forward
        if req.method in CACHEABLE_METHODS:
            return serve_cached_path(self, job)
        return forward(self, job)

    def _route(self, req: Request) -> Route:
        if self.config.mode == "forward":
            return forward_route(req.target, self.config.allow)
        return reverse_route(req.target, self.config.upstream)

    def _connect(self, job: Job) -> Coroutine[Any, Any, None] | None:
        if self.config.mode != "forward":
            raise TargetError(405, "CONNECT is only served in forward mode")
        origin = connect_route(job.request.target, self.config.allow)
        if origin[1] not in self.config.connect_ports:
            raise TargetError(403, f"CONNECT to port {origin[1]} is not allowed")
        return job.client.start_tunnel(origin)

    def _internal(self, job: Job) -> bytes:
        path = job.request.target.split("?")[0]
        if path == "/_proxy/health":
            return respond.simple_response(200, b"ok\n", close=job.close, head_only=job.head_only)
        if path == "/_proxy/stats":
            return respond.json_response(self.stats_dict(), close=job.close, head_only=job.head_only)
        if path == METRICS_PATH:
            body = self.metrics.exposition(self.stats_dict())
            return respond.simple_response(200, body, content_type=METRICS_TYPE, close=job.close,
                                           head_only=job.head_only)
        return respond.error_response(404, "no such proxy endpoint", close=job.close)

    def _purge(self, job: Job) -> None:
        host = job.client.peer.rsplit(":", 1)[0].strip("[]")
        if host not in self.config.purge_clients:
            self.reply_error(job, 403, "PURGE not allowed from this client")
            return None
        try:
            route = self._route(job.request)
        except TargetError as exc:
            self.reply_error(job, exc.status, exc.message)
            return None
        removed = self.store.remove(route.key)
        self.stats.purges += 1
        body = f'{{"purged": {removed}}}\n'.encode()
        status = 200 if removed else 404
        self.finish(job, respond.simple_response(status, body, content_type="application/json",
                                                 close=job.close), status, "PURGE")
        return None

    # -- cache lookups (synchronous) ------------------------------------------------------------------
    def fast_hit(self, target: str, close: bool) -> tuple[bytes, bytes] | None:
        """Head and body of a fresh hit for a plain GET (no request directives, no Vary), else None."""
        if self.config.mode != "reverse":
            return None
        entry = self.store.single(target)
        if entry is None or "no-cache" in entry.cc:
            return None
        age = entry.age_s(self.now())
        if age >= entry.lifetime_s:
            return None
        tail = b"Age: %d\r\n%bX-Cache: HIT\r\n\r\n" % (age, respond.CLOSE_FIELD if close else b"")
        head = entry.head + tail
        self.stats.requests += 1
        self.stats.hits += 1
        self.stats.bytes_from_cache += len(head) + len(entry.body)
        self.metrics.answered(200, "HIT", len(head) + len(entry.body), 0.0)
        return head, entry.body

    def lookup(self, job: Job) -> tuple[Action, Any]:
        assert job.route is not None
        req_cc = request_directives(job.request.headers)
        entry = self.store.select(job.route.key, job.request.headers)
        decision = decide(entry, req_cc, self.now())
        return decision.action, decision.entry

    def apply_head_response(self, job: Job, head: Headers, request_time: float) -> None:
        """RFC 9111 §4.3.5: a 200 to HEAD refreshes matching stored GETs and invalidates the others."""
        assert job.route is not None
        updates, drops = head_effects(self.store.lookup(job.route.key), job.request.headers, head)
        for entry in drops:
            self.store.discard(entry)
        for entry, merged in updates:
            fresh = refresh(entry, merged, request_time, self.now(), head)
            fresh.head = respond.entry_head(fresh)
            self.store.replace(entry, fresh)

    def serve_entry(self, job: Job, entry: Any, cache_status: str) -> None:
        now = self.now()
        req = job.request
        part = plan_range(req.method, entry.status, req.headers, entry.headers, len(entry.body))
        if not_modified_for(entry, req.headers):
            data = respond.not_modified_response(entry, now, cache_status, close=job.close)
            status = 304
        elif isinstance(part, ByteRange):
            data, status = respond.partial_response(entry, now, cache_status, part, close=job.close), 206
        elif part == UNSATISFIABLE:
            data, status = respond.unsatisfiable_response(entry, cache_status, close=job.close), 416
        else:
            data = respond.entry_response(entry, now, cache_status, head_only=job.head_only, close=job.close)
            status = entry.status
        self.stats.bytes_from_cache += len(data)
        self.finish(job, data, status, cache_status)

    # -- replies and logging --------------------------------------------------------------------------
    def reply_error(self, job: Job, status: int, message: str, cache_status: str = "-") -> None:
        if status >= 500:
            self.stats.upstream_errors += 1
        else:
            self.stats.client_errors += 1
        data = respond.error_response(status, message, close=job.close, head_only=job.head_only,
                                      cache_status=cache_status if cache_status != "-" else None)
        self.finish(job, data, status, cache_status)

    def finish(self, job: Job, data: bytes, status: int, cache_status: str) -> None:
        job.client.write(data)
        job.status, job.cache_status = status, cache_status
        job.sent_bytes += len(data)
        self.log_access(job)

    def log_access(self, job: Job) -> None:
        self.metrics.answered(job.status, job.cache_status, job.sent_bytes, job.upstream_ms)
        if not self.config.access_log:
            return
        req = job.request
        log.event("proxy.access", client=job.client.peer, method=req.method, target=req.target,
                  status=job.status, cache=job.cache_status, bytes=job.sent_bytes,
                  upstream_ms=round(job.upstream_ms, 3),
                  total_ms=round((time.monotonic() - job.start_s) * 1000, 3))

    def stats_dict(self) -> dict[str, Any]:
        data = self.stats.as_dict(len(self.store), self.store.used_bytes, self.store.max_bytes,
                                  self.store.evictions)
        data["variant_evictions"] = self.store.variant_evictions
        data["fd_exhaustion_episodes"] = self.fds.count
        data["upstream_connects"] = self.pool.connects
        data["upstream_reuses"] = self.pool.reuses
        if self.udp_stats is not None:
            data["udp"] = self.udp_stats()
        return data

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
