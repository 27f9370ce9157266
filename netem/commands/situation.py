"""Which profile a container follows when it starts, from when its traces count, and which replica it is.

The profile: what the controller applied last to this stack (the state directory's `in-force.json`, even
`none`), else `NETEM_PROFILE`. So a client started after `python -m netem apply P` (`compose run`,
`--scale`, a restarted task) shapes its ends with P and names P in its rows, not the stack's start-up
setting. The epoch (t = 0 of every trace): `NETEM_TRACE_EPOCH` (set by the controller and by a swarm
apply), else the applied profile's, else the first container of the stack to start claims one.
"""

from __future__ import annotations

import os
import socket
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from netem.commands import plans, state
from netem.core import dnsptr
from netem.core.clients import ClientClass
from netem.core.engine import Target
from netem.core.links import parse_subnets
from netem.traces.load import Loaded, load

EPOCH_ENV = "NETEM_TRACE_EPOCH"
INDEX_ENV = "CLIENT_REPLICA_INDEX"
EPOCH_LEAD_NS = 2_000_000_000  # a stack's containers start within seconds of each other
DNS_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class Situation:
    loaded: Loaded | None  # None: leave the links alone
    name: str  # what the rows call it
    epoch_ns: int
    source: str  # controller | environment


def _has_traces(loaded: Loaded) -> bool:
    return bool(loaded.schedules)


def situation(env: Mapping[str, str], root: Path, now_ns: int | None = None) -> Situation:
    now = time.time_ns() if now_ns is None else now_ns
    given = env.get(EPOCH_ENV, "").strip()
    in_force = state.read_in_force(root)
    if in_force is not None:
        if in_force.path is None:
            return Situation(None, state.NONE, 0, "controller")
        loaded = load(str(in_force.path))
        epoch = int(given) if given else (in_force.epoch_ns or now)
        return Situation(loaded, in_force.name, epoch, "controller")
    name = env.get("NETEM_PROFILE", "").strip()
    if name in ("", state.NONE):
        return Situation(None, name or state.NONE, 0, "environment")
    loaded = load(name)
    if given:
        epoch = int(given)
    elif _has_traces(loaded):
        try:
            epoch = state.claim_epoch(root, now + EPOCH_LEAD_NS)
        except OSError:  # no state directory (a container of another project): its own epoch
            epoch = now + EPOCH_LEAD_NS
    else:
        epoch = now
    return Situation(loaded, loaded.profile.name, epoch, "environment")


def ptr_name(address: str, server: str, port: int = 53) -> str | None:
    """The DNS name of `address` (Docker's embedded DNS names containers), or None."""
    query_id = int.from_bytes(os.urandom(2), "big")
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(DNS_TIMEOUT_S)
        try:
            sock.sendto(dnsptr.ptr_query(query_id, address), (server, port))
            return dnsptr.ptr_answer(sock.recv(4096), query_id)
        except (OSError, ValueError):
            return None


def nameserver(resolv_conf: Path = Path("/etc/resolv.conf")) -> str | None:
    try:
        for line in resolv_conf.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                return parts[1]
    except OSError:
        return None
    return None


def replica_index(env: Mapping[str, str], address: str, host: str) -> tuple[int, str]:
    """(replica number, how it was found): CLIENT_REPLICA_INDEX (swarm: {{.Task.Slot}}), the container's
    DNS name (compose `--scale`), else a number from the host name (`compose run`: spread, not counted)."""
    given = env.get(INDEX_ENV, "").strip()
    if given.isdigit() and int(given) > 0:
        return int(given), "environment"
    server = nameserver()
    name = ptr_name(address, server) if server else None
    number = dnsptr.replica_number(name) if name else None
    if number:
        return number, f"dns {name}"
    return zlib.crc32(host.encode()) % 1000 + 1, "host name"


def container_plans(sit: Situation, targets: Sequence[Target], subnets_text: str, own: ClientClass | None,
                    root: Path) -> list[plans.EndPlan]:
    """This container's end plans: `to:` names through its DNS, the replicas registered in the state."""
    assert sit.loaded is not None
    subnets = {link: [str(net) for net in nets] for link, nets in parse_subnets(subnets_text).items()}
    try:
        registered = state.registrations(root)
    except OSError:
        registered = []
    replicas = [plans.Replica(r.address, r.index, r.address6) for r in registered]
    return [plans.plan_end(sit.loaded.profile, t, subnets=subnets.get(t.link, ()), resolve=resolver,
                           own_class=own, replicas=replicas) for t in targets]


def resolver(name: str) -> list[str]:
    """A service's addresses as the container's DNS gives them (every replica)."""
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_DGRAM)
    except OSError:
        return []
    return sorted({str(info[4][0]) for info in infos})
