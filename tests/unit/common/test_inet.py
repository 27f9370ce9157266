"""Address text: brackets, zones, mapped and NAT64 addresses, HOST:PORT and URI authorities."""

from __future__ import annotations

import ipaddress
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common import inet
from services.common.inet import (
    AddressError,
    Authority,
    destination,
    family_conflict,
    family_of,
    format_authority,
    format_host_port,
    ip_literal,
    is_authority,
    parse_authority,
    parse_family,
    peer_host,
    split_host_port,
    tcp_goodput_bps,
    tcp_segment_payload_bytes,
    udp_frame_bytes,
    udp_payload_rate_bps,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("proxy:8443", ("proxy", 8443)),
    ("10.0.0.2:9191", ("10.0.0.2", 9191)),
    ("[::1]:8001", ("::1", 8001)),
    ("[FD00:0:0::010]:8001", ("fd00::10", 8001)),
    ("[fe80::1%eth0]:80", ("fe80::1%eth0", 80)),
    ("[::ffff:127.0.0.1]:80", ("::ffff:7f00:1", 80)),
    ("  server:0 ", ("server", 0)),
])
def test_split_host_port(text: str, expected: tuple[str, int]) -> None:
    assert split_host_port(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("proxy", ("proxy", 9191)),
    ("[::1]", ("::1", 9191)),
    ("::1", ("::1", 9191)),               # a whole unbracketed IPv6 address takes the default port
    ("fd00::10", ("fd00::10", 9191)),
    ("fe80::1%eth0", ("fe80::1%eth0", 9191)),
])
def test_split_host_port_with_a_default_port(text: str, expected: tuple[str, int]) -> None:
    assert split_host_port(text, 9191) == expected


@pytest.mark.parametrize(("text", "reason"), [
    ("[::1", "missing ']'"),
    ("[::1]8001", "only ':PORT'"),
    ("[10.0.0.1]:80", "IPv6"),
    ("[fe80::1%]:80", "IPv6"),
    ("[fe80::1%e th]:80", "IPv6"),
    ("[::1]:65536", "0-65535"),
    ("[::1]:", "0-65535"),
    ("proxy:http", "0-65535"),
    ("proxy:８０", "0-65535"),            # fullwidth digits are not a port
    ("fd00::10:8001", "[V6]:PORT"),       # ambiguous without brackets
    ("a b:80", "expected HOST:PORT"),
    (":80", "expected HOST:PORT"),
    ("", "expected HOST:PORT"),
])
def test_split_host_port_refuses(text: str, reason: str) -> None:
    with pytest.raises(AddressError, match=None) as caught:
        split_host_port(text)
    assert reason in caught.value.reason
    assert isinstance(caught.value, ValueError)  # flag parsers turn it into a usage error


def test_an_unbracketed_v6_needs_a_default_port_to_mean_anything() -> None:
    with pytest.raises(AddressError, match=r"\[V6\]:PORT"):
        split_host_port("::1")


@pytest.mark.parametrize(("text", "expected"), [
    ("example.com", Authority("example.com", None)),
    ("server:8001", Authority("server", 8001)),
    ("server:", Authority("server", None)),       # an empty port is no port (RFC 3986 §3.2.3)
    ("", Authority("", None)),                     # an empty Host is valid (RFC 9112 §3.2)
    ("[::1]", Authority("::1", None)),
    ("[::1]:8443", Authority("::1", 8443)),
    ("[fe80::1%25eth0]:80", Authority("fe80::1%eth0", 80)),
    ("[fe80::1%25Eth0]", Authority("fe80::1%Eth0", None)),  # zone case is kept: interface names
    ("10.0.0.1:80", Authority("10.0.0.1", 80)),
    ("a%2Db", Authority("a%2Db", None)),
    ("127.1", Authority("127.1", None)),           # not a strict literal: a name that matches only itself
])
def test_parse_authority(text: str, expected: Authority) -> None:
    assert parse_authority(text) == expected


@pytest.mark.parametrize("text", [
    "[::1", "::1]", "[::1]x", "[::1]:x", "[::1]:99999", "[v1.x]", "[10.0.0.1]", "[fe80::1%eth0]",
    "[fe80::1%25]", "[fe80::1%25a%2562]", "a@b", "user@[::1]:80", "::1", "a b", "a%zz", "a%2", "h\u00e9",
    "a:1:2", "[]", "[::1]]",
])
def test_parse_authority_refuses(text: str) -> None:
    with pytest.raises(AddressError):
        parse_authority(text)


@pytest.mark.parametrize(("host", "port", "flag", "uri"), [
    ("fd00::10", 8001, "[fd00::10]:8001", "[fd00::10]:8001"),
    ("fe80::1%eth0", 80, "[fe80::1%eth0]:80", "[fe80::1%25eth0]"),
    ("10.0.0.1", 80, "10.0.0.1:80", "10.0.0.1"),
    ("proxy", 8443, "proxy:8443", "proxy:8443"),
])
def test_formats(host: str, port: int, flag: str, uri: str) -> None:
    assert format_host_port(host, port) == flag
    assert format_authority(host, port) == uri
    assert split_host_port(flag) == (host, port)
    assert parse_authority(uri) == Authority(host, None if port == 80 else port)


