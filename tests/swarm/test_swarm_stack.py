"""The testbed as a swarm stack on one node: deploy, the client job's rows, profiles at start and rolled.

Images come from a local registry (scripts/swarm-push), the stack file from compose.yaml
(`python -m swarm stackfile`), profiles are rate-only (tbf), which every kernel here has. The tests run
in file order on one stack; the last one removes it and checks nothing is left.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netem.tools.capability import probe_host
from services.client.results import read_rows
from tests.swarm.conftest import REPO, Swarm, docker, inspect, leftovers, wait_for

pytestmark = pytest.mark.compose
JOB_TIMEOUT_S = 180.0
CLIENTS = 2  # deploy.replicas of the client job


def _netem(stack: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netem", "--swarm", stack, *args], cwd=REPO,
                          capture_output=True, text=True, timeout=540)


def _client_tasks(stack: str) -> list[dict[str, object]]:
    ids = docker("service", "ps", "-q", "--no-trunc", f"{stack}_client").stdout.split()
    return inspect(*ids) if ids else []


def _completed(stack: str, profile: str) -> int:
    """Client tasks that ran to completion with this profile in their spec."""
    done = 0
    for task in _client_tasks(stack):
        env = task["Spec"]["ContainerSpec"].get("Env") or []  # type: ignore[index]
        state = task["Status"]["State"]  # type: ignore[index]
        assert state not in ("failed", "rejected"), task["Status"]
        done += state == "complete" and f"NETEM_PROFILE={profile}" in env
    return done


def _collect(stack: str, csv_path: Path) -> list[dict[str, str]]:
    if csv_path.exists():
        csv_path.unlink()
    done = subprocess.run([sys.executable, "-m", "swarm", "results", stack, "--csv", str(csv_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    return read_rows(csv_path) if done.returncode == 0 else []


def _show(stack: str) -> str:
    done = _netem(stack, "show")
    assert done.returncode == 0, done.stderr
    return done.stdout


def _proxy_edge(show_output: str) -> str:
    """The `netem.show` line of the running proxy task's edge end."""
    lines = [line for line in show_output.splitlines()
             if "event=netem.show" in line and "proxy:" in line and "edge.down" in line]
    assert len(lines) == 1, show_output
    return lines[0]


@pytest.fixture(scope="module")
def deployed(swarm: Swarm, stack_name: str) -> tuple[str, float]:
    started = swarm.deploy(stack_name, {"NETEM_PROFILE": "rate-10mbit", "CLIENT_LABEL": "swarm-test",
                                        "QOSLAB_CLIENTS": str(CLIENTS)})
    return stack_name, started


def test_client_job_completes_and_its_rows_arrive(deployed: tuple[str, float], tmp_path: Path) -> None:
    stack, started = deployed
    rows = wait_for("the client's rows", lambda: _collect(stack, tmp_path / "rows.csv"), JOB_TIMEOUT_S, 0.5)
    first_row_s = time.monotonic() - started
    print(f"deploy → first row collected through the manager: {first_row_s:.1f} s")
    wait_for("the client job to complete", lambda: _completed(stack, "rate-10mbit") >= CLIENTS,
             JOB_TIMEOUT_S)
    rows = _collect(stack, tmp_path / "rows.csv")
    replicas = {r["replica"] for r in rows}
    assert len(replicas) == CLIENTS and all(name.startswith(f"{stack}_client.") for name in replicas)
    for replica in replicas:
        kinds = [r["kind"] for r in rows if r["replica"] == replica]
        assert kinds == ["http_miss", "http_hit", "qos", "load"], rows
    assert all(r["ok"] == "1" for r in rows), [r["error"] for r in rows]
    assert {r["profile"] for r in rows} == {"rate-10mbit"} and {r["label"] for r in rows} == {"swarm-test"}
    # separate hosts are assumed unless QOSLAB_SAME_CLOCK=true: one-way delays are relative
    assert {r["owd_clock"] for r in rows} == {"relative"}
    assert all(float(r["owd_up_min_ms"]) == 0 for r in rows if r["kind"] == "qos")
    # the same rows are in the CSV on the client node's volume (both replicas ran on this node)
    on_node = docker("run", "--rm", "--entrypoint", "cat", "-v", f"{stack}_results:/r", "qoslab/client:dev",
                     "/r/qos_result.csv").stdout
    for run_id in {r["run_id"] for r in rows}:
        assert sum(f",{run_id}," in line for line in on_node.splitlines()) == 4, on_node


def test_profile_at_task_start_is_in_force(deployed: tuple[str, float]) -> None:
    stack, _ = deployed
    edge = _proxy_edge(_show(stack))
    assert "qdisc=tbf" in edge and "rate_bps=10000000" in edge, edge


def test_rolling_update_applies_a_new_profile(deployed: tuple[str, float], tmp_path: Path) -> None:
    stack, _ = deployed
    started = time.monotonic()
    done = _netem(stack, "apply", "rate-steps")  # tbf on the edge, time-varying
    print(f"rolling apply (server, proxy awaited; client job started): {time.monotonic() - started:.1f} s")
    assert done.returncode == 0, done.stderr + done.stdout
    shown = _show(stack)
    tasks = re.findall(r"event=netem\.swarm\.task service=proxy .*?state=(\w+) desired=(\w+) "
                       r"profile=([\w-]+)", shown)
    assert ("running", "running", "rate-steps") in tasks and ("shutdown", "shutdown", "rate-10mbit") in tasks
    edge = _proxy_edge(shown)
    # rate-steps: 20 Mbit/s, 5 at 10 s, 20 at 20 s; the task's own replayer runs its steps (not 10 Mbit/s)
    assert "qdisc=tbf" in edge and re.search(r"rate_bps=(20000000|5000000) ", edge), edge
    # the client job re-ran under the new profile: its rows say so
    wait_for("the re-run client job", lambda: _completed(stack, "rate-steps") >= CLIENTS, JOB_TIMEOUT_S)
    rows = _collect(stack, tmp_path / "rows.csv")
    assert [r["profile"] for r in rows].count("rate-steps") == 4 * CLIENTS


def test_profile_the_kernel_cannot_apply_is_rolled_back_or_applied(deployed: tuple[str, float]) -> None:
    stack, _ = deployed
    has_netem = probe_host().netem
    if has_netem is None:
        pytest.skip("cannot tell whether this kernel has sch_netem")
    done = _netem(stack, "apply", "lan")  # netem delay on every link
    running = re.findall(r"service=server .*?state=running desired=running profile=([\w-]+)", _show(stack))
    if has_netem:
        assert done.returncode == 0 and running == ["lan"], done.stderr
    else:
        assert done.returncode == 1 and "failed" in done.stderr, done.stderr + done.stdout
        assert running == ["rate-steps"]  # the server was rolled back to the profile it had


def test_stack_rm_leaves_nothing(swarm: Swarm, deployed: tuple[str, float]) -> None:
    stack, _ = deployed
    started = time.monotonic()
    stayed = swarm.remove(stack)
    print(f"docker stack rm: gone after {time.monotonic() - started:.1f} s but exited task containers "
          f"{stayed['containers']} (removed by the test)")
    assert not stayed["running"] and not stayed["networks"] and not stayed.get("services")
    assert leftovers(stack) == {"containers": [], "running": [], "networks": [], "services": []}
    assert f"{stack}_results" not in docker("volume", "ls", "-q").stdout.split()
