"""Where a request goes: reverse mode (fixed upstream) or forward mode (absolute-form, allow-list). Pure.

Forward mode and CONNECT decide on the destination, not its spelling (docs/proxy.md, "Forward mode and
SSRF"): an IPv6 literal in any spelling, an IPv4-mapped (`[::ffff:127.0.0.1]`) or NAT64 well-known
(`[64:ff9b::a00:1]`) address and an IPv4 address that reaches the same host are one destination, allowed
only when the allow-list names it with that port; a link-local address is allowed only with the zone
the allow-list gives; unspecified, multicast and broadcast addresses never.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import SplitResult, urljoin, urlsplit

from services.common.inet import (
    AddressError,
    Authority,
    destination,
    format_authority,
    format_host_port,
    ip_literal,
    normal_host,
    parse_authority,
    split_host_port,
)

Origin = tuple[str, int]
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


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


def _authority(netloc: str) -> Authority:
    """The authority of an absolute-form target; malformed (bad brackets, zone, port, userinfo) → 400."""
    try:
        return parse_authority(netloc)
    except AddressError as exc:
        raise TargetError(400, f"invalid request target: {exc.reason}") from None


def reverse_route(target: str, upstream: Origin) -> Route:
    if target.startswith("/"):
        return Route(upstream, target, None, target)
    if target.lower().startswith(("http://", "https://")):
        parts = _split(target)
        _authority(parts.netloc)
        form = _origin_form(parts.path, parts.query)
        return Route(upstream, form, parts.netloc or None, form)
    if target == "*":
        return Route(upstream, target, None, target)
    raise TargetError(400, "invalid request target")


def _origin_host(host: str) -> str:
    """The host to connect to: an IP literal as written (normalised: a NAT64 address must still go
    through the translator), a name lower-case without a trailing dot."""
    return normal_host(host) if ip_literal(host) is not None else destination(host)


def not_unicast(host: str) -> str | None:
    """Why no allow-list may name `host` (an unspecified, multicast or broadcast address, which would
    reach this host itself or many), or None. Mapped and NAT64 forms count as their IPv4 address."""
    literal = ip_literal(destination(host))
    if literal is None:
        return None
    if literal.is_unspecified:
        return "the unspecified address reaches this host itself"
    if literal.is_multicast or literal == _BROADCAST:
        return "a multicast or broadcast address is not one destination"
    return None


def _allowed(host: str, port: int, allow: frozenset[Origin], what: str) -> None:
    """SSRF rule, one for both families: the destination (a name, or the address a literal reaches)
    and port must be on the allow-list."""
    reason = not_unicast(host)
    if reason is not None:
        raise TargetError(403, f"{what} {format_host_port(host, port)} refused: {reason}")
    if (destination(host), port) not in allow:
        raise TargetError(403, f"{what} {format_host_port(host, port)} is not in the allow-list")


def forward_route(target: str, allow: frozenset[Origin]) -> Route:
    if not target.lower().startswith("http://"):
        raise TargetError(400, "forward proxy needs an absolute http:// URI")
    parts = _split(target)
    authority = _authority(parts.netloc)
    if not authority.host:
        raise TargetError(400, "missing host in request target")
    port = 80 if authority.port is None else authority.port
    _allowed(authority.host, port, allow, "destination")
    host = _origin_host(authority.host)
    form = _origin_form(parts.path, parts.query)
    return Route((host, port), form, format_authority(host, port),
                 f"http://{format_authority(host, port, None)}{form}")


def connect_route(target: str, allow: frozenset[Origin]) -> Origin:
    """CONNECT's authority-form `host:port` (an IPv6 host in brackets, RFC 9110 §9.3.6)."""
    try:
        found = parse_authority(target)
    except AddressError as exc:
        raise TargetError(400, f"CONNECT needs host:port: {exc.reason}") from None
    if not found.host or found.port is None:
        raise TargetError(400, "CONNECT needs host:port")
    _allowed(found.host, found.port, allow, "CONNECT to")
    return _origin_host(found.host), found.port


def related_key(route: Route, location: str, client_host: str | None) -> str | None:
    """The cache key of a Location/Content-Location value if it names the same origin (RFC 9111 §4.4)."""
    origin_authority = format_authority(route.origin[0], route.origin[1], None)
    base = f"http://{origin_authority}{route.target}"
    try:
        absolute = urlsplit(urljoin(base, location.strip()))
        if absolute.scheme != "http":
            return None
        same = {name.lower() for name in (route.host, client_host) if name}
        found = parse_authority(absolute.netloc)
        where = (destination(found.host), 80 if found.port is None else found.port)
        if absolute.netloc.lower() not in same and where != (destination(route.origin[0]), route.origin[1]):
            return None
    except ValueError:  # an upstream Location with bad brackets or port names nothing we store
        return None
    form = _origin_form(absolute.path, absolute.query)
    return form if route.key.startswith("/") else f"http://{origin_authority}{form}"


def parse_allow(text: str, default_port: int = 80) -> frozenset[Origin]:
    """`--allow`: `HOST[:PORT]`, `[V6]:PORT`, `[V6%ZONE]:PORT`, comma-separated, each kept as the
    destination it names (`inet.destination`). Raises ValueError naming a bad entry."""
    out: set[Origin] = set()
    for item in text.split(","):
        if not item.strip():
            continue
        host, port = split_host_port(item, default_port)
        reason = not_unicast(host)
        if reason is not None:
            raise ValueError(f"--allow {item.strip()!r}: {reason}")
        out.add((destination(host), port))
    return frozenset(out)
