"""IP addresses as text: literals with brackets and zones, HOST:PORT, URI authorities, families. Pure.

One copy of the rules every service and the client follow, so `[fd00::10]:8000` means the same in a
flag, a URL, a `Host` field, an allow-list and a log line:

    split_host_port("[fe80::1%eth0]:8000")   → ("fe80::1%eth0", 8000)     flags and settings
    parse_authority("[fe80::1%25eth0]:8000") → Authority("fe80::1%eth0", 8000)   URIs and Host (RFC 6874)
    format_host_port("fd00::10", 8000)       → "[fd00::10]:8000"           logs, flags
    format_authority("fe80::1%eth0", 8000)   → "[fe80::1%25eth0]:8000"     URIs and Host
    destination("::ffff:127.0.0.1")          → "127.0.0.1"                 where a literal leads

Literals are strict (`ipaddress`): no `127.1`, `0177.0.0.1` or `2130706433`, which the C resolver would
take as 127.0.0.1; such text is a name here and matches nothing but itself.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

V4, V6 = 4, 6
AUTO, BOTH = "auto", "both"
FAMILIES = (AUTO, "4", "6", BOTH)
IP_HEADER_B = {V4: 20, V6: 40}  # fixed headers, no options or extension headers
UDP_HEADER_B = 8
TCP_HEADER_B = 32  # 20 + the 12-byte timestamps option Linux puts on every segment
ETHERNET_HEADER_B = 14
MTU_B = 1500
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix, IPv4 in the last 32 bits

# Zone ids: interface names or indexes. In a URI the `%` before the zone is written `%25` (RFC 6874).
_ZONE = re.compile(r"[A-Za-z0-9._~-]++")
_NAME = re.compile(r"[A-Za-z0-9._-]++")  # host names in flags and settings (DNS and compose names)
_REG_NAME = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=%-]*+")  # RFC 3986 reg-name characters
_BAD_PCT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_MAX_PORT_DIGITS = 5
_VERDICTS: dict[str, bool] = {}  # is_authority's memo
_VERDICTS_MAX = 256
_VERDICT_TEXT_MAX = 300  # a Host value of a name (<= 253) and a port, or an IPv6 literal with a zone


class AddressError(ValueError):
    """Text that is not a valid address: the text and why (a ValueError, so flag parsers show it)."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"invalid address {text!r}: {reason}")
        self.text = text
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Authority:
    """A URI authority or `Host` value: the host (a name, or an IP literal without brackets and with
    its zone decoded, `fe80::1%eth0`) and the port (None when absent or empty)."""

    host: str
    port: int | None


def ip_literal(text: str) -> IPAddress | None:
    """The address `text` spells: a dotted quad, or IPv6 with an optional `%zone`; None for anything
    else (a host name, or not an address at all)."""
    if not text or not text.isascii():
        return None
    _, sep, zone = text.partition("%")
    if sep and not _ZONE.fullmatch(zone):
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def family_of(host: str) -> int | None:
    """4 or 6 for an IP literal, None for a name (which may resolve to either)."""
    literal = ip_literal(host)
    return literal.version if literal is not None else None


def normal_host(host: str) -> str:
    """An IP literal in its one spelling (IPv6 compressed, lower-case, zone as given); names as given."""
    literal = ip_literal(host)
    return host if literal is None else str(literal)


def format_host(host: str) -> str:
    """`host` as it goes before `:PORT`: IPv6 literals in brackets."""
    return f"[{host}]" if ":" in host else host


def format_host_port(host: str, port: int) -> str:
    """`HOST:PORT` for flags and logs: `[fd00::10]:8000`, `[fe80::1%eth0]:80`, `10.0.0.1:80`."""
    return f"{format_host(host)}:{port}"


def format_authority(host: str, port: int | None = None, default_port: int | None = 80) -> str:
    """A URI authority (and `Host` value): IPv6 in brackets with the zone's `%` as `%25` (RFC 6874), the
    port left out when it is the scheme's default."""
    if ":" in host:
        address, sep, zone = host.partition("%")
        host = f"[{address}%25{zone}]" if sep else f"[{address}]"
    return host if port is None or port == default_port else f"{host}:{port}"


