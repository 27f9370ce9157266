"""Starts the HTTP listener and the UDP relay; logs `event=proxy.listening http=HOST:PORT udp=HOST:PORT`."""

from __future__ import annotations

import asyncio
from typing import Any

from services.common import log
from services.common.connection.lifecycle import drain, sweep, sweep_interval_s

from . import fds
from .app import ProxyApp
from .conn import ClientConnection
from .job import ProxyConfig
from .udp_workers import RelayProcesses


def _hostport(sockname: Any) -> str:
    host, port = sockname[0], sockname[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ProxyServer:
    def __init__(self, config: ProxyConfig, *, udp: RelayProcesses | None = None) -> None:
        """`udp`: the UDP relay processes (their address and counters go into the listening line and
        `/_proxy/stats`); None: HTTP only."""
        self.app = ProxyApp(config)
        self.udp = udp
        self.http: asyncio.Server | None = None
        self.sweeper: asyncio.Task[None] | None = None
        self.http_address = ""
        self.udp_address = ""

    async def start(self, bind: str, http_port: int, udp_port: int) -> None:
        loop = asyncio.get_running_loop()
        fds.install(loop, self.app.fds)
        self.http = await loop.create_server(lambda: ClientConnection(self.app), bind, http_port,
                                             reuse_address=True, backlog=1024)
        self.http_address = _hostport(self.http.sockets[0].getsockname())
        if self.udp is not None:
            self.app.udp_stats = self.udp.stats
            self.udp_address = _hostport(self.udp.sockname)
        app = self.app
        self.sweeper = loop.create_task(sweep(app.connections, sweep_interval_s(app.timeouts), app.mono,
                                              asyncio.sleep, also=app.housekeeping))
        cfg = self.app.config
        workers = self.udp.counters.workers if self.udp is not None else 0
        log.event("proxy.listening", http=self.http_address, udp=self.udp_address or "-", udp_workers=workers,
                  mode=cfg.mode,
                  upstream=f"{cfg.upstream[0]}:{cfg.upstream[1]}", cache_size=cfg.cache_size)

    async def close(self) -> None:
        """Graceful stop: no new connections; idle ones close now, in-flight responses get
        `--shutdown-timeout` to finish (new requests on them are answered with `Connection: close`);
        whatever is left then is aborted."""
        if self.http is not None:
            self.http.close()
        app = self.app
        in_flight = len(app.connections)
        aborted = await drain(app.connections, app.config.shutdown_timeout_s, app.mono, asyncio.sleep)
        log.event("proxy.drained", connections=in_flight, aborted=aborted)
        if self.sweeper is not None:
            self.sweeper.cancel()
        for task in list(self.app.tasks):
            task.cancel()
        self.app.pool.close()
        if self.http is not None:
            try:
                async with asyncio.timeout(2.0):
                    await self.http.wait_closed()
            except TimeoutError:
                pass
