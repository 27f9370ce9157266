"""Shared types of the request cycle (a leaf module): the settings, one request job, the client interface.

Every other module of the cycle imports these; this module imports none of them, so no import cycles.
"""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.common.connection.heads import connection_field
from services.common.http1 import Limits, Request

from .cache.cookies import DEFAULT_RULES, CookieRules
from .store import DEFAULT_MAX_VARIANTS
from .target import Origin, Route

CACHEABLE_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class ProxyConfig:
    upstream: Origin = ("server", 8000)
    mode: str = "reverse"
    cache_size: int = 64 * 1024 * 1024
    max_object_size: int = 8 * 1024 * 1024
    max_variants: int = DEFAULT_MAX_VARIANTS
    allow: frozenset[Origin] = frozenset({("server", 8000)})
    connect_ports: frozenset[int] = frozenset({443, 8000, 8080})
    purge_clients: frozenset[str] = frozenset({"127.0.0.1", "::1"})
    stats_clients: frozenset[str] = frozenset({"127.0.0.1", "::1"})  # /_proxy/* except /_proxy/health
    connect_timeout_s: float = 5.0
    upstream_timeout_s: float = 30.0
    client_timeout_s: float = 60.0
    header_timeout_s: float = 10.0  # a request head (and each body read) must progress: else 408
    send_timeout_s: float = 60.0  # a client that takes nothing of a response this long is dropped
    shutdown_timeout_s: float = 5.0  # SIGTERM: in-flight responses get this long to finish
    body_buffer: int = 64 * 1024 * 1024  # request bodies held by all connections together (else 503)
    access_log: bool = True
    limits: Limits = field(default_factory=Limits)
    # RFC 9213 targeted fields obeyed over Cache-Control, first present and valid wins (reverse mode only)
    targeted_cache_control: tuple[str, ...] = ("CDN-Cache-Control",)
    # RFC 9111 §4.2.4: how long past its freshness a stored response may still be served when the origin
    # fails (connect error, dropped connection, timeout, 5xx) and no stale-if-error says otherwise; 0 = never
    stale_on_error_s: float = 86400.0
    # pooled upstream connections idle longer are closed, not reused (below servers' keep-alive timeouts)
    upstream_idle_timeout_s: float = 4.0
    # responses that set a cookie / requests that carry one (`--set-cookie`, `--cookie-requests`)
    cookies: CookieRules = DEFAULT_RULES

    @property
    def cache_targets(self) -> tuple[str, ...]:
        """The target list in force: the proxy is the origin's CDN only in reverse mode."""
        return self.targeted_cache_control if self.mode == "reverse" else ()


class Client(Protocol):
    """What the request cycle needs from a client connection."""

    peer: str

    @property
    def closed(self) -> bool:
        """Gone (closed, aborted or timed out): stop sending, free the upstream connection."""

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def abort(self) -> None: ...

    def start_tunnel(self, origin: Origin) -> Coroutine[Any, Any, None]: ...


@dataclass(slots=True)
class Job:
    """One client request with what the cycle learns about it."""

    request: Request
    body: bytes
    close: bool
    client: Client
    start_s: float
    route: Route | None = None
    cache_status: str = "-"
    status: int = 0
    sent_bytes: int = 0
    upstream_ms: float = 0.0

    @property
    def head_only(self) -> bool:
        return self.request.method == "HEAD"

    @property
    def connection(self) -> bytes:
        """The `Connection` field line of the response (`close`, `keep-alive` to HTTP/1.0, or none)."""
        return connection_field(not self.close, self.request.version)
