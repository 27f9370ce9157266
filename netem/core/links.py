"""Which interface is which link, and which direction leaves through it: the one module that decides.

- qoslab's topology (`netem.topology`): `edge` joins client and proxy, `core` proxy and server. `up` is
  client → server, so the client's egress on edge and the proxy's egress on core carry `up`, the other
  two ends `down` (`topology.EGRESS`; `ends_on` lists them).
- Any compose network (`role`, `profile_link`): a qoslab service keeps its role on its own links, another
  service on a qoslab link stands in for that link's outer end (client side on edge, server side on
  core), and on any other network the chosen service is the far (server) end; the profile's settings
  used there are the network's own when it is `edge` or `core`, else those of `--link` (edge by default).
- The interface: the one holding an address in the link's subnets, IPv4 or IPv6 (`ip -j addr` through
  the end's `Runner`: container, namespace or host), never a guess like eth0/eth1 (`interface_for`,
  `find_targets`). A dual-stack link names both subnets; both must lead to the same interface.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence

from netem import topology
from netem.core.engine import Runner, Target
from netem.core.errors import DiscoveryError
from netem.core.profile import LINKS

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
ADDR_ARGV = ["ip", "-j", "addr", "show"]
LINK_CHOICES = (*LINKS, "all")  # --link
# On qoslab's own links, another service stands in for the end that is not the proxy: a client on edge
# (egress up), a server on core (egress down).
OUTER_END = {"edge": topology.EGRESS[("client", "edge")], "core": topology.EGRESS[("server", "core")]}


def ends_on(link: str) -> list[tuple[str, str, str]]:
    """(service, link, direction) of each egress end of qoslab's topology on `link` (`all`: both)."""
    return [(svc, lnk, way) for (svc, lnk), way in topology.EGRESS.items() if link in ("all", lnk)]


def service_links(service: str) -> list[str]:
    if service not in topology.SERVICES:
        raise DiscoveryError(f"unknown service {service!r}; expected one of {', '.join(topology.SERVICES)}")
    return [link for (svc, link) in topology.EGRESS if svc == service]


def role(service: str, network: str, default: str) -> str:
    """The direction `service`'s egress on `network` carries; `default` off qoslab's links."""
    if network in LINKS:
        return topology.EGRESS.get((service, network), OUTER_END[network])
    return default


def profile_link(network: str, link: str) -> str:
    """The profile link whose settings apply on `network`."""
    if network in LINKS:
        return network
    return link if link in LINKS else "edge"


def parse_subnets(text: str) -> dict[str, tuple[Network, ...]]:
    """NETEM_SUBNETS → {link: its networks}: `edge=10.203.1.0/24,edge=fd00:203:1::/64,core=…` (a link
    once per family; an old single-family value works as before)."""
    subnets: dict[str, tuple[Network, ...]] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        link, sep, cidr = item.partition("=")
        try:
            if not sep:
                raise ValueError("missing =")
            network = ipaddress.ip_network(cidr.strip(), strict=False)
        except ValueError as exc:
            raise DiscoveryError(f"NETEM_SUBNETS item {item!r}: expected LINK=CIDR ({exc})") from exc
        subnets[link.strip()] = (*subnets.get(link.strip(), ()), network)
    return subnets


def addresses(ip_json: str) -> dict[str, list[str]]:
    """`ip -j addr` → {ifname: [addresses]}."""
    try:
        data = json.loads(ip_json or "[]")
    except json.JSONDecodeError as exc:
        raise DiscoveryError(f"cannot parse `ip -j addr` output: {exc}") from exc
    found: dict[str, list[str]] = {}
    for entry in data if isinstance(data, list) else []:
        if isinstance(entry, dict) and "ifname" in entry:
            infos = entry.get("addr_info") or []
            found[str(entry["ifname"])] = [str(i["local"]) for i in infos
                                           if isinstance(i, dict) and "local" in i]
    return found


def read_addresses(runner: Runner, where: str) -> dict[str, list[str]]:
    """The interfaces and addresses where `runner` runs (one `ip -j addr show`)."""
    result = runner.run(ADDR_ARGV)
    if result.returncode != 0:
        raise DiscoveryError(f"{where}: ip -j addr show failed: {result.stderr.strip()}")
    return addresses(result.stdout)


def _networks(networks: Network | Sequence[Network]) -> tuple[Network, ...]:
    if isinstance(networks, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return (networks,)
    return tuple(networks)


def link_addresses(ips: Sequence[str], networks: Network | Sequence[Network]) -> list[str]:
    """The addresses among `ips` that lie in the link's networks (either family), in order."""
    nets = _networks(networks)
    return [ip for ip in ips if any(ipaddress.ip_address(ip.partition("%")[0]) in net for net in nets)]


def interface_for(addrs: Mapping[str, list[str]], networks: Network | Sequence[Network], where: str) -> str:
    """The interface holding an address in the link's networks (IPv4 or IPv6); exactly one must match,
    so a dual-stack link whose two addresses sit on different interfaces is an error, not a guess."""
    nets = _networks(networks)
    matches = sorted(name for name, ips in addrs.items() if link_addresses(ips, nets))
    if len(matches) != 1:
        seen = ", ".join(f"{n}={'/'.join(ips) or '-'}" for n, ips in sorted(addrs.items()))
        what = "no interface" if not matches else f"several interfaces ({', '.join(matches)})"
        subnets = " or ".join(str(net) for net in nets)
        raise DiscoveryError(f"{where}: {what} with an address in {subnets}; interfaces: {seen}")
    return matches[0]


def find_targets(service: str, subnets_text: str, runner: Runner) -> list[Target]:
    """A qoslab service's link ends where it runs (container start, the VM's namespaces, a swarm task),
    each with the interface that holds an address on that link."""
    subnets = parse_subnets(subnets_text)
    addrs = read_addresses(runner, service)
    targets = []
    for link in service_links(service):
        if link not in subnets:
            raise DiscoveryError(f"NETEM_SUBNETS has no {link}= entry (got {subnets_text!r})")
        dev = interface_for(addrs, subnets[link], f"{service} on {link}")
        targets.append(Target(service, link, topology.EGRESS[(service, link)], dev, runner,
                              tuple(link_addresses(addrs[dev], subnets[link]))))
    return targets
