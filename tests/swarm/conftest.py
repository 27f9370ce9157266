"""A single-node swarm for one test session: registry, `docker swarm init`, and all of it undone.

The engine is shared: `docker swarm init` changes it for everyone, and the stack's overlay networks use
the compose subnets. So the fixture refuses an engine that is already in a swarm (not ours to change),
and on the way out — also after a failure — removes the stack, leaves the swarm, removes the
docker_gwbridge network swarm created, stops the registry, and checks that nothing of it is left.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.compose.conftest import _docker_ready, free_stack_subnets

REPO = Path(__file__).resolve().parents[2]
SWARM_NETWORKS = ("ingress", "docker_gwbridge")


def docker(*args: str, check: bool = True, timeout: float = 300.0, input_text: str | None = None,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                          input=input_text, env=env)
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done


def swarm_state() -> str:
    return docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Registry:
    """Debian's docker-registry on 127.0.0.1 (the engine trusts loopback registries without TLS)."""

    address: str
    process: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_registry(root: Path) -> Registry:
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry not installed (scripts/test installs Debian's docker-registry)")
    address = f"127.0.0.1:{_free_port()}"
    config = root / "config.yml"
    config.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
                      f"http:\n  addr: {address}\n", encoding="utf-8")
    with (root / "registry.log").open("wb") as log_file:
        process = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=log_file)
    registry = Registry(address, process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", int(address.rsplit(":", 1)[1])), timeout=1):
                return registry
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.2)
    registry.stop()
    pytest.fail(f"docker-registry did not start: {(root / 'registry.log').read_text()[-2000:]}")


@dataclass
class Swarm:
    """The session's single-node swarm and the registry its stacks pull from."""

    registry: Registry
    networks_before: set[str]
    stacks: list[str] = field(default_factory=list)

    def deploy(self, stack: str, env: dict[str, str]) -> float:
        """Stack file from compose.yaml (no placement: one node), deployed; returns the deploy time."""
        full = {**os.environ, **env}
        text = subprocess.run([sys.executable, "-m", "swarm", "stackfile", "--no-placement", "--registry",
                               self.registry.address], cwd=REPO, capture_output=True, text=True, check=True,
                              timeout=60, env=full).stdout
        self.stacks.append(stack)
        started = time.monotonic()
        docker("stack", "deploy", "--resolve-image", "never", "-c", "-", stack, input_text=text, env=full)
        return started

    def remove(self, stack: str, wait_s: float = 120.0) -> dict[str, list[str]]:
        """`docker stack rm`, then wait for its running containers and networks to go; returns what stayed.

        Exited task containers can outlive the stack for minutes (the swarm agent reaps them later);
        they are removed here so the results volume can go too."""
        docker("stack", "rm", stack, check=False, timeout=120)
        deadline = time.monotonic() + wait_s
        left = leftovers(stack)
        while time.monotonic() < deadline and (left["running"] or left["networks"]):
            time.sleep(2)
            left = leftovers(stack)
        if left["containers"]:
            docker("rm", "-f", *left["containers"], check=False)
        docker("volume", "rm", f"{stack}_results", check=False)
        return left


def leftovers(stack: str) -> dict[str, list[str]]:
    """What of a stack the engine still has: services, containers, networks (`docker stack rm` is async)."""
    label = f"label=com.docker.stack.namespace={stack}"
    found = {
        "containers": docker("ps", "-aq", "--filter", label).stdout.split(),
        "running": docker("ps", "-q", "--filter", label).stdout.split(),
        "networks": docker("network", "ls", "-q", "--filter", label).stdout.split(),
    }
    if swarm_state() == "active":
        found["services"] = docker("service", "ls", "-q", "--filter", label).stdout.split()
    return found


def _network_names() -> set[str]:
    return set(docker("network", "ls", "--format", "{{.Name}}").stdout.split())


def _teardown(swarm: Swarm) -> list[str]:
    problems = []
    for stack in swarm.stacks:
        swarm.remove(stack)
    prefix = f"{swarm.registry.address}/"
    pushed = [name for name in docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
              if name.startswith(prefix)]
    if pushed:
        docker("rmi", *pushed, check=False)  # only the registry tags; the images stay
    docker("swarm", "leave", "--force", check=False, timeout=120)
    for name in SWARM_NETWORKS:
        if name not in swarm.networks_before and name in _network_names():
            docker("network", "rm", name, check=False)
    if swarm_state() != "inactive":
        problems.append(f"engine still in a swarm: {swarm_state()}")
    left = sorted((_network_names() - swarm.networks_before) & {*SWARM_NETWORKS})
    if left:
        problems.append(f"networks left: {left}")
    return problems


def wait_for(what: str, check: Any, timeout_s: float, interval_s: float = 1.0) -> Any:
    """Poll `check()` until it returns something truthy; bounded in time."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(interval_s)


def inspect(*ids: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = json.loads(docker("inspect", *ids).stdout)
    return result


@pytest.fixture(scope="session")
def swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swarm]:
    reason = _docker_ready()
    if reason is not None:
        if os.environ.get("QOSLAB_REQUIRE_DOCKER") == "1":
            pytest.fail(f"swarm tests required but Docker is not usable: {reason}")
        pytest.skip(f"Docker is not usable: {reason}")
    state = swarm_state()
    if state != "inactive":
        pytest.fail(f"this engine is already in a swarm (state {state}); the test makes and removes its own, "
                    "so it will not touch that one (docker swarm leave --force if it is a leftover)")
    free_stack_subnets()
    registry = start_registry(tmp_path_factory.mktemp("registry"))
    swarm = Swarm(registry, _network_names())
    try:
        subprocess.run([str(REPO / "scripts" / "swarm-push"), registry.address], cwd=REPO, check=True,
                       capture_output=True, timeout=300)
        docker("swarm", "init", "--advertise-addr", "127.0.0.1", timeout=120)
        yield swarm
    finally:
        problems = _teardown(swarm)
        registry.stop()
        assert not problems, problems


@pytest.fixture(scope="session")
def stack_name() -> str:
    return f"qoslabswarm{uuid.uuid4().hex[:6]}"
