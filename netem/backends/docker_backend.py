"""Docker backend: find a compose project's containers and apply profiles to them.

The only module that imports the Docker SDK. Containers are found by the compose project label, which
ends to shape by `targets.select` (qoslab's topology, or any `--service`/`--network`), interfaces by
address inside each container (`ip -j addr`). On the Docker host as root, tc and ip run from the host in
each container's network namespace (nsenter); elsewhere through `docker exec` in containers that can run
them, else in a helper container sharing the target's network namespace (`Helpers`). Everything else
(argv, rollback, read back) is `engine`'s single apply path; the commands that use this backend (`apply`,
`show`, `clear`) are `netem.commands.controller`.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docker.errors import APIError, ImageNotFound, NotFound

import docker
from netem.backends.local import NsenterRunner
from netem.core import links, targets
from netem.core.command import shell_batch
from netem.core.engine import CommandResult, Runner, Target
from netem.core.errors import DiscoveryError
from services.common import log

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
NETWORK_LABEL = "com.docker.compose.network"
REPO = Path(__file__).resolve().parents[2]


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

    def run_batch(self, argvs: Sequence[Sequence[str]]) -> list[CommandResult]:
        """tc argvs as one `docker exec`: `sh -c` pipes them into `tc -force -batch -`."""
        return shell_batch(self.run, argvs)


HELPER_LABEL = "qoslab.netem.helper"
HELPER_IMAGE = "qoslab/netem:dev"
EXEC_CAPS = ("NET_ADMIN", "ALL")


class Helpers:
    """Runners for target containers: `docker exec` into a container that can run tc itself (iproute2
    and NET_ADMIN, as qoslab's own), else a helper container in its network namespace (any image).

    Helpers are removed on `close` (use as a context manager); the qdiscs stay, they belong to the
    target's network namespace. `image=None` allows exec only.
    """

    def __init__(self, client: Any, image: str | None = HELPER_IMAGE) -> None:
        self.client = client
        self.image = image
        self.started: list[Any] = []

    def __enter__(self) -> Helpers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for helper in self.started:
            try:
                helper.remove(force=True)
            except Exception as exc:  # every helper must be tried
                log.event("netem.helper", container=getattr(helper, "name", "?"), result="not removed",
                          error=str(exc))
        self.started.clear()

    def runner(self, container: Any) -> Runner:
        direct = namespace_runner(container)
        if direct is not None:
            return direct
        if _can_exec_tc(container):
            return DockerRunner(container)
        if self.image is None:
            raise DiscoveryError(f"{container.name}: cannot run tc inside (no iproute2 or no NET_ADMIN) "
                                 "and no helper image was given")
        try:
            helper = self.client.containers.run(
                self.image, ["infinity"], entrypoint=["sleep"], user="root", detach=True,
                network_mode=f"container:{container.id}", cap_add=["NET_ADMIN"],
                labels={HELPER_LABEL: container.name})
        except ImageNotFound as exc:
            raise DiscoveryError(f"{container.name} has no tc of its own and the helper image "
                                 f"{self.image!r} is missing: build it (docker compose build netem)") from exc
        except APIError as exc:
            raise DiscoveryError(f"{container.name}: cannot start a helper from {self.image!r}: "
                                 f"{exc}") from exc
        self.started.append(helper)
        log.event("netem.helper", target=container.name, helper=helper.name, image=self.image)
        return DockerRunner(helper)


RUNNER_ENV = "NETEM_RUNNER"  # `exec`: always `docker exec` (or a helper), never nsenter


def host_tools(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether containers may be reached from this host without `docker exec`: root, nsenter, and not
    NETEM_RUNNER=exec (the container's namespace or files must still be visible: each caller checks)."""
    return environ.get(RUNNER_ENV, "") != "exec" and os.geteuid() == 0 and shutil.which("nsenter") is not None


def namespace_runner(container: Any, environ: Mapping[str, str] = os.environ) -> NsenterRunner | None:
    """tc from this host in the container's network namespace, when that is possible: root, nsenter and
    tc here, and the namespace file Docker reports (SandboxKey) visible — true on the Docker host, false
    in a container such as `docker compose run netem` (which then uses `docker exec`)."""
    if not host_tools(environ) or shutil.which("tc") is None:
        return None
    path = str((container.attrs.get("NetworkSettings") or {}).get("SandboxKey") or "")
    return NsenterRunner(path) if path and os.path.exists(path) else None


def _can_exec_tc(container: Any) -> bool:
    host = container.attrs.get("HostConfig") or {}
    caps = {str(c).upper().removeprefix("CAP_") for c in host.get("CapAdd") or []}
    if not (host.get("Privileged") or caps & set(EXEC_CAPS)):
        return False
    code, _ = container.exec_run(["tc", "-V"], user="root")
    return int(code) == 0


def _network_names(client: Any, project: str) -> dict[str, str]:
    """Docker network name → compose network name (`qoslabtest1_edge` → `edge`)."""
    names = {}
    for network in client.networks.list(filters={"label": f"{PROJECT_LABEL}={project}"}):
        short = (network.attrs.get("Labels") or {}).get(NETWORK_LABEL)
        if short:
            names[network.name] = short
    return names


def attachments(client: Any, project: str) -> tuple[list[targets.Attachment], dict[str, Any]]:
    """Every running container of `project` on each of its networks, and the containers by name."""
    names = _network_names(client, project)
    found: list[targets.Attachment] = []
    containers = {}
    for container in client.containers.list(filters={"label": f"{PROJECT_LABEL}={project}"}):
        containers[container.name] = container
        service = container.labels.get(SERVICE_LABEL, container.name)
        nets = (container.attrs.get("NetworkSettings") or {}).get("Networks") or {}
        for full, info in sorted(nets.items()):
            attachment = _attachment(container.name, service, names.get(full, full), info)
            if attachment is not None:
                found.append(attachment)
    return found, containers


def _attachment(container: str, service: str, network: str,
                info: dict[str, Any]) -> targets.Attachment | None:
    """A container on one network by its addresses there: IPv4 and IPv6 on a dual-stack network, IPv6
    alone on an IPv6-only one; None when it has neither (e.g. `network_mode: none`)."""
    v4, v6 = info.get("IPAddress") or "", info.get("GlobalIPv6Address") or ""
    if v4:
        return targets.Attachment(container, service, network, v4, int(info.get("IPPrefixLen") or 32),
                                  v6, int(info.get("GlobalIPv6PrefixLen") or 64))
    if v6:
        return targets.Attachment(container, service, network, v6, int(info.get("GlobalIPv6PrefixLen") or 64))
    return None


def discover(project: str, link: str = "all", service: str | None = None, client: Any = None, *,
             selection: targets.Selection | None = None,
             helpers: Helpers | None = None) -> tuple[list[Target], list[str]]:
    """Targets for the selected ends (qoslab's topology on `link` by default), and notes on skipped ends.

    `service` (without `selection`) narrows qoslab's topology to one service, as `show SERVICE` does.
    Without `helpers`, only containers that can run tc themselves can be targets.
    """
    client = client or (helpers.client if helpers else docker.from_env())  # type: ignore[attr-defined]
    sel = selection or targets.Selection(link=link)
    found, containers = attachments(client, project)
    if not found:
        raise DiscoveryError(f"no running containers of compose project {project!r} "
                             f"(label {PROJECT_LABEL}={project}); is the stack up?")
    ends, skipped = targets.select(found, sel)
    if service and not sel.services:
        ends = [e for e in ends if e.attachment.service == service]
    runners = helpers or Helpers(client, image=None)
    result = []
    for end in ends:
        att = end.attachment
        runner = runners.runner(containers[att.container])
        addrs = links.read_addresses(runner, att.container)
        dev = links.interface_for(addrs, att.subnets, f"{att.container} on {att.network}")
        result.append(Target(att.container, end.link, end.direction, dev, runner,
                             tuple(links.link_addresses(addrs[dev], att.subnets))))
    if not result:
        raise DiscoveryError(f"no running container of project {project!r} matches service {service!r}")
    return result, skipped


def resolve_project(client: Any, given: str | None) -> str:
    """--project, $COMPOSE_PROJECT_NAME, the project of the container this runs in, the directory's name."""
    return given or os.environ.get("COMPOSE_PROJECT_NAME") or own_project(client) or default_project()


def own_project(client: Any, marker: Path = Path("/.dockerenv"), hostname: str | None = None) -> str | None:
    """The compose project of the container this runs in (`docker compose run netem …`), else None.

    Docker names a container's host after its id and creates `/.dockerenv` in it.
    """
    if not marker.exists():
        return None
    try:
        label = client.containers.get(hostname or socket.gethostname()).labels.get(PROJECT_LABEL)
    except (APIError, NotFound):
        return None
    return str(label) if label else None
