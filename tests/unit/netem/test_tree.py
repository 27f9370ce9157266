"""Per-destination trees: exact argv, stable minors, the engine's all-or-nothing apply and its read back."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from netem import topology
from netem.core import tree
from netem.core.engine import CommandResult, Target, add_leaves, apply_ends
from netem.core.errors import ApplyError
from netem.core.fields import Impairment
from netem.core.tree import Leaf

REPLICA = str(ipaddress.ip_network(topology.IPAM_RANGES["edge"])[5])  # a replica's address
MINOR = 0x1000 + (int(ipaddress.ip_address(REPLICA)) & 0xFFF)
V6 = "2001:db8::5"
SLOW = Impairment(rate_bps=2_000_000)
LATE = Impairment(delay_us=40_000)


def test_tree_argv() -> None:
    argvs = tree.tree_argvs("eth0", Impairment(), [Leaf(REPLICA, SLOW), Leaf(V6, LATE)])
    minor = MINOR
    assert argvs[:2] == [
        ["tc", "qdisc", "replace", "dev", "eth0", "root", "handle", "1:", "htb", "default", "1"],
        ["tc", "class", "replace", "dev", "eth0", "parent", "1:", "classid", "1:1", "htb", "rate", "100gbit",
         "quantum", "200000"]]
    assert argvs[2][:10] == ["tc", "class", "replace", "dev", "eth0", "parent", "1:", "classid",
                             f"1:{minor:x}", "htb"]
    assert argvs[3][:11] == ["tc", "qdisc", "replace", "dev", "eth0", "parent", f"1:{minor:x}", "handle",
                             f"{minor:x}:", "tbf", "rate"]
    assert argvs[4] == ["tc", "filter", "del", "dev", "eth0", "parent", "1:", "pref", str(minor)]
    assert argvs[5] == ["tc", "filter", "add", "dev", "eth0", "parent", "1:", "protocol", "ip", "pref",
                        str(minor), "u32", "match", "ip", "dst", f"{REPLICA}/32", "flowid", f"1:{minor:x}"]
    assert argvs[-1][7:16] == ["protocol", "ipv6", "pref", str(0x2005), "u32", "match", "ip6", "dst",
                               f"{V6}/128"]
    assert argvs[-3][7:10] == ["handle", "2005:", "netem"]


def test_the_default_class_carries_the_ends_own_settings() -> None:
    argvs = tree.root_argvs("eth0", Impairment(delay_us=5_000))
    assert argvs[2][:10] == ["tc", "qdisc", "replace", "dev", "eth0", "parent", "1:1", "handle", "2:",
                             "netem"]
    assert len(tree.root_argvs("eth0", Impairment())) == 2


def test_minors_are_stable_and_collisions_are_refused() -> None:
    assert Leaf(REPLICA, SLOW).minor == Leaf(REPLICA, LATE).minor == MINOR
    assert tree.check_minors([Leaf(REPLICA, SLOW), Leaf(REPLICA, SLOW)]) is None
    clash = tree.check_minors([Leaf("10.0.0.5", SLOW), Leaf("10.0.16.5", SLOW)])
    assert clash is not None and "same class 1:1005" in clash


def test_a_dual_stack_destinations_two_addresses_take_two_classes() -> None:
    """A destination on a dual-stack link is a leaf per family, and its two addresses may end in the same
    12 bits (10.0.0.5 and 2001:db8::5): the families take separate minor ranges instead of clashing."""
    leaves = [Leaf("10.0.0.5", SLOW), Leaf(V6, SLOW)]
    assert tree.check_minors(leaves) is None
    assert [leaf.minor for leaf in leaves] == [0x1005, 0x2005]
    v6 = str(ipaddress.ip_network(topology.IPAM_RANGES6["edge"])[5])  # the stack's: never the IPv4 range
    assert tree.check_minors([Leaf(REPLICA, SLOW), Leaf(v6, SLOW)]) is None


@dataclass
class KernelModel:
    """Qdiscs per handle on one device, as `tc -s -j qdisc show` lists them; `fail` makes an argv fail."""

    qdiscs: dict[str, dict[str, object]] = field(default_factory=dict)
    fail: str = ""
    calls: list[list[str]] = field(default_factory=list)

    def run(self, argv: Sequence[str]) -> CommandResult:
        argv = list(argv)
        self.calls.append(argv)
        if argv[:3] == ["tc", "-s", "-j"]:
            return CommandResult(0, json.dumps(list(self.qdiscs.values()) or [
                {"kind": "noqueue", "handle": "0:", "root": True}]), "")
        if self.fail and self.fail in " ".join(argv):
            return CommandResult(2, "", "Error: Specified qdisc kind is unknown.")
        if argv[1:3] == ["qdisc", "del"]:
            self.qdiscs.clear()
        elif argv[1] == "qdisc":
            root = argv[5] == "root"
            name, kind = (argv[7], argv[8]) if root else (argv[8], argv[9])
            self.qdiscs[name] = {"kind": kind, "handle": name, "root": root,
                                 **({} if root else {"parent": argv[6]})}
        elif argv[1:3] == ["filter", "del"]:
            return CommandResult(2, "", "Error: Cannot find specified filter chain.")
        return CommandResult(0, "", "")


def target(model: KernelModel) -> Target:
    return Target("proxy", "edge", "down", "eth0", model)


def test_engine_builds_the_tree_and_reads_it_back() -> None:
    model = KernelModel()
    end = target(model)
    apply_ends([end], {("edge", "down"): Impairment(delay_us=1_000)},
               leaves={end.label: [Leaf(REPLICA, SLOW)]})
    kinds = {name: q["kind"] for name, q in model.qdiscs.items()}
    assert kinds == {"1:": "htb", "2:": "netem", f"{MINOR:x}:": "tbf"}
    add_leaves(end, [Leaf(V6, LATE)])
    assert model.qdiscs["2005:"]["kind"] == "netem"


def test_a_failing_leaf_rolls_the_whole_end_back() -> None:
    model = KernelModel(fail="netem")
    end = target(model)
    with pytest.raises(ApplyError, match="no sch_netem"):
        apply_ends([end], {("edge", "down"): Impairment()}, leaves={end.label: [Leaf(V6, LATE)]})
    assert model.qdiscs == {}
    assert model.calls[-1][:5] == ["tc", "qdisc", "del", "dev", "eth0"]
