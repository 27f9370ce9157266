"""qoslab in another project's CI, end to end: a stand-in user service, the controller as a container,
gated client runs (docs/ci.md).

What runs uses Docker only (scripts/ci-pipeline, `docker compose run netem`, `docker run qoslab/netem`);
pytest drives and checks. The stand-in (examples/standin) has no tc and no capabilities, so the
controller must shape it from a helper container. The pipeline uses a rate-only profile (tbf), which
every kernel has; the netem case probes the kernel first and checks the outcome for what it found.
These tests bring up their own stacks (compose.byo.yaml), so they run before the session's `stack`
(same subnets): the conftest orders `own_stack` tests first.
"""

from __future__ import annotations

import os
import subprocess
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from netem.tools import capability

from .conftest import REPO, _docker_ready, free_stack_subnets
from .test_netem import events

pytestmark = [pytest.mark.compose, pytest.mark.own_stack]
BYO = ["-f", "compose.yaml", "-f", "compose.byo.yaml"]
PROFILE = "rate-20mbit"
RATE_BPS = "20000000"


def base_image() -> str:
    if os.environ.get("BASE_IMAGE"):
        return os.environ["BASE_IMAGE"]
    env_file = REPO / ".env"
    for line in env_file.read_text().splitlines() if env_file.exists() else []:
        if line.startswith("BASE_IMAGE="):
            return line.split("=", 1)[1].strip()
    return "python:3.12-slim"


def run(argv: list[str], env: dict[str, str] | None = None, timeout: float = 300.0,
        check: bool = False) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {done.returncode}\n{done.stdout[-3000:]}\n"
                             f"{done.stderr[-3000:]}")
    return done


@pytest.fixture(scope="module")
def standin() -> Iterator[str]:
    """The stand-in "user service" image, built locally under a unique tag and removed afterwards."""
    reason = _docker_ready()
    if reason is not None:
        if os.environ.get("QOSLAB_REQUIRE_DOCKER") == "1":
            pytest.fail(f"compose tests required but Docker is not usable: {reason}")
        pytest.skip(f"Docker is not usable: {reason}")
    tag = f"qoslabtest/standin:{uuid.uuid4().hex[:8]}"
    # No network needed (and the engine's default bridge may not exist: `--network none`).
    run(["docker", "build", "--network", "none", "-q", "-t", tag, "--build-arg", f"BASE_IMAGE={base_image()}",
         "examples/standin"], check=True)
    try:
        yield tag
    finally:
        run(["docker", "rmi", "-f", tag])


def byo_env(image: str, project: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "BYO_SERVER_IMAGE": image, "BYO_SERVER_PORT": "8081",
            "BYO_SERVER_PATH": "/index.html", "COMPOSE_PROJECT_NAME": project, "PROXY_PUBLISH_PORT": "0",
            "SERVER_PUBLISH_PORT": "0", **extra}


def pipeline(image: str, out: Path, *client_args: str) -> subprocess.CompletedProcess[str]:
    project = f"qoslabtest{uuid.uuid4().hex[:8]}"
    env = byo_env(image, project, QOSLAB_PROFILE=PROFILE, QOSLAB_CI_OUT=str(out))
    done = run(["scripts/ci-pipeline", *client_args], env=env, timeout=540)
    print(done.stdout[-4000:], done.stderr[-4000:])
    left = run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}"])
    assert left.stdout.strip() == "", f"pipeline left containers of {project}"
    return done


def junit_cases(path: Path) -> dict[str, ET.Element | None]:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites" and root.find("testsuite") is not None
    return {case.attrib["name"]: case.find("failure") for case in root.iter("testcase")}


