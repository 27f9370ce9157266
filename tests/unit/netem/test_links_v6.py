"""netem finds a link end by its IPv4 or its IPv6 address: dual-stack links, IPv6-only networks, and the
addresses `show` lists for each end."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from netem import topology
from netem.backends import docker_backend
from netem.commands import controller
from netem.core import links
from netem.core.errors import DiscoveryError
from netem.core.targets import Selection
from tests.unit.netem.conftest import FakeTc
from tests.unit.netem.test_docker_backend import Client, FakeContainer

EDGE4, EDGE6 = topology.ADDRESSES[("proxy", "edge")], topology.ADDRESSES6[("proxy", "edge")]
CORE4, CORE6 = topology.ADDRESSES[("proxy", "core")], topology.ADDRESSES6[("proxy", "core")]


def test_netem_subnets_name_each_link_once_per_family() -> None:
    parsed = links.parse_subnets(topology.SUBNETS_TEXT)
    assert {link: [str(net) for net in nets] for link, nets in parsed.items()} == {
        link.name: [link.subnet, link.subnet6] for link in topology.LINKS}
    old = links.parse_subnets(f"edge={topology.SUBNETS['edge']}")  # a v4-only value still works
    assert [str(net) for net in old["edge"]] == [topology.SUBNETS["edge"]]


def test_an_end_is_found_by_either_family() -> None:
    subnets = links.parse_subnets(topology.SUBNETS_TEXT)
    dual = {"lo": ["127.0.0.1", "::1"], "eth0": [CORE4, CORE6, "fe80::1"], "eth1": [EDGE4, EDGE6, "fe80::2"]}
    only6 = {"lo": ["::1"], "eth0": [CORE6, "fe80::1"], "eth1": [EDGE6, "fe80::2"]}  # an IPv6-only network
    only4 = {"eth0": [CORE4], "eth1": [EDGE4]}
    for addrs in (dual, only6, only4):
        assert links.interface_for(addrs, subnets["edge"], "proxy") == "eth1"
        assert links.interface_for(addrs, subnets["core"], "proxy") == "eth0"
    assert links.link_addresses(dual["eth1"], subnets["edge"]) == [EDGE4, EDGE6]  # not fe80::


def test_a_link_whose_two_families_sit_on_two_interfaces_is_an_error_not_a_guess() -> None:
    split = {"eth0": [EDGE4], "eth1": [EDGE6]}
    with pytest.raises(DiscoveryError, match="several interfaces") as caught:
        links.interface_for(split, links.parse_subnets(topology.SUBNETS_TEXT)["edge"], "proxy")
    assert topology.SUBNETS["edge"] in str(caught.value) and topology.SUBNETS6["edge"] in str(caught.value)


def test_find_targets_gives_each_end_its_addresses_in_both_families() -> None:
    netns = FakeTc(addrs={"lo": ["127.0.0.1"], "eth0": [EDGE4, EDGE6, "fe80::1"], "eth1": [CORE6, CORE4]})
    found = links.find_targets("proxy", topology.SUBNETS_TEXT, netns)
    assert [(t.link, t.dev, t.addresses) for t in found] == [("edge", "eth0", (EDGE4, EDGE6)),
                                                            ("core", "eth1", (CORE6, CORE4))]


@pytest.mark.parametrize(("info", "expected"), [
    ({"IPAddress": EDGE4, "IPPrefixLen": 24, "GlobalIPv6Address": EDGE6, "GlobalIPv6PrefixLen": 64},
     (EDGE4, 24, EDGE6, 64)),
    ({"IPAddress": "", "GlobalIPv6Address": EDGE6, "GlobalIPv6PrefixLen": 64}, (EDGE6, 64, "", 64)),
    ({"IPAddress": EDGE4, "IPPrefixLen": 24, "GlobalIPv6Address": ""}, (EDGE4, 24, "", 64)),
])
def test_docker_attachments_carry_both_families(info: dict[str, Any],
                                                expected: tuple[str, int, str, int]) -> None:
    att = docker_backend._attachment("p-proxy-1", "proxy", "edge", info)
    assert att is not None and (att.address, att.prefix_len, att.address6, att.prefix_len6) == expected
    none = {"IPAddress": "", "GlobalIPv6Address": ""}  # e.g. network_mode: none
    assert docker_backend._attachment("p-x-1", "x", "edge", none) is None


class V6OnlyContainer(FakeContainer):
    """A container on IPv6-only networks: Docker reports no IPAddress, only GlobalIPv6Address."""

    @property
    def attrs(self) -> dict[str, Any]:
        nets = {f"proj_{n}": {"IPAddress": "", "GlobalIPv6Address": ip, "GlobalIPv6PrefixLen": plen}
                for n, (ip, plen) in self.networks.items()}
        return {"HostConfig": {"CapAdd": ["NET_ADMIN"]}, "NetworkSettings": {"Networks": nets}}


def test_a_service_on_an_ipv6_only_network_is_found_and_shown_with_its_address() -> None:
    api6, peer6 = "fd00:99::2", "fd00:99::3"
    api = V6OnlyContainer("proj-api-1", "api", {"default": (api6, 64)},
                          FakeTc(addrs={"lo": ["::1"], "eth0": [api6, "fe80::2"]}), id="a1")
    peer = V6OnlyContainer("proj-tests-1", "tests", {"default": (peer6, 64)},
                           FakeTc(addrs={"lo": ["::1"], "eth0": [peer6, "fe80::3"]}), id="t1")
    found, _ = docker_backend.discover("proj", selection=Selection(services=("api",)),
                                       client=Client([api, peer]))
    assert [(t.label, t.addresses) for t in found] == [("proj-api-1:eth0 (edge.down)", (api6,)),
                                                       ("proj-tests-1:eth0 (edge.up)", (peer6,))]


class DualStackContainer(FakeContainer):
    """A container on a dual-stack network: Docker reports both addresses."""

    @property
    def attrs(self) -> dict[str, Any]:
        nets = {f"proj_{n}": {"IPAddress": ip, "IPPrefixLen": plen, "GlobalIPv6Address": f"fd00:99::{ip[-1]}",
                              "GlobalIPv6PrefixLen": 64} for n, (ip, plen) in self.networks.items()}
        return {"HostConfig": {"CapAdd": ["NET_ADMIN"]}, "NetworkSettings": {"Networks": nets}}


def test_show_lists_each_end_with_both_addresses(capsys: pytest.CaptureFixture[str]) -> None:
    api = DualStackContainer("proj-api-1", "api", {"default": ("172.20.0.2", 16)},
                             FakeTc(addrs={"eth0": ["172.20.0.2", "fd00:99::2", "fe80::2"]}), id="a1")
    peer = DualStackContainer("proj-tests-1", "tests", {"default": ("172.20.0.3", 16)},
                              FakeTc(addrs={"eth0": ["172.20.0.3", "fd00:99::3"]}), id="t1")
    args = argparse.Namespace(profile="rate-10mbit", link="all", no_calibrate=False, steps=False,
                              service_names=["api"], networks=["default"], peers=None, service=None)
    with docker_backend.Helpers(Client([api, peer])) as helpers:
        assert controller.cmd_show("proj", args, helpers) == 0
    shown = [line for line in capsys.readouterr().out.splitlines() if "event=netem.show" in line]
    assert len(shown) == 2, shown
    assert "addresses=172.20.0.2,fd00:99::2" in shown[0] and "addresses=172.20.0.3,fd00:99::3" in shown[1]
