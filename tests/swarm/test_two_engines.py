"""Two engines on this machine, each in its own network namespace and data root, as one swarm.

scripts/swarm-two-engines does the work and checks each step (rows through the manager, placement,
the start profile and a rolling apply on the worker's proxy, `docker stack rm`); this test runs it.
It needs root (namespaces, a second dockerd); without that it is skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.swarm.conftest import REPO

pytestmark = pytest.mark.compose


def test_manager_and_worker_engines_run_the_stack_across_a_veth() -> None:
    missing = [tool for tool in ("ip", "dockerd", "docker") if shutil.which(tool) is None]
    if os.geteuid() != 0 or missing:
        pytest.skip(f"needs root and {', '.join(missing) or 'ip, dockerd'} for namespaces and two engines")
    done = subprocess.run([str(REPO / "scripts" / "swarm-two-engines")], cwd=REPO, capture_output=True,
                          text=True, timeout=540, stdin=subprocess.DEVNULL)
    print(done.stdout[-6000:])
    assert done.returncode == 0 and "TWO ENGINES OK" in done.stdout, done.stdout[-4000:] + done.stderr[-2000:]
    assert "client ran on a" in done.stdout and "deploy -> first row" in done.stdout
