"""Where a request goes: reverse mode (fixed upstream) or forward mode (absolute-form, allow-list). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import SplitResult, urljoin, urlsplit

from .numbers import parse_uint

Origin = tuple[str, int]


class TargetError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Route:
    origin: Origin
    target: str      # origin-form sent upstream
    host: str | None  # Host to send (None: keep the client's)
    key: str          # cache key (scheme://host:port + origin-form)


def _split(target: str) -> SplitResult:
    """`urlsplit` raises ValueError on bad brackets (`http://[`, `http://a]/`): a 400, never an exception."""
    try:
        return urlsplit(target)
    except ValueError:
        raise TargetError(400, "invalid request target") from None


def _origin_form(path: str, query: str) -> str:
    return (path or "/") + (f"?{query}" if query else "")


def reverse_route(target: str, upstream: Origin) -> Route:
    if target.startswith("/"):
        return Route(upstream, target, None, target)
    if target.lower().startswith(("http://", "https://")):
        parts = _split(target)
        form = _origin_form(parts.path, parts.query)
        return Route(upstream, form, parts.netloc or None, form)
    if target == "*":
        return Route(upstream, target, None, target)
    raise TargetError(400, "invalid request target")


def forward_route(target: str, allow: frozenset[Origin]) -> Route:
    if not target.lower().startswith("http://"):
        raise TargetError(400, "forward proxy needs an absolute http:// URI")
    parts = _split(target)
    try:
        port = parts.port or 80
        host = (parts.hostname or "").lower()
    except ValueError:
        raise TargetError(400, "invalid port in request target") from None
    if not host:
        raise TargetError(400, "missing host in request target")
    if (host, port) not in allow:
        raise TargetError(403, f"destination {host}:{port} is not in the allow-list")
    authority = host if port == 80 else f"{host}:{port}"
    form = _origin_form(parts.path, parts.query)
    return Route((host, port), form, authority, f"http://{host}:{port}{form}")


def connect_route(target: str, allow: frozenset[Origin]) -> Origin:
    host, sep, port_text = target.rpartition(":")
    port = parse_uint(port_text, 65536) if sep else None
    if port is None or port > 65535:
        raise TargetError(400, "CONNECT needs host:port")
    origin = (host.strip("[]").lower(), port)
    if origin not in allow:
        raise TargetError(403, f"CONNECT to {origin[0]}:{origin[1]} is not allowed")
    return origin


def related_key(route: Route, location: str, client_host: str | None) -> str | None:
    """The cache key of a Location/Content-Location value if it names the same origin (RFC 9111 §4.4)."""
    base = f"http://{route.origin[0]}:{route.origin[1]}{route.target}"
    try:
        absolute = urlsplit(urljoin(base, location.strip()))
        same = {name.lower() for name in (route.host, client_host) if name}
        if absolute.scheme != "http":
            return None
        if absolute.netloc.lower() not in same and (absolute.hostname, absolute.port or 80) != route.origin:
            return None
    except ValueError:  # an upstream Location with bad brackets or port names nothing we store
        return None
    form = _origin_form(absolute.path, absolute.query)
    return form if route.key.startswith("/") else f"http://{route.origin[0]}:{route.origin[1]}{form}"


def parse_allow(text: str, default_port: int = 80) -> frozenset[Origin]:
    out: set[Origin] = set()
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        number = parse_uint(port, 65536) if sep else None
        if number is not None:
            out.add((host.strip("[]").lower(), number))
        else:
            out.add((item.lower(), default_port))
    return frozenset(out)
