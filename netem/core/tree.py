"""Per-destination settings on one egress: an HTB root, one class and leaf qdisc per destination (pure).

    root 1: htb default 1                      everything not matched below: class 1:1, the end's own leaf
      class 1:M htb  ← u32 filter (pref M)    M from the destination address (0x1000 + its low 12 bits;
                                               0x2000 + them for an IPv6 one)
        leaf M: netem|tbf                      the destination's settings

HTB is only the sorting frame: every class may use 100 Gbit/s, the leaves shape. u32 matches both address
families (`protocol ip … match ip dst`, `protocol ipv6 … match ip6 dst`) and exists on every kernel that
has tc (flower and matchall need modules some kernels lack). A leaf's minor is a function of its address,
so the controller, the start-up step and the agent that adds replicas later all compute the same one, and
adding a destination twice replaces it (its filter preference is deleted first). On the dual-stack links a
destination is two leaves, one per family; the families take separate ranges so a container's two
addresses (10.203.1.129 and fd00:203:1::81) never meet in one class.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from netem.core import tc
from netem.core.fields import Impairment
from netem.core.tc_show import QdiscState

DEFAULT_MINOR = 1
DEFAULT_LEAF_MAJOR = 2
LEAF_BASE = 0x1000
LEAF_BASE6 = 0x2000  # IPv6 destinations
CLASS_RATE = "100gbit"
QUANTUM = "200000"


@dataclass(frozen=True)
class Leaf:
    """One destination (address or CIDR) and the settings of the packets sent to it."""

    to: str
    imp: Impairment

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.to, strict=False)

    @property
    def minor(self) -> int:
        base = LEAF_BASE if self.network.version == 4 else LEAF_BASE6
        return base + (int(self.network.network_address) & 0xFFF)


def handle(major: int, minor: int = 0) -> str:
    return f"{major:x}:{minor:x}" if minor else f"{major:x}:"


def check_minors(leaves: Sequence[Leaf]) -> str | None:
    """None, or why two destinations cannot share one egress (their minors collide)."""
    seen: dict[int, str] = {}
    for leaf in leaves:
        if leaf.minor in seen and seen[leaf.minor] != leaf.to:
            clash = handle(1, leaf.minor)
            return f"destinations {seen[leaf.minor]} and {leaf.to} map to the same class {clash}"
        seen[leaf.minor] = leaf.to
    return None


def check_queues(own: Impairment, leaves: Sequence[Leaf]) -> str | None:
    """None, or why a tree cannot take a `queue:` (its leaves are one qdisc each; a queue is a tree of
    its own under netem: netem.core.queue)."""
    named = [leaf.to for leaf in leaves if leaf.imp.queue is not None] + (["others"] if own.queue else [])
    if named:
        return (f"queue: is not supported on an end with per-destination rules or a client mix (set for "
                f"{', '.join(named)})")
    return None


def _leaf_qdisc(dev: str, parent_minor: int, major: int, imp: Impairment) -> list[list[str]]:
    kind = imp.kind
    if kind is None:
        return []
    args = tc.netem_args(imp) if kind == "netem" else tc.tbf_args(imp)
    return [["tc", "qdisc", "replace", "dev", dev, "parent", handle(1, parent_minor), "handle", handle(major),
             kind, *args]]


def _class(dev: str, minor: int) -> list[str]:
    return ["tc", "class", "replace", "dev", dev, "parent", "1:", "classid", handle(1, minor), "htb",
            "rate", CLASS_RATE, "quantum", QUANTUM]


def filter_argvs(dev: str, leaf: Leaf) -> list[list[str]]:
    """Delete the destination's filter preference (benign when absent), then add its u32 match."""
    net = leaf.network
    protocol, match = ("ip", "ip") if net.version == 4 else ("ipv6", "ip6")
    pref = str(leaf.minor)
    return [["tc", "filter", "del", "dev", dev, "parent", "1:", "pref", pref],
            ["tc", "filter", "add", "dev", dev, "parent", "1:", "protocol", protocol, "pref", pref, "u32",
             "match", match, "dst", str(net), "flowid", handle(1, leaf.minor)]]


def leaf_argvs(dev: str, leaf: Leaf) -> list[list[str]]:
    """One destination's class, leaf and filter (under an existing root)."""
    return [_class(dev, leaf.minor), *_leaf_qdisc(dev, leaf.minor, leaf.minor, leaf.imp),
            *filter_argvs(dev, leaf)]


def root_argvs(dev: str, own: Impairment) -> list[list[str]]:
    """The HTB root and the default class with the end's own settings."""
    return [["tc", "qdisc", "replace", "dev", dev, "root", "handle", "1:", "htb", "default",
             f"{DEFAULT_MINOR:x}"], _class(dev, DEFAULT_MINOR),
            *_leaf_qdisc(dev, DEFAULT_MINOR, DEFAULT_LEAF_MAJOR, own)]


def tree_argvs(dev: str, own: Impairment, leaves: Sequence[Leaf]) -> list[list[str]]:
    argvs = root_argvs(dev, own)
    for leaf in leaves:
        argvs += leaf_argvs(dev, leaf)
    return argvs


def is_benign(argv: Sequence[str]) -> bool:
    """A filter delete may fail (the preference does not exist yet: a first apply): the add decides."""
    return list(argv[:3]) == ["tc", "filter", "del"]


def verify(qdiscs: Sequence[QdiscState], own: Impairment, leaves: Sequence[Leaf]) -> str | None:
    """None when the kernel reports the tree asked for, else what differs."""
    by_handle = {q.handle: q for q in qdiscs}
    root = next((q for q in qdiscs if q.root), None)
    if root is None or root.kind != "htb":
        return f"expected an htb root, found {root.kind if root else 'none'}"
    wanted: Mapping[str, str | None] = {handle(DEFAULT_LEAF_MAJOR): own.kind,
                                        **{handle(leaf.minor): leaf.imp.kind for leaf in leaves}}
    for name, kind in wanted.items():
        seen = by_handle[name].kind if name in by_handle else None
        if kind is not None and seen != kind:
            return f"expected {kind} at {name}, found {seen or 'nothing'}"
    return None
