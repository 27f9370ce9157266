"""The services' default ports and peers agree with `netem.topology` (the services cannot import netem, so
their Option tables carry their own copy; this test holds each copy to the topology)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from netem import topology
from services.client import menu
from services.client import options as client_options
from services.common.config import Option, defaults
from services.proxy import job
from services.proxy import options as proxy_options
from services.server import options as server_options

TABLES: tuple[ModuleType, ...] = (server_options, proxy_options, client_options)
# `HOST:PORT` or `scheme://HOST:PORT` naming a service of the topology by its compose DNS name
_NAMED = re.compile(rf"(?:(?P<scheme>\w+)://)?\b(?P<host>{'|'.join(topology.SERVICES)}):(?P<port>\d+)\b")


def options_of(module: ModuleType) -> Iterator[tuple[str, Option]]:
    """Every Option row of every table a service's options module defines."""
    for name, value in vars(module).items():
        if isinstance(value, list) and value and all(isinstance(row, Option) for row in value):
            yield from ((name, row) for row in value)


def _table(module: ModuleType, name: str) -> dict[str, Any]:
    """The parsed defaults of one table, as the config classes and the CLI see them."""
    return defaults(getattr(module, name))


def test_every_option_table_is_found() -> None:
    found = {(module.__name__, name) for module in TABLES for name, _ in options_of(module)}
    assert {("services.server.options", "OPTIONS"), ("services.proxy.options", "OPTIONS"),
            ("services.client.options", "COMMON"), ("services.client.options", "SUITE")} <= found


def test_the_listening_ports_are_the_topologys() -> None:
    for service, module in (("server", server_options), ("proxy", proxy_options)):
        config = _table(module, "OPTIONS")
        assert (config["http_port"], config["udp_port"]) == (topology.port(service, "http"),
                                                             topology.port(service, "udp")), service


def test_the_proxy_reaches_the_server_where_the_topology_puts_it() -> None:
    config = _table(proxy_options, "OPTIONS")
    assert config["upstream"] == ("server", topology.port("server", "http"))
    assert config["upstream_udp"] == ("server", topology.port("server", "udp"))
    assert ("server", topology.port("server", "http")) in config["allow"]
    # CONNECT may reach the testbed's HTTP listeners (the field has no flag: its default is the copy)
    listeners = {topology.port("server", "http"), topology.port("proxy", "http")}
    assert listeners <= job.ProxyConfig().connect_ports


def test_the_client_reaches_the_proxy_where_the_topology_puts_it() -> None:
    common = _table(client_options, "COMMON")
    assert common["proxy"] == ("proxy", topology.port("proxy", "http"))
    assert common["target"] == ("proxy", topology.port("proxy", "udp"))
    # a HOST without a port gets the topology's port of what that flag names
    assert client_options.parse_proxy("proxy") == ("proxy", topology.port("proxy", "http"))
    assert client_options.parse_udp_target("proxy") == ("proxy", topology.port("proxy", "udp"))
    assert client_options.parse_optional_udp_target("server") == ("server", topology.port("server", "udp"))


@pytest.mark.parametrize("module", TABLES, ids=lambda module: module.__name__)
def test_every_default_that_names_a_service_names_its_port(module: ModuleType) -> None:
    """Any default (URLs included) that writes `SERVICE:PORT` uses a port the topology gives SERVICE; a
    URL's port is that service's HTTP port."""
    wrong = []
    for table, option in options_of(module):
        for match in _NAMED.finditer(option.default):
            host, number = match["host"], int(match["port"])
            ports = {proto: port for (svc, proto), port in topology.PORTS.items() if svc == host}
            good = number == ports.get("http") if match["scheme"] else number in ports.values()
            if not good:
                wrong.append(f"{module.__name__}.{table} {option.flag}={option.default!r}")
    assert wrong == []


def test_the_menu_shows_the_published_ports_of_the_topology() -> None:
    proxy_http, server_http = topology.port("proxy", "http"), topology.port("server", "http")
    assert f"127.0.0.1:{proxy_http}" in menu.BROWSER_INFO
    assert {int(port) for port, _path, _what in menu._MORE} == {proxy_http, server_http}
