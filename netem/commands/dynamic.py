"""The controller's part in what changes after `apply`: the profile in force kept for containers started
later, the netem agents in the containers (traces, tables, a mix's replicas), per-destination leaves.

- `in_force`: the profile and its files go into the stack's state directory (`netem.commands.state`)
  through the Docker API (`put_archive` into any running container that mounts it); the epoch goes with it.
- `plans`: each end's settings and leaves, as the containers' own start-up step would build them: a
  client replica's class from its compose replica number, the proxy's leaf per running replica, `to:`
  names as the project's containers on that network.
- agents: stopped before a new profile, started (`docker exec -d`) where ends need one; their status
  files are what `show` prints.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

from netem.commands import plans, state
from netem.core import targets
from netem.core.engine import Target
from netem.traces.load import Loaded
from services.common import log

NUMBER_LABEL = "com.docker.compose.container-number"
STATE_PATH = state.DEFAULT_STATE_DIR
AGENT = ["python3", "-m", "netem.commands.agent"]
AGENT_START_S = 30.0


def mounts_state(container: Any) -> bool:
    return any(m.get("Destination") == STATE_PATH for m in container.attrs.get("Mounts") or [])


def bundle(loaded: Loaded) -> tuple[dict[str, bytes], str]:
    """The profile file and the files it refers to (relative to it), and the profile's own file name."""
    source = PurePosixPath(loaded.profile.source)
    files = {source.name: (loaded.base_dir / source.name).read_bytes()}
    for name in loaded.files():
        files[name] = (loaded.base_dir / name).read_bytes()
    return files, source.name


def write_in_force(containers: dict[str, Any], loaded: Loaded | None, epoch_ns: int | None) -> str | None:
    """Record the profile in force (None: `none`) for the stack; → the container written through."""
    files, main = bundle(loaded) if loaded is not None else ({}, "")
    name = loaded.profile.name if loaded is not None else state.NONE
    data = state.in_force_tar(name, files, main, epoch_ns, time.time_ns())
    for container in containers.values():
        if mounts_state(container):
            container.put_archive(STATE_PATH, data)
            return str(container.name)
    log.event("netem.state", result="not kept", reason="no running container mounts the netem state "
              f"({STATE_PATH}); containers started later will use their NETEM_PROFILE")
    return None


def _number(container: Any) -> int | None:
    text = (container.labels or {}).get(NUMBER_LABEL, "")
    return int(text) if str(text).isdigit() else None


def replicas(found: Sequence[targets.Attachment], containers: dict[str, Any]) -> list[plans.Replica]:
    """Running client replicas on edge: address and compose replica number."""
    out = []
    for att in found:
        if att.service != "client" or att.network != "edge":
            continue
        number = _number(containers[att.container])
        if number is not None:
            out.append(plans.Replica(att.address, number))
    return out


def end_plans(loaded: Loaded, ends: Sequence[Target], found: Sequence[targets.Attachment],
              containers: dict[str, Any]) -> list[plans.EndPlan]:
    profile = loaded.profile
    running = replicas(found, containers)
    subnets = {att.network: str(att.subnet) for att in found}

    def resolve(name: str) -> list[str]:
        return [att.address for att in found if att.service == name]

    out = []
    for end in ends:
        own = None
        number = _number(containers[end.service]) if end.service in containers else None
        if profile.clients is not None and end.link == "edge" and end.direction == "up" and number:
            own = plans.replica_class(profile, number)
        out.append(plans.plan_end(profile, end, subnet=subnets.get(end.link), resolve=resolve, own_class=own,
                                  replicas=running))
    return out


def register(root_container: Any, loaded: Loaded, running: Sequence[plans.Replica],
             containers: dict[str, Any]) -> None:
    """Register the running replicas of a mix, so the proxy's agent treats them as it treats newcomers."""
    by_address = {}
    for name, container in containers.items():
        nets = (container.attrs.get("NetworkSettings") or {}).get("Networks") or {}
        for info in nets.values():
            by_address[info.get("IPAddress")] = (name, container)
    entries = []
    for replica in running:
        name, container = by_address[replica.address]
        cls = plans.replica_class(loaded.profile, replica.index)
        reg = state.Registration(container.attrs.get("Config", {}).get("Hostname", name), replica.address,
                                 replica.index, cls.name if cls else "")
        entries.append((f"clients/{reg.host}.json", json.dumps(reg.__dict__).encode()))
    root_container.put_archive(STATE_PATH, _tar(entries))


def _tar(entries: Sequence[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for path, data in entries:
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def stop_agents(containers: dict[str, Any]) -> None:
    for container in containers.values():
        if mounts_state(container):
            container.exec_run([*AGENT, "--stop"], user="root")


def start_agents(containers: dict[str, Any], names: Sequence[str], epoch_ns: int,
                 wait_s: float = AGENT_START_S) -> None:
    """Start the agents and wait until each reports (so a replica started next finds the proxy's)."""
    wanted = {}
    for name in sorted(set(names)):
        containers[name].exec_run([*AGENT, "--log-file"], user="root", detach=True,
                                  environment={"NETEM_TRACE_EPOCH": str(epoch_ns)})
        wanted[(containers[name].attrs.get("Config") or {}).get("Hostname", name)] = name
        log.event("netem.agent", container=name, action="started", epoch_ns=epoch_ns)
    deadline = time.monotonic() + wait_s
    while wanted and time.monotonic() < deadline:
        for status in statuses(containers):
            if status.get("epoch_ns") == epoch_ns:
                wanted.pop(str(status.get("host")), None)
        if wanted:
            time.sleep(0.5)
    for name in wanted.values():
        log.event("netem.agent", container=name, result="no status yet", waited_s=wait_s)


def statuses(containers: dict[str, Any]) -> list[dict[str, Any]]:
    """Every agent's status file, read through one container that mounts the state."""
    for container in containers.values():
        if not mounts_state(container):
            continue
        try:
            stream, _ = container.get_archive(f"{STATE_PATH}/status")
        except Exception:  # no agent ever ran: no status directory
            return []
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            found = []
            for member in tar.getmembers():
                wanted = member.isfile() and member.name.endswith(".json")
                handle = tar.extractfile(member) if wanted else None
                if handle is not None:
                    try:
                        found.append(json.loads(handle.read()))
                    except json.JSONDecodeError:
                        continue
            return found
    return []
