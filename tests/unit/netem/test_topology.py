"""`netem.topology` is the one copy of the topology: compose.yaml must declare exactly the same."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from netem import topology
from netem.core import links
from netem.vm import spec as vm_spec
from netem.vm.guest import netns

REPO = Path(__file__).resolve().parents[3]


def _compose(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / name).read_text(encoding="utf-8"))
    return data


def _config(network: dict[str, Any], version: int) -> dict[str, Any]:
    """The network's IPAM entry of one family; a dual-stack network has exactly one of each."""
    configs = network["ipam"]["config"]
    assert len(configs) == 2, configs
    [found] = [c for c in configs if ipaddress.ip_network(c["subnet"]).version == version]
    return dict(found)


def test_compose_networks_are_the_topology_links_in_both_families() -> None:
    networks = _compose("compose.yaml")["networks"]
    families = ((4, topology.SUBNETS, topology.IPAM_RANGES, topology.GATEWAYS),
                (6, topology.SUBNETS6, topology.IPAM_RANGES6, topology.GATEWAYS6))
    for version, subnets, ranges, gateways in families:
        assert {name: _config(net, version)["subnet"] for name, net in networks.items()} == subnets
        assert {name: _config(net, version)["ip_range"] for name, net in networks.items()} == ranges
        assert {name: _config(net, version)["gateway"] for name, net in networks.items()} == gateways
    assert all(net["enable_ipv6"] is True for net in networks.values())


def _networks(spec: dict[str, Any]) -> dict[str, Any]:
    """A service's networks as {name: settings} (compose allows a list of names too)."""
    networks = spec["networks"]
    return {name: None for name in networks} if isinstance(networks, list) else networks


def _linked(compose: dict[str, Any]) -> dict[str, Any]:
    """The services on the links; the netem controller (`docker compose run netem`) joins none."""
    services: dict[str, Any] = compose["services"]
    assert {name for name, spec in services.items() if spec.get("network_mode") == "none"} == {"netem"}
    return {name: spec for name, spec in services.items() if spec.get("network_mode") != "none"}


def test_compose_addresses_are_the_topology_addresses() -> None:
    services = _linked(_compose("compose.yaml"))
    for key, addresses in (("ipv4_address", topology.ADDRESSES), ("ipv6_address", topology.ADDRESSES6)):
        declared = {(svc, link): str(cfg[key])
                    for svc, spec in services.items() for link, cfg in _networks(spec).items() if cfg}
        fixed = {k: addr for k, addr in addresses.items() if k[0] not in topology.DYNAMIC_SERVICES}
        assert declared == fixed
    assert set(services) == set(topology.SERVICES)
    for service in topology.DYNAMIC_SERVICES:  # replicas: on their links, addresses from IPAM
        links = {link for (svc, link) in topology.ADDRESSES if svc == service}
        assert set(_networks(services[service])) == links
        assert not any(_networks(services[service]).values())


def test_fixed_addresses_lie_outside_the_ipam_ranges() -> None:
    """A replica can never be handed an address a fixed service needs."""
    for addresses, ranges, gateways in ((topology.ADDRESSES, topology.IPAM_RANGES, topology.GATEWAYS),
                                        (topology.ADDRESSES6, topology.IPAM_RANGES6, topology.GATEWAYS6)):
        for (service, link), addr in addresses.items():
            if service not in topology.DYNAMIC_SERVICES:
                assert ipaddress.ip_address(addr) not in ipaddress.ip_network(ranges[link])
        for link, gateway in gateways.items():
            assert ipaddress.ip_address(gateway) not in ipaddress.ip_network(ranges[link])
    assert ipaddress.ip_network(topology.IPAM_RANGES6["edge"]).num_addresses == \
        ipaddress.ip_network(topology.IPAM_RANGES["edge"]).num_addresses  # as many replicas in each family


def test_compose_environment_matches_subnets_and_ports() -> None:
    compose = _compose("compose.yaml")
    for name, spec in _linked(compose).items():
        env = spec["environment"]
        assert env["NETEM_SUBNETS"] == topology.SUBNETS_TEXT, name
        for (svc, proto), port in topology.PORTS.items():
            if svc == name:
                assert env[f"{svc.upper()}_{proto.upper()}_PORT"] == str(port)
    client = compose["services"]["client"]["environment"]
    assert client["CLIENT_PROXY"] == f"proxy:{topology.PORTS[('proxy', 'http')]}"
    assert client["CLIENT_UDP_TARGET"] == f"proxy:{topology.PORTS[('proxy', 'udp')]}"


