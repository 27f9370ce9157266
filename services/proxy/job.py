"""Shared types of the request cycle (a leaf module): the settings, one request job, the client interface.

Every other module of the cycle imports these; this module imports none of them, so no import cycles.
"""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.common.config import defaults
from services.common.connection.heads import connection_field
from services.common.http1 import Limits, Request

from .body import BodyStream
from .cache.cookies import CookieRules
from .options import OPTIONS
from .target import Origin, Route, forward_route, reverse_route

CACHEABLE_METHODS = frozenset({"GET", "HEAD"})


_D = defaults(OPTIONS)
_COOKIES = CookieRules(_D["set_cookie"], _D["cookie_requests"])


@dataclass(frozen=True)
class ProxyConfig:
    """The proxy's HTTP settings; every default is its Option's (`options.py`), parsed."""

    upstream: Origin = _D["upstream"]
    mode: str = _D["mode"]
    cache_size: int = _D["cache_size"]
    max_object_size: int = _D["max_object_size"]
    max_variants: int = _D["max_variants"]
    allow: frozenset[Origin] = _D["allow"]
    connect_ports: frozenset[int] = frozenset({443, 8000, 8080})  # CONNECT targets (no flag)
    purge_clients: frozenset[str] = _D["purge_allow"]
    stats_clients: frozenset[str] = _D["stats_allow"]  # /_proxy/* except /_proxy/health
    connect_timeout_s: float = _D["connect_timeout"]
    upstream_timeout_s: float = _D["upstream_timeout"]
    client_timeout_s: float = _D["client_timeout"]
    header_timeout_s: float = _D["header_timeout"]  # a request head (and each body read) must progress
    send_timeout_s: float = _D["send_timeout"]  # a client that takes nothing of a response is dropped
    shutdown_timeout_s: float = _D["shutdown_timeout"]  # SIGTERM: in-flight responses get this long
    body_buffer: int = _D["body_buffer"]  # request bodies held by all connections together (else 503)
    access_log: bool = _D["access_log"]
    limits: Limits = field(default_factory=Limits)
    # RFC 9213 targeted fields obeyed over Cache-Control, first present and valid wins (reverse mode only)
    targeted_cache_control: tuple[str, ...] = _D["targeted_cache_control"]
    # RFC 9111 §4.2.4: how long past its freshness a stored response may still be served when the origin
    # fails (connect error, dropped connection, timeout, 5xx) and no stale-if-error says otherwise; 0 = never
    stale_on_error_s: float = _D["stale_on_error"]
    # pooled upstream connections idle longer are closed, not reused (below servers' keep-alive timeouts)
    upstream_idle_timeout_s: float = _D["upstream_idle_timeout"]
    # responses that set a cookie / requests that carry one (`--set-cookie`, `--cookie-requests`)
    cookies: CookieRules = _COOKIES

    def route(self, target: str) -> Route:
        """Where a request target goes in this mode (raises TargetError with the status to answer)."""
        if self.mode == "forward":
            return forward_route(target, self.allow)
        return reverse_route(target, self.upstream)

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

    def write_body(self, body: bytes) -> None:
        """The body of a stored response: shared by every client it goes to, never copied per client; when
        large it goes out as the client takes it and ends the answer itself (`HttpConnection.send_body`)."""

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
    stream: BodyStream | None = None  # a body passed upstream as it arrives (else `body`, read whole)

    @property
    def head_only(self) -> bool:
        return self.request.method == "HEAD"

    @property
    def connection(self) -> bytes:
        """The `Connection` field line of the response (`close`, `keep-alive` to HTTP/1.0, or none)."""
        return connection_field(not self.close, self.request.version)
