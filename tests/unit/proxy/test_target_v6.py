"""Forward mode and CONNECT over IPv6: the SSRF allow-list decides on destinations, not spellings.

The table is the one in docs/proxy.md ("Forward mode and SSRF"): each row a target, the allow-list it
is judged against, and the verdict (the origin connected to, or the status of the refusal).
"""

from __future__ import annotations

import ipaddress

import pytest

from netem import topology
from services.proxy.target import TargetError, connect_route, forward_route, parse_allow, related_key

P = topology.port("server", "http")
S4, S6 = topology.address("server"), topology.address("server", 6)
S4_NEXT, S6_NEXT = ipaddress.IPv4Address(S4) + 1, ipaddress.IPv6Address(S6) + 1
S6_LONG = ipaddress.IPv6Address(S6).exploded.upper()
NAT64_S4 = ipaddress.IPv6Address(f"64:ff9b::{S4}")  # what a NAT64 literal of the server is normalised to
ALLOW = parse_allow(f"server:{P},[{S6}]:{P},127.0.0.1:{P},[fe80::1%eth0]:{P},{S4}:{P}")

# target → origin it connects to, or the status it is refused with
SSRF_TABLE: list[tuple[str, tuple[str, int] | int]] = [
    # allowed: the destination and port are listed, in whatever spelling
    (f"http://[{S6}]:{P}/", (S6, P)),
    (f"http://[{S6_LONG}]:{P}/", (S6, P)),      # same address, long form
    (f"http://[::ffff:127.0.0.1]:{P}/", ("::ffff:7f00:1", P)),            # mapped = 127.0.0.1 (listed)
    (f"http://[64:ff9b::{S4}]:{P}/", (str(NAT64_S4), P)),     # NAT64 of the server's IPv4 (listed)
    (f"http://[fe80::1%25eth0]:{P}/", ("fe80::1%eth0", P)),               # link-local on the listed link
    (f"http://SERVER.:{P}/", ("server", P)),
    # refused: not listed
    (f"http://[{S6}]:{P + 1}/", 403),        # another port
    (f"http://[{S6_NEXT}]:{P}/", 403),        # another ULA address
    (f"http://[::1]:{P}/", 403),                   # v6 loopback (only 127.0.0.1 is listed)
    (f"http://[::ffff:127.0.0.2]:{P}/", 403),      # mapped, but another IPv4 address
    (f"http://[::ffff:{S4_NEXT}]:{P}/", 403),
    (f"http://[64:ff9b::127.0.0.2]:{P}/", 403),    # NAT64 to an unlisted IPv4 address
    (f"http://[64:ff9b:1::a00:1]:{P}/", 403),      # local-use NAT64 prefix: judged as itself
    (f"http://[fe80::1%25eth1]:{P}/", 403),        # link-local on another link
    (f"http://[fe80::1]:{P}/", 403),               # link-local without a zone
    (f"http://[::7f00:1]:{P}/", 403),              # IPv4-compatible (deprecated) is not 127.0.0.1
    (f"http://[::]:{P}/", 403),                    # unspecified: this host itself
    (f"http://[::ffff:0.0.0.0]:{P}/", 403),
    (f"http://0.0.0.0:{P}/", 403),
    (f"http://[ff02::1]:{P}/", 403),               # multicast
    (f"http://2130706433:{P}/", 403),              # what inet_aton reads as 127.0.0.1 is only a name here
    (f"http://127.1:{P}/", 403),
    # malformed: 400, never an exception
    ("http://[::1/", 400),
    ("http://[::1]x/", 400),
    ("http://[::1]:80x/", 400),
    (f"http://[fe80::1%eth0]:{P}/", 400),          # a zone in a URI is %25zone (RFC 6874)
    (f"http://[fe80::1%25]:{P}/", 400),
    (f"http://[fe80::1%25e%20th]:{P}/", 400),
    (f"http://[127.0.0.1]:{P}/", 400),
    (f"http://[v1.x]:{P}/", 400),
    (f"http://user@[{S6}]:{P}/", 400),   # userinfo is an error in http URIs (RFC 9110 §4.2.4)
    (f"http://[{S6}]:99999/", 400),
    (f"http://::1:{P}/", 400),
]


@pytest.mark.parametrize(("target", "verdict"), SSRF_TABLE, ids=[t for t, _ in SSRF_TABLE])
def test_forward_mode_ssrf_table(target: str, verdict: tuple[str, int] | int) -> None:
    if isinstance(verdict, int):
        with pytest.raises(TargetError) as exc:
            forward_route(target, ALLOW)
        assert exc.value.status == verdict
    else:
        assert forward_route(target, ALLOW).origin == verdict


@pytest.mark.parametrize(("target", "verdict"), [
    (f"[{S6}]:{P}", (S6, P)),
    (f"[::ffff:127.0.0.1]:{P}", ("::ffff:7f00:1", P)),
    (f"[fe80::1%25eth0]:{P}", ("fe80::1%eth0", P)),
    (f"[{S6}]:443", 403),
    (f"[::1]:{P}", 403),
    (f"[::]:{P}", 403),
    (f"{S6}:{P}", 400),   # authority-form needs brackets around IPv6
    (f"[{S6}]", 400),
    (f"[{S6}", 400),
])
def test_connect_targets(target: str, verdict: tuple[str, int] | int) -> None:
    if isinstance(verdict, int):
        with pytest.raises(TargetError) as exc:
            connect_route(target, ALLOW)
        assert exc.value.status == verdict
    else:
        assert connect_route(target, ALLOW) == verdict


def test_v6_routes_rebuild_host_and_key_with_brackets() -> None:
    route = forward_route(f"http://[{S6}]:{P}/a?b", ALLOW)
    assert route.host == f"[{S6}]:{P}" and route.target == "/a?b"
    assert route.key == f"http://[{S6}]:{P}/a?b"
    zoned = forward_route(f"http://[fe80::1%25eth0]:{P}/", ALLOW)
    assert zoned.host == f"[fe80::1%25eth0]:{P}" and zoned.key == f"http://[fe80::1%25eth0]:{P}/"
    assert related_key(route, "/c", route.host) == f"http://[{S6}]:{P}/c"
    assert related_key(route, f"http://[{S6_LONG}]:{P}/d", None) == f"http://[{S6}]:{P}/d"
    assert related_key(route, f"http://[{S6_NEXT}]:{P}/d", None) is None
    assert related_key(route, f"http://[{S6}/d", None) is None


def test_allow_list_entries_are_destinations() -> None:
    assert parse_allow(f"[FD00::0010]:80, ::1, [fe80::1%eth0]:{P},Server.") == {
        ("fd00::10", 80), ("::1", 80), ("fe80::1%eth0", P), ("server", 80)}
    assert parse_allow(f"[::ffff:127.0.0.1]:{P}") == {("127.0.0.1", P)}


@pytest.mark.parametrize(("text", "message"), [
    ("[::1", "missing ']'"), ("[::1]:x", "0-65535"), (f"fd00::10:{P}:1:2:3:4:5", "[V6]:PORT"),
    ("[::]:80", "unspecified"), ("0.0.0.0:80", "unspecified"), ("[ff02::1]:80", "multicast"),
])
def test_bad_allow_list_entries_are_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_allow(text)
