"""The stack's netem state and what a starting container follows: the profile in force over NETEM_PROFILE,
the epoch claimed once, registrations, replica numbers from DNS names, per-end plans."""

from __future__ import annotations

import io
import ipaddress
import json
import tarfile
from pathlib import Path

import pytest

from netem import topology
from netem.commands import plans, situation, state
from netem.core import dnsptr
from netem.core.engine import Target
from netem.core.errors import DiscoveryError
from netem.core.fields import Impairment
from netem.core.profile import load_profile

REPLICA = str(ipaddress.ip_network(topology.IPAM_RANGES["edge"])[3])
REPLICA6 = str(ipaddress.ip_network(topology.IPAM_RANGES6["edge"])[3])  # the same replica's IPv6 address


def extract(data: bytes, into: Path) -> None:
    """What `put_archive` does with the bundle: its regular files, written under `into` (by hand, not
    `extractall(filter=...)`, which Debian 12's Python 3.11.2 lacks)."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            source = tar.extractfile(member)
            assert member.isfile() and source and ".." not in Path(member.name).parts, member.name
            target = into / member.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read())


def test_in_force_bundle_round_trips_through_a_tar(tmp_path: Path) -> None:
    extract(state.in_force_tar("lte", {"lte.yaml": b"description: x\n", "lte.up.csv": b"t,delay\n"},
                               "lte.yaml", 123, 456), tmp_path)
    found = state.read_in_force(tmp_path)
    assert found == state.InForce("lte", tmp_path / "in-force-456" / "lte.yaml", 123)
    assert (tmp_path / "in-force-456" / "lte.up.csv").read_bytes() == b"t,delay\n"
    extract(state.in_force_tar(state.NONE, {}, "", None, 789), tmp_path)
    assert state.read_in_force(tmp_path) == state.InForce(state.NONE, None, None)
    assert state.read_in_force(tmp_path / "elsewhere") is None


def test_the_first_container_claims_the_epoch(tmp_path: Path) -> None:
    assert state.claim_epoch(tmp_path, 1000) == 1000
    assert state.claim_epoch(tmp_path, 2000) == 1000


def test_registrations_and_ready_marks(tmp_path: Path) -> None:
    reg = state.Registration("abc123", REPLICA, 3, "lte")
    state.register_client(tmp_path, reg)
    (tmp_path / "clients" / "broken.json").write_text("{")
    assert state.registrations(tmp_path) == [reg]
    assert not state.is_ready(tmp_path, "abc123")
    state.mark_ready(tmp_path, "abc123")
    assert state.is_ready(tmp_path, "abc123")


def test_a_freed_address_belongs_to_its_latest_replica(tmp_path: Path) -> None:
    """compose hands the address of a replica that left to the next one (maybe of another class): the
    latest registration is the address's, the earlier holder's files go, and the proxy's agent remakes
    the leaf for the new replica number (here replica 9 left, replica 11 took its address)."""
    gone = state.Registration("gone", REPLICA, 9, "near", 100)
    state.register_client(tmp_path, gone)
    state.mark_ready(tmp_path, "gone")
    (tmp_path / "clients" / "zz-stale.json").write_text(json.dumps({**gone.__dict__, "host": "zz-stale",
                                                                    "registered_ns": 50}))
    new = state.Registration("new", REPLICA, 11, "far", 200)
    state.register_client(tmp_path, new)
    assert state.registrations(tmp_path) == [new]
    assert not (tmp_path / "clients" / "gone.json").exists() and not state.is_ready(tmp_path, "gone")
    done = {REPLICA: 9}
    assert plans.leaf_due(done, plans.Replica(REPLICA, 11))
    assert not plans.leaf_due({REPLICA: 11}, plans.Replica(REPLICA, 11))
    assert plans.leaf_due({}, plans.Replica(REPLICA, 11))
    # a registration written by a controller elsewhere (no removal): still the latest wins
    (tmp_path / "clients" / "aa-later.json").write_text(json.dumps({**new.__dict__, "host": "aa-later",
                                                                    "index": 4, "registered_ns": 300}))
    assert [r.host for r in state.registrations(tmp_path)] == ["aa-later"]


def test_what_the_controller_applied_wins_over_netem_profile(tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text("description: applied later\nedge: {rate: 5mbit}\n")
    env = {"NETEM_PROFILE": "rate-10mbit"}
    assert situation.situation(env, tmp_path, 10).name == "rate-10mbit"
    extract(state.in_force_tar("p", {"p.yaml": profile.read_bytes()}, "p.yaml", None, 20), tmp_path)
    sit = situation.situation(env, tmp_path, 30)
    assert (sit.name, sit.source) == ("p", "controller")
    assert sit.loaded is not None and sit.loaded.profile.ends[("edge", "up")].rate_bps == 5_000_000
    extract(state.in_force_tar(state.NONE, {}, "", None, 40), tmp_path)
    assert situation.situation(env, tmp_path, 50).loaded is None  # cleared: the environment does not return


def test_a_traced_profile_started_from_the_environment_claims_one_epoch(tmp_path: Path) -> None:
    (tmp_path / "t.down").write_text("0\n10\n")
    (tmp_path / "t.yaml").write_text("description: t\nedge: {down: {trace: t.down}}\n")
    env = {"NETEM_PROFILE": str(tmp_path / "t.yaml")}
    state_root = tmp_path / "state"
    first = situation.situation(env, state_root, 1_000)
    later = situation.situation(env, state_root, 7_000)
    assert first.epoch_ns == later.epoch_ns == 1_000 + situation.EPOCH_LEAD_NS
    assert situation.situation({**env, situation.EPOCH_ENV: "77"}, state_root, 5).epoch_ns == 77


def answer(query_id: int, name: str) -> bytes:
    """A DNS response as Docker's embedded DNS sends it: the question, then a PTR pointing back at it."""
    question = dnsptr.ptr_query(query_id, REPLICA)[12:]
    rdata = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    record = b"\xc0\x0c" + (12).to_bytes(2, "big") + (1).to_bytes(2, "big") + (600).to_bytes(4, "big")
    record += len(rdata).to_bytes(2, "big") + rdata
    return query_id.to_bytes(2, "big") + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + question + record


