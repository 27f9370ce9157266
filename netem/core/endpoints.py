"""Which interface is which link, and which direction leaves through it (pure functions).

Links: `edge` joins client and proxy, `core` joins proxy and server (`netem.topology`). `up` is client →
server, so the client's egress on edge and the proxy's egress on core carry `up`; the other two ends `down`.
Interfaces are found by address (`ip -j addr` output), never by guessing eth0/eth1.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping

from netem import topology
from netem.core.errors import DiscoveryError

SERVICES = topology.SERVICES
DEFAULT_SUBNETS = topology.SUBNETS_TEXT
# (service, link) → the direction that leaves the service through that link
EGRESS = topology.EGRESS


def service_links(service: str) -> list[str]:
    if service not in SERVICES:
        raise DiscoveryError(f"unknown service {service!r}; expected one of {', '.join(SERVICES)}")
    return [link for (svc, link) in EGRESS if svc == service]


def parse_subnets(text: str) -> dict[str, ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """`edge=10.203.1.0/24,core=10.203.2.0/24` → {link: network}."""
    subnets: dict[str, ipaddress.IPv4Network | ipaddress.IPv6Network] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        link, sep, cidr = item.partition("=")
        try:
            if not sep:
                raise ValueError("missing =")
            subnets[link.strip()] = ipaddress.ip_network(cidr.strip(), strict=False)
        except ValueError as exc:
            raise DiscoveryError(f"NETEM_SUBNETS item {item!r}: expected LINK=CIDR ({exc})") from exc
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


def interface_for(addrs: Mapping[str, list[str]], network: ipaddress.IPv4Network | ipaddress.IPv6Network,
                  where: str) -> str:
    """The interface holding an address in `network`; exactly one must match."""
    matches = sorted(name for name, ips in addrs.items()
                     if any(ipaddress.ip_address(ip) in network for ip in ips))
    if len(matches) != 1:
        seen = ", ".join(f"{n}={'/'.join(ips) or '-'}" for n, ips in sorted(addrs.items()))
        what = "no interface" if not matches else f"several interfaces ({', '.join(matches)})"
        raise DiscoveryError(f"{where}: {what} with an address in {network}; interfaces: {seen}")
    return matches[0]
