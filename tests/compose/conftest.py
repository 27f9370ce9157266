"""The real stack under Docker Compose, once per test module, torn down even on failure.

The `stack` fixture brings the project up under a unique name with free published ports and a
temporary results directory, waits for the client's default suite to finish, and offers helpers to
drive it. Tests that change the links must leave them as they found them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that bring up their own stack (marker `own_stack`) run before the session's `stack` fixture
    starts: every stack uses the same fixed subnets, so two cannot be up at once."""
    own = [item for item in items if item.get_closest_marker("own_stack")]
    rest = [item for item in items if not item.get_closest_marker("own_stack")]
    uses_stack = [n for n, item in enumerate(rest) if "stack" in getattr(item, "fixturenames", ())]
    first = uses_stack[0] if uses_stack else len(rest)
    items[:] = rest[:first] + own + rest[first:]


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

    def compose(self, *args: str, check: bool = True, timeout: float = 300.0,
                input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        argv = ["docker", "compose", "-p", self.project, *args]
        done = subprocess.run(argv, cwd=REPO, env=self.env, capture_output=True, text=True,
                              timeout=timeout, input=input_text)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {done.returncode}\n"
                                 f"stdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}")
        return done

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


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`docker compose up` of the whole project; the client's default suite has finished when yielded.

    One per test module, taken down when the module ends: the stack's networks have fixed subnets, so a
    stack left up would stop the modules that bring up their own (profiles, CI pipeline, swarm)."""
    reason = _docker_ready()
    if reason is not None:
        if os.environ.get("QOSLAB_REQUIRE_DOCKER") == "1":
            pytest.fail(f"compose tests required but Docker is not usable: {reason}")
        pytest.skip(f"Docker is not usable: {reason}")
    results = tmp_path_factory.mktemp("results")
    env = dict(os.environ)
    stack = Stack(project=f"qoslabtest{uuid.uuid4().hex[:8]}", results_dir=results,
                  proxy_port=_free_port(), server_port=_free_port(), env=env)
    env.update(QOSLAB_RESULTS=str(results), PROXY_PUBLISH_PORT=str(stack.proxy_port),
               SERVER_PUBLISH_PORT=str(stack.server_port), NETEM_PROFILE="", CLIENT_LABEL="compose-test")
    try:
        free_stack_subnets()
        prebuilt = os.environ.get("QOSLAB_IMAGES_PREBUILT") == "1"  # the VM: images on its Docker disk
        stack.compose("up", "-d", *([] if prebuilt else ["--build"]), timeout=UP_TIMEOUT_S)
        stack.compose("wait", "client", check=False, timeout=UP_TIMEOUT_S)
        yield stack
    finally:
        print(stack.logs()[-6000:])
        stack.compose("down", "-v", "--remove-orphans", "-t", "5", check=False, timeout=180)


def artifacts_dir() -> Path:
    """Where tests keep what a person may want to look at afterwards (screenshots, pcaps)."""
    return Path(os.environ.get("QOSLAB_ARTIFACTS") or REPO / "results" / "artifacts")
