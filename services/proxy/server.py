"""Starts the HTTP listeners and the UDP relay on every address of `--bind`; logs
`event=proxy.listening http=HOST:PORT[,…] udp=HOST:PORT[,…]`."""

from __future__ import annotations

import asyncio
import socket
import time

from services.common import log
from services.common.inet import format_host_port
from services.common.listen import format_addresses, open_sockets, parse_bind

from . import fds
from .app import ProxyApp
from .conn import ClientConnection
from .job import ProxyConfig
from .udp_counters import SharedCounters
from .udp_group import RelayGroup
from .udp_relay import UdpRelay


class ProxyServer:
    def __init__(self, config: ProxyConfig, *, udp_upstream: tuple[str, int] | None,
                 udp_idle_timeout_s: float = 60.0, udp_max_sessions: int = 4096,
                 udp_socks: list[socket.socket] | None = None,
                 udp_counters: SharedCounters | None = None) -> None:
        """`udp_socks`: already bound relay sockets (`--udp-workers`, worker 0's: one per address);
        `udp_counters`: the workers' shared counters, summed into `/_proxy/stats`."""
        self.app = ProxyApp(config)
        self.udp_upstream = udp_upstream
        self.udp_idle_timeout_s = udp_idle_timeout_s
        self.udp_max_sessions = udp_max_sessions
        self.udp_socks = udp_socks
        self.udp_counters = udp_counters
        self.https: list[asyncio.Server] = []
        self.sweeper: asyncio.Task[None] | None = None
        self.relay: RelayGroup | None = None
        self.http_address = ""
        self.udp_address = ""

    async def start(self, bind: str, http_port: int, udp_port: int) -> None:
        loop = asyncio.get_running_loop()
        fds.install(loop, self.app.fds)
        listeners = open_sockets(parse_bind(bind), http_port, socket.SOCK_STREAM, backlog=1024)
        for address, why in listeners.skipped:
            log.event("proxy.family_unavailable", address=address, reason=why)
        self.https = [await loop.create_server(lambda: ClientConnection(self.app), sock=sock, backlog=1024)
                      for sock in listeners.sockets]
        self.http_address = format_addresses(listeners.sockets)
        if self.udp_upstream is not None:
            socks = self.udp_socks or open_sockets(parse_bind(bind), udp_port, socket.SOCK_DGRAM).sockets
            sessions = fds.session_budget(self.udp_max_sessions)
            if sessions < self.udp_max_sessions:
                log.event("proxy.udp_sessions_capped", max_sessions=sessions, reserve=fds.FD_RESERVE)
            per_socket = max(1, sessions // len(socks))  # the session budget is shared, not multiplied
            upstream, idle_s = self.udp_upstream, self.udp_idle_timeout_s
            relay = RelayGroup(lambda: UdpRelay(upstream, max_sessions=per_socket, idle_timeout_s=idle_s))
            await relay.start(socks)
            self.relay = relay
            counters = self.udp_counters
            self.app.udp_stats = (relay.stats if counters is None
                                  else lambda: counters.aggregate(0, relay.stats()))
            self.udp_address = format_addresses(socks)
        self.sweeper = loop.create_task(self._sweep())
        cfg = self.app.config
        workers = self.udp_counters.workers if self.udp_counters is not None else 1
        log.event("proxy.listening", http=self.http_address, udp=self.udp_address or "-", udp_workers=workers,
                  mode=cfg.mode,
                  upstream=format_host_port(*cfg.upstream), cache_size=cfg.cache_size)

    async def _sweep(self) -> None:
        """Every connection's deadlines, a few times per shortest timeout (`check_timeouts`)."""
        cfg = self.app.config
        shortest_s = min(cfg.header_timeout_s, cfg.send_timeout_s, cfg.client_timeout_s)
        interval_s = min(max(shortest_s / 4, 0.05), 1.0)
        while True:
            await asyncio.sleep(interval_s)
            now = self.app.mono()
            for conn in list(self.app.connections):
                conn.check_timeouts(now)

    async def close(self) -> None:
        """Graceful stop: no new connections; idle ones close now, in-flight responses get
        `--shutdown-timeout` to finish (new requests on them are answered with `Connection: close`);
        whatever is left then is aborted."""
        self.app.stopping = True
        for http in self.https:
            http.close()
        if self.relay is not None:
            self.relay.close()
        in_flight = len(self.app.connections)
        for conn in list(self.app.connections):
            conn.shutdown()
        deadline = time.monotonic() + self.app.config.shutdown_timeout_s
        while self.app.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        left = list(self.app.connections)
        for conn in left:
            conn.abort()
        log.event("proxy.drained", connections=in_flight, aborted=len(left))
        if self.sweeper is not None:
            self.sweeper.cancel()
        for task in list(self.app.tasks):
            task.cancel()
        self.app.pool.close()
        for http in self.https:
            try:
                async with asyncio.timeout(2.0):
                    await http.wait_closed()
            except TimeoutError:
                pass
