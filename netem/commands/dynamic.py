"""The controller's part in what changes after `apply`: the profile in force kept for containers started
later, the netem agents in the containers (traces, tables, a mix's replicas), per-destination leaves.

- `in_force`: the profile and its files go into the stack's state directory (`netem.commands.state`) of
  any running container that mounts it; the epoch goes with it.
- `plans`: each end's settings and leaves, as the containers' own start-up step would build them: a
  client replica's class from its compose replica number, the proxy's leaf per running replica, `to:`
  names as the project's containers on that network.
- agents: stopped before a new profile, started where ends need one; their status files are what `show`
  prints.
How a container is reached (`reach`): on the Docker host as root with nsenter (the way tc runs there:
docker_backend.namespace_runner), its files through /proc/PID/root and its agent started with nsenter in
its namespaces and stopped by a signal — no `docker exec`, which costs seconds under emulation and whose
socket old Docker SDKs leave open; anywhere else (`docker compose run netem`, a non-root user) through the
Docker API: put_archive/get_archive and `docker exec`.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from netem.backends.docker_backend import host_tools
from netem.commands import plans, state
from netem.core import targets
from netem.core.engine import Target
from netem.traces.load import Loaded
from services.common import log

NUMBER_LABEL = "com.docker.compose.container-number"
STATE_PATH = state.DEFAULT_STATE_DIR
AGENT = ["python3", "-m", "netem.commands.agent"]
AGENT_MARK = b"netem.commands.agent"
AGENT_START_S = 30.0
AGENT_STOP_S = 3.0


class Reach(Protocol):
    """One running container as the controller reaches it: its state directory and its netem agent."""

    def put_tar(self, data: bytes) -> None: ...  # extracted into STATE_PATH

    def read_statuses(self) -> list[dict[str, Any]]: ...

    def start_agent(self, epoch_ns: int) -> None: ...

    def stop_agent(self) -> None: ...


def _statuses_from_tar(data: bytes) -> list[dict[str, Any]]:
    found = []
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member) if member.isfile() and member.name.endswith(".json") else None
            if handle is not None:
                try:
                    found.append(json.loads(handle.read()))
                except json.JSONDecodeError:
                    continue
    return found


@dataclass(frozen=True)
class ApiReach:
    """Through the Docker API: archives in and out, `docker exec` for the agent."""

    container: Any

    def put_tar(self, data: bytes) -> None:
        self.container.put_archive(STATE_PATH, data)

    def read_statuses(self) -> list[dict[str, Any]]:
        try:
            stream, _ = self.container.get_archive(f"{STATE_PATH}/status")
        except Exception:  # no agent ever ran: no status directory
            return []
        return _statuses_from_tar(b"".join(stream))

    def start_agent(self, epoch_ns: int) -> None:
        self.container.exec_run([*AGENT, "--log-file", "--detach"], user="root",
                                environment={"NETEM_TRACE_EPOCH": str(epoch_ns)})

    def stop_agent(self) -> None:
        self.container.exec_run([*AGENT, "--stop"], user="root")


def extract(data: bytes, dest: Path) -> None:
    """A state tar written into `dest` (what put_archive does in the container)."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            if not member.isfile() or member.name.startswith("/") or ".." in PurePosixPath(member.name).parts:
                continue
            handle = tar.extractfile(member)
            if handle is not None:
                path = dest / member.name
                path.parent.mkdir(parents=True, exist_ok=True)
                temporary = path.with_name(f".{path.name}.{os.getpid()}")
                temporary.write_bytes(handle.read())
                temporary.chmod(member.mode)
                temporary.replace(path)


def agent_pids(proc: Path, init_pid: int) -> list[int]:
    """The netem agents running in the PID namespace of `init_pid` (host PIDs, from /proc)."""
    try:
        namespace = os.readlink(proc / str(init_pid) / "ns" / "pid")
    except OSError:
        return []
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "ns" / "pid") != namespace:
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if AGENT_MARK in argv and b"--stop" not in argv:
            found.append(int(entry.name))
    return found


def nsenter_argv(nsenter: str, pid: int, argv: Sequence[str]) -> list[str]:
    """`argv` in every namespace of the container whose init is `pid`, with its root and working directory."""
    return [nsenter, f"--target={pid}", "--mount", "--uts", "--ipc", "--net", "--pid", "--root", "--wd", "--",
            *argv]


def container_env(container: Any) -> dict[str, str]:
    pairs = (str(item).partition("=") for item in (container.attrs.get("Config") or {}).get("Env") or [])
    return {key: value for key, _, value in pairs if key}