def _valid_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= _MAX_PORT_DIGITS and int(text) <= 65535


def _port(text: str, whole: str) -> int:
    if not _valid_port(text):
        raise AddressError(whole, "the port must be a number 0-65535")
    return int(text)


def _bracketed(inner: str, whole: str) -> str:
    literal = ip_literal(inner)
    if literal is None or literal.version != V6:
        raise AddressError(whole, "brackets must hold an IPv6 address (with an optional %zone)")
    return str(literal)


def split_host_port(text: str, default_port: int | None = None) -> tuple[str, int]:
    """Parse `HOST:PORT`, `[V6]:PORT` or `[V6%ZONE]:PORT`; with `default_port` also a bare `HOST`, `[V6]`
    or an unbracketed IPv6 address (only when the whole text is one: `::1`, `fd00::10`).
    IP literals come back in their one spelling (`normal_host`); raises AddressError."""
    text = text.strip()
    port_text: str | None
    if text.startswith("["):
        inner, close, rest = text[1:].partition("]")
        if not close:
            raise AddressError(text, "missing ']'")
        host = _bracketed(inner, text)
        if rest and not rest.startswith(":"):
            raise AddressError(text, "only ':PORT' may follow ']'")
        port_text = rest[1:] if rest else None
    elif text.count(":") > 1:
        literal = ip_literal(text)
        if literal is None or default_port is None:
            raise AddressError(text, "an IPv6 address with a port is written [V6]:PORT")
        return str(literal), default_port
    else:
        host, colon, after = text.partition(":")
        port_text = after if colon else None
        if not _NAME.fullmatch(host):
            raise AddressError(text, "expected HOST:PORT (a name, an IPv4 address or [IPv6])")
        host = normal_host(host)
    if port_text is None:
        if default_port is None:
            raise AddressError(text, "missing :PORT")
        return host, default_port
    return host, _port(port_text, text)


def parse_authority(text: str) -> Authority:
    """Parse a URI authority without userinfo, or a `Host` value (RFC 3986 §3.2, RFC 9110 §7.2):
    `reg-name`, IPv4, or `[IPv6]` / `[IPv6%25zone]` (RFC 6874), then an optional `:port` of 0-65535
    (empty means absent). IPvFuture and userinfo are refused; raises AddressError."""
    if "@" in text:
        raise AddressError(text, "userinfo (user@) is not allowed in an http URI or Host")
    port_text: str | None
    if text.startswith("["):
        inner, close, rest = text[1:].partition("]")
        if not close:
            raise AddressError(text, "missing ']'")
        address, pct, zone = inner.partition("%25")
        if pct and not zone:
            raise AddressError(text, "empty zone id after %25")
        if "%" in address:
            raise AddressError(text, "a zone id in a URI is written %25zone (RFC 6874)")
        host = _bracketed(f"{address}%{zone}" if pct else address, text)
        if rest and not rest.startswith(":"):
            raise AddressError(text, "only ':port' may follow ']'")
        port_text = rest[1:] if rest else None
    else:
        host, colon, after = text.partition(":")
        port_text = after if colon else None
        if not _REG_NAME.fullmatch(host) or _BAD_PCT.search(host):
            raise AddressError(text, "not a host name, IPv4 address or [IPv6] literal")
        host = normal_host(host)
    return Authority(host, _port(port_text, text) if port_text else None)


def is_authority(text: str) -> bool:
    """Whether `parse_authority` accepts `text` (a `Host` value's check, without building anything).

    The verdict on a text of up to `_VERDICT_TEXT_MAX` characters is remembered: a server sees the same
    few Host values on every request (this check was ~8 % of a request's full path). At most
    `_VERDICTS_MAX` are kept; the memo starts over when full."""
    known = _VERDICTS.get(text)
    if known is None:
        known = _authority_syntax(text)
        if len(text) <= _VERDICT_TEXT_MAX:
            if len(_VERDICTS) >= _VERDICTS_MAX:
                _VERDICTS.clear()
            _VERDICTS[text] = known
    return known


