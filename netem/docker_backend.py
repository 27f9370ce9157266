"""Docker backend: find a compose project's containers and apply profiles through `docker exec`.

The only module that imports the Docker SDK. Containers are found by the compose project label, link
subnets from the project's networks, interfaces by address inside each container (`ip -j addr`).
Everything else (argv, rollback, read back) is `engine`'s single apply path; the commands that use this
backend (`apply`, `show`, `clear`) are `netem.controller`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
from netem import endpoints
from netem.engine import CommandResult, Target
from netem.errors import DiscoveryError
from netem.plan import selected_ends

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
NETWORK_LABEL = "com.docker.compose.network"
REPO = Path(__file__).resolve().parents[1]


def default_project(cwd: Path | None = None) -> str:
    """$COMPOSE_PROJECT_NAME, else compose's default: the directory name, lower-cased, [a-z0-9_-]."""
    name = os.environ.get("COMPOSE_PROJECT_NAME", "")
    if name:
        return name
    return re.sub(r"[^a-z0-9_-]", "", (cwd or REPO).name.lower())


@dataclass(frozen=True)
class DockerRunner:
    """Runs argv inside a container as root (the container needs NET_ADMIN and iproute2)."""

    container: Any

    def run(self, argv: Sequence[str]) -> CommandResult:
        code, (out, err) = self.container.exec_run(list(argv), user="root", demux=True)
        return CommandResult(int(code), (out or b"").decode(errors="replace"),
                             (err or b"").decode(errors="replace"))


def _subnets(client: Any, project: str) -> str:
    found = []
    for network in client.networks.list(filters={"label": f"{PROJECT_LABEL}={project}"}):
        link = (network.attrs.get("Labels") or {}).get(NETWORK_LABEL, "")
        configs = (network.attrs.get("IPAM") or {}).get("Config") or []
        if link in ("edge", "core") and configs and configs[0].get("Subnet"):
            found.append(f"{link}={configs[0]['Subnet']}")
    return ",".join(found) or endpoints.DEFAULT_SUBNETS


def discover(project: str, link: str = "all", service: str | None = None,
             client: Any = None) -> tuple[list[Target], list[str]]:
    """Targets for every running container's ends on `link`, and notes on ends that were skipped."""
    client = client or docker.from_env()  # type: ignore[attr-defined]
    subnets = endpoints.parse_subnets(_subnets(client, project))
    containers = client.containers.list(filters={"label": f"{PROJECT_LABEL}={project}"})
    targets: list[Target] = []
    skipped: list[str] = []
    for svc, lnk, direction in selected_ends(link):
        if service and svc != service:
            continue
        running = [c for c in containers if c.labels.get(SERVICE_LABEL) == svc]
        if not running:
            skipped.append(f"{svc} {lnk}.{direction}: no running {svc} container")
        for container in running:
            runner = DockerRunner(container)
            result = runner.run(["ip", "-j", "addr", "show"])
            if result.returncode != 0:
                raise DiscoveryError(f"{container.name}: ip -j addr failed: {result.stderr.strip()}")
            dev = endpoints.interface_for(endpoints.addresses(result.stdout), subnets[lnk],
                                          f"{container.name} on {lnk}")
            targets.append(Target(container.name, lnk, direction, dev, runner))
    if not targets:
        raise DiscoveryError(f"no running containers of compose project {project!r} on link {link} "
                             f"(label {PROJECT_LABEL}={project}); is the stack up? ({'; '.join(skipped)})")
    return targets, skipped
