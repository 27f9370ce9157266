"""Profiles on a running swarm stack, through the engine: `python -m netem --swarm STACK apply|show|clear`.

On a swarm the controller cannot `docker exec` into tasks on other nodes, so a profile change is a
rolling service update: `docker service update --env-add NETEM_PROFILE=P` replaces each task by one
whose start-up step (netem.commands.startup) applies P to its own ends; a task that cannot apply it exits, the
update fails, swarm rolls that service back (the stack's update_config), and this module rolls back the
services it had already updated, so the stack is left on one profile. Order: server, proxy, then the
client (a job: updating it re-runs it, under the new profile). `show` reads each task's profile from its
spec (a running task has applied it: start-up stops the container otherwise) and, for tasks on this
engine, what tc reports on each end.

A profile file that is not one of the images' own (a path: a recorded profile, a traced one) travels as
swarm configs: each file (the profile and every trace or table it names) becomes an immutable config
named after the files' digest and is mounted in every task under /run/qoslab/netem-profile/DIGEST/,
which `NETEM_PROFILE` then names. A traced profile also gets `NETEM_TRACE_EPOCH` (the apply's time), so
tasks on every node (with synchronised clocks) replay in step, and the client `CLIENT_REPLICA_INDEX`
(the task's slot) for a `clients:` mix.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from netem import topology
from netem.core.command import shell_batch
from netem.core.engine import CommandResult, read_root
from netem.core.errors import ApplyError, DiscoveryError
from netem.core.links import find_targets
from netem.core.profile import available
from netem.traces.load import Loaded, load
from services.common import log

ROLLING = ("server", "proxy")  # long-running services, rolled one task at a time and awaited
JOB = "client"                 # one-shot job: updated last and not awaited (it re-runs)
FAILED_UPDATE_STATES = frozenset({"paused", "rollback_started", "rollback_paused", "rollback_completed"})

Docker = Callable[[Sequence[str]], CommandResult]  # runs `docker ARGS…`


def run_docker(args: Sequence[str], timeout_s: float = 300.0) -> CommandResult:
    """The docker CLI, bounded in time; tc/docker stderr kept for the user."""
    try:
        done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout_s,
                              check=False)
    except subprocess.TimeoutExpired:
        return CommandResult(124, "", f"docker {' '.join(args)}: timed out after {timeout_s:g} s")
    return CommandResult(done.returncode, done.stdout, done.stderr)


def service_name(stack: str, service: str) -> str:
    return f"{stack}_{service}"


CONFIG_DIR = "/run/qoslab/netem-profile"


@dataclass(frozen=True)
class Shipped:
    """How the tasks get a profile: the NETEM_PROFILE they read, the configs that carry its files, and the
    environment a traced or mixed profile needs."""

    profile: str
    configs: tuple[tuple[str, str, bytes], ...] = ()  # (config name, path in the task, content)
    epoch_ns: int | None = None
    mix: bool = False


def shipping(stack: str, name_or_path: str, loaded: Loaded, now_ns: int) -> Shipped:
    """A shipped profile by name as it is; any file as configs named by the digest of its files (pure)."""
    epoch = now_ns if loaded.schedules else None
    mix = loaded.profile.clients is not None
    if name_or_path in available():
        return Shipped(name_or_path, (), epoch, mix)
    main = PurePosixPath(loaded.profile.source).name
    files = {main: (loaded.base_dir / main).read_bytes(),
             **{rel: (loaded.base_dir / rel).read_bytes() for rel in loaded.files()}}
    content = b"".join(key.encode() + b"\0" + value for key, value in sorted(files.items()))
    digest = hashlib.sha256(content).hexdigest()[:12]
    configs = tuple((f"{stack}_netem_{digest}_{index}", f"{CONFIG_DIR}/{digest}/{rel}", data)
                    for index, (rel, data) in enumerate(sorted(files.items())))
    return Shipped(f"{CONFIG_DIR}/{digest}/{main}", configs, epoch, mix)


def update_argv(stack: str, service: str, profile: str, shipped: Shipped | None = None) -> list[str]:
    """`docker service update` for one service (pure). The client also records the profile in its rows."""
    shipped = shipped or Shipped(profile)
    env = ["--env-add", f"NETEM_PROFILE={shipped.profile}"]
    if service == JOB:
        env += ["--env-add", f"CLIENT_PROFILE={profile}"]
        if shipped.mix:
            env += ["--env-add", "CLIENT_REPLICA_INDEX={{.Task.Slot}}"]
    if shipped.epoch_ns is not None:
        env += ["--env-add", f"NETEM_TRACE_EPOCH={shipped.epoch_ns}"]
    for name, target, _ in shipped.configs:
        env += ["--config-add", f"source={name},target={target},mode=0444"]
    wait = "--detach=true" if service == JOB else "--detach=false"
    return ["service", "update", wait, "--quiet", *env, service_name(stack, service)]


@dataclass(frozen=True)
class Task:
    """One task of a stack service as `docker inspect TASK` reports it."""

    service: str
    slot: str
    node_id: str
    state: str
    desired: str
    profile: str
    container_id: str
    error: str
    env: dict[str, str]


def _env(entries: Sequence[str]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in entries if "=" in item)


def parse_tasks(service: str, inspect_json: str) -> list[Task]:
    """`docker inspect TASK…` output → tasks, newest first as docker lists them (pure)."""
    try:
        data = json.loads(inspect_json or "[]")
    except json.JSONDecodeError as exc:
        raise DiscoveryError(f"cannot parse docker inspect output for {service}: {exc}") from exc
    tasks = []
    for item in data if isinstance(data, list) else []:
        spec = (item.get("Spec") or {}).get("ContainerSpec") or {}
        status = item.get("Status") or {}
        env = _env(spec.get("Env") or [])
        slot = str(item.get("Slot") or str(item.get("ID", ""))[:12])  # jobs have no slot
        tasks.append(Task(service, slot, str(item.get("NodeID", "")), str(status.get("State", "")),
                          str(item.get("DesiredState", "")), env.get("NETEM_PROFILE") or "none",
                          str((status.get("ContainerStatus") or {}).get("ContainerID", "")),
                          str(status.get("Err", "")), env))
    return tasks


def update_state(inspect_json: str) -> str:
    """UpdateStatus.State of `docker service inspect` output ('' before any update)."""
    data = json.loads(inspect_json or "[]")
    status: dict[str, Any] = (data[0].get("UpdateStatus") or {}) if data else {}
    return str(status.get("State", ""))


@dataclass(frozen=True)
class SwarmStack:
    """The I/O shell: one stack, the docker CLI injected (tests pass a fake)."""

    stack: str
    docker: Docker = run_docker

    def _check(self, args: Sequence[str], what: str) -> str:
        result = self.docker(args)
        if result.returncode != 0:
            raise DiscoveryError(f"{what}: docker {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def services(self) -> list[str]:
        names = self._check(["stack", "services", "--format", "{{.Name}}", self.stack],
                            f"stack {self.stack!r}").split()
        found = [svc for svc in topology.SERVICES if service_name(self.stack, svc) in names]
        if not found:
            raise DiscoveryError(f"stack {self.stack!r} has no qoslab services (found: {', '.join(names)}); "
                                 "is it deployed? (docker stack ls)")
        return found

    def tasks(self, service: str) -> list[Task]:
        ids = self._check(["service", "ps", "-q", "--no-trunc", service_name(self.stack, service)],
                          f"tasks of {service}").split()
        return parse_tasks(service, self._check(["inspect", *ids], f"tasks of {service}")) if ids else []

    def create_configs(self, shipped: Shipped) -> None:
        """Each config once (they are immutable, named by content): created from a temporary file."""
        for name, _, data in shipped.configs:
            if self.docker(["config", "inspect", name]).returncode == 0:
                continue
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "content"
                path.write_bytes(data)
                self._check(["config", "create", name, str(path)], f"config {name}")

    def update(self, service: str, profile: str, shipped: Shipped | None = None) -> None:
        result = self.docker(update_argv(self.stack, service, profile, shipped))
        state = "" if service == JOB else update_state(self._check(
            ["service", "inspect", service_name(self.stack, service)], service))
        if result.returncode != 0 or state in FAILED_UPDATE_STATES:
            raise ApplyError(f"{service_name(self.stack, service)}: update to NETEM_PROFILE={profile} failed "
                             f"(update state {state or '-'}): {result.stderr.strip()}", target=service)

    def rollback(self, service: str) -> bool:
        return self.docker(["service", "rollback", "--detach=false", "--quiet",
                            service_name(self.stack, service)]).returncode == 0


def apply(stack: SwarmStack, profile_name: str, now_ns: int | None = None) -> int:
    """Roll every service to the profile; on a failure, roll back what was already updated."""
    loaded = load(profile_name)  # a bad profile (or trace, or table) fails here, before any task is touched
    profile = loaded.profile
    shipped = shipping(stack.stack, profile_name, loaded, time.time_ns() if now_ns is None else now_ns)
    services = stack.services()
    stack.create_configs(shipped)
    log.event("netem.swarm.apply", stack=stack.stack, profile=profile.name, services=",".join(services))
    done: list[str] = []
    try:
        for service in [s for s in ROLLING if s in services] + [s for s in (JOB,) if s in services]:
            log.event("netem.swarm.update", service=service, profile=profile.name,
                      note="job re-runs with the new profile" if service == JOB else "rolling")
            stack.update(service, profile_name, shipped)
            done.append(service)
    except ApplyError:
        for service in reversed(done):
            log.event("netem.swarm.rollback", service=service, ok=stack.rollback(service))
        raise
    log.event("netem.swarm.apply", stack=stack.stack, profile=profile.name, result="applied")
    return 0


@dataclass(frozen=True)
class ExecRunner:
    """`docker exec -u 0 CONTAINER argv` for a task whose container is on this engine."""

    container_id: str
    docker: Docker = run_docker

    def run(self, argv: Sequence[str]) -> CommandResult:
        return self.docker(["exec", "-u", "0", self.container_id, *argv])

    def run_batch(self, argvs: Sequence[Sequence[str]]) -> list[CommandResult]:
        """tc argvs as one `docker exec`: `sh -c` pipes them into `tc -force -batch -`."""
        return shell_batch(self.run, argvs)


def _show_ends(task: Task, docker: Docker) -> None:
    runner = ExecRunner(task.container_id, docker)
    subnets = task.env.get("NETEM_SUBNETS") or topology.SUBNETS_TEXT
    for target in find_targets(task.service, subnets, runner):
        state = read_root(target)
        log.event("netem.show", task=f"{task.service}.{task.slot}", target=target.label,
                  **(state.summary() if state else {"qdisc": "none"}))


def show(stack: SwarmStack) -> int:
    """Each task's profile and state; tc's view of the ends of running tasks on this engine."""
    for service in stack.services():
        for task in stack.tasks(service):
            local = bool(task.container_id) and task.state == "running" and stack.docker(
                ["container", "inspect", task.container_id]).returncode == 0
            log.event("netem.swarm.task", service=service, slot=task.slot, node=task.node_id[:12],
                      state=task.state, desired=task.desired, profile=task.profile,
                      here=local, **({"error": task.error} if task.error else {}))
            if local:
                _show_ends(task, stack.docker)
    return 0


def run_command(stack_name: str, command: str, profile: str = "none") -> int:
    log.configure("netem")
    stack = SwarmStack(stack_name)
    if command == "show":
        return show(stack)
    return apply(stack, profile if command == "apply" else "none")
