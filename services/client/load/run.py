"""`load` as functions: a plan from a URL and numbers, run on one event loop or on forked workers."""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import socket
import sys
from collections.abc import Callable
from typing import TextIO

from services.client.httpc import USER_AGENT, resolve_target
from services.client.load.engine import Driver
from services.client.load.model import LoadPlan, LoadStats
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
    resolved = dataclasses.replace(plan, host=host)

    async def main() -> LoadStats:
        return await Driver(resolved, asyncio.get_running_loop(), progress).run()

    return asyncio.run(main())


def split(plan: LoadPlan, workers: int) -> list[LoadPlan]:
    """The plan cut into `workers` plans (at most one per connection): connections, requests and rate
    shared out as evenly as integers allow; a duration stays the same for each."""
    count = max(1, min(workers, plan.connections))

    def share(total: int, index: int) -> int:
        return total // count + (1 if index < total % count else 0)

    parts = []
    for index in range(count):
        requests = None if plan.requests is None else share(plan.requests, index)
        if requests == 0:
            continue
        parts.append(dataclasses.replace(
            plan, connections=share(plan.connections, index), requests=requests,
            rate_rps=None if plan.rate_rps is None else plan.rate_rps * share(plan.connections, index)
            / plan.connections))
    return parts


def run_workers(plan: LoadPlan, workers: int = 1, progress: Progress | None = None) -> LoadStats:
    """Run the plan in `workers` processes (like wrk's threads: one event loop per core) and merge.

    With one worker it runs here, with the progress line; with more, each forked process runs its share
    and sends its histograms and counters back."""
    parts = split(plan, workers)
    if len(parts) == 1:
        return run_plan(parts[0], progress)
    with multiprocessing.get_context("fork").Pool(len(parts)) as pool:
        results = pool.map(run_plan, parts)
    total = LoadStats()
    for result in results:
        total.merge(result)
    return total


def progress_line(stream: TextIO = sys.stderr) -> Progress:
    """A one-line progress report, rewritten in place every second (for a terminal)."""

    def show(stats: LoadStats, elapsed_s: float) -> None:
        p99 = stats.latency.percentile(99) / 1e6 if stats.latency.total else 0.0
        stream.write(f"\r  {elapsed_s:6.1f} s  {stats.ok:9d} ok  {stats.ok / elapsed_s:9.0f} req/s  "
                     f"p99 {p99:8.2f} ms  errors {sum(stats.errors.values())}   ")
        stream.flush()

    return show