def test_direct_mode_puts_the_client_on_both_links_with_ipam_addresses() -> None:
    networks = _networks(_compose("compose.direct.yaml")["services"]["client"])
    assert set(networks) == {"edge", "core"} and not any(networks.values())


def test_every_address_is_inside_its_subnet() -> None:
    for (_, link), addr in topology.ADDRESSES.items():
        assert ipaddress.ip_address(addr) in ipaddress.ip_network(topology.SUBNETS[link])
        assert ipaddress.ip_network(topology.SUBNETS[link]).prefixlen == topology.PREFIX_LEN
    for (_, link), addr in topology.ADDRESSES6.items():
        assert ipaddress.ip_address(addr) in ipaddress.ip_network(topology.SUBNETS6[link])
        assert ipaddress.ip_network(topology.SUBNETS6[link]).prefixlen == topology.PREFIX_LEN6
        assert ipaddress.ip_network(topology.SUBNETS6[link]).is_private  # unique-local (RFC 4193)


def test_v6_addresses_mirror_the_v4_ones() -> None:
    """`10.203.2.10` and `fd00:203:2::10` are the same end: the last group repeats the last octet."""
    for key, addr in topology.ADDRESSES.items():
        assert topology.ADDRESSES6[key].rsplit(":", 1)[1] == addr.rsplit(".", 1)[1]


@pytest.mark.parametrize(("key", "direction"), [
    (("client", "edge"), "up"), (("proxy", "edge"), "down"), (("proxy", "core"), "up"),
    (("server", "core"), "down")])
def test_egress_direction_up_is_client_to_server(key: tuple[str, str], direction: str) -> None:
    assert topology.EGRESS[key] == direction


def _parsed(text: str) -> dict[str, tuple[str, ...]]:
    return {link: tuple(str(net) for net in nets) for link, nets in links.parse_subnets(text).items()}


def test_users_take_the_topology_from_the_module() -> None:
    assert ",".join(f"{link.name}={subnet}" for link in topology.LINKS
                    for subnet in (link.subnet, link.subnet6)) == topology.SUBNETS_TEXT
    assert _parsed(topology.SUBNETS_TEXT) == {link.name: (link.subnet, link.subnet6)
                                               for link in topology.LINKS}
    assert [(w.link, w.a, w.b) for w in netns.TOPOLOGY] == [(link.name, link.near, link.far)
                                                           for link in topology.LINKS]
    # as compose's DNS answers a peer: the proxy and the client on edge, the server on core
    assert {"client": topology.ADDRESSES[("client", "edge")],
                                 "proxy": topology.ADDRESSES[("proxy", "edge")],
                                 "server": topology.ADDRESSES[("server", "core")]} == vm_spec.ADDRESSES
    relay = f"{topology.ADDRESSES[('proxy', 'edge')]}:{topology.PORTS[('proxy', 'udp')]}"
    assert topology.endpoint("proxy", "udp") == relay
    relay6 = f"[{topology.ADDRESSES6[('proxy', 'edge')]}]:{topology.PORTS[('proxy', 'udp')]}"
    assert topology.endpoint("proxy", "udp", 6) == relay6
    assert topology.address("server", 6) == topology.ADDRESSES6[("server", "core")]


def test_gateways_are_pinned_and_allowed_to_read_the_proxys_stats() -> None:
    """Published ports reach the proxy from the network's gateway: compose pins it (an ip_range would
    otherwise move it to .128) and the proxy's stats allow-list names it, or the host gets 403."""
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    gateways = {name: net["ipam"]["config"][0]["gateway"] for name, net in compose["networks"].items()}
    assert gateways == topology.GATEWAYS
    allow = compose["services"]["proxy"]["environment"]["PROXY_STATS_ALLOW"]
    assert all(gw in allow for gw in (*topology.GATEWAYS.values(), *topology.GATEWAYS6.values())), allow


def test_published_ports_are_on_both_loopbacks() -> None:
    """A browser on the host reaches the proxy and the server at 127.0.0.1 and at [::1], same port."""
    services = _compose("compose.yaml")["services"]
    for name in ("proxy", "server"):
        port = topology.PORTS[(name, "http")]
        found = [re.fullmatch(r"(127\.0\.0\.1|\[::1\]):\$\{\w+:-(\d+)\}:(\d+)", str(item))
                 for item in services[name]["ports"]]
        assert [m.groups() if m else None for m in found] == [("127.0.0.1", str(port), str(port)),
                                                               ("[::1]", str(port), str(port))]
