"""Start the HTTP and UDP listeners, sweep timeouts, stop gracefully on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.common import log
from services.common.clock import SYSTEM_CLOCK, Clock
from services.common.config import defaults
from services.common.connection.lifecycle import Connections, drain, sweep, sweep_interval_s
from services.common.connection.state import Timeouts
from services.common.http1 import Limits
from services.common.listen import format_addresses, open_sockets, parse_bind
from services.common.metrics import CONTENT_TYPE

from .context import Context
from .files import EXHAUSTION, Site
from .metrics import PATH as METRICS_PATH
from .metrics import exposition
from .options import OPTIONS
from .protocol import HttpProtocol
from .rules import CacheRule
from .sink import SinkLimits
from .stats import Stats
from .udp import UdpEcho

_D = defaults(OPTIONS)
_TIMEOUTS = Timeouts(_D["header_timeout"], _D["idle_timeout"], _D["send_timeout"])
_SINK = SinkLimits(_D["sink_max"], _D["sink_min_rate"])
UNBOUNDED_BODY = 1 << 62


@dataclass(frozen=True)
class ServerConfig:
    """The server's settings; every default is its Option's (`options.py`), parsed."""

    bind: str = _D["bind"]
    http_port: int = _D["http_port"]
    udp_port: int = _D["udp_port"]
    udp_buffer_bytes: int = _D["udp_buffer"]  # SO_RCVBUF/SO_SNDBUF asked for; the kernel caps it
    root: str = _D["root"]
    rules: tuple[CacheRule, ...] = _D["cache_rules"]
    default_max_age: int = _D["max_age"]
    listing: bool = _D["listing"]
    timeouts: Timeouts = _TIMEOUTS
    shutdown_timeout_s: float = _D["shutdown_timeout"]
    max_body: int = _D["max_body"]
    sink: SinkLimits = _SINK  # the upload sink, POST/PUT /_server/sink
    small_file_max: int = _D["small_file_max"]
    cache_budget: int = _D["cache_budget"]
    file_ttl_s: float = _D["file_ttl"]
    access_log: bool = _D["access_log"]
    backlog: int = 2048  # listen() backlog (no flag)


def make_context(config: ServerConfig, clock: Clock = SYSTEM_CLOCK) -> Context:
    site = Site(config.root, config.rules, config.default_max_age, listing=config.listing,
                ttl_s=config.file_ttl_s, small_max=config.small_file_max, budget=config.cache_budget)
    stats = Stats(started_wall_s=clock.wall_ns() / 1e9)
    # the parser reads a body of any size: the connection applies each request's own limit (--max-body, or
    # the sink's), so the sink can say its limit in its own words
    limits = Limits(max_body=UNBOUNDED_BODY)
    ctx = Context(site, stats, clock, limits, config.timeouts, {}, access_log=config.access_log,
                  max_body=config.max_body, sink=config.sink)
    ctx.specials = {
        "/_server/stats": lambda: ("application/json", stats.to_json(clock.wall_ns() / 1e9)),
        "/_server/health": lambda: ("text/plain; charset=utf-8", b"ok\n"),
        METRICS_PATH: lambda: (CONTENT_TYPE, exposition(stats, clock.wall_ns() / 1e9)),
    }
    return ctx


def _size_buffers(sock: socket.socket, size_b: int) -> None:
    """Probe bursts queue in the echo's socket: the 208 KiB default dropped from 60-80 kpps."""
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, option, size_b)


def _quiet_accept_errors(loop: asyncio.AbstractEventLoop, ctx: Context) -> None:
    """EMFILE/ENFILE on accept: asyncio pauses accepting for a second by itself and would log a
    traceback each time; count it as one exhaustion episode instead."""

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in EXHAUSTION and "accept" in str(context.get("message")):
            ctx.exhaustion.note("accept", ctx.now(), exc.strerror or "")
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


def listen_sockets(bind: str, port: int, backlog: int, *, reuse_port: bool = False) -> list[socket.socket]:
    """A worker's listening TCP sockets, one per address of `bind` (`--workers`: with `reuse_port` each
    worker binds its own to the same port, SO_REUSEPORT, and the kernel spreads new connections evenly)."""
    done = open_sockets(parse_bind(bind), port, socket.SOCK_STREAM, backlog=backlog, reuse_port=reuse_port)
    _note_skipped(done.skipped)
    return done.sockets


def _note_skipped(skipped: list[tuple[str, str]]) -> None:
    for address, why in skipped:
        log.event("server.family_unavailable", address=address, reason=why)


async def serve(config: ServerConfig, clock: Clock = SYSTEM_CLOCK, stop: asyncio.Event | None = None, *,
                http_socks: list[socket.socket] | None = None, worker: int = 0,
                on_stop: Callable[[], None] | None = None) -> None:
    """Run until `stop` is set (or SIGTERM/SIGINT), then drain within `shutdown_timeout_s`.

    Worker 0 owns the UDP echo (a socket per address of `--bind`) and logs `server.listening`; other
    workers only accept on their `http_socks`.
    """
    loop = asyncio.get_running_loop()
    ctx = make_context(config, clock)
    live = Connections()
    stop = stop or asyncio.Event()
    _quiet_accept_errors(loop, ctx)
    socks = http_socks if http_socks is not None else listen_sockets(config.bind, config.http_port,
                                                                      config.backlog)
    https = [await loop.create_server(lambda: HttpProtocol(ctx, live), sock=sock, backlog=config.backlog)
             for sock in socks]
    udps: list[asyncio.DatagramTransport] = []
    if worker == 0:
        for sock in open_sockets(parse_bind(config.bind), config.udp_port, socket.SOCK_DGRAM).sockets:
            udp, _ = await loop.create_datagram_endpoint(lambda: UdpEcho(ctx.stats, clock), sock=sock)
            _size_buffers(sock, config.udp_buffer_bytes)
            udps.append(udp)
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    if udps:
        log.event("server.listening", http=format_addresses(socks),
                  udp=format_addresses([u.get_extra_info("socket") for u in udps]), root=ctx.site.root)
    interval = sweep_interval_s(config.timeouts)
    sweeper = loop.create_task(sweep(live, interval, ctx.now, asyncio.sleep, ctx.exhaustion.tick))
    try:
        await stop.wait()
    finally:
        if on_stop is not None:
            on_stop()
        log.event("server.stopping", worker=worker, connections=len(live))
        for http in https:
            http.close()
        await drain(live, config.shutdown_timeout_s, ctx.now, asyncio.sleep)
        await asyncio.sleep(0)
        ctx.access.flush()
        sweeper.cancel()
        for udp in udps:
            udp.close()
        log.event("server.stopped", worker=worker, requests=ctx.stats.requests_total)

