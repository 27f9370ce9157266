"""Command line: `python -m services.server [--bind ADDR] [--http-port N] [--udp-port N] [--root DIR] …`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Sequence

from services.common import log
from services.common.config import build_parser
from services.common.connection.state import Timeouts

from .app import ServerConfig, listen_sockets, serve
from .fdlimit import raise_fd_limit
from .options import OPTIONS
from .sink import SinkLimits


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig(
        bind=args.bind, http_port=args.http_port, udp_port=args.udp_port,
        udp_buffer_bytes=args.udp_buffer, root=args.root,
        rules=args.cache_rules, default_max_age=args.max_age, listing=args.listing,
        timeouts=Timeouts(args.header_timeout, args.idle_timeout, args.send_timeout),
        shutdown_timeout_s=args.shutdown_timeout, max_body=args.max_body,
        sink=SinkLimits(max_bytes=args.sink_max, min_rate_bps=args.sink_min_rate),
        small_file_max=args.small_file_max, cache_budget=args.cache_budget, file_ttl_s=args.file_ttl,
        access_log=args.access_log)


def worker_sockets(config: ServerConfig, workers: int) -> list[list[socket.socket]]:
    """Each worker's listening sockets (one per address of `--bind`), all on the same port with
    SO_REUSEPORT, so the kernel spreads connections evenly (one shared socket left a busy worker with
    most of them); without SO_REUSEPORT every worker gets the same shared sockets."""
    reuse = hasattr(socket, "SO_REUSEPORT") and workers > 1
    first = listen_sockets(config.bind, config.http_port, config.backlog, reuse_port=reuse)
    port = first[0].getsockname()[1]
    return [first] + [listen_sockets(config.bind, port, config.backlog, reuse_port=True) if reuse else first
                      for _ in range(1, workers)]


def _keep_only(socks: list[list[socket.socket]], mine: list[socket.socket]) -> None:
    for other in (sock for group in socks for sock in group):
        if other not in mine:
            other.close()


def run_workers(config: ServerConfig, workers: int) -> int:
    """Fork `workers - 1` extra processes, each accepting on its own socket; worker 0 also runs UDP."""
    socks = worker_sockets(config, workers)
    children: list[int] = []
    for index in range(1, workers):
        pid = os.fork()
        if pid == 0:  # child: serve until SIGTERM, never return into the parent's code
            code = 0
            try:
                _keep_only(socks, socks[index])
                asyncio.run(serve(config, http_socks=socks[index], worker=index))
            except BaseException:
                code = 1
            os._exit(code)
        children.append(pid)
    _keep_only(socks, socks[0])
    sock = socks[0]

    def stop_children() -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    try:
        asyncio.run(serve(config, http_socks=sock, worker=0, on_stop=stop_children))
    finally:
        stop_children()
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser("python -m services.server", "qoslab origin: HTTP/1.1 static files + UDP echo",
                          OPTIONS)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    config = config_from_args(args)
    log.configure("server")
    if not os.path.isdir(config.root):
        log.event("server.error", error="root is not a directory", root=config.root)
        return 2
    before, soft, hard = raise_fd_limit()
    log.event("server.fd_limit", soft=soft, hard=hard, raised_from=before)
    try:
        if args.workers > 1:
            return run_workers(config, args.workers)
        asyncio.run(serve(config))
    except OSError as exc:
        log.event("server.error", error=str(exc), bind=config.bind)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0