@pytest.mark.parametrize(("name", "number"), [
    ("proj-client-7.proj_edge", 7), ("stack_client.3.a1b2c3.stack_edge", 3),
    ("proj-client-run-123456.proj_edge", None), ("other", None)])
def test_replica_numbers_from_dns_names(name: str, number: int | None) -> None:
    assert dnsptr.ptr_answer(answer(0x4242, name), 0x4242) == name
    assert dnsptr.replica_number(name) == number


def test_a_dns_answer_to_another_query_is_ignored() -> None:
    assert dnsptr.ptr_answer(answer(1, "proj-client-7.x"), 2) is None
    assert dnsptr.ptr_answer(b"\x00", 1) is None


MIX = """description: mix
core: {delay: 5ms}
clients:
  classes:
    - {name: near, share: 50%, edge: {delay: 10ms}}
    - {name: far, share: 50%, edge: {delay: 90ms, down: {loss: 1%}}}
"""


@pytest.mark.parametrize("proxy", ["proxy", "qoslabtest1-proxy-1"])  # in the container; the controller's name
def test_end_plans_give_the_proxy_a_leaf_per_replica_and_a_client_its_class(tmp_path: Path,
                                                                            proxy: str) -> None:
    (tmp_path / "mix.yaml").write_text(MIX)
    profile = load_profile(str(tmp_path / "mix.yaml"))
    runner = object()
    proxy_edge = Target(proxy, "edge", "down", "eth0", runner)  # type: ignore[arg-type]
    replicas = [plans.Replica(REPLICA, 1), plans.Replica(str(ipaddress.ip_address(REPLICA) + 1), 2)]
    plan = plans.plan_end(profile, proxy_edge, replicas=replicas)
    assert plan.tree and [leaf.imp.delay_us for leaf in plan.leaves] == [10_000, 90_000]
    assert plan.leaves[1].imp.loss_pct == 1.0
    assert plan.netlink_handles(REPLICA) == (plan.leaves[0].minor << 16, 0x10000 | plan.leaves[0].minor)
    client = Target("client", "edge", "up", "eth0", runner)  # type: ignore[arg-type]
    mine = plans.plan_end(profile, client, own_class=plans.replica_class(profile, 2))
    assert mine.own == Impairment(delay_us=90_000) and not mine.tree
    assert mine.netlink_handles() == (plans.ROOT_HANDLE, plans.TC_H_ROOT)


