"""What each of a container's link ends gets from a profile: its own settings and its per-destination leaves.

Shared by the start-up step, the agent and the controller, so all three build the same tree for the same
end. A client replica of a `clients:` mix takes its class's `edge.up`; the proxy's `edge.down` becomes a
tree with one leaf per registered replica (its class's `edge.down`); `to:` destinations become leaves on
the ends that send to them, a service name resolved to its addresses on that link.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from netem.core.clients import ClientClass, class_of
from netem.core.engine import Target
from netem.core.errors import DiscoveryError
from netem.core.fields import Impairment, custom_table
from netem.core.links import link_addresses
from netem.core.profile import Profile
from netem.core.tree import DEFAULT_LEAF_MAJOR, DEFAULT_MINOR, Leaf
from netem.traces.load import Loaded

ROOT_HANDLE, TC_H_ROOT = 0x10000, 0xFFFFFFFF
Resolve = Callable[[str], list[str]]  # a service name → its addresses (on any link)


@dataclass(frozen=True)
class Replica:
    """A client replica the proxy shapes towards: its edge address, replica number, and its IPv6 address
    beside `address` on a dual-stack edge (its leaves cover both families)."""

    address: str
    index: int
    address6: str = ""

    @property
    def addresses(self) -> tuple[str, ...]:
        return (self.address, self.address6) if self.address6 else (self.address,)


@dataclass(frozen=True)
class EndPlan:
    target: Target
    own: Impairment
    leaves: tuple[Leaf, ...] = ()
    tree: bool = False  # an HTB tree even without leaves yet (replicas join later)

    def netlink_handles(self, to: str | None = None) -> tuple[int, int]:
        """(handle, parent) of the netem qdisc holding the settings for destination `to` (None: own)."""
        if not self.tree:
            return ROOT_HANDLE, TC_H_ROOT
        if to is None:
            return DEFAULT_LEAF_MAJOR << 16, 0x10000 | DEFAULT_MINOR
        minor = next(leaf.minor for leaf in self.leaves if leaf.to == to)
        return minor << 16, 0x10000 | minor


def replica_class(profile: Profile, index: int) -> ClientClass | None:
    return class_of(profile.clients, index) if profile.clients else None


def replica_leaves(profile: Profile, replicas: Iterable[Replica]) -> list[Leaf]:
    """The proxy's edge.down leaves: each replica's addresses with its class's edge.down (no class: none)."""
    leaves = []
    for replica in replicas:
        cls = replica_class(profile, replica.index)
        if cls is not None:
            leaves += [Leaf(address, cls.ends[("edge", "down")]) for address in replica.addresses]
    return leaves


def leaf_due(done: Mapping[str, int], replica: Replica) -> bool:
    """Whether `replica` needs its leaf: none yet at its address, or one made for the replica that held
    the address before (compose hands a freed address to the next replica, maybe of another class)."""
    return any(done.get(address) != replica.index for address in replica.addresses)


def _on_link(addresses: Sequence[str], subnets: Sequence[str]) -> list[str]:
    if not subnets:
        return list(addresses)
    return link_addresses(addresses, [ipaddress.ip_network(subnet, strict=False) for subnet in subnets])


def destination_leaves(profile: Profile, target: Target, subnets: Sequence[str],
                       resolve: Resolve) -> list[Leaf]:
    """`to:` leaves of one end: addresses as given, service names resolved on the end's link (`subnets`,
    one per family: a name on a dual-stack link is a leaf per address, so both families are shaped)."""
    leaves = []
    for dest, imp in profile.destinations.get((target.link, target.direction), {}).items():
        try:
            ipaddress.ip_network(dest, strict=False)
            leaves.append(Leaf(dest, imp))
            continue
        except ValueError:
            pass
        found = _on_link(resolve(dest), subnets)
        if not found:
            raise DiscoveryError(f"{profile.source}: {target.link}.{target.direction}.to.{dest}: no running "
                                 f"container of service {dest!r} on {target.link}")
        leaves += [Leaf(address, imp) for address in found]
    return leaves


def plan_end(profile: Profile, target: Target, *, subnets: Sequence[str] = (),
             resolve: Resolve = lambda name: [], own_class: ClientClass | None = None,
             replicas: Iterable[Replica] = ()) -> EndPlan:
    """One end's plan (the caller knows its container's class and the replicas it sends to)."""
    end = (target.link, target.direction)
    own = own_class.ends[end] if own_class is not None and end in own_class.ends else profile.ends[end]
    leaves = destination_leaves(profile, target, subnets, resolve)
    mixed = profile.clients is not None and end == ("edge", "down")  # the proxy's egress to the replicas
    if mixed:
        leaves += replica_leaves(profile, replicas)
    return EndPlan(target, own, tuple(leaves), tree=bool(leaves) or mixed)


def engine_args(end_plans: Sequence[EndPlan], loaded: Loaded,
                elapsed_s: float) -> tuple[dict[str, Impairment], dict[str, list[Leaf]]]:
    """`own` and `leaves` for `engine.apply_ends`: every setting as its trace has it `elapsed_s` in."""
    own = {p.target.label: loaded.state_at(p.own, elapsed_s) for p in end_plans}
    leaves = {p.target.label: [replace(leaf, imp=loaded.state_at(leaf.imp, elapsed_s)) for leaf in p.leaves]
              for p in end_plans if p.tree}
    return own, leaves


def needs_agent(plans: Sequence[EndPlan], profile: Profile) -> bool:
    """Traces to replay, a table to send through netlink, or replicas to add: a process has to stay."""
    settings = [p.own for p in plans] + [leaf.imp for p in plans for leaf in p.leaves]
    mixed = any(p.tree and profile.clients is not None for p in plans)
    return mixed or any(imp.trace is not None or custom_table(imp) for imp in settings)
