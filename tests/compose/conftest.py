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

from .stack import REPO, UP_TIMEOUT_S, Stack, _docker_ready, _free_port, free_stack_subnets

__all__ = ["REPO", "Stack", "_docker_ready", "artifacts_dir", "free_stack_subnets"]

def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that bring up their own stack (marker `own_stack`) run before the session's `stack` fixture
    starts: every stack uses the same fixed subnets, so two cannot be up at once."""
    own = [item for item in items if item.get_closest_marker("own_stack")]
    rest = [item for item in items if not item.get_closest_marker("own_stack")]
    uses_stack = [n for n, item in enumerate(rest) if "stack" in getattr(item, "fixturenames", ())]
    first = uses_stack[0] if uses_stack else len(rest)
    items[:] = rest[:first] + own + rest[first:]


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
