"""Starts the HTTP listeners on every address of `--bind` and hands the relay's address and counters to the
app; logs `event=proxy.listening http=HOST:PORT[,…] udp=HOST:PORT[,…]`."""

from __future__ import annotations

import asyncio
import socket

from services.common import log
from services.common.connection.lifecycle import drain, sweep, sweep_interval_s
from services.common.inet import format_host_port
from services.common.listen import format_addresses, open_sockets, parse_bind

from . import fds
from .app import ProxyApp
from .conn import ClientConnection
from .job import ProxyConfig
from .udp_workers import RelayProcesses


class ProxyServer:
    def __init__(self, config: ProxyConfig, *, udp: RelayProcesses | None = None) -> None:
        """`udp`: the UDP relay processes (their address and counters go into the listening line and
        `/_proxy/stats`); None: HTTP only."""
        self.app = ProxyApp(config)
        self.udp = udp
        self.https: list[asyncio.Server] = []
        self.sweeper: asyncio.Task[None] | None = None
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
        if self.udp is not None:
            self.app.udp_stats = self.udp.stats
            self.udp_address = self.udp.address
        app = self.app
        self.sweeper = loop.create_task(sweep(app.connections, sweep_interval_s(app.timeouts), app.mono,
                                              asyncio.sleep, also=app.housekeeping))
        cfg = self.app.config
        workers = self.udp.counters.workers if self.udp is not None else 0
        log.event("proxy.listening", http=self.http_address, udp=self.udp_address or "-", udp_workers=workers,
                  mode=cfg.mode,
                  upstream=format_host_port(*cfg.upstream), cache_size=cfg.cache_size)

    async def close(self) -> None:
        """Graceful stop: no new connections; idle ones close now, in-flight responses get
        `--shutdown-timeout` to finish (new requests on them are answered with `Connection: close`);
        whatever is left then is aborted."""
        for http in self.https:
            http.close()
        app = self.app
        in_flight = len(app.connections)
        aborted = await drain(app.connections, app.config.shutdown_timeout_s, app.mono, asyncio.sleep)
        log.event("proxy.drained", connections=in_flight, aborted=aborted)
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
