"""`python -m services.proxy`: flags (each with a PROXY_* environment variable), start, stop on signal."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
from collections.abc import Sequence

from services.common import log
from services.common.config import build_parser

from .allocator import in_use, reexec_if_needed
from .cache.cookies import CookieRules
from .fds import FD_RESERVE, raise_nofile_limit, session_budget
from .job import ProxyConfig
from .options import OPTIONS
from .server import ProxyServer
from .udp_session import bind_shared
from .udp_workers import RelayProcesses, relay_factory


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = build_parser("python -m services.proxy", "qoslab caching HTTP proxy and UDP relay", OPTIONS)
    args = parser.parse_args(argv)
    if args.mode not in ("reverse", "forward"):
        parser.error("--mode must be reverse or forward")
    return args


def config_from(args: argparse.Namespace) -> ProxyConfig:
    return ProxyConfig(
        upstream=args.upstream, mode=args.mode, cache_size=args.cache_size,
        max_object_size=args.max_object_size, max_variants=args.max_variants, allow=args.allow,
        purge_clients=args.purge_allow, stats_clients=args.stats_allow,
        header_timeout_s=args.header_timeout, send_timeout_s=args.send_timeout,
        shutdown_timeout_s=args.shutdown_timeout, body_buffer=args.body_buffer,
        connect_timeout_s=args.connect_timeout, upstream_timeout_s=args.upstream_timeout,
        client_timeout_s=args.client_timeout, access_log=args.access_log,
        targeted_cache_control=args.targeted_cache_control, stale_on_error_s=args.stale_on_error,
        upstream_idle_timeout_s=args.upstream_idle_timeout,
        cookies=CookieRules(args.set_cookie, args.cookie_requests))


async def _serve(args: argparse.Namespace, relays: RelayProcesses) -> None:
    server = ProxyServer(config_from(args), udp=relays)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):  # before the listening line, so a quick SIGTERM is clean
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await server.start(args.bind, args.http_port, args.udp_port)
    await stop.wait()
    log.event("proxy.stopping")
    await server.close()


def _serve_with_relays(args: argparse.Namespace) -> None:
    """Bind the `--udp-workers` relay sockets, fork one relay process per socket (before any event loop),
    serve HTTP here, and stop and reap every relay process on the way out."""
    sessions = session_budget(args.udp_max_sessions)
    if sessions < args.udp_max_sessions:
        log.event("proxy.udp_sessions_capped", max_sessions=sessions, reserve=FD_RESERVE)
    socks = bind_shared(args.bind, args.udp_port, args.udp_workers)
    relays = RelayProcesses(socks, relay_factory(args.upstream_udp, max_sessions=sessions,
                                                 idle_timeout_s=args.udp_idle_timeout))
    try:
        asyncio.run(_serve(args, relays))
    finally:
        relays.stop()


def main(argv: Sequence[str] | None = None) -> int:
    log.configure("proxy")
    args = parse_args(argv)
    if argv is None:  # the program itself (`python -m services.proxy`), not a call from a test
        reexec_if_needed(args.allocator)
    log.event("proxy.allocator", allocator=in_use(os.environ))
    raise_nofile_limit()
    try:
        _serve_with_relays(args)
    except OSError as exc:
        log.event("proxy.failed", error=str(exc))
        return 1
    return 0
