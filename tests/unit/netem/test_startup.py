import ipaddress
import re
from typing import Any

import pytest

from netem import topology
from netem.commands import startup, state
from netem.core.engine import apply_ends
from netem.core.errors import ApplyError, DiscoveryError
from netem.core.links import find_targets
from netem.core.profile import load_profile
from netem.core.steps import replay_steps

ENV = {"QOSLAB_SERVICE": "proxy", "NETEM_SUBNETS": topology.SUBNETS_TEXT}


@pytest.mark.parametrize("name", ["", "none", "  "])
def test_no_profile_does_nothing(fake_tc: Any, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert startup.main([], {**ENV, "NETEM_PROFILE": name}, fake_tc) == 0
    assert fake_tc.calls == []
    assert "action=skip" in capsys.readouterr().out


def test_rate_profile_applied_to_this_services_ends(fake_tc: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert startup.main([], {**ENV, "NETEM_PROFILE": "rate-10mbit"}, fake_tc) == 0
    assert fake_tc.roots["eth0"][0] == "tbf"  # proxy egress on edge = down
    assert "eth1" not in fake_tc.roots  # core unimpaired in this profile
    out = capsys.readouterr().out
    assert "event=netem.readback" in out and "result=applied" in out


def test_netem_profile_fails_loudly(fake_tc: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert startup.main([], {**ENV, "NETEM_PROFILE": "4g"}, fake_tc) == 1
    captured = capsys.readouterr()
    assert "cannot apply NETEM_PROFILE" in captured.err and "no sch_netem" in captured.err
    assert fake_tc.roots == {}


@pytest.mark.parametrize(("env", "words"), [
    ({"NETEM_PROFILE": "nope"}, "a known profile"),
    ({"NETEM_PROFILE": "rate-10mbit", "QOSLAB_SERVICE": "db"}, "unknown service"),
    ({"NETEM_PROFILE": "rate-10mbit", "NETEM_SUBNETS": f"edge=10.9.9.0/24,core={topology.SUBNETS['core']}"},
     "no interface with an address in 10.9.9.0/24"),
    ({"NETEM_PROFILE": "rate-10mbit", "NETEM_SUBNETS": "edge"}, "expected LINK=CIDR"),
])
def test_bad_configuration_exits_2(fake_tc: Any, env: dict[str, str], words: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert startup.main([], {**ENV, **env}, fake_tc) == 2
    assert words in capsys.readouterr().err


def test_steps_replayed_with_change(fake_tc: Any) -> None:
    profile = load_profile("rate-steps")
    targets = find_targets("client", ENV["NETEM_SUBNETS"], fake_tc)
    assert [(t.dev, t.direction) for t in targets] == [("eth0", "up")]
    apply_ends(targets, profile.ends)
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    rates: list[object] = []

    def log(name: str, **fields: object) -> None:
        if name == "netem.step":
            rates.append(fake_tc.roots["eth0"][1]["rate"])

    assert replay_steps(targets, profile, log=log,
                        monotonic=lambda: now[0], sleep=sleep) == 2
    assert sleeps == [10.0, 10.0]
    assert [c[2] for c in fake_tc.calls if c[:2] == ["tc", "qdisc"]] == ["replace", "change", "change"]
    assert rates == [625_000, 2_500_000]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_replica_waits_only_for_the_proxy_agent_of_the_profile_in_force(tmp_path: Any) -> None:
    """A stale status of an earlier profile's proxy agent (its epoch) is no reason to wait; the agent of
    this profile is: until the replica's ready mark, its failure, or the timeout."""
    first, second = (str(ipaddress.ip_network(topology.IPAM_RANGES["edge"])[k]) for k in (2, 3))
    reg = state.Registration("c1", first, 1, "near")
    clock = FakeClock()
    state.write_status(tmp_path, "proxyhost", {"service": "proxy", "epoch_ns": 1, "phase": "stopped"})
    startup._await_leaf(tmp_path, reg, 2, clock.sleep, clock)  # an earlier profile's agent: not awaited
    assert clock.now == 0.0
    state.write_status(tmp_path, "proxyhost", {"service": "proxy", "epoch_ns": 2, "phase": "replaying"})
    with pytest.raises(ApplyError, match=rf"did not add a leaf for {re.escape(first)} within 60s"):
        startup._await_leaf(tmp_path, reg, 2, clock.sleep, clock)
    assert clock.now == pytest.approx(startup.READY_TIMEOUT_S, abs=0.2)
    state.mark_ready(tmp_path, "c1")
    startup._await_leaf(tmp_path, reg, 2, clock.sleep, clock)
    state.write_status(tmp_path, "proxyhost", {"service": "proxy", "epoch_ns": 2, "phase": "failed",
                                               "error": "replicas: boom"})
    other = state.Registration("c2", second, 2, "far")
    with pytest.raises(ApplyError, match=rf"before adding a leaf for {re.escape(second)}: replicas: boom"):
        startup._await_leaf(tmp_path, other, 2, clock.sleep, clock)


def test_a_replica_registers_its_edge_addresses_of_both_families(fake_tc: Any) -> None:
    """The proxy's leaves for a replica of a mix cover the addresses it registers: on the dual-stack
    edge both (IPv4 first), on a single family's edge the one; none on edge is an error."""
    v4 = str(ipaddress.ip_network(topology.IPAM_RANGES["edge"])[7])
    v6 = str(ipaddress.ip_network(topology.IPAM_RANGES6["edge"])[7])
    fake_tc.addrs = {"lo": ["127.0.0.1", "::1"], "eth0": ["fe80::1", v6, v4]}
    assert startup._edge_addresses(fake_tc, topology.SUBNETS_TEXT) == (v4, v6)
    assert startup._edge_addresses(fake_tc, f"edge={topology.SUBNETS['edge']}") == (v4, "")
    assert startup._edge_addresses(fake_tc, f"edge={topology.SUBNETS6['edge']}") == (v6, "")
    fake_tc.addrs = {"eth0": ["192.0.2.7"]}
    with pytest.raises(DiscoveryError, match="client: no address in"):
        startup._edge_addresses(fake_tc, topology.SUBNETS_TEXT)