_V6 = st.builds(ipaddress.IPv6Address, st.integers(0, 2**128 - 1))
# [A-Za-z0-9._~-]{1,8} (a text strategy: the same strings as from_regex, a fraction of its drawing cost)
_ZONES = st.one_of(st.none(), st.text(string.ascii_letters + string.digits + "._~-", min_size=1, max_size=8))


@given(_V6, _ZONES, st.integers(0, 65535))
def test_every_v6_literal_round_trips_through_both_spellings(address: ipaddress.IPv6Address, zone: str | None,
                                                             port: int) -> None:
    host = str(address) + (f"%{zone}" if zone else "")
    assert split_host_port(format_host_port(host, port)) == (host, port)
    assert parse_authority(format_authority(host, port, None)) == Authority(host, port)


@pytest.mark.parametrize(("host", "expected"), [
    ("SERVER.", "server"),
    ("::ffff:127.0.0.1", "127.0.0.1"),        # a v6 socket to a mapped address speaks IPv4
    ("::FFFF:7f00:1", "127.0.0.1"),
    ("64:ff9b::10.0.2.10", "10.0.2.10"),  # NAT64 well-known prefix: a translator reaches the IPv4
    ("64:ff9b:1::a00:1", "64:ff9b:1::a00:1"),  # local-use prefix: the embedding is the operator's, unknown
    ("0:0:0:0:0:0:0:1", "::1"),
    ("fe80::1%eth0", "fe80::1%eth0"),
    ("::10.0.0.1", "::a00:1"),                # IPv4-compatible (deprecated): just an IPv6 address
])
def test_destination(host: str, expected: str) -> None:
    assert destination(host) == expected


def test_literals_and_families() -> None:
    assert family_of("::1") == 6 and family_of("127.0.0.1") == 4 and family_of("proxy") is None
    assert ip_literal("127.1") is None and ip_literal("0177.0.0.1") is None
    assert ip_literal("2130706433") is None
    assert ip_literal("fe80::1%\u00e9") is None and ip_literal("fe80::1%a b") is None
    assert peer_host("::ffff:10.0.0.5") == "10.0.0.5" and peer_host("fd00::5") == "fd00::5"
    assert peer_host("10.0.0.5") == "10.0.0.5"


@pytest.mark.parametrize(("text", "expected"), [
    ("auto", "auto"), ("", "auto"), ("4", "4"), ("ipv4", "4"), ("IPv6", "6"), ("v6", "6"), ("both", "both"),
])
def test_parse_family(text: str, expected: str) -> None:
    assert parse_family(text) == expected


def test_parse_family_refuses() -> None:
    with pytest.raises(ValueError, match="auto, 4, 6 or both"):
        parse_family("5")


def test_family_conflict() -> None:
    assert family_conflict("::1", "4") == "::1 is an IPv6 address, but IPv4 was asked for"
    assert family_conflict("127.0.0.1", "6") is not None
    assert family_conflict("proxy", "6") is None and family_conflict("::1", "6") is None
    assert family_conflict("::1", "auto") is None


def test_v6_frames_are_20_bytes_larger_so_less_payload_fits_a_link() -> None:
    assert udp_frame_bytes(100, 4) == 142 and udp_frame_bytes(100, 6) == 162
    assert udp_payload_rate_bps(1_000_000, 100, 6) == pytest.approx(1e6 * 100 / 162)
    assert udp_payload_rate_bps(1e6, 100, 4) / udp_payload_rate_bps(1e6, 100, 6) == pytest.approx(162 / 142)


@given(st.text(alphabet="[]:%25abf0189.-@ ", max_size=14))
def test_is_authority_is_parse_authority_s_verdict(text: str) -> None:
    try:
        parse_authority(text)
    except AddressError:
        assert not is_authority(text)
    else:
        assert is_authority(text)


def test_tcp_over_v6_carries_20_bytes_less_per_full_segment() -> None:
    assert tcp_segment_payload_bytes(4) == 1448 and tcp_segment_payload_bytes(6) == 1428
    assert tcp_goodput_bps(10e6, 4) == pytest.approx(10e6 * 1448 / 1514)
    assert tcp_goodput_bps(10e6, 6) / tcp_goodput_bps(10e6, 4) == pytest.approx(1428 / 1448)


def test_is_authority_remembers_a_bounded_number_of_verdicts() -> None:
    for i in range(3 * inet._VERDICTS_MAX):
        assert is_authority(f"h{i}:80")
    assert 0 < len(inet._VERDICTS) <= inet._VERDICTS_MAX
    assert not is_authority("a b:80") and not is_authority("a b:80")  # a refusal remembered stays one
    long = "x" * inet._VERDICT_TEXT_MAX + ":1"
    assert is_authority(long) and long not in inet._VERDICTS  # judged, not kept
