"""The testbed's topology, the one copy: services, links, subnets, addresses, ports, egress direction.

    client (10.203.1.10) ──edge 10.203.1.0/24── (10.203.1.2) proxy (10.203.2.2) ──core 10.203.2.0/24──
    (10.203.2.10) server

Every link is dual-stack: beside its IPv4 subnet a unique-local IPv6 /64 (RFC 4193) whose last groups
mirror the IPv4 ones (edge fd00:203:1::/64, proxy ::2, client ::10 in the VM; core fd00:203:2::/64,
proxy ::2, server ::10), so `10.203.2.10` and `fd00:203:2::10` are the same end.

compose.yaml declares the same (tests/unit/netem/test_topology.py reads it and fails when they differ);
netem (interface discovery, directions), the VM's namespaces and the tests take it from here. `up` is
client → server: on each link the end nearer the client sends `up`, the other end sends `down`.
Pure data, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.inet import format_host_port

SERVICES = ("client", "proxy", "server")


@dataclass(frozen=True)
class Link:
    """One network: `near` is the end nearer the client (its egress is `up`), `far` the other end."""

    name: str
    subnet: str
    near: tuple[str, str]  # (service, address)
    far: tuple[str, str]
    subnet6: str  # the same link's IPv6 subnet, and the same ends' IPv6 addresses
    near6: str
    far6: str


LINKS = (
    Link("edge", "10.203.1.0/24", ("client", "10.203.1.10"), ("proxy", "10.203.1.2"),
         "fd00:203:1::/64", "fd00:203:1::10", "fd00:203:1::2"),
    Link("core", "10.203.2.0/24", ("proxy", "10.203.2.2"), ("server", "10.203.2.10"),
         "fd00:203:2::/64", "fd00:203:2::2", "fd00:203:2::10"),
)
PREFIX_LEN = 24
PREFIX_LEN6 = 64
# Under compose the client has no fixed address: its replicas (`--scale client=N`) take theirs from each
# network's IPAM range, which holds none of the fixed addresses above (the client's .10 is the VM's).
DYNAMIC_SERVICES = ("client",)
IPAM_RANGES = {"edge": "10.203.1.128/25", "core": "10.203.2.128/25"}
IPAM_RANGES6 = {"edge": "fd00:203:1::80/121", "core": "fd00:203:2::80/121"}  # ::80-::ff, as .128/25
GATEWAYS = {"edge": "10.203.1.1", "core": "10.203.2.1"}  # the host's side: published ports arrive from it
GATEWAYS6 = {"edge": "fd00:203:1::1", "core": "fd00:203:2::1"}
# (service, protocol) → port, as compose.yaml's environment sets them
PORTS = {("server", "http"): 8000, ("server", "udp"): 9000, ("proxy", "http"): 8080, ("proxy", "udp"): 9090}

# (service, link) → the direction that leaves the service through that link
EGRESS: dict[tuple[str, str], str] = {
    key: direction
    for link in LINKS
    for key, direction in (((link.near[0], link.name), "up"), ((link.far[0], link.name), "down"))
}
SUBNETS = {link.name: link.subnet for link in LINKS}
SUBNETS6 = {link.name: link.subnet6 for link in LINKS}
# NETEM_SUBNETS's format: `LINK=CIDR,…`, a link once per family (netem finds an end by either address)
SUBNETS_TEXT = ",".join(f"{link.name}={subnet}" for link in LINKS for subnet in (link.subnet, link.subnet6))
# (service, link) → the service's address on that link
ADDRESSES: dict[tuple[str, str], str] = {
    (service, link.name): addr for link in LINKS for service, addr in (link.near, link.far)
}
ADDRESSES6: dict[tuple[str, str], str] = {
    (service, link.name): addr for link in LINKS for service, addr in ((link.near[0], link.near6),
                                                                        (link.far[0], link.far6))
}


def address(service: str, version: int = 4) -> str:
    """The address other services reach `service` at (IPv4, or IPv6 with `version=6`): the proxy on edge
    (where the client is), the server on core, the client on edge (as compose's DNS name resolves from
    its peers)."""
    link = "core" if service == "server" else "edge"
    return (ADDRESSES6 if version == 6 else ADDRESSES)[(service, link)]


def port(service: str, protocol: str) -> int:
    """A service's listening port, e.g. port("proxy", "http") → 8080."""
    return PORTS[(service, protocol)]


def endpoint(service: str, protocol: str, version: int = 4) -> str:
    """`HOST:PORT` of a service's listener, e.g. endpoint("proxy", "udp") → "10.203.1.2:9090",
    endpoint("proxy", "udp", 6) → "[fd00:203:1::2]:9090"."""
    return format_host_port(address(service, version), port(service, protocol))


def named_endpoint(service: str, protocol: str) -> str:
    """`NAME:PORT` as compose's DNS resolves it, e.g. named_endpoint("proxy", "http") → "proxy:8080"."""
    return f"{service}:{port(service, protocol)}"
