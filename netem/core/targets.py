"""Which container ends a profile shapes (pure): the selection; what each end is, is `links`.

Input: every running container of a compose project with the networks it is attached to (compose
network name, address, prefix). Output: one `End` per (container, network) to shape.

- No `--service`: qoslab's own topology, the ends of `links.ends_on(--link)`.
- `--service S` (repeatable) and optionally `--network N` (repeatable): the links of S are the networks
  S is attached to (or only the N given). Each link has two ends and both egresses are shaped, so both
  directions are impaired: S itself and its peers, the other running containers on N (or only the
  services named by `--peer`). The direction of each end is `links.role` (so `--service proxy --network
  edge` shapes exactly what `--link edge` does), the profile's settings used on N `links.profile_link`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from netem.core.errors import DiscoveryError
from netem.core.links import ends_on, profile_link, role
from netem.core.profile import LINKS

CONTROLLER_SERVICE = "netem"  # the controller's own container (docker compose run netem …) is never a target


@dataclass(frozen=True)
class Attachment:
    """A running container on one network."""

    container: str
    service: str
    network: str  # compose network name (`edge`, `default`, …)
    address: str
    prefix_len: int
    address6: str = ""  # on a dual-stack network, the IPv6 address beside `address`
    prefix_len6: int = 64

    @property
    def subnet(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(f"{self.address}/{self.prefix_len}", strict=False)

    @property
    def subnets(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """The network's subnets this container has an address in (one per family)."""
        if not self.address6:
            return (self.subnet,)
        return (self.subnet, ipaddress.ip_network(f"{self.address6}/{self.prefix_len6}", strict=False))


@dataclass(frozen=True)
class End:
    """Shape `attachment`'s egress with the profile's (link, direction) settings."""

    attachment: Attachment
    link: str
    direction: str


@dataclass(frozen=True)
class Selection:
    services: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    peers: tuple[str, ...] = ()
    link: str = "all"  # edge | core | all


def _topology(attachments: Sequence[Attachment], link: str) -> tuple[list[End], list[str]]:
    ends: list[End] = []
    skipped: list[str] = []
    for service, network, direction in ends_on(link):
        found = [a for a in attachments if a.service == service and a.network == network]
        if not found:
            skipped.append(f"{service} {network}.{direction}: no running {service} container on {network}")
        ends += [End(a, network, direction) for a in found]
    return ends, skipped


def _service_links(attachments: Sequence[Attachment], sel: Selection) -> tuple[list[End], list[str]]:
    chosen = set(sel.services)
    ends: list[End] = []
    skipped: list[str] = []
    for service in sel.services:
        mine = [a for a in attachments if a.service == service]
        if not mine:
            raise DiscoveryError(f"no running container of service {service!r}")
        on = [a for a in mine if not sel.networks or a.network in sel.networks]
        if not on:
            nets = sorted({a.network for a in mine})
            raise DiscoveryError(f"service {service!r} is not on network(s) {', '.join(sel.networks)} "
                                 f"(it is on {', '.join(nets)})")
        for own in on:
            if own.network in LINKS and sel.link not in ("all", own.network):
                continue
            link = profile_link(own.network, sel.link)
            ends.append(End(own, link, role(service, own.network, "down")))
            peers = [a for a in attachments if a.network == own.network and a.service not in chosen
                     and (not sel.peers or a.service in sel.peers)]
            if not peers:
                skipped.append(f"{service} on {own.network}: no peer container; only {service}'s egress "
                               "is shaped")
            ends += [End(p, link, role(p.service, own.network, "up")) for p in peers]
    return ends, skipped


def select(attachments: Sequence[Attachment], sel: Selection) -> tuple[list[End], list[str]]:
    """The ends to shape (each (container, network) once) and notes on what was skipped."""
    usable = [a for a in attachments if a.service != CONTROLLER_SERVICE]
    ends, skipped = _service_links(usable, sel) if sel.services else _topology(usable, sel.link)
    unique: dict[tuple[str, str], End] = {}
    for end in ends:
        unique.setdefault((end.attachment.container, end.attachment.network), end)
    if not unique:
        what = f"services {', '.join(sel.services)}" if sel.services else f"link {sel.link}"
        raise DiscoveryError(f"nothing to shape for {what} ({'; '.join(skipped) or 'no running containers'})")
    return list(unique.values()), skipped
