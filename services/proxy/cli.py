"""`python -m services.proxy`: flags (each with a PROXY_* environment variable), start, stop on signal."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import enum
import re
import signal
from collections.abc import Callable, Sequence
from typing import TypeVar

from services.common import log
from services.common.config import (
    Option,
    build_parser,
    parse_bool,
    parse_duration_s,
    parse_host_port,
    parse_port,
    parse_size,
    parse_worker_count,
)
from services.common.inet import normal_host
from services.common.listen import valid_bind

from .cache.cookies import CookieRequests, CookieRules, SetCookie
from .fds import FD_RESERVE, raise_nofile_limit, session_budget
from .job import ProxyConfig
from .server import ProxyServer
from .target import parse_allow
from .udp_workers import RelayProcesses, relay_factory, udp_sockets

ModeT = TypeVar("ModeT", bound=enum.Enum)
_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def parse_field_names(text: str) -> tuple[str, ...]:
    """`CDN-Cache-Control,Foo-Cache-Control` → names in order; `none` or empty → ()."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if names in ((), ("none",)):
        return ()
    for name in names:
        if not _FIELD_NAME.fullmatch(name) or name.lower() == "cache-control":
            raise ValueError(f"invalid targeted field name {name!r} (example: CDN-Cache-Control)")
    return names


def _addresses(text: str) -> frozenset[str]:
    """Client addresses of an allow-list (`--stats-allow`, `--purge-allow`), IPv6 in its one spelling."""
    return frozenset(normal_host(a.strip().strip("[]")) for a in text.split(",") if a.strip())


def _choice(kind: type[ModeT]) -> Callable[[str], ModeT]:
    """A parser of one of an Enum's values, whose error lists them all."""
    def parse(text: str) -> ModeT:
        for member in kind:
            if member.value == text.strip().lower():
                return member
        raise ValueError(f"{text!r} is not one of {', '.join(str(m.value) for m in kind)}")
    return parse


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("must be at least 1")
    return value


