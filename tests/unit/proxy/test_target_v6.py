"""Forward mode and CONNECT over IPv6: the SSRF allow-list decides on destinations, not spellings.

The table is the one in docs/proxy.md ("Forward mode and SSRF"): each row a target, the allow-list it
is judged against, and the verdict (the origin connected to, or the status of the refusal).
"""

from __future__ import annotations

import pytest

from services.proxy.target import TargetError, connect_route, forward_route, parse_allow, related_key

ALLOW = parse_allow("server:8000,[fd00:203:2::10]:8000,127.0.0.1:8000,[fe80::1%eth0]:8000,10.203.2.10:8000")

# target → origin it connects to, or the status it is refused with
SSRF_TABLE: list[tuple[str, tuple[str, int] | int]] = [
    # allowed: the destination and port are listed, in whatever spelling
    ("http://[fd00:203:2::10]:8000/", ("fd00:203:2::10", 8000)),
    ("http://[FD00:203:2:0:0:0:0:10]:8000/", ("fd00:203:2::10", 8000)),      # same address, long form
    ("http://[::ffff:127.0.0.1]:8000/", ("::ffff:7f00:1", 8000)),            # mapped = 127.0.0.1 (listed)
    ("http://[64:ff9b::10.203.2.10]:8000/", ("64:ff9b::acb:20a", 8000)),     # NAT64 = 10.203.2.10 (listed)
    ("http://[fe80::1%25eth0]:8000/", ("fe80::1%eth0", 8000)),               # link-local on the listed link
    ("http://SERVER.:8000/", ("server", 8000)),
    # refused: not listed
    ("http://[fd00:203:2::10]:8001/", 403),        # another port
    ("http://[fd00:203:2::11]:8000/", 403),        # another ULA address
    ("http://[::1]:8000/", 403),                   # v6 loopback (only 127.0.0.1 is listed)
    ("http://[::ffff:127.0.0.2]:8000/", 403),      # mapped, but another IPv4 address
    ("http://[::ffff:10.203.2.11]:8000/", 403),
    ("http://[64:ff9b::127.0.0.2]:8000/", 403),    # NAT64 to an unlisted IPv4 address
    ("http://[64:ff9b:1::a00:1]:8000/", 403),      # local-use NAT64 prefix: judged as itself
    ("http://[fe80::1%25eth1]:8000/", 403),        # link-local on another link
    ("http://[fe80::1]:8000/", 403),               # link-local without a zone
    ("http://[::7f00:1]:8000/", 403),              # IPv4-compatible (deprecated) is not 127.0.0.1
    ("http://[::]:8000/", 403),                    # unspecified: this host itself
    ("http://[::ffff:0.0.0.0]:8000/", 403),
    ("http://0.0.0.0:8000/", 403),
    ("http://[ff02::1]:8000/", 403),               # multicast
    ("http://2130706433:8000/", 403),              # what inet_aton reads as 127.0.0.1 is only a name here
    ("http://127.1:8000/", 403),
    # malformed: 400, never an exception
    ("http://[::1/", 400),
    ("http://[::1]x/", 400),
    ("http://[::1]:80x/", 400),
    ("http://[fe80::1%eth0]:8000/", 400),          # a zone in a URI is %25zone (RFC 6874)
    ("http://[fe80::1%25]:8000/", 400),
    ("http://[fe80::1%25e%20th]:8000/", 400),
    ("http://[127.0.0.1]:8000/", 400),
    ("http://[v1.x]:8000/", 400),
    ("http://user@[fd00:203:2::10]:8000/", 400),   # userinfo is an error in http URIs (RFC 9110 §4.2.4)
    ("http://[fd00:203:2::10]:99999/", 400),
    ("http://::1:8000/", 400),
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
    ("[fd00:203:2::10]:8000", ("fd00:203:2::10", 8000)),
    ("[::ffff:127.0.0.1]:8000", ("::ffff:7f00:1", 8000)),
    ("[fe80::1%25eth0]:8000", ("fe80::1%eth0", 8000)),
    ("[fd00:203:2::10]:443", 403),
    ("[::1]:8000", 403),
    ("[::]:8000", 403),
    ("fd00:203:2::10:8000", 400),   # authority-form needs brackets around IPv6
    ("[fd00:203:2::10]", 400),
    ("[fd00:203:2::10", 400),
])
def test_connect_targets(target: str, verdict: tuple[str, int] | int) -> None:
    if isinstance(verdict, int):
        with pytest.raises(TargetError) as exc:
            connect_route(target, ALLOW)
        assert exc.value.status == verdict
    else:
        assert connect_route(target, ALLOW) == verdict


def test_v6_routes_rebuild_host_and_key_with_brackets() -> None:
    route = forward_route("http://[fd00:203:2::10]:8000/a?b", ALLOW)
    assert route.host == "[fd00:203:2::10]:8000" and route.target == "/a?b"
    assert route.key == "http://[fd00:203:2::10]:8000/a?b"
    zoned = forward_route("http://[fe80::1%25eth0]:8000/", ALLOW)
    assert zoned.host == "[fe80::1%25eth0]:8000" and zoned.key == "http://[fe80::1%25eth0]:8000/"
    assert related_key(route, "/c", route.host) == "http://[fd00:203:2::10]:8000/c"
    assert related_key(route, "http://[fd00:203:2:0::10]:8000/d", None) == "http://[fd00:203:2::10]:8000/d"
    assert related_key(route, "http://[fd00:203:2::11]:8000/d", None) is None
    assert related_key(route, "http://[fd00:203:2::10/d", None) is None


def test_allow_list_entries_are_destinations() -> None:
    assert parse_allow("[FD00::0010]:80, ::1, [fe80::1%eth0]:8000,Server.") == {
        ("fd00::10", 80), ("::1", 80), ("fe80::1%eth0", 8000), ("server", 80)}
    assert parse_allow("[::ffff:127.0.0.1]:8000") == {("127.0.0.1", 8000)}


@pytest.mark.parametrize(("text", "message"), [
    ("[::1", "missing ']'"), ("[::1]:x", "0-65535"), ("fd00::10:8000:1:2:3:4:5", "[V6]:PORT"),
    ("[::]:80", "unspecified"), ("0.0.0.0:80", "unspecified"), ("[ff02::1]:80", "multicast"),
])
def test_bad_allow_list_entries_are_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_allow(text)
