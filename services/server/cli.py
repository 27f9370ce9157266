"""Command line: `python -m services.server [--bind ADDR] [--http-port N] [--udp-port N] [--root DIR] …`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Sequence
from pathlib import Path

from services.common import log
from services.common.config import (
    Option,
    build_parser,
    parse_duration_s,
    parse_port,
    parse_size,
    parse_worker_count,
)
from services.common.connection.state import Timeouts
from services.common.listen import valid_bind

from .app import ServerConfig, listen_sockets, serve
from .fdlimit import raise_fd_limit
from .rules import DEFAULT_RULES, parse_rules
from .sink import SinkLimits

DEFAULT_ROOT = str(Path(__file__).resolve().parents[2] / "www")


OPTIONS = [
    Option("--bind", "SERVER_BIND", "any",
           "addresses to listen on (HTTP and UDP): any (IPv4 and IPv6, IPv6 skipped where the host has "
           "none) or ADDR[,ADDR…], e.g. 127.0.0.1,::1", valid_bind),
    Option("--http-port", "SERVER_HTTP_PORT", "8000", "HTTP port (0 = pick a free one)", parse_port),
    Option("--udp-port", "SERVER_UDP_PORT", "9000", "UDP echo port (0 = pick a free one)", parse_port),
    Option("--udp-buffer", "SERVER_UDP_BUFFER", "4MiB",
           "UDP echo socket buffers (the kernel caps them at net.core.rmem_max/wmem_max)", parse_size),
    Option("--root", "SERVER_ROOT", DEFAULT_ROOT, "document root"),
    Option("--max-age", "SERVER_MAX_AGE", "60", "Cache-Control max-age for paths no rule matches (-1: none)",
           int),
    Option("--cache-rules", "SERVER_CACHE_RULES", DEFAULT_RULES,
           "Cache-Control per path glob, first match wins: '/pat/*=value;/other=none'", parse_rules),
    Option("--listing", "SERVER_LISTING", "false", "HTML listing for directories without index.html",
           is_switch=True),
    Option("--header-timeout", "SERVER_HEADER_TIMEOUT", "10s", "time to receive a request head (408)",
           parse_duration_s),
    Option("--idle-timeout", "SERVER_IDLE_TIMEOUT", "15s", "keep-alive idle timeout", parse_duration_s),
    Option("--send-timeout", "SERVER_SEND_TIMEOUT", "60s",
           "abort a client that receives nothing of its response this long (sendfile included)",
           parse_duration_s),
    Option("--shutdown-timeout", "SERVER_SHUTDOWN_TIMEOUT", "5s",
           "on SIGTERM, wait this long for in-flight responses", parse_duration_s),
    Option("--max-body", "SERVER_MAX_BODY", "1MiB", "largest request body drained (413 above)", parse_size),
    Option("--sink-max", "SERVER_SINK_MAX", "1GiB",
           "largest upload POST/PUT /_server/sink reads and counts (413 above)", parse_size),
    Option("--sink-min-rate", "SERVER_SINK_MIN_RATE", "8000",
           "uploads slower than this many bit/s after 5 s are refused (408)", float),
    Option("--small-file-max", "SERVER_SMALL_FILE_MAX", "256KiB",
           "files up to this size are served from memory; larger ones with sendfile", parse_size),
    Option("--cache-budget", "SERVER_CACHE_BUDGET", "64MiB", "memory for cached small files", parse_size),
    Option("--file-ttl", "SERVER_FILE_TTL", "1s", "re-check a cached file's stat after this long",
           parse_duration_s),
    Option("--workers", "SERVER_WORKERS", "1",
           "HTTP worker processes, each with its own SO_REUSEPORT socket on the port (0 = one per CPU core; "
           "stats are per worker)", parse_worker_count),
    Option("--access-log", "SERVER_ACCESS_LOG", "true", "one log line per request", is_switch=True),
]


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
