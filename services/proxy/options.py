"""The proxy's settings, each declared once: flag, environment variable, default, help, parser.

`cli.py` turns the table into the command line; `job.ProxyConfig` takes its field defaults from it. Where
a pure module owns a default (`store.DEFAULT_MAX_VARIANTS`, `cache.cookies.DEFAULT_RULES`) the table
reads it from there.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from typing import TypeVar

from services.common.config import (
    Option,
    parse_bool,
    parse_duration_s,
    parse_host_port,
    parse_port,
    parse_size,
    parse_worker_count,
)
from services.common.inet import normal_host
from services.common.listen import valid_bind

from .allocator import Allocator
from .cache.cookies import DEFAULT_RULES, CookieRequests, SetCookie
from .store import DEFAULT_MAX_VARIANTS
from .target import parse_allow

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
    Option("--max-variants", "PROXY_MAX_VARIANTS", str(DEFAULT_MAX_VARIANTS),
           "stored variants per URL (Vary); beyond, the oldest one not asked for again is dropped",
           _positive_int),
    Option("--allow", "PROXY_ALLOW", "server:8000", "forward-mode destinations HOST[:PORT],…", parse_allow),
    Option("--purge-allow", "PROXY_PURGE_ALLOW", "127.0.0.1,::1", "client addresses allowed to PURGE",
           _addresses),
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
           "client addresses allowed /_proxy/stats and /metrics (/_proxy/health is open to all)", _addresses),
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
    Option("--set-cookie", "PROXY_SET_COOKIE", DEFAULT_RULES.set_cookie.value,
           "responses with Set-Cookie: pass (not stored), strip (stored without it), store (RFC 9111)",
           _choice(SetCookie)),
    Option("--cookie-requests", "PROXY_COOKIE_REQUESTS", DEFAULT_RULES.requests.value,
           "requests with Cookie: cache (served and stored like any) or bypass (never cached)",
           _choice(CookieRequests)),
    Option("--allocator", "PROXY_ALLOCATOR", Allocator.PYMALLOC.value,
           "pymalloc: CPython's default (fastest hits); malloc: re-executes once with PYTHONMALLOC=malloc so "
           "nearly all memory freed after a burst goes back to the system (unless PYTHONMALLOC is set)",
           _choice(Allocator)),
]
