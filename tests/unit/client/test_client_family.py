"""`--family`: which addresses a test uses, how URLs with IPv6 hosts are written, and the rows' side by
side table. The resolver is a fake: no sockets, no DNS."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from netem import topology
from services.client import cli, family, report, results
from services.client.httpc import resolve_target
from services.client.suite import bust

RELAY, PROXY_HTTP, SERVER_HTTP = (topology.port("proxy", "udp"), topology.port("proxy", "http"),
                                  topology.port("server", "http"))
PROXY4, PROXY6 = topology.address("proxy"), topology.address("proxy", 6)
SERVER6 = topology.address("server", 6)
V4_INFO = (socket.AF_INET, socket.SOCK_DGRAM, 17, "", (PROXY4, RELAY))
V6_INFO = (socket.AF_INET6, socket.SOCK_DGRAM, 17, "", (PROXY6, RELAY, 0, 0))


class FakeResolver:
    """getaddrinfo for a dual-stack name, answered in the order the OS would (v6 first)."""

    def __init__(self, infos: list[tuple[Any, ...]]) -> None:
        self.infos = infos
        self.asked: list[int] = []

    def __call__(self, host: str, port: int, af: int, socktype: int) -> list[tuple[Any, ...]]:
        self.asked.append(af)
        found = [info for info in self.infos if af in (socket.AF_UNSPEC, info[0])]
        if not found:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return found


def test_auto_keeps_the_resolvers_order_and_each_family_only_its_own() -> None:
    resolver = FakeResolver([V6_INFO, V4_INFO])
    assert family.addresses("proxy", RELAY, "auto", socket.SOCK_DGRAM, resolver) == [V6_INFO, V4_INFO]
    assert family.addresses("proxy", RELAY, "4", socket.SOCK_DGRAM, resolver) == [V4_INFO]
    assert family.addresses("proxy", RELAY, "6", socket.SOCK_DGRAM, resolver) == [V6_INFO]
    assert resolver.asked == [socket.AF_UNSPEC, socket.AF_INET, socket.AF_INET6]


def test_a_name_without_the_family_asked_for_says_so() -> None:
    with pytest.raises(family.NoAddress, match="proxy has no IPv6 address"):
        family.addresses("proxy", RELAY, "6", socket.SOCK_DGRAM, FakeResolver([V4_INFO]))
    with pytest.raises(family.NoAddress, match="::1 is an IPv6 address, but IPv4 was asked for"):
        family.addresses("::1", RELAY, "4", socket.SOCK_DGRAM, FakeResolver([V6_INFO]))
    with pytest.raises(socket.gaierror) as caught:  # auto: the resolver's own error, unchanged
        family.addresses("nowhere", 1, "auto", socket.SOCK_DGRAM, FakeResolver([]))
    assert not isinstance(caught.value, family.NoAddress)


@pytest.mark.parametrize("asked", ["4", "6"])
def test_a_name_not_known_yet_is_the_resolvers_error_so_a_test_waits_for_it(asked: str) -> None:
    """A Swarm service's name resolves only once its task runs: with a family asked for, that must stay
    a retryable resolver error, not 'has no IPv4 address' (which ends the waiting at once)."""
    with pytest.raises(socket.gaierror) as caught:
        family.addresses("proxy", RELAY, asked, socket.SOCK_DGRAM, FakeResolver([]))
    assert not isinstance(caught.value, family.NoAddress)


def test_runs_and_versions() -> None:
    assert family.runs("both") == ["4", "6"] and family.runs("6") == ["6"] and family.runs("auto") == ["auto"]
    assert family.version(socket.AF_INET6) == 6 and family.version(socket.AF_INET) == 4


@pytest.mark.parametrize(("url", "proxy", "expected"), [
    ("http://[::1]:8443/a", None, ("::1", 8443, "/a", "[::1]:8443")),
    (f"http://[{SERVER6}]:{SERVER_HTTP}/x", ("proxy", PROXY_HTTP),
     ("proxy", PROXY_HTTP, f"http://[{SERVER6}]:{SERVER_HTTP}/x", f"[{SERVER6}]:{SERVER_HTTP}")),
    (f"http://[{PROXY6.upper().replace('::', ':0::')}]:{PROXY_HTTP}/i", (PROXY6, PROXY_HTTP),
     (PROXY6, PROXY_HTTP, "/i", f"[{PROXY6}]:{PROXY_HTTP}")),
    ("http://[fe80::1%25eth0]/", None, ("fe80::1%eth0", 80, "/", "[fe80::1%25eth0]")),
])
def test_urls_with_ipv6_hosts(url: str, proxy: tuple[str, int] | None,
                              expected: tuple[str, int, str, str]) -> None:
    target = resolve_target(url, proxy)
    assert (target.host, target.port, target.request_target, target.host_header) == expected


@pytest.mark.parametrize("url", ["http://[::1/", "http://::1:8443/", "http://[::1]x/", "http://[fe80::1%eth0]/"])
def test_malformed_ipv6_urls_are_value_errors(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported URL"):
        resolve_target(url, None)


@pytest.mark.parametrize(("argv", "env", "expected"), [
    (["qos"], {}, "auto"),
    (["qos", "-6"], {}, "6"),
    (["qos", "--ipv4"], {}, "4"),
    (["suite", "--family", "both"], {}, "both"),
    (["http"], {"CLIENT_FAMILY": "ipv6"}, "6"),
    (["load", "-4"], {"CLIENT_FAMILY": "6"}, "4"),   # the flag wins over the environment
    (["qos", "-4", "-6"], {}, "6"),                   # the last one given wins
])
def test_family_flags(argv: list[str], env: dict[str, str], expected: str,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cli.build_parser().parse_args(argv).family == expected


@pytest.mark.parametrize("argv", [
    ["qos", "-4", "--target", "[::1]:9191"],
    ["qos", "-6", "--target", "127.0.0.1:9191"],
    ["http", "-6", "http://127.0.0.1:8001/", "--proxy", "none"],
    ["load", "-4", "http://[::1]:8001/", "--proxy", "none"],
    ["suite", "-6", "--target", "127.0.0.1:9191"],
    ["qos", "--family", "5"],
])
def test_a_literal_of_the_other_family_is_a_usage_error(argv: list[str],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([*argv, "--csv", ""]) == 2
    err = capsys.readouterr().err
    assert "IPv" in err or "family" in err


def test_each_family_of_a_both_run_gets_its_own_cache_key() -> None:
    assert bust("http://p/i", "abc") == "http://p/i?qoslab_run=abc"
    assert bust("http://p/i?x=1", "abc", "6") == "http://p/i?x=1&qoslab_run=abc-v6"
    assert bust("http://p/i", "abc", "4") != bust("http://p/i", "abc", "6")


def test_ip_version_was_appended_to_both_files() -> None:
    # columns are only ever appended: ip_version came after the result row's last column and the raw file's
    # `late` (the raw stamps of netem record were appended after it)
    assert results.COLUMNS.index("ip_version") == results.COLUMNS.index("load_errors") + 7
    assert results.RAW_COLUMNS.index("ip_version") == results.RAW_COLUMNS.index("late") + 1


def test_family_table_puts_the_families_side_by_side() -> None:
    def rows(version: int, rtt: float) -> list[dict[str, Any]]:
        return [{"kind": "http_miss", "ok": True, "http_status": 200, "x_cache": "MISS", "ttfb_ms": 1.5,
                 "ip_version": version},
                {"kind": "qos", "ok": True, "rtt_median_ms": rtt, "rtt_p99_ms": 2 * rtt, "loss_pct": 0.0,
                 "ip_version": version}]

    failed = [{"kind": "http_miss", "ok": False, "error": "dns: proxy has no IPv6 address"}]
    lines = report.family_table([("4", rows(4, 0.31)), ("6", failed)])
    assert lines[0].split() == ["test", "IPv4", "IPv6"]
    assert "200 MISS ttfb 1.50 ms" in lines[2] and "FAILED dns: proxy has no IPv6" in lines[2]
    assert lines[3].startswith("qos") and "rtt 0.31/0.62 ms loss 0.0 %" in lines[3] and lines[3].endswith("-")
    both = report.family_table([("4", rows(4, 0.31)), ("6", rows(6, 0.42))])
    assert both[3].index("0.31") < both[3].index("0.42")