@dataclass(frozen=True)
class HostReach:
    """On the Docker host as root: the container's files at /proc/PID/root, its agent started in its
    namespaces with nsenter (the container's environment) and stopped with SIGTERM."""

    container: Any
    pid: int
    nsenter: str
    proc: Path = Path("/proc")

    @property
    def state_dir(self) -> Path:
        return self.proc / str(self.pid) / "root" / STATE_PATH.lstrip("/")

    def put_tar(self, data: bytes) -> None:
        extract(data, self.state_dir)

    def read_statuses(self) -> list[dict[str, Any]]:
        return state.statuses(self.state_dir)

    def start_agent(self, epoch_ns: int) -> None:
        env = {**container_env(self.container), "NETEM_TRACE_EPOCH": str(epoch_ns)}
        argv = nsenter_argv(self.nsenter, self.pid, [*AGENT, "--log-file", "--detach"])
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            log.event("netem.agent", container=self.container.name, result="not started",
                      rc=done.returncode, stderr=done.stderr.strip()[-500:])

    def stop_agent(self) -> None:
        pids = agent_pids(self.proc, self.pid)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + AGENT_STOP_S
        while pids and time.monotonic() < deadline:
            pids = [pid for pid in pids if (self.proc / str(pid)).exists()]
            if pids:
                time.sleep(0.05)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue


def reach(container: Any, environ: Mapping[str, str] = os.environ) -> Reach:
    """HostReach where this process can (root on the container's Docker host, nsenter here), else ApiReach."""
    pid = int((container.attrs.get("State") or {}).get("Pid") or 0)
    nsenter = shutil.which("nsenter")
    if host_tools(environ) and nsenter and pid > 0 and os.path.isdir(f"/proc/{pid}/root{STATE_PATH}"):
        return HostReach(container, pid, nsenter)
    return ApiReach(container)


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
            reach(container).put_tar(data)
            return str(container.name)
    log.event("netem.state", result="not kept", reason="no running container mounts the netem state "
              f"({STATE_PATH}); containers started later will use their NETEM_PROFILE")
    return None


def _number(container: Any) -> int | None:
    text = (container.labels or {}).get(NUMBER_LABEL, "")
    return int(text) if str(text).isdigit() else None


def replicas(found: Sequence[targets.Attachment], containers: dict[str, Any]) -> list[plans.Replica]:
    """Running client replicas on edge: addresses (both families) and compose replica number."""
    out = []
    for att in found:
        if att.service != "client" or att.network != "edge":
            continue
        number = _number(containers[att.container])
        if number is not None:
            out.append(plans.Replica(att.address, number, att.address6))
    return out


def end_plans(loaded: Loaded, ends: Sequence[Target], found: Sequence[targets.Attachment],
              containers: dict[str, Any]) -> list[plans.EndPlan]:
    profile = loaded.profile
    running = replicas(found, containers)
    subnets = {att.network: [str(net) for net in att.subnets] for att in found}

    def resolve(name: str) -> list[str]:
        return [address for att in found if att.service == name for address in (att.address, att.address6)
                if address]

    out = []
    for end in ends:
        own = None
        number = _number(containers[end.service]) if end.service in containers else None
        if profile.clients is not None and end.link == "edge" and end.direction == "up" and number:
            own = plans.replica_class(profile, number)
        out.append(plans.plan_end(profile, end, subnets=subnets.get(end.link, ()), resolve=resolve,
                                  own_class=own, replicas=running))
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
        reg = state.Registration(hostname(container, name), replica.address,
                                 replica.index, cls.name if cls else "", time.time_ns(), replica.address6)
        entries.append((f"clients/{reg.host}.json", json.dumps(reg.__dict__).encode()))
    reach(root_container).put_tar(_tar(entries))


def _tar(entries: Sequence[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for path, data in entries:
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def hostname(container: Any, name: str) -> str:
    """The name an agent writes its status under (its container's hostname)."""
    return str((container.attrs.get("Config") or {}).get("Hostname", name))


def live_agents(found: Sequence[Mapping[str, Any]]) -> set[str]:
    """Hosts whose last status does not say its agent ended (a killed agent still counts: stopping it
    again is harmless)."""
    return {str(status.get("host")) for status in found if status.get("phase") != "stopped"}


def stop_agents(containers: dict[str, Any]) -> None:
    """Stop the agents an earlier profile started, only where a status says one runs: each stop is an
    interpreter started in the container (seconds under TCG), and a static profile starts none."""
    live = live_agents(statuses(containers))
    for name, container in containers.items():
        if mounts_state(container) and hostname(container, name) in live:
            reach(container).stop_agent()


def start_agents(containers: dict[str, Any], names: Sequence[str], epoch_ns: int,
                 wait_s: float = AGENT_START_S) -> None:
    """Start the agents and wait until each reports (so a replica started next finds the proxy's)."""
    wanted = {}
    for name in sorted(set(names)):
        reach(containers[name]).start_agent(epoch_ns)
        wanted[hostname(containers[name], name)] = name
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
        if mounts_state(container):
            return reach(container).read_statuses()
    return []