def _authority_syntax(text: str) -> bool:
    if text.startswith("["):
        try:
            parse_authority(text)
        except AddressError:
            return False
        return True
    host, _, port = text.partition(":")
    if _REG_NAME.fullmatch(host) is None or ("%" in host and _BAD_PCT.search(host)):
        return False
    return not port or _valid_port(port)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address reaches: IPv4-mapped `::ffff:a.b.c.d` (the socket speaks IPv4)
    or the NAT64 well-known prefix `64:ff9b::a.b.c.d` (a translator speaks IPv4, RFC 6052); else None."""
    if address.version != V6:
        return None
    assert isinstance(address, ipaddress.IPv6Address)
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.scope_id is None and address in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def destination(host: str) -> str:
    """The one spelling of where `host` leads, for comparing destinations (allow-lists): names
    lower-case without a trailing dot; IP literals normalised, and an IPv4-mapped or NAT64 address
    as the IPv4 address it reaches. A zone stays part of a link-local address: another zone is
    another link."""
    literal = ip_literal(host)
    if literal is None:
        return host.lower().removesuffix(".")
    embedded = embedded_ipv4(literal)
    return str(embedded if embedded is not None else literal)


def peer_host(host: str) -> str:
    """A peer address as a socket reports it, with an IPv4 client of a dual-stack socket
    (`::ffff:10.0.0.5`) shown as the IPv4 address it is; other text unchanged."""
    literal = ip_literal(host)
    if literal is None or literal.version != V6:
        return host
    assert isinstance(literal, ipaddress.IPv6Address)
    return str(literal.ipv4_mapped) if literal.ipv4_mapped is not None else host


def parse_family(text: str) -> str:
    """The address family a client uses: `auto` (what the name resolves to, in the resolver's order),
    `4`, `6` or `both` (`ipv4`/`ipv6`/`v4`/`v6` are taken too)."""
    value = text.strip().lower().removeprefix("ipv").removeprefix("v") or AUTO
    if value not in FAMILIES:
        raise ValueError(f"invalid address family {text!r} (auto, 4, 6 or both)")
    return value


def family_conflict(host: str, family: str) -> str | None:
    """Why `host` cannot be reached over `family` (an IPv4 literal with 6, or the reverse), or None."""
    version = family_of(host)
    if version is None or family not in ("4", "6") or int(family) == version:
        return None
    return f"{host} is an IPv{version} address, but IPv{family} was asked for"


def udp_frame_bytes(payload_b: int, version: int) -> int:
    """An Ethernet frame carrying `payload_b` bytes of UDP: what a shaper on a veth or bridge counts
    (an IPv6 header is 20 bytes larger than IPv4's, so at one link rate fewer payload bits pass)."""
    return payload_b + UDP_HEADER_B + IP_HEADER_B[version] + ETHERNET_HEADER_B


def udp_payload_rate_bps(link_rate_bps: float, payload_b: int, version: int) -> float:
    """The UDP payload rate that fills a link of `link_rate_bps` (counted in Ethernet frames)."""
    return link_rate_bps * payload_b / udp_frame_bytes(payload_b, version)


def tcp_segment_payload_bytes(version: int, mtu_b: int = MTU_B) -> int:
    """TCP payload of a full segment (with timestamps): 1448 bytes over IPv4, 1428 over IPv6 at 1500."""
    return mtu_b - IP_HEADER_B[version] - TCP_HEADER_B


def tcp_goodput_bps(link_rate_bps: float, version: int, mtu_b: int = MTU_B) -> float:
    """The steady TCP payload rate of a bulk transfer through a shaper of `link_rate_bps` that counts
    Ethernet frames (tbf and netem do): 1.4 % less over IPv6 than over IPv4."""
    return link_rate_bps * tcp_segment_payload_bytes(version, mtu_b) / (mtu_b + ETHERNET_HEADER_B)