OPTIONS = [
    Option("--bind", "PROXY_BIND", "any",
           "addresses to listen on (HTTP and UDP): any (IPv4 and IPv6, IPv6 skipped where the host has "
           "none) or ADDR[,ADDR…], e.g. 127.0.0.1,::1", valid_bind),
    Option("--http-port", "PROXY_HTTP_PORT", "8080", "HTTP port (0: pick a free one)", parse_port),
    Option("--udp-port", "PROXY_UDP_PORT", "9090", "UDP relay port (0: pick a free one)", parse_port),
    Option("--upstream", "PROXY_UPSTREAM", "server:8000", "origin server in reverse mode",
           parse_host_port),
    Option("--upstream-udp", "PROXY_UPSTREAM_UDP", "server:9000", "UDP echo the relay forwards to",
           parse_host_port),
    Option("--mode", "PROXY_MODE", "reverse", "reverse (fixed upstream) or forward (absolute-form)"),
    Option("--cache-size", "PROXY_CACHE_SIZE", "64MiB", "cache memory bound", parse_size),
    Option("--max-object-size", "PROXY_MAX_OBJECT_SIZE", "8MiB", "larger responses are streamed, not stored",
           parse_size),
    Option("--max-variants", "PROXY_MAX_VARIANTS", "32",
           "stored variants per URL (Vary); the least recently used one is dropped beyond", _positive_int),
    Option("--allow", "PROXY_ALLOW", "server:8000", "forward-mode destinations HOST[:PORT],…"),
    Option("--purge-allow", "PROXY_PURGE_ALLOW", "127.0.0.1,::1", "client addresses allowed to PURGE"),
    Option("--connect-timeout", "PROXY_CONNECT_TIMEOUT", "5s", "upstream connect timeout",
           parse_duration_s),
    Option("--upstream-timeout", "PROXY_UPSTREAM_TIMEOUT", "30s", "upstream read timeout (then 504)",
           parse_duration_s),
    Option("--client-timeout", "PROXY_CLIENT_TIMEOUT", "60s", "idle client keep-alive timeout",
           parse_duration_s),
    Option("--header-timeout", "PROXY_HEADER_TIMEOUT", "10s",
           "time to receive a request head, and most a request body may pause (then 408)", parse_duration_s),
    Option("--send-timeout", "PROXY_SEND_TIMEOUT", "60s",
           "drop a client that takes nothing of a response this long (and the upstream feeding it)",
           parse_duration_s),
    Option("--shutdown-timeout", "PROXY_SHUTDOWN_TIMEOUT", "5s",
           "on SIGTERM, time in-flight responses get to finish before connections are cut", parse_duration_s),
    Option("--body-buffer", "PROXY_BODY_BUFFER", "64MiB",
           "request bodies all clients together may have buffered (a body beyond: 503)", parse_size),
    Option("--stats-allow", "PROXY_STATS_ALLOW", "127.0.0.1,::1",
           "client addresses allowed /_proxy/stats and /metrics (/_proxy/health is open to all)"),
    Option("--udp-idle-timeout", "PROXY_UDP_IDLE_TIMEOUT", "60s", "UDP session idle expiry",
           parse_duration_s),
    Option("--udp-max-sessions", "PROXY_UDP_MAX_SESSIONS", "4096", "UDP session table size", int),
    Option("--udp-workers", "PROXY_UDP_WORKERS", "1",
           "UDP relay processes, each with its own SO_REUSEPORT socket on the UDP port (0 = one per CPU "
           "core; a client address always lands on the same one)", parse_worker_count),
    Option("--access-log", "PROXY_ACCESS_LOG", "true", "one log line per request", parse_bool,
           is_switch=True),
    Option("--targeted-cache-control", "PROXY_TARGETED_CACHE_CONTROL", "CDN-Cache-Control",
           "RFC 9213 fields obeyed over Cache-Control in reverse mode, first valid wins (none: off)",
           parse_field_names),
    Option("--upstream-idle-timeout", "PROXY_UPSTREAM_IDLE_TIMEOUT", "4s",
           "pooled upstream connections idle longer are closed, not reused", parse_duration_s),
    Option("--stale-on-error", "PROXY_STALE_ON_ERROR", "24h",
           "serve a stored response up to this long past its freshness when the origin fails (0: never)",
           parse_duration_s),
    Option("--set-cookie", "PROXY_SET_COOKIE", "pass",
           "responses with Set-Cookie: pass (not stored), strip (stored without it), store (RFC 9111)",
           _choice(SetCookie)),
    Option("--cookie-requests", "PROXY_COOKIE_REQUESTS", "cache",
           "requests with Cookie: cache (served and stored like any) or bypass (never cached)",
           _choice(CookieRequests)),
]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = build_parser("python -m services.proxy", "qoslab caching HTTP proxy and UDP relay", OPTIONS)
    args = parser.parse_args(argv)
    if args.mode not in ("reverse", "forward"):
        parser.error("--mode must be reverse or forward")
    return args


def config_from(args: argparse.Namespace) -> ProxyConfig:
    return ProxyConfig(
        upstream=args.upstream, mode=args.mode, cache_size=args.cache_size,
        max_object_size=args.max_object_size, max_variants=args.max_variants, allow=parse_allow(args.allow),
        purge_clients=_addresses(args.purge_allow), stats_clients=_addresses(args.stats_allow),
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
    """Bind the `--udp-workers` relay sockets on every address of `--bind`, fork one relay process per
    socket (before any event loop), serve HTTP here, and stop and reap every relay process on the way out."""
    sessions = session_budget(args.udp_max_sessions)
    if sessions < args.udp_max_sessions:
        log.event("proxy.udp_sessions_capped", max_sessions=sessions, reserve=FD_RESERVE)
    socks = udp_sockets(args.bind, args.udp_port, args.udp_workers)
    relays = RelayProcesses(socks, relay_factory(args.upstream_udp, max_sessions=sessions,
                                                 idle_timeout_s=args.udp_idle_timeout))
    try:
        asyncio.run(_serve(args, relays))
    finally:
        relays.stop()


def main(argv: Sequence[str] | None = None) -> int:
    log.configure("proxy")
    args = parse_args(argv)
    raise_nofile_limit()
    try:
        _serve_with_relays(args)
    except OSError as exc:
        log.event("proxy.failed", error=str(exc))
        return 1
    return 0
