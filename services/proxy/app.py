"""The proxy's shared state and wiring: settings, clocks, the store, the upstream pool, the metrics sink,
the connections' registry, collapsed fetches and background tasks. It answers nothing itself.

A request flows one way: `conn` (the client connection) → `router` (which path) → `cycle` (the cache
path: `serve` answers from storage, fast or full) or `forwarding` → `exchange` (upstream) → `reply`
(write and report) with bytes from `respond`. `internal` answers the proxy's own paths and PURGE.
Policy lives in `cache/`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from services.common.connection.lifecycle import Connections
from services.common.connection.state import Timeouts

from .budget import BodyBudget
from .cache.cookies import request_fields
from .fast import FastHeads
from .fds import Episodes
from .job import ProxyConfig
from .memory import Release
from .metrics import ProxyMetrics
from .store import Store
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
        self.metrics = ProxyMetrics()
        self.fast_heads = FastHeads(config.limits, request_fields(config.cookies))
        self.inflight: dict[str, asyncio.Future[None]] = {}  # key → the fetch concurrent misses wait for
        self.tasks: set[asyncio.Task[None]] = set()
        self.udp_stats: Callable[[], dict[str, Any]] | None = None
        self.memory = Release()

    def housekeeping(self, now: float) -> None:
        """Once per sweep tick (the lifecycle's sweeper, monotonic `now`): close pooled upstream connections
        past their idle timeout, and give memory back after a burst (`memory.py`)."""
        self.pool.sweep()
        self.memory.observe(len(self.connections), self.store.freed_bytes, now)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run `coro` as a task the graceful stop can cancel."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