def test_gated_pipeline_fails_on_a_violated_threshold_and_passes_otherwise(standin: str,
                                                                            tmp_path: Path) -> None:
    free_stack_subnets()
    failing = pipeline(standin, tmp_path / "fail", "suite", "--assert", "rtt_p99_ms<0.001",
                       "--assert", "http_status==200")
    assert failing.returncode == 1, failing.stdout + failing.stderr
    # the script labels its rows "ci": the label names the test too, and the family (the suite runs each
    # test over IPv4 and IPv6)
    for version in (4, 6):
        assert f"FAIL assert rtt_p99_ms<0.001 [qos IPv{version} (ci)]: FAILED: measured " in failing.stdout
        assert (f"PASS assert http_status==200 [http_miss IPv{version} (ci)]: ok: measured 200, limit == 200"
                in failing.stdout)
    cases = junit_cases(tmp_path / "fail" / "junit.xml")
    failed = sorted(name for name, failure in cases.items() if failure is not None)
    assert failed == ["rtt_p99_ms<0.001 [qos IPv4 (ci)]", "rtt_p99_ms<0.001 [qos IPv6 (ci)]"], cases
    rows = (tmp_path / "fail" / "qos_result.csv").read_text().splitlines()
    assert len(rows) == 9 and all(f",{PROFILE}," in row for row in rows[1:])  # the rows land anyway
    shown = events((tmp_path / "fail" / "netem.txt").read_text(), "netem.show")
    server = [e for e in shown if "-server-" in e["target"]]
    assert server and server[0]["qdisc"] == "tbf" and server[0]["rate_bps"] == RATE_BPS, shown

    passing = pipeline(standin, tmp_path / "pass", "suite", "--assert", "rtt_p99_ms<5000",
                       "--assert", "loss_pct<=5", "--assert", "http_status==200", "--assert", "req_per_s>=1")
    assert passing.returncode == 0, passing.stdout + passing.stderr
    cases = junit_cases(tmp_path / "pass" / "junit.xml")
    # 8 tests (4 per family) + the assertions on each row that measured them: rtt and loss on 2 qos rows,
    # http_status on 4 HTTP rows, req_per_s on 2 load rows
    assert len(cases) == 8 + 10 and all(failure is None for failure in cases.values()), cases


@pytest.fixture(scope="module")
def byo_stack(standin: str) -> Iterator[dict[str, str]]:
    """compose.byo.yaml with the stand-in in the server's place, up (healthy) and unimpaired."""
    project = f"qoslabtest{uuid.uuid4().hex[:8]}"
    env = byo_env(standin, project, NETEM_PROFILE="")
    compose = ["docker", "compose", "-p", project, *BYO]
    try:
        free_stack_subnets()
        run([*compose, "--profile", "tools", "build", "--quiet", "proxy", "echo", "netem"], env=env,
            timeout=540, check=True)
        run([*compose, "up", "-d", "--wait", "proxy", "echo"], env=env, timeout=300, check=True)
        yield env
    finally:
        # every profile a test may have started (down leaves an inactive profile's containers up)
        run([*compose, "--profile", "tools", "--profile", "byo-client", "down", "-v", "--remove-orphans",
             "-t", "5"], env=env)


