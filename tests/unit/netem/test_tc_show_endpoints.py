import json

import pytest

from netem import topology
from netem.core import links
from netem.core.errors import DiscoveryError
from netem.core.tc_show import TcShowError, parse_qdiscs, root_qdisc

TBF = ('[{"kind":"tbf","handle":"1:","root":true,"refcnt":3,"options":{"rate":1250000,"burst":15163,'
       '"lat":67869,"overhead":24},"bytes":1514,"packets":1,"drops":2,"overlimits":3,"requeues":0,'
       '"backlog":0,"qlen":0}]')
NETEM = ('[{"kind":"netem","handle":"1:","root":true,"options":{"limit":1000,"delay":{"delay":0.04,'
         '"jitter":0.005,"correlation":0},"loss-random":{"loss":0.01,"correlation":0}},"bytes":0,"packets":0}]')


def test_tbf_with_counters() -> None:
    state = root_qdisc(TBF)
    assert state is not None and state.kind == "tbf" and not state.is_default()
    summary = state.summary()
    assert summary["rate_bps"] == 10_000_000
    assert (summary["sent_bytes"], summary["dropped"], summary["overlimits"]) == (1514, 2, 3)


def test_netem_options_flattened() -> None:
    state = root_qdisc(NETEM)
    assert state is not None
    assert state.summary()["opt_delay_delay"] == 0.04
    assert state.summary()["opt_loss-random_loss"] == 0.01


def test_default_and_errors() -> None:
    state = root_qdisc('[{"kind":"noqueue","handle":"0:","root":true,"refcnt":2,"options":{}}]')
    assert state is not None and state.is_default()
    assert root_qdisc("[]") is None
    with pytest.raises(TcShowError):
        parse_qdiscs("Error: Cannot find device")
    with pytest.raises(TcShowError):
        parse_qdiscs('[{"handle":"1:"}]')


IP_JSON = json.dumps([
    {"ifname": "lo", "addr_info": [{"local": "127.0.0.1"}]},
    {"ifname": "eth0", "addr_info": [{"local": topology.ADDRESSES[("proxy", "core")]}, {"local": "fe80::1"}]},
    {"ifname": "eth1", "addr_info": [{"local": topology.ADDRESSES[("proxy", "edge")]}]},
])


def test_interface_found_by_address_not_name() -> None:
    subnets = links.parse_subnets(topology.SUBNETS_TEXT)
    addrs = links.addresses(IP_JSON)
    assert links.interface_for(addrs, subnets["edge"], "proxy") == "eth1"
    assert links.interface_for(addrs, subnets["core"], "proxy") == "eth0"
    with pytest.raises(DiscoveryError, match=r"no interface with an address in 10\.9\.0\.0/16"):
        links.interface_for(addrs, links.parse_subnets("x=10.9.0.0/16")["x"], "proxy")


def test_directions_per_service() -> None:
    assert links.service_links("proxy") == ["edge", "core"]
    assert topology.EGRESS[("client", "edge")] == "up"
    assert topology.EGRESS[("server", "core")] == "down"
    with pytest.raises(DiscoveryError):
        links.service_links("db")
