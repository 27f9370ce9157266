"""The real stack under Docker Compose, once per test module, torn down even on failure.

The `stack` fixture brings the project up under a unique name with free published ports and a
temporary results directory, waits for the client's default suite to finish, and offers helpers to
drive it. Tests that change the links must leave them as they found them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from netem.tools import capability

from .netem_stack import START_PROFILE, NetemStack, Start, compose_files, override
from .stack import REPO, UP_TIMEOUT_S, Stack, _docker_ready, _free_port, free_stack_subnets

__all__ = ["REPO", "Stack", "_docker_ready", "artifacts_dir", "free_stack_subnets"]
PROBE_IMAGE = "qoslab/server:dev"  # the kernel's netem capability is probed in a container of this image

def _uses(item: pytest.Item, fixture: str) -> bool:
    return fixture in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every stack uses the same fixed subnets, so two cannot be up at once. Tests that bring up their
    own stack (marker `own_stack`) run first, then the users of the session's `netem_stack` (one stack
    for all of them, taken down after the last), then the modules with their own `stack`."""
    own = [item for item in items if item.get_closest_marker("own_stack")]
    shared = [item for item in items if item not in own and _uses(item, "netem_stack")]
    rest = [item for item in items if item not in own and item not in shared]
    uses_stack = [n for n, item in enumerate(rest) if _uses(item, "stack")]
    first = uses_stack[0] if uses_stack else len(rest)
    items[:] = rest[:first] + own + shared + rest[first:]


_LIVE: list[NetemStack] = []


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """The shared netem stack goes down after its last user, before the next module's stack comes up."""
    if _uses(item, "netem_stack") and (nextitem is None or not _uses(nextitem, "netem_stack")):
        while _LIVE:
            _LIVE.pop().down()


def _require_docker() -> None:
    reason = _docker_ready()
    if reason is not None:
        if os.environ.get("QOSLAB_REQUIRE_DOCKER") == "1":
            pytest.fail(f"compose tests required but Docker is not usable: {reason}")
        pytest.skip(f"Docker is not usable: {reason}")


@pytest.fixture(scope="session")
def netem_present() -> bool:
    """Whether the kernel the containers run on has sch_netem (probed in a container)."""
    _require_docker()
    found = capability.probe_docker(PROBE_IMAGE)
    print(f"netem capability: {found.detail}")
    if found.netem is None:
        pytest.fail(f"cannot tell whether this kernel has sch_netem: {found.detail}")
    return found.netem


@pytest.fixture(scope="session")
def netem_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetemStack]:
    """The one stack of the session's netem checks (tests/compose/netem_stack.py): started with
    START_PROFILE (what that start did is in `.start`), links cleared before the first check. Where the
    start failed (no sch_netem), server, proxy and prober are started again without a profile."""
    _require_docker()
    tmp = tmp_path_factory.mktemp("netem-stack")
    (tmp / "results").mkdir()
    # CLIENT_FAMILY=4: a check's client runs (the prober's, `compose run` replicas) measure IPv4 unless
    # they ask for a family (`--family 6`, NetemStack.qos(family=…)), not the default suite's both
    env = dict(os.environ, QOSLAB_RESULTS=str(tmp / "results"), PROXY_PUBLISH_PORT="0",
               SERVER_PUBLISH_PORT="0", NETEM_PROFILE="", CLIENT_LABEL="netem-stack", CLIENT_FAMILY="4")
    made = NetemStack(project=f"qoslabtest{uuid.uuid4().hex[:8]}", results_dir=tmp / "results", proxy_port=0,
                      server_port=0, env=env, files=compose_files(override(tmp / "override.json")))
    _LIVE.append(made)
    try:
        free_stack_subnets()
        made.start_services(START_PROFILE)
        exits = made.wait_started()
        if any(code is not None for code in exits.values()):
            made.start = Start(exits, {}, made.logs())
            made.start_services("")
            made.wait_started()
        else:
            made.start = Start(exits, made.qdiscs())
            made.clear()
        yield made
    finally:
        made.down()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`docker compose up` of the whole project; the client's default suite has finished when yielded.

    One per test module, taken down when the module ends: the stack's networks have fixed subnets, so a
    stack left up would stop the modules that bring up their own (profiles, CI pipeline, swarm)."""
    _require_docker()
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
