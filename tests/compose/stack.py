"""The compose stack as tests drive it (`Stack`) and what every stack needs: Docker answering, the fixed
subnets free, a free published port. The fixtures that bring stacks up are in conftest.py."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from netem import topology

REPO = Path(__file__).resolve().parents[2]
UP_TIMEOUT_S = 600.0


def _docker_ready() -> str | None:
    """None when docker and compose v2 answer, else why not."""
    if shutil.which("docker") is None:
        return "docker CLI not found (run scripts/test, which installs it)"
    for argv in (["docker", "info"], ["docker", "compose", "version"]):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            return f"{' '.join(argv)} failed: {done.stderr.strip()[:300]}"
    return None


STACK_SUBNETS = (*topology.SUBNETS.values(), *topology.SUBNETS6.values())


def _docker_json(*args: str) -> Any:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=True, timeout=60)
    return json.loads(done.stdout)


def free_stack_subnets() -> None:
    """Remove leftover networks on the stack's fixed subnets when nothing running uses them.

    Docker keeps networks across engine restarts, so a stack that was not taken down (a killed test
    run, a machine reused) would make the next `up` fail with "Pool overlaps". A network with a running
    container is somebody's live stack: then fail and say which, rather than touch it.
    """
    names = subprocess.run(["docker", "network", "ls", "-q"], capture_output=True, text=True,
                           check=True, timeout=60).stdout.split()
    if not names:
        return
    for network in _docker_json("network", "inspect", *names):
        subnets = {cfg.get("Subnet") for cfg in (network.get("IPAM") or {}).get("Config") or []}
        if not subnets & set(STACK_SUBNETS):
            continue
        for container_id in (network.get("Containers") or {}):
            state = _docker_json("inspect", container_id)[0]["State"]
            if state.get("Running"):
                pytest.fail(f"network {network['Name']} on {sorted(subnets)} is in use by a running "
                            f"container ({container_id[:12]}); stop that stack first "
                            "(docker compose -p PROJECT down)")
            subprocess.run(["docker", "rm", "-f", container_id], capture_output=True, timeout=60)
        subprocess.run(["docker", "network", "rm", network["Id"]], capture_output=True, check=True,
                       timeout=60)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    """A running compose project and the ways tests drive it."""

    project: str
    results_dir: Path
    proxy_port: int
    server_port: int
    env: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)  # `-f FILE` arguments (default: compose's own choice)

    def compose(self, *args: str, check: bool = True, timeout: float = 300.0, input_text: str | None = None,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        argv = ["docker", "compose", "-p", self.project, *self.files, *args]
        done = subprocess.run(argv, cwd=REPO, env=self.env if env is None else env, capture_output=True,
                              text=True, timeout=timeout, input=input_text)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {done.returncode}\n"
                                 f"stdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}")
        return done

    def client(self, *argv: str, timeout_s: float = 300.0) -> tuple[int, str, str]:
        """`python -m services.client ARGV…` in a one-off client container: (exit code, stdout, stderr)."""
        done = self.compose("run", "--rm", "-T", "--no-deps", "client", *argv, check=False, timeout=timeout_s)
        return done.returncode, done.stdout, done.stderr

    def exec(self, service: str, *cmd: str, check: bool = True,
             user: str | None = None, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run a command in a running service container (as root unless `user`)."""
        flags = ["-T"] + (["--user", user] if user else ["--user", "0"])
        return self.compose("exec", *flags, service, *cmd, check=check, timeout=timeout)

    def container_id(self, service: str) -> str:
        done = self.compose("ps", "-a", "-q", service)
        ids = done.stdout.split()
        assert ids, f"no container for service {service} in project {self.project}"
        return ids[0]

    def inspect(self, service: str) -> dict[str, Any]:
        done = subprocess.run(["docker", "inspect", self.container_id(service)], capture_output=True,
                              text=True, check=True, timeout=60)
        result: dict[str, Any] = json.loads(done.stdout)[0]
        return result

    def container(self, service: str) -> Any:
        """The docker SDK Container for `service`."""
        import docker

        return docker.from_env().containers.get(self.container_id(service))  # type: ignore[attr-defined]

    def logs(self, *services: str) -> str:
        return self.compose("logs", "--no-color", *services, check=False).stdout

    def wait_healthy(self, service: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = self.inspect(service)["State"]
            if state.get("Health", {}).get("Status") == "healthy":
                return
            time.sleep(0.5)
        raise AssertionError(f"{service} not healthy within {timeout_s} s:\n{self.logs(service)[-3000:]}")


