"""The compose topology (`netem.topology`: its links, subnets and addresses) as network namespaces, one
per service joined by a veth pair per link; netem applied with `netem.core.engine`.

`setup_argv`/`teardown_argv` are pure; `targets` finds each end's interface by address with the same
`netem.core.links.find_targets` the containers use, and runs tc through `ip netns exec` (`LocalRunner`).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from netem import topology
from netem.backends.local import LocalRunner
from netem.core.engine import Target
from netem.core.links import find_targets
from netem.vm.errors import VmError

SUBNETS = topology.SUBNETS_TEXT
PREFIX_LEN = topology.PREFIX_LEN
PREFIX_LEN6 = topology.PREFIX_LEN6


@dataclass(frozen=True)
class Wire:
    """One veth pair: `link` joins (namespace, address) a and b; a6, b6 are the same ends' IPv6
    addresses (dual-stack, as compose's networks)."""

    link: str
    a: tuple[str, str]
    b: tuple[str, str]
    a6: str = ""
    b6: str = ""


TOPOLOGY = tuple(Wire(link.name, link.near, link.far, link.near6, link.far6) for link in topology.LINKS)
NAMESPACES = topology.SERVICES


def _end_argv(link: str, ns: str, addr: str, tmp_name: str, addr6: str = "") -> list[list[str]]:
    """Move one veth end into its namespace with its addresses. The IPv6 one skips duplicate address
    detection (`nodad`, as Docker does): a tentative address could not be bound for a second or two."""
    dev = f"eth-{link}"
    v6 = [["ip", "-n", ns, "addr", "add", f"{addr6}/{PREFIX_LEN6}", "dev", dev, "nodad"]] if addr6 else []
    return [["ip", "link", "set", tmp_name, "netns", ns, "name", dev],
            ["ip", "-n", ns, "addr", "add", f"{addr}/{PREFIX_LEN}", "dev", dev], *v6,
            ["ip", "-n", ns, "link", "set", dev, "up"]]


def setup_argv(topology: Sequence[Wire] = TOPOLOGY) -> list[list[str]]:
    """Namespaces with lo up, then each veth pair created in the root namespace and moved in."""
    argv = [["ip", "netns", "add", ns] for ns in NAMESPACES]
    argv += [["ip", "-n", ns, "link", "set", "lo", "up"] for ns in NAMESPACES]
    for wire in topology:
        tmp_a, tmp_b = f"{wire.link}-a", f"{wire.link}-b"
        argv.append(["ip", "link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b])
        argv += _end_argv(wire.link, *wire.a, tmp_a, wire.a6) + _end_argv(wire.link, *wire.b, tmp_b, wire.b6)
    return argv


def teardown_argv() -> list[list[str]]:
    """Deleting a namespace deletes its veth ends (and so the pairs)."""
    return [["ip", "netns", "del", ns] for ns in NAMESPACES]


def run_all(argvs: Sequence[Sequence[str]], *, check: bool = True, timeout_s: float = 20.0) -> None:
    for argv in argvs:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout_s, check=False)
        if check and done.returncode != 0:
            raise VmError(f"{' '.join(argv)} failed (exit {done.returncode})", argv=argv, stderr=done.stderr)


def setup() -> None:
    run_all(teardown_argv(), check=False)
    run_all(setup_argv())


def teardown() -> None:
    run_all(teardown_argv(), check=False)


def targets(services: Sequence[str] = ("client", "proxy", "server")) -> list[Target]:
    """Every link end of the topology, in the order client, proxy, server."""
    return [t for svc in services for t in find_targets(svc, SUBNETS, LocalRunner(netns=svc))]