def netem(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The controller as a container of the same compose project (project found from its own labels)."""
    return run(["docker", "compose", "-p", env["COMPOSE_PROJECT_NAME"], *BYO, "run", "--rm", "-T", "netem",
                *args], env={k: v for k, v in env.items() if k != "COMPOSE_PROJECT_NAME"}, timeout=180)


def server_core(done: subprocess.CompletedProcess[str], name: str = "netem.show") -> dict[str, str]:
    found = {e["target"].split(":")[0].rsplit("-", 2)[-2]: e for e in events(done.stdout, name)}
    return {svc: e.get("qdisc", "") for svc, e in found.items()}


def test_the_controller_container_shapes_a_user_service_and_clears_it(byo_stack: dict[str, str]) -> None:
    applied = netem(byo_stack, "apply", PROFILE, "--service", "server")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    readback = events(applied.stdout, "netem.readback")
    assert sorted(e["target"].split(" ")[1] for e in readback) == ["(core.down)", "(core.up)"]
    assert all(e["qdisc"] == "tbf" and e["rate_bps"] == RATE_BPS for e in readback), readback
    assert events(applied.stdout, "netem.helper"), "the stand-in has no tc: a helper must do it"
    helpers = run(["docker", "ps", "-aq", "--filter", "label=qoslab.netem.helper"])
    assert helpers.stdout.strip() == ""  # removed when the command ended; the qdisc stays
    assert server_core(netem(byo_stack, "show", "--service", "server")) == {"server": "tbf", "proxy": "tbf"}

    cleared = netem(byo_stack, "clear", "--service", "server")
    assert cleared.returncode == 0, cleared.stdout + cleared.stderr
    assert set(server_core(netem(byo_stack, "show", "--service", "server")).values()) <= {"noqueue", "none"}


def test_any_project_from_a_plain_docker_run(byo_stack: dict[str, str]) -> None:
    """`docker run` of the image, outside any compose project, targeting the project by name."""
    project = byo_stack["COMPOSE_PROJECT_NAME"]
    argv = ["docker", "run", "--rm", "--network", "none", "-v", "/var/run/docker.sock:/var/run/docker.sock",
            "qoslab/netem:dev"]
    applied = run([*argv, "apply", PROFILE, "--project", project, "--service", "server", "--network", "core",
                   "--peer", "proxy"], timeout=180)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert len(events(applied.stdout, "netem.readback")) == 2
    wrong = run([*argv, "apply", PROFILE, "--project", project, "--service", "server", "--network", "edge"])
    assert wrong.returncode == 1
    assert "service 'server' is not on network(s) edge (it is on core)" in wrong.stderr
    assert run([*argv, "clear", "--project", project, "--service", "server"]).returncode == 0


def test_a_netem_profile_is_applied_where_the_kernel_can_and_rolled_back_where_not(
        byo_stack: dict[str, str]) -> None:
    found = capability.probe_docker("qoslab/netem:dev")
    if found.netem is None:
        pytest.fail(f"could not probe sch_netem: {found.detail}")
    before = server_core(netem(byo_stack, "show", "--service", "server"))
    done = netem(byo_stack, "apply", "3g", "--service", "server")
    print(f"sch_netem={found.netem}", done.stdout[-2000:], done.stderr[-2000:])
    if found.netem:
        assert done.returncode == 0, done.stdout + done.stderr
        assert {e["qdisc"] for e in events(done.stdout, "netem.readback")} == {"netem"}
        assert netem(byo_stack, "clear", "--service", "server").returncode == 0
    else:
        assert done.returncode == 1
        assert "this kernel has no sch_netem" in done.stderr
        assert "Specified qdisc kind is unknown" in done.stderr
        assert server_core(netem(byo_stack, "show", "--service", "server")) == before  # nothing half-applied


def test_a_users_client_on_the_edge_is_shaped_by_service(byo_stack: dict[str, str], standin: str) -> None:
    """`--profile byo-client`: any image as the client on the edge (the stand-in here: it stays up)."""
    env = {**byo_stack, "BYO_CLIENT_IMAGE": standin}
    compose = ["docker", "compose", "-p", env["COMPOSE_PROJECT_NAME"], *BYO, "--profile", "byo-client"]
    run([*compose, "up", "-d", "--no-recreate", "byo-client"], env=env, timeout=180, check=True)
    applied = netem(env, "apply", PROFILE, "--service", "byo-client")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    ends = sorted(e["target"].split("-", 1)[1] for e in events(applied.stdout, "netem.readback"))
    assert [end.split(":")[0] for end in ends] == ["byo-client-1", "proxy-1"]
    assert [end.split(" ")[1] for end in ends] == ["(edge.up)", "(edge.down)"]  # the client's end: up
    assert netem(env, "clear", "--service", "byo-client").returncode == 0
