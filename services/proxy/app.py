"""The proxy's shared state and what it answers synchronously: cache hits, internal paths, PURGE, errors.

`router.handle` picks the path of each request; `cycle.py` (cacheable methods) and `forwarding.py` (the
others) do the asynchronous half through `exchange.py`. Policy lives in `cache/`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from services.common import log
from services.common.connection.lifecycle import Connections
from services.common.connection.state import Timeouts
from services.common.http1 import Headers, Request
from services.common.inet import normal_host
from services.common.metrics import CONTENT_TYPE as METRICS_TYPE

from . import respond
from .budget import BodyBudget
from .cache.cookies import request_fields
from .cache.entry import refresh
from .cache.head import head_effects
from .cache.policy import Action, decide, request_directives
from .cache.ranges import UNSATISFIABLE, ByteRange, plan_range
from .cache.validation import not_modified_for
from .fast import FastHeads
from .fds import Episodes
from .hits import plain_hit
from .job import Job, ProxyConfig
from .metrics import PATH as METRICS_PATH
from .metrics import ProxyMetrics
from .stats import HttpStats
from .store import Store
from .target import Route, TargetError, forward_route, reverse_route
from .upstream import Pool


class ProxyApp:
    def __init__(self, config: ProxyConfig, now: Callable[[], float] = time.time, pool: Pool | None = None,
                 mono: Callable[[], float] = time.monotonic) -> None:
        """`now`: the wall clock the cache policy uses; `pool`: the upstream connections (tests: a fake);
        `mono`: the monotonic clock of the connections' timeouts (tests: a fake, no sleeping)."""
        self.config = config
        self.now = now
        self.mono = mono
        self.timeouts = Timeouts(config.header_timeout_s, config.client_timeout_s, config.send_timeout_s)
        self.connections = Connections()
        self.bodies = BodyBudget(config.body_buffer)
        self.store = Store(config.cache_size, config.max_object_size, config.max_variants)
        self.fds = Episodes()
        self.pool = pool if pool is not None else Pool(connect_timeout_s=config.connect_timeout_s,
                                                       on_exhausted=self.fds.exhausted,
                                                       idle_timeout_s=config.upstream_idle_timeout_s)
        self.stats = HttpStats()
        self.metrics = ProxyMetrics()
        self.fast_heads = FastHeads(config.limits, request_fields(config.cookies))
        self.inflight: dict[str, asyncio.Future[None]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.udp_stats: Callable[[], dict[str, Any]] | None = None

    def route(self, req: Request) -> Route:
        """Where a request goes (raises TargetError with the status to answer)."""
        if self.config.mode == "forward":
            return forward_route(req.target, self.config.allow)
        return reverse_route(req.target, self.config.upstream)

    def internal(self, job: Job) -> tuple[bytes, int]:
        """Answer and status for `/_proxy/*` and the metrics path: health for anyone, the rest (they list
        clients' addresses and cache contents) only for `--stats-allow` clients, like PURGE."""
        path = job.request.target.split("?")[0]
        if path == "/_proxy/health":
            data = respond.simple_response(200, b"ok\n", connection=job.connection, head_only=job.head_only)
            return data, 200
        if not self.client_in(job, self.config.stats_clients):
            self.stats.client_errors += 1
            return respond.error_response(403, "proxy statistics not allowed from this client",
                                          connection=job.connection, head_only=job.head_only), 403
        return self._internal_allowed(job, path), 200

    @staticmethod
    def client_in(job: Job, allowed: frozenset[str]) -> bool:
        return normal_host(job.client.peer.rpartition(":")[0].strip("[]")) in allowed

    def _internal_allowed(self, job: Job, path: str) -> bytes:
        if path == "/_proxy/stats":
            return respond.json_response(self.stats_dict(), connection=job.connection,
                                         head_only=job.head_only)
        if path == METRICS_PATH:
            body = self.metrics.exposition(self.stats_dict())
            return respond.simple_response(200, body, content_type=METRICS_TYPE, connection=job.connection,
                                           head_only=job.head_only)
        return respond.error_response(404, "no such proxy endpoint", connection=job.connection)

    def purge(self, job: Job) -> None:
        if not self.client_in(job, self.config.purge_clients):
            self.reply_error(job, 403, "PURGE not allowed from this client")
            return None
        try:
            route = self.route(job.request)
        except TargetError as exc:
            self.reply_error(job, exc.status, exc.message)
            return None
        removed = self.store.remove(route.key)
        self.stats.purges += 1
        body = f'{{"purged": {removed}}}\n'.encode()
        status = 200 if removed else 404
        self.finish(job, respond.simple_response(status, body, content_type="application/json",
                                                 connection=job.connection), status, "PURGE")
        return None

    # -- cache lookups (synchronous) ------------------------------------------------------------------
    def fast_hit(self, target: str, close: bool) -> tuple[bytes, bytes] | None:
        """Head and body for a plain GET (no request fields that matter, see `fast.py`) when `decide` says
        the only stored variant is a fresh HIT and it has no Vary; else None (then the full path runs).
        The head is rendered at most once per Age second (`hits.py`)."""
        if self.config.mode != "reverse":
            return None
        entry = self.store.single(target)  # the only variant, without Vary (touched in the LRU)
        if entry is None:
            return None
        head = plain_hit(entry, self.now(), close)
        if head is None:
            return None
        body = entry.body
        sent = len(head) + len(body)
        stats = self.stats
        stats.requests += 1
        stats.hits += 1
        stats.bytes_from_cache += sent
        self.metrics.answered(entry.status, "HIT", sent, 0.0)
        return head, body

    def lookup(self, job: Job) -> tuple[Action, Any]:
        assert job.route is not None
        req_cc = request_directives(job.request.headers, self.config.cookies)
        entry = self.store.select(job.route.key, job.request.headers)
        decision = decide(entry, req_cc, self.now())
        return decision.action, decision.entry

    def apply_head_response(self, job: Job, head: Headers, request_time: float) -> None:
        """RFC 9111 §4.3.5: a 200 to HEAD refreshes matching stored GETs and invalidates the others."""
        assert job.route is not None
        updates, drops = head_effects(self.store.lookup(job.route.key), job.request.headers, head,
                                      self.config.cache_targets, self.config.cookies)
        for entry in drops:
            self.store.discard(entry)
        for entry, merged in updates:
            fresh = refresh(entry, merged, request_time, self.now(), head, self.config.cache_targets)
            fresh.head = respond.entry_head(fresh)
            self.store.replace(entry, fresh)

    def serve_entry(self, job: Job, entry: Any, cache_status: str) -> None:
        now, connection = self.now(), job.connection
        req = job.request
        part = plan_range(req.method, entry.status, req.headers, entry.headers, len(entry.body))
        if not_modified_for(entry, req.headers):
            data = respond.not_modified_response(entry, now, cache_status, connection=connection)
            status = 304
        elif isinstance(part, ByteRange):
            data = respond.partial_response(entry, now, cache_status, part, connection=connection)
            status = 206
        elif part == UNSATISFIABLE:
            data, status = respond.unsatisfiable_response(entry, cache_status, connection=connection), 416
        else:
            data = respond.entry_response(entry, now, cache_status, head_only=job.head_only,
                                          connection=connection)
            status = entry.status
        self.stats.bytes_from_cache += len(data)
        self.finish(job, data, status, cache_status)

    # -- replies and logging --------------------------------------------------------------------------
    def reply_error(self, job: Job, status: int, message: str, cache_status: str = "-") -> None:
        if status >= 500:
            self.stats.upstream_errors += 1
        else:
            self.stats.client_errors += 1
        data = respond.error_response(status, message, connection=job.connection, head_only=job.head_only,
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
