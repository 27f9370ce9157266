"""`load`: HTTP load on keep-alive connections, closed or open loop (engine), reported as one CSV row."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Callable
from typing import TextIO

from services.client.httpc import USER_AGENT, resolve_target
from services.client.load.engine import Driver, LoadPlan, LoadStats
from services.common.http1 import build_request_head

Progress = Callable[[LoadStats, float], None]


def build_request(url: str, proxy: tuple[str, int] | None) -> tuple[str, int, bytes]:
    """(host, port, the request bytes) for a keep-alive GET of `url` (through `proxy` if given)."""
    target = resolve_target(url, proxy)
    head = build_request_head("GET", target.request_target, [
        ("Host", target.host_header), ("User-Agent", USER_AGENT), ("Accept", "*/*")])
    return target.host, target.port, head


def make_plan(url: str, proxy: tuple[str, int] | None, *, clients: int, requests: int | None = None,
              duration_s: float | None = None, rate_rps: float | None = None, pipeline: int = 1,
              timeout_s: float = 10.0) -> LoadPlan:
    """The plan of a run; ValueError for a bad URL or bad numbers (before anything is sent)."""
    host, port, request = build_request(url, proxy)
    return LoadPlan(host, port, request, clients, requests, duration_s, rate_rps, pipeline,
                    timeout_s).validate()


def run_plan(plan: LoadPlan, progress: Progress | None = None) -> LoadStats:
    """Run a plan on a fresh event loop. The host is resolved once, not per connection."""
    try:
        infos = socket.getaddrinfo(plan.host, plan.port, type=socket.SOCK_STREAM)
        host = str(infos[0][4][0])
    except OSError:
        host = plan.host  # every connection attempt fails as `dns` and is counted
    resolved = LoadPlan(host, plan.port, plan.request, plan.connections, plan.requests, plan.duration_s,
                        plan.rate_rps, plan.pipeline, plan.timeout_s)

    async def main() -> LoadStats:
        return await Driver(resolved, asyncio.get_running_loop(), progress).run()

    return asyncio.run(main())


def progress_line(stream: TextIO = sys.stderr) -> Progress:
    """A one-line progress report, rewritten in place every second (for a terminal)."""

    def show(stats: LoadStats, elapsed_s: float) -> None:
        p99 = stats.latency.percentile(99) / 1e6 if stats.latency.total else 0.0
        stream.write(f"\r  {elapsed_s:6.1f} s  {stats.ok:9d} ok  {stats.ok / elapsed_s:9.0f} req/s  "
                     f"p99 {p99:8.2f} ms  errors {sum(stats.errors.values())}   ")
        stream.flush()

    return show