def test_to_names_resolve_on_the_ends_link_and_unknown_names_are_errors(tmp_path: Path) -> None:
    (tmp_path / "to.yaml").write_text("description: to\ncore: {up: {to: {server: {delay: 30ms}}}}\n")
    profile = load_profile(str(tmp_path / "to.yaml"))
    end = Target("proxy", "core", "up", "eth1", object())  # type: ignore[arg-type]
    server = topology.ADDRESSES[("server", "core")]
    plan = plans.plan_end(profile, end, subnets=[topology.SUBNETS["core"]],
                          resolve=lambda name: [server, "192.0.2.1"])
    assert [leaf.to for leaf in plan.leaves] == [server]
    with pytest.raises(DiscoveryError, match=r"core\.up\.to\.server: no running container of service"):
        plans.plan_end(profile, end, subnets=[topology.SUBNETS["core"]], resolve=lambda name: [])


def test_on_a_dual_stack_link_a_to_name_and_a_replica_are_shaped_in_both_families(tmp_path: Path) -> None:
    """The stack's links carry IPv4 and IPv6: a `to:` service name is a leaf per address the name has on
    the link, and a replica of a mix a leaf per address it registered, so IPv6 traffic is never left in
    the default class (a leaf for the IPv4 address alone would let the IPv6 rows through unshaped)."""
    (tmp_path / "to.yaml").write_text("description: to\ncore: {up: {to: {server: {delay: 30ms}}}}\n")
    end = Target("proxy", "core", "up", "eth1", object())  # type: ignore[arg-type]
    server, server6 = topology.ADDRESSES[("server", "core")], topology.ADDRESSES6[("server", "core")]
    plan = plans.plan_end(load_profile(str(tmp_path / "to.yaml")), end,
                          subnets=[topology.SUBNETS["core"], topology.SUBNETS6["core"]],
                          resolve=lambda name: [server, "192.0.2.1", server6, "2001:db8::1"])
    assert [(leaf.to, leaf.imp.delay_us) for leaf in plan.leaves] == [(server, 30_000), (server6, 30_000)]

    (tmp_path / "mix.yaml").write_text(MIX)
    profile = load_profile(str(tmp_path / "mix.yaml"))
    proxy_edge = Target("proxy", "edge", "down", "eth0", object())  # type: ignore[arg-type]
    mixed = plans.plan_end(profile, proxy_edge, replicas=[plans.Replica(REPLICA, 2, REPLICA6)])
    assert [(leaf.to, leaf.imp.delay_us) for leaf in mixed.leaves] == [(REPLICA, 90_000), (REPLICA6, 90_000)]
    assert len({leaf.minor for leaf in mixed.leaves}) == 2
    assert mixed.netlink_handles(REPLICA6) == (mixed.leaves[1].minor << 16, 0x10000 | mixed.leaves[1].minor)
    # the agent's bookkeeping: a leaf is due until both addresses have one for this replica number
    assert plans.leaf_due({REPLICA: 2}, plans.Replica(REPLICA, 2, REPLICA6))
    assert not plans.leaf_due({REPLICA: 2, REPLICA6: 2}, plans.Replica(REPLICA, 2, REPLICA6))


def test_a_registration_carries_the_replicas_ipv6_address(tmp_path: Path) -> None:
    reg = state.Registration("abc123", REPLICA, 3, "lte", 10, REPLICA6)
    state.register_client(tmp_path, reg)
    assert state.registrations(tmp_path) == [reg]
    older = {k: v for k, v in reg.__dict__.items() if k != "address6"}  # written before dual-stack
    (tmp_path / "clients" / "abc123.json").write_text(json.dumps(older))
    assert state.registrations(tmp_path) == [state.Registration("abc123", REPLICA, 3, "lte", 10)]


def test_status_files(tmp_path: Path) -> None:
    state.write_status(tmp_path, "h1", {"late_p99_us": 12.5})
    assert state.statuses(tmp_path) == [{"late_p99_us": 12.5}]
    assert json.loads((tmp_path / "status" / "h1.json").read_text()) == {"late_p99_us": 12.5}
