"""Settings come from flags, then environment variables, then documented defaults."""

from __future__ import annotations

import os

import pytest

from netem import topology
from services.common.config import (
    Option,
    build_parser,
    parse_bool,
    parse_duration_s,
    parse_host_port,
    parse_port,
    parse_size,
    parse_worker_count,
)

HTTP, ECHO = topology.port("server", "http"), topology.port("server", "udp")
ORIGIN = topology.named_endpoint("server", "http")
OPTIONS = [
    Option("--http-port", "T_HTTP_PORT", str(HTTP), "HTTP port", parse_port),
    Option("--upstream", "T_UPSTREAM", ORIGIN, "origin", parse_host_port),
    Option("--cache-size", "T_CACHE", "64MiB", "cache bytes", parse_size),
    Option("--listing", "T_LISTING", "false", "directory listing", is_switch=True),
]


def test_default_then_environment_then_flag() -> None:
    assert build_parser("t", "", OPTIONS, environ={}).parse_args([]).http_port == HTTP
    env = {"T_HTTP_PORT": "9001", "T_LISTING": "yes"}
    args = build_parser("t", "", OPTIONS, environ=env).parse_args([])
    assert (args.http_port, args.listing) == (9001, True)
    args = build_parser("t", "", OPTIONS, environ=env).parse_args(["--http-port", "9002", "--no-listing"])
    assert (args.http_port, args.listing) == (9002, False)
    assert args.upstream == ("server", HTTP) and args.cache_size == 64 * 1024**2


def test_help_names_env_var_and_default() -> None:
    text = build_parser("t", "", OPTIONS, environ={}).format_help()
    assert "T_HTTP_PORT" in text and f"'{HTTP}'" in text and "T_CACHE" in text


def test_bad_flag_value_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser("t", "", OPTIONS, environ={}).parse_args(["--http-port", "70000"])
    assert exc.value.code == 2
    assert "invalid port" in capsys.readouterr().err


def test_bad_environment_value_names_the_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser("t", "", OPTIONS, environ={"T_CACHE": "lots"})
    assert exc.value.code == 2
    assert "T_CACHE='lots'" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "expected"), [
    ("1500", 1500), ("64KiB", 65536), ("8MiB", 8 * 1024**2), ("1GB", 10**9), ("2.5k", 2500)])
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("10ms", 0.01), ("2.5s", 2.5), ("500us", 0.0005), ("1m", 60.0), ("3", 3.0)])
def test_parse_duration(text: str, expected: float) -> None:
    assert parse_duration_s(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "ten", "5 parsecs", "-1s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration_s(text)


@pytest.mark.parametrize(("text", "expected"), [
    (ORIGIN, ("server", HTTP)), ("[::1]:80", ("::1", 80)),
    (topology.endpoint("server", "udp"), (topology.address("server"), ECHO))])
def test_parse_host_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text) == expected


def test_parse_host_port_default_and_errors() -> None:
    proxy_http = topology.port("proxy", "http")
    assert parse_host_port("proxy", default_port=proxy_http) == ("proxy", proxy_http)
    for bad in ("proxy", "a:b:c", "host:99999", ":80"):
        with pytest.raises(ValueError):
            parse_host_port(bad)


def test_parse_bool() -> None:
    assert parse_bool("ON") is True and parse_bool("0") is False
    with pytest.raises(ValueError):
        parse_bool("maybe")


def test_parse_worker_count_zero_means_one_per_core() -> None:
    assert parse_worker_count("1") == 1 and parse_worker_count("3") == 3
    assert parse_worker_count("0") == (os.cpu_count() or 1)
    with pytest.raises(ValueError, match="invalid worker count"):
        parse_worker_count("-1")
